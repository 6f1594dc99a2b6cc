package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"vcbench/bench"
	"vcbench/image"
	"vcbench/scenarios"
	"vcbench/state"
)

// OCIRuntime runs the agent with an OCI runtime (crun, runc or gVisor's
// runsc) from a bundle over the same rootfs as the container runtime, in
// a network namespace that vcbench created and wired first.
type OCIRuntime struct {
	kind   scenarios.RuntimeKind
	bin    string // crun, runc or runsc
	cfg    scenarios.RuntimeConfig
	env    bench.Env
	alloc  *allocator
	harden hardening

	verOnce sync.Once
	version string
}

var (
	_ bench.Runtime   = (*OCIRuntime)(nil)
	_ bench.Describer = (*OCIRuntime)(nil)
	_ bench.Preparer  = (*OCIRuntime)(nil)
	_ bench.Instance  = (*OCIInstance)(nil)
	_ bench.Phaser    = (*OCIInstance)(nil)
	_ bench.CPUTimer  = (*OCIInstance)(nil)
	_ bench.Exiter    = (*OCIInstance)(nil)
)

// NewCrun is the bench.Factory of the "oci-crun" runtime.
func NewCrun(cfg scenarios.RuntimeConfig, env bench.Env) (bench.Runtime, error) {
	return newOCI(scenarios.OCICrun, "crun", cfg, env, Options{})
}

// NewRunc is the bench.Factory of the "oci-runc" runtime.
func NewRunc(cfg scenarios.RuntimeConfig, env bench.Env) (bench.Runtime, error) {
	return newOCI(scenarios.OCIRunc, "runc", cfg, env, Options{})
}

// NewRunsc is the bench.Factory of the "oci-runsc" runtime (gVisor).
func NewRunsc(cfg scenarios.RuntimeConfig, env bench.Env) (bench.Runtime, error) {
	return newOCI(scenarios.OCIRunsc, "runsc", cfg, env, Options{})
}

// NewOCIWithOptions makes an OCI runtime of kind (oci-crun, oci-runc or
// oci-runsc) with settings that scenario files do not carry.
func NewOCIWithOptions(cfg scenarios.RuntimeConfig, env bench.Env, opts Options) (*OCIRuntime, error) {
	switch cfg.Kind {
	case scenarios.OCICrun:
		return newOCI(cfg.Kind, "crun", cfg, env, opts)
	case scenarios.OCIRunc:
		return newOCI(cfg.Kind, "runc", cfg, env, opts)
	case scenarios.OCIRunsc:
		return newOCI(cfg.Kind, "runsc", cfg, env, opts)
	}
	return nil, fmt.Errorf("runtime kind %q is not an OCI runtime", cfg.Kind)
}

func newOCI(kind scenarios.RuntimeKind, bin string, cfg scenarios.RuntimeConfig, env bench.Env, opts Options) (*OCIRuntime, error) {
	if err := validate(cfg, kind); err != nil {
		return nil, err
	}
	if kind == scenarios.OCIRunsc && cfg.UserNS {
		return nil, fmt.Errorf("%s: user namespaces are not supported with runsc", cfg.RuntimeName())
	}
	a, err := allocatorFor(opts.subnet())
	if err != nil {
		return nil, err
	}
	h, err := hardeningFor(cfg.Hardening)
	if err != nil {
		return nil, err
	}
	return &OCIRuntime{kind: kind, bin: bin, cfg: cfg, env: env, alloc: a, harden: h}, nil
}

// Kind implements bench.Runtime.
func (r *OCIRuntime) Kind() scenarios.RuntimeKind { return r.kind }

// Prepare implements bench.Preparer: root, the rootfs, the runtime binary.
func (r *OCIRuntime) Prepare(ctx context.Context) error {
	if err := prepare(r.env, r.cfg); err != nil {
		return err
	}
	if _, err := exec.LookPath(r.bin); err != nil {
		return fmt.Errorf("%s not installed: %w", r.bin, err)
	}
	if r.kind == scenarios.OCIRunsc {
		if err := probeRunsc(ctx, r.platform()); err != nil {
			return err
		}
		return probeSelf(r.env.SelfPath) // runsc runs through `vcbench init oci-exec`
	}
	if hs, err := hierarchies(); err == nil {
		_, hybrid := cgroupMode()
		if w, _ := ociCgroupPlan(r.bin, hs, "x", hybrid); w != nil {
			return probeSelf(initBinary(r.env)) // crun runs through `vcbench-init oci-exec`
		}
	}
	return nil
}

// Describe implements bench.Describer: runtime_version is the first lines
// of `<runtime> --version`; wrapper says how crun was started.
func (r *OCIRuntime) Describe() map[string]string {
	r.verOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, r.bin, "--version").Output()
		if err != nil {
			r.version = "unknown: " + err.Error()
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 2 {
			lines = lines[:2]
		}
		r.version = strings.Join(lines, "; ")
	})
	d := map[string]string{
		"runtime_version": r.version,
		"cgroup_manager":  "cgroupfs",
		"cpu_time_source": cpuTimeSource(),
		"readiness":       readiness,
		"network":         "veth in a vcbench-made netns, one /30 per instance from " + r.alloc.base.String() + ", no default route",
	}
	if r.kind == scenarios.OCIRunsc {
		// runsc is not given the ready pipe: the runner polls.
		d["readiness"] = "/healthz polled every 2 ms (runsc hands the agent no inherited pipe)"
		r.describeRunsc(d)
		return d
	}
	r.harden.describe(d, "in the spec: "+r.bin+" compiles it with libseccomp")
	if hs, err := hierarchies(); err == nil {
		_, hybrid := cgroupMode()
		if w, _ := ociCgroupPlan(r.bin, hs, "x", hybrid); w != nil {
			d["wrapper"] = initName(r.env) + " oci-exec: private mount namespace without cgroup2, own cgroups bound over their hierarchies; runtime_exec is its exec of " + r.bin
		}
	}
	return d
}

// OCIInstance is one container run by crun, runc or runsc.
type OCIInstance struct {
	*base
	r      *OCIRuntime
	id     string
	root   string // the runtime's --root (per run)
	bundle string
	wrap   *wrapConfig
	pid    state.Proc // the container's init; runsc: the sandbox (sentry)
	gofer  state.Proc // runsc's gofer (file proxy)
}

// ociCgroupPlan decides the spec's cgroupsPath for the group rel and
// whether crun needs the mount-namespace wrapper. runc resolves a relative
// path against its own group per controller; crun takes any path from the
// hierarchy roots, so where vcbench's own groups differ between
// controllers (or on a hybrid host, which crun refuses) crun runs in a
// private mount namespace with each own group bound over its hierarchy.
func ociCgroupPlan(bin string, hs []hierarchy, rel string, hybrid bool) (*wrapConfig, string) {
	own, same := "", true
	for i, h := range hs {
		if hybrid && h.V2 {
			continue
		}
		if i == 0 || own == "" {
			own = h.OwnRel
		} else if h.OwnRel != own {
			same = false
		}
	}
	if bin == "runc" || bin == "runsc" {
		// runsc resolves relative paths as runc does.
		if same {
			return nil, filepath.Join(own, rel)
		}
		return nil, rel
	}
	if same && !hybrid {
		return nil, filepath.Join(own, rel)
	}
	w := &wrapConfig{}
	for _, h := range hs {
		switch {
		case h.V2 && hybrid:
			w.Umount = append(w.Umount, h.Mount)
		case h.OwnRel != "/":
			w.Binds = append(w.Binds, [2]string{h.OwnDir(), h.Mount})
		}
	}
	return w, filepath.Join("/", rel)
}

// Start implements bench.Runtime: it returns once `<runtime> run -d` has.
func (r *OCIRuntime) Start(ctx context.Context, spec bench.InstanceSpec) (_ bench.Instance, err error) {
	in := &OCIInstance{base: newBase(r.kind, r.cfg, r.env, spec, r.alloc), r: r}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if serr := in.Stop(sctx); serr != nil {
				err = errors.Join(err, fmt.Errorf("clean up after failed start: %w", serr))
			}
			err = fmt.Errorf("start %s container %s: %w", r.bin, spec.Name, err)
		}
	}()
	binPath, err := exec.LookPath(r.bin)
	if err != nil {
		return nil, fmt.Errorf("%s not installed: %w", r.bin, err)
	}
	end := deadline(spec.StartTimeout, scenarios.DefaultStartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(end) {
		end = d
	}
	ociDir := filepath.Join(r.env.StateDir, "oci")
	runDir := filepath.Join(ociDir, safeName(spec.RunID))
	in.id = "vcbench-" + safeName(spec.RunID) + "-" + safeName(spec.Name)
	in.root = filepath.Join(runDir, r.bin+"-root")
	in.bundle = filepath.Join(runDir, "bundle-"+safeName(spec.Name))
	// The run's directories are shared with its other instances: the last
	// one removes them.
	for _, d := range []state.Resource{state.EmptyDir(ociDir), state.EmptyDir(runDir), state.Path(in.bundle), state.EmptyDir(in.root)} {
		if err := in.own.Add(nil, d); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(d.Name, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d.Name, err)
		}
	}
	if err := in.makeScratch(r.bin); err != nil {
		return nil, err
	}
	// The runtime creates the group; record where, first.
	if err := in.recordCgroup(true); err != nil {
		return nil, err
	}
	cg := in.cg
	if err := in.makeNetns(r.env.StateDir); err != nil {
		return nil, err
	}
	v2, hybrid := cgroupMode()
	wrap, cgPath := ociCgroupPlan(r.bin, cg.hs, cg.rel, hybrid)
	if r.kind == scenarios.OCIRunsc {
		wrap = runscWrap()
	}
	in.wrap = wrap
	p := ociParams{
		Rootfs:      image.Paths{Dir: r.env.ImageDir}.RootfsFor(string(r.cfg.ImageName())),
		Writable:    r.cfg.Writable,
		Hostname:    r.hostname(spec),
		NetNS:       in.netns,
		Scratch:     in.scratch,
		CgroupsPath: cgPath,
		VCPUs:       r.cfg.VCPUs,
		MemoryMiB:   r.cfg.MemoryMiB,
		Memsw:       !v2 && hasMemsw(cg.hs),
		UserNS:      r.cfg.UserNS,
		SysBind:     r.cfg.UserNS && r.bin == "runc",
		Harden:      r.harden,
	}
	sp := ociSpec(p)
	b, err := json.MarshalIndent(sp, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(in.bundle, "config.json"), b, 0o600); err != nil {
		return nil, fmt.Errorf("write config.json: %w", err)
	}
	if spec.RawDir != "" {
		os.WriteFile(filepath.Join(spec.RawDir, "oci-config-"+safeName(spec.Name)+".json"), b, 0o644)
	}
	if err := in.openLog(); err != nil {
		return nil, err
	}
	pidFile := filepath.Join(in.bundle, "pid")
	rctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	// The runtime's state of the container (and the cgroup and processes
	// it makes): `delete -f` first, in this process.
	if err := in.own.Add(in.deleteContainer, in.stateFiles()...); err != nil {
		return nil, err
	}
	in.own.OnClose(in.watchExit())
	if r.kind == scenarios.OCIRunsc {
		if err := in.startRunsc(rctx, binPath, pidFile); err != nil {
			return nil, err
		}
		return in, nil
	}
	// fd 3 of the runtime, preserved into the container as the agent's
	// fd 3: the agent writes its ready line there (proto.ReadyFDEnv).
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("ready pipe: %w", err)
	}
	defer readyR.Close()
	files := []*os.File{readyW}
	// Through the wrapper, the runtime's own start is the wrapper's exec
	// of it, which the wrapper stamps on fd 4.
	var stampR *os.File
	if in.wrap != nil {
		var stampW *os.File
		if stampR, stampW, err = os.Pipe(); err != nil {
			readyW.Close()
			return nil, fmt.Errorf("stamp pipe: %w", err)
		}
		defer stampR.Close()
		files = append(files, stampW)
	}
	cmd := in.command(rctx, binPath, len(files) == 2, "run", "-d", "--preserve-fds", "1", "--pid-file", pidFile, "--bundle", in.bundle, in.id)
	cmd.Stdout, cmd.Stderr = in.log, in.log
	cmd.ExtraFiles = files
	if stampR == nil {
		in.phase(bench.PhaseRuntimeExec, monoNow())
	}
	err = cmd.Start()
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w", r.bin, err)
	}
	if stampR != nil {
		stampR.SetReadDeadline(end)
		if err := in.readStamps(stampR); err != nil {
			cmd.Wait()
			return nil, fmt.Errorf("%s wrapper: %w (output: %s)", r.bin, err, in.logTail())
		}
	}
	err = cmd.Wait()
	in.phase("runtime_returned", monoNow())
	if pid, perr := readPidFile(pidFile); perr == nil {
		// Not our child: the record's SIGTERM, grace, SIGKILL stops it.
		pr, perr := state.ProcOf(pid)
		if perr == nil {
			in.pid = pr
			perr = in.own.Add(nil, state.Process(pr))
		} else {
			perr = fmt.Errorf("identify container pid %d: %w", pid, perr)
		}
		if err == nil {
			err = perr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s run: %w (output: %s)", r.bin, err, in.logTail())
	}
	if in.pid.Pid == 0 {
		return nil, fmt.Errorf("%s run left no pid file (output: %s)", r.bin, in.logTail())
	}
	if err := in.readReady(readyR, end); err != nil {
		return nil, fmt.Errorf("%w (output: %s)", err, in.logTail())
	}
	return in, nil
}

func (r *OCIRuntime) hostname(spec bench.InstanceSpec) string {
	if r.cfg.Hostname != "" {
		return r.cfg.Hostname
	}
	return spec.Name
}

// command builds an invocation of the runtime with the instance's --root,
// through the mount-namespace wrapper where crun needs one; with stamp, the
// wrapper stamps its exec of the runtime on fd 4.
func (in *OCIInstance) command(ctx context.Context, binPath string, stamp bool, args ...string) *exec.Cmd {
	argv := append(append([]string{binPath, "--root", in.root}, in.r.globalFlags()...), args...)
	if in.wrap == nil {
		return exec.CommandContext(ctx, binPath, argv[1:]...)
	}
	wc := *in.wrap
	if stamp {
		wc.StampFD = 4
	}
	w, _ := json.Marshal(wc)
	initBin := initBinary(in.r.env)
	cmd := exec.CommandContext(ctx, initBin, append([]string{"init", modeOCIExec, string(w), "--"}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	return cmd
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Exited reports whether the container's init (the agent) has ended, and
// why: the OOM killer, as seen in the cgroup's counter, else its wait
// status ("killed by signal 9 (SIGKILL)", "exited with status 2") as the
// kernel's process events told it.
func (in *OCIInstance) Exited() (bool, string) {
	if in.own.Closed() {
		return true, "stopped"
	}
	if in.pid.Pid == 0 || in.pid.Alive() {
		return false, ""
	}
	oom, _ := in.cg.oomKills()
	return true, exitReason(oom, in.cfg.MemoryMiB, in.agentExit())
}

// watchExit makes procExits follow process exits while the instance
// lives (the runtime's `run -d` hands the agent to the host's init, which
// alone could wait for it) and returns the undo that stops following.
func (in *OCIInstance) watchExit() func(context.Context) error {
	release := procExits.acquire()
	return func(context.Context) error { release(); return nil }
}

// agentExit words the agent's end from its wait status, or says why that
// is unknown.
func (in *OCIInstance) agentExit() string {
	if ws, ok := procExits.lookup(in.pid.Pid, 200*time.Millisecond); ok {
		return waitStatusReason(ws)
	}
	if err := procExits.startErr(); err != nil {
		return fmt.Sprintf("exited (status unknown: process events: %v)", err)
	}
	return "exited (status unknown)"
}

// Stop implements bench.Instance: it undoes, in reverse order, what Start
// made: the container's PID 1 (SIGTERM, SIGKILL after the stop time-out),
// the runtime's container (`<runtime> delete -f`, which also removes the
// cgroup it made), the log, the veth, the netns, the cgroup, the scratch
// dir, the bundle and the run's directories once empty. It is idempotent
// and safe to call from several goroutines; errors are joined.
func (in *OCIInstance) Stop(ctx context.Context) error {
	if err := in.close(ctx); err != nil {
		return fmt.Errorf("stop %s container %s: %w", in.r.bin, in.spec.Name, err)
	}
	return nil
}

// deleteContainer runs `<runtime> delete -f` if the runtime holds state of
// the container; the recorded undo then removes what is left of it.
func (in *OCIInstance) deleteContainer(context.Context) error {
	if !in.hasState() {
		return nil
	}
	binPath, err := exec.LookPath(in.r.bin)
	if err != nil {
		return fmt.Errorf("%s delete -f %s: %w", in.r.bin, in.id, err)
	}
	// Its own time-out: the caller's context may be spent by now.
	dctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	force := "-f"
	if in.r.kind == scenarios.OCIRunsc {
		force = "-force" // runsc's flags are Go's: no -f
	}
	if out, err := in.command(dctx, binPath, false, "delete", force, in.id).CombinedOutput(); err != nil {
		return fmt.Errorf("%s delete -f %s: %w: %s", in.r.bin, in.id, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ociParams are the inputs of a bundle's config.json.
type ociParams struct {
	Rootfs      string
	Writable    bool
	Hostname    string
	NetNS       string // path of the prepared network namespace
	Scratch     string // host directory bound at /scratch
	CgroupsPath string
	VCPUs       int
	MemoryMiB   int
	Memsw       bool // also limit memory+swap (v1 with swap accounting)
	UserNS      bool
	// SysBind binds the host's /sys read-only instead of mounting sysfs:
	// runc cannot mount sysfs from a user namespace that does not own the
	// (vcbench-made) network namespace; crun falls back by itself.
	SysBind bool
	// Harden is the capability set and seccomp profile of the agent.
	Harden hardening
}

// ociSpec builds the OCI runtime spec equivalent to vcbench's own
// container: same namespaces (the network one prepared by vcbench), same
// mounts, limits, no_new_privs, read-only root, no capabilities and no
// seccomp filter unless the hardening profile adds them.
func ociSpec(p ociParams) *specs.Spec {
	nsx := []string{"nosuid", "noexec", "nodev"}
	s := &specs.Spec{
		Version: "1.0.2",
		Root:    &specs.Root{Path: p.Rootfs, Readonly: !p.Writable},
		Process: &specs.Process{
			Terminal:        false,
			User:            specs.User{UID: 0, GID: 0},
			Args:            image.ContainerArgv(p.Rootfs, agentArgv()),
			Env:             agentEnv(),
			Cwd:             "/",
			Capabilities:    &specs.LinuxCapabilities{Bounding: []string{}, Effective: []string{}, Inheritable: []string{}, Permitted: []string{}, Ambient: []string{}},
			NoNewPrivileges: true,
		},
		Hostname: p.Hostname,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: nsx},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "strictatime", "mode=755", "size=64k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: append([]string{"ro"}, nsx...)},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: append([]string{"ro", "relatime"}, nsx...)},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
			{Destination: "/scratch", Type: "bind", Source: p.Scratch, Options: []string{"rbind", "rw", "nosuid", "nodev"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace, Path: p.NetNS},
				{Type: specs.CgroupNamespace},
			},
			CgroupsPath:   p.CgroupsPath,
			MaskedPaths:   append([]string(nil), maskedPaths...),
			ReadonlyPaths: append([]string(nil), readonlyPaths...),
		},
	}
	if len(p.Harden.Caps) > 0 {
		s.Process.Capabilities = p.Harden.ociCapabilities()
	}
	s.Linux.Seccomp = p.Harden.Seccomp
	if p.SysBind {
		s.Mounts[2] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: append([]string{"rbind", "ro"}, nsx...)}
	}
	res := resources(p.VCPUs, p.MemoryMiB, p.Memsw)
	res.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	s.Linux.Resources = res
	if p.UserNS {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: userNSBase, Size: userNSSize}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: userNSBase, Size: userNSSize}}
	}
	return s
}
