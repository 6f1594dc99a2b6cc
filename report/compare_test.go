package report

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"vcbench/bench"
	"vcbench/workload"
)

// model is one figure of a synthetic run: its median and coefficient of
// variation, and the step values are rounded to (4 KiB pages for memory
// figures read from /proc; 0 for continuous ones).
type model struct {
	k      Key
	unit   workload.Unit
	better workload.Better
	median float64
	cv     float64
	step   float64
}

// runAModels takes every figure of testdata/run-a as a model: same metrics,
// their observed medians and CVs.
func runAModels(t *testing.T) []model {
	t.Helper()
	var out []model
	for _, st := range Summarize("", readRun(t, "run-a").Samples) {
		m := model{k: st.Key, unit: st.Unit, better: st.Better, median: st.Median, cv: cv(st.Values)}
		if st.Unit == workload.UnitBytes {
			m.step = 4096
		}
		out = append(out, m)
	}
	return out
}

// nearConstant are memory figures of near-zero variance, like the ones that
// cried wolf in vcbench issue 11 (PSS/RSS of an idle agent moves by a few
// pages between trials).
func nearConstant() []model {
	var out []model
	for _, rt := range []string{"native", "container", "oci-crun"} {
		for _, m := range []string{"host_pss", "host_rss", "cgroup_usage"} {
			out = append(out, model{k: Key{Runtime: rt, Workload: "cpu", Metric: m}, unit: workload.UnitBytes, better: workload.BetterLower,
				median: 9.5 * (1 << 20), cv: 0.0005, step: 4096})
		}
	}
	return out
}

// drawRun draws n trials of every model; shift multiplies the medians of
// models for which drift says so.
func drawRun(rng *rand.Rand, id string, models []model, n int, drift func(model) float64) *bench.Run {
	r := &bench.Run{Info: bench.RunInfo{RunID: id, Scenario: "cpu", Status: bench.StatusComplete}}
	for _, m := range models {
		center := m.median
		if drift != nil {
			center *= 1 + drift(m)
		}
		for trial := range n {
			v := center * (1 + m.cv*rng.NormFloat64())
			if m.step > 0 {
				v = math.Round(v/m.step) * m.step
			}
			r.Samples = append(r.Samples, bench.Sample{Scenario: "cpu", Runtime: m.k.Runtime, Workload: m.k.Workload, Metric: m.k.Metric,
				Unit: m.unit, Better: m.better, Trial: trial, Value: v})
		}
	}
	return r
}

// TestCompareSyntheticIdenticalRuns is the target of issue 11 item 6: two
// identical runs built like real ones (run-a's metrics and CVs, plus
// near-constant memory figures) at n=10 must not call more than α of their
// figures. With a sub-1% drift of the near-constant memory figures between
// the runs — what two real runs of one host show — the old rule (p < α
// alone) calls nearly all of them; the noise floor calls none.
func TestCompareSyntheticIdenticalRuns(t *testing.T) {
	models := append(runAModels(t), nearConstant()...)
	reps := 200
	if testing.Short() {
		reps = 60
	}
	rng := rand.New(rand.NewPCG(11, 6))
	// count compares reps pairs of runs; only the figures for which which
	// says so are counted.
	count := func(drift func(model) float64, which func(Key) bool) (tested, significant, called int) {
		for range reps {
			rc := CompareRuns(drawRun(rng, "a", models, 10, nil), drawRun(rng, "b", models, 10, drift))
			for _, g := range rc.Groups {
				for _, r := range g.Rows {
					if r.Cmp == nil || !which(r.Key) {
						continue
					}
					tested++
					if r.Cmp.Significant {
						significant++
					}
					if r.Called {
						called++
					}
				}
			}
		}
		return
	}
	all := func(Key) bool { return true }
	tested, sig, called := count(nil, all)
	perRun := tested / reps
	t.Logf("identical: %d figures a run, %d comparisons: significant %.2f%% (old rule), called %.2f%% (new rule), α=%.2f",
		perRun, tested, 100*float64(sig)/float64(tested), 100*float64(called)/float64(tested), Alpha)
	if perRun < 20 {
		t.Fatalf("only %d figures a run, want ≥ 20", perRun)
	}
	if rate := float64(called) / float64(tested); rate > Alpha {
		t.Errorf("identical runs: %.2f%% called, want ≤ %.0f%%", 100*rate, 100*Alpha)
	}

	constant := map[Key]bool{}
	for _, m := range nearConstant() {
		constant[m.k] = true
	}
	drifted := func(m model) float64 {
		if constant[m.k] {
			return 0.008
		}
		return 0
	}
	tested, sig, called = count(drifted, func(k Key) bool { return constant[k] })
	t.Logf("0.8%% drift of the near-constant memory figures: %d compared, significant %d (old rule), called %d (new rule)", tested, sig, called)
	if sig < tested*9/10 {
		t.Errorf("drifted: only %d of %d significant, want the old rule to call ≥ 90%%", sig, tested)
	}
	if called != 0 {
		t.Errorf("drifted: %d of %d called, want none under the 2%% floor", called, tested)
	}
}

// TestCompareDetectableCPU states what run-a's noise lets compare see for
// the cpu workload at n=10 per run: calibrate on 2×10 synthetic trials of
// each cpu figure with its observed CV.
func TestCompareDetectableCPU(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 10))
	ut := newUTester()
	for _, m := range runAModels(t) {
		if m.k.Workload != "cpu" {
			continue
		}
		a, b := make([]float64, 10), make([]float64, 10)
		for i := range a {
			a[i] = m.median * (1 + m.cv*rng.NormFloat64())
			b[i] = m.median * (1 + m.cv*rng.NormFloat64())
		}
		mc := ut.calibrate(a, b, 400, rng)
		t.Logf("%-30s CV %5.2f%%  MDE90 %5.2f%% (simulated), %5.2f%% (normal, analytic)", m.k.String(), 100*m.cv, 100*mc.MDE90, 100*normalMDE(10, m.cv))
		if math.IsInf(mc.MDE90, 0) || mc.MDE90 <= 0 {
			t.Errorf("%v: MDE %v, want a positive finite change at n=10", m.k, mc.MDE90)
		}
	}
}

// TestCompareCallRule: the call rule is significance AND a change above
// the metric's floor; the golden files changed only by the footer that
// says so and counts tested, called and expected-by-chance figures.
func TestCompareCallRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	k := func(m string) Key { return Key{Runtime: "native", Workload: "cpu", Metric: m} }
	models := []model{
		{k: k("host_pss"), unit: workload.UnitBytes, better: workload.BetterLower, median: 1e7, cv: 0.0005},
		{k: k("single_thread"), unit: workload.UnitOpsPerSecond, better: workload.BetterHigher, median: 6e5, cv: 0.01},
		{k: k("all_threads"), unit: workload.UnitOpsPerSecond, better: workload.BetterHigher, median: 1e6, cv: 0.01},
	}
	shift := map[string]float64{"host_pss": 0.01, "single_thread": -0.05, "all_threads": -0.15}
	old := drawRun(rng, "old", models, 10, nil)
	new := drawRun(rng, "new", models, 10, func(m model) float64 { return shift[m.k.Metric] })
	rows := func(rc *RunComparison) map[string]CompareRow {
		out := map[string]CompareRow{}
		for _, g := range rc.Groups {
			for _, r := range g.Rows {
				out[r.Key.Metric] = r
			}
		}
		return out
	}

	rc := CompareRuns(old, new)
	r := rows(rc)
	if pss := r["host_pss"]; !pss.Cmp.Significant || pss.Called || !pss.BelowFloor() || pss.Floor != DefaultMinEffect {
		t.Errorf("host_pss +1%%: %+v, want significant, below the 2%% floor, not called", pss)
	}
	if st := r["single_thread"]; !st.Called || !st.Regressed(4) || st.Regressed(6) {
		t.Errorf("single_thread -5%%: %+v, want called, a regression above 4%% and not above 6%%", st)
	}
	var text bytes.Buffer
	if err := rc.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"~ (below noise floor 2.0%)", "(worse)", "2 called of 3 tested; 0.15 expected by chance at α=0.05"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}

	// No floor: the 1% shift of a near-constant figure is called.
	if pss := rows(CompareRunsWith(old, new, CompareOptions{}))["host_pss"]; !pss.Called {
		t.Errorf("min effect 0: host_pss %+v, want called", pss)
	}

	// A calibration's mde_90 raises a floor, scaled to the runs' n: 8% at
	// n=40 is 16% at n=10, above single_thread's 5% and all_threads' 15%.
	cal := &Calibration{RunID: "cal", Metrics: []MetricCalibration{
		{Runtime: "native", Workload: "cpu", Metric: "single_thread", N: 10, MDE90: 0.08},
		{Runtime: "native", Workload: "cpu", Metric: "all_threads", N: 40, MDE90: 0.08},
		{Runtime: "native", Workload: "cpu", Metric: "host_pss", N: 10, MDE90: 0.001}, // below min effect
	}}
	rc = CompareRunsWith(old, new, CompareOptions{MinEffect: DefaultMinEffect, Calibration: cal, CalibrationSource: "cal/calibration.json"})
	r = rows(rc)
	if st := r["single_thread"]; st.Called || st.Floor != 0.08 || st.FloorSource != "calibration" || st.Regressed(1) {
		t.Errorf("calibrated single_thread: %+v, want floor 8%% from the calibration, not called", st)
	}
	if at := r["all_threads"]; at.Called || math.Abs(at.Floor-0.16) > 1e-9 {
		t.Errorf("calibrated all_threads: floor %v called %v, want 16%% (8%% × √(40/10)), not called", at.Floor, at.Called)
	}
	if pss := r["host_pss"]; pss.Floor != DefaultMinEffect || pss.FloorSource != "min-effect" {
		t.Errorf("calibrated host_pss: floor %v from %s, want the 2%% minimum", pss.Floor, pss.FloorSource)
	}
	var js bytes.Buffer
	if err := rc.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tested, Called int
		Expected       float64 `json:"expected_by_chance"`
		MinEffect      float64 `json:"min_effect"`
		Calibration    string
		Groups         []struct {
			Rows []struct {
				Metric      string
				Floor       *float64
				FloorSource string `json:"floor_source"`
				Called      bool
				Significant bool
			}
		}
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Tested != 3 || got.Called != 0 || math.Abs(got.Expected-0.15) > 1e-9 || got.MinEffect != 0.02 || got.Calibration != "cal/calibration.json" {
		t.Errorf("json header %+v", got)
	}
	var md bytes.Buffer
	if err := rc.WriteMarkdown(&md); err != nil || !strings.Contains(md.String(), "- 0 called of 3 tested; 0.15 expected by chance") ||
		!strings.Contains(md.String(), "mde_90 from cal/calibration.json") || !strings.Contains(md.String(), "below noise floor 8.0%") {
		t.Errorf("markdown (%v):\n%s", err, md.String())
	}
}

// TestFingerprintDiff: every recorded setup field that differs is listed;
// the hostname, a field one run did not record, memory within 1%, and
// runtimes measured in only one run are not differences.
func TestFingerprintDiff(t *testing.T) {
	base := readRun(t, "run-a").Info
	if d := FingerprintDiff(base, readRun(t, "run-b").Info); len(d) != 0 {
		t.Fatalf("run-a vs run-b (one host): %q, want no difference", d)
	}
	other := base
	other.Host.Hostname = "bench-02"
	other.Host.MemBytes = base.Host.MemBytes - 4<<20 // a few MiB of kernel reservations
	if d := FingerprintDiff(base, other); len(d) != 0 {
		t.Errorf("other hostname, MemTotal −4 MiB: %q, want none", d)
	}
	other.Host.Kernel = "6.12.0-1-cloud-amd64"
	other.Host.CPUModel = "AMD EPYC 7B13"
	other.Host.MemBytes = base.Host.MemBytes / 2
	other.Host.Cores = 4
	other.QEMUVersion = "9.2.0"
	other.Runtimes = append([]bench.RuntimeInfo(nil), base.Runtimes...)
	for i := range other.Runtimes {
		rt := &other.Runtimes[i]
		s := map[string]string{}
		for k, v := range rt.Settings {
			s[k] = v
		}
		switch rt.Name {
		case "vm":
			s["accel"] = "kvm"
			s["kvm_probe"] = "ok" // not a fingerprint field
		case "oci-crun":
			s["binary"] = "crun 1.19"
			s["runtime_version"] = "crun version 1.19"
		case "container":
			s["network"] = "veth2" // configuration, not fingerprint
		}
		rt.Settings = s
	}
	d := FingerprintDiff(base, other)
	joined := strings.Join(d, "\n")
	for _, want := range []string{`kernel: "6.1.0-18-cloud-amd64" vs "6.12.0-1-cloud-amd64"`, `cpu_model: "Intel(R) Xeon(R) CPU @ 2.20GHz" vs "AMD EPYC 7B13"`,
		"memory: 24.0 GiB vs 12.0 GiB", `cores: "2" vs "4"`, `qemu_version: "7.2.9 (Debian 1:7.2+dfsg-7+deb12u5)" vs "9.2.0"`,
		`vm accel: "tcg" vs "kvm"`, `oci-crun binary: "crun 1.8.1" vs "crun 1.19"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("differences lack %s:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "kvm_probe") || strings.Contains(joined, "network") || strings.Contains(joined, "hostname") {
		t.Errorf("differences list a non-fingerprint field:\n%s", joined)
	}
	// oci-crun's runtime_version is recorded only in other: not a difference.
	if len(d) != 7 {
		t.Errorf("%d differences, want 7:\n%s", len(d), joined)
	}
	// A runtime skipped in one run is not compared.
	skipped := other
	skipped.Runtimes = append([]bench.RuntimeInfo(nil), other.Runtimes...)
	for i := range skipped.Runtimes {
		if skipped.Runtimes[i].Name == "vm" {
			skipped.Runtimes[i].Skipped = "no /dev/kvm"
		}
	}
	if strings.Contains(strings.Join(FingerprintDiff(base, skipped), "\n"), "vm accel") {
		t.Error("a skipped runtime's settings counted as a difference")
	}
	rc := CompareRuns(&bench.Run{Info: base}, &bench.Run{Info: other})
	if !strings.Contains(strings.Join(rc.Notes, "\n"), `setup differs: vm accel: "tcg" vs "kvm"`) {
		t.Errorf("comparison notes %q lack the setup differences", rc.Notes)
	}
}
