package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"vcbench/agent/proto"
	"vcbench/metrics"
	"vcbench/scenarios"
	"vcbench/workload"
)

// Exiter is implemented by instances that can tell whether their agent died
// and why (for example "killed by the kernel's OOM killer (memory limit
// 64 MiB)"), so that a failed workload is reported with its real cause.
type Exiter interface {
	Exited() (bool, string)
}

// Observer is told about results as they are written: the live exporter and
// the Pushgateway client hang here. Calls come from the runner's goroutine.
type Observer interface {
	// Samples is called with each batch of samples right after they were appended.
	Samples(s []Sample)
	// TrialDone is called after every trial (warm-up included) with its outcome.
	TrialDone(runtime string, warmup bool, err error)
	// Scraped is called after each scrape of an agent's /metrics.
	Scraped(runtime string, err error)
}

// Progress is told when a trial starts and ends (progress bar or log lines).
type Progress interface {
	Begin(total int)
	Step(desc string)
	Done(desc string, err error)
	End()
}

// Runner walks a scenario: for each runtime, warm-up trials (discarded) then
// trials; each trial starts one instance, measures its startup and idle
// memory, runs every workload in it and stops it. A workload that kills its
// instance costs that workload only: the trial goes on in a replacement
// instance (see Sample).
type Runner struct {
	Scenario  *scenarios.Scenario
	Factories map[scenarios.RuntimeKind]Factory
	Env       Env
	Store     *Store
	Progress  Progress
	Observers []Observer
	// Log receives one line per notable event when Progress is not a terminal bar.
	Log io.Writer

	client *http.Client
	seq    int
	// storeErr is the first failed write of samples.jsonl or run.json:
	// once set, the run stops and writes nothing more.
	storeErr error
	// sampled records, per runtime, the workloads with at least one kept
	// sample, for RuntimeInfo.Missing.
	sampled map[string]map[string]bool
}

// healthTimeout bounds the /healthz check that tells a failed workload's
// instance alive from dead or hung.
const healthTimeout = 5 * time.Second

// Run executes the scenario. It returns ctx's error when interrupted; the
// caller finishes the store with the right status (see Outcome). Failed
// trials and workloads do not stop the run: they are recorded in run.json.
// A failed write of the results does: Run returns at once with that error.
func (r *Runner) Run(ctx context.Context) error {
	if r.Log == nil {
		r.Log = io.Discard
	}
	r.sampled = map[string]map[string]bool{}
	r.client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
	defer r.client.CloseIdleConnections()
	sc := r.Scenario
	if r.Progress != nil {
		total := len(sc.Runtimes) * (sc.Warmup + sc.Trials)
		if sc.Density != nil {
			total = 0
			for _, rc := range sc.Runtimes {
				total += len(sc.Density.StepsFor(rc.RuntimeName()))
			}
		}
		r.Progress.Begin(total)
		defer r.Progress.End()
	}
	var runtimes []*prepared
	defer func() {
		for _, p := range runtimes {
			if c, ok := p.rt.(Closer); ok {
				cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if err := c.Close(cctx); err != nil {
					msg := "close: " + err.Error()
					r.logf("%s: %s", p.rc.RuntimeName(), msg)
					r.setRuntime(p.rc.RuntimeName(), func(ri *RuntimeInfo) { ri.Errors = append(ri.Errors, msg) })
				}
				cancel()
			}
		}
	}()
	for _, rc := range sc.Runtimes {
		p, err := r.prepare(ctx, rc)
		if err != nil {
			return err
		}
		if p != nil {
			runtimes = append(runtimes, p)
		}
	}
	ran := 0
	if sc.Density != nil {
		for _, p := range runtimes {
			err := r.runDensity(ctx, p.rt, p.rc)
			if r.storeErr != nil {
				return r.storeErr
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				msg := "density: " + err.Error()
				if err := r.setRuntime(p.rc.RuntimeName(), func(ri *RuntimeInfo) { ri.Errors = append(ri.Errors, msg) }); err != nil {
					return err
				}
				continue
			}
			ran++
		}
	} else {
		// Trials go round-robin over the runtimes (native 1, container 1,
		// vm 1, native 2, ...) so that slow drift of the host — frequency,
		// neighbours, memory fragmentation — falls on every runtime alike
		// instead of on whichever ran first.
		for t := -sc.Warmup; t < sc.Trials; t++ {
			for _, p := range runtimes {
				if err := ctx.Err(); err != nil {
					return err
				}
				ok, err := r.runTrial(ctx, p, t)
				if err != nil {
					return err
				}
				if ok && t >= 0 {
					ran++
				}
			}
		}
		if err := r.recordMissing(runtimes); err != nil {
			return err
		}
	}
	if ran == 0 {
		return fmt.Errorf("no trial succeeded: every runtime was skipped or its trials failed (see the errors in run.json)")
	}
	return nil
}

// recordMissing writes, per runtime that ran, the scenario's workloads of
// which no sample was kept.
func (r *Runner) recordMissing(runtimes []*prepared) error {
	for _, p := range runtimes {
		name := p.rc.RuntimeName()
		var missing []string
		for _, wc := range r.Scenario.Workloads {
			if !r.sampled[name][string(wc.Kind)] {
				missing = append(missing, string(wc.Kind))
			}
		}
		if len(missing) == 0 {
			continue
		}
		r.logf("%s: no sample of %s", name, strings.Join(missing, ", "))
		if err := r.setRuntime(name, func(ri *RuntimeInfo) { ri.Missing = missing }); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.Log, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// storeFailed keeps the first failed write of the results; the run stops.
func (r *Runner) storeFailed(err error) error {
	if r.storeErr == nil {
		r.storeErr = fmt.Errorf("results in %s: %w", r.Store.Dir, err)
		r.logf("stopping the run: %v", r.storeErr)
	}
	return r.storeErr
}

// setRuntime changes one runtime's entry of run.json. After a failed write
// it writes nothing more and returns that failure.
func (r *Runner) setRuntime(name string, fn func(*RuntimeInfo)) error {
	if r.storeErr != nil {
		return r.storeErr
	}
	err := r.Store.Update(func(info *RunInfo) {
		for i := range info.Runtimes {
			if info.Runtimes[i].Name == name {
				fn(&info.Runtimes[i])
			}
		}
	})
	if err != nil {
		return r.storeFailed(err)
	}
	return nil
}

// prepared is a runtime that passed its factory and Prepare.
type prepared struct {
	rc        scenarios.RuntimeConfig
	rt        Runtime
	described bool
}

// prepare makes the runtime and runs its Prepare; a runtime that cannot run
// here is skipped (nil) with the reason in run.json. Only ctx's error and a
// failed write of run.json are returned.
func (r *Runner) prepare(ctx context.Context, rc scenarios.RuntimeConfig) (*prepared, error) {
	name := rc.RuntimeName()
	skip := func(reason string) error {
		r.logf("%s: skipped: %s", name, reason)
		if err := r.setRuntime(name, func(ri *RuntimeInfo) { ri.Skipped = reason }); err != nil {
			return err
		}
		if r.Progress != nil {
			steps := r.Scenario.Warmup + r.Scenario.Trials
			if r.Scenario.Density != nil {
				steps = len(r.Scenario.Density.StepsFor(name))
			}
			for i := 0; i < steps; i++ {
				r.Progress.Done(name+" skipped", errors.New(reason))
			}
		}
		return nil
	}
	if why := r.Scenario.ToolsUnavailable(rc); why != "" {
		return nil, skip(why)
	}
	factory, found := r.Factories[rc.Kind]
	if !found {
		return nil, skip(fmt.Sprintf("runtime %s is not built into this vcbench", rc.Kind))
	}
	rt, err := factory(rc, r.Env)
	if err != nil {
		return nil, skip(err.Error())
	}
	if p, isPreparer := rt.(Preparer); isPreparer {
		if err := p.Prepare(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, skip(err.Error())
		}
	}
	return &prepared{rc: rc, rt: rt}, nil
}

// runTrial runs trial t (negative: warm-up) of one runtime and records its
// outcome. A failed trial is not an error: only ctx's error and a failed
// write of the results are returned. ok is true when the instance started
// and at least one workload gave figures.
func (r *Runner) runTrial(ctx context.Context, p *prepared, t int) (ok bool, err error) {
	name := p.rc.RuntimeName()
	warm := t < 0
	desc := fmt.Sprintf("%s trial %d/%d", name, t+1, r.Scenario.Trials)
	if warm {
		desc = fmt.Sprintf("%s warm-up %d/%d", name, t+r.Scenario.Warmup+1, r.Scenario.Warmup)
	}
	if r.Progress != nil {
		r.Progress.Step(desc)
	}
	good, failed, terr := r.trial(ctx, p, t, warm, desc)
	if r.storeErr != nil {
		terr = r.storeErr
	}
	// A partial trial counts as done (its figures are kept); one whose
	// every workload failed counts as failed.
	outcome := terr
	if outcome == nil && good == 0 && len(failed) > 0 {
		outcome = errors.Join(failed...)
	}
	if r.Progress != nil {
		shown := outcome
		if shown == nil && len(failed) > 0 {
			shown = errors.Join(failed...)
		}
		r.Progress.Done(desc, shown)
	}
	for _, o := range r.Observers {
		o.TrialDone(name, warm, outcome)
	}
	if r.storeErr != nil {
		return false, r.storeErr
	}
	if terr != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		msg := fmt.Sprintf("%s: %v", desc, terr)
		r.logf("%s", msg)
		return false, r.setRuntime(name, func(ri *RuntimeInfo) { ri.Errors = append(ri.Errors, msg) })
	}
	if good == 0 && len(failed) > 0 {
		r.logf("%s: failed: every workload failed", desc)
		return false, nil
	}
	if len(failed) > 0 {
		r.logf("%s: partial: %d of %d workloads failed", desc, len(failed), len(r.Scenario.Workloads))
	} else {
		r.logf("%s: ok", desc)
	}
	if !warm {
		if err := r.setRuntime(name, func(ri *RuntimeInfo) { ri.TrialsOK++ }); err != nil {
			return false, err
		}
	}
	return true, nil
}

// trial runs one trial: an instance through its life, and a fresh one
// after each workload that left it dead or unresponsive. good counts the
// workloads that gave figures; failed holds each failed workload's error,
// already recorded in run.json. err is what ended the trial early (start,
// /info, host memory, scrape, stop) or ctx's error.
func (r *Runner) trial(ctx context.Context, p *prepared, trial int, warm bool, desc string) (good int, failed []error, err error) {
	sc := r.Scenario
	rt, rc := p.rt, p.rc
	name := rc.RuntimeName()
	r.seq++
	instance := scenarios.InstanceName(name, r.seq)
	inst, ready, err := r.startReady(ctx, rt, rc, instance)
	// inst is the instance in use; the deferred stop ends the last one,
	// each replaced one is stopped before its replacement starts.
	defer func() {
		if inst != nil {
			if serr := r.stop(inst); serr != nil {
				err = errors.Join(err, fmt.Errorf("stop %s: %w", instance, serr))
			}
		}
	}()
	if err != nil {
		return 0, nil, err
	}

	labels := map[string]string{}
	if d, ok := rt.(Describer); ok {
		settings := d.Describe()
		if !p.described {
			if err := r.setRuntime(name, func(ri *RuntimeInfo) { ri.Settings = settings }); err != nil {
				return 0, nil, err
			}
		}
		for _, k := range []string{"accel", "network"} {
			if v, ok := settings[k]; ok {
				labels[k] = v
			}
		}
	}
	p.described = true
	if len(labels) == 0 {
		labels = nil
	}
	mk := func(w, metric string, unit workload.Unit, better workload.Better, v float64) Sample {
		return Sample{Scenario: sc.Name, Runtime: name, Workload: w, Metric: metric, Unit: unit,
			Better: better, Trial: trial, Value: v, Labels: labels}
	}
	var batch []Sample
	flush := func() error {
		if warm || len(batch) == 0 {
			batch = nil
			return nil
		}
		if r.storeErr != nil {
			return r.storeErr
		}
		if err := r.Store.Append(batch...); err != nil {
			return r.storeFailed(err)
		}
		for _, s := range batch {
			if r.sampled[s.Runtime] == nil {
				r.sampled[s.Runtime] = map[string]bool{}
			}
			r.sampled[s.Runtime][s.Workload] = true
		}
		for _, o := range r.Observers {
			o.Samples(batch)
		}
		batch = nil
		return nil
	}
	batch = append(batch, mk("startup", "ready", workload.UnitSeconds, workload.BetterLower, ready.Seconds()))
	if phaser, ok := inst.(Phaser); ok {
		for _, ph := range phaser.Phases() {
			batch = append(batch, mk("startup", ph.Name, workload.UnitSeconds, workload.BetterLower, ph.Since.Seconds()))
			if ph.Name == PhaseRuntimeExec {
				batch = append(batch, mk("startup", MetricRuntimeReady, workload.UnitSeconds, workload.BetterLower, (ready-ph.Since).Seconds()))
			}
		}
	}
	if !warm {
		if err := r.saveGET(ctx, inst, proto.PathInfo, fmt.Sprintf("info-%s-%d.json", name, trial)); err != nil {
			return 0, nil, err
		}
	}
	memory := func(w string) error {
		m, err := inst.HostMemory()
		if err != nil {
			return fmt.Errorf("host memory after %s: %w", w, err)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			batch = append(batch, mk(w, k, workload.UnitBytes, workload.BetterLower, m[k]))
		}
		return nil
	}
	if err := memory("idle"); err != nil {
		return 0, nil, err
	}
	if err := flush(); err != nil {
		return 0, nil, err
	}
	replacements := 0
	for wi, wc := range sc.Workloads {
		if err := ctx.Err(); err != nil {
			return good, failed, err
		}
		cpuTimer, hasCPU := inst.(CPUTimer)
		var cpu0 float64
		if hasCPU {
			cpu0, _ = cpuTimer.HostCPUSeconds()
		}
		timeout := sc.Timeouts.WorkloadTimeout()
		res, werr := r.runWorkload(ctx, inst, rc, wc.Params, timeout)
		if werr != nil {
			if err := ctx.Err(); err != nil {
				return good, failed, err
			}
			f := r.diagnose(ctx, inst, werr, timeout)
			f.Trial, f.Workload, f.Instance = trial, string(wc.Kind), instance
			more := wi < len(sc.Workloads)-1
			f.Replaced = f.dead && more
			msg := fmt.Sprintf("workload %s: %s", wc.Kind, f.message)
			if f.Replaced {
				next := scenarios.InstanceName(name, r.seq+1)
				msg += fmt.Sprintf("; %s replaced by %s for the trial's remaining workloads", instance, next)
			}
			failed = append(failed, errors.New(msg))
			r.logf("%s: %s", desc, msg)
			if err := r.setRuntime(name, func(ri *RuntimeInfo) {
				ri.Errors = append(ri.Errors, desc+": "+msg)
				if !warm {
					ri.FailedWorkloads = append(ri.FailedWorkloads, f.WorkloadFailure)
				}
			}); err != nil {
				return good, failed, err
			}
			if !f.dead {
				continue
			}
			// The dead instance goes now: a replacement must not share
			// the host with its leftovers (memory, a hung VMM).
			serr := r.stop(inst)
			inst = nil
			if serr != nil {
				return good, failed, fmt.Errorf("stop %s after workload %s: %w", instance, wc.Kind, serr)
			}
			if !more {
				// Nothing left to run; the guest scrape needs an instance
				// that ran the trial, and this one is gone.
				return good, failed, nil
			}
			replacements++
			r.seq++
			instance = scenarios.InstanceName(name, r.seq)
			inst, _, err = r.startReady(ctx, rt, rc, instance)
			if err != nil {
				return good, failed, fmt.Errorf("replacement %s after workload %s: %w", instance, wc.Kind, err)
			}
			// Figures from here on are the replacement's.
			labels = maps.Clone(labels)
			if labels == nil {
				labels = map[string]string{}
			}
			labels[RestartedLabel] = strconv.Itoa(replacements)
			continue
		}
		good++
		for _, m := range res.Metrics {
			batch = append(batch, mk(string(wc.Kind), m.Name, m.Unit, m.Better, m.Value))
		}
		if hasCPU {
			if cpu1, err := cpuTimer.HostCPUSeconds(); err == nil {
				batch = append(batch, mk(string(wc.Kind), "host_cpu_seconds", workload.UnitSeconds, workload.BetterLower, cpu1-cpu0))
			}
		}
		if err := memory(string(wc.Kind)); err != nil {
			return good, failed, err
		}
		if !warm {
			if len(res.Notes) > 0 || len(res.Warnings) > 0 {
				r.saveNotes(fmt.Sprintf("notes-%s-%d-%s.json", name, trial, wc.Kind), res)
			}
			if err := r.addWarnings(name, wc.Kind, res.Warnings); err != nil {
				return good, failed, err
			}
		}
		if err := flush(); err != nil {
			return good, failed, err
		}
	}
	if !warm {
		figs, err := metrics.ScrapeGuest(ctx, inst.Addr(), filepath.Join(r.Store.RawDir(), fmt.Sprintf("scrape-%s-%d.prom", name, trial)))
		if err != nil {
			err = fmt.Errorf("scrape of %s: %w", instance, err)
		}
		for _, o := range r.Observers {
			o.Scraped(name, err)
		}
		if err != nil {
			return good, failed, err
		}
		for _, f := range figs {
			batch = append(batch, mk(metrics.GuestWorkload, f.Metric, f.Unit, f.Better, f.Value))
		}
		if err := flush(); err != nil {
			return good, failed, err
		}
	}
	return good, failed, nil
}

// failure is a failed workload as diagnosed: the record for run.json, the
// message for its errors, and whether the instance must be replaced.
type failure struct {
	WorkloadFailure
	message string
	dead    bool
}

// diagnose tells why a workload failed and whether its instance is still
// usable: dead when the backend saw the agent exit (Exiter), when its
// /healthz no longer answers (a hung guest, a process killed without a
// backend that notices), or when the workload timed out: the agent runs
// one workload at a time and cannot be told to stop one midway, so the
// timed-out one would hold the next behind it and share its CPUs.
func (r *Runner) diagnose(ctx context.Context, inst Instance, werr error, timeout time.Duration) failure {
	var f failure
	why := exitReason(inst)
	timedOut := errors.Is(werr, context.DeadlineExceeded)
	switch {
	case why != "":
		f.Cause = strings.TrimSuffix(strings.TrimPrefix(why, " ("), ")")
	case timedOut:
		f.Cause = fmt.Sprintf("timed out after %s", timeout)
	default:
		f.Cause = werr.Error()
	}
	f.message = werr.Error() + why
	if timedOut {
		f.message = fmt.Sprintf("timed out after %s: %s", timeout, f.message)
	}
	f.dead = why != "" || timedOut
	if !f.dead {
		if herr := r.healthz(ctx, inst); herr != nil {
			f.dead = true
			f.message += fmt.Sprintf("; then the agent did not answer %s: %v", proto.PathHealthz, herr)
			f.Cause += fmt.Sprintf("; agent unresponsive (%v)", herr)
		}
	}
	return f
}

// healthz asks the agent's /healthz once, within healthTimeout.
func (r *Runner) healthz(ctx context.Context, inst Instance) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+inst.Addr()+proto.PathHealthz, nil)
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// addWarnings adds a workload's warnings to its runtime's entry of
// run.json, each once, as "<workload>: <warning>".
func (r *Runner) addWarnings(runtime string, kind workload.Kind, warnings []string) error {
	if len(warnings) == 0 {
		return nil
	}
	return r.setRuntime(runtime, func(ri *RuntimeInfo) {
		for _, w := range warnings {
			w = string(kind) + ": " + w
			if !slices.Contains(ri.Warnings, w) {
				ri.Warnings = append(ri.Warnings, w)
			}
		}
	})
}

// startReady starts one instance and waits for its agent's /healthz;
// ready is launch → answer. On a start error nothing is left; when the
// agent never answers, the instance is returned with the error, for the
// caller to stop.
func (r *Runner) startReady(ctx context.Context, rt Runtime, rc scenarios.RuntimeConfig, name string) (inst Instance, ready time.Duration, err error) {
	spec := InstanceSpec{
		RunID:        r.Store.Info().RunID,
		Name:         name,
		Config:       rc,
		RawDir:       r.Store.RawDir(),
		ScratchDir:   r.Env.scratch(r.Store.Dir),
		StartTimeout: r.Scenario.Timeouts.StartTimeout(),
		StopTimeout:  r.Scenario.Timeouts.StopTimeout(),
	}
	sctx, cancel := context.WithTimeout(ctx, spec.StartTimeout)
	defer cancel()
	launch := time.Now()
	inst, err = rt.Start(sctx, spec)
	if err != nil {
		return nil, 0, fmt.Errorf("start: %w", err)
	}
	if err := r.waitReady(sctx, inst); err != nil {
		return inst, 0, fmt.Errorf("agent never became ready within %s: %w%s", spec.StartTimeout, err, exitReason(inst))
	}
	return inst, time.Since(launch), nil
}

// stop stops an instance with the scenario's stop time-out plus the time a
// backend needs for its forced kill, on a context of its own: a cancelled
// run still removes its instances.
func (r *Runner) stop(inst Instance) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.Scenario.Timeouts.StopTimeout()+10*time.Second)
	defer cancel()
	// The next instance may get the same address (a reused /30, port
	// 8080): a kept-alive connection to this one would reach it as a
	// stray and be reset.
	defer r.client.CloseIdleConnections()
	return inst.Stop(ctx)
}

// exitReason says why the instance's agent died, if it did, as " (why)".
// A request can fail a moment before the backend has seen the death (an
// OOM kill of the serving process, then its init exiting), so it waits up
// to a second.
func exitReason(inst Instance) string {
	e, ok := inst.(Exiter)
	if !ok {
		return ""
	}
	for deadline := time.Now().Add(time.Second); ; time.Sleep(20 * time.Millisecond) {
		if dead, why := e.Exited(); dead {
			return " (" + why + ")"
		}
		if time.Now().After(deadline) {
			return ""
		}
	}
}

// waitReady polls /healthz every 2 ms until it answers 200.
func (r *Runner) waitReady(ctx context.Context, inst Instance) error {
	url := "http://" + inst.Addr() + proto.PathHealthz
	var last error
	for {
		reqCtx, cancel := context.WithTimeout(ctx, time.Second)
		req, _ := http.NewRequestWithContext(reqCtx, http.MethodGet, url, nil)
		resp, err := r.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			err = fmt.Errorf("healthz answered %s", resp.Status)
		}
		cancel()
		last = err
		if e, ok := inst.(Exiter); ok {
			if dead, _ := e.Exited(); dead {
				return last
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func (r *Runner) runWorkload(ctx context.Context, inst Instance, rc scenarios.RuntimeConfig, p workload.Params, timeout time.Duration) (*workload.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// An instance that dies mid-workload ends the request at once: over a
	// tap or veth nothing answers for a dead guest's address (no reset, as
	// user-mode networking's closed forward gives), so the request would
	// otherwise wait out the whole workload time-out.
	if e, ok := inst.(Exiter); ok {
		wctx, stop := watchExit(ctx, e)
		defer stop()
		res, err := r.runWorkloadIn(wctx, inst, rc, p)
		if err != nil && errors.Is(context.Cause(wctx), errInstanceExited) {
			return nil, context.Cause(wctx)
		}
		return res, err
	}
	return r.runWorkloadIn(ctx, inst, rc, p)
}

// errInstanceExited is the cause that watchExit cancels with.
var errInstanceExited = errors.New("the instance exited during the workload")

// exitPoll is how often watchExit asks the backend whether the instance
// is still alive: a tenth of a second late is nothing beside a workload.
const exitPoll = 100 * time.Millisecond

// watchExit returns a context that is cancelled, with errInstanceExited as
// its cause, as soon as e says its instance exited.
func watchExit(ctx context.Context, e Exiter) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(exitPoll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-wctx.Done():
				return
			case <-t.C:
				if dead, why := e.Exited(); dead {
					cancel(fmt.Errorf("%w (%s)", errInstanceExited, why))
					return
				}
			}
		}
	}()
	return wctx, func() { close(done); cancel(nil) }
}

func (r *Runner) runWorkloadIn(ctx context.Context, inst Instance, rc scenarios.RuntimeConfig, p workload.Params) (*workload.Result, error) {
	if p.Kind.RunsOnHost() {
		return r.runHostClient(ctx, inst, rc, p)
	}
	if p.Kind == workload.Network {
		target := workload.NetTarget{Control: inst.Addr()}
		if d, ok := inst.(DataAddresser); ok {
			target.Data = d.DataAddr()
		}
		return workload.RunNetworkTarget(ctx, target, p)
	}
	body, _ := json.Marshal(p)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+inst.Addr()+proto.PathRun, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e proto.RunError
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("agent: %s", e.Error)
		}
		return nil, fmt.Errorf("agent answered %s", resp.Status)
	}
	var res workload.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("decode agent answer: %w", err)
	}
	if len(res.Metrics) == 0 {
		return nil, fmt.Errorf("agent answered no figures")
	}
	return &res, nil
}

func (r *Runner) saveGET(ctx context.Context, inst Instance, path, file string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+inst.Addr()+path, nil)
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return os.WriteFile(filepath.Join(r.Store.RawDir(), file), b, 0o644)
}

// saveNotes writes a workload's notes and warnings to raw/: the notes'
// keys, plus "warnings" as a list when there are any.
func (r *Runner) saveNotes(file string, res *workload.Result) {
	v := map[string]any{}
	for k, n := range res.Notes {
		v[k] = n
	}
	if len(res.Warnings) > 0 {
		v["warnings"] = res.Warnings
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	os.WriteFile(filepath.Join(r.Store.RawDir(), file), b, 0o644)
}

// scratch is the directory for instance scratch files: beside the results,
// so that native, container and VM disks live on the same filesystem.
func (e Env) scratch(runDir string) string {
	d := filepath.Join(runDir, "scratch")
	os.MkdirAll(d, 0o755)
	return d
}
