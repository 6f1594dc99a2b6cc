// Package container runs the agent in Linux namespaces: vcbench's own
// container (a re-exec of vcbench as init, on golang.org/x/sys) and the OCI
// runtimes crun and runc over the same rootfs, each with a veth on a /30 of
// its own, a cgroup beneath vcbench's own, and every resource recorded with
// the state package before it is created.
package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/hostcg"
	"vcbench/scenarios"
)

// Runtime is vcbench's own namespace container backend.
type Runtime struct {
	cfg    scenarios.RuntimeConfig
	env    bench.Env
	opts   Options
	alloc  *allocator
	harden hardening
	filter []byte // the compiled seccomp filter, empty without one
	nInsn  int
}

var (
	_ bench.Runtime   = (*Runtime)(nil)
	_ bench.Describer = (*Runtime)(nil)
	_ bench.Preparer  = (*Runtime)(nil)
	_ bench.Instance  = (*Instance)(nil)
	_ bench.Phaser    = (*Instance)(nil)
	_ bench.CPUTimer  = (*Instance)(nil)
	_ bench.Exiter    = (*Instance)(nil)
)

// New is the bench.Factory of the "container" runtime.
func New(cfg scenarios.RuntimeConfig, env bench.Env) (bench.Runtime, error) {
	return NewWithOptions(cfg, env, Options{})
}

// NewWithOptions is New with settings that scenario files do not carry.
func NewWithOptions(cfg scenarios.RuntimeConfig, env bench.Env, opts Options) (*Runtime, error) {
	if err := validate(cfg, scenarios.Container); err != nil {
		return nil, err
	}
	a, err := allocatorFor(opts.subnet())
	if err != nil {
		return nil, err
	}
	h, err := hardeningFor(cfg.Hardening)
	if err != nil {
		return nil, err
	}
	prog, err := h.ownFilter()
	if err != nil {
		return nil, err
	}
	return &Runtime{cfg: cfg, env: env, opts: opts, alloc: a, harden: h, filter: encodeFilter(prog), nInsn: len(prog)}, nil
}

// Kind implements bench.Runtime.
func (r *Runtime) Kind() scenarios.RuntimeKind { return scenarios.Container }

// Prepare implements bench.Preparer: root, the rootfs and vcbench itself.
func (r *Runtime) Prepare(ctx context.Context) error {
	if err := prepare(r.env, r.cfg); err != nil {
		return err
	}
	return probeSelf(initBinary(r.env))
}

// Describe implements bench.Describer.
func (r *Runtime) Describe() map[string]string {
	v2, hybrid := cgroupMode()
	cg := "v1"
	if v2 {
		cg = "v2"
	} else if hybrid {
		cg = "v1 (hybrid host)"
	}
	ns := "mnt,pid,uts,ipc,net,cgroup"
	if r.cfg.UserNS {
		ns += ",user"
	}
	root := "read-only"
	if r.cfg.Writable {
		root = "writable"
	}
	d := map[string]string{
		"init":            initName(r.env),
		"cpu_time_source": cpuTimeSource(),
		"readiness":       readiness,
		"cgroups":         cg,
		"namespaces":      ns,
		"rootfs":          image.Paths{Dir: r.env.ImageDir}.RootfsFor(string(r.cfg.ImageName())) + " (" + root + ")",
		"network":         "veth, one /30 per instance from " + r.alloc.base.String() + ", no default route",
	}
	r.harden.describe(d, fmt.Sprintf("vcbench's own classic BPF (x86_64 ABI only; i386 and x32 get the default action), %d instructions, linear as libseccomp's default", r.nInsn))
	return d
}

// Instance is one running container.
type Instance struct {
	*base
	cmd  *exec.Cmd
	done chan struct{} // closed once init has exited and been reaped
	exit string        // why, set before done closes
}

func (r *Runtime) hostname(spec bench.InstanceSpec) string {
	if r.cfg.Hostname != "" {
		return r.cfg.Hostname
	}
	return spec.Name
}

// Start implements bench.Runtime: it returns once the agent, exec'd as the
// container's PID 1 in its cgroup with its network up, has reported on its
// ready pipe that it listens.
//
// vcbench's preparation comes first: the cgroup with its limits, the
// scratch directory, the log, and (without a user namespace) a network
// namespace with its veth. Then the runtime itself starts (the phase
// runtime_exec): init is cloned already inside its group (hostcg.Spawn,
// no move that waits for the kernel) and joins the prepared network
// namespace; it builds the mount tree and execs the agent. A user
// namespace's root may not join a namespace the host's user namespace
// owns (nor mount sysfs for it), so there init gets a new network
// namespace at the clone and the veth is wired while it starts.
func (r *Runtime) Start(ctx context.Context, spec bench.InstanceSpec) (_ bench.Instance, err error) {
	in := &Instance{base: newBase(scenarios.Container, r.cfg, r.env, spec, r.alloc), done: make(chan struct{})}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if serr := in.Stop(sctx); serr != nil {
				err = errors.Join(err, fmt.Errorf("clean up after failed start: %w", serr))
			}
			err = fmt.Errorf("start container %s: %w", spec.Name, err)
		}
	}()
	initBin := initBinary(r.env)
	if initBin == "" {
		return nil, errors.New("path of the init binary unknown (vcbench-init or vcbench)")
	}
	end := deadline(spec.StartTimeout, scenarios.DefaultStartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(end) {
		end = d
	}
	// The network namespace and its veth are made beside the cgroup, the
	// scratch directory and the log: all of it before the runtime starts.
	netDone := make(chan error, 1)
	if r.cfg.UserNS {
		netDone <- nil
	} else {
		go func() { netDone <- in.makeNetns(r.env.StateDir) }()
	}
	netWaited := false
	waitNet := func() error {
		if netWaited {
			return nil
		}
		netWaited = true
		return <-netDone
	}
	defer waitNet() // on every early return, before the clean-up above
	if err := in.recordCgroup(false); err != nil {
		return nil, err
	}
	if err := in.cg.create(r.cfg.VCPUs, r.cfg.MemoryMiB); err != nil {
		return nil, err
	}
	if err := in.makeScratch("container"); err != nil {
		return nil, err
	}
	if err := in.openLog(); err != nil {
		return nil, err
	}
	if err := waitNet(); err != nil {
		return nil, err
	}
	if !r.cfg.UserNS {
		in.phase("network_ready", monoNow())
	}
	v2, _ := cgroupMode()
	ic := initConfig{
		Rootfs:   image.Paths{Dir: r.env.ImageDir}.RootfsFor(string(r.cfg.ImageName())),
		Hostname: r.hostname(spec),
		Writable: r.cfg.Writable,
		Scratch:  in.scratch,
		UserNS:   r.cfg.UserNS,
		NetNS:    in.netns,
		CgroupNS: true,
		CgroupV2: v2,
		Agent:    agentArgv(),
		AgentEnv: agentEnv(),
		Seccomp:  r.filter,
	}
	if ic.KeepCaps, err = r.harden.capMask(); err != nil {
		return nil, err
	}
	for _, h := range in.cg.hs {
		if !h.V2 {
			ic.Cgroups = append(ic.Cgroups, strings.Join(h.Controllers, ","))
		}
	}
	arg, _ := json.Marshal(ic)

	// fd 3 of init and then of the agent: init's stamps, the agent's ready line.
	repR, repW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("report pipe: %w", err)
	}
	defer repR.Close()
	attr := &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC,
	}
	if r.cfg.UserNS {
		attr.Cloneflags |= unix.CLONE_NEWNET | unix.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: userNSBase, Size: userNSSize}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: userNSBase, Size: userNSSize}}
		attr.GidMappingsEnableSetgroups = false
		// Become the namespace's root before exec, or exec as an unmapped
		// uid drops every capability.
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	in.cmd = &exec.Cmd{
		Path:        initBin,
		Args:        []string{initBin, "init", modeContainer, string(arg)},
		Env:         []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Stdout:      in.log,
		Stderr:      in.log,
		ExtraFiles:  []*os.File{repW}, // fd 3: nsinit.ReportFD
		SysProcAttr: attr,
	}
	err = hostcg.Spawn(in.cg.target(), attr, func() error {
		in.phase(bench.PhaseRuntimeExec, monoNow())
		return in.cmd.Start()
	})
	repW.Close()
	if err != nil {
		if in.cmd.Process == nil {
			in.cmd = nil
		} else {
			go in.wait()
			in.own.AddProc(in.cmd.Process.Pid, in.stopInit)
		}
		return nil, fmt.Errorf("clone init (%s): %w", initBin, err)
	}
	go in.wait()
	if err := in.own.AddProc(in.cmd.Process.Pid, in.stopInit); err != nil {
		return nil, fmt.Errorf("record init: %w", err)
	}
	if r.cfg.UserNS {
		if err := in.makeVeth(netlink.NsPid(in.cmd.Process.Pid)); err != nil {
			if cerr := in.readReports(repR, time.Now().Add(2*time.Second)); cerr != nil && strings.HasPrefix(cerr.Error(), "container init: ") {
				return nil, fmt.Errorf("%w (then: %v)", cerr, err)
			}
			return nil, err
		}
		in.phase("network_ready", monoNow())
	}
	if err := in.readReports(repR, end); err != nil {
		return nil, err
	}
	return in, nil
}

// readReports reads init's phase stamps and then the agent's ready line;
// an error line or an early exit fails the start.
func (in *Instance) readReports(r *os.File, end time.Time) error {
	res, err := in.readPipe(r, end)
	if err != nil {
		return err
	}
	if res.childErr != "" {
		return fmt.Errorf("container init: %s", res.childErr)
	}
	if res.ready {
		return nil
	}
	select {
	case <-in.done:
	case <-time.After(2 * time.Second):
	}
	if !res.execd {
		return fmt.Errorf("container init ended before exec of the agent: %s (console: %s)", in.exitStatus(), in.logTail())
	}
	return fmt.Errorf("the agent ended before it listened: %s (console: %s)", in.exitStatus(), in.logTail())
}

// wait reaps init and notes why it ended, reading the OOM counter before
// Stop can remove the cgroup.
func (in *Instance) wait() {
	err := in.cmd.Wait()
	status := "exited"
	var ee *exec.ExitError
	switch {
	case err == nil:
		status = "exited with status 0"
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			status = waitStatusReason(ws)
		} else {
			status = fmt.Sprintf("exited with status %d", ee.ExitCode())
			if c := ee.ExitCode(); c > 128 && c < 128+65 {
				status += fmt.Sprintf(" (its agent was killed by signal %s)", syscall.Signal(c-128))
			}
		}
	default:
		status = err.Error()
	}
	var oom uint64
	if in.cg != nil {
		oom, _ = in.cg.oomKills()
	}
	in.mu.Lock()
	in.exit = exitReason(oom, in.cfg.MemoryMiB, status)
	in.mu.Unlock()
	close(in.done)
}

func (in *Instance) exitStatus() string {
	select {
	case <-in.done:
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.exit
	default:
		return "still running"
	}
}

// Exited reports whether the container's init (the agent) has ended, and
// why: "killed by the kernel's OOM killer (memory limit 64 MiB)", "exited
// with status 1", ...
func (in *Instance) Exited() (bool, string) {
	select {
	case <-in.done:
		in.mu.Lock()
		defer in.mu.Unlock()
		return true, in.exit
	default:
		return false, ""
	}
}

// Stop implements bench.Instance: it undoes, in reverse order, what Start
// made: the veth, then init (SIGTERM to the container's PID 1, SIGKILL
// after the stop time-out, which kills the whole PID namespace), the log,
// the scratch dir and the cgroup. It is idempotent (the instance's
// state.Owner closes once; later calls return the first's result) and
// safe to call from several goroutines; errors are joined.
func (in *Instance) Stop(ctx context.Context) error {
	if err := in.close(ctx); err != nil {
		return fmt.Errorf("stop container %s: %w", in.spec.Name, err)
	}
	return nil
}

// stopInit is init's graceful undo: SIGTERM, the stop time-out (or ctx's
// end), SIGKILL, and a wait for wait() to have reaped it and read the OOM
// counter, before the owner removes the cgroup.
func (in *Instance) stopInit(ctx context.Context) error {
	select {
	case <-in.done:
		return nil
	default:
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(in.grace())
	select {
	case <-in.done:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	in.cmd.Process.Kill() // kills the whole PID namespace
	select {
	case <-in.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("init pid %d did not exit after SIGKILL", in.cmd.Process.Pid)
	}
}
