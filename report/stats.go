// Package report turns vcbench run directories into reports: statistics
// (median, 95% confidence interval, Mann–Whitney U via
// golang.org/x/perf/benchmath), gonum/plot charts, a self-contained HTML
// page, Markdown, benchstat-style comparisons and Go benchmark format.
package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"golang.org/x/perf/benchmath"

	"vcbench/bench"
	"vcbench/workload"
)

// Confidence is the confidence level of every interval in a report.
const Confidence = 0.95

// Alpha is the significance level of every Mann–Whitney U test in a report.
const Alpha = 0.05

// Native is the runtime that ratio tables divide by.
const Native = "native"

// Key identifies one distribution of samples: which runtime (and, when
// several runs are shown side by side, which run label), which workload and
// which metric.
type Key struct {
	Label    string `json:"label,omitempty"` // run or host label; empty for a single run
	Runtime  string `json:"runtime"`
	Workload string `json:"workload"`
	Metric   string `json:"metric"`
}

// Series is the name a runtime is drawn under: the runtime, prefixed by the
// run label when several runs are shown.
func (k Key) Series() string {
	if k.Label == "" {
		return k.Runtime
	}
	return k.Label + "/" + k.Runtime
}

// String names the key the way benchmark names read: workload/metric@series.
func (k Key) String() string {
	return k.Workload + "/" + k.Metric + " " + k.Series()
}

// Stat summarises the samples of one Key: the median and its 95%
// confidence interval as benchmath computes them without assuming any
// distribution.
type Stat struct {
	Key
	Unit   workload.Unit   `json:"unit"`
	Better workload.Better `json:"better"`
	N      int             `json:"n"`
	Median float64         `json:"median"`
	Lo     float64         `json:"lo"` // lower bound of the CI; -Inf when N is too small
	Hi     float64         `json:"hi"` // upper bound of the CI; +Inf when N is too small
	Values []float64       `json:"values"`
	// Warnings are benchmath's notes, e.g. "need >= 6 samples for
	// confidence interval at level 0.95".
	Warnings []string `json:"warnings,omitempty"`

	sample *benchmath.Sample
}

// HasCI reports whether the confidence interval is finite (enough samples).
func (s Stat) HasCI() bool {
	return s.N > 0 && !math.IsInf(s.Lo, 0) && !math.IsInf(s.Hi, 0)
}

// CIPct is the half-width of the confidence interval in percent of the
// median, as benchstat prints it ("±3%"), or "∞" when there are too few
// samples.
func (s Stat) CIPct() string {
	if s.N == 0 {
		return ""
	}
	return benchmath.Summary{Center: s.Median, Lo: s.Lo, Hi: s.Hi}.PctRangeString()
}

// HigherIsBetter reports whether larger values of this metric are better.
func (s Stat) HigherIsBetter() bool { return s.Better == workload.BetterHigher }

// Summarize groups samples by (runtime, workload, metric) and computes one
// Stat for each, in a stable order (workload, metric, then runtime in the
// order runtimes first appear). label is copied into every Key.
func Summarize(label string, samples []bench.Sample) []Stat {
	type acc struct {
		st    Stat
		first int
	}
	groups := map[Key]*acc{}
	rtOrder := map[string]int{}
	wlOrder := map[string]int{}
	for i, s := range samples {
		if _, ok := rtOrder[s.Runtime]; !ok {
			rtOrder[s.Runtime] = len(rtOrder)
		}
		if _, ok := wlOrder[s.Workload]; !ok {
			wlOrder[s.Workload] = len(wlOrder)
		}
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			continue
		}
		k := Key{Label: label, Runtime: s.Runtime, Workload: s.Workload, Metric: s.Metric}
		g := groups[k]
		if g == nil {
			g = &acc{st: Stat{Key: k, Unit: s.Unit, Better: s.Better}, first: i}
			groups[k] = g
		}
		g.st.Values = append(g.st.Values, s.Value)
	}
	out := make([]Stat, 0, len(groups))
	for _, g := range groups {
		out = append(out, finish(g.st))
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Workload != b.Workload {
			return workloadRank(a.Workload, wlOrder) < workloadRank(b.Workload, wlOrder)
		}
		if a.Metric != b.Metric {
			return metricRank(a.Metric) < metricRank(b.Metric) ||
				(metricRank(a.Metric) == metricRank(b.Metric) && a.Metric < b.Metric)
		}
		return runtimeRank(a.Runtime, rtOrder) < runtimeRank(b.Runtime, rtOrder)
	})
	return out
}

// NewStat summarises values as if they were the samples of k.
func NewStat(k Key, unit workload.Unit, better workload.Better, values []float64) Stat {
	return finish(Stat{Key: k, Unit: unit, Better: better, Values: append([]float64(nil), values...)})
}

func finish(st Stat) Stat {
	st.sample = benchmath.NewSample(st.Values, &benchmath.DefaultThresholds) // sorts Values
	st.N = len(st.Values)
	if st.N == 0 {
		st.Lo, st.Hi = math.Inf(-1), math.Inf(1)
		st.Warnings = append(st.Warnings, "no samples")
		return st
	}
	sum := benchmath.AssumeNothing.Summary(st.sample, Confidence)
	st.Median, st.Lo, st.Hi = sum.Center, sum.Lo, sum.Hi
	for _, w := range sum.Warnings {
		st.Warnings = append(st.Warnings, w.Error())
	}
	return st
}

// Comparison is the result of a Mann–Whitney U test between two Stats of
// the same metric (two runtimes, or the same runtime in two runs).
type Comparison struct {
	P      float64 `json:"p"`
	N1     int     `json:"n1"`
	N2     int     `json:"n2"`
	Alpha  float64 `json:"alpha"`
	Change float64 `json:"change"` // new/old - 1 of the medians; NaN if old is 0
	// Significant is P < Alpha: the two samples differ in location.
	Significant bool `json:"significant"`
	// Worse is true when the change goes in the bad direction ("better"
	// respected), whether significant or not.
	Worse    bool     `json:"worse"`
	Warnings []string `json:"warnings,omitempty"`
}

// Compare tests old against new with Mann–Whitney U at Alpha.
func Compare(old, new Stat) Comparison {
	c := Comparison{N1: old.N, N2: new.N, Alpha: Alpha, P: 1, Change: math.NaN()}
	if old.N == 0 || new.N == 0 {
		c.Warnings = []string{"no samples on one side"}
		return c
	}
	bc := benchmath.AssumeNothing.Compare(sampleOf(old), sampleOf(new))
	c.P = bc.P
	c.Significant = bc.P < Alpha
	for _, w := range bc.Warnings {
		c.Warnings = append(c.Warnings, w.Error())
	}
	if old.Median != 0 {
		c.Change = new.Median/old.Median - 1
	} else if new.Median == 0 {
		c.Change = 0
	}
	if !math.IsNaN(c.Change) {
		if old.HigherIsBetter() {
			c.Worse = c.Change < 0
		} else {
			c.Worse = c.Change > 0
		}
	}
	return c
}

// Delta formats the change the benchstat way: "~" when not significant,
// else a signed percentage.
func (c Comparison) Delta() string {
	if !c.Significant {
		return "~"
	}
	if math.IsNaN(c.Change) {
		return "?"
	}
	return fmt.Sprintf("%+.2f%%", 100*c.Change)
}

// PN formats the p-value and sample sizes the benchstat way: "p=0.002 n=6".
func (c Comparison) PN() string {
	s := fmt.Sprintf("p=%.3f ", c.P)
	if c.N1 == c.N2 {
		return s + fmt.Sprintf("n=%d", c.N1)
	}
	return s + fmt.Sprintf("n=%d+%d", c.N1, c.N2)
}

func sampleOf(s Stat) *benchmath.Sample {
	if s.sample != nil {
		return s.sample
	}
	return benchmath.NewSample(append([]float64(nil), s.Values...), &benchmath.DefaultThresholds)
}

// workloadOrder is the report order: startup and idle first, then the
// built-in workloads in workload.Kinds order; unknown workloads follow in
// order of appearance.
var workloadOrder = []string{"startup", "idle", "cpu", "memory", "syscall", "fork", "disk", "network"}

func workloadRank(w string, seen map[string]int) int {
	for i, x := range workloadOrder {
		if x == w {
			return i
		}
	}
	return len(workloadOrder) + seen[w]
}

var runtimeOrder = []string{"native", "container", "oci-crun", "oci-runc", "oci-runsc", "docker", "podman", "vm"}

func runtimeRank(r string, seen map[string]int) int {
	for i, x := range runtimeOrder {
		if x == r {
			return i
		}
	}
	return len(runtimeOrder) + seen[r]
}

// metricOrder puts startup's "ready" first and the headline figures of
// each workload before their latencies; others sort by name.
var metricOrder = []string{
	"ready", "runtime_ready", "qemu_spawn", "qmp_ready", "kernel_start", "namespaces_ready", "init_exec", "agent_exec", "agent_start",
	"single_thread", "all_threads", "copy", "scale", "add", "triad", "getppid", "spawn",
	"seq_write", "seq_read", "rand_read_iops", "rand_write_iops", "rand_read_p50", "rand_read_p99", "rand_write_p50", "rand_write_p99",
	"stream_to_agent", "stream_from_agent", "rr_rate", "rr_p50", "rr_p99",
	"host_pss", "host_rss", "cgroup_usage", "cgroup_peak", "host_overhead", "host_cpu_seconds",
}

func metricRank(m string) int {
	for i, x := range metricOrder {
		if x == m {
			return i
		}
	}
	return len(metricOrder)
}

// isHostMemory reports whether a metric is a host-side memory figure.
func isHostMemory(metric string) bool {
	return strings.HasPrefix(metric, "host_") && metric != "host_cpu_seconds" || strings.HasPrefix(metric, "cgroup_")
}

// uTestP is the two-sided Mann–Whitney U p-value of x against y through the
// same benchmath call Compare makes (1 when the test cannot run, e.g. all
// values equal).
func uTestP(x, y []float64) float64 {
	sx := benchmath.NewSample(append([]float64(nil), x...), &benchmath.DefaultThresholds)
	sy := benchmath.NewSample(append([]float64(nil), y...), &benchmath.DefaultThresholds)
	return benchmath.AssumeNothing.Compare(sx, sy).P
}
