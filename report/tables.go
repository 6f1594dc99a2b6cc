package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"vcbench/workload"
)

// table is a rendered table shared by the HTML and Markdown writers.
type table struct {
	Head []string
	Rows [][]string
	// Tips say why a cell is empty ("—"), keyed by row and column: a
	// tooltip in HTML, a numbered note under the table in Markdown.
	Tips map[[2]int]string
}

func (tb *table) tip(row, col int, why string) {
	if tb.Tips == nil {
		tb.Tips = map[[2]int]string{}
	}
	tb.Tips[[2]int{row, col}] = why
}

// workloads lists the workloads of the model's stats in report order.
func (m *Model) workloads() []string {
	var out []string
	for _, s := range m.Stats {
		if !contains(out, s.Workload) {
			out = append(out, s.Workload)
		}
	}
	return out
}

// seriesIn lists the series with a stat of workload w ("" for all).
func (m *Model) seriesIn(w string) []string {
	var out []string
	for _, s := range m.Stats {
		if (w == "" || s.Workload == w) && s.N > 0 && !contains(out, s.Series()) {
			out = append(out, s.Series())
		}
	}
	sortSeries(out)
	return out
}

// seriesOf lists every series in the model in report order.
func (m *Model) seriesOf() []string {
	var out []string
	for _, s := range m.Stats {
		if !contains(out, s.Series()) {
			out = append(out, s.Series())
		}
	}
	sortSeries(out)
	return out
}

// metricRows lists (workload, metric) pairs in stats order.
func (m *Model) metricRows() [][2]string {
	var out [][2]string
	seen := map[[2]string]bool{}
	for _, s := range m.Stats {
		k := [2]string{s.Workload, s.Metric}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func betterText(lang string, better workload.Better) string {
	if better == "higher" {
		return t(lang, "higher")
	}
	return t(lang, "lower")
}

// summaryTable is the wide table of medians of workload w ("" for every
// workload): one row per metric, one column per series that ran it.
func (m *Model) summaryTable(w string) table {
	series := m.seriesIn(w)
	// A runtime whose every trial of w failed still gets its column, of
	// "—" cells that say why.
	for _, f := range m.Failures {
		ser := Key{Label: f.Label, Runtime: f.Runtime}.Series()
		if w != "" && !f.Skipped && f.Workload == w && !contains(series, ser) {
			series = append(series, ser)
		}
	}
	sortSeries(series)
	tb := table{Head: append([]string{t(m.Lang, "workload"), t(m.Lang, "metric"), t(m.Lang, "better")}, series...)}
	idx := map[Key]Stat{}
	for _, s := range m.Stats {
		idx[Key{Runtime: s.Series(), Workload: s.Workload, Metric: s.Metric}] = s
	}
	for _, wm := range m.metricRows() {
		if w != "" && wm[0] != w {
			continue
		}
		row := []string{wm[0], wm[1], ""}
		for _, ser := range series {
			s, ok := idx[Key{Runtime: ser, Workload: wm[0], Metric: wm[1]}]
			if !ok || s.N == 0 {
				tb.tip(len(tb.Rows), len(row), m.dashReason(ser, wm[0], wm[1]))
				row = append(row, "—")
				continue
			}
			row[2] = betterText(m.Lang, s.Better)
			row = append(row, fmt.Sprintf("%s ±%s (n=%d)", formatValue(s.Unit, s.Median), s.CIPct(), s.N))
		}
		tb.Rows = append(tb.Rows, row)
	}
	return tb
}

// ratioTable is the Felter-style table of workload w ("" for all):
// relative performance against native, > 1 better, with the raw ratio and
// significance.
func (m *Model) ratioTable(w string) table {
	var cols []string
	for _, r := range m.Ratios {
		if w != "" && r.Workload != w {
			continue
		}
		ser := Key{Label: r.Label, Runtime: r.Runtime}.Series()
		if !contains(cols, ser) {
			cols = append(cols, ser)
		}
	}
	sortSeries(cols)
	tb := table{Head: append([]string{t(m.Lang, "workload"), t(m.Lang, "metric"), t(m.Lang, "better")}, cols...)}
	type rk struct{ label, w, metric string }
	idx := map[rk]map[string]Ratio{}
	var order []rk
	for _, r := range m.Ratios {
		if w != "" && r.Workload != w {
			continue
		}
		k := rk{r.Label, r.Workload, r.Metric}
		if idx[k] == nil {
			idx[k] = map[string]Ratio{}
			order = append(order, k)
		}
		idx[k][Key{Label: r.Label, Runtime: r.Runtime}.Series()] = r
	}
	for _, k := range order {
		row := []string{k.w, k.metric, ""}
		for _, c := range cols {
			r, ok := idx[k][c]
			if !ok {
				tb.tip(len(tb.Rows), len(row), m.dashReason(c, k.w, k.metric))
				row = append(row, "—")
				continue
			}
			row[2] = betterText(m.Lang, r.Better)
			mark := "~"
			if r.Cmp.Significant {
				mark = "✱"
			}
			row = append(row, fmt.Sprintf("%s %s (raw %s)", formatRatio(r.Relative), mark, formatRatio(r.Raw)))
		}
		tb.Rows = append(tb.Rows, row)
	}
	return tb
}

// envTable is the key/value environment block of one run.
func (m *Model) envTable(e RunEnv) table {
	L := m.Lang
	in := e.Info
	status := string(in.Status)
	if in.Reason != "" {
		status += " (" + in.Reason + ")"
	}
	version := in.Version
	if in.GitRevision != "" {
		version += " (" + in.GitRevision + ")"
	}
	started := ""
	if !in.Start.IsZero() {
		started = in.Start.UTC().Format(time.RFC3339)
		if in.End != nil {
			started += " → " + in.End.UTC().Format(time.RFC3339) + " (" + in.End.Sub(in.Start).Round(time.Second).String() + ")"
		}
	}
	scen := in.Scenario
	if in.ScenarioSHA256 != "" {
		scen += " (sha256 " + shortHash(in.ScenarioSHA256) + ")"
	}
	samples := strconv.Itoa(e.Samples)
	if e.Skipped > 0 {
		samples += fmt.Sprintf(" (%d %s)", e.Skipped, t(L, "torn"))
	}
	mem := ""
	if in.Host.MemBytes > 0 {
		mem = formatValue("bytes", float64(in.Host.MemBytes))
	}
	trials := fmt.Sprintf("%d (%d)", in.Trials, in.Warmup)
	for _, rt := range in.Runtimes {
		if rt.Density != nil {
			trials = t(L, "densitysweep")
		}
	}
	rows := [][]string{
		{t(L, "run"), in.RunID},
		{t(L, "status"), status},
		{t(L, "scenario"), scen},
		{t(L, "trials"), trials},
		{t(L, "started"), started},
		{t(L, "version"), version},
		{t(L, "host"), strings.TrimSpace(in.Host.Hostname + " " + in.Host.OS)},
		{t(L, "cpu"), in.Host.CPUModel},
		{t(L, "cores"), strconv.Itoa(in.Host.Cores)},
		{t(L, "memory"), mem},
		{t(L, "kernel"), in.Host.Kernel},
		{t(L, "qemu"), in.QEMUVersion},
		{t(L, "samples"), samples},
	}
	tb := table{Head: []string{"", ""}}
	for _, r := range rows {
		if strings.TrimSpace(r[1]) == "" || r[1] == "0" {
			r[1] = "—"
			tb.tip(len(tb.Rows), 1, t(L, "tip_unrecorded"))
		}
		tb.Rows = append(tb.Rows, r)
	}
	return tb
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// runtimeTable lists each runtime's settings and accelerator.
func (m *Model) runtimeTable(e RunEnv) table {
	L := m.Lang
	tb := table{Head: []string{t(L, "runtime"), t(L, "kind"), t(L, "accel"), t(L, "vcpus"), t(L, "memory"), t(L, "samples"), t(L, "settings"), t(L, "skipped")}}
	for _, r := range e.Runtimes {
		vcpus := "—"
		if r.VCPUs > 0 {
			vcpus = strconv.Itoa(r.VCPUs)
		}
		mem := r.Memory
		if mem == "" {
			mem = "—"
		}
		prob := strings.Join(append(nonEmpty(r.Skipped), r.Errors...), "; ")
		if prob == "" {
			prob = "—"
		}
		settings := r.Settings
		if settings == "" {
			settings = "—"
		}
		row := []string{r.Name, r.Kind, r.Accel, vcpus, mem, strconv.Itoa(r.Samples), settings, prob}
		for col, key := range map[int]string{2: "tip_accel", 3: "tip_vcpus", 4: "tip_mem", 6: "tip_settings", 7: "tip_noerr"} {
			if row[col] == "—" {
				tb.tip(len(tb.Rows), col, t(L, key))
			}
		}
		tb.Rows = append(tb.Rows, row)
	}
	return tb
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// viewTable shows the first instance of each runtime as it saw itself,
// with the kernel marked as shared with the host or its own.
func (m *Model) viewTable() table {
	L := m.Lang
	tb := table{Head: []string{t(L, "runtime"), t(L, "instance"), t(L, "kernel"), t(L, "hostname"), t(L, "pids"), t(L, "ifaces"), t(L, "memtotal"), t(L, "cpus"), t(L, "rootfs"), t(L, "uptime")}}
	hostKernel := map[string]string{}
	for _, e := range m.Runs {
		hostKernel[e.Label] = hostKernelRelease(e.Info.Host.Kernel) // run.json appends the machine
	}
	nativeKernel := map[string]string{}
	for _, v := range m.Views {
		if v.Runtime == Native {
			nativeKernel[v.Label] = v.Info.KernelRelease
		}
	}
	count := map[[2]string]int{}
	for _, v := range m.Views {
		count[[2]string{v.Label, v.Runtime}]++
	}
	shown := map[[2]string]bool{}
	for _, v := range m.Views {
		k := [2]string{v.Label, v.Runtime}
		if shown[k] {
			continue
		}
		shown[k] = true
		in := v.Info
		host := hostKernel[v.Label]
		if host == "" {
			host = nativeKernel[v.Label]
		}
		kernel := in.KernelRelease
		switch {
		case v.Runtime == Native:
		case host != "" && in.KernelRelease == host:
			kernel += " (" + t(L, "samekernel") + ": " + t(L, "sharedkernel") + ")"
		case host != "" && in.KernelRelease != "":
			kernel += " (" + t(L, "ownkernel") + ")"
		}
		var ifs []string
		for _, i := range in.Interfaces {
			s := i.Name
			if len(i.Addrs) > 0 {
				s += " " + strings.Join(i.Addrs, ",")
			}
			ifs = append(ifs, s)
		}
		rootfs := in.RootFSType
		if in.RootReadOnly {
			rootfs += " (ro)"
		}
		cpus := strconv.Itoa(in.CPUsOnline)
		if in.CPUsUsable > 0 && in.CPUsUsable != in.CPUsOnline {
			cpus += fmt.Sprintf(" (%d usable)", in.CPUsUsable)
		}
		inst := v.Instance
		if n := count[k]; n > 1 {
			inst += fmt.Sprintf(" (1 of %d %s)", n, t(L, "instances"))
		}
		ser := Key{Label: v.Label, Runtime: v.Runtime}.Series()
		tb.Rows = append(tb.Rows, []string{ser, inst, kernel, in.Hostname, strconv.Itoa(in.VisiblePIDs),
			strings.Join(ifs, "; "), formatValue("bytes", float64(in.MemTotalBytes)), cpus, rootfs,
			formatValue("seconds", in.UptimeSeconds)})
	}
	return tb
}

// warningList collects the statistical warnings, one line per distinct
// warning with the series it applies to.
func (m *Model) warningList() []string {
	by := map[string][]string{}
	for _, s := range m.Stats {
		for _, w := range s.Warnings {
			by[w] = append(by[w], s.Key.String())
		}
	}
	var out []string
	for w, keys := range by {
		sort.Strings(keys)
		list := strings.Join(keys, ", ")
		if len(keys) > 8 {
			list = strings.Join(keys[:8], ", ") + fmt.Sprintf(" … (%d in all)", len(keys))
		}
		out = append(out, w+": "+list)
	}
	sort.Strings(out)
	return out
}
