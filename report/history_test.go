package report

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vcbench/bench"
	"vcbench/metrics"
	"vcbench/workload"
)

// writeSyntheticRun writes a run directory with six trials of
// startup/ready and idle/host_pss for native and container, each value
// base × factor × (1 + 2% noise).
func writeSyntheticRun(t *testing.T, dir, id string, start time.Time, governor string, factor map[string]float64, rng *rand.Rand) {
	t.Helper()
	d := filepath.Join(dir, id)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	end := start.Add(5 * time.Minute)
	info := bench.RunInfo{RunID: id, Status: bench.StatusComplete, Start: start, End: &end, Scenario: "quick", ScenarioSHA256: "abc",
		Host:     bench.Host{Hostname: "bench-01", CPUModel: "Xeon", Cores: 2, MemBytes: 24 << 30, Kernel: "6.1.0", Fingerprint: metrics.Fingerprint{Governor: governor, THP: "madvise"}},
		Runtimes: []bench.RuntimeInfo{{Name: "native", Kind: "native"}, {Name: "container", Kind: "container"}}, Trials: 6}
	if err := bench.WriteJSONAtomic(filepath.Join(d, "run.json"), info); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(d, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	base := map[string][2]float64{"native": {0.004, 9 << 20}, "container": {0.015, 10 << 20}}
	for _, rt := range []string{"native", "container"} {
		for trial := 0; trial < 6; trial++ {
			fa := factor[rt]
			if fa == 0 {
				fa = 1
			}
			for _, s := range []bench.Sample{
				{Workload: "startup", Metric: "ready", Unit: workload.UnitSeconds, Better: workload.BetterLower, Value: base[rt][0] * fa},
				{Workload: "idle", Metric: "host_pss", Unit: workload.UnitBytes, Better: workload.BetterLower, Value: base[rt][1]},
			} {
				s.Scenario, s.Runtime, s.Trial = "quick", rt, trial
				s.Value *= 1 + 0.02*rng.NormFloat64()
				if err := enc.Encode(s); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestHistoryFlagsStepNotNoise follows six runs of one setup in which the
// container's start-up steps up 40% at the fourth run: that run, and only
// that one, is a change point; a seventh run on a host with another CPU
// governor forms a group of its own.
func TestHistoryFlagsStepNotNoise(t *testing.T) {
	dir := t.TempDir()
	if art := os.Getenv("VCBENCH_ARTIFACTS"); art != "" {
		dir = filepath.Join(art, "history-runs") // kept for a look at the charts
		os.RemoveAll(dir)
	}
	rng := rand.New(rand.NewPCG(3, 9))
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := 0; i < 6; i++ {
		f := map[string]float64{}
		if i >= 3 {
			f["container"] = 1.4
		}
		writeSyntheticRun(t, dir, "run-"+string(rune('1'+i)), t0.Add(time.Duration(i)*24*time.Hour), "performance", f, rng)
	}
	writeSyntheticRun(t, dir, "run-7", t0.Add(7*24*time.Hour), "powersave", nil, rng)
	if err := os.MkdirAll(filepath.Join(dir, "not-a-run"), 0o755); err != nil {
		t.Fatal(err)
	}
	groups, _, err := GroupHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || len(groups[0].Runs) != 6 || len(groups[1].Runs) != 1 {
		t.Fatalf("groups: %d (%v), want 6 runs and 1 run", len(groups), groupSizes(groups))
	}
	g := &groups[0]
	g.follow(nil, CompareOptions{MinEffect: DefaultMinEffect})
	var called []string
	for _, s := range g.Series {
		if len(s.Points) != 6 {
			t.Errorf("%s/%s %s: %d points, want 6", s.Workload, s.Metric, s.Runtime, len(s.Points))
		}
		for _, p := range s.Points {
			if p.Called {
				called = append(called, s.Workload+"/"+s.Metric+" "+s.Runtime+" "+p.RunID)
			}
		}
	}
	if want := "startup/ready container run-4"; strings.Join(called, "; ") != want {
		t.Errorf("change points %q, want only %q", called, want)
	}

	index, err := WriteHistory(dir, HistoryOptions{Metrics: []string{"startup/ready", "idle/host_pss"}})
	if err != nil {
		t.Fatal(err)
	}
	if index != filepath.Join(dir, "history", "index.html") {
		t.Errorf("index at %s", index)
	}
	page, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="group-1"`, `id="group-2"`, `id="chart-group-1-startup-ready"`, `id="chart-group-1-idle-host_pss"`, "<td>run-4</td>", "(worse)"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("history page lacks %s", want)
		}
	}
	svgs, _ := filepath.Glob(filepath.Join(dir, "history", "charts", "*.svg"))
	if len(svgs) != 4 {
		t.Errorf("%d charts written, want 4 (2 groups × 2 metrics)", len(svgs))
	}
	for _, f := range svgs {
		b, _ := os.ReadFile(f)
		for _, p := range textProblems(svgTexts(t, string(b), 1.1)) {
			t.Errorf("%s: %s", filepath.Base(f), p)
		}
	}
}

func groupSizes(gs []HistoryGroup) []int {
	var out []int
	for _, g := range gs {
		out = append(out, len(g.Runs))
	}
	return out
}
