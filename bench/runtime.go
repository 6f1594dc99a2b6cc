// Package bench is the runner: it walks a scenario's runtimes × trials, starts
// an instance per trial through a Runtime backend, asks the agent inside to
// run workloads, and writes every figure to the results store. It knows
// nothing of QEMU or namespaces: backends implement Runtime and Instance.
package bench

import (
	"context"
	"time"

	"vcbench/scenarios"
)

// InstanceSpec is everything a backend needs to start one instance.
type InstanceSpec struct {
	RunID  string // results run id; backends use it to name resources
	Name   string // unique instance name within the run, e.g. "vm-3"
	Config scenarios.RuntimeConfig
	// RawDir is where the backend saves console logs, command lines and
	// other raw evidence (results/<run-id>/raw). It exists.
	RawDir string
	// ScratchDir is a directory on the results' filesystem that the backend
	// may use for scratch files (disk workload, VM disks); the backend
	// removes what it creates there at Stop.
	ScratchDir string
	// StartTimeout bounds Start and the wait for the agent.
	StartTimeout time.Duration
	// StopTimeout bounds the graceful part of Stop.
	StopTimeout time.Duration
}

// Runtime starts instances of one kind (native process, container, VM).
type Runtime interface {
	// Kind is the runtime kind this backend implements.
	Kind() scenarios.RuntimeKind
	// Start launches an instance running the agent and returns as soon as
	// the agent's address is known; the runner then polls /healthz itself,
	// so that "ready" is measured the same way for every backend. On error
	// nothing of the instance is left behind.
	Start(ctx context.Context, spec InstanceSpec) (Instance, error)
}

// Instance is one running agent inside some isolation.
type Instance interface {
	// Addr is the host:port where the harness reaches the agent's HTTP server.
	Addr() string
	// HostMemory reads the host-side memory cost of the instance now, as
	// metric name (host_pss, host_rss, cgroup_usage, cgroup_peak) → bytes.
	// Only figures the backend can really see are present.
	HostMemory() (map[string]float64, error)
	// Stop ends the instance and removes everything it created. It is
	// idempotent and safe to call after a failed start.
	Stop(ctx context.Context) error
}

// Phase is one startup milestone that the backend observed, as the time
// since launch (the moment Start was called).
type Phase struct {
	Name  string        // qmp_ready, kernel_start, agent_start, init_exec, ...
	Since time.Duration // since launch
}

// PhaseRuntimeExec is the phase at which a backend, its own preparation
// done (netns, veth, cgroups, disks, sockets, bundle), invokes the runtime
// itself: the exec of `crun run` or `runc run`, the exec of QEMU, the clone
// of vcbench's container init, the exec of the native agent.
const PhaseRuntimeExec = "runtime_exec"

// MetricRuntimeReady is the startup metric ready − runtime_exec: from the
// runtime's own invocation to the agent answering, what starting the same
// runtime by hand on the prepared bundle and network would take.
const MetricRuntimeReady = "runtime_ready"

// Phaser is implemented by instances that can tell startup phases. The
// runner asks after the agent is ready.
type Phaser interface {
	Phases() []Phase
}

// CPUTimer is implemented by instances whose host CPU time can be read
// (QEMU process, container cgroup, native process): seconds since start.
type CPUTimer interface {
	HostCPUSeconds() (float64, error)
}

// DataAddresser is implemented by instances whose agent's data server (the
// network workload's raw TCP and UDP port) the harness reaches at another
// address than the control address's host with the port the agent reports:
// QEMU user-mode networking forwards a second host port. An empty answer
// means "derive it from the control address".
type DataAddresser interface {
	DataAddr() string
}

// Describer is implemented by runtimes that record their settings in
// run.json: accelerator actually used, binary versions, machine type, network
// mode. Called after the first instance has started.
type Describer interface {
	Describe() map[string]string
}

// Preparer is implemented by runtimes that must do work once before the
// first instance (probe an accelerator, check images). An error skips the
// runtime with the reason recorded.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Closer is implemented by runtimes that hold something for the whole run
// (a private engine daemon): the runner calls Close once at the end of Run,
// after every instance has stopped, whether the run succeeded, failed or
// was interrupted.
type Closer interface {
	Close(ctx context.Context) error
}

// Factory makes a Runtime for one runtime entry of a scenario. Backends are
// registered explicitly by the CLI, never through init().
type Factory func(cfg scenarios.RuntimeConfig, env Env) (Runtime, error)

// Env is what the harness knows that backends need: where the agent binary
// and the images are, where state for `vcbench cleanup` goes.
type Env struct {
	AgentPath string // static agent binary (native runtime runs it directly)
	ImageDir  string // built images: rootfs/, kernel, initramfs
	StateDir  string // records of created resources for cleanup
	SelfPath  string // the vcbench binary, for re-exec (container init)
	// InitPath is the small init binary of the container runtimes
	// (cmd/vcbench-init); empty: they re-execute SelfPath as `vcbench init`.
	InitPath string
	// ToolsRootfs is the tools image's tree (image.Paths.ToolsRootfs), from
	// which host-client workloads run their clients; the CLI fills it so
	// that the runner knows no image layout.
	ToolsRootfs string
}

// Merger is implemented by runtimes whose instances' memory the kernel's
// same-page merging (KSM) can merge: KSM scans only memory its owner marked
// mergeable, as QEMU marks guest RAM. A density sweep with ksm: true
// measures KSM for the runtimes that answer true and records why not for
// the others.
type Merger interface {
	MergeableMemory() bool
}
