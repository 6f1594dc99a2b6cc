package report

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"vcbench/bench"
	"vcbench/workload"
)

// Options control a report.
type Options struct {
	// Lang is the language of the text: "en" (default) or "ko". Korean
	// charts are set in HangulFont.
	Lang string
	// HangulFont is the TTF with Hangul that Korean charts are set in;
	// "" is DefaultHangulFont (Debian's fonts-nanum). When it cannot be
	// read, the charts are drawn in English and the report says why.
	HangulFont string
	// Labels name the runs of WriteRuns (e.g. host names); missing labels
	// default to the run's host name, or its id.
	Labels []string
	// NoPNG skips the PNG copies of the charts (SVG is always written).
	NoPNG bool
}

// Validate checks the options.
func (o Options) Validate() error {
	switch o.Lang {
	case "", LangEnglish, LangKorean:
		return nil
	}
	return fmt.Errorf("report language %q: want %q or %q", o.Lang, LangEnglish, LangKorean)
}

// Write writes the report of one run into outDir (created if needed):
// index.html, summary.md and charts/*.svg|png. It returns index.html's path.
func Write(run *bench.Run, outDir string, opts Options) (indexPath string, err error) {
	return WriteRuns([]*bench.Run{run}, outDir, opts)
}

// WriteRuns writes one report showing several runs (for example the same
// scenario on several hosts) side by side: every series is drawn as
// "label/runtime" and every run gets its own environment block. With one
// run it is the same as Write.
func WriteRuns(runs []*bench.Run, outDir string, opts Options) (indexPath string, err error) {
	if err := opts.Validate(); err != nil {
		return "", err
	}
	lang := opts.Lang
	if lang == "" {
		lang = LangEnglish
	}
	inputs := make([]Input, len(runs))
	for i, r := range runs {
		inputs[i].Run = r
		if i < len(opts.Labels) {
			inputs[i].Label = opts.Labels[i]
		}
	}
	m, err := Build(inputs, lang)
	if err != nil {
		return "", err
	}
	return WriteModel(m, outDir, opts)
}

// WriteModel renders a model built by Build (or by another source, such as
// a Prometheus query) into outDir.
func WriteModel(m *Model, outDir string, opts Options) (string, error) {
	if opts.HangulFont != "" {
		m.HangulFont = opts.HangulFont
	}
	charts, err := renderCharts(m, !opts.NoPNG)
	if err != nil {
		return "", fmt.Errorf("draw charts: %w", err)
	}
	chartDir := filepath.Join(outDir, "charts")
	if err := os.MkdirAll(chartDir, 0o755); err != nil {
		return "", fmt.Errorf("create report directory: %w", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(charts))
	for i, c := range charts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := os.WriteFile(filepath.Join(chartDir, c.ID+".svg"), c.SVG, 0o644); err != nil {
				errs[i] = fmt.Errorf("write chart: %w", err)
				return
			}
			if c.PNG != nil {
				if err := os.WriteFile(filepath.Join(chartDir, c.ID+".png"), c.PNG, 0o644); err != nil {
					errs[i] = fmt.Errorf("write chart: %w", err)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return "", err
		}
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, m, charts); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(outDir, "summary.md"), md.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("write summary.md: %w", err)
	}
	var page bytes.Buffer
	if err := writeHTML(&page, m, charts); err != nil {
		return "", err
	}
	index := filepath.Join(outDir, "index.html")
	if err := os.WriteFile(index, page.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("write index.html: %w", err)
	}
	return index, nil
}

var mdEscaper = strings.NewReplacer(`\`, `\\`, "|", `\|`, "\r\n", " ", "\n", " ", "\r", " ")

// mdEscape keeps table cells on one line and pipes out of the syntax.
// Markdown ends a line at a carriage return as well as a newline. A
// backslash is escaped too: before a pipe it would escape the pipe's
// escape and let the pipe split the cell.
func mdEscape(s string) string { return mdEscaper.Replace(s) }

func writeMDTable(w io.Writer, tb table) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(mapStr(tb.Head, mdEscape), " | "))
	seps := make([]string, len(tb.Head))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(seps, " | "))
	// Why a cell is empty: one numbered note per distinct reason.
	var notes []string
	for ri, r := range tb.Rows {
		cells := mapStr(r, mdEscape)
		for ci := range cells {
			why, ok := tb.Tips[[2]int{ri, ci}]
			if !ok {
				continue
			}
			n := slices.Index(notes, why)
			if n < 0 {
				notes = append(notes, why)
				n = len(notes) - 1
			}
			cells[ci] += fmt.Sprintf(" (%d)", n+1)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	for i, why := range notes {
		fmt.Fprintf(w, "(%d) %s  \n", i+1, mdEscape(why))
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
}

func mapStr(ss []string, f func(string) string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// WriteMarkdown writes summary.md: the findings first, then failures and
// warnings, the details by workload, the density section, what each
// instance saw and the environment, with links to the chart files.
func WriteMarkdown(w io.Writer, m *Model, charts []Chart) error {
	L := m.Lang
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", t(L, "title"))
	for _, e := range m.Runs {
		if e.Problem != "" {
			fmt.Fprintf(&b, "> **%s%s: %s.** %s\n\n", labelPrefix(e.Label), t(L, "notcomplete"), e.Problem, t(L, "notcomplete2"))
		}
	}
	fmt.Fprintf(&b, "## %s\n\n", t(L, "findings"))
	if len(m.Findings) == 0 {
		fmt.Fprintf(&b, "%s\n\n", t(L, "nofindings"))
	} else {
		chartIDs := map[string]bool{}
		for _, c := range charts {
			chartIDs["chart-"+c.ID] = true
		}
		for _, f := range m.Findings {
			link := ""
			if chartIDs[f.Anchor] {
				link = fmt.Sprintf(" ([chart](charts/%s.svg))", strings.TrimPrefix(f.Anchor, "chart-"))
			}
			fmt.Fprintf(&b, "- %s%s\n", f.Text, link)
		}
		fmt.Fprintln(&b)
	}
	if c := overviewOf(charts); c != nil {
		fmt.Fprintf(&b, "![%s](charts/%s.svg)\n\n%s\n\n", c.Title, c.ID, explain(L, c.Family))
	}
	b.WriteString(m.felterMarkdown()) // felter2015 only (felter.go)
	if len(m.Failures) > 0 {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", t(L, "failuressec"), t(L, "failureshow"))
		writeMDTable(&b, m.failureTable())
	}
	if ws := m.warningItems(); len(ws) > 0 || len(m.TCG) > 0 {
		fmt.Fprintf(&b, "## %s\n\n", t(L, "warnings"))
		if len(m.TCG) > 0 {
			fmt.Fprintf(&b, "- **TCG** — %s\n", fmt.Sprintf(t(L, "tcg"), strings.Join(m.TCG, ", ")))
		}
		for _, w := range ws {
			fmt.Fprintf(&b, "- %s\n", w)
		}
		fmt.Fprintln(&b)
	}
	fmt.Fprintf(&b, "## %s\n\n", t(L, "details"))
	switch {
	case m.densityOnly():
		fmt.Fprintf(&b, "%s\n\n%s\n\n", t(L, "d_nostats"), t(L, "d_noratios"))
	case len(m.Stats) == 0:
		fmt.Fprintf(&b, "%s\n\n", t(L, "nosamples"))
	default:
		fmt.Fprintf(&b, "%s\n\n", t(L, "summaryhow"))
		if len(m.Ratios) > 0 {
			fmt.Fprintf(&b, "%s\n\n", t(L, "ratiohow"))
		} else {
			fmt.Fprintf(&b, "%s\n\n", t(L, "nonative"))
		}
	}
	for _, g := range m.groups(charts) {
		fmt.Fprintf(&b, "### %s\n\n", g.Title)
		if len(g.Summary.Rows) > 0 {
			fmt.Fprintf(&b, "**%s**\n\n", t(L, "summary"))
			writeMDTable(&b, g.Summary)
		}
		if len(g.Ratios.Rows) > 0 {
			fmt.Fprintf(&b, "**%s**\n\n", t(L, "ratios"))
			writeMDTable(&b, g.Ratios)
		}
		for _, c := range g.Charts {
			fmt.Fprintf(&b, "![%s](charts/%s.svg)\n\n%s\n\n", c.Title, c.ID, explain(L, c.Family))
		}
	}
	if len(m.Density) > 0 {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", t(L, "density"), t(L, "d_intro"))
		for _, c := range charts {
			if c.isDensity() {
				fmt.Fprintf(&b, "### %s\n\n![%s](charts/%s.svg)\n\n%s\n\n", c.Title, c.Title, c.ID, explain(L, c.Family))
			}
		}
		for i := range m.Density {
			d := &m.Density[i]
			fmt.Fprintf(&b, "### %s\n\n", d.Series())
			writeMDTable(&b, m.densityTable(d))
			for _, note := range []string{m.densityFitsNote(d), m.densityVMNote(d)} {
				if note != "" {
					fmt.Fprintf(&b, "%s\n\n", note)
				}
			}
		}
		fmt.Fprintf(&b, "%s\n\n", t(L, "d_ksmexpl"))
	}
	fmt.Fprintf(&b, "## %s\n\n", t(L, "views"))
	if len(m.Views) == 0 {
		fmt.Fprintf(&b, "%s\n\n", t(L, "noviews"))
	} else {
		fmt.Fprintf(&b, "%s\n\n", t(L, "viewshow"))
		writeMDTable(&b, m.viewTable())
	}
	fmt.Fprintf(&b, "## %s\n\n", t(L, "env"))
	for _, e := range m.Runs {
		if e.Label != "" {
			fmt.Fprintf(&b, "### %s\n\n", e.Label)
		}
		writeMDTable(&b, m.envTable(e))
		writeMDTable(&b, m.runtimeTable(e))
	}
	_, err := w.Write(bytes.TrimRight(b.Bytes(), "\n"))
	if err == nil {
		_, err = io.WriteString(w, "\n")
	}
	if err != nil {
		return fmt.Errorf("write markdown: %w", err)
	}
	return nil
}

// overviewOf is the overview chart among charts, nil when there is none.
func overviewOf(charts []Chart) *Chart {
	for i := range charts {
		if charts[i].ID == overviewID {
			return &charts[i]
		}
	}
	return nil
}

// group is one workload's part of the details: its summary and ratio
// rows and its charts.
type group struct {
	ID, Title string
	Summary   table
	Ratios    table
	Charts    []Chart
}

// groups splits the details by workload, in report order; the host CPU
// chart, which spans workloads, comes last in a group of its own.
func (m *Model) groups(charts []Chart) []group {
	var out []group
	for _, w := range m.workloads() {
		g := group{ID: "wl-" + shortUnit(workload.Unit(w)), Title: w, Summary: m.summaryTable(w), Ratios: m.ratioTable(w)}
		for _, c := range charts {
			if !c.isDensity() && c.Family != nil && c.Family.Kind != "host-cpu" && c.Family.Workload == w {
				g.Charts = append(g.Charts, c)
			}
		}
		out = append(out, g)
	}
	for _, c := range charts {
		if c.Family != nil && c.Family.Kind == "host-cpu" {
			out = append(out, group{ID: "wl-host-cpu", Title: t(m.Lang, "hostcpu"), Charts: []Chart{c}})
		}
	}
	return out
}

// densityOnly reports whether the model has density sweeps and nothing
// else to summarise.
func (m *Model) densityOnly() bool { return len(m.Stats) == 0 && len(m.Density) > 0 }

// otherCharts are the charts outside the density section.
func otherCharts(charts []Chart) []Chart {
	var out []Chart
	for _, c := range charts {
		if !c.isDensity() {
			out = append(out, c)
		}
	}
	return out
}

func labelPrefix(label string) string {
	if label == "" {
		return ""
	}
	return label + ": "
}

var (
	svgProlog = regexp.MustCompile(`^(?s)<\?xml[^>]*\?>\s*(<!--.*?-->\s*)?`)
	svgSize   = regexp.MustCompile(`^<svg width="[^"]*" height="[^"]*"`)
)

// inlineSVG prepares a chart's SVG for embedding in HTML: no XML prolog,
// and a width that follows the page.
func inlineSVG(svg []byte, title string) template.HTML {
	s := svgProlog.ReplaceAllString(string(svg), "")
	s = svgSize.ReplaceAllString(s, `<svg role="img" aria-label="`+template.HTMLEscapeString(title)+`" class="chart" width="100%"`)
	return template.HTML(s)
}

type htmlChart struct {
	ID, Title, Note string
	SVG             template.HTML
}

type htmlRun struct {
	Label    string
	Problem  string
	Env      template.HTML
	Runtimes template.HTML
}

type htmlGroup struct {
	ID, Title string
	Summary   template.HTML
	Ratios    template.HTML
	Charts    []htmlChart
}

type htmlPage struct {
	Lang        string
	T           map[string]string
	TCG         string
	Runs        []htmlRun
	Findings    []Finding
	Overview    *htmlChart
	Failures    template.HTML
	Warnings    []string
	Groups      []htmlGroup
	Views       template.HTML
	HasStats    bool
	HasRatios   bool
	DensityOnly bool
	Density     *htmlDensity
}

// htmlDensity is the density section of index.html.
type htmlDensity struct {
	Charts []htmlChart
	Sweeps []htmlSweep
}

type htmlSweep struct {
	ID, Series string
	Table      template.HTML
	Notes      []string
}

// htmlTable renders tb with every text escaped; columns from numFrom on
// are numbers (right-aligned), and a cell with a tip carries it as a
// tooltip. head draws the head row; keyCol makes each row's first cell a
// header (key/value tables).
func htmlTable(tb table, id, class string, numFrom int, head, keyCol bool) template.HTML {
	var b strings.Builder
	b.WriteString("<table")
	if id != "" {
		fmt.Fprintf(&b, ` id="%s"`, html.EscapeString(id))
	}
	if class != "" {
		fmt.Fprintf(&b, ` class="%s"`, html.EscapeString(class))
	}
	b.WriteString(">")
	if head {
		b.WriteString("<tr>")
		for _, h := range tb.Head {
			fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
		}
		b.WriteString("</tr>")
	}
	for ri, r := range tb.Rows {
		b.WriteString("<tr>")
		for ci, c := range r {
			tag := "td"
			if keyCol && ci == 0 {
				tag = "th"
			}
			b.WriteString("<" + tag)
			if numFrom > 0 && ci >= numFrom {
				b.WriteString(` class="num"`)
			}
			if why, ok := tb.Tips[[2]int{ri, ci}]; ok {
				fmt.Fprintf(&b, ` title="%s"`, html.EscapeString(why))
			}
			fmt.Fprintf(&b, ">%s</%s>", html.EscapeString(c), tag)
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</table>")
	return template.HTML(b.String())
}

func writeHTML(w io.Writer, m *Model, charts []Chart) error {
	L := m.Lang
	p := htmlPage{Lang: L, T: map[string]string{}, HasStats: len(m.Stats) > 0, HasRatios: len(m.Ratios) > 0,
		DensityOnly: m.densityOnly(), Findings: m.Findings}
	for k := range ui {
		p.T[k] = t(L, k)
	}
	if len(m.TCG) > 0 {
		p.TCG = fmt.Sprintf(t(L, "tcg"), strings.Join(m.TCG, ", "))
	}
	for _, e := range m.Runs {
		p.Runs = append(p.Runs, htmlRun{Label: e.Label, Problem: e.Problem,
			Env: htmlTable(m.envTable(e), "", "envtable", 0, false, true), Runtimes: htmlTable(m.runtimeTable(e), "", "runtimes", 0, true, false)})
	}
	if len(m.Failures) > 0 {
		p.Failures = htmlTable(m.failureTable(), "failure-list", "failures", 0, true, false)
	}
	p.Warnings = m.warningItems()
	hc := func(c Chart) htmlChart {
		return htmlChart{ID: c.ID, Title: c.Title, Note: explain(L, c.Family), SVG: inlineSVG(c.SVG, c.Title)}
	}
	if c := overviewOf(charts); c != nil {
		o := hc(*c)
		p.Overview = &o
	}
	for _, g := range m.groups(charts) {
		hg := htmlGroup{ID: g.ID, Title: g.Title}
		if len(g.Summary.Rows) > 0 {
			hg.Summary = htmlTable(g.Summary, "summary-"+strings.TrimPrefix(g.ID, "wl-"), "summary", 3, true, false)
		}
		if len(g.Ratios.Rows) > 0 {
			hg.Ratios = htmlTable(g.Ratios, "ratios-"+strings.TrimPrefix(g.ID, "wl-"), "ratios", 3, true, false)
		}
		for _, c := range g.Charts {
			hg.Charts = append(hg.Charts, hc(c))
		}
		p.Groups = append(p.Groups, hg)
	}
	p.Groups = append(m.felterGroup(), p.Groups...) // felter2015 only (felter.go)
	if len(m.Views) > 0 {
		p.Views = htmlTable(m.viewTable(), "views", "", 0, true, false)
	}
	for _, c := range charts {
		if c.isDensity() {
			if p.Density == nil {
				p.Density = &htmlDensity{}
			}
			p.Density.Charts = append(p.Density.Charts, hc(c))
		}
	}
	if len(m.Density) > 0 && p.Density == nil {
		p.Density = &htmlDensity{}
	}
	for i := range m.Density {
		d := &m.Density[i]
		id := "density-" + shortUnit(workload.Unit(d.Series()))
		sw := htmlSweep{ID: id, Series: d.Series(), Table: htmlTable(m.densityTable(d), id, "density", 1, true, true)}
		for _, note := range []string{m.densityFitsNote(d), m.densityVMNote(d)} {
			if note != "" {
				sw.Notes = append(sw.Notes, note)
			}
		}
		p.Density.Sweeps = append(p.Density.Sweeps, sw)
	}
	if err := pageTmpl.Execute(w, p); err != nil {
		return fmt.Errorf("render index.html: %w", err)
	}
	return nil
}

// pageTmpl is index.html: one file, styles inline, no scripts, no fonts,
// nothing fetched from anywhere, so it reads the same from file://. The
// answer comes first (findings, failures, warnings); the details follow,
// one collapsible group per workload.
var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{.T.title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f2f2f2; }
td.num { text-align: right; }
td[title] { cursor: help; color: #666; }
td[title]::after { content: " ?"; font-size: .75em; vertical-align: super; color: #888; }
.banner { padding: .8em 1em; margin: 1em 0; border-radius: 4px; font-weight: 500; }
.banner.status { background: #fde2e1; border: 2px solid #c0392b; }
.banner.tcg { background: #fff4d6; border: 2px solid #d68910; list-style: none; }
#findings li { margin: .35em 0; }
#findings a { font-size: .85em; white-space: nowrap; }
#failures { border-left: 4px solid #c0392b; padding-left: 1em; }
table.failures td:nth-child(-n+3), table.failures th:nth-child(-n+3) { white-space: nowrap; overflow-wrap: normal; }
#warnings { border-left: 4px solid #d68910; padding-left: 1em; }
details { border: 1px solid #ddd; border-radius: 4px; margin: .6em 0; padding: .2em .8em; }
details > summary { cursor: pointer; font-weight: 600; font-size: 1.1em; padding: .3em 0; }
figure { margin: 1.5em 0; }
figure svg.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { max-width: 60em; }
.note { color: #444; }
.env { display: flex; flex-wrap: wrap; gap: 2em; }
.env table.runtimes td:nth-child(7) { min-width: 14em; }
</style>
</head>
<body>
<h1>{{.T.title}}</h1>
{{range .Runs}}{{if .Problem}}<div class="banner status" id="status-banner"><strong>{{if .Label}}{{.Label}}: {{end}}{{$.T.notcomplete}}: {{.Problem}}.</strong> {{$.T.notcomplete2}}</div>
{{end}}{{end}}
<section id="findings">
<h2>{{.T.findings}}</h2>
{{if .Findings}}<ul>{{range .Findings}}<li class="finding {{.Topic}}">{{.Text}}{{if .Anchor}} <a href="#{{.Anchor}}">→</a>{{end}}</li>
{{end}}</ul>{{else}}<p>{{.T.nofindings}}</p>{{end}}
{{with .Overview}}<figure id="chart-{{.ID}}" class="chart-figure">
{{.SVG}}
<figcaption><strong>{{.Title}}</strong><br><span class="note">{{.Note}}</span></figcaption>
</figure>
{{end}}</section>
{{if .Failures}}<section id="failures">
<h2>{{.T.failuressec}}</h2>
<p class="note">{{.T.failureshow}}</p>
{{.Failures}}
</section>
{{end}}{{if or .TCG .Warnings}}<section id="warnings">
<h2>{{.T.warnings}}</h2>
<ul>{{if .TCG}}<li class="banner tcg" id="tcg-banner"><strong>TCG</strong> — {{.TCG}}</li>{{end}}{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>
</section>
{{end}}<section id="details">
<h2>{{.T.details}}</h2>
{{if .HasStats}}<p class="note">{{.T.summaryhow}} {{.T.dashnote}}</p>
{{if .HasRatios}}<p class="note">{{.T.ratiohow}}</p>{{else}}<p>{{.T.nonative}}</p>{{end}}
{{else if .DensityOnly}}<p>{{.T.d_nostats}}</p>{{else}}<p>{{.T.nosamples}}</p>{{end}}
{{range .Groups}}<details id="{{.ID}}"><summary>{{.Title}}</summary>
{{if .Summary}}<h4>{{$.T.summary}}</h4>
{{.Summary}}
{{end}}{{if .Ratios}}<h4>{{$.T.ratios}}</h4>
{{.Ratios}}
{{end}}{{range .Charts}}<figure id="chart-{{.ID}}" class="chart-figure">
{{.SVG}}
<figcaption><strong>{{.Title}}</strong><br><span class="note">{{.Note}}</span></figcaption>
</figure>
{{end}}</details>
{{end}}</section>
{{with .Density}}<section id="density">
<h2>{{$.T.density}}</h2>
<p class="note">{{$.T.d_intro}}</p>
{{range .Charts}}<figure id="chart-{{.ID}}" class="chart-figure">
{{.SVG}}
<figcaption><strong>{{.Title}}</strong><br><span class="note">{{.Note}}</span></figcaption>
</figure>
{{end}}{{range .Sweeps}}<h3>{{.Series}}</h3>
{{.Table}}
{{range .Notes}}<p class="note">{{.}}</p>
{{end}}{{end}}<p class="note">{{$.T.d_ksmexpl}}</p>
</section>
{{end}}<details id="views-section"><summary>{{.T.views}}</summary>
{{if .Views}}<p class="note">{{.T.viewshow}}</p>
{{.Views}}
{{else}}<p>{{.T.noviews}}</p>{{end}}
</details>
<details id="environment"><summary>{{.T.env}}</summary>
{{range .Runs}}{{if .Label}}<h3>{{.Label}}</h3>{{end}}
<div class="env">
{{.Env}}
{{.Runtimes}}
</div>
{{end}}</details>
</body>
</html>
`))
