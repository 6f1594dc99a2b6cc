// Package vm is the QEMU backend of vcbench: it composes QEMU's command
// line, probes the accelerator (KVM, else TCG), boots the guest kernel of the
// image directory (Debian's cloud kernel, or the small one vcbench builds)
// with the agent as /init, talks QMP, sets up user-mode or tap networking
// and a virtio-blk scratch disk, reads boot phases from the serial console
// and measures the QEMU process's host memory.
package vm

import (
	"fmt"
	"os"

	"vcbench/scenarios"
)

// Accel, Machine and Network are the scenario's typed settings; the
// constants below name the same values for this package's code.
type (
	Accel   = scenarios.Accel
	Machine = scenarios.Machine
	Network = scenarios.Network
	Kernel  = scenarios.Kernel
)

// Accelerators. AccelAuto probes KVM with a short real boot and falls back
// to TCG (software emulation).
const (
	AccelAuto = scenarios.AccelAuto
	AccelKVM  = scenarios.AccelKVM
	AccelTCG  = scenarios.AccelTCG
)

// Machine types (see scenarios.Machine).
const (
	MachineMicrovm = scenarios.MachineMicrovm
	MachineQ35     = scenarios.MachineQ35
)

// Network modes (see scenarios.Network).
const (
	NetworkUser = scenarios.NetworkUser
	NetworkTap  = scenarios.NetworkTap
)

// Guest kernels (see scenarios.Kernel).
const (
	KernelAuto  = scenarios.KernelAuto
	KernelCloud = scenarios.KernelCloud
	KernelSmall = scenarios.KernelSmall
)

// Config is a VM runtime's validated settings.
type Config struct {
	VCPUs     int
	MemoryMiB int
	Accel     Accel
	Machine   Machine
	Network   Network
	Kernel    Kernel
	// TBSizeMiB is TCG's translation cache (-accel tcg,tb-size=N).
	TBSizeMiB int
	// DiskMiB is the size of the sparse scratch disk.
	DiskMiB int
	// Image is the image the guest runs: with ImageTools the tools image's
	// ext4 disk is attached read-only and the agent mounts it.
	Image scenarios.Image
}

// Defaults for a VM runtime whose scenario leaves a setting out: the
// scenario loader's, which it has already applied to a loaded file.
const (
	DefaultVCPUs     = scenarios.DefaultVCPUs
	DefaultMemoryMiB = scenarios.DefaultMemoryMiB
	DefaultDiskMiB   = 1024
	// DefaultTBSizeMiB caps TCG's translation cache, whose QEMU default is
	// 1 GiB: a guest that boots and idles translates about 50 MiB of code,
	// all of it kept, and host_vmm_pss with it. Measured on a 1-vCPU
	// 256 MiB microvm (docs in the commit that set it): 32 MiB keeps the
	// boot within a few percent of the uncapped one.
	DefaultTBSizeMiB = 32
)

// DefaultNetwork is the network of a vm runtime that sets none: as root a
// tap with virtio-net, the like of a container's veth; otherwise QEMU's
// user-mode stack, which needs no privileges. The reason goes to Describe.
func DefaultNetwork() (Network, string) {
	if os.Geteuid() != 0 {
		return NetworkUser, "default without root: user-mode (slirp) networking"
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return NetworkUser, "default: user-mode (slirp) networking, as /dev/net/tun is missing"
	}
	return NetworkTap, "default as root: tap + virtio-net, like a container's veth"
}

// ConfigFrom checks a scenario's runtime entry against the loader's limits
// (scenarios.RuntimeConfig.Validate) and applies the defaults.
func ConfigFrom(rc scenarios.RuntimeConfig) (Config, error) {
	if rc.Kind != scenarios.VM {
		return Config{}, fmt.Errorf("vm: runtime kind %q given to the vm backend", rc.Kind)
	}
	if key, err := rc.Validate(); err != nil {
		return Config{}, fmt.Errorf("vm: %s: %w", key, err)
	}
	c := Config{
		VCPUs:     rc.VCPUs,
		MemoryMiB: rc.MemoryMiB,
		Accel:     rc.Accel,
		Machine:   rc.Machine,
		Network:   rc.Network,
		Kernel:    rc.Kernel,
		TBSizeMiB: rc.TBSizeMiB,
		DiskMiB:   DefaultDiskMiB,
		Image:     rc.ImageName(),
	}
	if c.VCPUs == 0 {
		c.VCPUs = DefaultVCPUs
	}
	if c.MemoryMiB == 0 {
		c.MemoryMiB = DefaultMemoryMiB
	}
	if c.Accel == "" {
		c.Accel = AccelAuto
	}
	if c.Machine == "" {
		c.Machine = MachineMicrovm
	}
	if c.Network == "" {
		c.Network, _ = DefaultNetwork()
	}
	if c.Kernel == "" {
		c.Kernel = scenarios.DefaultKernel
	}
	if c.TBSizeMiB == 0 {
		c.TBSizeMiB = DefaultTBSizeMiB
	}
	return c, c.Validate()
}

// Validate checks a resolved configuration (every setting given) with the
// scenario loader's limits.
func (c Config) Validate() error {
	vlo, vhi := scenarios.VCPURange(scenarios.VM)
	mlo, mhi := scenarios.MemoryRange(scenarios.VM)
	switch {
	case c.VCPUs < vlo || c.VCPUs > vhi:
		return fmt.Errorf("vm: vcpus %d out of range %d..%d", c.VCPUs, vlo, vhi)
	case c.MemoryMiB < mlo || c.MemoryMiB > mhi:
		return fmt.Errorf("vm: memory_mib %d out of range %d..%d (the guest kernel and initramfs need about %d)", c.MemoryMiB, mlo, mhi, mlo)
	case !c.Accel.Valid():
		return fmt.Errorf("vm: accel %q: want one of %v", c.Accel, scenarios.Accels)
	case !c.Machine.Valid():
		return fmt.Errorf("vm: machine %q: want one of %v", c.Machine, scenarios.Machines)
	case c.Network != NetworkUser && c.Network != NetworkTap:
		return fmt.Errorf("vm: network %q: want one of %v", c.Network, scenarios.NetworksFor(scenarios.VM))
	case !c.Kernel.Valid():
		return fmt.Errorf("vm: kernel %q: want one of %v", c.Kernel, scenarios.Kernels)
	case c.TBSizeMiB < scenarios.MinTBSizeMiB || c.TBSizeMiB > scenarios.MaxTBSizeMiB:
		return fmt.Errorf("vm: tb_size_mib %d out of range %d..%d", c.TBSizeMiB, scenarios.MinTBSizeMiB, scenarios.MaxTBSizeMiB)
	case c.DiskMiB < 1:
		return fmt.Errorf("vm: disk size %d MiB", c.DiskMiB)
	}
	return nil
}
