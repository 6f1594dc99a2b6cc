package report

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"vcbench/bench"
	"vcbench/workload"
)

// HistoryOptions control a history report.
type HistoryOptions struct {
	// Metrics are the figures to follow, as "workload/metric"
	// ("startup/runtime_ready"); none: DefaultHistoryMetrics.
	Metrics []string
	// Lang, HangulFont and NoPNG are as in Options.
	Lang       string
	HangulFont string
	NoPNG      bool
	// Compare is the call rule for change points; the zero value is
	// compare's default (DefaultMinEffect, no calibration).
	Compare *CompareOptions
}

// DefaultHistoryMetrics are followed when no metric is asked for: the
// start-up figures and idle host memory; of every other workload, its
// first metric in the runs.
var DefaultHistoryMetrics = []string{"startup/" + bench.MetricRuntimeReady, "startup/ready", "idle/host_pss"}

// HistoryGroup is the runs under one directory that can be compared: the
// same scenario (name and text) on the same setup (FingerprintDiff empty
// against the group's first run), oldest first.
type HistoryGroup struct {
	Scenario string
	Runs     []*bench.Run
	Series   []HistorySeries
}

// HistorySeries is one (metric, runtime) followed across a group's runs.
type HistorySeries struct {
	Workload, Metric, Runtime string
	Unit                      workload.Unit
	Points                    []HistoryPoint
}

// HistoryPoint is one run's figure of a series and whether compare would
// call it a change from the run before it.
type HistoryPoint struct {
	RunID string
	Start time.Time
	Stat  Stat
	// Called marks a change point: compare's call rule (p < α and beyond
	// the noise floor) between this run and the previous one of the group.
	Called bool
	Row    *CompareRow
}

// GroupHistory reads every run directory directly under dir and groups
// them (see HistoryGroup). Directories that are not runs are skipped and
// listed in skipped with the reason.
func GroupHistory(dir string) (groups []HistoryGroup, skipped []string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("history: %w", err)
	}
	var runs []*bench.Run
	for _, e := range ents {
		if !e.IsDir() || e.Name() == "history" {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sub, "run.json")); err != nil {
			continue
		}
		r, err := bench.ReadRun(sub)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", e.Name(), err))
			continue
		}
		runs = append(runs, r)
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Info.Start.Before(runs[j].Info.Start) })
	for _, r := range runs {
		placed := false
		for i := range groups {
			g := &groups[i]
			first := g.Runs[0].Info
			if first.Scenario == r.Info.Scenario && first.ScenarioSHA256 == r.Info.ScenarioSHA256 && len(FingerprintDiff(first, r.Info)) == 0 {
				g.Runs = append(g.Runs, r)
				placed = true
				break
			}
		}
		if !placed {
			groups = append(groups, HistoryGroup{Scenario: r.Info.Scenario, Runs: []*bench.Run{r}})
		}
	}
	return groups, skipped, nil
}

// follow fills the group's series of the chosen metrics, marking the
// change points that compare calls between consecutive runs.
func (g *HistoryGroup) follow(metrics []string, opt CompareOptions) {
	if len(metrics) == 0 {
		metrics = defaultHistoryMetrics(g.Runs)
	}
	want := map[[2]string]bool{}
	for _, m := range metrics {
		w, met, _ := strings.Cut(m, "/")
		want[[2]string{w, met}] = true
	}
	idx := map[Key]int{}
	var cmps []*RunComparison
	for i, r := range g.Runs {
		var cmp map[Key]*CompareRow
		if i > 0 {
			rc := CompareRunsWith(g.Runs[i-1], r, opt)
			cmps = append(cmps, rc)
			cmp = map[Key]*CompareRow{}
			for gi := range rc.Groups {
				for ri := range rc.Groups[gi].Rows {
					row := &rc.Groups[gi].Rows[ri]
					cmp[row.Key] = row
				}
			}
		}
		for _, s := range Summarize("", withoutDensity(r.Samples)) {
			if !want[[2]string{s.Workload, s.Metric}] || s.N == 0 {
				continue
			}
			j, ok := idx[s.Key]
			if !ok {
				j = len(g.Series)
				idx[s.Key] = j
				g.Series = append(g.Series, HistorySeries{Workload: s.Workload, Metric: s.Metric, Runtime: s.Runtime, Unit: s.Unit})
			}
			p := HistoryPoint{RunID: runName(r), Start: r.Info.Start, Stat: s}
			if row := cmp[s.Key]; row != nil && row.Cmp != nil {
				p.Called, p.Row = row.Called, row
			}
			g.Series[j].Points = append(g.Series[j].Points, p)
		}
	}
	order := map[string]int{}
	for i, m := range metrics {
		order[m] = i
	}
	sort.SliceStable(g.Series, func(i, j int) bool {
		a, b := g.Series[i], g.Series[j]
		if oa, ob := order[a.Workload+"/"+a.Metric], order[b.Workload+"/"+b.Metric]; oa != ob {
			return oa < ob
		}
		return runtimeRank(a.Runtime, nil) < runtimeRank(b.Runtime, nil)
	})
}

// defaultHistoryMetrics is DefaultHistoryMetrics plus the first metric of
// every other workload the runs measured.
func defaultHistoryMetrics(runs []*bench.Run) []string {
	out := append([]string{}, DefaultHistoryMetrics...)
	seen := map[string]bool{"startup": true, "idle": true, "guest": true, DensityWorkload: true}
	for _, r := range runs {
		for _, s := range r.Samples {
			if seen[s.Workload] || s.Metric == "host_cpu_seconds" || isHostMemory(s.Metric) {
				continue
			}
			seen[s.Workload] = true
			out = append(out, s.Workload+"/"+s.Metric)
		}
	}
	return out
}

// WriteHistory writes DIR/history/index.html (and charts/): per group of
// comparable runs under dir, each chosen metric over time, per runtime, as
// medians with their 95% intervals, with the change points compare would
// call between consecutive runs ringed. It returns index.html's path.
func WriteHistory(dir string, opts HistoryOptions) (string, error) {
	if err := (Options{Lang: opts.Lang}).Validate(); err != nil {
		return "", err
	}
	lang := opts.Lang
	if lang == "" {
		lang = LangEnglish
	}
	cmpOpt := CompareOptions{MinEffect: DefaultMinEffect}
	if opts.Compare != nil {
		cmpOpt = *opts.Compare
	}
	groups, skipped, err := GroupHistory(dir)
	if err != nil {
		return "", err
	}
	if len(groups) == 0 {
		return "", fmt.Errorf("history: no runs under %s", dir)
	}
	look, fontErr := chartLookOf(&Model{Lang: lang, HangulFont: opts.HangulFont})
	out := filepath.Join(dir, "history")
	if err := os.MkdirAll(filepath.Join(out, "charts"), 0o755); err != nil {
		return "", fmt.Errorf("history: %w", err)
	}
	page := historyPage{Lang: lang, Title: t(lang, "hist_title"), Intro: t(lang, "hist_intro"), Skipped: skipped}
	if fontErr != nil {
		page.Notes = append(page.Notes, fmt.Sprintf(t(lang, "nofont"), fontErr))
	}
	colors := map[string]int{}
	for gi := range groups {
		g := &groups[gi]
		g.follow(opts.Metrics, cmpOpt)
		for _, s := range g.Series {
			if _, ok := colors[s.Runtime]; !ok {
				colors[s.Runtime] = runtimeRank(s.Runtime, nil)
			}
		}
	}
	colorOf := func(rt string) color.Color { return seriesColor(colors[rt]) }
	for gi := range groups {
		g := &groups[gi]
		hg := historyGroupHTML{ID: fmt.Sprintf("group-%d", gi+1), Heading: fmt.Sprintf(t(lang, "hist_group"), g.Scenario, len(g.Runs), g.Runs[0].Info.Host.Hostname)}
		for _, r := range g.Runs {
			hg.Runs = append(hg.Runs, fmt.Sprintf("%s (%s)", runName(r), r.Info.Start.UTC().Format("2006-01-02 15:04")))
		}
		hg.Setup = historySetup(g.Runs[0].Info)
		for _, metric := range seriesMetrics(g.Series) {
			var ss []HistorySeries
			for _, s := range g.Series {
				if s.Workload+"/"+s.Metric == metric {
					ss = append(ss, s)
				}
			}
			id := fmt.Sprintf("%s-%s", hg.ID, strings.ReplaceAll(metric, "/", "-"))
			drawFn, h := historyChart(look, metric, ss, colorOf)
			ch := Chart{ID: id, Title: fmt.Sprintf(look.t("h_title"), metric)}
			if err := ch.render(drawFn, h, !opts.NoPNG, look); err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(out, "charts", id+".svg"), ch.SVG, 0o644); err != nil {
				return "", fmt.Errorf("history: %w", err)
			}
			if ch.PNG != nil {
				if err := os.WriteFile(filepath.Join(out, "charts", id+".png"), ch.PNG, 0o644); err != nil {
					return "", fmt.Errorf("history: %w", err)
				}
			}
			hg.Charts = append(hg.Charts, htmlChart{ID: id, Title: ch.Title, SVG: inlineSVG(ch.SVG, ch.Title)})
		}
		hg.Changes = changeTable(lang, g.Series)
		page.Groups = append(page.Groups, hg)
	}
	var b bytes.Buffer
	if err := historyTmpl.Execute(&b, page); err != nil {
		return "", fmt.Errorf("render history: %w", err)
	}
	index := filepath.Join(out, "index.html")
	if err := os.WriteFile(index, b.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("history: %w", err)
	}
	return index, nil
}

// historySetup is the setup the group shares, for its heading.
func historySetup(info bench.RunInfo) string {
	h := info.Host
	parts := []string{h.CPUModel, fmt.Sprintf("%d cores", h.Cores), h.Kernel}
	for _, kv := range [][2]string{{"governor", h.Governor}, {"thp", h.THP}, {"ksm", h.KSM}, {"smt", h.SMT}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, ", ")
}

func seriesMetrics(ss []HistorySeries) []string {
	var out []string
	for _, s := range ss {
		if m := s.Workload + "/" + s.Metric; !contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// changeTable lists every called change point: run, runtime, metric, the
// two medians and compare's delta and p.
func changeTable(lang string, ss []HistorySeries) template.HTML {
	tb := table{Head: []string{t(lang, "run"), t(lang, "runtime"), t(lang, "metric"), t(lang, "hist_before"), t(lang, "hist_after"), t(lang, "hist_delta")}}
	for _, s := range ss {
		for i, p := range s.Points {
			if !p.Called || i == 0 {
				continue
			}
			d := p.Row.Cmp.Delta() + " " + p.Row.Cmp.PN()
			if p.Row.Cmp.Worse {
				d += " (" + t(lang, "hist_worse") + ")"
			} else {
				d += " (" + t(lang, "hist_better") + ")"
			}
			tb.Rows = append(tb.Rows, []string{p.RunID, s.Runtime, s.Workload + "/" + s.Metric,
				formatValue(s.Unit, s.Points[i-1].Stat.Median), formatValue(s.Unit, p.Stat.Median), d})
		}
	}
	if len(tb.Rows) == 0 {
		return template.HTML("<p>" + html.EscapeString(t(lang, "hist_nochange")) + "</p>")
	}
	return htmlTable(tb, "", "changes", 3, true, false)
}

// historyChart draws one metric over time: per runtime a line through the
// medians with 95% intervals as error bars; a called change is ringed.
// Runs are placed in order, evenly (labelled with their date), so that
// runs hours and weeks apart stay readable; the Y axis is logarithmic
// when runtimes span more than 20× (containers and VMs on one axis).
func historyChart(l chartLook, metric string, ss []HistorySeries, colorOf func(string) color.Color) (func(draw.Canvas), vg.Length) {
	p := newPlot(l, fmt.Sprintf(l.t("h_title"), metric))
	p.X.Label.Text = l.t("h_x")
	// The runs of the group in time order, as X positions.
	pos := map[string]float64{}
	var ids []string
	for _, s := range ss {
		for _, pt := range s.Points {
			if !contains(ids, pt.RunID) {
				ids = append(ids, pt.RunID)
			}
		}
	}
	byStart := map[string]time.Time{}
	for _, s := range ss {
		for _, pt := range s.Points {
			byStart[pt.RunID] = pt.Start
		}
	}
	sort.SliceStable(ids, func(i, j int) bool { return byStart[ids[i]].Before(byStart[ids[j]]) })
	var ticks plot.ConstantTicks
	step := max(1, (len(ids)+3)/4) // at most four dates fit under the plot
	for i, id := range ids {
		pos[id] = float64(i)
		label := ""
		if i%step == 0 {
			label = byStart[id].UTC().Format("01-02 15:04")
		}
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: label})
	}
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = -0.5, float64(len(ids))-0.5
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, pt := range s.Points {
			lo, hi := pt.Stat.Median, pt.Stat.Median
			if pt.Stat.HasCI() {
				lo, hi = pt.Stat.Lo, pt.Stat.Hi
			}
			ymin, ymax = math.Min(ymin, lo), math.Max(ymax, hi)
		}
	}
	unit := workload.Unit("")
	if len(ss) > 0 {
		unit = ss[0].Unit
	}
	div, ulabel := scale(unit, ymax)
	logY := ymin > 0 && ymax/ymin > 20
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Y.Min, p.Y.Max = ymin/div/1.3, ymax/div*1.3
		p.Y.Label.Text = ulabel + l.t("logscale")
	} else {
		p.Y.Tick.Marker = sigTicks{}
		p.Y.Min, p.Y.Max = math.Min(0, ymin/div), ymax/div*1.1
		p.Y.Label.Text = ulabel
	}
	p.Add(plotter.NewGrid())
	leg := newLegend(l)
	legendW := 2 * vg.Centimeter
	var called plotter.XYs
	for _, s := range ss {
		var pts plotter.XYs
		var eb errBarsY
		for _, pt := range s.Points {
			x, y := pos[pt.RunID], pt.Stat.Median/div
			pts = append(pts, plotter.XY{X: x, Y: y})
			if pt.Stat.HasCI() {
				eb.add(x, y, pt.Stat.Lo/div, pt.Stat.Hi/div)
			}
			if pt.Called {
				called = append(called, plotter.XY{X: x, Y: y})
			}
		}
		line, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		line.Color, line.Width = colorOf(s.Runtime), vg.Points(1.5)
		sc.GlyphStyle.Color, sc.GlyphStyle.Radius, sc.GlyphStyle.Shape = colorOf(s.Runtime), vg.Points(2.5), draw.CircleGlyph{}
		p.Add(line, sc)
		if eb.Len() > 0 {
			if e, err := plotter.NewYErrorBars(&eb); err == nil {
				e.Color, e.CapWidth = colorOf(s.Runtime), vg.Points(4)
				p.Add(e)
			}
		}
		leg.Add(s.Runtime, line, sc)
		legendW = max(legendW, leg.TextStyle.Width(s.Runtime)+leg.ThumbnailWidth+vg.Points(12))
	}
	if len(called) > 0 {
		if sc, err := plotter.NewScatter(called); err == nil {
			sc.GlyphStyle.Color = color.RGBA{192, 57, 43, 255}
			sc.GlyphStyle.Radius = vg.Points(7)
			sc.GlyphStyle.Shape = draw.CircleGlyph{}
			ring := &ringGlyphs{Scatter: sc}
			p.Add(ring)
			leg.Add(l.t("h_called"), ring)
			legendW = max(legendW, leg.TextStyle.Width(l.t("h_called"))+leg.ThumbnailWidth+vg.Points(12))
		}
	}
	h := max(chartH, vg.Points(48)+vg.Length(len(ss)+1)*leg.TextStyle.Font.Size*1.35)
	return withLegend(p, leg, min(legendW*1.2, chartW/2)), h
}

// ringGlyphs draws a scatter's points as open rings (change points).
type ringGlyphs struct{ *plotter.Scatter }

func (r *ringGlyphs) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	ls := draw.LineStyle{Color: r.GlyphStyle.Color, Width: vg.Points(2)}
	for _, pt := range r.XYs {
		c.StrokeLines(ls, ringPoints(vg.Point{X: tx(pt.X), Y: ty(pt.Y)}, r.GlyphStyle.Radius))
	}
}

func (r *ringGlyphs) Thumbnail(c *draw.Canvas) {
	ls := draw.LineStyle{Color: r.GlyphStyle.Color, Width: vg.Points(2)}
	ctr := vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2}
	c.StrokeLines(ls, ringPoints(ctr, min(r.GlyphStyle.Radius, (c.Max.Y-c.Min.Y)/2)))
}

func ringPoints(ctr vg.Point, rad vg.Length) []vg.Point {
	var pts []vg.Point
	for i := 0; i <= 24; i++ {
		a := 2 * math.Pi * float64(i) / 24
		pts = append(pts, vg.Point{X: ctr.X + rad*vg.Length(math.Cos(a)), Y: ctr.Y + rad*vg.Length(math.Sin(a))})
	}
	return pts
}

// errBarsY is the 95% interval of each point of a history line.
type errBarsY struct{ xs, ys, lo, hi []float64 }

func (e *errBarsY) add(x, y, lo, hi float64) {
	e.xs, e.ys, e.lo, e.hi = append(e.xs, x), append(e.ys, y), append(e.lo, lo), append(e.hi, hi)
}
func (e *errBarsY) Len() int                    { return len(e.xs) }
func (e *errBarsY) XY(i int) (float64, float64) { return e.xs[i], e.ys[i] }
func (e *errBarsY) YError(i int) (float64, float64) {
	return e.ys[i] - e.lo[i], e.hi[i] - e.ys[i]
}

type historyPage struct {
	Lang, Title, Intro string
	Notes, Skipped     []string
	Groups             []historyGroupHTML
}

type historyGroupHTML struct {
	ID, Heading, Setup string
	Runs               []string
	Charts             []htmlChart
	Changes            template.HTML
}

// historyTmpl is DIR/history/index.html: one file, as self-contained as
// the report's.
var historyTmpl = template.Must(template.New("history").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; }
th { background: #f2f2f2; }
td.num { text-align: right; }
figure svg.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
.note { color: #444; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="note">{{.Intro}}</p>
{{range .Notes}}<p class="note">{{.}}</p>
{{end}}{{range .Groups}}<section id="{{.ID}}">
<h2>{{.Heading}}</h2>
<p class="note">{{.Setup}}</p>
<p class="note">{{range $i, $r := .Runs}}{{if $i}} · {{end}}{{$r}}{{end}}</p>
{{.Changes}}
{{range .Charts}}<figure id="chart-{{.ID}}" class="chart-figure">
{{.SVG}}
</figure>
{{end}}</section>
{{end}}{{if .Skipped}}<ul class="note">{{range .Skipped}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body>
</html>
`))
