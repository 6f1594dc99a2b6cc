package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
	"vcbench/internal/pid1"
)

// ChildEnv marks the agent process that PID 1 starts to serve, so that it
// does not try to be init again.
const ChildEnv = proto.ChildEnv

// GuestSetup, when set (by the VM guest code), runs in PID 1 after the
// basic mounts and before the server starts: load modules, configure the
// network. It gets the agent's parameters from the kernel command line.
var GuestSetup func(params proto.KernelParams) error

// IsInit reports whether this process must act as init: PID 1 and not
// already the serving child.
func IsInit() bool { return os.Getpid() == 1 && os.Getenv(ChildEnv) == "" }

// ReadyFD is the descriptor named by proto.ReadyFDEnv, if the agent really
// inherited it: a pipe without close-on-exec. Every descriptor the Go
// runtime opens itself is close-on-exec, so a variable copied by hand
// (a saved OCI bundle run without --preserve-fds) never names one of them.
func ReadyFD() (int, bool) {
	v := os.Getenv(proto.ReadyFDEnv)
	if v == "" {
		return 0, false
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return 0, false
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC != 0 {
		return 0, false
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return 0, false
	}
	return fd, true
}

// ReadyWriter returns out, plus the harness's ready pipe (proto.ReadyFDEnv)
// when there is one: the ready line goes to both, and the pipe is closed
// after it, so that the harness sees the line and then EOF. The variable is
// removed, so that no child of the agent believes it has the pipe.
func ReadyWriter(out io.Writer) io.Writer {
	fd, ok := ReadyFD()
	if !ok {
		return out
	}
	os.Unsetenv(proto.ReadyFDEnv)
	unix.CloseOnExec(fd)
	return &readyPipe{out: out, f: os.NewFile(uintptr(fd), "ready")}
}

type readyPipe struct {
	out io.Writer
	f   *os.File
}

func (r *readyPipe) Write(p []byte) (int, error) {
	n, err := r.out.Write(p)
	if r.f != nil {
		r.f.Write(p)
		r.f.Close()
		r.f = nil
	}
	return n, err
}

// initPIDNamespace is the inode of the kernel's first PID namespace
// (PROC_PID_INIT_INO): a VM's /init runs in it, a container's init never.
const initPIDNamespace = 0xEFFFFFFC

// InVM reports whether this agent is a VM's: its /init (PID 1 in the
// kernel's first PID namespace) or the serving child that init started.
// A native agent and a container's agent share the host's kernel, and so
// its /proc/cmdline, which is not theirs to obey.
func InVM() bool {
	var st unix.Stat_t
	switch err := unix.Stat("/proc/self/ns/pid", &st); {
	case errors.Is(err, unix.ENOENT):
		// A kernel without PID namespaces (vcbench's small guest kernel):
		// every process is in the first one.
		st.Ino = initPIDNamespace
	case err != nil:
		return false
	}
	return inVM(os.Getpid(), os.Getppid(), os.Getenv(ChildEnv) != "", st.Ino)
}

func inVM(pid, ppid int, child bool, pidNS uint64) bool {
	if pidNS != initPIDNamespace {
		return false
	}
	return pid == 1 && !child || child && ppid == 1
}

// KernelParams returns the agent's parameters on /proc/cmdline in a VM
// (InVM), and none elsewhere or when it is unreadable.
func KernelParams() proto.KernelParams {
	if !InVM() {
		return proto.KernelParams{}
	}
	return kernelParams("/proc/cmdline")
}

func kernelParams(path string) proto.KernelParams {
	b, err := os.ReadFile(path)
	if err != nil {
		return proto.KernelParams{}
	}
	return proto.ParseKernelParams(string(b))
}

// mountIfAbsent mounts fstype at dir unless something is mounted there already.
func mountIfAbsent(dir, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var here, parent unix.Stat_t
	if unix.Stat(dir, &here) == nil && unix.Stat(dir+"/..", &parent) == nil && here.Dev != parent.Dev {
		return nil
	}
	if dir == "/proc" {
		if _, err := os.Stat("/proc/self"); err == nil {
			return nil
		}
	}
	if err := unix.Mount(fstype, dir, fstype, flags, data); err != nil && err != unix.EBUSY {
		return fmt.Errorf("mount %s on %s: %w", fstype, dir, err)
	}
	return nil
}

// RunInit is PID 1: it mounts what is missing, runs GuestSetup, starts the
// serving agent as its child, forwards SIGTERM/SIGINT to it, reaps every
// orphan, and when the child ends powers the machine off (in a VM) or exits
// with the child's status (in a container). It never returns.
func RunInit(args []string) {
	say := func(format string, a ...any) { fmt.Fprintf(os.Stdout, proto.InitPrefix+format+"\n", a...) }
	// /proc first: whether this is a VM is read from /proc/cmdline.
	if err := mountIfAbsent("/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		say("%v", err)
	}
	params := KernelParams()
	inVM := GuestSetup != nil && params != (proto.KernelParams{})
	for _, m := range []struct {
		dir, fs string
		flags   uintptr
	}{
		{"/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"/dev", "devtmpfs", unix.MS_NOSUID},
		{"/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV},
	} {
		if !inVM {
			break // a container runtime set these up already
		}
		if err := mountIfAbsent(m.dir, m.fs, m.flags, ""); err != nil {
			say("%v", err)
		}
	}
	if inVM {
		if err := GuestSetup(params); err != nil {
			fmt.Println(proto.InitGuestSetupFailed, err)
			halt(1, inVM)
		}
	}
	self, err := os.Executable()
	if err != nil {
		self = args[0]
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, proto.ReadyFDEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, ChildEnv+"=1")
	files := []uintptr{0, 1, 2}
	// The harness's ready pipe goes to the serving child, as its fd 3.
	readyFD, hasReady := ReadyFD()
	if hasReady {
		files = append(files, uintptr(readyFD))
		env = append(env, proto.ReadyFDEnv+"=3")
	}
	code, err := pid1.Supervise(self, args, env, files, func() {
		if hasReady {
			unix.Close(readyFD)
		}
	})
	if err != nil {
		fmt.Println(proto.InitStartServerFailed, err)
		halt(1, inVM)
	}
	halt(code, inVM)
}

func halt(code int, inVM bool) {
	if inVM {
		unix.Sync()
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
	os.Exit(code)
}
