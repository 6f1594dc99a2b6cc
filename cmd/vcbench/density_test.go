package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vcbench/bench"
	"vcbench/internal/testenv"
	"vcbench/metrics"
)

func runScenarioFile(t *testing.T, text string, extra ...string) (*bench.Run, error) {
	t.Helper()
	return runScenarioScoped(t, text, scope{}, extra...)
}

// scope is where vcbench runs and what its HostUsed counts: with cgroup
// set, vcbench starts in that memory cgroup; with used set, HostUsed
// counts only what is charged to that cgroup (metrics.UsedCgroupEnv).
type scope struct{ cgroup, used string }

func runScenarioScoped(t *testing.T, text string, sc scope, extra ...string) (*bench.Run, error) {
	t.Helper()
	vcbench, agent := binaries(t)
	dir := t.TempDir()
	scen := filepath.Join(dir, "s.yaml")
	os.WriteFile(scen, []byte(text), 0o644)
	args := append([]string{"run", scen, "--out", filepath.Join(dir, "results"), "--json", "--agent", agent, "--state-dir", filepath.Join(dir, "state")}, extra...)
	cmd := exec.Command(vcbench, args...)
	if sc.cgroup != "" {
		// The shell joins the cgroup, then becomes vcbench: nothing of
		// vcbench runs outside it.
		cmd = exec.Command("sh", append([]string{"-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, sc.cgroup, vcbench}, args...)...)
	}
	if sc.used != "" {
		cmd.Env = append(os.Environ(), metrics.UsedCgroupEnv+"="+sc.used)
	}
	stdout, runErr := cmd.Output()
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
// instances sums to within 10% of the measured increase of what they
// use. That increase is measured only where vcbench's instances are
// (usedScope), not host-wide, so that whatever else the machine runs does
// not move the verdict. The containers keep the memory workload's arrays
// so that their cost stands well above vcbench's own; the VMs' own cost
// does.
func TestDensityAccounting(t *testing.T) {
	needRoot(t)
	images := imageDir(t)
	for _, c := range []struct{ runtime, extra string }{
		{"container", "    memory_mib: 1024\ndensity:\n  steps: [1, 2, 4]\n  workload: memory\n"},
		{"vm", "    memory_mib: 128\ndensity:\n  steps: [1, 2, 4]\n  ksm: true\n"},
	} {
		t.Run(c.runtime, func(t *testing.T) {
			sc := usedScope(t, c.runtime)
			t.Logf("measuring in %+v", sc)
			run, err := runScenarioScoped(t, "name: acct\nruntimes:\n  - kind: "+c.runtime+"\n"+c.extra, sc, "--image-dir", images)
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
				t.Logf("k=%d: instances sum %.1f MiB (%s), measured increase %.1f MiB, ratio %.2f", k, sum[k]/(1<<20), d.MemoryMetric, used[k]/(1<<20), ratio)
				// Every step, within 10%, now that nothing outside vcbench
				// moves the measured side (ratios 0.98 to 1.02 seen): one
				// instance's figure halved is off by 12.5% or more at some
				// step, wherever it is; with only k=4 checked within 20%, the
				// first instance halved (ratio 0.89 at k=4) passed.
				if ratio < 0.9 || ratio > 1.1 {
					t.Errorf("k=%d: per-instance memory sums to %.1f MiB, what the instances use grew %.1f MiB: off by more than 10%%", k, sum[k]/(1<<20), used[k]/(1<<20))
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

// usedScope is where TestDensityAccounting measures what the instances of
// runtime use: a memory cgroup of its own, made for the test, that vcbench
// runs in (and its QEMUs and containers with it), so that HostUsed counts
// only vcbench and its instances. Containers on cgroup2 are the exception:
// there vcbench's container groups need their parent free of processes,
// so vcbench stays where it is and HostUsed counts the vcbench group that
// their cgroups sit in, which holds nothing but this run's instances.
func usedScope(t *testing.T, runtime string) scope {
	t.Helper()
	own, v2, err := ownMemoryCgroup()
	if err != nil {
		testenv.Require(t, "memory cgroup: %v", err)
	}
	if v2 && runtime == "container" {
		return scope{used: filepath.Join(own, "vcbench")}
	}
	parent := own
	if v2 {
		// A child of the root, whose subtree_control has memory (the test's
		// own group, holding processes, cannot enable it for children).
		parent = "/sys/fs/cgroup"
	}
	dir, err := os.MkdirTemp(parent, "vcbench-density-test-")
	if err != nil {
		testenv.Require(t, "make a memory cgroup for the density test: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "memory.stat")); err != nil {
		os.Remove(dir)
		testenv.Require(t, "cgroup %s has no memory controller: %v", dir, err)
	}
	t.Cleanup(func() {
		var err error
		for range 100 {
			if err = os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("remove the test's cgroup: %v", err)
	})
	return scope{cgroup: dir, used: dir}
}

// ownMemoryCgroup is the directory of this process's memory cgroup: in
// cgroup v1's memory hierarchy where the memory controller is there (as
// on hybrid hosts), else in the cgroup2 hierarchy.
func ownMemoryCgroup() (dir string, v2 bool, err error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false, err
	}
	var unified string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				return filepath.Join("/sys/fs/cgroup/memory", parts[2]), false, nil
			}
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); unified == "" || err != nil {
		return "", false, fmt.Errorf("no memory controller in /proc/self/cgroup and no cgroup2 at /sys/fs/cgroup")
	}
	return filepath.Join("/sys/fs/cgroup", unified), true, nil
}
