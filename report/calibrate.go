package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"vcbench/bench"
	"vcbench/workload"
)

// CalibrationFile is the file `vcbench calibrate` writes into the run
// directory it measured, and where `vcbench compare` looks for one.
const CalibrationFile = "calibration.json"

// Power is the detection probability at which a calibration states its
// minimum detectable effect.
const Power = 0.9

// DefaultResamples is how many random splits a calibration draws for each
// metric: enough that a false-alarm rate of α=0.05 is estimated to ±1.5%.
const DefaultResamples = 200

// MDEMethod says how MinDetectable is found; it is written into
// calibration.json so that a reader knows what the number means.
const MDEMethod = "simulation: the 2N trials are split at random into two halves, the second half is shifted by δ·median, " +
	"and mde_90 is the smallest δ that compare's Mann–Whitney U test calls significant (in the shifted direction) in at least 90% of the splits"

// Calibration is calibration.json: for every metric of one run made of two
// interleaved groups of the same runtimes (even and odd trials), how often
// compare's test cries wolf on such a split, and the smallest change it
// detects with 90% power at this noise.
type Calibration struct {
	RunID     string  `json:"run_id"`
	Scenario  string  `json:"scenario"`
	Alpha     float64 `json:"alpha"`
	Power     float64 `json:"power"`
	Resamples int     `json:"resamples"`
	Seed      uint64  `json:"seed"`
	Method    string  `json:"method"`
	// Metrics are in Summarize's order.
	Metrics []MetricCalibration `json:"metrics"`
}

// MetricCalibration is the noise of one (runtime, workload, metric).
type MetricCalibration struct {
	Runtime  string          `json:"runtime"`
	Workload string          `json:"workload"`
	Metric   string          `json:"metric"`
	Unit     workload.Unit   `json:"unit"`
	Better   workload.Better `json:"better"`
	// N is the trials of one group (half of the run's): the n per run of
	// the comparison this calibration speaks for.
	N      int     `json:"n"`
	Median float64 `json:"median"`
	// CV is the coefficient of variation (sample standard deviation over
	// mean) of all 2N trials.
	CV float64 `json:"cv"`
	// PEvenOdd is the p-value of even trials against odd trials: the one
	// interleaved split the run was built as.
	PEvenOdd float64 `json:"p_even_odd"`
	// FalseAlarmRate is the fraction of random splits of the 2N trials into
	// two groups that the test calls significant at Alpha.
	FalseAlarmRate float64 `json:"false_alarm_rate"`
	// MDE90 is the minimum detectable effect at Power, relative to the
	// median (0.03 is 3%); +Inf (null in JSON) when no shift can reach
	// p < α at this n (e.g. 3 trials per group).
	MDE90 float64 `json:"-"`
}

// MarshalJSON writes MDE90 as mde_90, null when infinite.
func (m MetricCalibration) MarshalJSON() ([]byte, error) {
	var mde *float64
	if !math.IsInf(m.MDE90, 0) && !math.IsNaN(m.MDE90) {
		v := m.MDE90
		mde = &v
	}
	return json.Marshal(struct {
		plainMC
		MDE90 *float64 `json:"mde_90"`
	}{plainMC(m), mde})
}

// plainMC is MetricCalibration without its JSON methods.
type plainMC MetricCalibration

// UnmarshalJSON reads mde_90, null as +Inf.
func (m *MetricCalibration) UnmarshalJSON(b []byte) error {
	var j struct {
		plainMC
		MDE90 *float64 `json:"mde_90"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = MetricCalibration(j.plainMC)
	m.MDE90 = math.Inf(1)
	if j.MDE90 != nil {
		m.MDE90 = *j.MDE90
	}
	return nil
}

// Key is the metric's Key (no label).
func (m MetricCalibration) Key() Key {
	return Key{Runtime: m.Runtime, Workload: m.Workload, Metric: m.Metric}
}

// CalibrateOptions tune Calibrate; the zero value is DefaultResamples and
// seed 1.
type CalibrateOptions struct {
	Resamples int
	Seed      uint64
}

// Calibrate measures compare's noise on run, whose trials are two
// interleaved groups of the same runtimes: group A the even trials, group B
// the odd ones. For each (runtime, workload, metric) it reports the
// even/odd p-value, the false-alarm rate over random splits and the minimum
// detectable effect at 90% power.
func Calibrate(run *bench.Run, opt CalibrateOptions) *Calibration {
	if opt.Resamples <= 0 {
		opt.Resamples = DefaultResamples
	}
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	c := &Calibration{RunID: run.Info.RunID, Scenario: run.Info.Scenario, Alpha: Alpha, Power: Power,
		Resamples: opt.Resamples, Seed: opt.Seed, Method: MDEMethod}
	type group struct {
		trials []int
		values []float64
	}
	groups := map[Key]*group{}
	var kept []bench.Sample
	for _, s := range run.Samples {
		if s.Trial < 0 || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			continue
		}
		k := Key{Runtime: s.Runtime, Workload: s.Workload, Metric: s.Metric}
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
		}
		g.trials = append(g.trials, s.Trial)
		g.values = append(g.values, s.Value)
		kept = append(kept, s)
	}
	ut := newUTester()
	for _, st := range Summarize("", kept) {
		g := groups[st.Key]
		var a, b []float64
		for i, t := range g.trials {
			if t%2 == 0 {
				a = append(a, g.values[i])
			} else {
				b = append(b, g.values[i])
			}
		}
		// One stream per metric, so that a metric's numbers do not depend
		// on which other metrics the run has.
		rng := rand.New(rand.NewPCG(opt.Seed, keySeed(st.Key)))
		mc := ut.calibrate(a, b, opt.Resamples, rng)
		mc.Runtime, mc.Workload, mc.Metric, mc.Unit, mc.Better = st.Runtime, st.Workload, st.Metric, st.Unit, st.Better
		c.Metrics = append(c.Metrics, mc)
	}
	return c
}

func keySeed(k Key) uint64 {
	var h uint64 = 14695981039346656037 // FNV-1a
	for _, b := range []byte(k.Runtime + "\x00" + k.Workload + "\x00" + k.Metric) {
		h = (h ^ uint64(b)) * 1099511628211
	}
	return h
}

// calibrate computes the numbers of one metric from its two groups.
func (ut *uTester) calibrate(a, b []float64, resamples int, rng *rand.Rand) MetricCalibration {
	pooled := append(append([]float64(nil), a...), b...)
	mc := MetricCalibration{N: min(len(a), len(b)), PEvenOdd: 1, MDE90: math.Inf(1)}
	if len(pooled) == 0 {
		return mc
	}
	mc.Median = median(pooled)
	mc.CV = cv(pooled)
	if len(a) == 0 || len(b) == 0 {
		return mc
	}
	mc.PEvenOdd = ut.p(a, b)
	x, y := make([]float64, len(a)), make([]float64, len(b))
	alarms := 0
	thresholds := make([]float64, 0, resamples)
	for range resamples {
		split(rng, pooled, x, y)
		if ut.p(x, y) < Alpha {
			alarms++
		}
		thresholds = append(thresholds, ut.minShift(x, y, mc.Median))
	}
	mc.FalseAlarmRate = float64(alarms) / float64(resamples)
	// The smallest δ detected in at least Power of the splits: each split's
	// own threshold, taken at the Power quantile.
	sort.Float64s(thresholds)
	i := int(math.Ceil(Power*float64(resamples))) - 1
	mc.MDE90 = thresholds[max(i, 0)]
	return mc
}

// split deals a random permutation of pooled into x and y.
func split(rng *rand.Rand, pooled, x, y []float64) {
	perm := rng.Perm(len(pooled))
	for i := range x {
		x[i] = pooled[perm[i]]
	}
	for i := range y {
		y[i] = pooled[perm[len(x)+i]]
	}
}

// minShift is the smallest relative shift δ for which y + δ·m is called
// significantly greater than x; +Inf when even a total separation is not
// significant at these sample sizes, or m is 0.
func (ut *uTester) minShift(x, y []float64, m float64) float64 {
	if m == 0 || math.IsNaN(m) {
		return math.Inf(1)
	}
	am := math.Abs(m)
	shifted := make([]float64, len(y))
	detected := func(d float64) bool {
		for i, v := range y {
			shifted[i] = v + d*am
		}
		return ut.p(x, shifted) < Alpha && median(shifted) > median(x)
	}
	// hi separates the groups entirely (every y above every x): the
	// strongest evidence these sizes can give.
	hi := (slices.Max(x)-slices.Min(y))/am + 1e-9
	hi = max(hi, 1e-9) * 1.01
	if !detected(hi) {
		return math.Inf(1)
	}
	lo := 0.0
	if detected(lo) {
		return 0
	}
	for range 40 {
		mid := (lo + hi) / 2
		if detected(mid) {
			hi = mid
		} else {
			lo = mid
		}
		if hi-lo < 1e-5*hi {
			break
		}
	}
	return hi
}

// uTester runs compare's test (Mann–Whitney U through benchmath, exactly
// the call Compare makes) and remembers its p-values. The p-value depends
// only on the sample sizes, the U statistic and the sizes of the groups of
// tied values, so resamples that agree on those share one call.
type uTester struct {
	cache map[string]float64
	idx   []int
	all   []float64
}

func newUTester() *uTester { return &uTester{cache: map[string]float64{}} }

// p is the two-sided p-value of x against y.
func (ut *uTester) p(x, y []float64) float64 {
	n1, n2 := len(x), len(y)
	ut.all = append(append(ut.all[:0], x...), y...)
	ut.idx = ut.idx[:0]
	for i := range ut.all {
		ut.idx = append(ut.idx, i)
	}
	all := ut.all
	sort.Slice(ut.idx, func(i, j int) bool { return all[ut.idx[i]] < all[ut.idx[j]] })
	// Twice the rank sum of x (integer with mid-ranks), and the tie sizes.
	var key strings.Builder
	r2 := 0
	for i := 0; i < len(ut.idx); {
		j, nx := i, 0
		for ; j < len(ut.idx) && all[ut.idx[j]] == all[ut.idx[i]]; j++ {
			if ut.idx[j] < n1 {
				nx++
			}
		}
		r2 += nx * (i + 1 + j) // mid-rank (i+1+j)/2, doubled
		key.WriteString(strconv.Itoa(j - i))
		key.WriteByte(',')
		i = j
	}
	k := strconv.Itoa(n1) + "/" + strconv.Itoa(n2) + "/" + strconv.Itoa(r2) + "/" + key.String()
	if p, ok := ut.cache[k]; ok {
		return p
	}
	p := uTestP(x, y)
	ut.cache[k] = p
	return p
}

func cv(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	if mean == 0 {
		return 0
	}
	return math.Sqrt(ss/float64(len(v)-1)) / math.Abs(mean)
}

// Lookup returns the calibration of k's runtime, workload and metric (the
// label is ignored).
func (c *Calibration) Lookup(k Key) (MetricCalibration, bool) {
	if c == nil {
		return MetricCalibration{}, false
	}
	for _, m := range c.Metrics {
		if m.Runtime == k.Runtime && m.Workload == k.Workload && m.Metric == k.Metric {
			return m, true
		}
	}
	return MetricCalibration{}, false
}

// WriteCalibration writes c as dir/calibration.json (atomically) and
// returns the path.
func WriteCalibration(dir string, c *Calibration) (string, error) {
	path := filepath.Join(dir, CalibrationFile)
	if err := bench.WriteJSONAtomic(path, c); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// ReadCalibration reads a calibration.json.
func ReadCalibration(path string) (*Calibration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read calibration: %w", err)
	}
	c := &Calibration{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(c.Metrics) == 0 {
		return nil, fmt.Errorf("%s: no metrics: not a calibration", path)
	}
	return c, nil
}

// WriteText prints the calibration as an aligned table.
func (c *Calibration) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\tn\tmedian\tCV\tp even/odd\tfalse alarms\tMDE 90%%\t\n")
	for _, m := range c.Metrics {
		mde := "∞ (not detectable at this n)"
		if !math.IsInf(m.MDE90, 0) {
			mde = fmt.Sprintf("%.2f%%", 100*m.MDE90)
		}
		fmt.Fprintf(tw, "%s/%s/%s\t%d\t%s\t%.2f%%\t%.3f\t%.1f%%\t%s\t\n", m.Workload, m.Metric, m.Runtime, m.N,
			formatValue(m.Unit, m.Median), 100*m.CV, m.PEvenOdd, 100*m.FalseAlarmRate, mde)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write calibration: %w", err)
	}
	_, err := fmt.Fprintf(w, "\nfalse alarms: share of %d random splits of the 2N trials called significant by compare's test at α=%.2g (expect ≤ α);\n"+
		"MDE 90%%: smallest shift of one group, in %% of the median, detected in ≥ %.0f%% of the splits (by simulation).\n",
		c.Resamples, c.Alpha, 100*c.Power)
	return err
}
