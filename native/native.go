// Package native is the baseline backend: it runs the agent as a plain host
// process, pinned to as many CPUs as the scenario gives the other runtimes.
package native

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"vcbench/agent"
	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/hostcg"
	"vcbench/metrics"
	"vcbench/scenarios"
	"vcbench/state"
)

// Runtime runs the agent as a plain host process: the baseline every other
// runtime is compared with. With vcpus set it pins the agent to that many
// CPUs, so that "one thread per CPU" means the same thing everywhere.
type Runtime struct {
	cfg scenarios.RuntimeConfig
	env bench.Env
}

var (
	_ bench.Runtime   = (*Runtime)(nil)
	_ bench.Describer = (*Runtime)(nil)
	_ bench.Instance  = (*instance)(nil)
	_ bench.Phaser    = (*instance)(nil)
	_ bench.CPUTimer  = (*instance)(nil)
	_ bench.Exiter    = (*instance)(nil)
)

// New is the native runtime's bench.Factory: it checks that the agent
// binary is there.
func New(cfg scenarios.RuntimeConfig, env bench.Env) (bench.Runtime, error) {
	if _, err := os.Stat(env.AgentPath); err != nil {
		return nil, fmt.Errorf("agent binary: %w (run `vcbench images build` or `make build`)", err)
	}
	if cfg.ImageName() == scenarios.ImageTools {
		tree := image.Paths{Dir: env.ImageDir}.ToolsRootfs()
		if _, err := os.Stat(tree); err != nil {
			return nil, fmt.Errorf("tools image: %w (run `vcbench images build --tools`)", err)
		}
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("image tools: the native agent chroots into %s to run the tools, which needs root", tree)
		}
	}
	return &Runtime{cfg: cfg, env: env}, nil
}

// agentArgs are the agent's arguments: serve on loopback with scratch, and
// with `image: tools` chroot into the tools tree for tool workloads.
func (n *Runtime) agentArgs(scratch string) []string {
	args := proto.ServeArgs("127.0.0.1:0", scratch)
	if n.cfg.ImageName() == scenarios.ImageTools {
		args = append(args, "-"+proto.FlagTools, image.Paths{Dir: n.env.ImageDir}.ToolsRootfs())
	}
	return args
}

// Kind is native.
func (n *Runtime) Kind() scenarios.RuntimeKind { return scenarios.Native }

// Describe records the pinning, the image and where CPU time is read.
func (n *Runtime) Describe() map[string]string {
	v2, _ := hostcg.Mode()
	d := map[string]string{"cpus": cpuList(n.cfg.VCPUs), "memory_limit": "none (host process)",
		"cpu_time_source": "instance cgroup (no limits): " + hostcg.CPUTimeSource(v2),
		"readiness":       "the agent's ready line on its stdout, then /healthz",
		"seccomp":         "none", "capabilities": "vcbench's own (a host process)"}
	if n.cfg.ImageName() == scenarios.ImageTools {
		d["image"] = "tools (chroot into " + image.Paths{Dir: n.env.ImageDir}.ToolsRootfs() + ")"
	}
	return d
}

func cpuList(vcpus int) string {
	if vcpus <= 0 || vcpus >= numHostCPUs() {
		return fmt.Sprintf("all %d host CPUs", numHostCPUs())
	}
	if vcpus == 1 {
		return "0"
	}
	return fmt.Sprintf("0-%d", vcpus-1)
}

func numHostCPUs() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		return set.Count()
	}
	return 1
}

type instance struct {
	cg     *hostcg.CPUGroup
	cmd    *exec.Cmd
	addr   string
	own    *state.Owner
	phases []bench.Phase
	done   chan struct{}
}

// Start launches the agent and returns once it printed its address. Every
// resource goes to the instance's owner before it is made, so an error at
// any step is undone by Stop, and `vcbench cleanup` replays the same record.
func (n *Runtime) Start(ctx context.Context, spec bench.InstanceSpec) (bench.Instance, error) {
	launch := time.Now()
	launchUp := agent.Uptime()
	inst := &instance{own: state.NewOwner(n.env.StateDir, spec.RunID, spec.Name, string(scenarios.Native)), done: make(chan struct{})}
	fail := func(err error) (bench.Instance, error) {
		return nil, errors.Join(err, inst.Stop(context.Background()))
	}
	scratch := filepath.Join(spec.ScratchDir, "native-"+spec.Name+"-"+rand.Text()[:8])
	if err := inst.own.Add(nil, state.Path(scratch)); err != nil {
		return fail(err)
	}
	if err := os.Mkdir(scratch, 0o700); err != nil {
		return fail(fmt.Errorf("scratch dir: %w", err))
	}
	logf, err := os.Create(filepath.Join(spec.RawDir, "agent-"+spec.Name+".log"))
	if err != nil {
		return fail(err)
	}
	// Closed after the agent is gone, once its reader wrote the last lines.
	inst.own.OnClose(func(context.Context) error {
		if inst.cmd != nil {
			select {
			case <-inst.done:
			case <-time.After(5 * time.Second):
			}
		}
		return logf.Close()
	})
	// A group of its own, only for CPU accounting: the agent and its
	// workloads' children are born in it and read like a container.
	cg, err := hostcg.PlanCPU(hostcg.InstanceRel(spec.RunID, spec.Name))
	if err != nil {
		return fail(fmt.Errorf("plan cpu cgroup: %w", err))
	}
	if err := inst.own.Add(func(context.Context) error { return cg.Remove() }, state.Cgroups(cg.Dir())...); err != nil {
		return fail(err)
	}
	if err := cg.Create(); err != nil {
		return fail(err)
	}
	inst.cg = cg
	cmd := exec.Command(n.env.AgentPath, n.agentArgs(scratch)...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	err = cg.Spawn(cmd.SysProcAttr, func() error {
		inst.phases = append(inst.phases, bench.Phase{Name: bench.PhaseRuntimeExec, Since: time.Since(launch)})
		return startPinned(cmd, n.cfg.VCPUs)
	})
	if err != nil {
		if cmd.Process != nil {
			inst.cmd = cmd
			go func() { cmd.Wait(); close(inst.done) }()
			inst.own.AddProc(cmd.Process.Pid, inst.stopAgent)
		}
		return fail(fmt.Errorf("start agent: %w", err))
	}
	inst.cmd = cmd
	inst.phases = append(inst.phases, bench.Phase{Name: "process_spawn", Since: time.Since(launch)})
	addrCh := make(chan string, 1)
	go func() {
		defer close(inst.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if up, ok := proto.ParseStart(line); ok {
				inst.phases = append(inst.phases, bench.Phase{Name: "agent_start", Since: time.Duration((up - launchUp) * float64(time.Second))})
			}
			if addr, ok := proto.ParseReady(line); ok {
				addrCh <- addr
			}
		}
		io.Copy(logf, out)
		cmd.Wait()
	}()
	if err := inst.own.AddProc(cmd.Process.Pid, inst.stopAgent); err != nil {
		return fail(err)
	}
	timer := time.NewTimer(spec.StartTimeout)
	defer timer.Stop()
	select {
	case inst.addr = <-addrCh:
		return inst, nil
	case <-inst.done:
		return fail(fmt.Errorf("agent exited before listening (see %s)", logf.Name()))
	case <-timer.C:
		return fail(fmt.Errorf("agent did not listen within %s", spec.StartTimeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
}

// stopAgent sends SIGTERM, waits 5 s (or until ctx ends), then kills the
// agent's process group.
func (i *instance) stopAgent(ctx context.Context) error {
	i.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-i.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	syscall.Kill(-i.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-i.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("agent pid %d did not exit after SIGKILL", i.cmd.Process.Pid)
	}
}

// startPinned starts cmd with its CPU affinity limited to the first vcpus
// CPUs. The child inherits the affinity of the thread that forks it, so the
// mask is set on a locked thread around Start: the agent's Go runtime then
// sees exactly vcpus CPUs from its first instruction.
func startPinned(cmd *exec.Cmd, vcpus int) error {
	if vcpus <= 0 || vcpus >= numHostCPUs() {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	for i := 0; i < vcpus; i++ {
		set.Set(i)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to %d CPUs: %w", vcpus, err)
	}
	defer unix.SchedSetaffinity(0, &old)
	return cmd.Start()
}

func (i *instance) Addr() string { return i.addr }

// Exited reports whether the agent process has ended, and how ("signal:
// killed", "exit status 2"), so that a failed workload names its cause.
func (i *instance) Exited() (bool, string) {
	select {
	case <-i.done:
	default:
		return false, ""
	}
	// done closes after cmd.Wait set ProcessState.
	if st := i.cmd.ProcessState; st != nil {
		return true, "agent process ended: " + st.String()
	}
	return true, "agent process ended"
}

func (i *instance) Phases() []bench.Phase { return i.phases }

func (i *instance) HostMemory() (map[string]float64, error) {
	return metrics.ProcMemory(i.cmd.Process.Pid)
}

// HostCPUSeconds is the CPU time of everything that ran in the agent's
// group (the agent and its children, exited ones too), at ns resolution.
func (i *instance) HostCPUSeconds() (float64, error) { return i.cg.Seconds() }

// Stop undoes the agent, its log and the scratch directory in reverse
// order, once; later calls return the first call's error.
func (i *instance) Stop(ctx context.Context) error { return i.own.Close(ctx, time.Second) }
