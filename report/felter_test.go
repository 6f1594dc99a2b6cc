package report

import (
	"strings"
	"testing"

	"vcbench/bench"
)

// TestFelterTable: a felter2015 run gets the comparison with our ratio
// beside the paper's and its source; any other scenario gets none.
func TestFelterTable(t *testing.T) {
	m := &Model{Runs: []RunEnv{{Info: bench.RunInfo{Scenario: FelterScenario}}},
		Ratios: []Ratio{{Workload: "hpl", Metric: "flops", Runtime: "vm", Raw: 0.0412}, {Workload: "sysbench", Metric: "transactions_per_second", Runtime: "vm", Raw: 0.0251}}}
	md := m.felterMarkdown()
	for _, want := range []string{"## " + felterTitle, "ISPASS 2015", "| hpl flops | vm | 0.041 | KVM (tuned: vCPU pinning, host topology) | 0.973 |", "linpack/results/{linux,vm}.log",
		// No MySQL figure of the paper is cited: ours stands alone.
		"| sysbench transactions_per_second | vm | 0.025 | KVM | — | none cited"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if g := m.felterGroup(); len(g) != 1 || !strings.Contains(string(g[0].Summary), "0.041") {
		t.Errorf("html group %v", g)
	}
	m.Runs[0].Info.Scenario = "quick"
	if md := m.felterMarkdown(); md != "" || m.felterGroup() != nil {
		t.Errorf("quick got the Felter table: %q", md)
	}
}
