package metrics

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds Parse and GuestFigures arbitrary expositions, seeded
// with the recorded scrapes under testdata/. What Parse accepts is valid
// UTF-8, ends with a newline, has at least one family, each under its own
// name, and no series twice; what GuestFigures accepts is two finite,
// non-negative byte counts with the available memory at most the total.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.prom"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed scrapes under testdata (%v)", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		families, err := Parse(raw)
		if err != nil {
			if families != nil {
				t.Errorf("families returned with error %v", err)
			}
			return
		}
		if !utf8.Valid(raw) || !bytes.HasSuffix(raw, []byte("\n")) || len(families) == 0 {
			t.Fatalf("accepted %q: %d families", raw, len(families))
		}
		for name, mf := range families {
			if name == "" || mf.GetName() != name {
				t.Errorf("family %q is filed under %q", mf.GetName(), name)
			}
			seen := map[string]bool{}
			for _, m := range mf.GetMetric() {
				sig := labelSignature(m.GetLabel())
				if seen[sig] {
					t.Errorf("metric %s: series {%s} accepted twice", name, sig)
				}
				seen[sig] = true
			}
		}
		figs, err := GuestFigures(families)
		if err != nil {
			if figs != nil {
				t.Errorf("figures returned with error %v", err)
			}
			return
		}
		if len(figs) != 2 || figs[0].Metric != "guest_mem_total" || figs[1].Metric != "guest_mem_available" {
			t.Fatalf("figures %+v", figs)
		}
		for _, fig := range figs {
			if math.IsNaN(fig.Value) || math.IsInf(fig.Value, 0) || fig.Value < 0 || fig.Unit != "bytes" {
				t.Errorf("figure %+v", fig)
			}
		}
		if figs[1].Value > figs[0].Value {
			t.Errorf("available %v exceeds total %v", figs[1].Value, figs[0].Value)
		}
	})
}
