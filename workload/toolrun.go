package workload

import (
	"context"
	"errors"
	"fmt"
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
	case StressNG:
		out, err = tools.RunStressNG(ctx, env.Tools, p.Params)
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
