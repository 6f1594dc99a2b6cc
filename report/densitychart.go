package report

import (
	"image/color"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"vcbench/workload"
)

// Density chart kinds; explain keys its notes by them.
const (
	densityStartup = "density-startup"
	densityMemory  = "density-memory"
	densityCPU     = "density-cpu"
)

// isDensity reports whether a chart belongs to the density section.
func (c Chart) isDensity() bool {
	return c.Family != nil && (c.Family.Kind == densityStartup || c.Family.Kind == densityMemory || c.Family.Kind == densityCPU)
}

// densityLine is one line of a density chart.
type densityLine struct {
	name   string
	pts    plotter.XYs
	series string // colour key
	dashed bool
}

// densityChart is a density chart before drawing.
type densityChart struct {
	id, title, xlabel string
	unit              workload.Unit
	lines             []densityLine
	// percent draws a 0..100 % axis (values are ratios 0..1).
	percent bool
}

// densityCharts builds the three density charts of the model: startup of
// the k-th instance, memory per instance, host CPU busy.
func densityCharts(m *Model, l chartLook) []densityChart {
	if len(m.Density) == 0 {
		return nil
	}
	startup := densityChart{id: densityStartup, title: l.t("d_t_startup"),
		xlabel: l.t("d_x_kth"), unit: workload.UnitSeconds}
	mem := densityChart{id: densityMemory, title: l.t("d_t_memory"),
		xlabel: l.t("d_x_k"), unit: workload.UnitBytes}
	cpu := densityChart{id: densityCPU, title: l.t("d_t_cpu"),
		xlabel: l.t("d_x_k"), unit: workload.UnitRatio, percent: true}
	for _, d := range m.Density {
		ser := d.Series()
		var ready plotter.XYs
		for _, p := range d.Ready {
			ready = append(ready, plotter.XY{X: p.X, Y: p.Y})
		}
		if len(ready) > 0 {
			startup.lines = append(startup.lines, densityLine{name: ser, pts: ready, series: ser})
		}
		var mean, used, busy plotter.XYs
		src := ""
		for _, s := range d.Steps {
			k := float64(s.K)
			if !math.IsNaN(s.MemMean) {
				mean = append(mean, plotter.XY{X: k, Y: s.MemMean})
				src = s.MemSource
			}
			if !math.IsNaN(s.HostUsed) {
				used = append(used, plotter.XY{X: k, Y: s.UsedPerInstance()})
			}
			if !math.IsNaN(s.CPUBusy) {
				busy = append(busy, plotter.XY{X: k, Y: s.CPUBusy})
			}
		}
		if len(mean) > 0 {
			name := ser + l.t("d_l_mean")
			if src != "" {
				name += " " + src
			}
			mem.lines = append(mem.lines, densityLine{name: name, pts: mean, series: ser})
		}
		if len(used) > 0 {
			mem.lines = append(mem.lines, densityLine{name: ser + l.t("d_l_used"), pts: used, series: ser, dashed: true})
		}
		if len(busy) > 0 {
			cpu.lines = append(cpu.lines, densityLine{name: ser, pts: busy, series: ser})
		}
	}
	var out []densityChart
	for _, c := range []densityChart{startup, mem, cpu} {
		if len(c.lines) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// draw returns the chart's drawing function. The Y axis is logarithmic
// when the positive values span more than 20×; non-positive values cannot
// be drawn there and are left out (the tables give every number).
func (dc densityChart) draw(colorOf func(string) color.Color, l chartLook) (func(draw.Canvas), vg.Length) {
	p := newPlot(l, dc.title)
	p.X.Label.Text = dc.xlabel
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1) // of positive values
	lo := 0.0
	var xs []float64
	for _, l := range dc.lines {
		for _, pt := range l.pts {
			xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
			if pt.Y > 0 {
				ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
			}
			lo = math.Min(lo, pt.Y)
			if !containsFloat(xs, pt.X) {
				xs = append(xs, pt.X)
			}
		}
	}
	logY := !dc.percent && ymax > 0 && ymax/ymin > 20
	div, ulabel := scale(dc.unit, ymax)
	if dc.percent {
		div, ulabel = 0.01, l.t("d_y_cpu")
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Y.Min, p.Y.Max = ymin/div/1.3, ymax/div*1.3
		p.Y.Label.Text = ulabel + l.t("logscale")
	} else {
		p.Y.Tick.Marker = sigTicks{}
		p.Y.Min = lo / div * 1.1
		p.Y.Max = math.Max(ymax, 0) / div * 1.08
		if dc.percent {
			p.Y.Min, p.Y.Max = 0, 100
			p.Y.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 25, Label: "25"}, {Value: 50, Label: "50"}, {Value: 75, Label: "75"}, {Value: 100, Label: "100"}}
		}
		p.Y.Label.Text = ulabel
	}
	if xmax > xmin {
		p.X.Scale = plot.LogScale{}
		p.X.Min, p.X.Max = xmin/1.15, xmax*1.15
	} else {
		p.X.Min, p.X.Max = xmin-1, xmax+1
	}
	p.X.Tick.Marker = kTicks(xs)
	p.Add(plotter.NewGrid())
	leg := newLegend(l)
	legendW := 2 * vg.Centimeter
	for _, l := range dc.lines {
		var pts plotter.XYs
		for _, pt := range l.pts {
			if logY && pt.Y <= 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: pt.X, Y: pt.Y / div})
		}
		if len(pts) == 0 {
			continue
		}
		line, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		line.Color = colorOf(l.series)
		line.Width = vg.Points(1.5)
		sc.GlyphStyle.Color = colorOf(l.series)
		sc.GlyphStyle.Radius = vg.Points(3)
		if len(pts) > 20 {
			sc.GlyphStyle.Radius = vg.Points(2)
		}
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		if l.dashed {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			sc.GlyphStyle.Shape = draw.TriangleGlyph{}
			sc.GlyphStyle.Radius = vg.Points(3.5)
		}
		p.Add(line, sc)
		leg.Add(l.name, line, sc)
		legendW = max(legendW, leg.TextStyle.Width(l.name)+leg.ThumbnailWidth+vg.Points(12))
	}
	// A browser draws the SVG in its own sans font, often wider than
	// Liberation Sans: leave the legend some slack.
	h := max(chartH, vg.Points(48)+vg.Length(len(dc.lines))*leg.TextStyle.Font.Size*1.35)
	return withLegend(p, leg, min(legendW*1.2, chartW/2)), h
}

func containsFloat(xs []float64, x float64) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// kTicks marks the X axis at the measured values of k; with many
// positions (startup of the k-th instance) only at powers of two.
func kTicks(xs []float64) plot.ConstantTicks {
	sort.Float64s(xs)
	var ts plot.ConstantTicks
	for _, x := range xs {
		if len(xs) > 12 && x != math.Exp2(math.Round(math.Log2(x))) {
			continue
		}
		ts = append(ts, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', -1, 64)})
	}
	return ts
}

// logTicks labels a log axis at 1, 2 and 5 times each power of ten.
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		for _, f := range []float64{1, 2, 5} {
			v := f * math.Pow(10, e)
			if v < min || v > max {
				continue
			}
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 3, 64)})
		}
	}
	if len(ts) < 2 {
		return plot.LogTicks{Prec: -1}.Ticks(min, max)
	}
	return ts
}
