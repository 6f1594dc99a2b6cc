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

// Accel is the accelerator setting of a VM runtime.
type Accel string

// Accelerators. AccelAuto probes KVM with a short real boot and falls back
// to TCG (software emulation).
const (
	AccelAuto Accel = "auto"
	AccelKVM  Accel = "kvm"
	AccelTCG  Accel = "tcg"
)

// Machine is the QEMU machine type.
type Machine string

// Machine types. Microvm has no PCI and no firmware tables beyond ACPI's
// minimum: virtio devices sit on virtio-mmio. Q35 is a PC with PCIe.
const (
	MachineMicrovm Machine = "microvm"
	MachineQ35     Machine = "q35"
)

// Network is the guest's network mode.
type Network string

// Network modes. NetworkUser is QEMU's user-mode stack (slirp) with a host
// port forward to 127.0.0.1: no privileges. NetworkTap is a tap device on
// a /30 point-to-point subnet: root, but realistic throughput.
const (
	NetworkUser Network = "user"
	NetworkTap  Network = "tap"
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
}

// Defaults for a VM runtime whose scenario leaves a setting out.
const (
	DefaultVCPUs     = 1
	DefaultMemoryMiB = 256
	DefaultDiskMiB   = 1024
)

// ConfigFrom applies defaults to a scenario's runtime entry and validates it.
func ConfigFrom(rc scenarios.RuntimeConfig) (Config, error) {
	c := Config{
		VCPUs:     rc.VCPUs,
		MemoryMiB: rc.MemoryMiB,
		Accel:     Accel(rc.Accel),
		Machine:   Machine(rc.Machine),
		Network:   Network(rc.Network),
		DiskMiB:   DefaultDiskMiB,
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

// Validate checks every setting.
func (c Config) Validate() error {
	switch {
	case c.VCPUs < 1 || c.VCPUs > 64:
		return fmt.Errorf("vm: vcpus %d out of range 1..64", c.VCPUs)
	case c.MemoryMiB < 64:
		return fmt.Errorf("vm: memory_mib %d below 64 (the guest kernel and initramfs need about that)", c.MemoryMiB)
	case c.Accel != AccelAuto && c.Accel != AccelKVM && c.Accel != AccelTCG:
		return fmt.Errorf("vm: accel %q: want auto, kvm or tcg", c.Accel)
	case c.Machine != MachineMicrovm && c.Machine != MachineQ35:
		return fmt.Errorf("vm: machine %q: want microvm or q35", c.Machine)
	case c.Network != NetworkUser && c.Network != NetworkTap:
		return fmt.Errorf("vm: network %q: want user or tap", c.Network)
	case c.DiskMiB < 1:
		return fmt.Errorf("vm: disk size %d MiB", c.DiskMiB)
	}
	return nil
}
