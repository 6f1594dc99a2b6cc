// Package enginetest is what the docker and podman integration tests
// share: a built agent and rootfs in a temp dir, waiting for an instance's
// agent, running the cpu workload through /run, the isolation and accounting
// checks both engines' instances pass, and a killed-run helper.
package enginetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/testenv"
	"vcbench/scenarios"
	"vcbench/workload"
)

// Setup builds the static agent and the rootfs into a temp dir and returns
// the environment for a backend, with a private state directory. It
// returns a reason instead when the tests cannot run here.
func Setup() (env bench.Env, dir string, skip string) {
	if os.Geteuid() != 0 {
		return env, "", "needs root (engines, cgroups)"
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return env, "", "needs the go tool to build the agent"
	}
	dir, err = os.MkdirTemp("", "vcbench-engine-test-")
	if err != nil {
		return env, "", err.Error()
	}
	agent := filepath.Join(dir, "vcbench-agent")
	build := exec.Command(goBin, "build", "-o", agent, "vcbench/cmd/vcbench-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return env, dir, fmt.Sprintf("build agent: %v: %s", err, out)
	}
	init := filepath.Join(dir, "vcbench-init")
	build = exec.Command(goBin, "build", "-o", init, "vcbench/cmd/vcbench-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return env, dir, fmt.Sprintf("build vcbench-init: %v: %s", err, out)
	}
	p := image.Paths{Dir: filepath.Join(dir, "images")}
	if _, err := image.BuildRootfs(p, agent, init, image.BusyboxPath()); err != nil {
		return env, dir, err.Error()
	}
	return bench.Env{AgentPath: agent, ImageDir: p.Dir, StateDir: filepath.Join(dir, "state")}, dir, ""
}

// Spec is an instance spec for tests, its scratch under t's temp dir.
func Spec(t testing.TB, runID, name string) bench.InstanceSpec {
	return bench.InstanceSpec{RunID: runID, Name: name, RawDir: t.TempDir(), ScratchDir: t.TempDir(),
		StartTimeout: 60 * time.Second, StopTimeout: 5 * time.Second}
}

// WaitReady polls the agent's /healthz until it answers 200, up to d.
func WaitReady(addr string, d time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	var last error
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		resp, err := c.Get("http://" + addr + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("healthz: %s", resp.Status)
		}
		last = err
	}
	return fmt.Errorf("agent at %s not ready within %s: %v", addr, d, last)
}

// RunCPU runs a short cpu workload through the agent's /run.
func RunCPU(ctx context.Context, addr string) (*workload.Result, error) {
	body, _ := json.Marshal(workload.Params{Kind: workload.CPU, Iterations: 2000, Threads: 1})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/run", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/run: %s: %s", resp.Status, b)
	}
	var res workload.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	if len(res.Metrics) == 0 {
		return nil, fmt.Errorf("/run answered no figures: %s", b)
	}
	return &res, nil
}

// Isolated waits for inst's agent and checks what both engines promise
// about its container: its own PID namespace, the hostname "boxed", the
// interfaces lo and eth0 (eth0 saying whose it is), a read-only root.
func Isolated(t *testing.T, inst bench.Instance, eth0 string) {
	t.Helper()
	if err := WaitReady(inst.Addr(), 30*time.Second); err != nil {
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
		t.Errorf("interfaces %v, want lo and %s", names, eth0)
	}
	if !info.RootReadOnly {
		t.Error("root is writable")
	}
}

// Accounted runs the cpu workload in inst and checks that its cgroup CPU
// time grew and that its host memory has the cgroup's usage and the PSS of
// the engine's process beside it under parentKey.
func Accounted(t *testing.T, ctx context.Context, inst bench.Instance, parentKey string) {
	t.Helper()
	cpu0, _ := inst.(bench.CPUTimer).HostCPUSeconds()
	res, err := RunCPU(ctx, inst.Addr())
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
	if m["cgroup_usage"] <= 0 || m[parentKey] <= 0 {
		t.Errorf("host memory %v", m)
	}
}

// Helper is the body of a test binary run as a killed vcbench: it
// prepares the runtime that factory makes of cfg, starts one instance
// called name, prints its address and sleeps until killed. spec is
// "imageDir:stateDir:runID".
func Helper(factory bench.Factory, cfg scenarios.RuntimeConfig, name, spec string) {
	parts := strings.SplitN(spec, ":", 3)
	env := bench.Env{ImageDir: parts[0], StateDir: parts[1]}
	rt, _ := factory(cfg, env)
	ctx := context.Background()
	if err := rt.(bench.Preparer).Prepare(ctx); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	in, err := rt.Start(ctx, bench.InstanceSpec{RunID: parts[2], Name: name, ScratchDir: os.TempDir(), StopTimeout: time.Second})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", in.Addr())
	select {}
}

// KillHelper runs this test binary as a Helper (helperEnv set to env's
// dirs and run), waits for its agent, SIGKILLs it and returns its pid.
func KillHelper(t *testing.T, helperEnv string, env bench.Env, run string) int {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+env.ImageDir+":"+env.StateDir+":"+run)
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
	if err := WaitReady(addr, 30*time.Second); err != nil {
		t.Error(err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	return cmd.Process.Pid
}

// Prepared makes the runtime of cfg with factory and runs its Prepare
// (bounded at two minutes), failing the test on either error.
func Prepared(t *testing.T, factory bench.Factory, cfg scenarios.RuntimeConfig, env bench.Env) bench.Runtime {
	t.Helper()
	rt, err := factory(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if p, ok := rt.(bench.Preparer); ok {
		if err := p.Prepare(ctx); err != nil {
			t.Fatalf("prepare: %v", err)
		}
	}
	return rt
}

// Main is an engine package's TestMain: with helperEnv set it runs as the
// killed-vcbench helper (Helper) of cfg; otherwise it sets up the test
// environment, asks probe (called only when Setup found nothing missing)
// why the engine cannot run here ("" when it can), runs the tests and
// removes the environment. It sets *env and *skip for the tests.
func Main(m *testing.M, helperEnv string, factory bench.Factory, cfg scenarios.RuntimeConfig, name string, probe func() string, env *bench.Env, skip *string) {
	if spec := os.Getenv(helperEnv); spec != "" {
		Helper(factory, cfg, name, spec)
		return
	}
	e, dir, why := Setup()
	if why == "" {
		why = probe()
	}
	*env, *skip = e, why
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}
