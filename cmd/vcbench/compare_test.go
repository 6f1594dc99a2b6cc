package main

import (
	"bytes"
	"strings"
	"testing"

	"vcbench/bench"
	"vcbench/report"
)

// TestCheckRegressionsNoSharedFigure: two runs with no figure in common
// must not pass --fail-on-regression as "no significant regression".
func TestCheckRegressionsNoSharedFigure(t *testing.T) {
	run := func(id, rt string) *bench.Run {
		r := &bench.Run{Info: bench.RunInfo{RunID: id, Scenario: "cpu", Status: bench.StatusComplete}}
		for i := 0; i < 5; i++ {
			r.Samples = append(r.Samples, bench.Sample{Scenario: "cpu", Runtime: rt, Workload: "cpu", Metric: "single_thread",
				Unit: "ops_per_second", Better: "higher", Trial: i, Value: 100 + float64(i)})
		}
		return r
	}
	var w bytes.Buffer
	rc := report.CompareRuns(run("a", "native"), run("b", "vm"))
	err := checkRegressions(&w, rc, 5)
	if err == nil || !strings.Contains(err.Error(), "share no figure") {
		t.Fatalf("checkRegressions of disjoint runs = %v, want a 'share no figure' error (printed %q)", err, w.String())
	}
	if !strings.Contains(strings.Join(rc.Notes, "\n"), "share no figure") {
		t.Errorf("comparison notes %q do not say that nothing was compared", rc.Notes)
	}
	rc = report.CompareRuns(run("a", "native"), run("b", "native"))
	if err := checkRegressions(&w, rc, 5); err != nil {
		t.Errorf("identical runs: %v, want no regression", err)
	}
}
