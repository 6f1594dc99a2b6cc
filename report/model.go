package report

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/workload"
)

// Input is one run shown in a report, with the label it is drawn under
// when several runs (hosts) are shown side by side.
type Input struct {
	Label string
	Run   *bench.Run
}

// Model is everything a report shows, computed once from the inputs and
// rendered as HTML and Markdown. It is exported so that other front ends
// (a Prometheus-sourced multi-host report) can build one with Build and
// render it with the same templates.
type Model struct {
	Lang     string
	Multi    bool // several runs side by side: series are "label/runtime"
	Runs     []RunEnv
	Stats    []Stat
	Ratios   []Ratio
	Families []Family
	Views    []InstanceView
	// TCG lists the series of VM runtimes that ran under software
	// emulation (accel=tcg).
	TCG []string
	// Density holds the density sweeps, one per runtime and run. Their
	// samples are kept out of Stats: pooled across steps, their medians
	// would mean nothing.
	Density []DensitySweep
	// Failures are the failed trials and skipped runtimes of every run.
	Failures []Failure
	// Notes are the warnings workloads left in raw/notes-*.json.
	Notes []WorkloadNote
	// Findings are the report's answer, in sentences (see Findings).
	Findings []Finding
	// HangulFont is the TTF that Korean chart text is set in; "" is
	// DefaultHangulFont. Without it, Korean reports draw English charts
	// and say so among the warnings.
	HangulFont string
	// colors gives every series one colour through the whole report.
	colors map[string]int
}

// RunEnv is the environment block of one run.
type RunEnv struct {
	Label    string
	Info     bench.RunInfo
	Samples  int
	Skipped  int // torn lines of samples.jsonl
	Problem  string
	Runtimes []RuntimeEnv
}

// RuntimeEnv is one runtime's line of the environment block.
type RuntimeEnv struct {
	Name     string
	Kind     string
	Accel    string
	VCPUs    int
	Memory   string
	Settings string
	Skipped  string
	Errors   []string
	Samples  int
}

// Ratio compares one runtime with native for one metric, in the spirit of
// Felter et al. 2015.
type Ratio struct {
	Label    string
	Workload string
	Metric   string
	Runtime  string
	Unit     workload.Unit
	Better   workload.Better
	Native   Stat
	Stat     Stat
	// Raw is runtime ÷ native of the medians.
	Raw float64
	// Relative is the relative performance: Raw when higher is better,
	// 1/Raw when lower is better, so that > 1 always means better than
	// native.
	Relative float64
	Cmp      Comparison
}

// Family is a chart's worth of stats: one workload's metrics that share a
// unit, with every series side by side.
type Family struct {
	ID       string // file name stem, e.g. "cpu-rate"
	Kind     string // "bars", "startup-box", "startup-phases", "host-cpu"
	Workload string
	Unit     workload.Unit
	Metrics  []string
	Series   []string
	Stats    map[string]map[string]Stat // metric → series → stat
}

// InstanceView is one instance's /info answer: what it sees of the machine.
type InstanceView struct {
	Label    string
	Runtime  string
	Instance string
	Info     proto.Info
}

// Build computes the report model of one or more runs.
func Build(inputs []Input, lang string) (*Model, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("build report: no runs")
	}
	m := &Model{Lang: lang, Multi: len(inputs) > 1}
	for i, in := range inputs {
		if in.Run == nil {
			return nil, fmt.Errorf("build report: run %d is nil", i)
		}
		label := ""
		if m.Multi {
			label = in.Label
			if label == "" {
				label = defaultLabel(in.Run)
			}
		}
		stats := Summarize(label, withoutDensity(in.Run.Samples))
		m.Density = append(m.Density, densitySweeps(label, in.Run)...)
		m.Stats = append(m.Stats, stats...)
		m.Runs = append(m.Runs, runEnv(label, in.Run))
		m.Ratios = append(m.Ratios, ratios(stats)...)
		views, err := readViews(label, in.Run.Dir)
		if err != nil {
			return nil, err
		}
		m.Views = append(m.Views, views...)
		m.Failures = append(m.Failures, failuresOf(label, in.Run.Info)...)
		m.Notes = append(m.Notes, readNotes(label, in.Run.Dir)...)
		for _, rt := range in.Run.Info.Runtimes {
			if rt.Settings["accel"] == "tcg" {
				m.TCG = append(m.TCG, Key{Label: label, Runtime: rt.Name}.Series())
			}
		}
	}
	m.Families = families(m.Stats)
	m.colors = seriesColorIndex(m)
	m.Findings = m.findings()
	return m, nil
}

// seriesColorIndex numbers every series of the model (stats, density
// sweeps, runtimes of run.json) in report order, so that a runtime keeps
// its colour in every chart.
func seriesColorIndex(m *Model) map[string]int {
	var all []string
	add := func(s string) {
		if !contains(all, s) {
			all = append(all, s)
		}
	}
	for _, e := range m.Runs {
		for _, rt := range e.Runtimes {
			add(Key{Label: e.Label, Runtime: rt.Name}.Series())
		}
	}
	for _, s := range m.Stats {
		add(s.Series())
	}
	for i := range m.Density {
		add(m.Density[i].Series())
	}
	sortSeries(all)
	out := make(map[string]int, len(all))
	for i, s := range all {
		out[s] = i
	}
	return out
}

// colorOf is the series' colour in every chart of the report.
func (m *Model) colorOf(series string) color.Color {
	if i, ok := m.colors[series]; ok {
		return seriesColor(i)
	}
	return seriesColor(len(m.colors) + len(series))
}

// defaultLabel names a run by its host, or its id when the host is unknown.
func defaultLabel(r *bench.Run) string {
	if r.Info.Host.Hostname != "" {
		return r.Info.Host.Hostname
	}
	if r.Info.RunID != "" {
		return r.Info.RunID
	}
	return filepath.Base(r.Dir)
}

func runEnv(label string, r *bench.Run) RunEnv {
	e := RunEnv{Label: label, Info: r.Info, Samples: len(r.Samples), Skipped: r.Skipped}
	switch r.Info.Status {
	case bench.StatusComplete:
	case "":
		e.Problem = "status unknown"
	default:
		e.Problem = string(r.Info.Status)
		if r.Info.Reason != "" {
			e.Problem += ": " + r.Info.Reason
		}
	}
	count := map[string]int{}
	for _, s := range r.Samples {
		count[s.Runtime]++
	}
	for _, rt := range r.Info.Runtimes {
		re := RuntimeEnv{Name: rt.Name, Kind: rt.Kind, Accel: rt.Settings["accel"], VCPUs: rt.VCPUs,
			Skipped: rt.Skipped, Errors: rt.Errors, Samples: count[rt.Name]}
		if re.Accel == "" {
			re.Accel = "—"
		}
		if rt.MemoryMiB > 0 {
			re.Memory = strconv.Itoa(rt.MemoryMiB) + " MiB"
		}
		var keys []string
		for k := range rt.Settings {
			if k != "accel" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+rt.Settings[k])
		}
		re.Settings = strings.Join(kv, ", ")
		e.Runtimes = append(e.Runtimes, re)
		delete(count, rt.Name)
	}
	// Runtimes with samples but no line in run.json (older or partial runs).
	var extra []string
	for name := range count {
		extra = append(extra, name)
	}
	sort.Slice(extra, func(i, j int) bool {
		return runtimeRank(extra[i], nil) < runtimeRank(extra[j], nil) || extra[i] < extra[j]
	})
	for _, name := range extra {
		e.Runtimes = append(e.Runtimes, RuntimeEnv{Name: name, Kind: name, Accel: "—", Samples: count[name]})
	}
	return e
}

// ratios pairs every non-native stat with native's stat of the same metric.
func ratios(stats []Stat) []Ratio {
	native := map[[2]string]Stat{}
	for _, s := range stats {
		if s.Runtime == Native {
			native[[2]string{s.Workload, s.Metric}] = s
		}
	}
	var out []Ratio
	for _, s := range stats {
		if s.Runtime == Native {
			continue
		}
		n, ok := native[[2]string{s.Workload, s.Metric}]
		if !ok || n.N == 0 || s.N == 0 {
			continue
		}
		r := Ratio{Label: s.Label, Workload: s.Workload, Metric: s.Metric, Runtime: s.Runtime,
			Unit: s.Unit, Better: s.Better, Native: n, Stat: s, Raw: math.NaN(), Relative: math.NaN()}
		if n.Median != 0 {
			r.Raw = s.Median / n.Median
			r.Relative = r.Raw
			if !s.HigherIsBetter() {
				r.Relative = 1 / r.Raw
			}
		}
		r.Cmp = Compare(n, s)
		out = append(out, r)
	}
	return out
}

// families groups stats into charts: startup gets a box plot of "ready"
// and stacked boot phases, host CPU time gets one chart across workloads,
// every other (workload, unit) pair gets grouped bars.
func families(stats []Stat) []Family {
	var out []Family
	index := map[string]int{}
	add := func(id, kind, wl string, unit workload.Unit, s Stat) {
		i, ok := index[id]
		if !ok {
			i = len(out)
			index[id] = i
			out = append(out, Family{ID: id, Kind: kind, Workload: wl, Unit: unit, Stats: map[string]map[string]Stat{}})
		}
		f := &out[i]
		metric := s.Metric
		if kind == "host-cpu" {
			metric = s.Workload
		}
		if f.Stats[metric] == nil {
			f.Stats[metric] = map[string]Stat{}
			f.Metrics = append(f.Metrics, metric)
		}
		f.Stats[metric][s.Series()] = s
		if !contains(f.Series, s.Series()) {
			f.Series = append(f.Series, s.Series())
		}
	}
	for _, s := range stats {
		if s.N == 0 {
			continue
		}
		switch {
		case s.Metric == "host_cpu_seconds":
			add("host-cpu", "host-cpu", "", s.Unit, s)
		case s.Workload == "startup" && s.Unit == "seconds":
			if s.Metric == "ready" || s.Metric == bench.MetricRuntimeReady {
				add("startup-ready", "startup-box", s.Workload, s.Unit, s)
			}
			add("startup-phases", "startup-phases", s.Workload, s.Unit, s)
		default:
			add(s.Workload+"-"+shortUnit(s.Unit), "bars", s.Workload, s.Unit, s)
		}
	}
	// Series appear in stats order per metric; order them once by runtime rank.
	for i := range out {
		sortSeries(out[i].Series)
	}
	return out
}

func sortSeries(ss []string) {
	sort.SliceStable(ss, func(i, j int) bool {
		li, ri := splitSeries(ss[i])
		lj, rj := splitSeries(ss[j])
		if li != lj {
			return li < lj
		}
		return runtimeRank(ri, nil) < runtimeRank(rj, nil)
	})
}

func splitSeries(s string) (label, runtime string) {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// readViews loads raw/info-<runtime>-<n>.json; a run without them has none.
func readViews(label, dir string) ([]InstanceView, error) {
	if dir == "" {
		return nil, nil // a run read back from Prometheus has no raw/ directory
	}
	files, err := filepath.Glob(filepath.Join(dir, "raw", "info-*.json"))
	if err != nil {
		return nil, fmt.Errorf("list info files: %w", err)
	}
	var out []InstanceView
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read instance info: %w", err)
		}
		out = append(out, decodeView(label, filepath.Base(f), b))
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Runtime != b.Runtime {
			return runtimeRank(a.Runtime, nil) < runtimeRank(b.Runtime, nil) ||
				runtimeRank(a.Runtime, nil) == runtimeRank(b.Runtime, nil) && a.Runtime < b.Runtime
		}
		return instanceNum(a.Instance) < instanceNum(b.Instance)
	})
	return out, nil
}

// decodeView decodes one raw/info-<runtime>-<n>.json file, named file,
// holding an agent's /info answer b. One bad file should not sink the
// report: one that does not decode is shown as unreadable, with the reason.
func decodeView(label, file string, b []byte) InstanceView {
	var v InstanceView
	if err := json.Unmarshal(b, &v.Info); err != nil {
		v.Info.Hostname = "(unreadable: " + err.Error() + ")"
	}
	name := strings.TrimSuffix(strings.TrimPrefix(file, "info-"), ".json")
	v.Label, v.Instance = label, name
	v.Runtime = name
	if i := strings.LastIndex(name, "-"); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			v.Runtime = name[:i]
		}
	}
	return v
}

func instanceNum(name string) int {
	if i := strings.LastIndex(name, "-"); i >= 0 {
		n, _ := strconv.Atoi(name[i+1:])
		return n
	}
	return 0
}

// hostMemory reports whether every metric of the family is a host-side
// memory figure (host_pss, cgroup_usage, ...).
func (f *Family) hostMemory() bool {
	if f.Kind != "bars" || f.Unit != "bytes" {
		return false
	}
	for _, m := range f.Metrics {
		if !isHostMemory(m) {
			return false
		}
	}
	return true
}
