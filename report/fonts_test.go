package report

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"vcbench/internal/testenv"
)

// TestKoreanCharts renders the charts of the failures fixture in Korean:
// titles, axes and legends are Hangul, drawn as outlines in the SVG with
// the text kept (transparent) over them, and the PNG is drawn too.
func TestKoreanCharts(t *testing.T) {
	if _, err := loadHangulFont(DefaultHangulFont); err != nil {
		testenv.Require(t, "no Hangul font (Debian package fonts-nanum): %v", err)
	}
	m, err := Build([]Input{{Run: readRun(t, "run-fail")}}, LangKorean)
	if err != nil {
		t.Fatal(err)
	}
	charts, err := renderCharts(m, true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		overviewID:      "격리의 비용, 런타임별",
		"startup-ready": "시작 시간: runtime_ready",
		"idle-bytes":    "인스턴스당 호스트 메모리 (준비 후 유휴)",
		"cpu-rate":      "속도 (클수록 좋음)",
	}
	hangul := regexp.MustCompile(`\p{Hangul}`)
	for _, c := range charts {
		svg := string(c.SVG)
		if w, ok := want[c.ID]; ok && !strings.Contains(svg, w) {
			t.Errorf("%s: SVG lacks the Korean text %q", c.ID, w)
		}
		delete(want, c.ID)
		if !hangul.MatchString(c.Title) {
			t.Errorf("%s: title %q is not Korean", c.ID, c.Title)
		}
		if strings.Contains(svg, "font-family:Liberation") {
			t.Errorf("%s: some text is still set in Liberation Sans, which has no Hangul", c.ID)
		}
		// Outlines: the text is visible without the font.
		if n := strings.Count(svg, `fill-opacity="0"`); n == 0 || strings.Count(svg, "<path") < n {
			t.Errorf("%s: %d transparent texts, %d paths: the text is not outlined", c.ID, n, strings.Count(svg, "<path"))
		}
		if len(c.PNG) == 0 {
			t.Errorf("%s: no PNG", c.ID)
		}
	}
	for id := range want {
		t.Errorf("no chart %s", id)
	}
	if ws := strings.Join(m.warningItems(), "\n"); strings.Contains(ws, "fonts-nanum") {
		t.Errorf("the font was found, yet the warnings say:\n%s", ws)
	}
}

// TestKoreanChartsWithoutFont falls back to English chart text when the
// Hangul font is missing, and says so among the warnings.
func TestKoreanChartsWithoutFont(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "NoSuchFont.ttf")
	notTTF := filepath.Join(t.TempDir(), "not.ttf")
	if err := os.WriteFile(notTTF, []byte("not a font"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{missing, notTTF} {
		m, err := Build([]Input{{Run: readRun(t, "run-a")}}, LangKorean)
		if err != nil {
			t.Fatal(err)
		}
		m.HangulFont = path
		charts, err := renderCharts(m, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range charts {
			if regexp.MustCompile(`\p{Hangul}`).Match(c.SVG) {
				t.Errorf("%s: Hangul in a chart drawn without a Hangul font", c.ID)
			}
		}
		ws := strings.Join(m.warningItems(), "\n")
		if !strings.Contains(ws, path) || !strings.Contains(ws, "fonts-nanum") {
			t.Errorf("font %s: the warnings do not say the charts fell back to English:\n%s", path, ws)
		}
	}
}
