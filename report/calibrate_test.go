package report

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vcbench/bench"
)

// normalMDE is the analytic minimum detectable effect (relative to the
// mean) of a two-sided test at Alpha with power Power, n per group, for
// normal noise of coefficient of variation cv: the t-test's
// (z₁₋α/₂ + z_power)·cv·√(2/n), divided by √(3/π) because Mann–Whitney U
// needs π/3 times the samples of a t-test on normal data (its asymptotic
// relative efficiency).
func normalMDE(n int, cv float64) float64 {
	const zAlpha, zPower = 1.959964, 1.281552 // α=0.05 two-sided, power 0.9
	return (zAlpha + zPower) * cv * math.Sqrt(2/float64(n)) / math.Sqrt(3/math.Pi)
}

// TestCalibUTesterMatchesBenchmath: the memoised p-value is exactly the one
// compare's benchmath call gives, with and without ties, for exact and
// normal-approximation sizes.
func TestCalibUTesterMatchesBenchmath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	ut := newUTester()
	for _, n := range []int{3, 6, 10, 25, 60} {
		for range 50 {
			x, y := make([]float64, n), make([]float64, n+rng.IntN(3))
			for i := range x {
				x[i] = math.Round(100 + 3*rng.NormFloat64()) // rounded: ties
			}
			for i := range y {
				y[i] = math.Round(101 + 3*rng.NormFloat64())
			}
			if rng.IntN(2) == 0 { // continuous: no ties
				for i := range x {
					x[i] += rng.Float64()
				}
				for i := range y {
					y[i] += rng.Float64()
				}
			}
			got, want := ut.p(x, y), uTestP(x, y)
			if again := ut.p(x, y); got != want || again != want {
				t.Fatalf("n=%d: cached p = %v (again %v), benchmath p = %v\nx=%v\ny=%v", n, got, again, want, x, y)
			}
		}
	}
}

// TestCalibFalseAlarmNormal: on normal noise, the share of random splits
// called significant is the test's size within binomial bounds: α=0.05
// promised, 0.0433 delivered at n=10+10 (Mann–Whitney U is a permutation
// test on discrete ranks; P(U ≤ 23) = 0.0216 on each side).
func TestCalibFalseAlarmNormal(t *testing.T) {
	const resamples, datasets, size = 2000, 4, 0.0433
	alarms := 0.0
	for seed := uint64(1); seed <= datasets; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		a, b := synth(rng, 10, 1000), synth(rng, 10, 1000)
		mc := newUTester().calibrate(a, b, resamples, rng)
		alarms += mc.FalseAlarmRate * resamples
		if mc.N != 10 || math.Abs(mc.CV-0.02) > 0.01 || math.Abs(mc.Median/1000-1) > 0.02 {
			t.Errorf("seed %d: n %d, CV %.4f, median %.1f: want 10, ≈0.02, ≈1000", seed, mc.N, mc.CV, mc.Median)
		}
	}
	total := float64(resamples * datasets)
	rate := alarms / total
	bound := 3 * math.Sqrt(size*(1-size)/total) // 3σ of a binomial share
	t.Logf("false-alarm rate over %.0f splits: %.4f (size %.4f ± %.4f)", total, rate, size, bound)
	if math.Abs(rate-size) > bound || rate > Alpha+bound {
		t.Errorf("false-alarm rate %.4f, want %.4f ± %.4f and at most α=%.2f", rate, size, bound, Alpha)
	}
}

// TestCalibMDENormal: the simulated minimum detectable effect of normal
// noise is the analytic one within 30%, and scales with the noise.
func TestCalibMDENormal(t *testing.T) {
	for _, tc := range []struct {
		n  int
		cv float64
	}{{10, 0.02}, {10, 0.06}, {20, 0.02}, {6, 0.01}} {
		var sum float64
		const datasets = 5
		for seed := uint64(1); seed <= datasets; seed++ {
			rng := rand.New(rand.NewPCG(seed, uint64(tc.n)))
			a, b := make([]float64, tc.n), make([]float64, tc.n)
			for i := range a {
				a[i] = 500 * (1 + tc.cv*rng.NormFloat64())
				b[i] = 500 * (1 + tc.cv*rng.NormFloat64())
			}
			mc := newUTester().calibrate(a, b, 400, rng)
			// Relative to this data set's own noise: a sample CV of 2n
			// values is itself off by ~1/√(4n).
			sum += mc.MDE90 / normalMDE(tc.n, mc.CV)
		}
		ratio := sum / datasets
		t.Logf("n=%d cv=%.0f%%: simulated/analytic MDE = %.3f (analytic %.2f%%)", tc.n, 100*tc.cv, ratio, 100*normalMDE(tc.n, tc.cv))
		if math.Abs(ratio-1) > 0.3 {
			t.Errorf("n=%d cv=%g: simulated MDE is %.2f× the analytic one, want within 30%%", tc.n, tc.cv, ratio)
		}
	}
}

// TestCalibTooFewTrials: three trials per group can never reach p < 0.05
// (the smallest two-sided p is 0.1): no false alarm, and no detectable
// effect at all.
func TestCalibTooFewTrials(t *testing.T) {
	mc := newUTester().calibrate([]float64{1, 2, 3}, []float64{1.5, 2.5, 3.5}, 100, rand.New(rand.NewPCG(1, 1)))
	if mc.FalseAlarmRate != 0 || !math.IsInf(mc.MDE90, 1) {
		t.Errorf("n=3: false alarms %v, MDE %v: want 0 and +Inf", mc.FalseAlarmRate, mc.MDE90)
	}
}

// TestCalibConstantMetric: a metric without any noise detects any shift.
func TestCalibConstantMetric(t *testing.T) {
	v := []float64{4096, 4096, 4096, 4096, 4096, 4096}
	mc := newUTester().calibrate(v, v, 50, rand.New(rand.NewPCG(1, 1)))
	if mc.FalseAlarmRate != 0 || mc.MDE90 > 1e-6 || mc.CV != 0 {
		t.Errorf("constant: false alarms %v, MDE %v, CV %v: want 0, ≈0, 0", mc.FalseAlarmRate, mc.MDE90, mc.CV)
	}
}

// TestCalibrateRun: groups are the even and odd trials of each metric; the
// file round-trips with an undetectable effect as null.
func TestCalibrateRun(t *testing.T) {
	run := &bench.Run{Dir: t.TempDir(), Info: bench.RunInfo{RunID: "cal", Scenario: "cpu", Status: bench.StatusComplete}}
	rng := rand.New(rand.NewPCG(3, 3))
	for trial := 0; trial < 20; trial++ {
		v := 100 * (1 + 0.02*rng.NormFloat64())
		if trial%2 == 1 {
			v *= 1.5 // the odd group differs: the even/odd split must see it
		}
		run.Samples = append(run.Samples,
			bench.Sample{Runtime: "native", Workload: "cpu", Metric: "single_thread", Unit: "ops_per_second", Better: "higher", Trial: trial, Value: v})
		if trial < 6 {
			run.Samples = append(run.Samples,
				bench.Sample{Runtime: "vm", Workload: "cpu", Metric: "single_thread", Unit: "ops_per_second", Better: "higher", Trial: trial, Value: 10 + rng.Float64()})
		}
	}
	c := Calibrate(run, CalibrateOptions{Resamples: 100})
	if len(c.Metrics) != 2 {
		t.Fatalf("metrics %+v, want native and vm", c.Metrics)
	}
	nat, ok := c.Lookup(Key{Label: "x", Runtime: "native", Workload: "cpu", Metric: "single_thread"})
	if !ok || nat.N != 10 || nat.PEvenOdd > 0.001 {
		t.Errorf("native: %+v, want n=10 and even/odd p < 0.001", nat)
	}
	vm, _ := c.Lookup(Key{Runtime: "vm", Workload: "cpu", Metric: "single_thread"})
	if vm.N != 3 || !math.IsInf(vm.MDE90, 1) {
		t.Errorf("vm: %+v, want n=3 and MDE +Inf", vm)
	}
	path, err := WriteCalibration(run.Dir, c)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), `"mde_90": null`) || !strings.Contains(string(raw), `"false_alarm_rate"`) {
		t.Errorf("calibration.json lacks mde_90 null / false_alarm_rate:\n%s", raw)
	}
	back, err := ReadCalibration(filepath.Join(run.Dir, CalibrationFile))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := back.Lookup(vm.Key()); !math.IsInf(b.MDE90, 1) || b.N != 3 {
		t.Errorf("read back vm: %+v", b)
	}
	if b, _ := back.Lookup(nat.Key()); b.MDE90 != nat.MDE90 || b.CV != nat.CV {
		t.Errorf("read back native: %+v, wrote %+v", b, nat)
	}
	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil || !strings.Contains(buf.String(), "cpu/single_thread/vm") || !strings.Contains(buf.String(), "∞") {
		t.Errorf("table (%v):\n%s", err, buf.String())
	}
	if _, err := json.Marshal(c); err != nil {
		t.Error(err)
	}
}
