package report

import (
	"bytes"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"vcbench/bench"
	"vcbench/workload"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func readRun(t *testing.T, dir string) *bench.Run {
	t.Helper()
	r, err := bench.ReadRun(filepath.Join("testdata", dir))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./report -update to accept):\n%s", name, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n want: " + w + "\n  got: " + g
		}
	}
	return "(same lines)"
}

func TestGolden(t *testing.T) {
	a, b := readRun(t, "run-a"), readRun(t, "run-b")
	tests := []struct {
		name   string
		golden string
		render func(*bytes.Buffer) error
	}{
		{"summary en", "summary.en.md.golden", func(w *bytes.Buffer) error {
			m, err := Build([]Input{{Run: a}}, LangEnglish)
			if err != nil {
				return err
			}
			charts, err := renderCharts(m, false)
			if err != nil {
				return err
			}
			return WriteMarkdown(w, m, charts)
		}},
		{"summary ko", "summary.ko.md.golden", func(w *bytes.Buffer) error {
			m, err := Build([]Input{{Run: a}}, LangKorean)
			if err != nil {
				return err
			}
			charts, err := renderCharts(m, false)
			if err != nil {
				return err
			}
			return WriteMarkdown(w, m, charts)
		}},
		{"summary with failures en", "summary.fail.en.md.golden", func(w *bytes.Buffer) error {
			m, err := Build([]Input{{Run: readRun(t, "run-fail")}}, LangEnglish)
			if err != nil {
				return err
			}
			charts, err := renderCharts(m, false)
			if err != nil {
				return err
			}
			return WriteMarkdown(w, m, charts)
		}},
		{"density summary en", "summary.density.en.md.golden", func(w *bytes.Buffer) error { return densityMarkdown(w, LangEnglish) }},
		{"density summary ko", "summary.density.ko.md.golden", func(w *bytes.Buffer) error { return densityMarkdown(w, LangKorean) }},
		{"compare text", "compare.txt.golden", func(w *bytes.Buffer) error { return CompareRuns(a, b).WriteText(w) }},
		{"compare markdown", "compare.md.golden", func(w *bytes.Buffer) error { return CompareRuns(a, b).WriteMarkdown(w) }},
		{"benchfmt", "export.benchfmt.golden", func(w *bytes.Buffer) error { return WriteBenchfmt(w, a) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.render(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, buf.Bytes())
		})
	}
}

// densityMarkdown renders summary.md of the density fixture (steps 1, 2, 4
// of a real run of containers and TCG VMs).
func densityMarkdown(w *bytes.Buffer, lang string) error {
	run, err := bench.ReadRun(filepath.Join("testdata", "density"))
	if err != nil {
		return err
	}
	m, err := Build([]Input{{Run: run}}, lang)
	if err != nil {
		return err
	}
	charts, err := renderCharts(m, false)
	if err != nil {
		return err
	}
	return WriteMarkdown(w, m, charts)
}

// synth draws n samples around center with a 2% spread.
func synth(rng *rand.Rand, n int, center float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = center * (1 + 0.02*rng.NormFloat64())
	}
	return out
}

func TestCompareKnownAnswers(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	k := Key{Runtime: "vm", Workload: "cpu", Metric: "single_thread"}
	same := synth(rng, 20, 1000)
	tests := []struct {
		name        string
		old, new    []float64
		better      workload.Better
		significant bool
		worse       bool
		delta       string
	}{
		{"identical distributions", same, same, "higher", false, false, "~"},
		{"same distribution, two draws", synth(rng, 20, 1000), synth(rng, 20, 1000), "higher", false, false, "~"},
		{"10% lower throughput", synth(rng, 20, 1000), synth(rng, 20, 900), "higher", true, true, ""},
		{"10% lower latency", synth(rng, 20, 1000), synth(rng, 20, 900), "lower", true, false, ""},
		{"10% higher latency", synth(rng, 20, 1000), synth(rng, 20, 1100), "lower", true, true, ""},
		{"too few samples to tell", []float64{1, 1.1}, []float64{2, 2.1}, "lower", false, true, "~"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(NewStat(k, "ops_per_second", tc.better, tc.old), NewStat(k, "ops_per_second", tc.better, tc.new))
			if c.Significant != tc.significant {
				t.Errorf("significant = %v (p=%.4f), want %v", c.Significant, c.P, tc.significant)
			}
			if c.Worse != tc.worse && tc.significant {
				t.Errorf("worse = %v, want %v", c.Worse, tc.worse)
			}
			if tc.delta != "" && c.Delta() != tc.delta {
				t.Errorf("delta = %q, want %q", c.Delta(), tc.delta)
			}
			if tc.significant && (c.Delta() == "~" || math.Abs(math.Abs(c.Change)-0.1) > 0.03) {
				t.Errorf("delta = %q (change %.3f), want about ±10%%", c.Delta(), c.Change)
			}
		})
	}
}

func TestSummaryCI(t *testing.T) {
	k := Key{Runtime: "native", Workload: "startup", Metric: "ready"}
	tests := []struct {
		name    string
		values  []float64
		hasCI   bool
		warning bool
	}{
		{"three trials: no interval", []float64{3, 1, 2}, false, true},
		{"six trials: interval", []float64{6, 5, 4, 3, 2, 1}, true, false},
		{"one trial", []float64{1}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStat(k, "seconds", "lower", tc.values)
			if s.HasCI() != tc.hasCI {
				t.Errorf("HasCI = %v (lo %v hi %v), want %v", s.HasCI(), s.Lo, s.Hi, tc.hasCI)
			}
			if (len(s.Warnings) > 0) != tc.warning {
				t.Errorf("warnings = %q, want some: %v", s.Warnings, tc.warning)
			}
			if s.N != len(tc.values) {
				t.Errorf("n = %d", s.N)
			}
		})
	}
}

func TestRegressions(t *testing.T) {
	rc := CompareRuns(readRun(t, "run-a"), readRun(t, "run-b"))
	tests := []struct {
		pct  float64
		want []string
	}{
		{5, []string{"syscall/getppid/container", "network/rr_p50/container"}},
		{13, []string{"syscall/getppid/container"}},
		{50, nil},
	}
	for _, tc := range tests {
		var got []string
		for _, r := range rc.Regressions(tc.pct) {
			got = append(got, r.Key.Workload+"/"+r.Key.Metric+"/"+r.Key.Series())
		}
		for _, w := range tc.want {
			if !contains(got, w) {
				t.Errorf("pct %g: %s not among regressions %v", tc.pct, w, got)
			}
		}
		for _, g := range got {
			if strings.Contains(g, "startup/ready/vm") {
				t.Errorf("pct %g: a faster boot counted as regression", tc.pct)
			}
		}
		if tc.want == nil && len(got) > 0 {
			t.Errorf("pct %g: regressions %v, want none", tc.pct, got)
		}
	}
	// Identical runs: nothing significant at all.
	same := CompareRuns(readRun(t, "run-a"), readRun(t, "run-a"))
	for _, g := range same.Groups {
		for _, r := range g.Rows {
			if r.Cmp == nil || r.Cmp.Significant {
				t.Errorf("%v: identical runs compare as %+v", r.Key, r.Cmp)
			}
		}
	}
}

func TestBenchfmtRoundTrip(t *testing.T) {
	run := readRun(t, "run-a")
	var buf bytes.Buffer
	if err := WriteBenchfmt(&buf, run); err != nil {
		t.Fatal(err)
	}
	rd := benchfmt.NewReader(&buf, "run-a.txt")
	n := 0
	accel := map[string]string{}
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			t.Errorf("syntax error: %v", rec)
		case *benchfmt.Result:
			n++
			_, parts := rec.Name.Parts()
			if len(parts) != 2 || !bytes.HasPrefix(parts[0], []byte("/runtime=")) {
				t.Errorf("name %q: want /runtime=…/metric=…", rec.Name.Full())
			}
			accel[string(parts[0])] = rec.GetConfig("accel")
			if rec.GetConfig("cpu") == "" || rec.GetConfig("goos") != "linux" {
				t.Errorf("%s: missing cpu/goos config", rec.Name.Full())
			}
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(run.Samples) {
		t.Errorf("read back %d results, want %d", n, len(run.Samples))
	}
	if accel["/runtime=vm"] != "tcg" || accel["/runtime=native"] != "none" {
		t.Errorf("accel configs = %v", accel)
	}
	units := rd.Units()
	if units.GetBetter("ops/s") != 1 || units.GetBetter("sec/op") != -1 || units.GetBetter("B") != -1 {
		t.Errorf("unit metadata: ops/s %d sec/op %d B %d", units.GetBetter("ops/s"), units.GetBetter("sec/op"), units.GetBetter("B"))
	}
}

// writeRun makes a run directory from run.json contents and samples.
func writeRun(t *testing.T, info bench.RunInfo, samples []bench.Sample) *bench.Run {
	t.Helper()
	st, err := bench.Create(t.TempDir(), info)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) > 0 {
		if err := st.Append(samples...); err != nil {
			t.Fatal(err)
		}
	}
	status := info.Status
	if status == "" {
		status = bench.StatusComplete
	}
	if err := st.Finish(status, info.Reason); err != nil {
		t.Fatal(err)
	}
	r, err := bench.ReadRun(st.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMissingPieces(t *testing.T) {
	smp := func(rt, wl, metric string, unit workload.Unit, better workload.Better, vals ...float64) []bench.Sample {
		var out []bench.Sample
		for i, v := range vals {
			out = append(out, bench.Sample{Scenario: "t", Runtime: rt, Workload: wl, Metric: metric, Unit: unit, Better: better, Trial: i, Value: v})
		}
		return out
	}
	nativeOnly := smp("native", "startup", "ready", "seconds", "lower", 0.004, 0.0041, 0.0039)
	nativeOnly = append(nativeOnly, smp("native", "cpu", "single_thread", "ops_per_second", "higher", 6e5, 6.1e5, 5.9e5)...)
	noNativeCPU := append(smp("vm", "cpu", "single_thread", "ops_per_second", "higher", 7e4), smp("native", "idle", "host_pss", "bytes", "lower", 9e6)...)
	tests := []struct {
		name     string
		info     bench.RunInfo
		samples  []bench.Sample
		contains []string
		absent   []string
	}{
		{"native only", bench.RunInfo{RunID: "n", Runtimes: []bench.RuntimeInfo{{Name: "native", Kind: "native"}}}, nativeOnly,
			[]string{"single_thread", "No ratios: this run needs both native samples and samples of another runtime", "No raw/info"}, []string{"Software emulation"}},
		{"no samples, failed", bench.RunInfo{RunID: "f", Status: bench.StatusFailed, Reason: "qemu not found"}, nil,
			[]string{"did not complete", "qemu not found", "no samples"}, nil},
		{"interrupted, vm tcg, no native for cpu", bench.RunInfo{RunID: "i", Status: bench.StatusInterrupted, Reason: "SIGINT",
			Runtimes: []bench.RuntimeInfo{{Name: "vm", Kind: "vm", Settings: map[string]string{"accel": "tcg"}}}}, noNativeCPU,
			[]string{"did not complete", "interrupted", "TCG", "need >= 6 samples"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := writeRun(t, tc.info, tc.samples)
			out := t.TempDir()
			index, err := Write(run, out, Options{})
			if err != nil {
				t.Fatal(err)
			}
			md, err := os.ReadFile(filepath.Join(out, "summary.md"))
			if err != nil {
				t.Fatal(err)
			}
			html, err := os.ReadFile(index)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.contains {
				if !strings.Contains(string(md), want) {
					t.Errorf("summary.md lacks %q:\n%s", want, md)
				}
			}
			for _, no := range tc.absent {
				if strings.Contains(string(md), no) {
					t.Errorf("summary.md has %q", no)
				}
			}
			if tc.info.Status != "" && tc.info.Status != bench.StatusComplete && !strings.Contains(string(html), `id="status-banner"`) {
				t.Errorf("index.html has no status banner")
			}
		})
	}
}

func TestWriteRunsSideBySide(t *testing.T) {
	a, b := readRun(t, "run-a"), readRun(t, "run-b")
	out := t.TempDir()
	index, err := WriteRuns([]*bench.Run{a, b}, out, Options{Labels: []string{"host-a", "host-b"}, NoPNG: true})
	if err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "summary.md"))
	for _, want := range []string{"host-a/vm", "host-b/container", "### host-b"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	if _, err := os.Stat(index); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{Lang: "fr"}).Validate(); err == nil {
		t.Error("lang fr accepted")
	}
	if _, err := Write(readRun(t, "run-a"), t.TempDir(), Options{Lang: "xx"}); err == nil {
		t.Error("Write accepted lang xx")
	}
}

// synthRun makes a run of n samples across every runtime and metric of the
// fixture, for timing.
func synthRun(t testing.TB, n int) *bench.Run {
	base := readRunTB(t, "run-a")
	rng := rand.New(rand.NewPCG(1, 2))
	run := &bench.Run{Dir: base.Dir, Info: base.Info}
	for i := 0; len(run.Samples) < n; i++ {
		s := base.Samples[i%len(base.Samples)]
		s.Trial = i / len(base.Samples)
		s.Value *= 1 + 0.03*rng.NormFloat64()
		run.Samples = append(run.Samples, s)
	}
	return run
}

func readRunTB(t testing.TB, dir string) *bench.Run {
	r, err := bench.ReadRun(filepath.Join("testdata", dir))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestWrite10kSamples checks the time budget: a report of 10,000 samples
// in under 2 s (SVG + PNG of every chart, HTML, Markdown).
func TestWrite10kSamples(t *testing.T) {
	run := synthRun(t, 10000)
	start := time.Now()
	if _, err := Write(run, t.TempDir(), Options{}); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("report.Write of %d samples: %v", len(run.Samples), el)
	if el > 2*time.Second && os.Getenv("VCBENCH_STRICT_TIMING") != "" {
		t.Errorf("took %v, budget 2s", el)
	}
}

func BenchmarkWrite10k(b *testing.B) {
	run := synthRun(b, 10000)
	out := b.TempDir()
	for b.Loop() {
		if _, err := Write(run, out, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
