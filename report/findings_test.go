package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestFindingsGolden pins the findings' text of the fixture runs in both
// languages: a complete run, a run with failures, a density sweep and a
// start-up run of all eight runtimes (gVisor the only container with
// host_pss: the memory finding must not take it for "a container").
func TestFindingsGolden(t *testing.T) {
	for _, fixture := range []string{"run-a", "run-fail", "density", "run-eight"} {
		for _, lang := range []string{LangEnglish, LangKorean} {
			t.Run(fixture+" "+lang, func(t *testing.T) {
				fs, err := Findings(readRun(t, fixture), lang)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				for _, f := range fs {
					if strings.Contains(f.Text, "%!") {
						t.Errorf("badly formatted finding: %s", f.Text)
					}
					fmt.Fprintf(&b, "[%s #%s] %s\n", f.Topic, f.Anchor, f.Text)
				}
				golden(t, "findings."+fixture+"."+lang+".golden", b.Bytes())
			})
		}
	}
}
