// Package workload holds the built-in workloads that the agent runs, identical
// in every runtime, and the harness side of the network workload.
package workload

import (
	"fmt"
	"sort"
	"strings"

	"vcbench/workload/tools"
)

// Kind names a built-in workload.
type Kind string

// The built-in workloads.
const (
	CPU     Kind = "cpu"
	Memory  Kind = "memory"
	Syscall Kind = "syscall"
	Fork    Kind = "fork"
	Disk    Kind = "disk"
	Network Kind = "network"
	// The third-party tools of the tools image (see workload/tools), run
	// by the agent inside the instance.
	Fio      Kind = "fio"
	Sysbench Kind = "sysbench"
	StressNG Kind = "stress-ng"
	// The host-client tools: the server runs in the instance (the agent
	// starts it), the client on the host (RunHostClient).
	Iperf3   Kind = "iperf3"
	Sockperf Kind = "sockperf"
	Redis    Kind = "redis"
	// The HPC Challenge's tests through hpcc (Felter et al.'s LINPACK,
	// STREAM and RandomAccess): each runs the whole of hpcc, sized by
	// HPL's N, and reports its own test.
	HPL          Kind = "hpl"
	Stream       Kind = "stream"
	RandomAccess Kind = "randomaccess"
)

// Kinds lists every workload in report order.
var Kinds = []Kind{CPU, Memory, Syscall, Fork, Disk, Network, Fio, Sysbench, StressNG, HPL, Stream, RandomAccess, Iperf3, Sockperf, Redis}

// NeedsTools reports whether workload k runs a tool of the tools image, so
// that its runtime must run `image: tools`.
func (k Kind) NeedsTools() bool {
	return k == Fio || k == Sysbench || k == StressNG || k.IsHPCC() || k.RunsOnHost()
}

// IsHPCC reports whether workload k runs hpcc (hpl, stream, randomaccess).
func (k Kind) IsHPCC() bool { return k == HPL || k == Stream || k == RandomAccess }

// RunsOnHost reports whether workload k's client runs on the host against
// a server in the instance (RunHostClient), rather than in the agent.
func (k Kind) RunsOnHost() bool { return k == Iperf3 || k == Sockperf || k == Redis }

// Params are a workload's parameters. Zero means "the default"; which fields
// apply to which workload is in Applies.
type Params struct {
	Kind Kind `yaml:"kind" json:"kind"`
	// Iterations is the fixed amount of work: SHA-256 blocks per thread (cpu),
	// passes over the arrays (memory), calls (syscall), spawns (fork).
	Iterations int `yaml:"iterations" json:"iterations,omitempty"`
	// Threads for cpu's parallel run; 0 means one per online CPU.
	Threads int `yaml:"threads" json:"threads,omitempty"`
	// SizeMiB is the size of each STREAM array (memory), of the scratch file
	// (disk), or of the bytes streamed (network).
	SizeMiB int `yaml:"size_mib" json:"size_mib,omitempty"`
	// Ops is the number of random 4 KiB operations (disk) or request/response
	// round trips (network).
	Ops int `yaml:"ops" json:"ops,omitempty"`
	// Params are the tool workloads' parameters (fio's rw, bs, ...).
	tools.Params `yaml:",inline"`
}

// applies says which parameter (by YAML key) each workload takes.
var applies = map[Kind][]string{
	CPU:      {"iterations", "threads"},
	Memory:   {"iterations", "size_mib"},
	Syscall:  {"iterations"},
	Fork:     {"iterations"},
	Disk:     {"size_mib", "ops"},
	Network:  {"size_mib", "ops"},
	Fio:      {"rw", "bs", "iodepth", "numjobs", "size", "direct", "runtime", "ioengine"},
	Sysbench: {"test", "threads", "runtime", "bs", "size", "mode", "max_prime", "tables", "table_size"},
	StressNG: {"stressors", "workers", "runtime"},
	Iperf3:   {"protocol", "direction", "streams", "bitrate", "runtime"},
	Sockperf: {"protocol", "msg_size", "runtime"},
	Redis:    {"tests", "clients", "requests", "value_size"},
	// threads: hpcc's MPI processes (default: one per usable CPU).
	HPL:          {"n", "threads"},
	Stream:       {"n", "threads"},
	RandomAccess: {"n", "threads"},
}

// Applies reports whether the parameter key is meaningful for workload k.
func Applies(k Kind, key string) bool {
	if key == "kind" {
		return true
	}
	for _, a := range applies[k] {
		if a == key {
			return true
		}
	}
	return false
}

// AllowedKeys lists the parameter keys of workload k, for error messages.
func AllowedKeys(k Kind) []string {
	keys := append([]string{"kind"}, applies[k]...)
	sort.Strings(keys[1:])
	return keys
}

// Valid reports whether k is a built-in workload.
func (k Kind) Valid() bool { _, ok := applies[k]; return ok }

// Upper bounds of the parameters (each is at least 0, where 0 means the
// workload's default). The scenario loader and the agent both check them
// through Validate.
const (
	MaxIterations = 1 << 30
	MaxThreads    = 1024
	MaxSizeMiB    = 64 << 10
	MaxOps        = 1 << 24
)

// Validate checks the ranges of the parameters; it returns the YAML key at
// fault with the error so that the loader can point at it.
func (p Params) Validate() (string, error) {
	if !p.Kind.Valid() {
		return "kind", fmt.Errorf("%q is not a workload (allowed: %v)", p.Kind, Kinds)
	}
	checks := []struct {
		key string
		v   int
		max int
	}{
		{"iterations", p.Iterations, MaxIterations},
		{"threads", p.Threads, MaxThreads},
		{"size_mib", p.SizeMiB, MaxSizeMiB},
		{"ops", p.Ops, MaxOps},
	}
	for _, c := range checks {
		if c.v < 0 {
			return c.key, fmt.Errorf("%d is below 0 (allowed: 0..%d, 0 for the default)", c.v, c.max)
		}
		if c.v > c.max {
			return c.key, fmt.Errorf("%d is above %d (allowed: 0..%d, 0 for the default)", c.v, c.max, c.max)
		}
	}
	if key, err := p.Params.Validate(); err != nil {
		return key, err
	}
	if p.Kind == Sysbench {
		return p.sysbenchKeys()
	}
	return "", nil
}

// sysbenchKeys refuses the parameters of one sysbench test given to
// another: tables and table_size are the OLTP tests', bs, size, mode and
// max_prime the others'.
func (p Params) sysbenchKeys() (string, error) {
	test := p.Test
	if test == "" {
		test = tools.DefaultSysbenchTest
	}
	oltp := tools.IsSysbenchOLTP(test)
	for _, c := range []struct {
		key      string
		set      bool
		wantOLTP bool
	}{
		{"tables", p.Tables != 0, true},
		{"table_size", p.TableSize != 0, true},
		{"bs", p.BS != 0, false},
		{"size", p.Size != 0, false},
		{"mode", p.Mode != "", false},
		{"max_prime", p.MaxPrime != 0, false},
	} {
		if !c.set || c.wantOLTP == oltp {
			continue
		}
		if c.wantOLTP {
			return c.key, fmt.Errorf("applies only to sysbench's OLTP tests (test: %s), not to test %s", strings.Join(tools.SysbenchOLTPTests, " or "), test)
		}
		return c.key, fmt.Errorf("does not apply to sysbench's OLTP test %s (it takes tables, table_size, threads, runtime)", test)
	}
	return "", nil
}

// Metric is one figure a workload produced.
type Metric struct {
	Name   string  `json:"metric"`
	Unit   Unit    `json:"unit"`
	Better Better  `json:"better"`
	Value  float64 `json:"value"`
}

// Result is a workload's answer: its figures and notes on how it ran (for
// example the array size it chose). Warnings say where the figures are not
// what the workload's rule asks for (arrays below 4 × LLC because the
// instance is small, buffered I/O where O_DIRECT was refused), so that a
// report can show them next to the figures.
type Result struct {
	Workload Kind              `json:"workload"`
	Metrics  []Metric          `json:"metrics"`
	Notes    map[string]string `json:"notes,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
	Seconds  float64           `json:"seconds"`
}

// Unit is the unit of a figure as written in samples.jsonl: base units only.
type Unit string

// Units used in results.
const (
	UnitSeconds        Unit = "seconds"
	UnitBytes          Unit = "bytes"
	UnitBytesPerSecond Unit = "bytes_per_second"
	UnitOpsPerSecond   Unit = "ops_per_second"
	// UnitRatio is a fraction of 0..1 (density's host_cpu_busy).
	UnitRatio Unit = "ratio"
	// UnitCount is a number of events (iperf3's retransmits, sockperf's
	// observations).
	UnitCount Unit = "count"
)

// Better says which direction of a figure is an improvement.
type Better string

// The two directions, as written in samples.jsonl's "better".
const (
	BetterHigher Better = "higher"
	BetterLower  Better = "lower"
)

// Valid reports whether b is higher or lower.
func (b Better) Valid() bool { return b == BetterHigher || b == BetterLower }

func higher(name string, unit Unit, v float64) Metric {
	return Metric{Name: name, Unit: unit, Better: BetterHigher, Value: v}
}

func lower(name string, unit Unit, v float64) Metric {
	return Metric{Name: name, Unit: unit, Better: BetterLower, Value: v}
}

// FitsIn checks that the explicit sizes of p fit in an instance of memBytes
// (a runtime's memory_mib; 0 means no limit), keeping FitReserveBytes for
// the agent and a VM's kernel. Default sizes always fit: the workloads size
// them from what the instance can use when they run (PlanStream). The
// scenario loader calls it for every workload × runtime pair (the fault is
// at the workload's size_mib), so that a scenario that would be OOM-killed
// is refused before anything starts.
func (p Params) FitsIn(memBytes uint64) error {
	if memBytes == 0 {
		return nil
	}
	switch p.Kind {
	case HPL, Stream, RandomAccess:
		if p.N == 0 {
			return nil
		}
		need := tools.HPCCMatrixBytes(p.N)
		if memBytes < FitReserveBytes || need > memBytes-FitReserveBytes {
			return fmt.Errorf("hpcc's N=%d needs about %d MiB (8·N²), which does not fit in %d MiB of memory less %d MiB for the agent and kernel",
				p.N, need>>20, memBytes>>20, FitReserveBytes>>20)
		}
	case Memory:
		if p.SizeMiB == 0 {
			return nil
		}
		need := uint64(streamArrays) * uint64(p.SizeMiB) << 20
		if memBytes < FitReserveBytes || need > memBytes-FitReserveBytes {
			return fmt.Errorf("%d arrays × %d MiB = %d MiB do not fit in %d MiB of memory less %d MiB for the agent and kernel (at most %d MiB per array)",
				streamArrays, p.SizeMiB, need>>20, memBytes>>20, FitReserveBytes>>20, maxArrayMiB(memBytes))
		}
	}
	return nil
}

func maxArrayMiB(memBytes uint64) uint64 {
	if memBytes < FitReserveBytes {
		return 0
	}
	return (memBytes - FitReserveBytes) / streamArrays >> 20
}
