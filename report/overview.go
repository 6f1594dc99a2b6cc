package report

import (
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"vcbench/bench"
	"vcbench/workload"
)

// overviewID is the file stem and family kind of the overview chart.
const overviewID = "overview"

// overviewRow is one series' three figures: start-up, host memory per
// instance and throughput relative to native (NaN where not measured).
type overviewRow struct {
	series                string
	startup, memory       Stat
	hasStartup, hasMemory bool
	// memMetric is the idle figure memory is: the first of memoryMetrics
	// the series has (PSS for processes and VMs, the cgroup's charge for
	// most containers).
	memMetric string
	relative  float64
}

// overviewStartupMetric is the start-up figure the overview shows: as in
// the findings, runtime_ready when every series with ready has it.
func (m *Model) overviewStartupMetric() string {
	has := false
	rt := map[string]bool{}
	for _, s := range m.Stats {
		if s.Workload == "startup" && s.Metric == bench.MetricRuntimeReady && s.N > 0 {
			rt[s.Series()] = true
		}
	}
	for _, s := range m.Stats {
		if s.Workload == "startup" && s.Metric == "ready" && s.N > 0 {
			if !rt[s.Series()] {
				return "ready"
			}
			has = true
		}
	}
	if has {
		return bench.MetricRuntimeReady
	}
	return "ready"
}

// overviewMemoryMetrics are the idle memory figures the rows show, in
// memoryMetrics' order, joined by " / " for the panel's title.
func overviewMemoryMetrics(rows []overviewRow) string {
	var used []string
	for _, metric := range memoryMetrics {
		for _, r := range rows {
			if r.hasMemory && r.memMetric == metric {
				used = append(used, metric)
				break
			}
		}
	}
	return strings.Join(used, " / ")
}

// memShort names a memory metric in a bar's label when the panel mixes them.
var memShort = map[string]string{"host_pss": "PSS", "cgroup_usage": "cgroup", "host_rss": "RSS"}

// overviewRows gathers the overview's figures per series, in report order.
func (m *Model) overviewRows() (rows []overviewRow, startupMetric, memMetric string) {
	startupMetric = m.overviewStartupMetric()
	memRank := map[string]int{}
	for i, metric := range memoryMetrics {
		memRank[metric] = i + 1
	}
	idx := map[string]int{}
	row := func(series string) *overviewRow {
		i, ok := idx[series]
		if !ok {
			i = len(rows)
			idx[series] = i
			rows = append(rows, overviewRow{series: series, relative: math.NaN()})
		}
		return &rows[i]
	}
	for _, s := range m.Stats {
		if s.N == 0 {
			continue
		}
		switch {
		case s.Workload == "startup" && s.Metric == startupMetric:
			r := row(s.Series())
			r.startup, r.hasStartup = s, true
		case s.Workload == "idle" && memRank[s.Metric] > 0:
			// Each series its own best figure: a process or a VM has no
			// cgroup of its own, most containers no PSS.
			r := row(s.Series())
			if !r.hasMemory || memRank[s.Metric] < memRank[r.memMetric] {
				r.memory, r.hasMemory, r.memMetric = s, true, s.Metric
			}
		}
	}
	// Throughput: the geometric mean of relative performance over every
	// workload metric (as the throughput findings, over all workloads).
	sum, cnt := map[string]float64{}, map[string]int{}
	for _, r := range m.Ratios {
		if !throughputRatio(r) {
			continue
		}
		s := Key{Label: r.Label, Runtime: r.Runtime}.Series()
		sum[s] += math.Log(r.Relative)
		cnt[s]++
		row(s)
		row(Key{Label: r.Label, Runtime: Native}.Series()).relative = 1 // native is the unit
	}
	for s, n := range cnt {
		rows[idx[s]].relative = math.Exp(sum[s] / float64(n))
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.series)
	}
	sortSeries(names)
	out := make([]overviewRow, len(names))
	for i, n := range names {
		out[i] = rows[idx[n]]
	}
	return out, startupMetric, overviewMemoryMetrics(out)
}

// throughputRatio reports whether a ratio counts towards throughput: a
// workload's own figure, not start-up, memory at idle, the guest's view,
// host CPU time or host memory.
func throughputRatio(r Ratio) bool {
	return r.Workload != "startup" && r.Workload != "idle" && r.Workload != "guest" &&
		r.Metric != "host_cpu_seconds" && !isHostMemory(r.Metric) && r.Relative > 0 && !math.IsInf(r.Relative, 0)
}

// overviewChart draws the cost of isolation in three panels side by
// side, one row per runtime in every panel: start-up and host memory per
// instance on log scales (they span orders of magnitude between a process
// and a VM), and throughput relative to native on a log scale centred on
// 1. Each bar is labelled with its figure, so that the chart reads in
// print without the tables. Nil when the model has none of the three.
func overviewChart(m *Model, l chartLook) (func(draw.Canvas), vg.Length) {
	rows, startupMetric, memMetric := m.overviewRows()
	any := false
	for _, r := range rows {
		any = any || r.hasStartup || r.hasMemory || !math.IsNaN(r.relative)
	}
	if !any || len(rows) == 0 {
		return nil, 0
	}
	n := float64(len(rows))
	rowY := func(i int) float64 { return -(float64(i) + 0.5) }
	// Each panel: its title above, what its axis shows below the ticks.
	panel := func(heading string) *plot.Plot {
		title, axis, _ := strings.Cut(heading, "\n")
		p := newPlot(l, title)
		p.X.Label.Text = axis
		l.style(&p.Title.TextStyle, 10)
		l.style(&p.X.Label.TextStyle, 9)
		l.style(&p.X.Tick.Label, 8)
		p.X.Scale = plot.LogScale{}
		p.Y.Min, p.Y.Max = -n, 0
		var ticks plot.ConstantTicks
		for i := range rows {
			ticks = append(ticks, plot.Tick{Value: rowY(i)})
		}
		p.Y.Tick.Marker = ticks
		p.Add(plotter.NewGrid())
		return p
	}
	// bars draws one bar per row from base to the value, with its CI and
	// its figure as a label past the bar's end.
	bars := func(p *plot.Plot, unit workload.Unit, vals []float64, lo, hi []float64, base float64, label func(i int, v float64) string) {
		vmin, vmax := math.Inf(1), math.Inf(-1)
		for i, v := range vals {
			if !(v > 0) {
				continue
			}
			vmin, vmax = math.Min(vmin, math.Min(v, lo[i])), math.Max(vmax, math.Max(v, hi[i]))
		}
		if math.IsInf(vmin, 1) { // nothing measured: any positive range
			vmin, vmax = 1, 1
		}
		if base > 0 {
			vmin, vmax = math.Min(vmin, base), math.Max(vmax, base)
		}
		// Room for the labels: a decade beyond the largest bar, and below
		// the smallest when bars run left of the base (below native).
		p.X.Min, p.X.Max = vmin/2.5, vmax*12
		if base > 0 && vmin < base {
			p.X.Min = vmin / 12
		}
		from := p.X.Min
		if base > 0 {
			from = base
		}
		rs := &rects{}
		eb := &errBarsX{}
		lbl := &textMarks{look: l}
		for i, v := range vals {
			y := rowY(i)
			if !(v > 0) {
				lbl.add(p.X.Min, y, l.t("ov_none"), draw.XLeft, color.Gray{110})
				continue
			}
			rs.boxes = append(rs.boxes, rect{math.Min(from, v), math.Max(from, v), y - 0.34, y + 0.34, m.colorOf(rows[i].series)})
			end := math.Max(v, hi[i])
			if lo[i] > 0 && hi[i] > 0 && !math.IsInf(hi[i], 0) && (lo[i] != v || hi[i] != v) {
				eb.xs, eb.ys, eb.lo, eb.hi = append(eb.xs, v), append(eb.ys, y), append(eb.lo, lo[i]), append(eb.hi, hi[i])
			} else {
				end = v
			}
			if base > 0 && v < base {
				lbl.add(math.Min(v, lo[i])/1.25, y, label(i, v), draw.XRight, color.Black)
			} else {
				lbl.add(end*1.25, y, label(i, v), draw.XLeft, color.Black)
			}
		}
		p.Add(rs)
		if base > 0 {
			ref, err := plotter.NewLine(plotter.XYs{{X: base, Y: -n}, {X: base, Y: 0}})
			if err == nil {
				ref.Color = color.Gray{90}
				ref.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
				p.Add(ref)
			}
		}
		if eb.Len() > 0 {
			if e, err := plotter.NewXErrorBars(eb); err == nil {
				e.LineStyle.Width = vg.Points(1)
				e.CapWidth = vg.Points(4)
				p.Add(e)
			}
		}
		p.Add(lbl)
		p.X.Tick.Marker = unitLogTicks{unit: unit}
	}
	pS := panel(fmtStartupLabel(l, startupMetric))
	pM := panel(fmtMemLabel(l, memMetric))
	pT := panel(l.t("ov_tp"))
	k := len(rows)
	sv, sl, sh := make([]float64, k), make([]float64, k), make([]float64, k)
	mv, ml, mh := make([]float64, k), make([]float64, k), make([]float64, k)
	tv, tl, th := make([]float64, k), make([]float64, k), make([]float64, k)
	for i, r := range rows {
		sv[i], mv[i], tv[i] = math.NaN(), math.NaN(), r.relative
		tl[i], th[i] = r.relative, r.relative
		if r.hasStartup {
			sv[i], sl[i], sh[i] = ciOrMedian(r.startup)
		}
		if r.hasMemory {
			mv[i], ml[i], mh[i] = ciOrMedian(r.memory)
		}
	}
	mixed := strings.Contains(memMetric, " / ")
	bars(pS, workload.UnitSeconds, sv, sl, sh, 0, func(_ int, v float64) string { return formatValue(workload.UnitSeconds, v) })
	bars(pM, workload.UnitBytes, mv, ml, mh, 0, func(i int, v float64) string {
		if mixed {
			return formatValue(workload.UnitBytes, v) + " " + memShort[rows[i].memMetric]
		}
		return formatValue(workload.UnitBytes, v)
	})
	bars(pT, workload.UnitRatio, tv, tl, th, 1, func(_ int, v float64) string { return formatRatio(v) })
	// Series names label the rows of the first panel only.
	ticks := pS.Y.Tick.Marker.(plot.ConstantTicks)
	for i := range ticks {
		ticks[i].Label = rows[i].series
		if contains(m.TCG, rows[i].series) {
			ticks[i].Label += " (TCG)"
		}
	}
	for _, p := range []*plot.Plot{pM, pT} {
		p.Y.Tick.Label.Font.Size = 0
		p.Y.Tick.Length = 0
	}
	title := l.t("ov_title")
	titleH := vg.Points(26)
	h := max(7*vg.Centimeter, titleH+vg.Points(62)+vg.Points(17)*vg.Length(n))
	return func(c draw.Canvas) {
		fill(c)
		ts := draw.TextStyle{Color: color.Black, XAlign: draw.XCenter, YAlign: draw.YTop}
		l.style(&ts, 13)
		c.FillText(ts, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(4)}, title)
		body := c
		body.Max.Y -= titleH
		// The first panel is wider by its row labels; Align keeps the
		// three data areas the same size.
		tiles := draw.Tiles{Rows: 1, Cols: 3, PadX: vg.Points(10), PadRight: vg.Points(6), PadBottom: vg.Points(2)}
		cs := plot.Align([][]*plot.Plot{{pS, pM, pT}}, tiles, body)
		pS.Draw(cs[0][0])
		pM.Draw(cs[0][1])
		pT.Draw(cs[0][2])
	}, h
}

func fmtStartupLabel(l chartLook, metric string) string {
	return sprintfKey(l, "ov_startup", metric)
}

func fmtMemLabel(l chartLook, metric string) string { return sprintfKey(l, "ov_memory", metric) }

func sprintfKey(l chartLook, key, arg string) string {
	s := l.t(key)
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '%' && s[i+1] == 's' {
			return s[:i] + arg + s[i+2:]
		}
	}
	return s
}

// ciOrMedian is a stat's median and its 95% interval, or the median
// three times when n is too small for one.
func ciOrMedian(s Stat) (v, lo, hi float64) {
	if s.HasCI() {
		return s.Median, s.Lo, s.Hi
	}
	return s.Median, s.Median, s.Median
}

// textMarks is a plotter of text labels at data coordinates, each
// vertically centred on its point.
type textMarks struct {
	look  chartLook
	marks []textMark
}

type textMark struct {
	x, y  float64
	text  string
	align draw.XAlignment
	color color.Color
}

func (t *textMarks) add(x, y float64, s string, align draw.XAlignment, col color.Color) {
	t.marks = append(t.marks, textMark{x, y, s, align, col})
}

func (t *textMarks) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	for _, m := range t.marks {
		ts := draw.TextStyle{Color: m.color, XAlign: m.align, YAlign: draw.YCenter}
		t.look.style(&ts, 8)
		c.FillText(ts, vg.Point{X: tx(m.x), Y: ty(m.y)}, m.text)
	}
}

// unitLogTicks marks a log axis at 1, 10 and 100 of each display unit
// of unit (1 ms, 10 ms, 100 ms, 1 s; 1 MiB, 10 MiB, …), adding 2× and 5×
// steps when the range holds fewer than two such marks.
type unitLogTicks struct{ unit workload.Unit }

func (u unitLogTicks) Ticks(min, max float64) []plot.Tick {
	var units []float64
	switch u.unit {
	case workload.UnitSeconds:
		units = []float64{1e-9, 1e-6, 1e-3, 1}
	case workload.UnitBytes:
		units = []float64{1, 1 << 10, 1 << 20, 1 << 30, 1 << 40}
	default:
		units = []float64{1e-3, 1, 1e3}
	}
	label := func(v float64) string {
		if u.unit == workload.UnitRatio {
			return strconv.FormatFloat(v, 'g', 3, 64) + "×"
		}
		div, name := scale(u.unit, v*1.0001)
		return strconv.FormatFloat(math.Round(v/div*100)/100, 'g', 3, 64) + " " + name
	}
	try := func(steps []float64) []plot.Tick {
		var ts []plot.Tick
		for _, un := range units {
			for _, f := range steps {
				v := un * f
				if u.unit == workload.UnitSeconds && un == 1 && f >= 1000 {
					continue
				}
				if v >= min && v <= max {
					ts = append(ts, plot.Tick{Value: v, Label: label(v)})
				}
			}
		}
		return ts
	}
	ts := try([]float64{1, 10, 100})
	if len(ts) < 2 {
		ts = try([]float64{1, 2, 5, 10, 20, 50, 100, 200, 500})
	}
	if len(ts) < 2 {
		return plot.LogTicks{Prec: -1}.Ticks(min, max)
	}
	// Narrow panels: keep at most three labels, every other one if more;
	// byte labels ("100 MiB") are wide: at most two.
	maxLabels := 3
	if u.unit == workload.UnitBytes {
		maxLabels = 2
	}
	for len(ts) > maxLabels {
		var kept []plot.Tick
		for i, t := range ts {
			if i%2 == 0 {
				kept = append(kept, t)
			}
		}
		ts = kept
	}
	return ts
}
