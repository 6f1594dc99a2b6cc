package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"vcbench/bench"
	"vcbench/internal/testenv"
	"vcbench/workload"
)

// binaries returns the real vcbench and vcbench-agent.
func binaries(t *testing.T) (vcbench, agent string) { return testenv.Binaries(t) }

const nativeScenario = `name: e2e-native
trials: 2
warmup: 1
runtimes:
  - kind: native
    vcpus: 1
workloads:
  - kind: cpu
    iterations: 2000
  - kind: memory
    size_mib: 2
    iterations: 2
  - kind: syscall
    iterations: 10000
  - kind: fork
    iterations: 10
  - kind: disk
    size_mib: 2
    ops: 50
  - kind: network
    size_mib: 2
    ops: 20
`

// TestEndToEndNative builds the binaries, runs a real scenario on the
// native runtime and checks that samples.jsonl has every workload's
// figures with positive values and units.
func TestEndToEndNative(t *testing.T) {
	vcbench, agent := binaries(t)
	dir := t.TempDir()
	scen := filepath.Join(dir, "e2e.yaml")
	os.WriteFile(scen, []byte(nativeScenario), 0o644)
	out := filepath.Join(dir, "results")
	cmd := exec.Command(vcbench, "run", scen, "--out", out, "--json", "--agent", agent, "--state-dir", filepath.Join(dir, "state"))
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("vcbench run: %v\nstderr:\n%s", err, stderrOf(err))
	}
	var sum JSONSummary
	if err := json.Unmarshal(stdout, &sum); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	if sum.Status != bench.StatusComplete {
		t.Fatalf("status %s: %s", sum.Status, sum.Reason)
	}
	run, err := bench.ReadRun(sum.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"startup": {"ready", "agent_start"},
		"idle":    {"host_rss", "host_pss"},
		"cpu":     {"single_thread", "all_threads", "host_cpu_seconds"},
		"memory":  {"copy", "scale", "add", "triad"},
		"syscall": {"getppid"},
		"fork":    {"spawn"},
		"disk":    {"seq_write", "seq_read", "rand_read_iops", "rand_write_iops", "rand_read_p50", "rand_read_p99", "rand_write_p50", "rand_write_p99"},
		"network": {"stream_to_agent", "stream_from_agent", "rr_rate", "rr_p50", "rr_p99"},
	}
	type key struct{ w, m string }
	count := map[key]int{}
	validUnits := map[workload.Unit]bool{"seconds": true, "bytes": true, "bytes_per_second": true, "ops_per_second": true}
	for _, s := range run.Samples {
		if s.Runtime != "native" || s.Scenario != "e2e-native" {
			t.Errorf("sample labelled %s/%s", s.Scenario, s.Runtime)
		}
		if !validUnits[s.Unit] {
			t.Errorf("%s/%s has unit %q", s.Workload, s.Metric, s.Unit)
		}
		// Host CPU time has clock-tick (10 ms) resolution: a tiny workload may read 0.
		if s.Metric == "host_cpu_seconds" {
			if s.Value < 0 {
				t.Errorf("%s/%s = %v, want >= 0", s.Workload, s.Metric, s.Value)
			}
		} else if !(s.Value > 0) {
			t.Errorf("%s/%s = %v, want > 0", s.Workload, s.Metric, s.Value)
		}
		if s.Trial < 0 || s.Trial > 1 {
			t.Errorf("trial %d: warm-up samples must be discarded", s.Trial)
		}
		count[key{s.Workload, s.Metric}]++
	}
	for w, ms := range want {
		for _, m := range ms {
			if count[key{w, m}] != 2 {
				t.Errorf("%s/%s: %d samples, want one per trial (2)", w, m, count[key{w, m}])
			}
		}
	}
	for _, f := range []string{"raw/info-native-0.json", "raw/info-native-1.json", "raw/scrape-native-0.prom"} {
		if _, err := os.Stat(filepath.Join(sum.RunDir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if run.Info.Host.Cores == 0 || run.Info.Host.Kernel == "" || run.Info.ScenarioSHA256 == "" || run.Info.ScenarioText != nativeScenario {
		t.Errorf("run.json lacks the environment: %+v", run.Info)
	}
	if _, err := os.Stat(filepath.Join(sum.RunDir, "scratch")); !os.IsNotExist(err) {
		t.Errorf("scratch directory left behind: %v", err)
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// TestCLIArgumentErrors checks that bad input is refused with a message
// that says what is wrong, and a non-zero exit status.
func TestCLIArgumentErrors(t *testing.T) {
	vcbench, _ := binaries(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("runtimes:\n  - kind: vm\n    vcpus: 0\nworkloads:\n  - kind: cpu\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "nosuch"}, `scenario "nosuch" is neither a built-in`},
		{[]string{"run", "quick", "--trials", "-1"}, "--trials: -1 is below 1"},
		{[]string{"run", "quick", "--trials", "0"}, "--trials: 0 is below 1"},
		{[]string{"run", "quick", "--runtime", "docker"}, `--runtime: "docker" is not in scenario quick`},
		{[]string{"run", "quick", "--accel", "hvf"}, `--accel: "hvf" is not allowed`},
		{[]string{"run", bad}, bad + ":3:5: runtimes[0].vcpus: 0 is below 1"},
		{[]string{"scenarios", "validate", bad}, bad + ":3:5: runtimes[0].vcpus: 0 is below 1"},
		{[]string{"scenarios", "show", "nosuch"}, `no built-in scenario "nosuch"`},
		{[]string{"run", "a", "b"}, "accepts at most 1 arg"},
		{[]string{"bogus"}, `unknown command "bogus"`},
	}
	for _, c := range cases {
		cmd := exec.Command(vcbench, append(c.args, "--out", dir)...)
		if c.args[0] != "run" {
			cmd = exec.Command(vcbench, c.args...)
		}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("vcbench %v succeeded; want an error", c.args)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("vcbench %v said\n%s\nwant it to contain %q", c.args, out, c.want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("refused runs created %d entries in --out", len(entries)-1)
	}
}

// TestRelativePaths runs containers with relative --image-dir, --state-dir
// and --out: crun and runc run in other directories, so every path handed
// to them must have been made absolute.
func TestRelativePaths(t *testing.T) {
	needRoot(t)
	images := imageDir(t)
	vcbench, agent := binaries(t)
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, images)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("name: rel\ntrials: 1\nruntimes:\n  - kind: container\n  - kind: oci-crun\n  - kind: oci-runc\nworkloads:\n  - kind: disk\n    size_mib: 2\n    ops: 10\n"), 0o644)
	cmd := exec.Command(vcbench, "run", "s.yaml", "--out", "results", "--image-dir", rel, "--state-dir", "state", "--agent", agent, "--no-report", "--json")
	cmd.Dir = dir
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("vcbench run: %v\n%s", err, stderrOf(err))
	}
	var sum JSONSummary
	if err := json.Unmarshal(stdout, &sum); err != nil {
		t.Fatal(err)
	}
	run, err := bench.ReadRun(sum.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range run.Info.Runtimes {
		if len(r.Errors) > 0 || r.Skipped != "" {
			t.Errorf("%s: skipped %q, errors %q", r.Name, r.Skipped, r.Errors)
		}
	}
}
