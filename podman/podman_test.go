package podman

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"vcbench/bench"
	"vcbench/internal/engine"
	"vcbench/internal/enginetest"
	"vcbench/internal/testenv"
	"vcbench/scenarios"
	"vcbench/state"
)

var (
	testEnv    bench.Env
	skipReason string
)

// helperEnv makes the test binary a vcbench that starts one container and
// waits to be killed (TestKillCleanup).
const helperEnv = "VCBENCH_PODMAN_TEST_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		helper(spec)
		return
	}
	env, dir, skip := enginetest.Setup()
	testEnv, skipReason = env, skip
	if skip == "" {
		if ok, why := Probe(context.Background()); !ok {
			skipReason = why
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// helper prepares a podman runtime, starts one instance, prints its
// address and sleeps until killed. spec is "imageDir:stateDir:runID".
func helper(spec string) {
	parts := strings.SplitN(spec, ":", 3)
	env := bench.Env{ImageDir: parts[0], StateDir: parts[1]}
	rt, _ := New(scenarios.RuntimeConfig{Kind: scenarios.Podman, VCPUs: 1, MemoryMiB: 64}, env)
	ctx := context.Background()
	if err := rt.(bench.Preparer).Prepare(ctx); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	in, err := rt.Start(ctx, bench.InstanceSpec{RunID: parts[2], Name: "podman-1", ScratchDir: os.TempDir(), StopTimeout: time.Second})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", in.Addr())
	select {}
}

func need(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

func prepared(t *testing.T, cfg scenarios.RuntimeConfig) *Runtime {
	t.Helper()
	cfg.Kind = scenarios.Podman
	rt, err := New(cfg, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := rt.(*Runtime)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.Prepare(ctx); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	return r
}

// labelled lists the containers (running or not) of run.
func labelled(t *testing.T, run string) []string {
	t.Helper()
	out, err := podman(context.Background(), "podman", nil, "ps", "--all", "--quiet", "--filter", "label="+engine.LabelRun+"="+run)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

func TestStartIsolationWorkloadTeardown(t *testing.T) {
	need(t)
	r := prepared(t, scenarios.RuntimeConfig{VCPUs: 1, MemoryMiB: 128, Hostname: "boxed"})
	desc := r.Describe()
	if desc["network_backend"] == "" || desc["engine_version"] == "" || !strings.HasPrefix(desc["image"], "vcbench/minimal:") {
		t.Errorf("describe: %v", desc)
	}
	ctx := context.Background()
	run := fmt.Sprintf("test-%d", os.Getpid())
	inst, err := r.Start(ctx, enginetest.Spec(t, run, "podman-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop(ctx)
	if err := enginetest.WaitReady(inst.Addr(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	info := testenv.Info(t, inst.Addr())
	if info.VisiblePIDs > 3 {
		t.Errorf("agent sees %d pids: no own PID namespace?", info.VisiblePIDs)
	}
	if info.Hostname != "boxed" {
		t.Errorf("hostname %q, want boxed", info.Hostname)
	}
	var names []string
	for _, i := range info.Interfaces {
		names = append(names, i.Name)
	}
	if strings.Join(names, ",") != "lo,eth0" {
		t.Errorf("interfaces %v, want lo and the default network's eth0", names)
	}
	if !info.RootReadOnly {
		t.Error("root is writable")
	}
	phases := inst.(bench.Phaser).Phases()
	if len(phases) != 2 || phases[1].Name != "engine_run" {
		t.Errorf("phases %v", phases)
	}
	cpu0, _ := inst.(bench.CPUTimer).HostCPUSeconds()
	res, err := enginetest.RunCPU(ctx, inst.Addr())
	if err != nil {
		t.Fatal(err)
	}
	cpu1, err := inst.(bench.CPUTimer).HostCPUSeconds()
	if err != nil || cpu1 <= cpu0 {
		t.Errorf("cgroup CPU time %v → %v (%v)", cpu0, cpu1, err)
	}
	t.Logf("cpu: %+v; host CPU %.3f s", res.Metrics[0], cpu1-cpu0)
	m, err := inst.HostMemory()
	if err != nil {
		t.Fatal(err)
	}
	if m["cgroup_usage"] <= 0 || m["host_conmon_pss"] <= 0 {
		t.Errorf("host memory %v", m)
	}
	if n := len(labelled(t, run)); n != 1 {
		t.Errorf("%d containers labelled %s, want 1", n, run)
	}
	in := inst.(*Instance)
	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := inst.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if ids := labelled(t, run); len(ids) != 0 {
		t.Errorf("containers left after stop: %v", ids)
	}
	for _, d := range in.base.Rec.Cgroups {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left", d)
		}
	}
	if in.base.Parent.Alive() {
		t.Error("conmon still running")
	}
	recs, _ := state.Load(testEnv.StateDir)
	if len(recs) != 0 {
		t.Errorf("%d state records left", len(recs))
	}
}

func TestHostNetwork(t *testing.T) {
	need(t)
	r := prepared(t, scenarios.RuntimeConfig{Network: scenarios.NetworkHost, VCPUs: 1, MemoryMiB: 64})
	ctx := context.Background()
	inst, err := r.Start(ctx, enginetest.Spec(t, fmt.Sprintf("host-%d", os.Getpid()), "podman-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop(ctx)
	if err := enginetest.WaitReady(inst.Addr(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	info := testenv.Info(t, inst.Addr())
	host, _ := netlink.LinkList()
	if len(info.Interfaces) != len(host) {
		t.Errorf("agent sees %d interfaces, the host has %d", len(info.Interfaces), len(host))
	}
	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKillCleanup SIGKILLs a vcbench that has a podman container running
// and checks that `vcbench cleanup` removes it.
func TestKillCleanup(t *testing.T) {
	need(t)
	if testing.Short() {
		t.Skip("builds vcbench")
	}
	vcbench, _ := testenv.Binaries(t)
	self, _ := os.Executable()
	run := fmt.Sprintf("kill-%d", os.Getpid())
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+testEnv.ImageDir+":"+testEnv.StateDir+":"+run)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	addr := ""
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
		t.Log(sc.Text())
	}
	if addr == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("helper did not start a container")
	}
	if err := enginetest.WaitReady(addr, 30*time.Second); err != nil {
		t.Error(err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	recs, _ := state.Load(testEnv.StateDir)
	if len(recs) != 1 {
		t.Fatalf("the killed run left %d state records, want 1", len(recs))
	}
	c := exec.Command(vcbench, "cleanup", "--state-dir", testEnv.StateDir, "--out", t.TempDir())
	b, err := c.CombinedOutput()
	t.Logf("vcbench cleanup:\n%s", b)
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if recs, _ := state.Load(testEnv.StateDir); len(recs) != 0 {
		t.Errorf("%d records left after cleanup", len(recs))
	}
	if ids := labelled(t, run); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
	for _, d := range recs[0].Cgroups {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left", d)
		}
	}
}
