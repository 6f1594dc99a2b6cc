package report

import (
	"html"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"

	"vcbench/bench"
	"vcbench/internal/testenv"
)

// svgText is one <text> element of a chart and its box in canvas points
// (y up, as gonum/plot draws).
type svgText struct {
	text                   string
	x0, y0, x1, y1         float64
	canvasW, canvasH, size float64
}

var (
	svgSizeRe = regexp.MustCompile(`<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"`)
	// Outlined (Korean) charts keep their text transparent over the
	// outlines: fill-opacity="0".
	textRe   = regexp.MustCompile(`<text x="([-\d.e]+)" y="([-\d.e]+)" transform="scale\(1, -1\)"(?: fill-opacity="0")?\s*style="font-family:([^;"]*)[^"]*font-size:([\d.]+)px[^"]*">([^<]*)</text>`)
	rotateRe = regexp.MustCompile(`<g transform="rotate\(([-\d.e]+)\)">`)
)

// svgTexts parses the text elements of one gonum/plot SVG and estimates
// each one's extent with the font metrics gonum/plot itself uses
// (Liberation Sans: advance widths, ascent and descent), widened by slack
// for a browser's substitute font.
func svgTexts(t *testing.T, svg string, slack float64) []svgText {
	t.Helper()
	m := svgSizeRe.FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("no <svg width height> in %.200s", svg)
	}
	w, _ := strconv.ParseFloat(m[1], 64)
	h, _ := strconv.ParseFloat(m[2], 64)
	var out []svgText
	// Text elements span two lines (attributes, then style): match over
	// the whole document, tracking rotation groups by position.
	rots := rotateRe.FindAllStringSubmatchIndex(svg, -1)
	ends := regexp.MustCompile(`</g>`).FindAllStringIndex(svg, -1)
	rotAt := func(pos int) float64 {
		for _, r := range rots {
			if r[0] > pos {
				break
			}
			for _, e := range ends {
				if e[0] > r[1] {
					if pos < e[0] {
						a, _ := strconv.ParseFloat(svg[r[2]:r[3]], 64)
						return a
					}
					break
				}
			}
		}
		return 0
	}
	for _, idx := range textRe.FindAllStringSubmatchIndex(svg, -1) {
		get := func(i int) string { return svg[idx[2*i]:idx[2*i+1]] }
		xa, _ := strconv.ParseFloat(get(1), 64)
		ya, _ := strconv.ParseFloat(get(2), 64)
		size, _ := strconv.ParseFloat(get(4), 64)
		text := html.UnescapeString(get(5))
		fnt := font.Font{Typeface: "Liberation", Variant: "Sans"}
		if get(3) == "NanumGothic" {
			f, err := loadHangulFont(DefaultHangulFont)
			if err != nil {
				t.Fatal(err)
			}
			fnt = f
		}
		face := font.DefaultCache.Lookup(fnt, vg.Length(size))
		ext := face.Extents()
		width := face.Width(text).Points() * slack
		// The box in the text's own frame (y up), then rotated.
		lx0, lx1 := xa, xa+width
		ly0, ly1 := -ya-ext.Descent.Points(), -ya+ext.Ascent.Points()
		a := rotAt(idx[0]) * math.Pi / 180
		xs, ys := []float64{}, []float64{}
		for _, p := range [][2]float64{{lx0, ly0}, {lx1, ly0}, {lx0, ly1}, {lx1, ly1}} {
			xs = append(xs, p[0]*math.Cos(a)-p[1]*math.Sin(a))
			ys = append(ys, p[0]*math.Sin(a)+p[1]*math.Cos(a))
		}
		out = append(out, svgText{text: text, x0: minF(xs), x1: maxF(xs), y0: minF(ys), y1: maxF(ys), canvasW: w, canvasH: h, size: size})
	}
	return out
}

func minF(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}

func maxF(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

// textProblems lists the text boxes that overlap each other or leave the
// canvas. Boxes may touch: ascent and descent include the line gap, so a
// tolerance of a tenth of the font size is allowed.
func textProblems(texts []svgText) []string {
	var out []string
	for i, a := range texts {
		tol := a.size * 0.1
		if a.x0 < -tol || a.x1 > a.canvasW+tol || a.y0 < -tol || a.y1 > a.canvasH+tol {
			out = append(out, "cut at the edge: "+strconv.Quote(a.text))
		}
		for _, b := range texts[i+1:] {
			tol := math.Max(a.size, b.size) * 0.12
			if a.x0 < b.x1-tol && b.x0 < a.x1-tol && a.y0 < b.y1-tol && b.y0 < a.y1-tol {
				out = append(out, "overlap: "+strconv.Quote(a.text)+" and "+strconv.Quote(b.text))
			}
		}
	}
	return out
}

// eightRuntimes is run-a widened to eight runtimes (the OCI runtimes,
// Docker and Podman as copies of the container's samples) with every
// host memory metric, so that every chart is as crowded as a full run.
func eightRuntimes(t *testing.T) *bench.Run {
	base := readRun(t, "run-a")
	info := base.Info
	info.Runtimes = nil
	names := []string{"native", "container", "oci-crun", "oci-runc", "oci-runsc", "docker", "podman", "vm"}
	for _, n := range names {
		info.Runtimes = append(info.Runtimes, bench.RuntimeInfo{Name: n, Kind: n})
	}
	info.Runtimes[7].Settings = map[string]string{"accel": "tcg"}
	var samples []bench.Sample
	for _, s := range base.Samples {
		samples = append(samples, s)
		if s.Runtime == "container" {
			for i, n := range []string{"oci-runc", "oci-runsc", "docker", "podman"} {
				c := s
				c.Runtime = n
				c.Value *= 1 + 0.07*float64(i+1)
				samples = append(samples, c)
			}
		}
		if s.Workload == "idle" && s.Metric == "host_pss" {
			c := s
			c.Metric = "host_pss_anon"
			c.Value *= 0.6
			samples = append(samples, c)
			if s.Runtime == "vm" {
				c.Metric = "host_vmm_pss"
				c.Value = 158 << 20
				samples = append(samples, c)
			}
		}
	}
	return writeRun(t, info, samples)
}

// TestChartTextDoesNotOverlap renders every chart of an eight-runtime run
// with all workloads, and of the density sweep, and fails when any two
// pieces of text (tick labels, legend entries, titles) overlap or any is
// cut off at the edge of the chart.
func TestChartTextDoesNotOverlap(t *testing.T) {
	runs := map[string]*bench.Run{"eight runtimes": eightRuntimes(t), "density": readRun(t, "density"), "failures": readRun(t, "run-fail")}
	for _, lang := range []string{LangEnglish, LangKorean} {
		for name, run := range runs {
			t.Run(lang+" "+name, func(t *testing.T) {
				if _, err := loadHangulFont(DefaultHangulFont); err != nil && lang == LangKorean {
					testenv.Require(t, "no Hangul font (Debian package fonts-nanum): %v", err)
				}
				chartsDoNotOverlap(t, run, lang)
			})
		}
	}
}

func chartsDoNotOverlap(t *testing.T, run *bench.Run, lang string) {
	{
		{
			m, err := Build([]Input{{Run: run}}, lang)
			if err != nil {
				t.Fatal(err)
			}
			charts, err := renderCharts(m, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(charts) == 0 {
				t.Fatal("no charts")
			}
			for _, c := range charts {
				texts := svgTexts(t, string(c.SVG), 1.1)
				if len(texts) < 3 {
					t.Errorf("%s: only %d text elements parsed: the test would prove nothing", c.ID, len(texts))
				}
				for _, p := range textProblems(texts) {
					t.Errorf("%s: %s", c.ID, p)
				}
			}
		}
	}
}

// TestTextProblemsSeesOverlap checks the checker on two labels drawn on
// top of each other, one cut at the right edge, and two side by side.
func TestTextProblemsSeesOverlap(t *testing.T) {
	svg := `<svg width="100pt" height="50pt">
<text x="10" y="-20" transform="scale(1, -1)"
	style="font-family:Liberation Sans;font-size:10px">cgroup_usage</text>
<text x="30" y="-20" transform="scale(1, -1)"
	style="font-family:Liberation Sans;font-size:10px">host_overhead</text>
<text x="70" y="-40" transform="scale(1, -1)"
	style="font-family:Liberation Sans;font-size:10px">container (no CI: n&lt;6)</text>
<text x="10" y="-5" transform="scale(1, -1)"
	style="font-family:Liberation Sans;font-size:10px">a</text>
<text x="30" y="-5" transform="scale(1, -1)"
	style="font-family:Liberation Sans;font-size:10px">b</text>
</svg>`
	got := textProblems(svgTexts(t, svg, 1))
	want := []string{`overlap: "cgroup_usage" and "host_overhead"`, `cut at the edge: "container (no CI: n<6)"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
