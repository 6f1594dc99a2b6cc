// Package nsinit is the first process of vcbench's own container and the
// mount-namespace wrapper of crun: what runs between the clone and the
// start of the agent (or the exec of the OCI runtime), and then the agent's
// init. It uses only the standard library, golang.org/x/sys/unix and
// vcbench's own small packages, so that cmd/vcbench-init, the binary
// the container runtime starts, is small and starts in about a
// millisecond; `vcbench init` runs the same code where that binary is
// missing.
package nsinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
	"vcbench/internal/pid1"
)

// The modes of `vcbench-init` (and of the hidden `vcbench init`).
const (
	ModeContainer = "container" // set up the namespaces' mounts, then start the agent and be its init
	ModeOCIExec   = "oci-exec"  // fix the mount namespace for an OCI runtime, then exec it
	// ModeSupervise is the process of an OCI or engine container: start
	// the agent (the arguments after --) as its child and be its init.
	ModeSupervise = "supervise"
	ModeProbe     = "probe" // answer ProbeAnswer: callers check the binary has init
)

// ProbeAnswer is what `init probe` prints.
const ProbeAnswer = "vcbench-init-ok"

// ReportFD is the file descriptor on which the parent reads the child's
// phase stamps ("T name ns") and errors ("E text"). In mode container it
// stays open across the agent's exec, which writes its ready line there
// (the agent is told with the agent/proto ready-fd variable in AgentEnv);
// in mode oci-exec it is closed by the runtime's exec.
const ReportFD = 3

// Config is what the parent tells the container's init, as JSON in argv.
// The parent starts init already in its cgroup (and, without a user
// namespace, in the network namespace it prepared), so init waits for
// nothing.
type Config struct {
	Rootfs   string   `json:"rootfs"`
	Hostname string   `json:"hostname"`
	Writable bool     `json:"writable"`
	Scratch  string   `json:"scratch"`   // host directory bound at /scratch
	UserNS   bool     `json:"user_ns"`   // device nodes by bind mount, no cgroupfs
	NetNS    string   `json:"net_ns"`    // prepared network namespace to join first ("": the cloned one)
	CgroupNS bool     `json:"cgroup_ns"` // unshare a cgroup namespace (init is in its group from birth)
	CgroupV2 bool     `json:"cgroup_v2"`
	Cgroups  []string `json:"cgroups"`   // v1 hierarchies to mount read-only inside (e.g. memory, cpu)
	Agent    []string `json:"agent"`     // the agent's argv inside the rootfs
	AgentEnv []string `json:"agent_env"` // the agent's environment
	// KeepCaps are the capabilities (bit mask) the agent keeps; 0: none.
	KeepCaps uint64 `json:"keep_caps,omitempty"`
	// Seccomp is a BPF program (struct sock_filter's bytes) loaded just
	// before the agent's exec; empty: none.
	Seccomp []byte `json:"seccomp,omitempty"`
}

// WrapConfig is what mode oci-exec changes in its private mount namespace
// before it execs the OCI runtime.
type WrapConfig struct {
	Umount []string    `json:"umount"` // e.g. the cgroup2 mount of a hybrid host
	Binds  [][2]string `json:"binds"`  // source → target, e.g. own cgroup over its hierarchy
	// Hide are directories covered with an empty read-only tmpfs, e.g.
	// /proc/sys/net for runsc (see container's runscWrap).
	Hide []string `json:"hide,omitempty"`
	// StampFD, when not 0, is a descriptor on which the wrapper writes
	// "T runtime_exec <ns>" right before the exec of the runtime (and which
	// that exec closes), so that the parent knows when the runtime itself
	// began: the wrapper is vcbench's preparation.
	StampFD int `json:"stamp_fd,omitempty"`
}

// Main is the init entry point: args are what follows the binary's name
// (a leading "init" is skipped). It never returns.
func Main(args []string) {
	// Keep every namespace, capability and credential change on the thread
	// that finally calls execve: several of them are per thread.
	runtime.LockOSThread()
	if len(args) > 0 && args[0] == "init" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "vcbench init: internal command, started by vcbench itself")
		os.Exit(2)
	}
	switch args[0] {
	case ModeProbe:
		fmt.Println(ProbeAnswer)
		os.Exit(0)
	case ModeContainer:
		if len(args) != 2 {
			fmt.Fprintln(os.Stderr, "vcbench init container: want one JSON argument")
			os.Exit(2)
		}
		runContainerInit(args[1])
	case ModeOCIExec:
		if len(args) < 4 || args[2] != "--" {
			fmt.Fprintln(os.Stderr, "vcbench init oci-exec: want CONFIG -- RUNTIME ARGS...")
			os.Exit(2)
		}
		runOCIExec(args[1], args[3:])
	case ModeSupervise:
		if len(args) < 3 || args[1] != "--" {
			fmt.Fprintln(os.Stderr, "vcbench init supervise: want -- AGENT ARGS...")
			os.Exit(2)
		}
		os.Exit(superviseAgent(args[2:], os.Environ()))
	}
	fmt.Fprintf(os.Stderr, "vcbench init: unknown mode %q\n", args[0])
	os.Exit(2)
}

// report writes one line to the parent; failures are ignored (the parent
// sees EOF and the exit status).
func report(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	line = strings.ReplaceAll(line, "\n", " ") + "\n"
	unix.Write(ReportFD, []byte(line))
}

func stamp(phase string) { report("T %s %d", phase, MonoNow()) }

// MonoNow reads CLOCK_MONOTONIC in nanoseconds; the clock is shared by every
// PID namespace, so the parent can place the child's stamps on its time line.
func MonoNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func runContainerInit(arg string) {
	stamp("init_exec")
	fail := func(err error) {
		report("E %v", err)
		fmt.Fprintln(os.Stderr, "vcbench init:", err)
		os.Exit(1)
	}
	var c Config
	if err := json.Unmarshal([]byte(arg), &c); err != nil {
		fail(fmt.Errorf("decode init config: %w", err))
	}
	if c.NetNS != "" {
		if err := joinNetns(c.NetNS); err != nil {
			fail(err)
		}
	}
	unix.Umask(0o022)
	if err := setupRoot(c); err != nil {
		fail(err)
	}
	if err := unix.Sethostname([]byte(c.Hostname)); err != nil {
		fail(fmt.Errorf("set hostname %q: %w", c.Hostname, err))
	}
	stamp("namespaces_ready")
	if c.CgroupNS {
		// A cgroup namespace is rooted where the process is when it
		// unshares: init was born in its group.
		err := unix.Unshare(unix.CLONE_NEWCGROUP)
		switch {
		case errors.Is(err, unix.EINVAL):
			// No cgroup namespaces in this kernel: show no cgroupfs
			// rather than the host's whole tree.
		case err != nil:
			fail(fmt.Errorf("unshare cgroup namespace: %w", err))
		default:
			if err := mountCgroups(c); err != nil {
				fail(err)
			}
		}
	}
	filter, err := DecodeFilter(c.Seccomp)
	if err != nil {
		fail(err)
	}
	if err := dropPrivileges(c.KeepCaps); err != nil {
		fail(err)
	}
	// Last, after no_new_privs: from here on only allowed system calls work.
	if err := installSeccomp(filter); err != nil {
		fail(err)
	}
	stamp("agent_exec")
	os.Exit(superviseAgent(c.Agent, c.AgentEnv))
}

// superviseAgent starts the agent (argv, env) as this PID 1's child and is
// its init until it exits, then returns its exit code. A container's init
// must reap orphans and pass on SIGTERM; when the agent was PID 1 itself
// it started a second copy of itself to serve (agent.RunInit), and that
// second Go start cost every container about 6 ms of "ready" on two cores.
// The harness's ready pipe (the ready-fd variable in env) goes to the
// agent as its fd 3 and is closed here once the agent runs, so that the
// harness sees EOF after the agent's ready line.
func superviseAgent(argv, env []string) int {
	ready := -1
	childEnv := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, proto.ReadyFDEnv+"="); ok {
			if fd, err := strconv.Atoi(v); err == nil && fd >= 3 && inheritedPipe(fd) {
				ready = fd
			}
			continue
		}
		childEnv = append(childEnv, kv)
	}
	files := []uintptr{0, 1, 2}
	if ready >= 0 {
		files = append(files, uintptr(ready))
		childEnv = append(childEnv, proto.ReadyFDEnv+"=3")
	}
	childEnv = append(childEnv, proto.ChildEnv+"=1")
	code, err := pid1.Supervise(argv[0], argv, childEnv, files, func() {
		if ready >= 0 {
			unix.Close(ready)
		}
	})
	if err != nil {
		report("E %v", err)
		fmt.Fprintln(os.Stderr, "vcbench init:", err)
		return 1
	}
	return code
}

// inheritedPipe reports whether fd is an open pipe that an exec keeps.
func inheritedPipe(fd int) bool {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC != 0 {
		return false
	}
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO
}

// runOCIExec runs in a fresh mount namespace (the parent cloned it): it
// makes every mount private, applies the wrapper's changes and execs the
// OCI runtime. Used where crun refuses the host's cgroup layout (hybrid)
// or cannot express vcbench's per-controller cgroup paths.
func runOCIExec(arg string, argv []string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "vcbench init oci-exec:", err)
		os.Exit(125)
	}
	var w WrapConfig
	if err := json.Unmarshal([]byte(arg), &w); err != nil {
		fail(fmt.Errorf("decode wrapper config: %w", err))
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail(fmt.Errorf("make mounts private: %w", err))
	}
	for _, u := range w.Umount {
		if err := unix.Unmount(u, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			fail(fmt.Errorf("unmount %s: %w", u, err))
		}
	}
	for _, b := range w.Binds {
		if err := unix.Mount(b[0], b[1], "", unix.MS_BIND, ""); err != nil {
			fail(fmt.Errorf("bind %s on %s: %w", b[0], b[1], err))
		}
	}
	for _, h := range w.Hide {
		if err := unix.Mount("tmpfs", h, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,mode=555"); err != nil {
			fail(fmt.Errorf("hide %s: %w", h, err))
		}
	}
	if w.StampFD > 0 {
		unix.CloseOnExec(w.StampFD)
		unix.Write(w.StampFD, []byte(fmt.Sprintf("T runtime_exec %d\n", MonoNow())))
	}
	err := unix.Exec(argv[0], argv, os.Environ())
	fail(fmt.Errorf("exec %s: %w", argv[0], err))
}

// joinNetns moves init into the network namespace bound at path, before
// sysfs is mounted for it.
func joinNetns(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("join network namespace %s: %w", path, err)
	}
	return nil
}
