package report

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vcbench/bench"
)

func TestFitsIn(t *testing.T) {
	const mib, gib = 1 << 20, 1 << 30
	tests := []struct {
		name       string
		host, cost float64
		want       int64
		wantOK     bool
	}{
		{"exact multiple", 16 * gib, 4 * mib, 4096, true},
		{"rounds down", 16 * gib, 3 * mib, 5461, true},
		{"larger than the host", 1 * gib, 2 * gib, 0, true},
		{"VM of 191 MiB on 23.5 GiB", 25276502016, 200579584, 126, true},
		{"zero cost", 16 * gib, 0, 0, false},
		{"negative cost (noise)", 16 * gib, -4096, 0, false},
		{"no figure", 16 * gib, math.NaN(), 0, false},
		{"unknown host", 0, 4 * mib, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := fitsIn(tc.host, tc.cost)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("fitsIn(%g, %g) = %d, %v; want %d, %v", tc.host, tc.cost, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestMarginalCost(t *testing.T) {
	tests := []struct {
		name    string
		k, used []float64
		want    float64
	}{
		{"linear 10 per instance", []float64{1, 2, 4, 8}, []float64{10, 20, 40, 80}, 10},
		{"only the last two steps count", []float64{1, 2, 4}, []float64{100, 0, 30}, 15},
		{"memory fell (noise)", []float64{2, 4}, []float64{3215360, 3207168}, -4096},
		{"one step", []float64{1}, []float64{10}, math.NaN()},
		{"no steps", nil, nil, math.NaN()},
		{"same k twice", []float64{4, 4}, []float64{1, 2}, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := marginalCost(tc.k, tc.used)
			if math.IsNaN(tc.want) != math.IsNaN(got) || !math.IsNaN(got) && math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("marginalCost = %g, want %g", got, tc.want)
			}
		})
	}
}

// TestDensitySweeps builds sweeps from samples the way bench/density.go
// records them: a step missing host_used, KSM samples at the last step,
// VMM figures per instance.
func TestDensitySweeps(t *testing.T) {
	const mib = 1 << 20
	smp := func(rt, metric string, trial int, v float64, labels map[string]string) bench.Sample {
		return bench.Sample{Scenario: "d", Runtime: rt, Workload: DensityWorkload, Metric: metric, Unit: "bytes", Better: "lower", Trial: trial, Value: v, Labels: labels}
	}
	k := func(k string, kv ...string) map[string]string {
		m := map[string]string{"k": k}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	samples := []bench.Sample{
		smp("vm", "ready", 1, 2.0, k("1")),
		smp("vm", "instance_memory_mean", 1, 200*mib, k("1", "source", "host_pss")),
		smp("vm", "host_used", 1, 150*mib, k("1")),
		smp("vm", "host_vmm_pss", 1, 90*mib, k("1", "instance", "1")),
		smp("vm", "ready", 2, 2.5, k("2")),
		smp("vm", "ready", 3, 3.0, k("4")),
		smp("vm", "ready", 4, 3.5, k("4")),
		smp("vm", "instance_memory_mean", 4, 180*mib, k("4", "source", "host_pss")),
		smp("vm", "host_used", 4, 600*mib, k("4")),
		smp("vm", "host_cpu_busy", 4, 0.5, k("4")),
		smp("vm", "host_overhead", 1, 60*mib, k("4", "instance", "1")),
		smp("vm", "host_overhead", 2, 70*mib, k("4", "instance", "2")),
		smp("vm", "host_pss", 1, 100*mib, k("4", "instance", "1", "ksm", "on")),
		smp("vm", "instance_memory_mean", 4, 120*mib, k("4", "source", "host_pss", "ksm", "on")),
		smp("container", "ready", 1, 0.02, k("1")),
		smp("container", "instance_memory_mean", 1, 3*mib, k("1", "source", "cgroup_usage")),
		smp("container", "host_used", 1, 3*mib, k("1")),
		{Scenario: "d", Runtime: "native", Workload: "cpu", Metric: "single_thread", Unit: "ops_per_second", Better: "higher", Trial: 0, Value: 1},
	}
	info := bench.RunInfo{RunID: "d", Host: bench.Host{MemBytes: 16 << 30}, Runtimes: []bench.RuntimeInfo{
		{Name: "vm", Kind: "vm", Settings: map[string]string{"accel": "kvm"}, Density: &bench.DensityInfo{Reached: 4, Stop: "done", KSM: "enabled at 4 instances"}},
		{Name: "container", Kind: "container"},
	}}
	m, err := Build([]Input{{Run: &bench.Run{Info: info, Samples: samples}}}, LangEnglish)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Stats) != 1 || m.Stats[0].Workload != "cpu" {
		t.Errorf("stats = %v, want only the cpu workload: density samples must stay out", m.Stats)
	}
	if len(m.Density) != 2 || m.Density[0].Runtime != "container" || m.Density[1].Runtime != "vm" {
		t.Fatalf("sweeps = %+v, want container then vm", m.Density)
	}
	vm := m.Density[1]
	if len(vm.Steps) != 2 || vm.Steps[0].K != 1 || vm.Steps[1].K != 4 {
		t.Fatalf("vm steps = %+v", vm.Steps)
	}
	last := vm.Last()
	checks := []struct {
		name      string
		got, want float64
	}{
		{"mean at k=4 ignores the KSM reading", last.MemMean, 180 * mib},
		{"KSM mean", vm.KSM, 120 * mib},
		{"VMM figure falls back to host_overhead's median", last.VMM, 65 * mib},
		{"VMM at k=1 from host_vmm_pss", vm.Steps[0].VMM, 90 * mib},
		{"host used ÷ k", last.UsedPerInstance(), 150 * mib},
		{"per-instance cost", vm.PerInstanceCost(), 180 * mib},
		{"ready points", float64(len(vm.Ready)), 4},
		{"container k=1 busy is missing", m.Density[0].Steps[0].CPUBusy, math.NaN()},
	}
	for _, c := range checks {
		if c.got != c.want && !(math.IsNaN(c.got) && math.IsNaN(c.want)) {
			t.Errorf("%s = %g, want %g", c.name, c.got, c.want)
		}
	}
	if mc, from, to := vm.MarginalCost(); mc != 150*mib || from != 1 || to != 4 {
		t.Errorf("marginal = %g (k=%d→%d), want 150 MiB over k=1→4", mc, from, to)
	}
	var md bytes.Buffer
	charts, err := renderCharts(m, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md, m, charts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| Fits in 16 GiB (this host) | 91 |", // floor(16 GiB / 180 MiB)
		"| Memory per instance at k=4 with KSM on | 120 MiB |",
		"| KSM | enabled at 4 instances |",
		"65.0 MiB per VM — 13.0× Firecracker's",
		"so the memory of one VM (180 MiB) would hold about 60 containers",
		"**Summary: median", "single_thread",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	if strings.Contains(md.String(), "translated-code cache") {
		t.Error("a KVM VM is said to carry TCG's code cache")
	}
}

// TestDensityReportFiles writes the density fixture's report and checks
// the chart files and the HTML section.
func TestDensityReportFiles(t *testing.T) {
	out := t.TempDir()
	index, err := Write(readRun(t, "density"), out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{densityStartup, densityMemory, densityCPU} {
		for _, ext := range []string{".svg", ".png"} {
			if _, err := os.Stat(filepath.Join(out, "charts", id+ext)); err != nil {
				t.Error(err)
			}
		}
	}
	html, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<section id="density">`, `id="density-container"`, `id="density-vm"`, `id="chart-density-memory"`, `id="tcg-banner"`} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	for _, no := range []string{`id="summary"`, `id="ratios"`} {
		if bytes.Contains(html, []byte(no)) {
			t.Errorf("index.html of a density-only run has %s", no)
		}
	}
}
