package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vcbench/bench"
)

// TestHostileNamesEscaped: a run.json can come from anywhere (a colleague's
// results directory), so runtime names and labels that look like markup
// must reach index.html — its tables and the SVG charts inlined in it —
// only as text.
func TestHostileNamesEscaped(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	const evilAttr = `x" onload="alert(2)`
	base := readRun(t, "run-a")
	info := base.Info
	info.Runtimes = append([]bench.RuntimeInfo(nil), info.Runtimes...)
	rename := map[string]string{}
	for i := range info.Runtimes {
		n := info.Runtimes[i].Name + evil
		if i == 1 {
			n = info.Runtimes[i].Name + evilAttr
		}
		rename[info.Runtimes[i].Name] = n
		info.Runtimes[i].Name = n
		info.Runtimes[i].Settings = map[string]string{"network": evil}
	}
	var samples []bench.Sample
	for _, s := range base.Samples {
		s.Runtime = rename[s.Runtime]
		s.Labels = map[string]string{"network": evil}
		samples = append(samples, s)
	}
	run := writeRun(t, info, samples)
	out := t.TempDir()
	index, err := Write(run, out, Options{Lang: "en", NoPNG: true})
	if err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	if !strings.Contains(page, "<svg") {
		t.Fatal("no inline SVG in the page: the test would prove nothing")
	}
	for _, bad := range []string{"<script>alert", `" onload="`} {
		if i := strings.Index(page, bad); i >= 0 {
			t.Errorf("index.html carries %q unescaped: …%s…", bad, page[max(0, i-80):min(len(page), i+80)])
		}
	}
	svgs, _ := filepath.Glob(filepath.Join(out, "charts", "*.svg"))
	if len(svgs) == 0 {
		t.Fatal("no SVG charts written")
	}
	named := 0
	for _, f := range svgs {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "<script>") {
			t.Errorf("%s carries a <script> element", filepath.Base(f))
		}
		if strings.Contains(string(b), "&lt;script&gt;") {
			named++
		}
	}
	if named == 0 {
		t.Error("no chart shows the (escaped) runtime names: the test would prove nothing")
	}
}
