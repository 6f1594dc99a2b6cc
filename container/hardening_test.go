package container

import (
	"encoding/binary"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"vcbench/container/nsinit"
	"vcbench/scenarios"
)

// runFilter interprets the classic BPF subset compileSeccomp emits over
// a struct seccomp_data.
func runFilter(t *testing.T, prog []unix.SockFilter, arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		f := prog[pc]
		switch f.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[f.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= f.K
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if acc == f.K {
				pc += int(f.Jt)
			} else {
				pc += int(f.Jf)
			}
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			if acc > f.K {
				pc += int(f.Jt)
			} else {
				pc += int(f.Jf)
			}
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			if acc >= f.K {
				pc += int(f.Jt)
			} else {
				pc += int(f.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return f.K
		default:
			t.Fatalf("instruction %d: code %#x not interpreted", pc, f.Code)
		}
	}
	t.Fatal("filter fell off its end")
	return 0
}

func TestDockerSeccompFilter(t *testing.T) {
	h, err := hardeningFor(scenarios.HardeningDocker)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Caps) != 14 || h.Seccomp == nil || h.Seccomp.DefaultAction != specs.ActErrno {
		t.Fatalf("hardening %+v", h)
	}
	prog, err := compileSeccomp(h.Seccomp)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d instructions", len(prog))
	back, err := nsinit.DecodeFilter(encodeFilter(prog))
	if err != nil || len(back) != len(prog) || back[7] != prog[7] {
		t.Fatalf("encode/decode: %v", err)
	}
	const (
		allow  = unix.SECCOMP_RET_ALLOW
		eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		x86_64 = unix.AUDIT_ARCH_X86_64
	)
	threadFlags := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD)
	for _, c := range []struct {
		name string
		arch uint32
		nr   uint32
		args []uint64
		want uint32
	}{
		{"getppid", x86_64, unix.SYS_GETPPID, nil, allow},
		{"read", x86_64, unix.SYS_READ, nil, allow},
		{"execve", x86_64, unix.SYS_EXECVE, nil, allow},
		{"reboot", x86_64, unix.SYS_REBOOT, nil, eperm},
		{"mount", x86_64, unix.SYS_MOUNT, nil, eperm},
		{"unshare", x86_64, unix.SYS_UNSHARE, nil, eperm},
		{"clone thread", x86_64, unix.SYS_CLONE, []uint64{threadFlags}, allow},
		{"clone vfork pidfd", x86_64, unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PIDFD | uint64(unix.SIGCHLD)}, allow},
		{"clone newns", x86_64, unix.SYS_CLONE, []uint64{unix.CLONE_NEWNS | uint64(unix.SIGCHLD)}, eperm},
		{"clone newuser", x86_64, unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER}, eperm},
		{"clone3", x86_64, unix.SYS_CLONE3, nil, enosys},
		{"personality 0", x86_64, unix.SYS_PERSONALITY, []uint64{0}, allow},
		{"personality query", x86_64, unix.SYS_PERSONALITY, []uint64{0xffffffff}, allow},
		{"personality 1", x86_64, unix.SYS_PERSONALITY, []uint64{1}, eperm},
		{"personality high bits", x86_64, unix.SYS_PERSONALITY, []uint64{1 << 32}, eperm},
		{"socket inet", x86_64, unix.SYS_SOCKET, []uint64{unix.AF_INET}, allow},
		{"socket vsock", x86_64, unix.SYS_SOCKET, []uint64{unix.AF_VSOCK}, eperm},
		{"socket unix", x86_64, unix.SYS_SOCKET, []uint64{unix.AF_UNIX}, allow},
		{"socket inet6", x86_64, unix.SYS_SOCKET, []uint64{unix.AF_INET6}, allow},
		{"socket netlink", x86_64, unix.SYS_SOCKET, []uint64{unix.AF_NETLINK}, allow},
		{"socket inet high bits", x86_64, unix.SYS_SOCKET, []uint64{1<<32 | unix.AF_INET}, eperm},
		{"i386 getpid", unix.AUDIT_ARCH_I386, 20, nil, eperm},
		{"x32 read", x86_64, 0x40000000, nil, eperm},
		{"unknown number", x86_64, 1000, nil, eperm},
	} {
		if got := runFilter(t, prog, c.arch, c.nr, c.args...); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
	none, err := hardeningFor(scenarios.HardeningNone)
	if err != nil || none.Seccomp != nil || len(none.Caps) != 0 {
		t.Errorf("none: %+v %v", none, err)
	}
	if m, err := h.capMask(); err != nil || m&(1<<unix.CAP_SYS_ADMIN) != 0 || m&(1<<unix.CAP_AUDIT_WRITE) == 0 {
		t.Errorf("cap mask %#x %v", m, err)
	}
}

// TestArgOps checks each argument comparison on both words' boundaries.
func TestArgOps(t *testing.T) {
	vals := []uint64{0, 1, 39, 40, 41, 1 << 32, 1<<32 | 40, 1<<32 | 41, 2 << 32, ^uint64(0)}
	ops := map[specs.LinuxSeccompOperator]func(x, v uint64) bool{
		specs.OpEqualTo:      func(x, v uint64) bool { return x == v },
		specs.OpNotEqual:     func(x, v uint64) bool { return x != v },
		specs.OpLessThan:     func(x, v uint64) bool { return x < v },
		specs.OpLessEqual:    func(x, v uint64) bool { return x <= v },
		specs.OpGreaterThan:  func(x, v uint64) bool { return x > v },
		specs.OpGreaterEqual: func(x, v uint64) bool { return x >= v },
		specs.OpMaskedEqual:  func(x, v uint64) bool { return x&v == 1<<32 },
	}
	for op, want := range ops {
		for _, v := range vals {
			sc := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"socket"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 2, Value: v, ValueTwo: 1 << 32, Op: op}},
			}}}
			prog, err := compileSeccomp(sc)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range vals {
				got := runFilter(t, prog, unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, 7, 7, x) == unix.SECCOMP_RET_ALLOW
				if got != want(x, v) {
					t.Errorf("%s: arg %#x vs %#x: allowed %v", op, x, v, got)
				}
			}
		}
	}
}
