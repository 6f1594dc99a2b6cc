package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"vcbench/workload/tools"
)

// ToolRawNote is the note key of a tool workload's raw output (fio's JSON,
// sysbench's report, stress-ng's YAML), saved under results' raw/ with the
// other notes.
const ToolRawNote = "raw_output"

// ErrNoTools is a tool workload asked of an agent that has no tools image.
var ErrNoTools = errors.New("this instance runs no tools image (set `image: tools` on its runtime and run `vcbench images build --tools`)")

// runTool runs a tool workload through env.Tools and converts its figures.
func runTool(ctx context.Context, p Params, env Env, r Resources) (*Result, error) {
	if env.Tools == nil {
		if env.ToolsWhy != "" {
			return nil, fmt.Errorf("%w: %s", ErrNoTools, env.ToolsWhy)
		}
		return nil, ErrNoTools
	}
	var out *tools.Output
	var err error
	switch p.Kind {
	case Fio:
		out, err = tools.RunFio(ctx, env.Tools, p.Params)
	case Sysbench:
		threads := p.Threads
		if threads == 0 {
			threads = r.CPUs
		}
		out, err = tools.RunSysbench(ctx, env.Tools, p.Params, threads)
		if err == nil && (p.Test == "fileio" || tools.IsSysbenchOLTP(p.Test)) && statScratch(env.ScratchDir).InMemory {
			out.Warnings = append(out.Warnings, "sysbench "+p.Test+"'s files (for OLTP, MariaDB's datadir) are on a memory file system (tmpfs/ramfs, as a VM's scratch directory): writes and fsyncs are memory speed, not a disk's")
		}
	case StressNG:
		out, err = tools.RunStressNG(ctx, env.Tools, p.Params)
	case HPL, Stream, RandomAccess:
		return runHPCC(ctx, p, env, r)
	default:
		return nil, fmt.Errorf("%s is not a tool workload", p.Kind)
	}
	if err != nil {
		return nil, err
	}
	return toolResult(out), nil
}

// toolResult turns a tool's output into a Result: its figures, its
// command line and raw output as notes.
func toolResult(out *tools.Output) *Result {
	res := &Result{Notes: map[string]string{}, Warnings: out.Warnings}
	for _, f := range out.Figures {
		m := lower(f.Name, Unit(f.Unit), f.Value)
		if f.Higher {
			m.Better = BetterHigher
		}
		res.Metrics = append(res.Metrics, m)
	}
	for k, v := range out.Notes {
		res.Notes[k] = v
	}
	res.Notes["command"] = strings.Join(out.Command, " ")
	if len(out.Raw) > 0 {
		res.Notes[ToolRawNote] = string(out.Raw)
	}
	return res
}

// runHPCC runs hpcc for one of its tests: N as given, else sized from the
// instance's memory (tools.HPCCProblemSize of Resources.Budget), on one
// MPI process per usable CPU unless threads says otherwise.
func runHPCC(ctx context.Context, p Params, env Env, r Resources) (*Result, error) {
	procs := p.Threads
	if procs == 0 {
		procs = max(r.CPUs, 1)
	}
	n := p.N
	var warnings []string
	if n == 0 {
		var bounded bool
		n, bounded = tools.HPCCProblemSize(r.Budget())
		if n == 0 {
			return nil, fmt.Errorf("hpcc: %d MiB usable is too little for the smallest problem (N=%d)", r.Usable()>>20, 2*tools.HPCCBlock)
		}
		if bounded {
			warnings = append(warnings, fmt.Sprintf("hpcc's N=%d is bounded by the instance's memory (%d MiB usable), below the default N of instances with more: figures compare only at equal N (set `n`)", n, r.Usable()>>20))
		}
	}
	out, err := tools.RunHPCC(ctx, env.Tools, string(p.Kind), n, procs)
	if err != nil {
		return nil, err
	}
	res := toolResult(out)
	res.Warnings = append(res.Warnings, warnings...)
	if v, err := strconv.ParseUint(out.Notes["stream_vectorsize"], 10, 64); p.Kind == Stream && err == nil && r.LLCBytes > 0 && 8*v < 4*r.LLCBytes {
		res.Warnings = append(res.Warnings, fmt.Sprintf("STREAM arrays of %d KiB are below 4× the last-level cache (%d KiB): partly cache bandwidth (raise `n`)", 8*v>>10, r.LLCBytes>>10))
	}
	r.notes(res.Notes)
	return res, nil
}
