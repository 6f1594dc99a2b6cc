// Command mkfixture writes the recorded run directories under
// report/testdata (run-a, run-b, run-fail) that the report's golden tests
// read. run-fail is run-a's shape with failures: the VM's disk and network
// workloads failed in every trial, one VM trial never became ready, runc
// is missing, and the memory workload left a warning in its notes. The
// figures are shaped after measurements on the development machine (2
// cores, TCG VM); noise is seeded so that the files are reproducible.
//
//	go run ./report/testdata/mkfixture report/testdata
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/workload"
)

type metric struct {
	workload, name, unit, better string
	base                         map[string]float64 // runtime → typical value
	cv                           float64            // coefficient of variation
}

const (
	s   = "seconds"
	b   = "bytes"
	bps = "bytes_per_second"
	ops = "ops_per_second"
	hi  = "higher"
	lo  = "lower"
	mib = 1 << 20
	gib = 1 << 30
)

var runtimes = []string{"native", "container", "oci-crun", "vm"}

var trials = map[string]int{"native": 6, "container": 6, "oci-crun": 6, "vm": 3}

var metrics = []metric{
	{"startup", "ready", s, lo, map[string]float64{"native": 0.0041, "container": 0.0152, "oci-crun": 0.0224, "vm": 4.71}, 0.05},
	{"startup", "namespaces_ready", s, lo, map[string]float64{"container": 0.0061}, 0.06},
	{"startup", "init_exec", s, lo, map[string]float64{"container": 0.0083, "oci-crun": 0.0118}, 0.06},
	{"startup", "agent_exec", s, lo, map[string]float64{"container": 0.0091, "oci-crun": 0.0131}, 0.06},
	{"startup", "qemu_spawn", s, lo, map[string]float64{"vm": 0.021}, 0.08},
	{"startup", "qmp_ready", s, lo, map[string]float64{"vm": 0.148}, 0.05},
	{"startup", "kernel_start", s, lo, map[string]float64{"vm": 2.21}, 0.04},
	{"startup", "agent_start", s, lo, map[string]float64{"vm": 4.38}, 0.03},
	{"startup", "host_cpu_seconds", s, lo, map[string]float64{"native": 0.0039, "container": 0.0114, "oci-crun": 0.0162, "vm": 5.02}, 0.05},
	{"idle", "host_pss", b, lo, map[string]float64{"native": 9.1 * mib, "container": 9.6 * mib, "oci-crun": 9.8 * mib, "vm": 231 * mib}, 0.02},
	{"idle", "host_rss", b, lo, map[string]float64{"native": 12.4 * mib, "container": 12.6 * mib, "oci-crun": 12.9 * mib, "vm": 262 * mib}, 0.02},
	{"idle", "cgroup_usage", b, lo, map[string]float64{"container": 14.2 * mib, "oci-crun": 14.9 * mib, "vm": 268 * mib}, 0.03},
	{"idle", "cgroup_peak", b, lo, map[string]float64{"container": 17.5 * mib, "oci-crun": 18.1 * mib, "vm": 281 * mib}, 0.03},
	{"idle", "host_overhead", b, lo, map[string]float64{"vm": 38 * mib}, 0.05},
	{"cpu", "single_thread", ops, hi, map[string]float64{"native": 612000, "container": 609000, "oci-crun": 610500, "vm": 71300}, 0.01},
	{"cpu", "all_threads", ops, hi, map[string]float64{"native": 1198000, "container": 1187000, "oci-crun": 1192000, "vm": 69800}, 0.02},
	{"cpu", "host_cpu_seconds", s, lo, map[string]float64{"native": 0.098, "container": 0.099, "oci-crun": 0.099, "vm": 0.87}, 0.03},
	{"memory", "copy", bps, hi, map[string]float64{"native": 9.4 * gib, "container": 9.3 * gib, "oci-crun": 9.35 * gib, "vm": 1.07 * gib}, 0.03},
	{"memory", "scale", bps, hi, map[string]float64{"native": 9.1 * gib, "container": 9.0 * gib, "oci-crun": 9.05 * gib, "vm": 0.81 * gib}, 0.03},
	{"memory", "add", bps, hi, map[string]float64{"native": 10.2 * gib, "container": 10.1 * gib, "oci-crun": 10.15 * gib, "vm": 0.93 * gib}, 0.03},
	{"memory", "triad", bps, hi, map[string]float64{"native": 10.0 * gib, "container": 9.9 * gib, "oci-crun": 9.95 * gib, "vm": 0.74 * gib}, 0.03},
	{"syscall", "getppid", ops, hi, map[string]float64{"native": 8.1e6, "container": 7.4e6, "oci-crun": 7.3e6, "vm": 1.62e6}, 0.015},
	{"fork", "spawn", ops, hi, map[string]float64{"native": 2480, "container": 2310, "oci-crun": 2290, "vm": 142}, 0.04},
	{"disk", "seq_write", bps, hi, map[string]float64{"native": 1.21 * gib, "container": 1.19 * gib, "oci-crun": 1.18 * gib, "vm": 0.31 * gib}, 0.04},
	{"disk", "seq_read", bps, hi, map[string]float64{"native": 3.05 * gib, "container": 3.01 * gib, "oci-crun": 3.02 * gib, "vm": 0.42 * gib}, 0.04},
	{"disk", "rand_read_iops", ops, hi, map[string]float64{"native": 201000, "container": 197000, "oci-crun": 196000, "vm": 21400}, 0.03},
	{"disk", "rand_write_iops", ops, hi, map[string]float64{"native": 88000, "container": 86500, "oci-crun": 86100, "vm": 9800}, 0.04},
	{"disk", "rand_read_p50", s, lo, map[string]float64{"native": 4.1e-6, "container": 4.2e-6, "oci-crun": 4.2e-6, "vm": 41e-6}, 0.03},
	{"disk", "rand_read_p99", s, lo, map[string]float64{"native": 11.8e-6, "container": 12.1e-6, "oci-crun": 12.3e-6, "vm": 162e-6}, 0.08},
	{"disk", "rand_write_p50", s, lo, map[string]float64{"native": 9.6e-6, "container": 9.9e-6, "oci-crun": 9.9e-6, "vm": 88e-6}, 0.03},
	{"disk", "rand_write_p99", s, lo, map[string]float64{"native": 31e-6, "container": 33e-6, "oci-crun": 33e-6, "vm": 410e-6}, 0.1},
	{"network", "stream_to_agent", bps, hi, map[string]float64{"native": 2.6 * gib, "container": 2.05 * gib, "oci-crun": 2.02 * gib, "vm": 142 * mib}, 0.05},
	{"network", "stream_from_agent", bps, hi, map[string]float64{"native": 2.4 * gib, "container": 1.95 * gib, "oci-crun": 1.93 * gib, "vm": 128 * mib}, 0.05},
	{"network", "rr_rate", ops, hi, map[string]float64{"native": 24800, "container": 18900, "oci-crun": 18700, "vm": 1480}, 0.03},
	{"network", "rr_p50", s, lo, map[string]float64{"native": 39e-6, "container": 51e-6, "oci-crun": 52e-6, "vm": 640e-6}, 0.03},
	{"network", "rr_p99", s, lo, map[string]float64{"native": 88e-6, "container": 112e-6, "oci-crun": 115e-6, "vm": 2.1e-3}, 0.1},
}

// changes are run-b's differences from run-a: metric@runtime → factor.
var changes = map[string]float64{
	"startup/ready@vm":          0.88, // faster boot
	"startup/agent_start@vm":    0.88,
	"syscall/getppid@container": 0.85, // a regression: 15% fewer calls per second
	"network/rr_p50@container":  1.12, // a regression: 12% more latency
	"memory/copy@oci-crun":      1.08,
}

func main() {
	root := os.Args[1]
	for i, name := range []string{"run-a", "run-b", "run-fail"} {
		if err := write(filepath.Join(root, name), name, uint64(i+1), i == 1, i == 2); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

func round(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 5, 64), 64)
	return r
}

func write(dir, id string, seed uint64, b, fail bool) error {
	rng := rand.New(rand.NewPCG(seed, 42))
	if err := os.MkdirAll(filepath.Join(dir, "raw"), 0o755); err != nil {
		return err
	}
	start := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	if b {
		start = start.Add(26 * time.Hour)
	}
	end := start.Add(4*time.Minute + 12*time.Second)
	info := bench.RunInfo{
		RunID: id, Status: bench.StatusComplete, Start: start, End: &end,
		Version: "0.1.0", GitRevision: "13d0a47", PID: 4242,
		Host: bench.Host{Hostname: "bench-01", CPUModel: "Intel(R) Xeon(R) CPU @ 2.20GHz", Cores: 2,
			MemBytes: 24 * gib, Kernel: "6.1.0-18-cloud-amd64", OS: "Debian GNU/Linux 12 (bookworm)", CgroupMode: "hybrid"},
		QEMUVersion: "7.2.9 (Debian 1:7.2+dfsg-7+deb12u5)",
		Runtimes: []bench.RuntimeInfo{
			{Name: "native", Kind: "native"},
			{Name: "container", Kind: "container", Settings: map[string]string{"cgroup": "v1", "network": "veth"}},
			{Name: "oci-crun", Kind: "oci-crun", Settings: map[string]string{"binary": "crun 1.8.1", "network": "veth"}},
			{Name: "oci-runc", Kind: "oci-runc", Skipped: "runc not found in PATH"},
			{Name: "vm", Kind: "vm", VCPUs: 2, MemoryMiB: 256, Settings: map[string]string{"accel": "tcg", "machine": "microvm", "kvm_probe": "boot timed out after 20s", "network": "user"}},
		},
		Scenario: "quick", ScenarioSource: "builtin:quick.yaml",
		ScenarioText:   "name: quick\ntrials: 6\n",
		ScenarioSHA256: "9f2c6f1de0b3a1c4e5d6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8",
		Trials:         6, Warmup: 1,
	}
	for i := range info.Runtimes {
		if rt := &info.Runtimes[i]; rt.Skipped == "" {
			rt.TrialsOK = trials[rt.Name]
		}
	}
	if fail {
		vm := &info.Runtimes[4]
		vm.TrialsOK = 2
		vm.Errors = []string{"vm trial 2/6: agent never became ready within 2m0s: context deadline exceeded"}
		const fio = "fio: exit status 1: fio: pid=0, err=22/file:filesetup.c:805, func=open, error=Invalid argument"
		seq := 3
		for trial := 1; trial <= trials["vm"]; trial++ {
			if trial == 2 {
				continue
			}
			// Trial 3's disk workload hangs the guest: the runner replaces
			// the VM, and network fails on the replacement too.
			inst := fmt.Sprintf("vm-%d", seq)
			diskCause, replaced := fio, false
			if trial == 3 {
				diskCause, replaced = "timed out after 10m0s; the agent stopped answering", true
			}
			msg := "workload disk: " + diskCause
			netInst := inst
			if replaced {
				seq++
				netInst = fmt.Sprintf("vm-%d", seq)
				msg += fmt.Sprintf("; %s replaced by %s for the trial's remaining workloads", inst, netInst)
			}
			const refused = "dial tcp 127.0.0.1:40123: connect: connection refused"
			vm.Errors = append(vm.Errors,
				fmt.Sprintf("vm trial %d/6: %s", trial, msg),
				fmt.Sprintf("vm trial %d/6: workload network: %s", trial, refused))
			vm.FailedWorkloads = append(vm.FailedWorkloads,
				bench.WorkloadFailure{Trial: trial - 1, Workload: "disk", Instance: inst, Cause: diskCause, Replaced: replaced},
				bench.WorkloadFailure{Trial: trial - 1, Workload: "network", Instance: netInst, Cause: refused})
			seq++
		}
		vm.Missing = []string{"disk", "network"}
		info.Runtimes[1].Warnings = []string{"memory: arrays (25165824 bytes) are smaller than 4x the last-level cache (503316480 bytes): figures include cache hits"}
		info.Runtimes[2].Warnings = info.Runtimes[1].Warnings
		note := []byte(`{"arrays":"25165824","warning":"arrays (25165824 bytes) are smaller than 4x the last-level cache (503316480 bytes): figures include cache hits"}` + "\n")
		for trial := 0; trial < 2; trial++ {
			if err := os.WriteFile(filepath.Join(dir, "raw", fmt.Sprintf("notes-container-%d-memory.json", trial)), note, 0o644); err != nil {
				return err
			}
		}
	}
	if err := bench.WriteJSONAtomic(filepath.Join(dir, "run.json"), info); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "samples.jsonl"))
	if err != nil {
		return err
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	// The phases newer runners record come from their own stream, so that
	// adding them left every other figure of the fixtures as it was.
	xrng := rand.New(rand.NewPCG(seed, 7))
	for _, rt := range runtimes {
		for trial := 0; trial < trials[rt]; trial++ {
			for _, m := range metrics {
				base, ok := m.base[rt]
				if !ok {
					continue
				}
				if fail && rt == "vm" && (trial == 1 || m.workload == "disk" || m.workload == "network") {
					continue // the workload failed in every trial
				}
				if b {
					if c, ok := changes[m.workload+"/"+m.name+"@"+rt]; ok {
						base *= c
					}
				}
				v := round(base * (1 + m.cv*rng.NormFloat64()))
				if err := enc.Encode(bench.Sample{Scenario: "quick", Runtime: rt, Workload: m.workload, Metric: m.name,
					Unit: workload.Unit(m.unit), Better: workload.Better(m.better), Trial: trial, Value: v}); err != nil {
					return err
				}
				if m.workload == "startup" && m.name == "ready" {
					if err := writePhases(enc, xrng, rt, trial, v); err != nil {
						return err
					}
				}
			}
		}
	}
	for _, rt := range runtimes {
		n := 1
		if rt == "container" {
			n = 2
		}
		for i := 0; i < n; i++ {
			in := infoFor(rt, i, start)
			bs, _ := json.MarshalIndent(in, "", "  ")
			if err := os.WriteFile(filepath.Join(dir, "raw", fmt.Sprintf("info-%s-%d.json", rt, i)), append(bs, '\n'), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// runtimeExec is each runtime's runtime_exec phase (vcbench's own
// preparation: netns, veth, cgroups, bundle, disks) and agentListening
// how far before ready the agent's socket opened.
var (
	runtimeExec    = map[string]float64{"native": 0.0006, "container": 0.0047, "oci-crun": 0.0091, "vm": 0.0118}
	agentListening = map[string]float64{"native": 0.0009, "container": 0.0012, "oci-crun": 0.0013, "vm": 0.31}
)

// writePhases writes runtime_exec, agent_listening and runtime_ready
// (ready − runtime_exec, as bench.Runner computes it) for one trial whose
// ready was ready.
func writePhases(enc *json.Encoder, rng *rand.Rand, rt string, trial int, ready float64) error {
	exec := round(runtimeExec[rt] * (1 + 0.06*rng.NormFloat64()))
	listen := round(ready - agentListening[rt]*(1+0.05*rng.NormFloat64()))
	for _, ph := range []struct {
		name string
		v    float64
	}{{"runtime_exec", exec}, {"agent_listening", listen}, {bench.MetricRuntimeReady, round(ready - exec)}} {
		if err := enc.Encode(bench.Sample{Scenario: "quick", Runtime: rt, Workload: "startup", Metric: ph.name,
			Unit: workload.UnitSeconds, Better: workload.BetterLower, Trial: trial, Value: ph.v}); err != nil {
			return err
		}
	}
	return nil
}

func infoFor(rt string, i int, t time.Time) proto.Info {
	lo := proto.Interface{Name: "lo", MTU: 65536, Up: true, Addrs: []string{"127.0.0.1/8", "::1/128"}}
	in := proto.Info{
		KernelRelease: "6.1.0-18-cloud-amd64", KernelVersion: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
		CPUsOnline: 2, CPUsUsable: 2, CPUModel: "Intel(R) Xeon(R) CPU @ 2.20GHz", GoVersion: "go1.26.0",
		Time: t.Add(time.Duration(i+1) * time.Second), CapEff: "000001ffffffffff",
	}
	switch rt {
	case "native":
		in.Hostname, in.PID, in.VisiblePIDs = "bench-01", 31337, 143
		in.MemTotalBytes, in.MemAvailBytes = 25217093632, 22109876224
		in.UptimeSeconds = 864213.4
		in.Interfaces = []proto.Interface{lo, {Name: "ens4", MTU: 1460, Up: true, Addrs: []string{"10.128.0.7/32"}}, {Name: "vcb0", MTU: 1500, Up: true, Addrs: []string{"10.201.0.1/24"}}}
		in.Cgroup = proto.CgroupView{Path: "/user.slice/user-0.slice/session-1.scope"}
		in.RootFSType = "ext4"
	case "container", "oci-crun":
		in.Hostname, in.PID, in.VisiblePIDs = fmt.Sprintf("%s-%d", rt, i), 1, 1
		in.MemTotalBytes, in.MemAvailBytes = 25217093632, 22091231232
		in.UptimeSeconds = 864213.9 + float64(i)
		in.Interfaces = []proto.Interface{lo, {Name: "eth0", MTU: 1500, Up: true, Addrs: []string{fmt.Sprintf("10.201.0.%d/24", 10+i)}}}
		in.Cgroup = proto.CgroupView{Path: "/", MemoryLimit: "536870912", CPULimit: "200000 100000", PidsLimit: "1024"}
		in.RootFSType, in.RootReadOnly = "overlay", rt == "oci-crun"
		in.CapEff, in.NoNewPrivs = "00000000a80425fb", true
	case "vm":
		in.KernelRelease, in.KernelVersion = "6.1.0-18-cloud-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"
		in.KernelRelease = "6.1.76-vcbench"
		in.KernelVersion = "#1 SMP Sat Mar  8 10:02:11 UTC 2025"
		in.CPUModel = "QEMU TCG CPU version 2.5+"
		in.Hostname, in.PID, in.VisiblePIDs = "vcbench-vm-0", 1, 58
		in.MemTotalBytes, in.MemAvailBytes = 232275968, 198701056
		in.UptimeSeconds = 2.61
		in.Interfaces = []proto.Interface{lo, {Name: "eth0", MTU: 1500, Up: true, Addrs: []string{"10.0.2.15/24"}}}
		in.Cgroup = proto.CgroupView{Path: "/"}
		in.RootFSType = "rootfs"
	}
	return in
}
