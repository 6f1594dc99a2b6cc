package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vcbench/bench"
)

func runScenarioFile(t *testing.T, text string, extra ...string) (*bench.Run, error) {
	t.Helper()
	vcbench, agent := binaries(t)
	dir := t.TempDir()
	scen := filepath.Join(dir, "s.yaml")
	os.WriteFile(scen, []byte(text), 0o644)
	args := append([]string{"run", scen, "--out", filepath.Join(dir, "results"), "--json", "--agent", agent, "--state-dir", filepath.Join(dir, "state")}, extra...)
	stdout, runErr := exec.Command(vcbench, args...).Output()
	var sum JSONSummary
	if err := json.Unmarshal(stdout, &sum); err != nil {
		t.Fatalf("vcbench run: %v\n%s\nstderr:\n%s", runErr, stdout, stderrOf(runErr))
	}
	run, err := bench.ReadRun(sum.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	return run, runErr
}

// TestDensityNative sweeps 1, 2, 3 native agents: every step has its
// figures and every instance its startup time.
func TestDensityNative(t *testing.T) {
	run, err := runScenarioFile(t, `name: d
runtimes:
  - kind: native
density:
  steps: [1, 2, 3]
  workload: syscall
`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range run.Samples {
		if s.Workload != "density" {
			t.Errorf("sample of workload %q in a density run", s.Workload)
		}
		got[s.Metric]++
		if s.Metric != "host_cpu_busy" && s.Metric != "host_used" && !(s.Value > 0) {
			t.Errorf("%s = %v (labels %v)", s.Metric, s.Value, s.Labels)
		}
	}
	want := map[string]int{"ready": 3, "host_pss": 1 + 2 + 3, "instance_memory_mean": 3, "host_used": 3, "host_cpu_busy": 3, "syscall_getppid": 1 + 2 + 3}
	for m, n := range want {
		if got[m] != n {
			t.Errorf("%s: %d samples, want %d", m, got[m], n)
		}
	}
	d := run.Info.Runtimes[0].Density
	if d == nil || d.Reached != 3 || !strings.Contains(d.Stop, "completed") || d.MemoryMetric != "host_pss_anon" {
		t.Errorf("density info %+v", d)
	}
}

// TestDensityBudgetStops gives the sweep a 64 MiB budget while each
// instance keeps the memory workload's arrays (3 arrays of 4 × the
// last-level cache: 384 MiB on the 32 MiB-L3 development machine): it must
// stop after the first step, say why, and leave nothing running.
func TestDensityBudgetStops(t *testing.T) {
	run, err := runScenarioFile(t, `name: d
runtimes:
  - kind: native
density:
  steps: [1, 2, 4]
  budget_mib: 64
  workload: memory
`)
	if err != nil {
		t.Fatal(err)
	}
	d := run.Info.Runtimes[0].Density
	if d == nil || d.Reached != 1 || !strings.Contains(d.Stop, "budget") {
		t.Fatalf("density info %+v, want a budget stop at 1", d)
	}
	if run.Info.Status != bench.StatusComplete {
		t.Errorf("a budget stop is a normal end; status %s", run.Info.Status)
	}
	out, _ := exec.Command("pgrep", "-f", filepath.Join(run.Dir, "scratch")).Output()
	if len(out) > 0 {
		t.Errorf("agents left running: %s", out)
	}
}

// TestDensityAccounting sweeps 1, 2, 4 containers and VMs and checks that
// the accounting is honest: at each step the per-instance memory of the k
// instances sums to within 20% of the host's measured increase. The
// containers keep the memory workload's arrays so that their cost stands
// well above the host's background noise; the VMs' own cost does.
func TestDensityAccounting(t *testing.T) {
	needRoot(t)
	images := imageDir(t)
	for _, c := range []struct{ runtime, extra string }{
		{"container", "    memory_mib: 1024\ndensity:\n  steps: [1, 2, 4]\n  workload: memory\n"},
		{"vm", "    memory_mib: 128\ndensity:\n  steps: [1, 2, 4]\n  ksm: true\n"},
	} {
		t.Run(c.runtime, func(t *testing.T) {
			run, err := runScenarioFile(t, "name: acct\nruntimes:\n  - kind: "+c.runtime+"\n"+c.extra, "--image-dir", images)
			if err != nil {
				t.Fatal(err)
			}
			d := run.Info.Runtimes[0].Density
			if d == nil || d.Reached != 4 {
				t.Fatalf("density info %+v; errors %v", d, run.Info.Runtimes[0].Errors)
			}
			sum := map[int]float64{}
			used := map[int]float64{}
			readies := 0
			for _, s := range run.Samples {
				k := 0
				fmt.Sscan(s.Labels["k"], &k)
				switch {
				case s.Metric == d.MemoryMetric && s.Labels["instance"] != "" && s.Labels["ksm"] == "":
					if !(s.Value > 0) {
						t.Errorf("instance memory %v", s.Value)
					}
					sum[k] += s.Value
				case s.Metric == "host_used":
					used[k] = s.Value
				case s.Metric == "ready":
					readies++
					if !(s.Value > 0) {
						t.Errorf("ready %v", s.Value)
					}
				}
			}
			if readies != 4 {
				t.Errorf("%d startup samples, want 4", readies)
			}
			for _, k := range []int{1, 2, 4} {
				if used[k] <= 0 {
					t.Errorf("k=%d: host used %.0f bytes", k, used[k])
					continue
				}
				ratio := sum[k] / used[k]
				t.Logf("k=%d: instances sum %.1f MiB (%s), host increase %.1f MiB, ratio %.2f", k, sum[k]/(1<<20), d.MemoryMetric, used[k]/(1<<20), ratio)
				if k == 4 && (ratio < 0.8 || ratio > 1.2) {
					t.Errorf("k=4: per-instance memory sums to %.1f MiB, host grew %.1f MiB: off by more than 20%%", sum[k]/(1<<20), used[k]/(1<<20))
				}
			}
			if c.runtime == "vm" {
				// With KSM asked for: a reading with ksm=on after the sweep,
				// and KSM's own settings restored.
				ksmOn := false
				for _, s := range run.Samples {
					ksmOn = ksmOn || (s.Metric == "instance_memory_mean" && s.Labels["ksm"] == "on" && s.Value > 0)
				}
				if _, err := os.Stat("/sys/kernel/mm/ksm/run"); err == nil {
					if !ksmOn || !strings.Contains(d.KSM, "enabled at 4") {
						t.Errorf("KSM: info %q, ksm=on sample %v", d.KSM, ksmOn)
					}
					if b, _ := os.ReadFile("/sys/kernel/mm/ksm/run"); strings.TrimSpace(string(b)) != "0" {
						t.Errorf("KSM left running: run=%s", b)
					}
				}
			}
			out, _ := exec.Command("pgrep", "-f", run.Dir).Output()
			if len(out) > 0 {
				t.Errorf("processes of the run left: %s", out)
			}
		})
	}
}
