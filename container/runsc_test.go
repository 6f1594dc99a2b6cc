package container

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"vcbench/internal/testenv"

	"vcbench/bench"
	"vcbench/scenarios"
	"vcbench/state"
)

// runscSubnet keeps these tests' addresses apart from other container
// tests that may run at the same time.
const runscSubnet = "10.219.64.0/24"

// newRunsc makes and prepares an oci-runsc runtime, skipping the test
// where runsc is missing or cannot run.
func newRunsc(t *testing.T, cfg scenarios.RuntimeConfig) *OCIRuntime {
	t.Helper()
	needEnv(t)
	needBinary(t, "runsc")
	cfg.Kind = scenarios.OCIRunsc
	rt, err := NewOCIWithOptions(cfg, testEnv, Options{Subnet: runscSubnet})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Prepare(context.Background()); err != nil {
		testenv.Require(t, "runsc cannot run here: %v", err)
	}
	return rt
}

// runscLeftovers lists what of this test's run is left: runsc processes
// under the test's state dir, containers in its runsc root, mounts, the
// run's cgroups and state records. It looks only at this test's names,
// since other container tests may run beside it.
func runscLeftovers(t *testing.T, runID string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, "runsc") && strings.Contains(cmd, testEnv.StateDir) {
			out = append(out, "process "+p+" "+cmd)
		}
	}
	root := filepath.Join(testEnv.StateDir, "oci", safeName(runID), "runsc-root")
	if _, err := os.Stat(root); err == nil {
		list, _ := exec.Command("runsc", "--root", root, "list", "-quiet").CombinedOutput()
		out = append(out, "runsc root "+root+": "+strings.TrimSpace(string(list)))
	}
	if f, err := os.Open("/proc/mounts"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), testEnv.StateDir) || strings.Contains(sc.Text(), safeName(runID)) {
				out = append(out, "mount "+sc.Text())
			}
		}
		f.Close()
	}
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == safeName(runID) {
			out = append(out, "cgroup "+p)
			return filepath.SkipDir
		}
		return nil
	})
	recs, _ := filepath.Glob(filepath.Join(testEnv.StateDir, "*"+safeName(runID)+"*.json"))
	for _, r := range recs {
		out = append(out, "state record "+r)
	}
	return out
}

// checkRunscClean fails the test if anything of it is left once its
// cleanups ran.
func checkRunscClean(t *testing.T, runID string) {
	t.Helper()
	t.Cleanup(func() {
		if left := runscLeftovers(t, runID); len(left) > 0 {
			t.Errorf("left behind:\n  %s", strings.Join(left, "\n  "))
		}
	})
}

// TestRunscIsolation starts the agent in gVisor and checks what it sees
// (its own PID view, hostname, interfaces and kernel), the host-side
// memory of the sandbox's processes, phases, and the cpu and syscall
// workloads; then stops it twice.
func TestRunscIsolation(t *testing.T) {
	cfg := scenarios.RuntimeConfig{VCPUs: 1, MemoryMiB: 256, Hostname: "vcb-runsc"}
	rt := newRunsc(t, cfg)
	spec := testSpec(t, "iso-0")
	checkRunscClean(t, spec.RunID)
	in := start(t, rt, spec)
	if err := waitHealthy(in.Addr(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	info := getInfo(t, in.Addr())
	host, _ := os.Hostname()
	if info.Hostname != cfg.Hostname || info.Hostname == host {
		t.Errorf("hostname %q, want %q (host is %q)", info.Hostname, cfg.Hostname, host)
	}
	if info.VisiblePIDs > 3 || info.VisiblePIDs < 1 {
		t.Errorf("visible_pids %d, want ≤ 3", info.VisiblePIDs)
	}
	var names []string
	for _, i := range info.Interfaces {
		names = append(names, i.Name)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "eth0,lo" {
		t.Errorf("interfaces %v, want lo and eth0", names)
	}
	var uts syscall.Utsname
	syscall.Uname(&uts)
	hostRelease := utsString(uts.Release[:])
	t.Logf("kernel the agent sees: %q %q (host: %q)", info.KernelRelease, info.KernelVersion, hostRelease)
	if info.KernelRelease == hostRelease {
		t.Errorf("the agent sees the host's kernel release %q: not in gVisor?", hostRelease)
	}
	// gVisor's statfs leaves ST_RDONLY out (the agent reads rootfs_read_only
	// from it): try a write instead.
	oi := in.(*OCIInstance)
	out, err := exec.Command("runsc", "--root", oi.root, "exec", oi.id, "/bin/sh", "-c", "echo x > /ro-probe").CombinedOutput()
	t.Logf("rootfs_read_only (statfs) %v; a write to /: %v %s", info.RootReadOnly, err, strings.TrimSpace(string(out)))
	if err == nil || !strings.Contains(string(out), "Read-only") {
		t.Errorf("a write to the root succeeded or failed otherwise: %v %s", err, out)
	}
	if strings.Trim(info.CapEff, "0") != "" {
		t.Errorf("cap_eff %s, want none", info.CapEff)
	}
	mem, err := in.HostMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host memory (MiB): %v", mib(mem))
	for _, k := range []string{"cgroup_usage", "host_pss", "host_rss", "host_sentry_pss", "host_gofer_pss"} {
		if mem[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, mem[k])
		}
	}
	if d := mem["host_pss"] - mem["host_sentry_pss"] - mem["host_gofer_pss"]; d > 1 || d < -1 {
		t.Errorf("host_pss %v is not sentry %v + gofer %v", mem["host_pss"], mem["host_sentry_pss"], mem["host_gofer_pss"])
	}
	if s, err := in.(bench.CPUTimer).HostCPUSeconds(); err != nil || s <= 0 {
		t.Errorf("cpu seconds %v, %v", s, err)
	}
	ph := in.(bench.Phaser).Phases()
	t.Logf("phases: %v", ph)
	seen := map[string]bool{}
	for i, p := range ph {
		seen[p.Name] = true
		if p.Since <= 0 || i > 0 && p.Since < ph[i-1].Since {
			t.Errorf("phases out of order: %v", ph)
		}
	}
	for _, n := range []string{"runtime_exec", "sandbox_created", "runtime_returned"} {
		if !seen[n] {
			t.Errorf("no phase %s in %v", n, ph)
		}
	}
	d := rt.Describe()
	t.Logf("describe: %v", d)
	if d["platform"] != "ptrace" || !strings.Contains(d["runtime_version"], "runsc") || d["seccomp"] != "none" {
		t.Errorf("describe %v", d)
	}
	if done, why := in.(bench.Exiter).Exited(); done {
		t.Errorf("exited early: %s", why)
	}
	for _, w := range []string{`{"kind":"cpu","iterations":2000}`, `{"kind":"syscall","iterations":20000}`, `{"kind":"disk","size_mib":4,"ops":64}`} {
		code, body, err := postRun(in.Addr(), w, 60*time.Second)
		if err != nil || code != 200 {
			t.Errorf("workload %s: %d %s %v", w, code, body, err)
		} else {
			t.Logf("workload %s: %.300s", w, body)
		}
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

// TestRunscHardening runs gVisor with Docker's capabilities and seccomp
// profile (applied by the sentry).
func TestRunscHardening(t *testing.T) {
	rt := newRunsc(t, scenarios.RuntimeConfig{MemoryMiB: 128, Hardening: scenarios.HardeningDocker})
	spec := testSpec(t, "hard-0")
	checkRunscClean(t, spec.RunID)
	in := start(t, rt, spec)
	if err := waitHealthy(in.Addr(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	info := getInfo(t, in.Addr())
	// runsc takes CAP_NET_RAW away unless --net-raw is given.
	if info.CapEff != runscDockerCapEff {
		t.Errorf("cap_eff %s, want Docker's without NET_RAW %s", info.CapEff, runscDockerCapEff)
	}
	code, body, err := postRun(in.Addr(), `{"kind":"syscall","iterations":20000}`, 60*time.Second)
	if err != nil || code != 200 {
		t.Errorf("syscall workload: %d %s %v", code, body, err)
	}
	if d := rt.Describe(); d["seccomp"] != "docker-default" || !strings.Contains(d["runsc_flags"], "--oci-seccomp") {
		t.Errorf("describe %v", d)
	}
}

// dockerCapEff is /proc/self/status's CapEff of Docker's 14 capabilities;
// runscDockerCapEff the same without CAP_NET_RAW.
const (
	dockerCapEff      = "00000000a80425fb"
	runscDockerCapEff = "00000000a80405fb"
)

// TestRunscKillCleanup starts an instance and tears it down from its
// state record alone, as `vcbench cleanup` does after vcbench was killed:
// no runsc process, container, mount or cgroup may remain.
//
// With unrecorded processes, the record lacks the sandbox's processes, as
// when vcbench was killed during `runsc create`: the cgroup's teardown
// must find and kill them.
func TestRunscKillCleanup(t *testing.T) {
	for _, unrecorded := range []bool{false, true} {
		t.Run(map[bool]string{false: "recorded", true: "unrecorded processes"}[unrecorded], func(t *testing.T) {
			testRunscKillCleanup(t, unrecorded)
		})
	}
}

func testRunscKillCleanup(t *testing.T, unrecorded bool) {
	rt := newRunsc(t, scenarios.RuntimeConfig{MemoryMiB: 128})
	spec := testSpec(t, "kill-0")
	checkRunscClean(t, spec.RunID)
	in, err := rt.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitHealthy(in.Addr(), 20*time.Second); err != nil {
		t.Error(err)
	}
	if left := runscLeftovers(t, spec.RunID); len(left) == 0 {
		t.Errorf("the leftover check sees nothing of a running instance")
	}
	recs, err := state.Load(testEnv.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	var mine []*state.Record
	for _, r := range recs {
		if r.RunID == spec.RunID {
			mine = append(mine, r)
		}
	}
	if len(mine) != 1 {
		t.Fatalf("records %v", mine)
	}
	if unrecorded {
		var keep []state.Resource
		for _, x := range mine[0].Resources {
			if x.Kind != state.KindProc {
				keep = append(keep, x)
			}
		}
		mine[0].Resources = keep
	}
	t0 := time.Now()
	if err := mine[0].Teardown(2 * time.Second); err != nil {
		t.Errorf("teardown: %v", err)
	}
	t.Logf("teardown from the record: %v", time.Since(t0))
	if left := runscLeftovers(t, spec.RunID); len(left) > 0 {
		t.Errorf("left after teardown from the record:\n  %s", strings.Join(left, "\n  "))
	}
	time.Sleep(100 * time.Millisecond)
	if err := in.Stop(context.Background()); err != nil {
		t.Errorf("stop after teardown: %v", err)
	}
}

// TestRunscStartFailure checks that a failing start says why and leaves
// nothing behind.
func TestRunscStartFailure(t *testing.T) {
	needEnv(t)
	needBinary(t, "runsc")
	env := testEnv
	env.ImageDir = filepath.Join(t.TempDir(), "missing")
	rt, err := NewOCIWithOptions(scenarios.RuntimeConfig{Kind: scenarios.OCIRunsc}, env, Options{Subnet: runscSubnet})
	if err != nil {
		t.Fatal(err)
	}
	spec := testSpec(t, "fail-0")
	checkRunscClean(t, spec.RunID)
	in, err := rt.Start(context.Background(), spec)
	if err == nil {
		in.Stop(context.Background())
		t.Fatal("start on a missing rootfs succeeded")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "runsc create") {
		t.Errorf("error %q does not say what failed", err)
	}
}

// TestRunscStartup starts oci-runsc n times and logs the median launch →
// /healthz answered, the phases and the idle memory.
func TestRunscStartup(t *testing.T) {
	rt := newRunsc(t, scenarios.RuntimeConfig{VCPUs: 1, MemoryMiB: 256})
	n := 10
	if testing.Short() {
		n = 3
	}
	var ready []time.Duration
	phases := map[string][]time.Duration{}
	mems := map[string][]float64{}
	for i := 0; i <= n; i++ { // the first start warms caches and is dropped
		spec := testSpec(t, "s-runsc")
		if i == 0 {
			checkRunscClean(t, spec.RunID)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t0 := time.Now()
		in, err := rt.Start(ctx, spec)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		err = waitHealthy(in.Addr(), 20*time.Second)
		d := time.Since(t0)
		var mem map[string]float64
		if err == nil {
			time.Sleep(500 * time.Millisecond) // idle, as the runner measures after ready
			mem, err = in.HostMemory()
		}
		if serr := in.Stop(context.Background()); serr != nil {
			t.Fatal(serr)
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			continue
		}
		ready = append(ready, d)
		for _, p := range in.(bench.Phaser).Phases() {
			phases[p.Name] = append(phases[p.Name], p.Since)
		}
		for k, v := range mem {
			mems[k] = append(mems[k], v)
		}
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i] < ready[j] })
	t.Logf("oci-runsc ready median %.1f ms  min %.1f ms  max %.1f ms  (n=%d, platform %s)",
		ms(ready[len(ready)/2]), ms(ready[0]), ms(ready[len(ready)-1]), len(ready), rt.platform())
	for _, name := range sortedNames(phases) {
		ts := phases[name]
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		t.Logf("  phase %-20s median %6.1f ms", name, ms(ts[len(ts)/2]))
	}
	for _, name := range sortedNames(mems) {
		vs := mems[name]
		sort.Float64s(vs)
		t.Logf("  idle %-16s median %6.1f MiB", name, vs[len(vs)/2]/(1<<20))
	}
}

func sortedNames[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mib(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = float64(int(v/(1<<20)*10)) / 10
	}
	return out
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// TestHardeningDocker runs each namespace kind with Docker's capabilities
// and seccomp profile: the agent holds Docker's capability set, and the
// syscall and fork workloads pass the filter.
func TestHardeningDocker(t *testing.T) {
	needEnv(t)
	for _, k := range kinds {
		t.Run(string(k.kind), func(t *testing.T) {
			if k.bin != "" {
				needBinary(t, k.bin)
			}
			cfg := scenarios.RuntimeConfig{Kind: k.kind, MemoryMiB: 128, Hardening: scenarios.HardeningDocker}
			var rt bench.Runtime
			var err error
			if k.kind == scenarios.Container {
				rt, err = NewWithOptions(cfg, testEnv, Options{Subnet: runscSubnet})
			} else {
				rt, err = NewOCIWithOptions(cfg, testEnv, Options{Subnet: runscSubnet})
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := rt.(bench.Preparer).Prepare(context.Background()); err != nil {
				t.Fatal(err)
			}
			spec := testSpec(t, "hard-0")
			checkRunscClean(t, spec.RunID)
			in := start(t, rt, spec)
			if err := waitHealthy(in.Addr(), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			info := getInfo(t, in.Addr())
			if info.CapEff != dockerCapEff || !info.NoNewPrivs {
				t.Errorf("cap_eff %s no_new_privs %v, want Docker's %s and no_new_privs", info.CapEff, info.NoNewPrivs, dockerCapEff)
			}
			if info.CapBnd != dockerCapEff || strings.Trim(info.CapAmb, "0") != "" || info.CapAmb == "" {
				t.Errorf("cap_bnd %s cap_amb %q, want Docker's %s bounding set and no ambient one", info.CapBnd, info.CapAmb, dockerCapEff)
			}
			for _, w := range []string{`{"kind":"syscall","iterations":20000}`, `{"kind":"fork","iterations":5}`, `{"kind":"disk","size_mib":4,"ops":64}`} {
				code, body, err := postRun(in.Addr(), w, 60*time.Second)
				if err != nil || code != 200 {
					t.Errorf("workload %s: %d %s %v", w, code, body, err)
				}
			}
			pid := 0
			switch x := in.(type) {
			case *Instance:
				pid = x.cmd.Process.Pid
			case *OCIInstance:
				pid = x.pid.Pid
			}
			status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if !strings.Contains(string(status), "Seccomp:\t2") {
				t.Errorf("the agent (pid %d) is not under a seccomp filter:\n%s", pid, status)
			}
			d := rt.(bench.Describer).Describe()
			t.Logf("seccomp %q; %q; capabilities %q", d["seccomp"], d["seccomp_filter"], d["capabilities"])
			if d["seccomp"] != "docker-default" || !strings.HasPrefix(d["capabilities"], "docker-default") {
				t.Errorf("describe %v", d)
			}
		})
	}
}

// TestRunscCancelledStart cancels a start while runsc creates the
// sandbox, as Ctrl-C does: Start fails and leaves nothing.
func TestRunscCancelledStart(t *testing.T) {
	rt := newRunsc(t, scenarios.RuntimeConfig{MemoryMiB: 128})
	for _, after := range []time.Duration{30 * time.Millisecond, 150 * time.Millisecond} {
		spec := testSpec(t, fmt.Sprintf("cancel-%d", after.Milliseconds()))
		checkRunscClean(t, spec.RunID)
		ctx, cancel := context.WithTimeout(context.Background(), after)
		in, err := rt.Start(ctx, spec)
		cancel()
		if err == nil {
			// Quicker than the cancel: an ordinary stop then.
			t.Logf("started within %v", after)
			if err := in.Stop(context.Background()); err != nil {
				t.Error(err)
			}
			continue
		}
		t.Logf("cancelled after %v: %v", after, err)
		if left := runscLeftovers(t, spec.RunID); len(left) > 0 {
			t.Errorf("left after a cancelled start:\n  %s", strings.Join(left, "\n  "))
		}
	}
}
