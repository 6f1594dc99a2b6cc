package report

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"

	"vcbench/bench"
	"vcbench/workload"
)

// benchUnit maps a results unit to the Go benchmark format's unit; the
// "better" direction is declared with Unit metadata lines so that
// benchstat colours changes correctly.
func benchUnit(unit workload.Unit) string {
	switch unit {
	case workload.UnitSeconds:
		return "sec/op"
	case workload.UnitBytes:
		return "B"
	case workload.UnitBytesPerSecond:
		return "B/s"
	case workload.UnitOpsPerSecond:
		return "ops/s"
	}
	return strings.ReplaceAll(string(unit), " ", "_")
}

// benchName turns a workload name into a benchmark name: "cpu" → "CPU",
// "network" → "Network".
func benchName(wl string) string {
	switch wl {
	case "cpu":
		return "CPU"
	case "":
		return "Unknown"
	}
	return strings.ToUpper(wl[:1]) + wl[1:]
}

// nameValue keeps a sub-benchmark value free of the characters that the
// benchmark format splits on.
func nameValue(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '/', '=':
			return '_'
		}
		return r
	}, s)
}

// WriteBenchfmt writes a run in the Go benchmark format, one line per
// sample (iterations 1), e.g.
//
//	BenchmarkCPU/runtime=vm/metric=single_thread 1 71300 ops/s
//
// with file configuration lines (goos, cpu, kernel, qemu, scenario, run,
// and per runtime its kind and accelerator) so that benchstat can read and
// compare vcbench runs.
func WriteBenchfmt(w io.Writer, run *bench.Run) error {
	bw := benchfmt.NewWriter(w)
	// Unit metadata first: which direction is better for each unit.
	better := map[string]string{}
	var units []string
	for _, s := range run.Samples {
		u := benchUnit(s.Unit)
		if _, ok := better[u]; !ok && s.Better.Valid() {
			better[u] = string(s.Better)
			units = append(units, u)
		}
	}
	for _, u := range units {
		for _, kv := range [][2]string{{"better", better[u]}, {"assume", "nothing"}} {
			if err := bw.Write(&benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: u, Key: kv[0]}, OrigUnit: u, Value: kv[1]}); err != nil {
				return fmt.Errorf("write benchfmt: %w", err)
			}
		}
	}
	rts := map[string]bench.RuntimeInfo{}
	for _, rt := range run.Info.Runtimes {
		rts[rt.Name] = rt
	}
	info := run.Info
	base := [][2]string{
		{"goos", "linux"},
		{"cpu", info.Host.CPUModel},
		{"cores", strconv.Itoa(info.Host.Cores)},
		{"kernel", info.Host.Kernel},
		{"qemu", info.QEMUVersion},
		{"vcbench", info.Version},
		{"scenario", info.Scenario},
		{"run", info.RunID},
	}
	// Samples in report order, so that a runtime's lines share one
	// configuration block.
	stats := Summarize("", run.Samples)
	order := map[Key]int{}
	for i, s := range stats {
		order[Key{Runtime: s.Runtime, Workload: s.Workload, Metric: s.Metric}] = i
	}
	samples := append([]bench.Sample(nil), run.Samples...)
	sortSamples(samples, func(s bench.Sample) (string, int) {
		return s.Runtime, order[Key{Runtime: s.Runtime, Workload: s.Workload, Metric: s.Metric}]
	})
	for _, s := range samples {
		res := &benchfmt.Result{Iters: 1}
		for _, kv := range base {
			if kv[1] != "" {
				res.SetConfig(kv[0], kv[1])
			}
		}
		rt := rts[s.Runtime]
		kind := rt.Kind
		if kind == "" {
			kind = s.Runtime
		}
		res.SetConfig("runtime-kind", kind)
		accel := rt.Settings["accel"]
		if accel == "" {
			accel = "none"
		}
		res.SetConfig("accel", accel)
		for i := range res.Config {
			res.Config[i].File = true
		}
		name := benchName(s.Workload) + "/runtime=" + nameValue(s.Runtime) + "/metric=" + nameValue(s.Metric)
		res.Name = benchfmt.Name(name)
		res.Values = []benchfmt.Value{{Value: s.Value, Unit: benchUnit(s.Unit)}}
		if err := bw.Write(res); err != nil {
			return fmt.Errorf("write benchfmt: %w", err)
		}
	}
	return nil
}

// sortSamples orders samples by runtime rank, then by key, keeping trial
// order (stable).
func sortSamples(ss []bench.Sample, key func(bench.Sample) (string, int)) {
	rank := func(s bench.Sample) (int, string, int) {
		rt, k := key(s)
		return runtimeRank(rt, nil), rt, k
	}
	sortStable(ss, func(a, b bench.Sample) bool {
		ra, na, ka := rank(a)
		rb, nb, kb := rank(b)
		if ra != rb {
			return ra < rb
		}
		if na != nb {
			return na < nb
		}
		return ka < kb
	})
}

func sortStable(ss []bench.Sample, less func(a, b bench.Sample) bool) {
	sort.SliceStable(ss, func(i, j int) bool { return less(ss[i], ss[j]) })
}
