// Package scenarios loads and validates vcbench scenario files: which runtimes
// to compare, with which settings, which workloads to run in each, how many
// trials, and how long each phase may take.
package scenarios

import (
	"fmt"
	"time"

	"vcbench/agent/proto"
	"vcbench/workload"
)

// RuntimeKind names an isolation backend. It is validated once, at load time.
type RuntimeKind string

// The runtimes vcbench knows. Whether one can run on this host is a separate
// question that `vcbench doctor` answers.
const (
	Native    RuntimeKind = "native"
	Container RuntimeKind = "container"
	OCICrun   RuntimeKind = "oci-crun"
	OCIRunc   RuntimeKind = "oci-runc"
	// OCIRunsc runs the agent with gVisor's runsc from the same OCI
	// bundle: a user-space kernel (the sentry) and a file proxy (the gofer)
	// between the agent and the host kernel.
	OCIRunsc RuntimeKind = "oci-runsc"
	VM       RuntimeKind = "vm"
	// Docker runs the agent through the Docker Engine API over the image
	// imported from the rootfs tree.
	Docker RuntimeKind = "docker"
	// Podman runs the agent through the podman CLI over the same image.
	Podman RuntimeKind = "podman"
)

// RuntimeKinds lists every valid runtime kind in report order.
var RuntimeKinds = []RuntimeKind{Native, Container, OCICrun, OCIRunc, OCIRunsc, Docker, Podman, VM}

// Valid reports whether k is a known runtime kind.
func (k RuntimeKind) Valid() bool {
	for _, v := range RuntimeKinds {
		if k == v {
			return true
		}
	}
	return false
}

// Keys lists the runtime keys that kind k takes, the common ones first.
func (k RuntimeKind) Keys() []string {
	return append(append([]string{}, commonRuntimeKeys...), runtimeKeys[k]...)
}

// Accel is a VM runtime's accelerator setting.
type Accel string

// Accelerators. AccelAuto probes KVM with a short real boot and falls back
// to TCG (software emulation).
const (
	AccelAuto Accel = "auto"
	AccelKVM  Accel = "kvm"
	AccelTCG  Accel = "tcg"
)

// Accels lists every accelerator setting.
var Accels = []Accel{AccelAuto, AccelKVM, AccelTCG}

// Valid reports whether a is a known accelerator setting.
func (a Accel) Valid() bool { return contains(Accels, a) }

// Machine is a VM runtime's QEMU machine type.
type Machine string

// Machine types. Microvm has no PCI and no firmware tables beyond ACPI's
// minimum: virtio devices sit on virtio-mmio. Q35 is a PC with PCIe.
const (
	MachineMicrovm Machine = "microvm"
	MachineQ35     Machine = "q35"
)

// Machines lists every machine type.
var Machines = []Machine{MachineMicrovm, MachineQ35}

// Valid reports whether m is a known machine type.
func (m Machine) Valid() bool { return contains(Machines, m) }

// Platform is how gVisor's sentry intercepts the agent's system calls
// (runsc --platform).
type Platform string

// gVisor platforms. PlatformPtrace traps every system call with ptrace
// (works anywhere, slowest); PlatformSystrap uses seccomp traps (runsc
// releases from mid-2023 on; older ones lack it, which Prepare reports);
// PlatformKVM runs the sentry as a guest kernel on /dev/kvm.
const (
	PlatformPtrace  Platform = "ptrace"
	PlatformSystrap Platform = "systrap"
	PlatformKVM     Platform = "kvm"
)

// Platforms lists every gVisor platform; DefaultPlatform is what an
// oci-runsc runtime without platform uses.
var Platforms = []Platform{PlatformPtrace, PlatformSystrap, PlatformKVM}

// DefaultPlatform is the platform of an oci-runsc runtime that sets none:
// ptrace runs on every host, nested virtualisation included.
const DefaultPlatform = PlatformPtrace

// Valid reports whether p is a known gVisor platform.
func (p Platform) Valid() bool { return contains(Platforms, p) }

// Hardening is the security profile a container runtime applies to the
// agent beyond its namespaces.
type Hardening string

// Hardening profiles. HardeningNone is vcbench's baseline: no
// capabilities, no_new_privs, no seccomp filter. HardeningDocker applies
// Docker's defaults: its 14 default capabilities and its default seccomp
// profile (an allow-list, every other system call failing with EPERM), so
// that "what does Docker's hardening cost" is one comparison.
const (
	HardeningNone   Hardening = "none"
	HardeningDocker Hardening = "docker"
)

// Hardenings lists every hardening profile.
var Hardenings = []Hardening{HardeningNone, HardeningDocker}

// Valid reports whether h is a known hardening profile.
func (h Hardening) Valid() bool { return contains(Hardenings, h) }

// Network is how an instance is reached from the host.
type Network string

// Network modes. NetworkUser is QEMU's user-mode stack (slirp) with a host
// port forward to 127.0.0.1: no privileges, but every packet goes through
// a TCP/IP stack inside the VMM, unlike a container's veth. NetworkTap is
// a tap device on a /30 point-to-point subnet with virtio-net: root, and
// the like of a container's veth (the vm backend's default as root). NetworkVeth
// is the containers' veth pair into their network namespace. The engine
// runtimes (docker, podman) take NetworkBridge, the engine's default bridge
// with the agent's port published on 127.0.0.1, or NetworkHost, the host's
// own network namespace (Felter et al. compared both).
const (
	NetworkUser   Network = "user"
	NetworkTap    Network = "tap"
	NetworkVeth   Network = "veth"
	NetworkBridge Network = "bridge"
	NetworkHost   Network = "host"
)

// NetworksFor lists the network modes runtime kind k takes (none for native:
// a host process listens on the host's loopback).
func NetworksFor(k RuntimeKind) []Network {
	switch k {
	case VM:
		return []Network{NetworkUser, NetworkTap}
	case Container, OCICrun, OCIRunc, OCIRunsc:
		return []Network{NetworkVeth}
	case Docker, Podman:
		return []Network{NetworkBridge, NetworkHost}
	}
	return nil
}

// Valid reports whether n is a network mode of some runtime.
func (n Network) Valid() bool {
	for _, k := range RuntimeKinds {
		if contains(NetworksFor(k), n) {
			return true
		}
	}
	return false
}

// Kernel is a VM runtime's guest kernel (scenario key `kernel`).
type Kernel string

// Guest kernels. KernelCloud is Debian's cloud kernel, which `vcbench
// images build` fetches in seconds; KernelSmall is the kernel vcbench
// builds from linux-source-6.1 (`vcbench images build --kernel small`:
// about six minutes on two cores, once, then cached), which boots in half
// the time under TCG. KernelAuto, the default, is the small kernel where
// it is built and the cloud kernel elsewhere; run.json says which one
// booted and why.
const (
	KernelAuto  Kernel = "auto"
	KernelCloud Kernel = "cloud"
	KernelSmall Kernel = "small"
)

// Kernels lists every choice of guest kernel.
var Kernels = []Kernel{KernelAuto, KernelCloud, KernelSmall}

// DefaultKernel is the guest kernel of a vm runtime that sets none: the
// small kernel where it is built, so that a machine that paid for the
// build once boots fast, and the cloud kernel on a fresh machine, which
// then needs no kernel build.
const DefaultKernel = KernelAuto

// Valid reports whether k is a known guest kernel.
func (k Kernel) Valid() bool { return contains(Kernels, k) }

// Image is the image a runtime's instances run (scenario key `image`).
type Image string

// Images. ImageMinimal (the default) is the agent with busybox: it keeps
// startup figures small. ImageTools is the Debian tree with the
// third-party tools (`vcbench images build --tools`): the container and
// OCI root filesystem, the tree the native agent chroots into, a VM's
// read-only ext4 disk. Tool workloads (fio, sysbench, stress-ng) need it.
const (
	ImageMinimal Image = proto.ImageMinimal
	ImageTools   Image = proto.ImageTools
)

// Images lists every image setting.
var Images = []Image{ImageMinimal, ImageTools}

// Valid reports whether i is a known image.
func (i Image) Valid() bool { return contains(Images, i) }

// ImageName is the runtime's image, ImageMinimal when unset.
func (r RuntimeConfig) ImageName() Image {
	if r.Image == "" {
		return ImageMinimal
	}
	return r.Image
}

// Scenario is one validated scenario file.
type Scenario struct {
	Name        string           `yaml:"name"`
	Description string           `yaml:"description"`
	Trials      int              `yaml:"trials"`
	Warmup      int              `yaml:"warmup"`
	Timeouts    Timeouts         `yaml:"timeouts"`
	Runtimes    []RuntimeConfig  `yaml:"runtimes"`
	Workloads   []WorkloadConfig `yaml:"workloads"`
	Density     *Density         `yaml:"density"`

	// Source is the file the scenario came from ("builtin:quick" for embedded ones).
	Source string `yaml:"-"`
	// Text is the scenario's bytes exactly as read, recorded in run.json.
	Text []byte `yaml:"-"`

	pos positions
}

// Timeouts bounds every wait of a trial. A time-out left out of the file
// takes its default; one written out must be above zero.
type Timeouts struct {
	Start    Duration `yaml:"start"`    // launch → agent ready
	Workload Duration `yaml:"workload"` // one workload request
	Stop     Duration `yaml:"stop"`     // graceful stop before a forced kill

	pos positions
}

// Default time-outs, generous enough for a TCG guest on a two-core host.
const (
	DefaultStartTimeout    = 60 * time.Second
	DefaultWorkloadTimeout = 120 * time.Second
	DefaultStopTimeout     = 10 * time.Second
)

// RuntimeConfig is one runtime column of the comparison with its settings.
// Keys that only apply to some kinds are rejected for the others.
type RuntimeConfig struct {
	Kind RuntimeKind `yaml:"kind"`
	// Name labels the runtime in results; it defaults to Kind and must be
	// unique so that two settings of one kind can be compared. See ValidName.
	Name      string `yaml:"name"`
	VCPUs     int    `yaml:"vcpus"`
	MemoryMiB int    `yaml:"memory_mib"`
	// Image is what the instances run (default ImageMinimal).
	Image Image `yaml:"image"`

	// Container, OCI and engine (docker, podman) runtimes. Hostname defaults to the instance's name
	// (InstanceName); see ValidHostname.
	Hostname string `yaml:"hostname"`
	UserNS   bool   `yaml:"user_ns"`
	Writable bool   `yaml:"writable_rootfs"`
	// Hardening (container and OCI runtimes) defaults to HardeningNone.
	Hardening Hardening `yaml:"hardening"`

	// Platform is oci-runsc's gVisor platform (DefaultPlatform when unset).
	Platform Platform `yaml:"platform"`

	// VM runtime.
	Accel   Accel   `yaml:"accel"`
	Machine Machine `yaml:"machine"`
	Network Network `yaml:"network"` // one of NetworksFor(Kind)
	// Kernel is the guest kernel (DefaultKernel when unset).
	Kernel Kernel `yaml:"kernel"`
	// TBSizeMiB caps TCG's translation cache (-accel tcg,tb-size=N); 0
	// takes the vm backend's default. It does nothing under KVM.
	TBSizeMiB int `yaml:"tb_size_mib"`

	pos positions
}

// WorkloadConfig is one workload with its parameters.
type WorkloadConfig struct {
	workload.Params `yaml:",inline"`

	pos positions
}

// Density sweeps the number of concurrent instances (see the density issue).
type Density struct {
	// Steps are the instance counts to measure at, increasing.
	Steps []int `yaml:"steps"`
	// Batch starts this many instances at once (0 or 1: one after another).
	Batch int `yaml:"batch"`
	// BudgetMiB stops the sweep once the host's used memory grew by more.
	BudgetMiB int `yaml:"budget_mib"`
	// MaxStart stops the sweep when an instance takes longer to be ready
	// (left out: no such limit).
	MaxStart Duration `yaml:"max_start"`
	// Workload, if set, runs in every instance at once at each step.
	Workload workload.Kind `yaml:"workload"`
	// KSM measures memory again with kernel same-page merging on.
	KSM bool `yaml:"ksm"`
	// MaxInstances caps the sweep per runtime name (e.g. fewer VMs than containers).
	MaxInstances map[string]int `yaml:"max_instances"`

	pos positions
}

// Duration is a time.Duration written as "30s" or "1m30s" in YAML.
type Duration struct{ D time.Duration }

// RuntimeName is the label of r in results.
func (r RuntimeConfig) RuntimeName() string {
	if r.Name != "" {
		return r.Name
	}
	return string(r.Kind)
}

// StartTimeout returns the configured start time-out or its default.
func (t Timeouts) StartTimeout() time.Duration { return or(t.Start, DefaultStartTimeout) }

// WorkloadTimeout returns the configured workload time-out or its default.
func (t Timeouts) WorkloadTimeout() time.Duration { return or(t.Workload, DefaultWorkloadTimeout) }

// StopTimeout returns the configured stop time-out or its default.
func (t Timeouts) StopTimeout() time.Duration { return or(t.Stop, DefaultStopTimeout) }

func or(d Duration, def time.Duration) time.Duration {
	if d.D > 0 {
		return d.D
	}
	return def
}

// Error is a problem in a scenario file, located at a line and column
// (both from 1). YAML syntax errors carry only a line from yaml.v3: their
// column is 1.
type Error struct {
	File      string
	Line, Col int
	Field     string
	Msg       string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
}

// StepsFor returns the density steps that apply to the runtime named name:
// all of Steps, cut at its MaxInstances (which becomes the last step).
func (d *Density) StepsFor(name string) []int {
	max, ok := d.MaxInstances[name]
	if !ok {
		return d.Steps
	}
	var out []int
	for _, k := range d.Steps {
		if k < max {
			out = append(out, k)
		}
	}
	return append(out, max)
}
