// Package vm is the QEMU backend of vcbench: it composes QEMU's command
// line, probes the accelerator (KVM, else TCG), boots the guest kernel of the
// image directory (Debian's cloud kernel, or the small one vcbench builds)
// with the agent as /init, talks QMP, sets up user-mode or tap networking
// and a virtio-blk scratch disk, reads boot phases from the serial console
// and measures the QEMU process's host memory.
package vm

import (
	"fmt"

	"vcbench/scenarios"
)

// Accel, Machine and Network are the scenario's typed settings; the
// constants below name the same values for this package's code.
type (
	Accel   = scenarios.Accel
	Machine = scenarios.Machine
	Network = scenarios.Network
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

// Config is a VM runtime's validated settings.
type Config struct {
	VCPUs     int
	MemoryMiB int
	Accel     Accel
	Machine   Machine
	Network   Network
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
)

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
		c.Network = NetworkUser
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
	case c.DiskMiB < 1:
		return fmt.Errorf("vm: disk size %d MiB", c.DiskMiB)
	}
	return nil
}
