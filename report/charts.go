package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"vcbench/bench"
	"vcbench/workload"
)

// Chart is one rendered chart.
type Chart struct {
	ID     string // file name stem
	Family *Family
	Title  string
	SVG    []byte
	PNG    []byte
}

// Chart sizes.
const (
	chartW = 18 * vg.Centimeter
	chartH = 9 * vg.Centimeter
	pngDPI = 110
)

// seriesColors are colour-blind-safe (Okabe–Ito) colours, one per series,
// then four more (Tol's muted) for runs with more than eight runtimes.
var seriesColors = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{0, 158, 115, 255},   // green
	color.RGBA{204, 121, 167, 255}, // purple
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{240, 228, 66, 255},  // yellow
	color.RGBA{0, 0, 0, 255},       // black
	color.RGBA{136, 34, 85, 255},   // wine
	color.RGBA{68, 170, 153, 255},  // teal
	color.RGBA{153, 153, 51, 255},  // olive
	color.RGBA{136, 136, 136, 255}, // grey
}

func seriesColor(i int) color.Color { return seriesColors[i%len(seriesColors)] }

var sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// newPlot returns a plot whose text is set in the look's font
// (Liberation Sans, or a Hangul font for Korean).
func newPlot(l chartLook, title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	l.style(&p.Title.TextStyle, 13)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		l.style(&a.Label.TextStyle, 11)
		l.style(&a.Tick.Label, 10)
	}
	l.style(&p.Legend.TextStyle, 10)
	return p
}

// rects is a plotter of filled rectangles in data coordinates, used for
// grouped and stacked bars: placing bars in data units keeps them exactly
// under their error bars (plotter.BarChart's Offset is in canvas units).
type rects struct {
	boxes []rect
}

type rect struct {
	x0, x1, y0, y1 float64
	fill           color.Color
}

func (r *rects) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	line := draw.LineStyle{Color: color.Gray{60}, Width: vg.Points(0.4)}
	for _, b := range r.boxes {
		pts := []vg.Point{
			{X: tx(b.x0), Y: ty(b.y0)}, {X: tx(b.x1), Y: ty(b.y0)},
			{X: tx(b.x1), Y: ty(b.y1)}, {X: tx(b.x0), Y: ty(b.y1)},
		}
		c.FillPolygon(b.fill, c.ClipPolygonXY(pts))
		c.StrokeLines(line, c.ClipLinesXY(append(pts, pts[0]))...)
	}
}

func (r *rects) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, b := range r.boxes {
		xmin, xmax = math.Min(xmin, b.x0), math.Max(xmax, b.x1)
		ymin = math.Min(ymin, math.Min(b.y0, b.y1))
		ymax = math.Max(ymax, math.Max(b.y0, b.y1))
	}
	return
}

// swatch is a legend entry: a filled square.
type swatch struct{ fill color.Color }

func (s swatch) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}}
	c.FillPolygon(s.fill, pts)
}

// renderCharts draws the overview and every family, in the model's
// language when its charts can be (see chartLookOf).
func renderCharts(m *Model, png bool) ([]Chart, error) {
	l, _ := chartLookOf(m) // warningItems says why Korean fell back
	var out []Chart
	if drawFn, h := overviewChart(m, l); drawFn != nil {
		ch := Chart{ID: overviewID, Family: &Family{ID: overviewID, Kind: overviewID}, Title: l.t("ov_title")}
		if err := ch.render(drawFn, h, png, l); err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	for i := range m.Families {
		f := &m.Families[i]
		var h vg.Length = chartH
		var err error
		var drawFn func(c draw.Canvas)
		switch f.Kind {
		case "startup-box":
			drawFn, h = startupBox(f, m.colorOf, l)
		case "startup-phases":
			drawFn, h = phasesChart(f, l)
		default:
			drawFn, h, err = groupedBars(f, m.colorOf, l)
		}
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", f.ID, err)
		}
		if drawFn == nil {
			continue
		}
		ch := Chart{ID: f.ID, Family: f, Title: chartTitle(f, l)}
		if err := ch.render(drawFn, h, png, l); err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	for _, dc := range densityCharts(m, l) {
		drawFn, h := dc.draw(m.colorOf, l)
		ch := Chart{ID: dc.id, Family: &Family{ID: dc.id, Kind: dc.id, Workload: DensityWorkload, Unit: dc.unit}, Title: dc.title}
		if err := ch.render(drawFn, h, png, l); err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

// render draws the chart as SVG, and as PNG when png is set, at the
// report's width and height h.
func (ch *Chart) render(drawFn func(draw.Canvas), h vg.Length, png bool, l chartLook) error {
	var err error
	render := renderSVG
	if l.outline {
		render = renderOutlinedSVG
	}
	if ch.SVG, err = render(drawFn, chartW, h); err != nil {
		return fmt.Errorf("chart %s: svg: %w", ch.ID, err)
	}
	if png {
		if ch.PNG, err = renderPNG(drawFn, chartW, h); err != nil {
			return fmt.Errorf("chart %s: png: %w", ch.ID, err)
		}
	}
	return nil
}

func renderSVG(drawFn func(draw.Canvas), w, h vg.Length) ([]byte, error) {
	c := vgsvg.New(w, h)
	drawFn(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// renderOutlinedSVG draws text as glyph outlines (see outlineCanvas).
func renderOutlinedSVG(drawFn func(draw.Canvas), w, h vg.Length) ([]byte, error) {
	c := newOutlineCanvas(w, h)
	drawFn(draw.New(c))
	return c.bytes()
}

func renderPNG(drawFn func(draw.Canvas), w, h vg.Length) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI), vgimg.UseBackgroundColor(color.White))
	drawFn(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// chartTitle is the chart's title in the look's language.
func chartTitle(f *Family, l chartLook) string {
	switch f.Kind {
	case "startup-box":
		if _, ok := f.Stats[bench.MetricRuntimeReady]; ok {
			return l.t("t_startup_both")
		}
		return l.t("t_startup")
	case "startup-phases":
		return l.t("t_phases")
	case "host-cpu":
		return l.t("t_hostcpu")
	}
	if f.hostMemory() && f.Workload == "idle" {
		return l.t("t_hostmem_idle")
	}
	if f.hostMemory() {
		return fmt.Sprintf(l.t("t_hostmem"), f.Workload)
	}
	if f.Unit == "bytes" {
		return fmt.Sprintf(l.t("t_memory"), f.Workload)
	}
	return fmt.Sprintf("%s: %s", f.Workload, unitTitle(f.Unit, l))
}

func unitTitle(unit workload.Unit, l chartLook) string {
	switch unit {
	case workload.UnitSeconds:
		return l.t("u_latency")
	case workload.UnitBytesPerSecond:
		return l.t("u_throughput")
	case workload.UnitOpsPerSecond:
		return l.t("u_rate")
	}
	return string(unit)
}

// fill paints the canvas white (PNG and SVG alike).
func fill(c draw.Canvas) {
	c.FillPolygon(color.White, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}

// withLegend draws p on the left and its legend in a column on the right,
// so that the legend can never cover a bar.
func withLegend(p *plot.Plot, leg plot.Legend, legendW vg.Length) func(draw.Canvas) {
	return func(c draw.Canvas) {
		fill(c)
		left := c
		left.Max.X -= legendW
		right := c
		right.Min.X = left.Max.X + vg.Points(6)
		right.Max.Y -= vg.Points(24) // below the title
		p.Draw(left)
		leg.Draw(right)
	}
}

func newLegend(l chartLook) plot.Legend {
	leg := plot.NewLegend()
	l.style(&leg.TextStyle, 10)
	leg.Top, leg.Left = true, true
	leg.Padding = vg.Points(2)
	return leg
}

// sigTicks are the default ticks labelled with three significant digits
// ("0.5", "250") instead of a fixed precision ("250.00").
type sigTicks struct{}

func (sigTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', 4, 64)
		}
	}
	return ts
}

// Bar chart geometry: one bar per (metric, series) that was measured.
const (
	barH     = 9   // points per bar
	groupGap = 0.7 // gap between metric groups, in bars
)

// groupedBars draws one horizontal group of bars per metric, with a bar
// only for the series that measured it (a VM's host_overhead is not eight
// bars of which seven are empty), the median as the bar and the 95% CI as
// an error bar. Horizontal bars keep long metric names readable: each
// name is a tick label of its own row, never squeezed under a neighbour.
// Series without enough samples for an interval get no error bar.
func groupedBars(f *Family, colorOf func(string) color.Color, l chartLook) (func(draw.Canvas), vg.Length, error) {
	maxV := 0.0
	for _, byS := range f.Stats {
		for _, s := range byS {
			maxV = math.Max(maxV, s.Median)
		}
	}
	div, ulabel := scale(f.Unit, maxV)
	p := newPlot(l, chartTitle(f, l))
	p.X.Label.Text = ulabel + l.t("x_bars")
	p.X.Tick.Marker = sigTicks{}
	p.X.Min = 0
	bars := &rects{}
	eb := &errBarsX{}
	var ticks plot.ConstantTicks
	y := 0.0 // from the top down, in bars
	for _, metric := range f.Metrics {
		top := y
		for _, series := range f.Series {
			s, ok := f.Stats[metric][series]
			if !ok {
				continue
			}
			c := -(y + 0.5)
			bars.boxes = append(bars.boxes, rect{0, s.Median / div, c - 0.42, c + 0.42, colorOf(series)})
			if s.HasCI() {
				eb.xs = append(eb.xs, s.Median/div)
				eb.ys = append(eb.ys, c)
				eb.lo = append(eb.lo, s.Lo/div)
				eb.hi = append(eb.hi, s.Hi/div)
			}
			y++
		}
		ticks = append(ticks, plot.Tick{Value: -(top + y) / 2, Label: metric})
		y += groupGap
	}
	if len(bars.boxes) == 0 {
		return nil, 0, nil
	}
	y -= groupGap
	p.Add(bars)
	xmax := maxV / div
	if eb.Len() > 0 {
		e, err := plotter.NewXErrorBars(eb)
		if err != nil {
			return nil, 0, err
		}
		e.LineStyle.Width = vg.Points(1)
		e.CapWidth = vg.Points(4)
		p.Add(e)
		for _, h := range eb.hi {
			xmax = math.Max(xmax, h)
		}
	}
	p.Y.Tick.Marker = ticks
	p.Y.Min, p.Y.Max = -y-0.3, 0.3
	p.X.Max = xmax * 1.05
	leg := newLegend(l)
	var legendW vg.Length
	for _, series := range f.Series {
		leg.Add(series, swatch{colorOf(series)})
		legendW = max(legendW, leg.TextStyle.Width(series))
	}
	// A browser may draw the SVG in a sans font wider than Liberation Sans:
	// leave the legend some slack.
	legendW = legendW*1.2 + leg.ThumbnailWidth + vg.Points(14)
	h := max(chartH, vg.Points(70+barH*y), vg.Points(40)+vg.Length(len(f.Series))*leg.TextStyle.Font.Size*1.3)
	return withLegend(p, leg, min(legendW, chartW/2)), h, nil
}

// errBarsX is the CI of each horizontal bar: median, centre y and the
// interval.
type errBarsX struct {
	xs, ys, lo, hi []float64
}

func (e *errBarsX) Len() int                    { return len(e.xs) }
func (e *errBarsX) XY(i int) (float64, float64) { return e.xs[i], e.ys[i] }
func (e *errBarsX) XError(i int) (float64, float64) {
	return e.xs[i] - e.lo[i], e.hi[i] - e.xs[i]
}

// tiled draws one row per series under a common title, each row with its
// own X axis: startup runs from milliseconds (native, containers) to
// seconds (a VM under TCG), and one shared axis would flatten the fast ones.
func tiled(l chartLook, title string, rows []string, rowH vg.Length, drawRow func(c draw.Canvas, i int, series string)) (func(draw.Canvas), vg.Length) {
	titleH := 1.0 * vg.Centimeter
	h := titleH + rowH*vg.Length(len(rows))
	return func(c draw.Canvas) {
		fill(c)
		ts := draw.TextStyle{Color: color.Black, XAlign: draw.XCenter, YAlign: draw.YTop}
		l.style(&ts, 13)
		c.FillText(ts, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(4)}, title)
		body := c
		body.Max.Y -= titleH
		tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadY: vg.Points(4)}
		for i, series := range rows {
			drawRow(tiles.At(body, 0, i), i, series)
		}
	}, h
}

// startupBox draws, per series, a horizontal box plot of "ready" with
// every trial as a dot, each on its own linear time axis; where the
// series has runtime_ready (the runtime's own invocation → answering,
// the fair comparison), its box is drawn above ready's, on the same axis.
func startupBox(f *Family, colorOf func(string) color.Color, l chartLook) (func(draw.Canvas), vg.Length) {
	stats := f.Stats["ready"]
	rtStats := f.Stats[bench.MetricRuntimeReady]
	var rows []string
	both := false
	for _, series := range f.Series {
		if _, ok := stats[series]; ok {
			rows = append(rows, series)
			if _, ok := rtStats[series]; ok {
				both = true
			}
		}
	}
	if len(rows) == 0 {
		return nil, 0
	}
	rowH := 2.4 * vg.Centimeter
	if both {
		rowH = 3.2 * vg.Centimeter
	}
	return tiled(l, chartTitle(f, l), rows, rowH, func(c draw.Canvas, i int, series string) {
		s := stats[series]
		rs, hasRT := rtStats[series]
		hi := s.Values[len(s.Values)-1]
		div, ulabel := scale("seconds", s.Median)
		p := newPlot(l, "")
		p.X.Tick.Marker = sigTicks{}
		p.Y.Label.Text = series
		p.Y.Tick.Marker = plot.ConstantTicks(nil)
		p.Y.Min, p.Y.Max = -0.6, 0.6
		p.X.Label.Text = fmt.Sprintf(l.t("x_startup"), ulabel, formatValue("seconds", s.Median), s.N)
		box := func(st Stat, y float64, fill color.Color) {
			vals := make(plotter.Values, len(st.Values))
			pts := make(plotter.XYs, len(st.Values))
			for j, v := range st.Values {
				vals[j] = v / div
				pts[j].X, pts[j].Y = v/div, y+0.35
			}
			if b, err := plotter.NewBoxPlot(vg.Points(20), y, vals); err == nil {
				b.Horizontal = true
				b.FillColor = fill
				b.MedianStyle.Width = vg.Points(2.5)
				p.Add(b)
			}
			if sc, err := plotter.NewScatter(pts); err == nil {
				sc.GlyphStyle.Color = colorOf(series)
				sc.GlyphStyle.Radius = vg.Points(2.5)
				sc.GlyphStyle.Shape = draw.CircleGlyph{}
				p.Add(sc)
			}
		}
		if hasRT {
			p.Y.Min, p.Y.Max = -0.6, 1.6
			p.Y.Tick.Marker = plot.ConstantTicks{{Value: 1, Label: "runtime_ready"}, {Value: 0, Label: "ready"}}
			p.X.Label.Text = fmt.Sprintf(l.t("x_startup_both"), ulabel, formatValue("seconds", rs.Median), formatValue("seconds", s.Median), s.N)
			box(rs, 1, colorOf(series))
			hi = math.Max(hi, rs.Values[len(rs.Values)-1])
		}
		box(s, 0, lighten(colorOf(series)))
		p.X.Min = 0
		p.X.Max = hi / div * 1.08
		p.Draw(c)
	})
}

// lighten mixes a colour halfway to white for box fills.
func lighten(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	return color.RGBA{uint8((r>>8 + 255) / 2), uint8((g>>8 + 255) / 2), uint8((b>>8 + 255) / 2), 255}
}

// phaseSegment is one stacked piece of a startup bar: from the previous
// milestone to this one.
type phaseSegment struct {
	name   string
	x0, x1 float64
}

// phases orders one series' startup milestones by their median and turns
// them into segments that end at "ready".
func phases(byMetric map[string]map[string]Stat, series string) []phaseSegment {
	type ms struct {
		name string
		t    float64
	}
	var list []ms
	ready := math.NaN()
	for metric, byS := range byMetric {
		s, ok := byS[series]
		if !ok {
			continue
		}
		if metric == "ready" {
			ready = s.Median
			continue
		}
		if metric == bench.MetricRuntimeReady {
			continue // a duration (ready − runtime_exec), not a milestone
		}
		list = append(list, ms{metric, s.Median})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].t != list[j].t {
			return list[i].t < list[j].t
		}
		return list[i].name < list[j].name
	})
	if !math.IsNaN(ready) {
		list = append(list, ms{"ready", ready})
	}
	var out []phaseSegment
	prev := 0.0
	for _, m := range list {
		t := math.Max(m.t, prev)
		out = append(out, phaseSegment{m.name, prev, t})
		prev = t
	}
	return out
}

// phasePalette gives each milestone one colour across all series.
var phasePalette = map[string]color.Color{
	"qemu_spawn":       color.RGBA{86, 180, 233, 255},
	"qmp_ready":        color.RGBA{204, 121, 167, 255},
	"kernel_start":     color.RGBA{213, 94, 0, 255},
	"agent_start":      color.RGBA{0, 114, 178, 255},
	"namespaces_ready": color.RGBA{86, 180, 233, 255},
	"init_exec":        color.RGBA{240, 228, 66, 255},
	"agent_exec":       color.RGBA{0, 158, 115, 255},
	// Distinct from their neighbours within each backend's own sequence.
	"process_spawn":    color.RGBA{230, 159, 0, 255},
	"network_ready":    color.RGBA{213, 94, 0, 255},
	"agent_listening":  color.RGBA{0, 158, 115, 255},
	"runtime_exec":     color.RGBA{86, 180, 233, 255},
	"runtime_returned": color.RGBA{204, 121, 167, 255},
	"ready":            color.Gray{170},
}

func phaseColor(name string) color.Color {
	if c, ok := phasePalette[name]; ok {
		return c
	}
	return seriesColor(metricRank(name) + len(name))
}

// phasesChart draws one horizontal stacked bar per series, each with its
// own time axis and its legend on the right.
func phasesChart(f *Family, l chartLook) (func(draw.Canvas), vg.Length) {
	var rows []string
	for _, series := range f.Series {
		if len(phases(f.Stats, series)) > 0 {
			rows = append(rows, series)
		}
	}
	if len(rows) == 0 {
		return nil, 0
	}
	return tiled(l, chartTitle(f, l), rows, 3.0*vg.Centimeter, func(c draw.Canvas, _ int, series string) {
		segs := phases(f.Stats, series)
		end := segs[len(segs)-1].x1
		div, ulabel := scale("seconds", end)
		p := newPlot(l, "")
		p.X.Tick.Marker = sigTicks{}
		p.Y.Label.Text = series
		p.Y.Tick.Marker = plot.ConstantTicks(nil)
		p.Y.Min, p.Y.Max = -0.5, 0.5
		p.X.Label.Text = fmt.Sprintf(l.t("x_phases"), ulabel, formatValue("seconds", end))
		p.X.Min = 0
		bars := &rects{}
		leg := newLegend(l)
		l.style(&leg.TextStyle, 9)
		for _, sg := range segs {
			bars.boxes = append(bars.boxes, rect{sg.x0 / div, sg.x1 / div, -0.3, 0.3, phaseColor(sg.name)})
			leg.Add(fmt.Sprintf("→ %s (%s)", sg.name, formatValue("seconds", sg.x1)), swatch{phaseColor(sg.name)})
		}
		p.Add(bars)
		p.X.Max = end / div * 1.02
		left := c
		left.Max.X = c.Min.X + (c.Max.X-c.Min.X)*0.64
		right := c
		right.Min.X = left.Max.X + vg.Points(8)
		p.Draw(left)
		leg.Draw(right)
	})
}
