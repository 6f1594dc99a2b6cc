package vm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/hostcg"
	"vcbench/metrics"
	"vcbench/scenarios"
	"vcbench/state"
)

// Runtime is the vm backend: it boots one QEMU guest per instance.
type Runtime struct {
	cfg    Config
	env    bench.Env
	paths  image.Paths
	noACPI bool // the guest kernel has no ACPI (image.Paths.GuestWithoutACPI)
	// kernelWhy says which guest kernel boots and why (kernel: auto picks).
	kernelWhy string
	// toolsDisk is the tools image's ext4 file (image.Paths.ToolsDisk of
	// the image directory, not of the small kernel's guest directory).
	toolsDisk string
	// netReason says why the network is what it is (the scenario, or the
	// default as root or not); vhost and vhostReason: tap's vhost-net.
	netReason   string
	vhost       bool
	vhostReason string

	mu       sync.Mutex
	probe    *ProbeResult // resolved accelerator
	firstRun *Instance    // settings the first instance used, for Describe
}

var (
	_ bench.Runtime       = (*Runtime)(nil)
	_ bench.Preparer      = (*Runtime)(nil)
	_ bench.Describer     = (*Runtime)(nil)
	_ bench.Merger        = (*Runtime)(nil)
	_ bench.Instance      = (*Instance)(nil)
	_ bench.Phaser        = (*Instance)(nil)
	_ bench.CPUTimer      = (*Instance)(nil)
	_ bench.Exiter        = (*Instance)(nil)
	_ bench.DataAddresser = (*Instance)(nil)
	_ bench.ToolAddresser = (*Instance)(nil)
)

// New is the vm runtime's bench.Factory: it validates the settings and
// checks that QEMU and the guest image are there.
func New(rc scenarios.RuntimeConfig, env bench.Env) (bench.Runtime, error) {
	cfg, err := ConfigFrom(rc)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath(QEMUBinary); err != nil {
		return nil, errNoQEMU
	}
	// The guest (kernel, initramfs) may be the small one in its own
	// directory; the tools disk is the image directory's, whichever kernel.
	tools := image.Paths{Dir: env.ImageDir}
	p, kernelWhy, err := guestFor(tools, cfg.Kernel)
	if err != nil {
		return nil, fmt.Errorf("vm: kernel %s: %w", cfg.Kernel, err)
	}
	for _, f := range []string{p.Kernel(), p.Initramfs()} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("vm: guest image: %w (run `vcbench images build`)", err)
		}
	}
	if cfg.Image == scenarios.ImageTools {
		if _, err := os.Stat(tools.ToolsDisk()); err != nil {
			return nil, fmt.Errorf("vm: tools image: %w (run `vcbench images build --tools`)", err)
		}
	}
	hostTSCkHz() // measured once here, not inside the first instance's launch
	r := &Runtime{cfg: cfg, env: env, paths: p, noACPI: p.GuestWithoutACPI(), kernelWhy: kernelWhy, toolsDisk: tools.ToolsDisk()}
	if rc.Network == "" {
		_, r.netReason = DefaultNetwork()
	} else {
		r.netReason = "network: " + string(cfg.Network) + " in the scenario"
	}
	if cfg.Network == NetworkTap {
		r.vhost, r.vhostReason = VhostNet()
	}
	return r, nil
}

// guestFor finds the guest of kernel k in the image directory p, and says
// why it is that one. KernelAuto takes the small kernel when it is built
// and the cloud kernel otherwise.
func guestFor(p image.Paths, k Kernel) (image.Paths, string, error) {
	if k != KernelAuto {
		g, err := p.GuestFor(image.KernelFlavor(k))
		return g, "kernel: " + string(k) + " in the scenario", err
	}
	if g, err := p.GuestFor(image.KernelSmall); err == nil {
		return g, "kernel: auto, and the small kernel is built (" + g.Dir + ")", nil
	}
	g, err := p.GuestFor(image.KernelCloud)
	return g, "kernel: auto, and the small kernel is not built: the cloud kernel, which boots about 1 s slower under TCG " +
		"(`vcbench images build --kernel small` or `make small-kernel` builds it once, in about six minutes on two cores)", err
}

// Kind is vm.
func (r *Runtime) Kind() scenarios.RuntimeKind { return scenarios.VM }

// MergeableMemory is true: QEMU marks guest RAM mergeable, so KSM can share
// identical pages between guests.
func (r *Runtime) MergeableMemory() bool { return true }

// Prepare resolves the accelerator once: kvm or tcg as configured, or for
// auto a probe boot under KVM that falls back to TCG.
func (r *Runtime) Prepare(ctx context.Context) error {
	r.resolveAccel(ctx)
	return nil
}

func (r *Runtime) resolveAccel(ctx context.Context) ProbeResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.probe != nil {
		return *r.probe
	}
	var res ProbeResult
	switch r.cfg.Accel {
	case AccelAuto:
		res = cachedProbe(ctx, r.paths.Dir)
	case AccelKVM:
		res = ProbeResult{Accel: AccelKVM, Reason: "accel: kvm in the scenario (not probed)", QEMUVersion: qemuVersion()}
	default:
		res = ProbeResult{Accel: AccelTCG, Reason: "accel: tcg in the scenario", QEMUVersion: qemuVersion()}
	}
	if ctx.Err() == nil { // an interrupted probe proves nothing: probe again next time
		r.probe = &res
	}
	return res
}

// probes caches ProbeAccel's answers by image directory for the life of
// the process: several vm runtimes in one scenario probe once.
var (
	probeMu sync.Mutex
	probes  = map[string]ProbeResult{}
)

func cachedProbe(ctx context.Context, imageDir string) ProbeResult {
	probeMu.Lock()
	defer probeMu.Unlock()
	if res, ok := probes[imageDir]; ok {
		return res
	}
	res := ProbeAccel(ctx, imageDir)
	if ctx.Err() == nil {
		probes[imageDir] = res
	}
	return res
}

// Describe records the accelerator actually used and why, QEMU's version,
// the machine, network, kernel and the scratch disk's cache mode. Under TCG
// every figure is software emulation: "accel" says so for the report.
func (r *Runtime) Describe() map[string]string {
	res := r.resolveAccel(context.Background())
	d := map[string]string{
		"accel":        string(res.Accel),
		"accel_reason": res.Reason,
		"qemu_version": res.QEMUVersion,
		"machine":      string(r.cfg.Machine),
		"network":      string(r.cfg.Network),
		"network_path": r.networkPath(),
		"network_why":  r.netReason,
		"vcpus":        strconv.Itoa(r.cfg.VCPUs),
		"memory_mib":   strconv.Itoa(r.cfg.MemoryMiB),
		"readiness":    "the agent's ready line on the serial console, then /healthz",
		// The agent runs as the guest's root under the guest's kernel.
		"seccomp":      "none (guest kernel)",
		"capabilities": "all (root in the guest)",
	}
	if r.cfg.Image == scenarios.ImageTools {
		d["image"] = "tools (" + r.toolsDisk + ", read-only virtio-blk, mounted at " + proto.ToolsMountPoint + ")"
	}
	v2, _ := hostcg.Mode()
	d["cpu_time_source"] = "QEMU's cgroup (no limits): " + hostcg.CPUTimeSource(v2)
	kernel := filepath.Base(bootKernel(r.paths))
	if kernel == "vmlinux" {
		kernel += " (PVH entry)"
	} else {
		kernel += " (bzImage)"
	}
	if m, err := r.paths.ReadManifest("guest"); err == nil && m.Info["kernel_release"] != "" {
		if f := m.Info["kernel_flavor"]; f != "" && !strings.Contains(m.Info["kernel_release"], f) {
			kernel = f + " " + kernel
		}
		kernel = m.Info["kernel_release"] + " " + kernel
	}
	d["kernel"] = kernel
	d["kernel_choice"] = string(r.cfg.Kernel)
	d["kernel_why"] = r.kernelWhy
	if res.Accel == AccelTCG {
		d["tb_size_mib"] = strconv.Itoa(r.cfg.TBSizeMiB)
	}
	r.mu.Lock()
	first := r.firstRun
	r.mu.Unlock()
	if first != nil {
		d["disk_cache"] = first.launch.Disk.Cache
		d["disk_aio"] = first.launch.Disk.AIO
		d["kernel_cmdline"] = first.launch.Cmdline
	}
	return d
}

// networkPath says in words what a packet goes through, for run.json.
func (r *Runtime) networkPath() string {
	dev := "virtio-net-device (virtio-mmio)"
	if r.cfg.Machine == MachineQ35 {
		dev = "virtio-net-pci"
	}
	if r.cfg.Network == NetworkUser {
		return "user-mode (slirp): " + dev + " into QEMU's own TCP/IP stack, forwarded from 127.0.0.1; not like a container's veth"
	}
	vhost := "vhost-net " + r.vhostReason
	if r.vhostReason == "" {
		vhost = "vhost-net off"
	}
	return "tap + " + dev + " on a /30 to the host, like a container's veth; " + vhost
}

// Instance is one running QEMU guest.
type Instance struct {
	name   string
	launch Launch
	own    *state.Owner // records each resource before it is made; Stop closes it
	start  time.Time    // when Start was called: phases count from here

	dir  string // private directory (mode 0700) with the QMP socket
	cg   *hostcg.CPUGroup
	addr string
	// dataAddr: the agent's data server as the harness reaches it, "" on a tap.
	dataAddr string
	// toolAddrs: each tool server as the harness reaches it (user mode,
	// image: tools); nil on a tap.
	toolAddrs map[string]string
	cmd       *exec.Cmd
	exited    chan struct{} // closed once QEMU has been waited for
	waitErr   error
	con       *console
	logFile   *os.File
	qmp       *qmpClient

	phases   []bench.Phase
	guestMem uint64

	stopTimeout time.Duration
}

// Start boots a guest and returns once the agent in it listens (its console
// marker). It does not return at spawn, although the address is known then:
// with user-mode networking QEMU accepts connections on the forwarded port
// at once and holds each until the guest answers, so an early /healthz poll
// would hang for its whole time-out and blur "ready". Start fails early and
// cleans up if QEMU exits, the kernel panics, the agent's init fails, the
// start time-out passes or ctx ends.
func (r *Runtime) Start(ctx context.Context, spec bench.InstanceSpec) (bench.Instance, error) {
	launch := time.Now()
	accel := r.resolveAccel(ctx).Accel
	inst := &Instance{name: spec.Name, start: launch, exited: make(chan struct{}), stopTimeout: spec.StopTimeout}
	inst.own = state.NewOwner(r.env.StateDir, spec.RunID, spec.Name, string(scenarios.VM))
	fail := func(err error) (bench.Instance, error) {
		err = fmt.Errorf("start vm %s: %w", spec.Name, err)
		return nil, errors.Join(err, inst.Stop(context.Background()))
	}
	timeout := spec.StartTimeout
	if timeout <= 0 {
		timeout = scenarios.DefaultStartTimeout
	}
	deadline := launch.Add(timeout)

	// Everything is recorded before it is created, so that `vcbench
	// cleanup` finds what a killed run left.
	inst.dir = filepath.Join(os.TempDir(), "vcbench-vm-"+randomSuffix())
	if err := inst.own.Add(nil, state.Path(inst.dir)); err != nil {
		return fail(err)
	}
	if err := os.Mkdir(inst.dir, 0o700); err != nil {
		return fail(fmt.Errorf("private dir: %w", err))
	}
	diskPath := filepath.Join(spec.ScratchDir, "vm-"+spec.Name+"-"+randomSuffix()+".raw")
	if err := inst.own.Add(nil, state.Path(diskPath)); err != nil {
		return fail(err)
	}
	disk, err := createDisk(diskPath, r.cfg.DiskMiB)
	if err != nil {
		return fail(err)
	}
	var ns NetSetup
	switch r.cfg.Network {
	case NetworkTap:
		ns, err = createTap(inst.own)
		if err != nil {
			return fail(err)
		}
		ns.Vhost = r.vhost
		inst.addr = net.JoinHostPort(ipOf(ns.GuestIP), strconv.Itoa(GuestPort))
	default:
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		// The data server (raw TCP and UDP of the network workload) is
		// reachable only through a forward of its own.
		dataPort, err := freePort()
		if err != nil {
			return fail(err)
		}
		ns = NetSetup{Mode: NetworkUser, HostPort: port, DataHostPort: dataPort, GuestIP: userGuestIP, Gateway: userGateway}
		inst.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		inst.dataAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(dataPort))
		// So are the servers of the host-client tools, one port each.
		if r.cfg.Image == scenarios.ImageTools {
			ns.ToolHostPorts = map[string]int{}
			inst.toolAddrs = map[string]string{}
			for _, tool := range ToolServers {
				p, err := freePort()
				if err != nil {
					return fail(err)
				}
				ns.ToolHostPorts[tool] = p
				inst.toolAddrs[tool] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
			}
		}
	}
	l := Launch{
		Binary: QEMUBinary, Name: "vcbench-" + spec.Name, Config: r.cfg, Accel: accel,
		Kernel: bootKernel(r.paths), Initrd: r.paths.Initramfs(),
		QMP: filepath.Join(inst.dir, "qmp.sock"), Net: ns, Disk: disk, NoACPI: r.noACPI,
	}
	if r.cfg.Image == scenarios.ImageTools {
		l.Tools = r.toolsDisk
	}
	l.Cmdline = KernelCmdline(l, hostTSCkHz())
	inst.launch = l
	if err := os.WriteFile(filepath.Join(spec.RawDir, "qemu-cmdline-"+spec.Name+".sh"), []byte(l.Script()), 0o755); err != nil {
		return fail(fmt.Errorf("save command line: %w", err))
	}
	inst.logFile, err = os.Create(filepath.Join(spec.RawDir, "console-"+spec.Name+".log"))
	if err != nil {
		return fail(fmt.Errorf("console log: %w", err))
	}
	logFile := inst.logFile
	inst.own.OnClose(func(context.Context) error {
		if err := logFile.Close(); err != nil {
			return fmt.Errorf("console log: %w", err)
		}
		return nil
	})
	// A group of its own, only for CPU accounting (QEMU's threads, at ns
	// resolution, read the way the container runtimes read theirs).
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
	if err := inst.spawn(launch); err != nil {
		return fail(err)
	}
	r.mu.Lock()
	if r.firstRun == nil {
		r.firstRun = inst
	}
	r.mu.Unlock()

	// QMP: the socket appears a few milliseconds after spawn.
	inst.qmp, err = dialQMP(l.QMP, deadline, inst.exited)
	if err != nil {
		return fail(inst.qemuFailure(err))
	}
	st, err := inst.qmp.status(time.Until(deadline))
	if err != nil {
		return fail(inst.qemuFailure(err))
	}
	if st != "running" {
		return fail(fmt.Errorf("qmp: guest is %q, not running", st))
	}
	inst.addPhase("qmp_ready", time.Since(launch))
	if inst.guestMem, err = inst.qmp.memoryBytes(time.Until(deadline)); err != nil {
		return fail(inst.qemuFailure(err))
	}

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-inst.con.listening:
		inst.consolePhases()
		return inst, nil
	case <-inst.con.failed:
		return fail(fmt.Errorf("guest failed: %s (console: %s)", inst.con.failureLine(), inst.logFile.Name()))
	case <-inst.exited:
		return fail(fmt.Errorf("qemu exited before the agent listened%s", inst.exitReason()))
	case <-timer.C:
		return fail(fmt.Errorf("agent did not listen within %s (%s; console: %s)", timeout, inst.bootProgress(), inst.logFile.Name()))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
}

// spawn starts QEMU with its stdout and stderr on one pipe that the console
// follower reads.
func (i *Instance) spawn(launch time.Time) error {
	cmd := exec.Command(i.launch.Binary, i.launch.Args()...)
	// Own process group; killed with vcbench if vcbench dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("console pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = i.cg.Spawn(cmd.SysProcAttr, func() error {
		i.addPhase(bench.PhaseRuntimeExec, time.Since(launch))
		return cmd.Start()
	})
	if err != nil && cmd.Process != nil {
		cmd.Process.Kill() // born, but its parent thread could not leave the group
		cmd.Wait()
	}
	if err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("start %s: %w", i.launch.Binary, err)
	}
	pw.Close()
	i.cmd = cmd
	i.addPhase("qemu_spawn", time.Since(launch))
	i.con = newConsole(launch)
	go func() {
		i.con.follow(pr, i.logFile)
		pr.Close()
	}()
	go func() {
		i.waitErr = cmd.Wait()
		close(i.exited)
	}()
	if err := i.own.AddProc(cmd.Process.Pid, i.stopQEMU); err != nil {
		// Unidentifiable at once usually means QEMU exited: say why.
		return i.qemuFailure(fmt.Errorf("record qemu: %w", err))
	}
	return nil
}

func (i *Instance) addPhase(name string, d time.Duration) {
	i.phases = append(i.phases, bench.Phase{Name: name, Since: d})
}

// consolePhases adds the milestones seen on the console: the first kernel
// line (earlyprintk), the agent's start marker and its listening marker.
func (i *Instance) consolePhases() {
	for _, p := range []struct {
		name string
		ev   consoleEvent
	}{{"kernel_start", evKernelStart}, {"agent_start", evAgentStart}, {"agent_listening", evListening}} {
		if d, ok := i.con.phase(p.ev); ok {
			i.addPhase(p.name, d)
		}
	}
}

// bootProgress says how far a boot that timed out got.
func (i *Instance) bootProgress() string {
	switch {
	case i.con == nil:
		return "qemu not started"
	case func() bool { _, ok := i.con.phase(evAgentStart); return ok }():
		return "the agent started but never listened"
	case func() bool { _, ok := i.con.phase(evKernelStart); return ok }():
		return "the kernel started but the agent never did; last console line: " + lastLine(i.con.tail(1))
	}
	return "no kernel output at all"
}

// qemuFailure explains a QMP error: QEMU closing the socket usually means
// it is exiting (bad kernel file, a device it refused), and its own message
// says why.
func (i *Instance) qemuFailure(err error) error {
	select {
	case <-i.exited:
	case <-time.After(500 * time.Millisecond):
		return err
	}
	return fmt.Errorf("qemu exited at start%s", i.exitReason())
}

// exitReason describes QEMU's exit, with the console's last lines.
func (i *Instance) exitReason() string {
	select {
	case <-i.exited:
	default:
		return ""
	}
	// Let the follower drain the pipe first.
	select {
	case <-i.con.done:
	case <-time.After(time.Second):
	}
	return fmt.Sprintf(" (qemu: %v; last output: %q)", i.waitErr, i.con.tail(3))
}

// Addr is the agent's address: 127.0.0.1:<forwarded port> for user-mode
// networking, the guest's tap address otherwise.
func (i *Instance) Addr() string { return i.addr }

// DataAddr is where the harness reaches the agent's data server: the
// second forwarded 127.0.0.1 port in user mode (TCP and UDP), "" on a tap,
// where the guest's own address with the agent's port is reachable.
func (i *Instance) DataAddr() string { return i.dataAddr }

// ToolAddr is where the harness reaches tool's server (bench.ToolAddresser):
// its own forwarded 127.0.0.1 port in user mode, "" on a tap, where the
// guest's address and the port the agent reports are reachable.
func (i *Instance) ToolAddr(tool string) string { return i.toolAddrs[tool] }

// Phases returns qemu_spawn, qmp_ready, kernel_start, agent_start and
// agent_listening, each as the time since Start was called (host clock).
func (i *Instance) Phases() []bench.Phase { return append([]bench.Phase(nil), i.phases...) }

// GuestMemoryBytes is the guest RAM that QMP's query-memory-size-summary
// reported at start.
func (i *Instance) GuestMemoryBytes() uint64 { return i.guestMem }

// HostMemory reads the QEMU process's host_pss and host_rss from
// /proc/PID/smaps_rollup and adds views of the VMM's own cost:
//
//   - host_overhead = PSS − guest RAM size. It is negative while the guest
//     has not touched all of its RAM (QEMU maps it lazily); it is not
//     clamped, so that the figure stays honest.
//   - host_vmm_pss = PSS of every mapping but the guest RAM's (the way
//     Firecracker's tests count VMM overhead), and its parts from
//     /proc/PID/smaps (see VMMMemory): host_vmm_tb, TCG's translation
//     cache (0 under KVM); host_vmm_heap, QEMU's other anonymous memory;
//     host_vmm_files, its mapped files (binary, libraries, ROMs, a PVH
//     kernel), shared page cache counted by share.
func (i *Instance) HostMemory() (map[string]float64, error) {
	pid := i.cmd.Process.Pid
	m, err := metrics.ProcMemory(pid)
	if err != nil {
		return nil, err
	}
	m["host_overhead"] = m["host_pss"] - float64(i.guestMem)
	if v, err := vmmMemory(pid, i.guestMem); err == nil {
		m["host_vmm_pss"] = m["host_pss"] - float64(v.GuestRAM)
		m["host_vmm_tb"] = float64(v.TB)
		m["host_vmm_heap"] = float64(v.Heap)
		m["host_vmm_files"] = float64(v.Files)
	}
	return m, nil
}

// HostCPUSeconds is QEMU's user+system CPU time since it started: its
// group's, at ns resolution.
func (i *Instance) HostCPUSeconds() (float64, error) { return i.cg.Seconds() }

// Exited reports whether QEMU has exited or the guest failed (kernel
// panic, agent init error, or its scratch disk failed on the host: a full
// file system, say), and why.
func (i *Instance) Exited() (bool, string) {
	if i.con != nil {
		if f := i.con.failureLine(); f != "" {
			return true, "guest: " + f
		}
	}
	if e := i.qmp.diskError(); e != nil {
		return true, e.describe(i.launch.Disk.Path)
	}
	select {
	case <-i.exited:
		return true, "qemu exited" + i.exitReason()
	default:
		return false, ""
	}
}

// Stop ends the guest and removes everything the instance created, in
// reverse order: QEMU first (QMP system_powerdown, briefly: the guest has
// no ACPI power-button handler, so this is courtesy; then QMP quit, then
// SIGKILL, each with a time-out), then the console log, the tap, the
// scratch disk and the private directory. It is idempotent (the instance's
// state.Owner closes once; later calls return the first's result) and
// joins every error.
func (i *Instance) Stop(ctx context.Context) error {
	if err := i.own.Close(ctx, i.grace()); err != nil {
		return fmt.Errorf("stop vm %s: %w", i.name, err)
	}
	return nil
}

// grace is how long QEMU gets to quit before SIGKILL: the stop time-out,
// at most 10 s.
func (i *Instance) grace() time.Duration {
	if i.stopTimeout <= 0 || i.stopTimeout > 10*time.Second {
		return 10 * time.Second
	}
	return i.stopTimeout
}

// stopQEMU is QEMU's graceful undo: QMP powerdown, QMP quit, SIGKILL to its
// process group, and a wait for the console follower to drain.
func (i *Instance) stopQEMU(ctx context.Context) error {
	grace := i.grace()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < grace {
		grace = time.Until(dl)
	}
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-i.exited:
			return true
		case <-t.C:
			return false
		}
	}
	var err error
	gone := wait(0)
	if !gone && i.qmp != nil {
		if err := i.qmp.powerdown(time.Second); err == nil {
			gone = wait(min(grace/4, 200*time.Millisecond))
		}
		if !gone {
			i.qmp.quit(time.Second)
			gone = wait(max(grace/2, time.Second))
		}
	}
	if !gone {
		syscall.Kill(-i.cmd.Process.Pid, syscall.SIGKILL)
		i.cmd.Process.Kill()
		if !wait(5 * time.Second) {
			err = fmt.Errorf("qemu pid %d did not exit after SIGKILL", i.cmd.Process.Pid)
		}
	}
	i.qmp.close()
	select {
	case <-i.con.done:
	case <-time.After(2 * time.Second):
	}
	return err
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ipOf strips the prefix length of a CIDR.
func ipOf(cidr string) string {
	ip, _, err := net.ParseCIDR(cidr)
	if err != nil {
		return cidr
	}
	return ip.String()
}
