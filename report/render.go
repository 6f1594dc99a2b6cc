package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"vcbench/bench"
)

// Options control a report.
type Options struct {
	// Lang is the language of the text: "en" (default) or "ko". Chart
	// labels stay in English (the compiled-in chart fonts have no Hangul).
	Lang string
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
	for _, r := range tb.Rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(mapStr(r, mdEscape), " | "))
	}
	fmt.Fprintln(w)
}

func mapStr(ss []string, f func(string) string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return out
}

// WriteMarkdown writes summary.md: the report's tables and explanations
// in Markdown, with links to the chart files.
func WriteMarkdown(w io.Writer, m *Model, charts []Chart) error {
	L := m.Lang
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", t(L, "title"))
	for _, e := range m.Runs {
		if e.Problem != "" {
			fmt.Fprintf(&b, "> **%s%s: %s.** %s\n\n", labelPrefix(e.Label), t(L, "notcomplete"), e.Problem, t(L, "notcomplete2"))
		}
	}
	if len(m.TCG) > 0 {
		fmt.Fprintf(&b, "> **TCG** — %s\n\n", fmt.Sprintf(t(L, "tcg"), strings.Join(m.TCG, ", ")))
	}
	fmt.Fprintf(&b, "## %s\n\n", t(L, "env"))
	for _, e := range m.Runs {
		if e.Label != "" {
			fmt.Fprintf(&b, "### %s\n\n", e.Label)
		}
		writeMDTable(&b, m.envTable(e))
		writeMDTable(&b, m.runtimeTable(e))
	}
	fmt.Fprintf(&b, "## %s\n\n", t(L, "summary"))
	switch {
	case m.densityOnly():
		fmt.Fprintf(&b, "%s\n\n", t(L, "d_nostats"))
	case len(m.Stats) == 0:
		fmt.Fprintf(&b, "%s\n\n", t(L, "nosamples"))
	default:
		fmt.Fprintf(&b, "%s\n\n", t(L, "summaryhow"))
		writeMDTable(&b, m.summaryTable())
	}
	fmt.Fprintf(&b, "## %s\n\n", t(L, "ratios"))
	switch {
	case m.densityOnly():
		fmt.Fprintf(&b, "%s\n\n", t(L, "d_noratios"))
	case len(m.Ratios) == 0:
		fmt.Fprintf(&b, "%s\n\n", t(L, "nonative"))
	default:
		fmt.Fprintf(&b, "%s\n\n", t(L, "ratiohow"))
		writeMDTable(&b, m.ratioTable())
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
	if other := otherCharts(charts); len(other) > 0 {
		fmt.Fprintf(&b, "## %s\n\n", t(L, "charts"))
		for _, c := range other {
			fmt.Fprintf(&b, "### %s\n\n![%s](charts/%s.svg)\n\n%s\n\n", c.Title, c.Title, c.ID, explain(L, c.Family))
		}
	}
	fmt.Fprintf(&b, "## %s\n\n", t(L, "views"))
	if len(m.Views) == 0 {
		fmt.Fprintf(&b, "%s\n\n", t(L, "noviews"))
	} else {
		fmt.Fprintf(&b, "%s\n\n", t(L, "viewshow"))
		writeMDTable(&b, m.viewTable())
	}
	if ws := m.warningList(); len(ws) > 0 {
		fmt.Fprintf(&b, "## %s\n\n", t(L, "warnings"))
		for _, w := range ws {
			fmt.Fprintf(&b, "- %s\n", w)
		}
		fmt.Fprintln(&b)
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
	Env      table
	Runtimes table
}

type htmlPage struct {
	Lang        string
	T           map[string]string
	TCG         string
	Runs        []htmlRun
	Summary     table
	Ratios      table
	Charts      []htmlChart
	Views       table
	Warnings    []string
	HasStats    bool
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
	Table      table
	Notes      []string
}

func writeHTML(w io.Writer, m *Model, charts []Chart) error {
	L := m.Lang
	p := htmlPage{Lang: L, T: map[string]string{}, HasStats: len(m.Stats) > 0, DensityOnly: m.densityOnly()}
	for k := range ui {
		p.T[k] = t(L, k)
	}
	if len(m.TCG) > 0 {
		p.TCG = fmt.Sprintf(t(L, "tcg"), strings.Join(m.TCG, ", "))
	}
	for _, e := range m.Runs {
		p.Runs = append(p.Runs, htmlRun{Label: e.Label, Problem: e.Problem, Env: m.envTable(e), Runtimes: m.runtimeTable(e)})
	}
	if len(m.Stats) > 0 {
		p.Summary = m.summaryTable()
	}
	if len(m.Ratios) > 0 {
		p.Ratios = m.ratioTable()
	}
	if len(m.Views) > 0 {
		p.Views = m.viewTable()
	}
	for _, c := range charts {
		hc := htmlChart{ID: c.ID, Title: c.Title, Note: explain(L, c.Family), SVG: inlineSVG(c.SVG, c.Title)}
		if c.isDensity() {
			if p.Density == nil {
				p.Density = &htmlDensity{}
			}
			p.Density.Charts = append(p.Density.Charts, hc)
			continue
		}
		p.Charts = append(p.Charts, hc)
	}
	if len(m.Density) > 0 && p.Density == nil {
		p.Density = &htmlDensity{}
	}
	for i := range m.Density {
		d := &m.Density[i]
		sw := htmlSweep{ID: "density-" + shortUnit(d.Series()), Series: d.Series(), Table: m.densityTable(d)}
		for _, note := range []string{m.densityFitsNote(d), m.densityVMNote(d)} {
			if note != "" {
				sw.Notes = append(sw.Notes, note)
			}
		}
		p.Density.Sweeps = append(p.Density.Sweeps, sw)
	}
	p.Warnings = m.warningList()
	if err := pageTmpl.Execute(w, p); err != nil {
		return fmt.Errorf("render index.html: %w", err)
	}
	return nil
}

// pageTmpl is index.html: one file, styles inline, no scripts, no fonts,
// nothing fetched from anywhere, so it reads the same from file://.
var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{{.T.title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; white-space: nowrap; }
.banner { padding: .8em 1em; margin: 1em 0; border-radius: 4px; font-weight: 500; }
.banner.status { background: #fde2e1; border: 2px solid #c0392b; }
.banner.tcg { background: #fff4d6; border: 2px solid #d68910; }
figure { margin: 1.5em 0; }
figure svg.chart { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { max-width: 60em; }
.note { color: #444; }
.env { display: flex; flex-wrap: wrap; gap: 2em; }
</style>
</head>
<body>
<h1>{{.T.title}}</h1>
{{range .Runs}}{{if .Problem}}<div class="banner status" id="status-banner"><strong>{{if .Label}}{{.Label}}: {{end}}{{$.T.notcomplete}}: {{.Problem}}.</strong> {{$.T.notcomplete2}}</div>
{{end}}{{end}}{{if .TCG}}<div class="banner tcg" id="tcg-banner"><strong>TCG</strong> — {{.TCG}}</div>
{{end}}
<h2>{{.T.env}}</h2>
{{range .Runs}}{{if .Label}}<h3>{{.Label}}</h3>{{end}}
<div class="env">
<table class="envtable">{{range .Env.Rows}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
<table class="runtimes"><tr>{{range .Runtimes.Head}}<th>{{.}}</th>{{end}}</tr>{{range .Runtimes.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>
</div>
{{end}}
<h2>{{.T.summary}}</h2>
{{if .HasStats}}<p class="note">{{.T.summaryhow}}</p>
<table id="summary"><tr>{{range .Summary.Head}}<th>{{.}}</th>{{end}}</tr>{{range .Summary.Rows}}<tr>{{range $i, $c := .}}{{if lt $i 3}}<td>{{$c}}</td>{{else}}<td class="num">{{$c}}</td>{{end}}{{end}}</tr>{{end}}</table>
{{else if .DensityOnly}}<p>{{.T.d_nostats}}</p>{{else}}<p>{{.T.nosamples}}</p>{{end}}
<h2>{{.T.ratios}}</h2>
{{if .Ratios.Rows}}<p class="note">{{.T.ratiohow}}</p>
<table id="ratios"><tr>{{range .Ratios.Head}}<th>{{.}}</th>{{end}}</tr>{{range .Ratios.Rows}}<tr>{{range $i, $c := .}}{{if lt $i 3}}<td>{{$c}}</td>{{else}}<td class="num">{{$c}}</td>{{end}}{{end}}</tr>{{end}}</table>
{{else if .DensityOnly}}<p>{{.T.d_noratios}}</p>{{else}}<p>{{.T.nonative}}</p>{{end}}
{{with .Density}}<section id="density">
<h2>{{$.T.density}}</h2>
<p class="note">{{$.T.d_intro}}</p>
{{range .Charts}}<figure id="chart-{{.ID}}" class="chart-figure">
{{.SVG}}
<figcaption><strong>{{.Title}}</strong><br><span class="note">{{.Note}}</span></figcaption>
</figure>
{{end}}{{range .Sweeps}}<h3>{{.Series}}</h3>
<table id="{{.ID}}" class="density"><tr>{{range .Table.Head}}<th>{{.}}</th>{{end}}</tr>{{range .Table.Rows}}<tr><th>{{index . 0}}</th><td class="num">{{index . 1}}</td></tr>{{end}}</table>
{{range .Notes}}<p class="note">{{.}}</p>
{{end}}{{end}}<p class="note">{{$.T.d_ksmexpl}}</p>
</section>
{{end}}{{if .Charts}}<h2>{{.T.charts}}</h2>
{{range .Charts}}<figure id="chart-{{.ID}}" class="chart-figure">
{{.SVG}}
<figcaption><strong>{{.Title}}</strong><br><span class="note">{{.Note}}</span></figcaption>
</figure>
{{end}}{{end}}
<h2>{{.T.views}}</h2>
{{if .Views.Rows}}<p class="note">{{.T.viewshow}}</p>
<table id="views"><tr>{{range .Views.Head}}<th>{{.}}</th>{{end}}</tr>{{range .Views.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table>
{{else}}<p>{{.T.noviews}}</p>{{end}}
{{if .Warnings}}<h2>{{.T.warnings}}</h2>
<ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body>
</html>
`))
