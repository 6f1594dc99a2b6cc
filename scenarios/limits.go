package scenarios

import (
	"fmt"
	"strings"
)

// The limits of every setting, as the backends need them. The loader is the
// one place that checks them (through RuntimeConfig.Validate, which the
// backends also call on configs built in code), so that `vcbench scenarios
// validate` refuses what a run would refuse.
const (
	// MinTrials and MaxTrials bound trials (and `vcbench run --trials`).
	MinTrials, MaxTrials = 1, 10000
	// MaxWarmup bounds warmup; like trials it numbers instances, whose
	// names become containers' hostnames.
	MaxWarmup = 10000

	// MinVCPUs and MaxVCPUs bound vcpus of native and container runtimes:
	// a CPU quota of vcpus CPUs, and pinning to the first vcpus CPUs when
	// the host has more (with fewer, the instance gets every host CPU).
	MinVCPUs, MaxVCPUs = 1, 256
	// MaxVMVCPUs bounds a VM's vcpus (QEMU's -smp), which the vm backend
	// has always refused above 64.
	MaxVMVCPUs = 64

	// MinMemoryMiB and MaxMemoryMiB bound memory_mib of containers (their
	// cgroup's memory limit).
	MinMemoryMiB, MaxMemoryMiB = 32, 1 << 20
	// MinVMMemoryMiB is a VM's least guest RAM: the guest kernel and the
	// initramfs need about that much.
	MinVMMemoryMiB = 64

	// MinTBSizeMiB and MaxTBSizeMiB bound tb_size_mib, TCG's translation
	// cache: below a few MiB QEMU flushes it over and over while the guest
	// boots; QEMU's own default is 1 GiB.
	MinTBSizeMiB, MaxTBSizeMiB = 4, 2048

	// MaxNameLen bounds a runtime's name (see ValidName).
	MaxNameLen = 63
	// MaxHostnameLen is the kernel's limit on a hostname (__NEW_UTS_LEN);
	// MaxHostnameLabelLen is DNS's on each dot-separated label.
	MaxHostnameLen, MaxHostnameLabelLen = 64, 63
)

// NameRule and HostnameRule say in words what ValidName and ValidHostname
// accept, for error messages and docs.
const (
	NameRule     = "1..63 letters, digits, '-', '_' or '.', not starting with '.' or '-'"
	HostnameRule = "letters, digits, '-', '_' or '.', not starting with '.' or '-', labels of 1..63 bytes, 64 bytes in all"
)

// VCPURange is the allowed range of vcpus for runtime kind k.
func VCPURange(k RuntimeKind) (lo, hi int) {
	if k == VM {
		return MinVCPUs, MaxVMVCPUs
	}
	return MinVCPUs, MaxVCPUs
}

// MemoryRange is the allowed range of memory_mib for runtime kind k. Native
// runtimes take no memory_mib: a host process is never memory-limited.
func MemoryRange(k RuntimeKind) (lo, hi int) {
	if k == VM {
		return MinVMMemoryMiB, MaxMemoryMiB
	}
	return MinMemoryMiB, MaxMemoryMiB
}

// ValidName reports whether s may name a runtime: it labels results, and
// becomes part of file, cgroup and (see InstanceName) host names.
func ValidName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen {
		return fmt.Errorf("%q has %d bytes (allowed: %s)", s, len(s), NameRule)
	}
	if err := nameChars(s); err != nil {
		return fmt.Errorf("%q %v (allowed: %s)", s, err, NameRule)
	}
	return nil
}

// ValidHostname reports whether s may be a container's hostname: the
// characters of ValidName, dot-separated labels of 1..63 bytes, 64 bytes
// in all (the kernel's UTS limit, which sethostname enforces).
func ValidHostname(s string) error {
	if len(s) == 0 || len(s) > MaxHostnameLen {
		return fmt.Errorf("%q has %d bytes (allowed: %s)", s, len(s), HostnameRule)
	}
	if err := nameChars(s); err != nil {
		return fmt.Errorf("%q %v (allowed: %s)", s, err, HostnameRule)
	}
	for i, l := range strings.Split(s, ".") {
		if len(l) == 0 || len(l) > MaxHostnameLabelLen {
			return fmt.Errorf("%q: label %d has %d bytes (allowed: %s)", s, i+1, len(l), HostnameRule)
		}
	}
	return nil
}

func nameChars(s string) error {
	if s[0] == '.' || s[0] == '-' {
		return fmt.Errorf("starts with %q", s[0])
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return fmt.Errorf("has %q at byte %d", c, i)
		}
	}
	return nil
}

// InstanceName names the seq-th instance that a run starts (counting from
// 1 over every trial and warm-up of every runtime): "vm-3". Container
// backends give it to the instance as its hostname unless hostname is set.
func InstanceName(runtime string, seq int) string { return fmt.Sprintf("%s-%d", runtime, seq) }

// DensityInstanceName names the pos-th instance of runtime's density sweep: "vm-d3".
func DensityInstanceName(runtime string, pos int) string { return fmt.Sprintf("%s-d%d", runtime, pos) }

// rangeError says that v is outside lo..hi.
func rangeError(v, lo, hi int) error {
	if v < lo {
		return fmt.Errorf("%d is below %d (allowed: %d..%d)", v, lo, lo, hi)
	}
	return fmt.Errorf("%d is above %d (allowed: %d..%d)", v, hi, lo, hi)
}

// Validate checks r against its backend's limits and returns the YAML key
// at fault with the error, as workload.Params.Validate does. Zero vcpus and
// memory_mib and empty strings mean the backend's default and pass; the
// loader refuses them when a file writes them out. Parse calls Validate on
// every runtime; backends call it on configs built in code.
func (r RuntimeConfig) Validate() (key string, err error) {
	if !r.Kind.Valid() {
		return "kind", fmt.Errorf("%q is not a runtime (allowed: %v)", r.Kind, RuntimeKinds)
	}
	// Settings with values. (user_ns and writable_rootfs are left to the
	// loader's key check: the OCI backends take UserNS from code although
	// files cannot set it.)
	set := map[string]bool{
		"memory_mib": r.MemoryMiB != 0, "hostname": r.Hostname != "",
		"accel": r.Accel != "", "machine": r.Machine != "", "network": r.Network != "",
		"platform": r.Platform != "", "hardening": r.Hardening != "",
		"kernel": r.Kernel != "", "tb_size_mib": r.TBSizeMiB != 0,
	}
	allowed := r.Kind.Keys()
	for _, k := range yamlKeys(rtType) {
		if set[k] && !contains(allowed, k) {
			return k, fmt.Errorf("does not apply to runtime %s (allowed: %s)", r.Kind, strings.Join(allowed, ", "))
		}
	}
	if r.Name != "" {
		if err := ValidName(r.Name); err != nil {
			return "name", err
		}
	}
	if lo, hi := VCPURange(r.Kind); r.VCPUs != 0 && (r.VCPUs < lo || r.VCPUs > hi) {
		return "vcpus", rangeError(r.VCPUs, lo, hi)
	}
	if lo, hi := MemoryRange(r.Kind); r.MemoryMiB != 0 && (r.MemoryMiB < lo || r.MemoryMiB > hi) {
		return "memory_mib", rangeError(r.MemoryMiB, lo, hi)
	}
	if r.Hostname != "" {
		if err := ValidHostname(r.Hostname); err != nil {
			return "hostname", err
		}
	}
	if r.Accel != "" && !r.Accel.Valid() {
		return "accel", notAllowed(r.Accel, Accels)
	}
	if r.Machine != "" && !r.Machine.Valid() {
		return "machine", notAllowed(r.Machine, Machines)
	}
	if r.Kernel != "" && !r.Kernel.Valid() {
		return "kernel", notAllowed(r.Kernel, Kernels)
	}
	if r.TBSizeMiB != 0 && (r.TBSizeMiB < MinTBSizeMiB || r.TBSizeMiB > MaxTBSizeMiB) {
		return "tb_size_mib", rangeError(r.TBSizeMiB, MinTBSizeMiB, MaxTBSizeMiB)
	}
	if r.Platform != "" && !r.Platform.Valid() {
		return "platform", notAllowed(r.Platform, Platforms)
	}
	if r.Hardening != "" && !r.Hardening.Valid() {
		return "hardening", notAllowed(r.Hardening, Hardenings)
	}
	if r.Image != "" && !r.Image.Valid() {
		return "image", notAllowed(r.Image, Images)
	}
	if nets := NetworksFor(r.Kind); r.Network != "" && !contains(nets, r.Network) {
		return "network", notAllowed(r.Network, nets)
	}
	return "", nil
}

func notAllowed[T ~string](v T, allowed []T) error {
	s := make([]string, len(allowed))
	for i, a := range allowed {
		s[i] = string(a)
	}
	return fmt.Errorf("%q is not allowed (allowed: %s)", v, strings.Join(s, ", "))
}
