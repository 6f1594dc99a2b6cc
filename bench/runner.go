package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
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
// memory, runs every workload in it and stops it.
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
}

// Run executes the scenario. It returns ctx's error when interrupted; the
// caller finishes the store with the right status. Failed trials do not
// stop the run: they are recorded in run.json.
func (r *Runner) Run(ctx context.Context) error {
	if r.Log == nil {
		r.Log = io.Discard
	}
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
			if err := r.runDensity(ctx, p.rt, p.rc); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				msg := "density: " + err.Error()
				r.setRuntime(p.rc.RuntimeName(), func(ri *RuntimeInfo) { ri.Errors = append(ri.Errors, msg) })
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
	}
	if ran == 0 {
		return fmt.Errorf("no trial succeeded: every runtime was skipped or its trials failed (see the errors in run.json)")
	}
	return nil
}

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.Log, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func (r *Runner) setRuntime(name string, fn func(*RuntimeInfo)) {
	r.Store.Update(func(info *RunInfo) {
		for i := range info.Runtimes {
			if info.Runtimes[i].Name == name {
				fn(&info.Runtimes[i])
			}
		}
	})
}

// prepared is a runtime that passed its factory and Prepare.
type prepared struct {
	rc        scenarios.RuntimeConfig
	rt        Runtime
	described bool
}

// prepare makes the runtime and runs its Prepare; a runtime that cannot run
// here is skipped (nil) with the reason in run.json. Only ctx's error is returned.
func (r *Runner) prepare(ctx context.Context, rc scenarios.RuntimeConfig) (*prepared, error) {
	name := rc.RuntimeName()
	skip := func(reason string) {
		r.logf("%s: skipped: %s", name, reason)
		r.setRuntime(name, func(ri *RuntimeInfo) { ri.Skipped = reason })
		if r.Progress != nil {
			steps := r.Scenario.Warmup + r.Scenario.Trials
			if r.Scenario.Density != nil {
				steps = len(r.Scenario.Density.StepsFor(name))
			}
			for i := 0; i < steps; i++ {
				r.Progress.Done(name+" skipped", errors.New(reason))
			}
		}
	}
	factory, found := r.Factories[rc.Kind]
	if !found {
		skip(fmt.Sprintf("runtime %s is not built into this vcbench", rc.Kind))
		return nil, nil
	}
	rt, err := factory(rc, r.Env)
	if err != nil {
		skip(err.Error())
		return nil, nil
	}
	if p, isPreparer := rt.(Preparer); isPreparer {
		if err := p.Prepare(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			skip(err.Error())
			return nil, nil
		}
	}
	return &prepared{rc: rc, rt: rt}, nil
}

// runTrial runs trial t (negative: warm-up) of one runtime and records its
// outcome. A failed trial is not an error: only ctx's error is returned.
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
	labels, terr := r.trial(ctx, p.rt, p.rc, t, warm, !p.described)
	if labels != nil {
		p.described = true
	}
	if r.Progress != nil {
		r.Progress.Done(desc, terr)
	}
	for _, o := range r.Observers {
		o.TrialDone(name, warm, terr)
	}
	if terr != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		msg := fmt.Sprintf("%s: %v", desc, terr)
		r.logf("%s", msg)
		r.setRuntime(name, func(ri *RuntimeInfo) { ri.Errors = append(ri.Errors, msg) })
		return false, nil
	}
	r.logf("%s: ok", desc)
	return true, nil
}

// trial runs one instance through its life. It returns the runtime's
// description labels once an instance started (nil before).
func (r *Runner) trial(ctx context.Context, rt Runtime, rc scenarios.RuntimeConfig, trial int, warm, describe bool) (labels map[string]string, err error) {
	sc := r.Scenario
	name := rc.RuntimeName()
	r.seq++
	instance := scenarios.InstanceName(name, r.seq)
	inst, ready, err := r.startReady(ctx, rt, rc, instance)
	if inst != nil {
		defer func() {
			if serr := r.stop(inst); serr != nil {
				err = errors.Join(err, fmt.Errorf("stop: %w", serr))
			}
		}()
	}
	if err != nil {
		return nil, err
	}

	labels = map[string]string{}
	if d, ok := rt.(Describer); ok {
		settings := d.Describe()
		if describe {
			r.setRuntime(name, func(ri *RuntimeInfo) { ri.Settings = settings })
		}
		for _, k := range []string{"accel", "network"} {
			if v, ok := settings[k]; ok {
				labels[k] = v
			}
		}
	}
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
		if err := r.Store.Append(batch...); err != nil {
			return err
		}
		for _, o := range r.Observers {
			o.Samples(batch)
		}
		batch = nil
		return nil
	}
	batch = append(batch, mk("startup", "ready", workload.UnitSeconds, workload.BetterLower, ready.Seconds()))
	if p, ok := inst.(Phaser); ok {
		for _, ph := range p.Phases() {
			batch = append(batch, mk("startup", ph.Name, workload.UnitSeconds, workload.BetterLower, ph.Since.Seconds()))
			if ph.Name == PhaseRuntimeExec {
				batch = append(batch, mk("startup", MetricRuntimeReady, workload.UnitSeconds, workload.BetterLower, (ready-ph.Since).Seconds()))
			}
		}
	}
	if !warm {
		if err := r.saveGET(ctx, inst, proto.PathInfo, fmt.Sprintf("info-%s-%d.json", name, trial)); err != nil {
			return labels, err
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
		return labels, err
	}
	if err := flush(); err != nil {
		return labels, err
	}
	for _, wc := range sc.Workloads {
		if err := ctx.Err(); err != nil {
			return labels, err
		}
		cpuTimer, hasCPU := inst.(CPUTimer)
		var cpu0 float64
		if hasCPU {
			cpu0, _ = cpuTimer.HostCPUSeconds()
		}
		res, err := r.runWorkload(ctx, inst, wc.Params, sc.Timeouts.WorkloadTimeout())
		if err != nil {
			return labels, fmt.Errorf("workload %s: %w%s", wc.Kind, err, exitReason(inst))
		}
		for _, m := range res.Metrics {
			batch = append(batch, mk(string(wc.Kind), m.Name, m.Unit, m.Better, m.Value))
		}
		if hasCPU {
			if cpu1, err := cpuTimer.HostCPUSeconds(); err == nil {
				batch = append(batch, mk(string(wc.Kind), "host_cpu_seconds", workload.UnitSeconds, workload.BetterLower, cpu1-cpu0))
			}
		}
		if err := memory(string(wc.Kind)); err != nil {
			return labels, err
		}
		if !warm && len(res.Notes) > 0 {
			r.saveJSON(fmt.Sprintf("notes-%s-%d-%s.json", name, trial, wc.Kind), res.Notes)
		}
		if err := flush(); err != nil {
			return labels, err
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
			return labels, err
		}
		for _, f := range figs {
			batch = append(batch, mk(metrics.GuestWorkload, f.Metric, f.Unit, f.Better, f.Value))
		}
		if err := flush(); err != nil {
			return labels, err
		}
	}
	return labels, nil
}

// exitReason says why the instance's agent died, if it did. A request
// can fail a moment before the backend has seen the death (an OOM kill of
// the serving process, then its init exiting), so it waits up to a second.
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
	return inst.Stop(ctx)
}

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

func (r *Runner) runWorkload(ctx context.Context, inst Instance, p workload.Params, timeout time.Duration) (*workload.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if p.Kind == workload.Network {
		return workload.RunNetwork(ctx, inst.Addr(), p)
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

func (r *Runner) saveJSON(file string, v any) {
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
