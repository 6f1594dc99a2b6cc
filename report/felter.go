package report

import (
	"fmt"
	"html/template"
	"strings"
)

// FelterScenario is the built-in scenario that repeats Felter et al.'s
// comparison; its reports carry felterTable.
const FelterScenario = "felter2015"

// felterTitle heads the comparison with the paper.
const felterTitle = "Felter et al. 2015 vs this run"

// felterPaper is the paper the comparison cites.
const felterPaper = "W. Felter, A. Ferreira, R. Rajamony, J. Rubio, \"An updated performance comparison of virtual machines and Linux containers\", ISPASS 2015 (IBM Research Report RC25482, 2014)"

// felterRepo is the authors' experiment repository, whose raw logs give
// the ratios below: the median of each log's runs, runtime ÷ native.
const felterRepo = "github.com/thewmf/kvm-docker-comparison @ 6820500"

// felterRef is one published figure of the paper as a ratio to native:
// runtime ÷ native of the same figure (for a latency, above 1 is slower).
type felterRef struct {
	workload, metric string
	paperRuntime     string  // Docker or KVM
	ours             string  // our runtime kind that stands for it
	ratio            float64 // 0: only a statement, in text
	text             string  // the paper's figure as published
	source           string
}

// felterRefs are the figures found, each with where it was found. Docker
// stands for our container runtimes (the same kernel, namespaces and
// cgroups), KVM for our vm runtime (QEMU; under TCG here, so expect far
// below the paper's ratios).
var felterRefs = []felterRef{
	{"hpl", "flops", "Docker", "container", 290.6156 / 290.5634, "LINPACK 290.6 vs 290.6 GFLOPS (N=45000)", felterRepo + " linpack/results/{linux,docker}.log"},
	{"hpl", "flops", "Docker", "oci-runc", 290.6156 / 290.5634, "LINPACK 290.6 vs 290.6 GFLOPS (N=45000)", felterRepo + " linpack/results/{linux,docker}.log"},
	{"hpl", "flops", "KVM (tuned: vCPU pinning, host topology)", "vm", 282.7605 / 290.5634, "LINPACK 282.8 vs 290.6 GFLOPS", felterRepo + " linpack/results/{linux,vm}.log"},
	{"stream", "triad", "Docker", "container", 25.1594 / 25.1684, "STREAM triad 25.16 vs 25.17 GB/s", felterRepo + " Stream/results/{linux,docker}.log"},
	{"stream", "triad", "Docker", "oci-runc", 25.1594 / 25.1684, "STREAM triad 25.16 vs 25.17 GB/s", felterRepo + " Stream/results/{linux,docker}.log"},
	{"stream", "triad", "KVM", "vm", 24.8976 / 25.1684, "STREAM triad 24.90 vs 25.17 GB/s", felterRepo + " Stream/results/{linux,vm}.log"},
	{"randomaccess", "updates", "Docker", "container", 0.013213363 / 0.013083277, "RandomAccess 0.0132 vs 0.0131 GUP/s", felterRepo + " RandomAccess/results/{linux,docker}.log"},
	{"randomaccess", "updates", "Docker", "oci-runc", 0.013213363 / 0.013083277, "RandomAccess 0.0132 vs 0.0131 GUP/s", felterRepo + " RandomAccess/results/{linux,docker}.log"},
	{"randomaccess", "updates", "KVM", "vm", 0.013157293 / 0.013083277, "RandomAccess 0.0132 vs 0.0131 GUP/s", felterRepo + " RandomAccess/results/{linux,vm}.log"},
	{"fio", "read_iops", "KVM", "vm", 0, "random read IOPS: KVM about half of native", "the paper as summarised in vcbench DESIGN.md (Anchors); not re-read here"},
	{"network", "tcp_rr_p50", "KVM", "vm", 67.9 / 37.6, "TCP_RR 67.9 vs 37.6 µs", "the paper as summarised in vcbench DESIGN.md (Anchors); not re-read here"},
	// The paper's MySQL figures are curves of throughput against
	// concurrency; no single figure of it was checked against the paper,
	// so none is set beside ours.
	{"sysbench", "transactions_per_second", "Docker", "container", 0, felterMySQLText, felterMySQLSource},
	{"sysbench", "transactions_per_second", "Docker", "oci-runc", 0, felterMySQLText, felterMySQLSource},
	{"sysbench", "transactions_per_second", "KVM", "vm", 0, felterMySQLText, felterMySQLSource},
}

// The MySQL rows: our OLTP ratio, no paper figure.
const (
	felterMySQLText   = "none cited: the paper's MySQL (SysBench OLTP) throughput, plotted against concurrency, was not re-read here"
	felterMySQLSource = felterRepo + " mysql/README (sysbench 0.4 --test=oltp, 2,000,000 rows; ours: sysbench 1.0 oltp_read_write on MariaDB 10.11)"
)

// isFelter reports whether any run of the report is the felter2015 scenario.
func (m *Model) isFelter() bool {
	for _, e := range m.Runs {
		if e.Info.Scenario == FelterScenario {
			return true
		}
	}
	return false
}

// felterTable sets our ratio to native beside the paper's, row by row,
// for a felter2015 run; empty for any other scenario.
func (m *Model) felterTable() table {
	tb := table{Head: []string{"figure", "runtime", "this run ÷ native", "paper", "paper ÷ native", "paper's figure", "source"}}
	if !m.isFelter() {
		return tb
	}
	for _, ref := range felterRefs {
		ours := "—"
		for _, r := range m.Ratios {
			if r.Workload == ref.workload && r.Metric == ref.metric && r.Runtime == ref.ours {
				ours = fmt.Sprintf("%.3f", r.Raw)
			}
		}
		paper := "—"
		if ref.ratio > 0 {
			paper = fmt.Sprintf("%.3f", ref.ratio)
		}
		tb.Rows = append(tb.Rows, []string{ref.workload + " " + ref.metric, ref.ours, ours, ref.paperRuntime, paper, ref.text, ref.source})
		if ours == "—" {
			tb.tip(len(tb.Rows)-1, 2, "no ratio: this run has no samples of it in this runtime, or no native ones")
		}
	}
	return tb
}

// felterMarkdown is the comparison's Markdown section ("" when none).
func (m *Model) felterMarkdown() string {
	tb := m.felterTable()
	if len(tb.Rows) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n%s. Each ratio is runtime ÷ native of the medians (for a latency, above 1 is slower); Docker stands for the container runtimes, KVM for vm, which runs under TCG on a host without usable KVM, so its ratios are emulation's, not the paper's hypervisor's.\n\n", felterTitle, felterPaper)
	writeMDTable(&b, tb)
	return b.String()
}

// felterGroup is the comparison as a group of the HTML details (nil when none).
func (m *Model) felterGroup() []htmlGroup {
	tb := m.felterTable()
	if len(tb.Rows) == 0 {
		return nil
	}
	return []htmlGroup{{ID: "felter2015", Title: felterTitle, Summary: template.HTML(template.HTMLEscapeString(felterPaper)+"<br>") + htmlTable(tb, "felter2015-table", "ratios", 2, true, false)}}
}
