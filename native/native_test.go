package native

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vcbench/bench"
	"vcbench/internal/testenv"
	"vcbench/scenarios"
	"vcbench/state"
)

// buildAgent builds the agent binary alone (static, as in the images).
func buildAgent(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vcbench-agent")
	build := exec.Command("go", "build", "-o", path, "vcbench/cmd/vcbench-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, out)
	}
	return path
}

func TestNewNeedsTheAgent(t *testing.T) {
	_, err := New(scenarios.RuntimeConfig{Kind: scenarios.Native}, bench.Env{AgentPath: filepath.Join(t.TempDir(), "none")})
	if err == nil || !strings.HasPrefix(err.Error(), "agent binary: ") {
		t.Fatalf("New without an agent = %v, want an agent binary error", err)
	}
}

func TestCPUList(t *testing.T) {
	n := numHostCPUs()
	all := fmt.Sprintf("all %d host CPUs", n)
	cases := map[int]string{0: all, n: all, n + 1: all}
	if n > 1 {
		cases[1] = "0"
	}
	if n > 2 {
		cases[2] = "0-1"
	}
	for vcpus, want := range cases {
		if got := cpuList(vcpus); got != want {
			t.Errorf("cpuList(%d) = %q, want %q", vcpus, got, want)
		}
	}
}

// TestStartStop starts the real agent as a plain process on loopback,
// pinned to one CPU where the host has more: it answers /healthz, sees one
// CPU, reports its phases, memory and CPU time, and Stop leaves neither the
// process, its scratch directory nor its state record behind.
func TestStartStop(t *testing.T) {
	env := bench.Env{AgentPath: buildAgent(t), StateDir: t.TempDir()}
	rt, err := New(scenarios.RuntimeConfig{Kind: scenarios.Native, VCPUs: 1}, env)
	if err != nil {
		t.Fatal(err)
	}
	if rt.Kind() != scenarios.Native {
		t.Errorf("Kind = %s", rt.Kind())
	}
	raw, scratch := t.TempDir(), t.TempDir()
	inst, err := rt.Start(context.Background(), bench.InstanceSpec{
		RunID: "test", Name: "native-1", RawDir: raw, ScratchDir: scratch,
		StartTimeout: 30 * time.Second, StopTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			inst.Stop(context.Background())
		}
	}()
	if !strings.HasPrefix(inst.Addr(), "127.0.0.1:") {
		t.Errorf("Addr = %q, want loopback", inst.Addr())
	}
	resp, err := http.Get("http://" + inst.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s", resp.Status)
	}
	info := testenv.Info(t, inst.Addr())
	if numHostCPUs() > 1 && info.CPUsUsable != 1 {
		t.Errorf("agent sees %d CPUs, want 1 (pinned)", info.CPUsUsable)
	}
	var names []string
	for _, p := range inst.(bench.Phaser).Phases() {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != bench.PhaseRuntimeExec+",process_spawn,agent_start" {
		t.Errorf("phases %v, want runtime_exec, process_spawn, agent_start", names)
	}
	// CPU time from the agent's own cgroup: the agent's start has cost some.
	if cpu, err := inst.(bench.CPUTimer).HostCPUSeconds(); err != nil || cpu <= 0 {
		t.Errorf("HostCPUSeconds() = %v, %v; want > 0 from the agent's cgroup", cpu, err)
	}
	mem, err := inst.HostMemory()
	if err != nil || mem["host_rss"] <= 0 || mem["host_pss"] <= 0 {
		t.Errorf("HostMemory = %v, %v", mem, err)
	}
	if _, err := inst.(bench.CPUTimer).HostCPUSeconds(); err != nil {
		t.Errorf("HostCPUSeconds: %v", err)
	}
	recs, err := state.Load(env.StateDir)
	if err != nil || len(recs) != 1 || len(recs[0].Procs) != 1 {
		t.Fatalf("state records %v, %v; want one with the agent's process", recs, err)
	}
	proc := recs[0].Procs[0]
	dirs, _ := filepath.Glob(filepath.Join(scratch, "native-native-1-*"))
	if len(dirs) != 1 {
		t.Fatalf("scratch dirs %v, want one", dirs)
	}
	if err := inst.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	stopped = true
	if proc.Alive() {
		t.Errorf("agent pid %d still runs after Stop", proc.Pid)
	}
	if _, err := os.Stat(dirs[0]); !os.IsNotExist(err) {
		t.Errorf("scratch dir %s after Stop: %v", dirs[0], err)
	}
	if recs, _ := state.Load(env.StateDir); len(recs) != 0 {
		t.Errorf("%d state records after Stop", len(recs))
	}
	if err := inst.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(raw, "agent-native-1.log")); err != nil {
		t.Errorf("agent log: %v", err)
	}
}

// killingRuntime starts native instances and SIGKILLs the first one's
// agent shortly after its first workload began (the runner reads the host
// CPU time just before it sends a workload).
type killingRuntime struct {
	*Runtime
	mu     sync.Mutex
	first  *instance
	killed chan state.Proc // the agent killed
}

type killOnWorkload struct {
	*instance
	rt *killingRuntime
}

func (k *killingRuntime) Start(ctx context.Context, spec bench.InstanceSpec) (bench.Instance, error) {
	inst, err := k.Runtime.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.first != nil {
		return inst, nil
	}
	k.first = inst.(*instance)
	return killOnWorkload{k.first, k}, nil
}

func (k killOnWorkload) HostCPUSeconds() (float64, error) {
	go func() {
		time.Sleep(300 * time.Millisecond)
		proc, _ := state.ProcOf(k.cmd.Process.Pid)
		syscall.Kill(proc.Pid, syscall.SIGKILL)
		k.rt.killed <- proc
	}()
	return k.instance.HostCPUSeconds()
}

// TestAgentKilledMidWorkload runs a real agent whose process is killed
// (SIGKILL) during a long cpu workload: the failure names the signal, the
// trial's next workload runs in a fresh agent and its figures carry
// restarted=1, and nothing of either agent is left.
func TestAgentKilledMidWorkload(t *testing.T) {
	env := bench.Env{AgentPath: buildAgent(t), StateDir: t.TempDir()}
	rt, err := New(scenarios.RuntimeConfig{Kind: scenarios.Native}, env)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenarios.Parse("kill.yaml", []byte(`name: kill
trials: 1
timeouts:
  workload: 60s
runtimes:
  - kind: native
workloads:
  - kind: cpu
    iterations: 1073741824
    threads: 1
  - kind: syscall
    iterations: 1000
`))
	if err != nil {
		t.Fatal(err)
	}
	store, err := bench.Create(t.TempDir(), bench.RunInfo{RunID: "kill", Runtimes: []bench.RuntimeInfo{{Name: "native", Kind: "native"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Finish(bench.StatusComplete, "")
	krt := &killingRuntime{Runtime: rt.(*Runtime), killed: make(chan state.Proc, 1)}
	r := &bench.Runner{Scenario: sc, Env: env, Store: store,
		Factories: map[scenarios.RuntimeKind]bench.Factory{scenarios.Native: func(scenarios.RuntimeConfig, bench.Env) (bench.Runtime, error) { return krt, nil }}}
	begin := time.Now()
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(begin); took > 30*time.Second {
		t.Errorf("Run took %s: the kill was not noticed before the 60 s time-out", took)
	}
	var killed state.Proc
	select {
	case killed = <-krt.killed:
	default:
		t.Fatal("the agent was never killed")
	}
	ri := store.Info().Runtimes[0]
	want := []bench.WorkloadFailure{{Trial: 0, Workload: "cpu", Instance: "native-1", Cause: "agent process ended: signal: killed", Replaced: true}}
	if !reflect.DeepEqual(ri.FailedWorkloads, want) {
		t.Errorf("failed_workloads %+v, want %+v", ri.FailedWorkloads, want)
	}
	if ri.TrialsOK != 1 || !slices.Equal(ri.Missing, []string{"cpu"}) {
		t.Errorf("trials_ok %d, missing %v; want 1 and [cpu]", ri.TrialsOK, ri.Missing)
	}
	f, err := os.Open(filepath.Join(store.Dir, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	samples, _, err := bench.ReadSamples(f)
	if err != nil {
		t.Fatal(err)
	}
	perWorkload := map[string]string{}
	for _, s := range samples {
		perWorkload[s.Workload] = s.Labels[bench.RestartedLabel]
	}
	wantLabels := map[string]string{"startup": "", "idle": "", "syscall": "1", "guest": "1"}
	if !reflect.DeepEqual(perWorkload, wantLabels) {
		t.Errorf("restarted label per workload %v, want %v", perWorkload, wantLabels)
	}
	if killed.StartTime == 0 || killed.Alive() {
		t.Errorf("killed agent %+v: unknown or still there", killed)
	}
	if recs, _ := state.Load(env.StateDir); len(recs) != 0 {
		t.Errorf("%d state records left", len(recs))
	}
}
