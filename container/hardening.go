package container

//go:generate go run ./internal/mksysnum -o sysnum_table.go

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"vcbench/scenarios"
)

// dockerCapabilities is Docker's default capability set, the 14 that
// moby's oci/caps.DefaultCapabilities grants a container that asks for
// nothing else.
var dockerCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// capNumbers maps the capability names vcbench grants to their numbers.
var capNumbers = map[string]uint{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "CAP_FSETID": unix.CAP_FSETID,
	"CAP_FOWNER": unix.CAP_FOWNER, "CAP_MKNOD": unix.CAP_MKNOD, "CAP_NET_RAW": unix.CAP_NET_RAW,
	"CAP_SETGID": unix.CAP_SETGID, "CAP_SETUID": unix.CAP_SETUID, "CAP_SETFCAP": unix.CAP_SETFCAP,
	"CAP_SETPCAP": unix.CAP_SETPCAP, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_KILL": unix.CAP_KILL, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
}

// seccompSource says where the docker-default profile comes from, for
// Describe and run.json.
const seccompSource = "Docker's default profile (github.com/moby/profiles/seccomp v0.3.0, moby's profiles/seccomp/default.json)"

// hardening is what a hardening profile gives the agent: the capabilities
// it keeps and the seccomp filter it runs under (nil: none).
type hardening struct {
	Profile scenarios.Hardening
	Caps    []string
	Seccomp *specs.LinuxSeccomp
}

// hardeningFor resolves a profile. Docker's seccomp profile is resolved
// the way dockerd does it (moby's GetDefaultProfile): rules for
// capabilities the container lacks are left out, those for this host's
// architecture and kernel kept.
func hardeningFor(h scenarios.Hardening) (hardening, error) {
	if h == "" || h == scenarios.HardeningNone {
		return hardening{Profile: scenarios.HardeningNone}, nil
	}
	if h != scenarios.HardeningDocker {
		return hardening{}, fmt.Errorf("hardening %q is not known", h)
	}
	caps := append([]string(nil), dockerCapabilities...)
	sp := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps,
	}}}
	sc, err := mobyseccomp.GetDefaultProfile(sp)
	if err != nil {
		return hardening{}, fmt.Errorf("resolve Docker's default seccomp profile: %w", err)
	}
	return hardening{Profile: h, Caps: caps, Seccomp: sc}, nil
}

// ociCapabilities is the spec's capability sets: the kept ones bounding,
// effective and permitted (not inheritable or ambient, as moby since 23.0).
func (h hardening) ociCapabilities() *specs.LinuxCapabilities {
	c := append([]string{}, h.Caps...)
	return &specs.LinuxCapabilities{Bounding: c, Effective: c, Permitted: c, Inheritable: []string{}, Ambient: []string{}}
}

// capMask is the kept capabilities as a bit mask.
func (h hardening) capMask() (uint64, error) {
	var m uint64
	for _, c := range h.Caps {
		n, ok := capNumbers[c]
		if !ok {
			return 0, fmt.Errorf("capability %s unknown", c)
		}
		m |= 1 << n
	}
	return m, nil
}

// describe adds the hardening's settings to a runtime's Describe map:
// seccomp (none|docker-default) and capabilities.
func (h hardening) describe(d map[string]string, filter string) {
	d["hardening"] = string(h.Profile)
	if h.Seccomp == nil {
		d["seccomp"] = "none"
	} else {
		d["seccomp"] = "docker-default"
		d["seccomp_profile"] = fmt.Sprintf("%s: default %s (errno %d), %d rules", seccompSource,
			h.Seccomp.DefaultAction, errnoOf(h.Seccomp.DefaultErrnoRet), len(h.Seccomp.Syscalls))
		if filter != "" {
			d["seccomp_filter"] = filter
		}
	}
	if len(h.Caps) == 0 {
		d["capabilities"] = "none, no_new_privs"
	} else {
		d["capabilities"] = "docker-default: " + strings.Join(trimCap(h.Caps), ",") + "; no_new_privs (Docker leaves it off)"
	}
}

func trimCap(cs []string) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = strings.TrimPrefix(c, "CAP_")
	}
	return out
}

func errnoOf(p *uint) uint {
	if p == nil {
		return uint(unix.EPERM)
	}
	return *p
}

// The offsets of struct seccomp_data's fields.
const (
	seccompNr   = 0
	seccompArch = 4
	seccompArgs = 16
)

// compileSeccomp turns an OCI seccomp profile into a classic BPF program
// for x86_64, the way libseccomp would in its default (non-tree) layout:
// the architecture check, then each system call's rules in turn. Only the
// native x86_64 ABI passes: i386 and x32 system calls get the default
// action (the agent is a static x86_64 binary; Docker's profile also
// admits the 32-bit ABIs). Rules for a syscall with no unconditional rule
// test their arguments (SCMP_CMP_EQ, _NE, _MASKED_EQ on all 64 bits; the
// conditions of one rule are and-ed); names this architecture lacks are
// skipped, as libseccomp does.
func compileSeccomp(sc *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	def, err := seccompAction(sc.DefaultAction, sc.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("default action: %w", err)
	}
	type rule struct {
		ret  uint32
		args []specs.LinuxSeccompArg
	}
	byNr := map[uint32][]rule{}
	var order []uint32
	for _, s := range sc.Syscalls {
		ret, err := seccompAction(s.Action, s.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("rule for %v: %w", s.Names, err)
		}
		for _, name := range s.Names {
			nr, ok := sysnumX86_64[name]
			if !ok {
				continue
			}
			if _, seen := byNr[nr]; !seen {
				order = append(order, nr)
			}
			byNr[nr] = append(byNr[nr], rule{ret, s.Args})
		}
	}
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jump := func(code uint16, k uint32, jt, jf int) unix.SockFilter {
		return unix.SockFilter{Code: code, K: k, Jt: uint8(jt), Jf: uint8(jf)}
	}
	const (
		ldw = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		and = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	prog := []unix.SockFilter{
		stmt(ldw, seccompArch),
		jump(jeq, unix.AUDIT_ARCH_X86_64, 1, 0),
		stmt(ret, def),
		stmt(ldw, seccompNr),
		jump(jge, 0x40000000, 0, 1), // the x32 ABI's numbers
		stmt(ret, def),
	}
	for _, nr := range order {
		rules := byNr[nr]
		uncond := -1
		for i, r := range rules {
			if len(r.args) == 0 {
				uncond = i
				break
			}
		}
		if uncond >= 0 {
			prog = append(prog, jump(jeq, nr, 0, 1), stmt(ret, rules[uncond].ret))
			continue
		}
		var block []unix.SockFilter
		for _, r := range rules {
			code, err := argChecks(r.args, r.ret)
			if err != nil {
				return nil, fmt.Errorf("syscall %d: %w", nr, err)
			}
			block = append(block, code...)
		}
		// No rule matched: the default action. The accumulator now holds
		// an argument, not the number, so the block cannot fall through.
		block = append(block, stmt(ret, def))
		if len(block) > 255 {
			return nil, fmt.Errorf("syscall %d: %d instructions of argument checks, more than a jump spans", nr, len(block))
		}
		prog = append(prog, jump(jeq, nr, 0, len(block)))
		prog = append(prog, block...)
	}
	prog = append(prog, stmt(ret, def))
	if len(prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp filter of %d instructions exceeds %d", len(prog), unix.BPF_MAXINSNS)
	}
	return prog, nil
}

// argChecks is one rule's argument conditions followed by its action;
// a failed condition jumps past the block to the next rule. Arguments are
// compared as unsigned 64-bit values, high word first where order matters.
func argChecks(args []specs.LinuxSeccompArg, action uint32) ([]unix.SockFilter, error) {
	const (
		ldw = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		and = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jgt = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
		jge = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	)
	type patch struct {
		at     int
		onTrue bool // the true branch fails (else the false one)
	}
	var code []unix.SockFilter
	var fails []patch
	emit := func(f unix.SockFilter) int { code = append(code, f); return len(code) - 1 }
	fail := func(at int, onTrue bool) { fails = append(fails, patch{at, onTrue}) }
	for _, a := range args {
		if a.Index > 5 {
			return nil, fmt.Errorf("argument index %d", a.Index)
		}
		lo := uint32(seccompArgs + 8*a.Index) // little endian: low word first
		hi := lo + 4
		v := a.Value
		vlo, vhi := uint32(v), uint32(v>>32)
		switch a.Op {
		case specs.OpEqualTo:
			emit(unix.SockFilter{Code: ldw, K: hi})
			fail(emit(unix.SockFilter{Code: jeq, K: vhi}), false)
			emit(unix.SockFilter{Code: ldw, K: lo})
			fail(emit(unix.SockFilter{Code: jeq, K: vlo}), false)
		case specs.OpNotEqual:
			// Holds once either word differs.
			emit(unix.SockFilter{Code: ldw, K: hi})
			emit(unix.SockFilter{Code: jeq, K: vhi, Jt: 0, Jf: 2})
			emit(unix.SockFilter{Code: ldw, K: lo})
			fail(emit(unix.SockFilter{Code: jeq, K: vlo}), true)
		case specs.OpMaskedEqual:
			m, w := a.Value, a.ValueTwo
			for _, half := range []struct{ off, m, w uint32 }{{hi, uint32(m >> 32), uint32(w >> 32)}, {lo, uint32(m), uint32(w)}} {
				if half.m == 0 && half.w == 0 {
					continue // (x & 0) == 0 always holds
				}
				emit(unix.SockFilter{Code: ldw, K: half.off})
				emit(unix.SockFilter{Code: and, K: half.m})
				fail(emit(unix.SockFilter{Code: jeq, K: half.w}), false)
			}
		case specs.OpGreaterThan, specs.OpGreaterEqual:
			last := uint16(jgt)
			if a.Op == specs.OpGreaterEqual {
				last = jge
			}
			emit(unix.SockFilter{Code: ldw, K: hi})
			emit(unix.SockFilter{Code: jgt, K: vhi, Jt: 3}) // high word above: holds
			fail(emit(unix.SockFilter{Code: jeq, K: vhi}), false)
			emit(unix.SockFilter{Code: ldw, K: lo})
			fail(emit(unix.SockFilter{Code: last, K: vlo}), false)
		case specs.OpLessThan, specs.OpLessEqual:
			// x < v is !(x >= v); x <= v is !(x > v).
			last := uint16(jge)
			if a.Op == specs.OpLessEqual {
				last = jgt
			}
			emit(unix.SockFilter{Code: ldw, K: hi})
			emit(unix.SockFilter{Code: jge, K: vhi, Jf: 3}) // high word below: holds
			fail(emit(unix.SockFilter{Code: jeq, K: vhi}), false)
			emit(unix.SockFilter{Code: ldw, K: lo})
			fail(emit(unix.SockFilter{Code: last, K: vlo}), true)
		default:
			return nil, fmt.Errorf("argument operator %s not supported", a.Op)
		}
	}
	emit(unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: action})
	end := len(code)
	for _, f := range fails {
		off := end - f.at - 1
		if off > 255 {
			return nil, fmt.Errorf("argument checks too long for a jump")
		}
		if f.onTrue {
			code[f.at].Jt = uint8(off)
		} else {
			code[f.at].Jf = uint8(off)
		}
	}
	return code, nil
}

// seccompAction encodes an OCI action as a seccomp return value.
func seccompAction(a specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	switch a {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | uint32(errnoOf(errno)&unix.SECCOMP_RET_DATA), nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	}
	return 0, fmt.Errorf("action %s not supported", a)
}

// encodeFilter packs a filter as struct sock_filter's bytes, for initConfig.
func encodeFilter(prog []unix.SockFilter) []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, f := range prog {
		b = binary.LittleEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.LittleEndian.AppendUint32(b, f.K)
	}
	return b
}

// ownFilter compiles h's profile for vcbench's own container, which only
// runs on x86_64 hosts with one.
func (h hardening) ownFilter() ([]unix.SockFilter, error) {
	if h.Seccomp == nil {
		return nil, nil
	}
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("the container runtime's seccomp filter is built for x86_64 only (this is %s)", runtime.GOARCH)
	}
	return compileSeccomp(h.Seccomp)
}
