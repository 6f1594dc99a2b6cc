package workload

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"vcbench/agent/proto"
	"vcbench/workload/tools"
)

// Env is what a workload may use of its surroundings.
type Env struct {
	// ScratchDir holds the disk workload's file; DiskPath, when set, is a
	// block device (a VM's scratch disk) used instead of a file.
	ScratchDir string
	DiskPath   string
	// Observe, when set, receives single-operation latencies (for histograms).
	Observe func(op string, d time.Duration)
	// Resources, when set, replaces what ReadResources would read (tests).
	Resources *Resources
	// Tools runs the tools image's programs; nil when the instance runs
	// the minimal image (tool workloads are then refused).
	Tools tools.Runner
	// ToolsWhy says why Tools is nil, for that refusal.
	ToolsWhy string
}

// Run executes one agent-side workload with fixed work and returns its figures.
func Run(ctx context.Context, p Params, env Env) (*Result, error) {
	if env.Observe == nil {
		env.Observe = func(string, time.Duration) {}
	}
	r := ReadResources()
	if env.Resources != nil {
		r = *env.Resources
	}
	start := time.Now()
	var res *Result
	var err error
	switch p.Kind {
	case CPU:
		res, err = runCPU(ctx, p, r)
	case Memory:
		res, err = runMemory(ctx, p, r)
	case Syscall:
		res, err = runSyscall(ctx, p)
	case Fork:
		res, err = runFork(ctx, p)
	case Disk:
		res, err = runDisk(ctx, p, env, r)
	case Fio, Sysbench, StressNG, HPL, Stream, RandomAccess:
		res, err = runTool(ctx, p, env, r)
	case Network:
		return nil, fmt.Errorf("network runs from the harness against /net/*, not through /run")
	case Iperf3, Sockperf, Redis:
		return nil, fmt.Errorf("%s runs its client on the host against %s, not through /run", p.Kind, proto.PathToolsServe)
	default:
		return nil, fmt.Errorf("unknown workload %q", p.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Kind, err)
	}
	res.Workload = p.Kind
	res.Seconds = time.Since(start).Seconds()
	if len(res.Warnings) > 0 {
		if res.Notes == nil {
			res.Notes = map[string]string{}
		}
		// The notes file under raw/ has always carried the warning.
		res.Notes["warning"] = strings.Join(res.Warnings, "; ")
	}
	return res, nil
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// percentile returns the q-quantile (0..1) of sorted durations, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func sortDurations(d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
}
