// Package container runs the agent in Linux namespaces: vcbench's own
// container (a re-exec of vcbench as init, on golang.org/x/sys) and the OCI
// runtimes crun and runc over the same rootfs, each with a veth on a /30 of
// its own, a cgroup beneath vcbench's own, and every resource recorded with
// the state package before it is created.
package container

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vcbench/bench"
	"vcbench/image"
	"vcbench/scenarios"
)

// Runtime is vcbench's own namespace container backend.
type Runtime struct {
	cfg   scenarios.RuntimeConfig
	env   bench.Env
	opts  Options
	alloc *allocator
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
	return &Runtime{cfg: cfg, env: env, opts: opts, alloc: a}, nil
}

// Kind implements bench.Runtime.
func (r *Runtime) Kind() scenarios.RuntimeKind { return scenarios.Container }

// Prepare implements bench.Preparer: root, the rootfs and vcbench itself.
func (r *Runtime) Prepare(ctx context.Context) error {
	if err := prepare(r.env); err != nil {
		return err
	}
	return probeSelf(r.env.SelfPath)
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
	return map[string]string{
		"init":         "vcbench init (re-exec of " + r.env.SelfPath + ")",
		"cgroups":      cg,
		"namespaces":   ns,
		"rootfs":       image.Paths{Dir: r.env.ImageDir}.RootfsFor(string(r.cfg.ImageName())) + " (" + root + ")",
		"network":      "veth, one /30 per instance from " + r.alloc.base.String() + ", no default route",
		"capabilities": "none, no_new_privs",
	}
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

// Start implements bench.Runtime: it returns once the agent has been
// exec'd as the container's PID 1 in its cgroup with its network up.
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
	if r.env.SelfPath == "" {
		return nil, errors.New("path of the vcbench binary unknown")
	}
	end := deadline(spec.StartTimeout, scenarios.DefaultStartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(end) {
		end = d
	}
	if err := in.recordCgroup(false); err != nil {
		return nil, err
	}
	// Creating the group and moving init into it overlap with the clone
	// and the network: a move into a v1 group waits for an RCU grace period
	// (cgroup_threadgroup_rwsem), several milliseconds here.
	pidc, joined := make(chan int, 1), make(chan error, 1)
	go func() {
		err := in.cg.create(r.cfg.VCPUs, r.cfg.MemoryMiB)
		pid := <-pidc
		if err == nil && pid > 0 {
			err = in.cg.add(pid)
		}
		joined <- err
	}()
	sent, waited := false, false
	sendPid := func(pid int) {
		if !sent {
			sent = true
			pidc <- pid
		}
	}
	waitJoined := func() error {
		if waited {
			return nil
		}
		waited = true
		sendPid(0)
		return <-joined
	}
	defer waitJoined() // on every early return, before the clean-up above
	if err := in.makeScratch("container"); err != nil {
		return nil, err
	}
	if err := in.openLog(); err != nil {
		return nil, err
	}
	v2, _ := cgroupMode()
	ic := initConfig{
		Rootfs:   image.Paths{Dir: r.env.ImageDir}.RootfsFor(string(r.cfg.ImageName())),
		Hostname: r.hostname(spec),
		Writable: r.cfg.Writable,
		Scratch:  in.scratch,
		UserNS:   r.cfg.UserNS,
		CgroupNS: true,
		CgroupV2: v2,
		Agent:    agentArgv(),
	}
	for _, h := range in.cg.hs {
		if !h.V2 {
			ic.Cgroups = append(ic.Cgroups, strings.Join(h.Controllers, ","))
		}
	}
	arg, _ := json.Marshal(ic)

	repR, repW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sync pipe: %w", err)
	}
	defer repR.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		repW.Close()
		return nil, fmt.Errorf("sync pipe: %w", err)
	}
	defer goW.Close()
	attr := &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET,
	}
	if r.cfg.UserNS {
		attr.Cloneflags |= unix.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: userNSBase, Size: userNSSize}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: userNSBase, Size: userNSSize}}
		attr.GidMappingsEnableSetgroups = false
		// Become the namespace's root before exec, or exec as an unmapped
		// uid drops every capability.
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	}
	in.cmd = &exec.Cmd{
		Path:        r.env.SelfPath,
		Args:        []string{r.env.SelfPath, "init", modeContainer, string(arg)},
		Env:         []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Stdout:      in.log,
		Stderr:      in.log,
		ExtraFiles:  []*os.File{repW, goR}, // fds 3 and 4: reportFD, goFD
		SysProcAttr: attr,
	}
	err = in.cmd.Start()
	repW.Close()
	goR.Close()
	if err != nil {
		in.cmd = nil
		return nil, fmt.Errorf("clone init (%s init): %w", r.env.SelfPath, err)
	}
	go in.wait()
	sendPid(in.cmd.Process.Pid)
	if err := in.own.AddProc(in.cmd.Process.Pid, in.stopInit); err != nil {
		return nil, fmt.Errorf("record init: %w", err)
	}
	// A failure here may be the child's doing (it died): say what it said.
	parentFail := func(err error) error {
		goW.Close()
		if cerr := in.readReports(repR, time.Now().Add(2*time.Second)); cerr != nil && strings.HasPrefix(cerr.Error(), "container init: ") {
			return fmt.Errorf("%w (then: %v)", cerr, err)
		}
		return err
	}
	// While the child builds its mount tree: its cgroup and network.
	verr := in.makeVeth(netlink.NsPid(in.cmd.Process.Pid))
	if err := errors.Join(waitJoined(), verr); err != nil {
		return nil, parentFail(err)
	}
	in.phase("network_ready", monoNow())
	if _, err := goW.Write([]byte{'G'}); err != nil {
		return nil, parentFail(fmt.Errorf("release init: %w", err))
	}
	if err := in.readReports(repR, end); err != nil {
		return nil, err
	}
	return in, nil
}

// readReports reads the child's phase stamps until the agent's exec closes
// the pipe; an error line or an early exit fails the start.
func (in *Instance) readReports(r *os.File, end time.Time) error {
	r.SetReadDeadline(end)
	sc := bufio.NewScanner(r)
	var childErr string
	execd := false
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "T":
			name, v, _ := strings.Cut(rest, " ")
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				in.phase(name, ns)
			}
			execd = execd || name == "agent_exec"
		case "E":
			childErr = rest
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("init did not exec the agent within the start time-out (console: %s)", in.logTail())
		}
		return fmt.Errorf("read from init: %w", err)
	}
	if childErr != "" {
		return fmt.Errorf("container init: %s", childErr)
	}
	if !execd {
		select {
		case <-in.done:
		case <-time.After(2 * time.Second):
		}
		return fmt.Errorf("container init ended before exec of the agent: %s (console: %s)", in.exitStatus(), in.logTail())
	}
	return nil
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
			status = "killed by signal " + ws.Signal().String()
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
