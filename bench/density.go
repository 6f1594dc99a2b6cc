package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"vcbench/metrics"
	"vcbench/scenarios"
	"vcbench/workload"
)

// DensityInfo is how a runtime's density sweep ended, in run.json.
type DensityInfo struct {
	Reached          int    `json:"reached"`            // instances running at the last completed step
	Stop             string `json:"stop"`               // why the sweep ended
	PageCacheDropped bool   `json:"page_cache_dropped"` // host page cache dropped before each memory reading
	KSM              string `json:"ksm,omitempty"`      // what was done with KSM
	MemoryMetric     string `json:"memory_metric"`      // per-instance figure used for the mean
}

// Density sample conventions: workload "density"; per started instance the
// metric "ready" with trial = the instance's position (1-based) and label
// k = the step it belongs to; per instance and step its host memory
// figures (host_pss, cgroup_usage, ...) with labels k and instance; per
// batch of instances started together "batch_start" and
// "start_rate_per_core" (see batchRate); per
// step (trial = k) "instance_memory_mean", "host_used" (growth of the
// host's used memory since the sweep began, see metrics.HostUsed) and "host_cpu_busy" (fraction of all host CPUs busy
// during the step); with a steady workload, "<workload>_<metric>" per
// instance.
const densityWorkload = "density"

// preferredMemory picks the per-instance memory figure to average: the
// anonymous PSS of processes (QEMU, native agent) — their file-backed pages
// are shared page cache that the host counts as available — then cgroup
// usage for containers, then plain PSS and RSS where the kernel has no split.
var preferredMemory = []string{"host_pss_anon", "cgroup_usage", "host_pss", "host_rss"}

// batchRate is the figure of one batch whose n instances all became
// ready: "batch_start" (seconds from launching them together to the last
// one ready) and "start_rate_per_core" (n / batch_start / host cores:
// instances started per second per core, the figure Firecracker gives as
// 5 microVMs per core per second), each with trial = the position of the
// batch's last instance and labels k, batch (n) and cores.
func batchRate(mk func(string, workload.Unit, workload.Better, int, float64, map[string]string) Sample, last, n int, k string, wall time.Duration) []Sample {
	if wall <= 0 {
		return nil
	}
	cores := runtime.NumCPU()
	labels := func() map[string]string {
		return map[string]string{"k": k, "batch": strconv.Itoa(n), "cores": strconv.Itoa(cores)}
	}
	return []Sample{
		mk("batch_start", workload.UnitSeconds, workload.BetterLower, last, wall.Seconds(), labels()),
		mk("start_rate_per_core", workload.UnitOpsPerSecond, workload.BetterHigher, last, float64(n)/wall.Seconds()/float64(cores), labels()),
	}
}

// runDensity sweeps the number of concurrent instances of one runtime.
func (r *Runner) runDensity(ctx context.Context, rt Runtime, rc scenarios.RuntimeConfig) error {
	d := r.Scenario.Density
	name := rc.RuntimeName()
	info := DensityInfo{}
	var (
		insts []Instance
		mu    sync.Mutex
	)
	defer func() {
		// Stop all, in parallel, whatever ended the sweep.
		var wg sync.WaitGroup
		var errs []error
		for _, inst := range insts {
			wg.Add(1)
			go func(inst Instance) {
				defer wg.Done()
				if err := r.stop(inst); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}(inst)
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			r.setRuntime(name, func(ri *RuntimeInfo) { ri.Errors = append(ri.Errors, "density stop: "+err.Error()) })
		}
		r.setRuntime(name, func(ri *RuntimeInfo) { ri.Density = &info })
	}()

	info.PageCacheDropped = metrics.DropPageCache()
	base, err := metrics.HostUsed()
	if err != nil {
		return err
	}
	budget := float64(d.BudgetMiB) * (1 << 20)
	mk := func(metric string, unit workload.Unit, better workload.Better, trial int, v float64, labels map[string]string) Sample {
		return Sample{Scenario: r.Scenario.Name, Runtime: name, Workload: densityWorkload, Metric: metric,
			Unit: unit, Better: better, Trial: trial, Value: v, Labels: labels}
	}
	batch := d.Batch
	if batch < 1 {
		batch = 1
	}
	described := false
	steps := d.StepsFor(name)
	info.Stop = fmt.Sprintf("completed every step up to %d", steps[len(steps)-1])
	for _, k := range steps {
		if err := ctx.Err(); err != nil {
			info.Stop = "interrupted"
			return err
		}
		kl := strconv.Itoa(k)
		if r.Progress != nil {
			r.Progress.Step(fmt.Sprintf("%s density k=%d", name, k))
		}
		cpu0, _ := metrics.HostCPUTimes()
		var batchSamples []Sample
		var stopReason string
		for len(insts) < k && stopReason == "" {
			n := min(batch, k-len(insts))
			type started struct {
				inst  Instance
				ready time.Duration
				err   error
			}
			res := make([]started, n)
			batchStart := time.Now()
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i, pos int) {
					defer wg.Done()
					res[i].inst, res[i].ready, res[i].err = r.startReady(ctx, rt, rc, scenarios.DensityInstanceName(name, pos))
				}(i, len(insts)+i+1)
			}
			wg.Wait()
			batchWall := time.Since(batchStart)
			for _, s := range res {
				if s.inst != nil {
					insts = append(insts, s.inst)
				}
			}
			if d, ok := rt.(Describer); ok && !described && len(insts) > 0 {
				settings := d.Describe()
				r.setRuntime(name, func(ri *RuntimeInfo) { ri.Settings = settings })
				described = true
			}
			for i, s := range res {
				if s.err != nil {
					stopReason = fmt.Sprintf("instance %d failed to start: %v", len(insts)+1, s.err)
					break
				}
				pos := len(insts) - n + i + 1
				batchSamples = append(batchSamples, mk("ready", workload.UnitSeconds, workload.BetterLower, pos, s.ready.Seconds(), map[string]string{"k": kl}))
				if d.MaxStart.D > 0 && s.ready > d.MaxStart.D {
					stopReason = fmt.Sprintf("instance %d took %s to start, above max_start %s", pos, s.ready.Round(time.Millisecond), d.MaxStart.D)
				}
			}
			if stopReason == "" {
				batchSamples = append(batchSamples, batchRate(mk, len(insts), n, kl, batchWall)...)
			}
		}
		if stopReason != "" {
			if err := ctx.Err(); err != nil {
				info.Stop = "interrupted"
				return err
			}
			info.Stop = stopReason
			return r.appendAndObserve(batchSamples)
		}
		if d.Workload != "" {
			ws, failed := r.densityWorkload(ctx, insts, rc, d.Workload, kl, mk)
			batchSamples = append(batchSamples, ws...)
			if len(failed) > 0 {
				// Memory read now would be that of idle instances, not of
				// k instances under the steady workload: the step ends
				// the sweep, saying why.
				if err := ctx.Err(); err != nil {
					info.Stop = "interrupted"
					return err
				}
				msgs := make([]string, len(failed))
				for i, f := range failed {
					msgs[i] = fmt.Sprintf("density k=%d: %s", k, f)
				}
				if err := r.setRuntime(name, func(ri *RuntimeInfo) { ri.Errors = append(ri.Errors, msgs...) }); err != nil {
					return err
				}
				if err := r.appendAndObserve(batchSamples); err != nil {
					return err
				}
				info.Stop = fmt.Sprintf("steady workload %s failed at %d instances: %s", d.Workload, k, failed[0])
				if len(failed) > 1 {
					info.Stop += fmt.Sprintf(" (and in %d more)", len(failed)-1)
				}
				if r.Progress != nil {
					r.Progress.Done(fmt.Sprintf("%s density k=%d", name, k), errors.New(info.Stop))
				}
				return nil
			}
		}
		memSamples, mean, metric := densityMemory(insts, kl, mk)
		info.MemoryMetric = metric
		batchSamples = append(batchSamples, memSamples...)
		batchSamples = append(batchSamples, mk("instance_memory_mean", workload.UnitBytes, workload.BetterLower, k, mean, map[string]string{"k": kl, "source": metric}))
		metrics.DropPageCache()
		now, err := metrics.HostUsed()
		if err != nil {
			return err
		}
		used := float64(now) - float64(base)
		batchSamples = append(batchSamples, mk("host_used", workload.UnitBytes, workload.BetterLower, k, used, map[string]string{"k": kl}))
		if cpu1, err := metrics.HostCPUTimes(); err == nil && cpu0 != nil {
			batchSamples = append(batchSamples, mk("host_cpu_busy", workload.UnitRatio, workload.BetterLower, k, metrics.BusyFraction(cpu0, cpu1), map[string]string{"k": kl}))
		}
		if err := r.appendAndObserve(batchSamples); err != nil {
			return err
		}
		if r.Progress != nil {
			r.Progress.Done(fmt.Sprintf("%s density k=%d", name, k), nil)
		}
		info.Reached = k
		r.logf("%s density: %d instances up, host used %.0f MiB, mean %s %.1f MiB", name, k, used/(1<<20), metric, mean/(1<<20))
		if budget > 0 && used > budget {
			info.Stop = fmt.Sprintf("host memory budget reached: %.0f MiB used > budget_mib %d at %d instances", used/(1<<20), d.BudgetMiB, k)
			return nil
		}
	}
	if d.KSM {
		if m, ok := rt.(Merger); ok && m.MergeableMemory() {
			info.KSM = r.densityKSM(ctx, insts, mk)
		} else {
			// KSM scans only memory its owner marked mergeable; QEMU marks
			// guest RAM, a container's or a host process's memory is not.
			info.KSM = "not measured: KSM merges only memory marked mergeable (QEMU's guest RAM), not a " + string(rc.Kind) + "'s"
		}
	}
	return nil
}

func (r *Runner) appendAndObserve(s []Sample) error {
	if len(s) == 0 {
		return nil
	}
	if r.storeErr != nil {
		return r.storeErr
	}
	if err := r.Store.Append(s...); err != nil {
		return r.storeFailed(err)
	}
	for _, o := range r.Observers {
		o.Samples(s)
	}
	return nil
}

// densityMemory reads every instance's host memory; it returns the samples,
// the mean of the preferred figure and that figure's name.
func densityMemory(insts []Instance, k string, mk func(string, workload.Unit, workload.Better, int, float64, map[string]string) Sample) ([]Sample, float64, string) {
	var out []Sample
	var sum float64
	var n int
	metric := ""
	for i, inst := range insts {
		m, err := inst.HostMemory()
		if err != nil {
			continue
		}
		keys := make([]string, 0, len(m))
		for key := range m {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			out = append(out, mk(key, workload.UnitBytes, workload.BetterLower, i+1, m[key], map[string]string{"k": k, "instance": strconv.Itoa(i + 1)}))
		}
		for _, p := range preferredMemory {
			if v, ok := m[p]; ok {
				if metric == "" {
					metric = p
				}
				if p == metric {
					sum += v
					n++
				}
				break
			}
		}
	}
	if n == 0 {
		return out, 0, metric
	}
	return out, sum / float64(n), metric
}

// densityWorkload runs one workload in every instance at once and records
// each instance's figures. failed says, per instance whose workload
// failed, which and why (with the backend's exit reason when it died).
func (r *Runner) densityWorkload(ctx context.Context, insts []Instance, rc scenarios.RuntimeConfig, kind workload.Kind, k string, mk func(string, workload.Unit, workload.Better, int, float64, map[string]string) Sample) (out []Sample, failed []string) {
	results := make([]*workload.Result, len(insts))
	errs := make([]error, len(insts))
	var wg sync.WaitGroup
	for i, inst := range insts {
		wg.Add(1)
		go func(i int, inst Instance) {
			defer wg.Done()
			results[i], errs[i] = r.runWorkload(ctx, inst, rc, workload.Params{Kind: kind}, r.Scenario.Timeouts.WorkloadTimeout())
		}(i, inst)
	}
	wg.Wait()
	for i, res := range results {
		if errs[i] != nil {
			msg := fmt.Sprintf("instance %d: workload %s: %v%s", i+1, kind, errs[i], exitReason(insts[i]))
			r.logf("density k=%s %s", k, msg)
			failed = append(failed, msg)
			continue
		}
		for _, m := range res.Metrics {
			out = append(out, mk(string(kind)+"_"+m.Name, m.Unit, m.Better, i+1, m.Value, map[string]string{"k": k, "instance": strconv.Itoa(i + 1)}))
		}
	}
	return out, failed
}

// densityKSM turns KSM on with every instance running, scans faster than
// the default, waits (bounded) until two full scans have passed and the
// sharing stopped changing, and records memory again with label ksm=on. It
// restores KSM's previous settings.
func (r *Runner) densityKSM(ctx context.Context, insts []Instance, mk func(string, workload.Unit, workload.Better, int, float64, map[string]string) Sample) string {
	ksm, err := metrics.KSM{}.Start()
	if err != nil {
		return err.Error()
	}
	defer func() {
		if err := ksm.Restore(); err != nil {
			r.logf("density: %v", err)
		}
	}()
	settled, last := ksm.Settle(ctx)
	k := strconv.Itoa(len(insts))
	samples, mean, metric := densityMemory(insts, k, mk)
	for i := range samples {
		samples[i].Labels["ksm"] = "on"
	}
	samples = append(samples, mk("instance_memory_mean", workload.UnitBytes, workload.BetterLower, len(insts), mean, map[string]string{"k": k, "source": metric, "ksm": "on"}))
	r.appendAndObserve(samples)
	scans := ksm.FullScans()
	if !settled {
		return fmt.Sprintf("enabled at %d instances; not settled within %.0f s (%d full scans, pages_sharing=%d)", len(insts), metrics.KSMSettleTimeout.Seconds(), scans, last)
	}
	return fmt.Sprintf("enabled at %d instances; settled after %d full scans at pages_sharing=%d (%.1f MiB shared)", len(insts), scans, last, float64(last)*4096/(1<<20))
}
