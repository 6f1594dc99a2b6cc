package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"vcbench/image"
	"vcbench/internal/testenv"
	"vcbench/state"
)

// imageDir returns built images (make images) or skips the test.
func imageDir(t *testing.T) string {
	t.Helper()
	p := image.Paths{Dir: image.DefaultDir()}
	for _, f := range []string{p.Rootfs(), p.Kernel(), p.Initramfs()} {
		if _, err := os.Stat(f); err != nil {
			testenv.Require(t, "images not built in %s (run `make images` or set VCBENCH_IMAGE_DIR): %v", p.Dir, err)
		}
	}
	return p.Dir
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Require(t, "needs root: containers, cgroups and veths")
	}
}

// TestKillThenCleanup SIGKILLs `vcbench run` while an instance is running,
// then runs `vcbench cleanup` and finds nothing left: no process, link,
// mount, cgroup, file or record of that run.
func TestKillThenCleanup(t *testing.T) {
	needRoot(t)
	images := imageDir(t)
	vcbench, agent := binaries(t)
	for _, kind := range []string{"container", "oci-crun", "vm"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			stateDir := filepath.Join(dir, "state")
			scen := filepath.Join(dir, "s.yaml")
			// A cpu workload far longer than the test waits: the kill lands mid-trial.
			os.WriteFile(scen, []byte("name: kill\ntrials: 1\nruntimes:\n  - kind: "+kind+"\nworkloads:\n  - kind: cpu\n    iterations: 100000000\n"), 0o644)
			cmd := exec.Command(vcbench, "run", scen, "--out", filepath.Join(dir, "results"), "--agent", agent,
				"--image-dir", images, "--state-dir", stateDir, "--no-report")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Wait until the agent is ready (its startup sample is written):
			// the instance is then in its workload.
			ready := false
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) && !ready {
				samples, _ := filepath.Glob(filepath.Join(dir, "results", "*", "samples.jsonl"))
				if len(samples) == 1 {
					b, _ := os.ReadFile(samples[0])
					ready = strings.Contains(string(b), `"metric":"ready"`)
				}
				time.Sleep(20 * time.Millisecond)
			}
			recs, _ := state.Load(stateDir)
			if !ready || len(recs) == 0 {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("instance not ready within 60 s (%d records)", len(recs))
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			out, err := exec.Command(vcbench, "cleanup", "--state-dir", stateDir, "--out", filepath.Join(dir, "results")).CombinedOutput()
			if err != nil {
				t.Fatalf("vcbench cleanup: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "removed") || !strings.Contains(string(out), "marked") {
				t.Errorf("cleanup said:\n%s", out)
			}
			assertGone(t, stateDir, recs)
			mounts, _ := os.ReadFile("/proc/mounts")
			for _, line := range strings.Split(string(mounts), "\n") {
				if strings.Contains(line, dir) {
					t.Errorf("mount left: %s", line)
				}
			}
			run, err := os.ReadFile(filepath.Join(dir, "results", mustOne(t, filepath.Join(dir, "results", "*")), "run.json"))
			if err != nil || !strings.Contains(string(run), `"status": "interrupted"`) {
				t.Errorf("run.json not marked interrupted: %v\n%s", err, run)
			}
		})
	}
}

// assertGone checks that no record is left in stateDir and that nothing
// the records recs listed still exists: process, link, cgroup or path.
func assertGone(t *testing.T, stateDir string, recs []*state.Record) {
	t.Helper()
	if left, _ := state.Load(stateDir); len(left) != 0 {
		t.Errorf("%d instance records left", len(left))
	}
	for _, r := range recs {
		for _, p := range r.Procs {
			if p.Alive() {
				t.Errorf("process %d of %s still running", p.Pid, r.Instance)
			}
		}
		for _, l := range r.Links {
			if _, err := netlink.LinkByName(l); err == nil {
				t.Errorf("link %s still there", l)
			}
		}
		for _, c := range append(r.Cgroups, r.Paths...) {
			if _, err := os.Stat(c); err == nil {
				t.Errorf("%s still there", c)
			}
		}
	}
}

func mustOne(t *testing.T, glob string) string {
	t.Helper()
	m, _ := filepath.Glob(glob)
	if len(m) != 1 {
		t.Fatalf("%s: %d matches", glob, len(m))
	}
	return filepath.Base(m[0])
}

// TestMemoryFitsTheInstance: a memory workload whose explicit arrays cannot
// fit a 64 MiB container is refused before anything starts, with the
// arithmetic; at its default size the same workload fits that container
// (it sizes itself to the cgroup limit) and the run has no failed trial.
// The OOM kill itself and its cause are tested in container (TestOOM),
// where the request bypasses the loader.
func TestMemoryFitsTheInstance(t *testing.T) {
	needRoot(t)
	images := imageDir(t)
	vcbench, _ := binaries(t)
	scen := filepath.Join(t.TempDir(), "oom.yaml")
	os.WriteFile(scen, []byte(`name: oom
trials: 1
runtimes:
  - kind: container
    memory_mib: 64
  - kind: native
workloads:
  - kind: memory
    size_mib: 100
    iterations: 1
`), 0o644)
	out, err := exec.Command(vcbench, "scenarios", "validate", scen).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "oom.yaml:9:5: workloads[0].size_mib: runtime container: 3 arrays × 100 MiB = 300 MiB do not fit in 64 MiB") {
		t.Fatalf("validate a 300 MiB workload in a 64 MiB container: %v\n%s\nwant it refused at file:line:col with the arithmetic", err, out)
	}
	run, err := runScenarioFile(t, `name: fits
trials: 1
runtimes:
  - kind: container
    memory_mib: 64
  - kind: native
workloads:
  - kind: memory
    iterations: 1
`, "--image-dir", images)
	if err != nil {
		t.Fatalf("default-sized memory workload in 64 MiB: %v", err)
	}
	for _, r := range run.Info.Runtimes {
		if len(r.Errors) != 0 {
			t.Errorf("%s errors %q, want none: the default arrays must fit the instance", r.Name, r.Errors)
		}
	}
	found := map[string]bool{}
	for _, s := range run.Samples {
		if s.Workload == "memory" && s.Metric == "triad" {
			found[s.Runtime] = true
		}
	}
	if !found["container"] || !found["native"] {
		t.Errorf("triad samples from %v, want container and native", found)
	}
}

// TestInterruptCleansUp sends SIGINT (Ctrl-C) to `vcbench run` in the
// middle of a trial and of a density sweep: vcbench itself must remove
// every instance, say "interrupted" in run.json and keep the samples.
func TestInterruptCleansUp(t *testing.T) {
	needRoot(t)
	images := imageDir(t)
	vcbench, agent := binaries(t)
	cases := map[string]string{
		"vm trial":          "name: int\ntrials: 2\nruntimes:\n  - kind: vm\nworkloads:\n  - kind: cpu\n    iterations: 100000000\n",
		"container density": "name: int\nruntimes:\n  - kind: container\ndensity:\n  steps: [2, 4]\n  workload: cpu\n",
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			stateDir := filepath.Join(dir, "state")
			scen := filepath.Join(dir, "s.yaml")
			os.WriteFile(scen, []byte(text), 0o644)
			cmd := exec.Command(vcbench, "run", scen, "--out", filepath.Join(dir, "results"), "--agent", agent,
				"--image-dir", images, "--state-dir", stateDir, "--no-report")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			var recs []*state.Record
			for time.Now().Before(deadline) {
				samples, _ := filepath.Glob(filepath.Join(dir, "results", "*", "samples.jsonl"))
				if len(samples) == 1 {
					if b, _ := os.ReadFile(samples[0]); strings.Contains(string(b), `"metric":"ready"`) {
						recs, _ = state.Load(stateDir)
						break
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(recs) == 0 {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("no instance ready within 60 s")
			}
			cmd.Process.Signal(syscall.SIGINT)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Error("an interrupted run exited 0")
				}
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatal("vcbench did not exit within 60 s of SIGINT")
			}
			assertGone(t, stateDir, recs)
			run, err := os.ReadFile(filepath.Join(dir, "results", mustOne(t, filepath.Join(dir, "results", "*")), "run.json"))
			if err != nil || !strings.Contains(string(run), `"status": "interrupted"`) {
				t.Errorf("run.json not interrupted: %v\n%s", err, run)
			}
		})
	}
}
