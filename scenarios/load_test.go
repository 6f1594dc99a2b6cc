package scenarios

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const valid = `name: t
trials: 4
warmup: 2
timeouts:
  start: 30s
runtimes:
  - kind: native
  - kind: vm
    name: vm-tap
    vcpus: 2
    memory_mib: 512
    accel: tcg
    machine: q35
    network: tap
    kernel: small
    tb_size_mib: 32
workloads:
  - kind: cpu
    iterations: 10
    threads: 2
  - kind: disk
    size_mib: 8
    ops: 100
`

func TestParseValid(t *testing.T) {
	s, err := Parse("t.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if s.Trials != 4 || s.Warmup != 2 || s.Timeouts.StartTimeout() != 30*time.Second {
		t.Errorf("trials/warmup/start = %d/%d/%s", s.Trials, s.Warmup, s.Timeouts.StartTimeout())
	}
	if s.Timeouts.WorkloadTimeout() != DefaultWorkloadTimeout {
		t.Errorf("workload timeout default not applied: %s", s.Timeouts.WorkloadTimeout())
	}
	n := s.Runtimes[0]
	if n.VCPUs != DefaultVCPUs || n.MemoryMiB != 0 || n.RuntimeName() != "native" {
		t.Errorf("native defaults: %+v", n)
	}
	v := s.Runtimes[1]
	if v.RuntimeName() != "vm-tap" || v.VCPUs != 2 || v.MemoryMiB != 512 || v.Accel != AccelTCG || v.Machine != MachineQ35 || v.Network != NetworkTap || v.Kernel != KernelSmall || v.TBSizeMiB != 32 {
		t.Errorf("vm settings: %+v", v)
	}
	if w := s.Workloads[0]; w.Kind != "cpu" || w.Iterations != 10 || w.Threads != 2 {
		t.Errorf("cpu params: %+v", w.Params)
	}
	if string(s.Text) != valid {
		t.Error("scenario text not kept verbatim")
	}
}

// TestParseLimits accepts the edges of every limit.
func TestParseLimits(t *testing.T) {
	wl := "workloads:\n  - kind: cpu\n"
	for name, text := range map[string]string{
		"vm at its limits":            "runtimes:\n  - kind: vm\n    vcpus: 64\n    memory_mib: 64\n  - kind: vm\n    name: big\n    memory_mib: 1048576\n" + wl,
		"container above host CPUs":   "runtimes:\n  - kind: container\n    vcpus: 256\n    memory_mib: 32\n" + wl,
		"native above host CPUs":      "runtimes:\n  - kind: native\n    vcpus: 256\n" + wl,
		"hostname of 64 bytes":        "runtimes:\n  - kind: container\n    hostname: HOST64\n" + wl,
		"name of 63 bytes on a vm":    "runtimes:\n  - kind: vm\n    name: NAME63\n" + wl,
		"name of 61 bytes, container": "runtimes:\n  - kind: container\n    name: NAME61\n" + wl,
		"trials and warmup at limits": "trials: 10000\nwarmup: 10000\nruntimes:\n  - kind: native\n" + wl,
		"names with _ and .":          "runtimes:\n  - kind: oci-crun\n    name: crun_1.8\n    hostname: _h.x-1\n" + wl,
	} {
		text = strings.NewReplacer("HOST64", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "NAME63", strings.Repeat("v", 63), "NAME61", strings.Repeat("n", 61)).Replace(text)
		if _, err := Parse("t.yaml", []byte(text)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// errorCases are scenario texts that the loader refuses, with what its
// error must contain: the file:line:col, the field and the allowed range
// or values. FuzzLoad starts from them too.
var errorCases = []struct {
	name, text, want string
}{
	// The file as a whole.
	{"empty file", "", "t.yaml:1:1: the file is empty"},
	{"only a comment", "# nothing\n", "t.yaml:1:1: the file is empty"},
	{"null document", "~\n", "t.yaml:1:1: the scenario is empty"},
	{"a list", "- a\n", "t.yaml:1:1: expected a mapping, found a list"},
	{"syntax error", "name: x\ntrials: 3: 4\n", "t.yaml:2:1: mapping values are not allowed in this context"},
	{"tab indentation", "runtimes:\n\t- kind: native\n", "t.yaml:2:1: found character that cannot start any token"},
	{"unterminated quote", "name: 'abc\n", "t.yaml:2:1: found unexpected end of stream"},
	{"control character", "name: a\x01b\n", "t.yaml:1:8: control characters are not allowed"},
	{"invalid UTF-8", "trials: 1\nname: \xff\n", "t.yaml:2:7: invalid leading UTF-8 octet"},
	{"wrong type", "trials: many\n" + rt + wl, "t.yaml:1:9: trials: cannot unmarshal !!str `many` into int"},
	{"wrong nested type", "runtimes:\n  - kind: vm\n    vcpus: lots\n" + wl, "t.yaml:3:12: runtimes[0].vcpus: cannot unmarshal !!str `lots` into int"},
	{"duplicate map key", rt + "density:\n  steps: [1]\n  max_instances: {native: 1, native: 2}\n", "t.yaml:5:18: density.max_instances: mapping key \"native\" already defined at line 5"},

	// Top level.
	{"unknown top key", "trialz: 3\n" + rt + wl, "t.yaml:1:1: trialz: unknown key (allowed: name, description, trials, warmup, timeouts, runtimes, workloads, density)"},
	{"trials zero", "trials: 0\n" + rt + wl, "t.yaml:1:1: trials: 0 is below 1 (allowed: 1..10000)"},
	{"trials null", "trials:\n" + rt + wl, "t.yaml:1:1: trials: 0 is below 1 (allowed: 1..10000)"},
	{"trials huge", "trials: 10001\n" + rt + wl, "t.yaml:1:1: trials: 10001 is above 10000 (allowed: 1..10000)"},
	{"warmup negative", "warmup: -1\n" + rt + wl, "t.yaml:1:1: warmup: -1 is below 0 (allowed: 0..10000)"},
	{"warmup huge", "warmup: 10001\n" + rt + wl, "t.yaml:1:1: warmup: 10001 is above 10000 (allowed: 0..10000)"},
	{"no runtimes", wl, "t.yaml:1:1: runtimes: at least one runtime is needed"},
	{"no workloads", rt, "t.yaml:1:1: workloads: at least one workload is needed"},

	// Time-outs: left out means the default; written out, above zero.
	{"bad duration", "timeouts:\n  start: soon\n" + rt + wl, `t.yaml:2:10: timeouts.start: "soon" is not a duration above 0`},
	{"zero duration", "timeouts:\n  workload: 0s\n" + rt + wl, `t.yaml:2:13: timeouts.workload: "0s" is not a duration above 0`},
	{"zero without unit", "timeouts:\n  stop: 0\n" + rt + wl, `t.yaml:2:9: timeouts.stop: "0" is not a duration above 0`},
	{"negative duration", "timeouts:\n  start: -1s\n" + rt + wl, `t.yaml:2:10: timeouts.start: "-1s" is not a duration above 0`},
	{"null duration", "timeouts:\n  start:\n" + rt + wl, "t.yaml:2:3: timeouts.start: must be a duration above 0"},
	{"unknown timeout", "timeouts:\n  boot: 1s\n" + rt + wl, "t.yaml:2:3: boot: unknown key (allowed: start, workload, stop)"},

	// Runtimes.
	{"unknown runtime key", "runtimes:\n  - kind: native\n    cpus: 2\n" + wl, "t.yaml:3:5: cpus: unknown key (allowed: kind, name, vcpus, memory_mib, image, hostname, user_ns, writable_rootfs, hardening, platform, accel, machine, network, kernel, tb_size_mib)"},
	{"bad kind", "runtimes:\n  - kind: lxc\n" + wl, `t.yaml:2:5: runtimes[0].kind: "lxc" is not a runtime (allowed: [native container oci-crun oci-runc oci-runsc docker podman vm])`},
	{"accel on docker", "runtimes:\n  - kind: docker\n    accel: kvm\n" + wl, "t.yaml:3:5: runtimes[0].accel: does not apply to runtime docker (allowed: kind, name, vcpus, memory_mib, hostname, network)"},
	{"user_ns on podman", "runtimes:\n  - kind: podman\n    user_ns: true\n" + wl, "t.yaml:3:5: runtimes[0].user_ns: does not apply to runtime podman"},
	{"veth on docker", "runtimes:\n  - kind: docker\n    network: veth\n" + wl, `t.yaml:3:5: runtimes[0].network: "veth" is not allowed (allowed: bridge, host)`},
	{"missing kind", "runtimes:\n  - vcpus: 1\n" + wl, "t.yaml:2:5: runtimes[0].kind: missing (allowed: [native container oci-crun oci-runc oci-runsc docker podman vm])"},
	{"list not map", "runtimes:\n  - native\n" + wl, `t.yaml:2:5: expected a mapping, found "native"`},
	{"duplicate names", "runtimes:\n  - kind: vm\n  - kind: vm\n" + wl, `t.yaml:3:5: runtimes[1].name: runtime name "vm" is used twice`},
	{"duplicate key", "runtimes:\n  - kind: vm\n    kind: vm\n" + wl, "t.yaml:3:5: kind: key given twice"},
	{"accel on native", "runtimes:\n  - kind: native\n    accel: kvm\n" + wl, "t.yaml:3:5: runtimes[0].accel: does not apply to runtime native (allowed: kind, name, vcpus, image)"},
	{"memory on native", "runtimes:\n  - kind: native\n    memory_mib: 512\n" + wl, "t.yaml:3:5: runtimes[0].memory_mib: does not apply to runtime native (allowed: kind, name, vcpus, image)"},
	{"hostname on vm", "runtimes:\n  - kind: vm\n    hostname: h\n" + wl, "t.yaml:3:5: runtimes[0].hostname: does not apply to runtime vm (allowed: kind, name, vcpus, memory_mib, image, accel, machine, network, kernel, tb_size_mib)"},
	{"user_ns on crun", "runtimes:\n  - kind: oci-crun\n    user_ns: false\n" + wl, "t.yaml:3:5: runtimes[0].user_ns: does not apply to runtime oci-crun"},

	// vcpus: 1..256 natively and in containers (a quota, and pinning where
	// the host has more CPUs), 1..64 in a VM (the vm backend's -smp limit).
	{"vcpus zero", "runtimes:\n  - kind: vm\n    vcpus: 0\n" + wl, "t.yaml:3:5: runtimes[0].vcpus: 0 is below 1 (allowed: 1..64)"},
	{"vcpus negative native", "runtimes:\n  - kind: native\n    vcpus: -1\n" + wl, "t.yaml:3:5: runtimes[0].vcpus: -1 is below 1 (allowed: 1..256)"},
	{"vcpus above the vm limit", "runtimes:\n  - kind: vm\n    vcpus: 100\n" + wl, "t.yaml:3:5: runtimes[0].vcpus: 100 is above 64 (allowed: 1..64)"},
	{"vcpus huge", "runtimes:\n  - kind: vm\n    vcpus: 1000\n" + wl, "t.yaml:3:5: runtimes[0].vcpus: 1000 is above 64 (allowed: 1..64)"},
	{"vcpus above the container limit", "runtimes:\n  - kind: container\n    vcpus: 257\n" + wl, "t.yaml:3:5: runtimes[0].vcpus: 257 is above 256 (allowed: 1..256)"},

	// memory_mib: 32.. in containers, 64.. in a VM (kernel and initramfs), up to 1 TiB.
	{"memory small", "runtimes:\n  - kind: vm\n    memory_mib: 8\n" + wl, "t.yaml:3:5: runtimes[0].memory_mib: 8 is below 64 (allowed: 64..1048576)"},
	{"memory below the vm limit", "runtimes:\n  - kind: vm\n    memory_mib: 40\n" + wl, "t.yaml:3:5: runtimes[0].memory_mib: 40 is below 64 (allowed: 64..1048576)"},
	{"memory below the container limit", "runtimes:\n  - kind: oci-runc\n    memory_mib: 31\n" + wl, "t.yaml:3:5: runtimes[0].memory_mib: 31 is below 32 (allowed: 32..1048576)"},
	{"memory zero", "runtimes:\n  - kind: container\n    memory_mib: 0\n" + wl, "t.yaml:3:5: runtimes[0].memory_mib: 0 is below 32 (allowed: 32..1048576)"},
	{"memory huge", "runtimes:\n  - kind: container\n    memory_mib: 1048577\n" + wl, "t.yaml:3:5: runtimes[0].memory_mib: 1048577 is above 1048576 (allowed: 32..1048576)"},

	// accel, machine, network.
	{"bad accel", "runtimes:\n  - kind: vm\n    accel: hvf\n" + wl, `t.yaml:3:5: runtimes[0].accel: "hvf" is not allowed (allowed: auto, kvm, tcg)`},
	{"empty accel", "runtimes:\n  - kind: vm\n    accel: ''\n" + wl, `t.yaml:3:5: runtimes[0].accel: "" is not allowed (allowed: auto, kvm, tcg)`},
	{"bad machine", "runtimes:\n  - kind: vm\n    machine: pc\n" + wl, `t.yaml:3:5: runtimes[0].machine: "pc" is not allowed (allowed: microvm, q35)`},
	{"bad kernel", "runtimes:\n  - kind: vm\n    kernel: tiny\n" + wl, `t.yaml:3:5: runtimes[0].kernel: "tiny" is not allowed (allowed: auto, cloud, small)`},
	{"empty kernel", "runtimes:\n  - kind: vm\n    kernel: ''\n" + wl, `t.yaml:3:5: runtimes[0].kernel: "" is not allowed (allowed: auto, cloud, small)`},
	{"kernel on container", "runtimes:\n  - kind: container\n    kernel: small\n" + wl, "t.yaml:3:5: runtimes[0].kernel: does not apply to runtime container"},
	{"tb size too small", "runtimes:\n  - kind: vm\n    tb_size_mib: 1\n" + wl, "t.yaml:3:5: runtimes[0].tb_size_mib: 1 is below 4 (allowed: 4..2048)"},
	{"tb size zero", "runtimes:\n  - kind: vm\n    tb_size_mib: 0\n" + wl, "runtimes[0].tb_size_mib:"},
	{"tb size on native", "runtimes:\n  - kind: native\n    tb_size_mib: 32\n" + wl, "runtimes[0].tb_size_mib: does not apply to runtime native"},
	{"vm network veth", "runtimes:\n  - kind: vm\n    network: veth\n" + wl, `t.yaml:3:5: runtimes[0].network: "veth" is not allowed (allowed: user, tap)`},
	{"container network tap", "runtimes:\n  - kind: container\n    network: tap\n" + wl, `t.yaml:3:5: runtimes[0].network: "tap" is not allowed (allowed: veth)`},
	{"bad platform", "runtimes:\n  - kind: oci-runsc\n    platform: xen\n" + wl, `t.yaml:3:5: runtimes[0].platform: "xen" is not allowed (allowed: ptrace, systrap, kvm)`},
	{"empty platform", "runtimes:\n  - kind: oci-runsc\n    platform: ''\n" + wl, `t.yaml:3:5: runtimes[0].platform: "" is not allowed (allowed: ptrace, systrap, kvm)`},
	{"platform not for crun", "runtimes:\n  - kind: oci-crun\n    platform: kvm\n" + wl, "t.yaml:3:5: runtimes[0].platform: does not apply to runtime oci-crun"},
	{"bad hardening", "runtimes:\n  - kind: container\n    hardening: podman\n" + wl, `t.yaml:3:5: runtimes[0].hardening: "podman" is not allowed (allowed: none, docker)`},
	{"hardening not for vm", "runtimes:\n  - kind: vm\n    hardening: docker\n" + wl, "t.yaml:3:5: runtimes[0].hardening: does not apply to runtime vm"},
	{"hardening not for docker", "runtimes:\n  - kind: docker\n    hardening: docker\n" + wl, "t.yaml:3:5: runtimes[0].hardening: does not apply to runtime docker"},
	{"runsc network tap", "runtimes:\n  - kind: oci-runsc\n    network: tap\n" + wl, `t.yaml:3:5: runtimes[0].network: "tap" is not allowed (allowed: veth)`},

	// Names and hostnames.
	{"name with a slash", "runtimes:\n  - kind: vm\n    name: a/b\n" + wl, `t.yaml:3:5: runtimes[0].name: "a/b" has '/' at byte 1 (allowed: ` + NameRule + ")"},
	{"name starting with a dash", "runtimes:\n  - kind: vm\n    name: -x\n" + wl, `t.yaml:3:5: runtimes[0].name: "-x" starts with '-' (allowed: ` + NameRule + ")"},
	{"name starting with a dot", "runtimes:\n  - kind: vm\n    name: .x\n" + wl, `t.yaml:3:5: runtimes[0].name: ".x" starts with '.' (allowed: ` + NameRule + ")"},
	{"name empty", "runtimes:\n  - kind: vm\n    name: ''\n" + wl, `t.yaml:3:5: runtimes[0].name: "" has 0 bytes (allowed: ` + NameRule + ")"},
	{"name too long", "runtimes:\n  - kind: vm\n    name: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\n" + wl, `t.yaml:3:5: runtimes[0].name: "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv" has 64 bytes (allowed: ` + NameRule + ")"},
	{"name of spaces", "runtimes:\n  - kind: vm\n    name: 'a b'\n" + wl, `t.yaml:3:5: runtimes[0].name: "a b" has ' ' at byte 1`},
	{"hostname too long", "runtimes:\n  - kind: container\n    hostname: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n" + wl, `t.yaml:3:5: runtimes[0].hostname: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" has 65 bytes (allowed: ` + HostnameRule + ")"},
	{"hostname label too long", "runtimes:\n  - kind: container\n    hostname: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" + wl, `t.yaml:3:5: runtimes[0].hostname: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": label 1 has 64 bytes (allowed: ` + HostnameRule + ")"},
	{"hostname empty label", "runtimes:\n  - kind: oci-crun\n    hostname: a..b\n" + wl, `t.yaml:3:5: runtimes[0].hostname: "a..b": label 2 has 0 bytes (allowed: ` + HostnameRule + ")"},
	{"hostname starting with a dash", "runtimes:\n  - kind: oci-runc\n    hostname: -h\n" + wl, `t.yaml:3:5: runtimes[0].hostname: "-h" starts with '-' (allowed: ` + HostnameRule + ")"},
	{"hostname empty", "runtimes:\n  - kind: container\n    hostname: ''\n" + wl, `t.yaml:3:5: runtimes[0].hostname: "" has 0 bytes (allowed: ` + HostnameRule + ")"},
	{"default hostname too long", "runtimes:\n  - kind: container\n    name: nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\n" + wl, `t.yaml:3:5: runtimes[0].name: the default hostname, the instance name, would be "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn-3": label 1 has 64 bytes (allowed: ` + HostnameRule + ")"},
	{"default hostname, many trials", "trials: 100\nruntimes:\n  - kind: container\n    name: nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\n" + wl, `t.yaml:4:5: runtimes[0].name: the default hostname, the instance name, would be "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn-100" has 65 bytes (allowed: ` + HostnameRule + "); shorten the name or set hostname"},
	{"default hostname in a density sweep", "runtimes:\n  - kind: container\n    name: nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\ndensity:\n  steps: [1, 10]\n", `t.yaml:3:5: runtimes[0].name: the default hostname, the instance name, would be "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn-d10" has 65 bytes (allowed: ` + HostnameRule + ")"},

	// Workloads.
	{"bad workload", rt + "workloads:\n  - kind: gpu\n", `t.yaml:4:5: workloads[0].kind: "gpu" is not a workload (allowed: [cpu memory syscall fork disk network fio sysbench stress-ng hpl stream randomaccess iperf3 sockperf redis])`},
	{"missing workload kind", rt + "workloads:\n  - ops: 1\n", "t.yaml:4:5: workloads[0].kind: missing (allowed: [cpu memory syscall fork disk network fio sysbench stress-ng hpl stream randomaccess iperf3 sockperf redis])"},
	{"param not for workload", rt + "workloads:\n  - kind: cpu\n    size_mib: 4\n", "t.yaml:5:5: workloads[0].size_mib: does not apply to workload cpu (allowed: kind, iterations, threads)"},
	{"negative param", rt + "workloads:\n  - kind: disk\n    ops: -5\n", "t.yaml:5:5: workloads[0].ops: -5 is below 0 (allowed: 0..16777216, 0 for the default)"},
	{"param too big", rt + "workloads:\n  - kind: cpu\n    threads: 1025\n", "t.yaml:5:5: workloads[0].threads: 1025 is above 1024 (allowed: 0..1024, 0 for the default)"},
	{"key of another workload", rt + "workloads:\n  - kind: disk\n    bs: 4k\n", "t.yaml:5:5: workloads[0].bs: does not apply to workload disk (allowed: kind, ops, size_mib)"},
	{"memory arrays above a runtime's memory", "runtimes:\n  - kind: native\n  - kind: container\n    name: small\n    memory_mib: 256\nworkloads:\n  - kind: memory\n    size_mib: 100\n",
		"t.yaml:8:5: workloads[0].size_mib: runtime small: 3 arrays × 100 MiB = 300 MiB do not fit in 256 MiB of memory less 64 MiB for the agent and kernel (at most 64 MiB per array)"},
	{"memory arrays above the default memory", rt + "  - kind: vm\nworkloads:\n  - kind: memory\n    size_mib: 65\n",
		"t.yaml:6:5: workloads[0].size_mib: runtime vm: 3 arrays × 65 MiB = 195 MiB do not fit in 256 MiB of memory less 64 MiB"},
	{"unknown workload key", rt + "workloads:\n  - kind: disk\n    blocksize: 4k\n", "t.yaml:5:5: blocksize: unknown key (allowed: kind, iterations, threads, size_mib, ops, rw, bs, iodepth, numjobs, size, direct, runtime, ioengine, test, mode, max_prime, tables, table_size, n, stressors, workers, streams, clients, requests, value_size, protocol, direction, bitrate, msg_size, tests)"},
	{"tool workload on the minimal image", rt + "workloads:\n  - kind: fio\n", "t.yaml:4:5: workloads[0].kind: fio runs a tool of the tools image, but runtime native runs image minimal (set `image: tools` in runtimes[0])"},
	{"bad image", "runtimes:\n  - kind: native\n    image: debian\n" + "workloads:\n  - kind: cpu\n", `t.yaml:3:5: runtimes[0].image: "debian" is not allowed (allowed: minimal, tools)`},
	{"bad fio rw", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: fio\n    rw: sideways\n", `t.yaml:6:5: workloads[0].rw: "sideways" is not allowed (allowed: read, write, randread, randwrite, rw, readwrite, randrw)`},
	{"bad fio bs", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: fio\n    bs: 4 parsecs\n", `t.yaml:6:9: workloads[0].bs: "4 parsecs" is not a size such as 4096, 4k or 1MiB`},
	{"bad runtime", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: sysbench\n    runtime: 0s\n", `t.yaml:6:14: workloads[0].runtime: "0s" is not a duration above 0 such as 10s (leave the key out for the default)`},
	{"sysbench test", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: sysbench\n    test: oltp_write_only\n", `t.yaml:6:5: workloads[0].test: "oltp_write_only" is not allowed (allowed: cpu, memory, fileio, oltp_read_only, oltp_read_write)`},
	{"sysbench tables on cpu", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: sysbench\n    tables: 2\n", `t.yaml:6:5: workloads[0].tables: applies only to sysbench's OLTP tests (test: oltp_read_only or oltp_read_write), not to test cpu`},
	{"sysbench mode on oltp", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: sysbench\n    test: oltp_read_only\n    mode: rndrd\n", `t.yaml:7:5: workloads[0].mode: does not apply to sysbench's OLTP test oltp_read_only (it takes tables, table_size, threads, runtime)`},
	{"sysbench table_size", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: sysbench\n    test: oltp_read_write\n    table_size: -1\n", `t.yaml:7:5: workloads[0].table_size: -1 is below 0 (allowed: 0..1073741824, 0 for the default)`},
	{"iperf3 protocol", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: iperf3\n    protocol: sctp\n", `t.yaml:6:5: workloads[0].protocol: "sctp" is not allowed (allowed: tcp, udp, both)`},
	{"iperf3 bitrate", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: iperf3\n    bitrate: fast\n", `t.yaml:6:14: workloads[0].bitrate: "fast" is not a bit rate such as 100M or 1G`},
	{"sockperf msg_size", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: sockperf\n    msg_size: 4\n", `t.yaml:6:5: workloads[0].msg_size: 4 is below sockperf's minimum of 14 bytes`},
	{"redis test", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: redis\n    tests: [get, lrange_100]\n", `t.yaml:6:5: workloads[0].tests: tests[1]: "lrange_100" is not allowed`},
	{"redis key", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: redis\n    streams: 2\n", `t.yaml:6:5: workloads[0].streams: does not apply to workload redis (allowed: kind, clients, requests, tests, value_size)`},
	{"host client needs tools", "runtimes:\n  - kind: native\n" + "workloads:\n  - kind: sockperf\n", `sockperf runs a tool of the tools image, but runtime native runs image minimal`},
	{"host client density", "runtimes:\n  - kind: native\n    image: tools\n" + "density:\n  steps: [1]\n  workload: iperf3\n", `density.workload: iperf3 runs its client on the host`},
	{"unknown stressor", "runtimes:\n  - kind: native\n    image: tools\n" + "workloads:\n  - kind: stress-ng\n    stressors: [cpu, warp]\n", `t.yaml:6:5: workloads[0].stressors: stressors[1]: "warp" is not a stressor of stress-ng 0.15.06`},
	{"workload twice", rt + "workloads:\n  - kind: cpu\n  - kind: cpu\n    threads: 1\n", "t.yaml:5:5: workloads[1].kind: cpu is already workloads[0]"},

	// Density.
	{"density steps order", rt + "density:\n  steps: [1, 4, 2]\n", "t.yaml:4:3: density.steps[2]: 2 must be above the step before (4)"},
	{"density without steps", rt + "density:\n  batch: 1\n", "t.yaml:4:3: density.steps: at least one step is needed"},
	{"density batch negative", rt + "density:\n  steps: [1]\n  batch: -1\n", "t.yaml:5:3: density.batch: -1 is below 0"},
	{"density workload", rt + "density:\n  steps: [1]\n  workload: gpu\n", `t.yaml:5:3: density.workload: "gpu" is not a workload (allowed: [cpu memory syscall fork disk network fio sysbench stress-ng hpl stream randomaccess iperf3 sockperf redis])`},
	{"density max_start zero", rt + "density:\n  steps: [1]\n  max_start: 0s\n", `t.yaml:5:14: density.max_start: "0s" is not a duration above 0`},
	{"density max_start null", rt + "density:\n  steps: [1]\n  max_start:\n", "t.yaml:5:3: density.max_start: must be a duration above 0"},
	{"density unknown runtime", rt + "density:\n  steps: [1]\n  max_instances: {vm: 2}\n", `t.yaml:5:3: density.max_instances.vm: no runtime is named "vm"`},
	{"density max_instances zero", rt + "density:\n  steps: [1]\n  max_instances: {native: 0}\n", "t.yaml:5:3: density.max_instances.native: 0 is below 1"},
}

const (
	rt = "runtimes:\n  - kind: native\n"
	wl = "workloads:\n  - kind: cpu\n"
)

func TestParseErrors(t *testing.T) {
	for _, c := range errorCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(c.text))
			if err == nil {
				t.Fatalf("no error; want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error\n  %s\nwant it to contain\n  %s", err, c.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "t.yaml" || e.Line < 1 || e.Col < 1 {
				t.Errorf("error is not located at t.yaml:line:col: %#v", err)
			}
		})
	}
}

// TestValidate checks configs built in code, as the backends get them:
// zero and empty mean the default, anything else meets the same limits.
func TestValidate(t *testing.T) {
	for _, c := range []struct {
		rc      RuntimeConfig
		wantKey string
	}{
		{RuntimeConfig{Kind: VM}, ""},
		{RuntimeConfig{Kind: Container, Network: NetworkVeth, Hostname: "h"}, ""},
		{RuntimeConfig{Kind: Native, VCPUs: MaxVCPUs}, ""},
		{RuntimeConfig{Kind: "lxc"}, "kind"},
		{RuntimeConfig{Kind: Docker, Network: NetworkHost}, ""},
		{RuntimeConfig{Kind: Podman, Network: NetworkVeth}, "network"},
		{RuntimeConfig{Kind: VM, VCPUs: MaxVMVCPUs + 1}, "vcpus"},
		{RuntimeConfig{Kind: VM, MemoryMiB: MinVMMemoryMiB - 1}, "memory_mib"},
		{RuntimeConfig{Kind: Container, VCPUs: -1}, "vcpus"},
		{RuntimeConfig{Kind: OCICrun, MemoryMiB: -5}, "memory_mib"},
		{RuntimeConfig{Kind: OCIRunc, Network: NetworkTap}, "network"},
		{RuntimeConfig{Kind: Container, Hostname: strings.Repeat("h", MaxHostnameLen+1)}, "hostname"},
		{RuntimeConfig{Kind: Native, MemoryMiB: 64}, "memory_mib"},
		{RuntimeConfig{Kind: VM, Hostname: "h"}, "hostname"},
		{RuntimeConfig{Kind: OCICrun, UserNS: true}, ""}, // the OCI backends' user namespaces
		{RuntimeConfig{Kind: VM, Accel: "hvf"}, "accel"},
		{RuntimeConfig{Kind: VM, Kernel: "tiny"}, "kernel"},
		{RuntimeConfig{Kind: VM, TBSizeMiB: 4096}, "tb_size_mib"},
		{RuntimeConfig{Kind: Container, TBSizeMiB: 32}, "tb_size_mib"},
		{RuntimeConfig{Kind: VM, Machine: "pc"}, "machine"},
		{RuntimeConfig{Kind: VM, Name: "a b"}, "name"},
	} {
		key, err := c.rc.Validate()
		if key != c.wantKey || (err == nil) != (c.wantKey == "") {
			t.Errorf("%+v: key %q err %v, want key %q", c.rc, key, err, c.wantKey)
		}
	}
}

// TestSetTrials: --trials meets the loader's limits, including the
// hostnames that more trials make longer.
func TestSetTrials(t *testing.T) {
	s, err := Parse("t.yaml", []byte("runtimes:\n  - kind: container\n    name: nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\n"+wl))
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]string{
		0:     "0 is below 1 (allowed: 1..10000)",
		-1:    "-1 is below 1 (allowed: 1..10000)",
		10001: "10001 is above 10000 (allowed: 1..10000)",
		10:    `runtimes[0].name: the default hostname, the instance name, would be "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn-10": label 1 has 64 bytes`,
	} {
		if err := s.SetTrials(n); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SetTrials(%d) = %v, want %q", n, err, want)
		}
		if s.Trials != DefaultTrials {
			t.Errorf("SetTrials(%d) left trials at %d", n, s.Trials)
		}
	}
	if err := s.SetTrials(9); err != nil || s.Trials != 9 {
		t.Errorf("SetTrials(9) = %v, trials %d", err, s.Trials)
	}
}

func TestBuiltinsValid(t *testing.T) {
	names := Builtins()
	for _, want := range []string{"quick", "startup", "cpu", "memory", "disk", "network", "full"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("built-in %s missing (have %v)", want, names)
		}
	}
	for _, n := range names {
		s, err := Open(n)
		if err != nil {
			t.Errorf("built-in %s: %v", n, err)
			continue
		}
		if s.Name != n || s.Source != "builtin:"+n {
			t.Errorf("built-in %s: name %q source %q", n, s.Name, s.Source)
		}
	}
}

func TestOpenMissing(t *testing.T) {
	_, err := Open("nosuch")
	if err == nil || !strings.Contains(err.Error(), "neither a built-in") {
		t.Errorf("err = %v", err)
	}
	_, err = Open("/nonexistent/x.yaml")
	var e *Error
	if err == nil || errors.As(err, &e) {
		t.Errorf("missing file: err = %v", err)
	}
}

// FuzzLoad: the loader never panics, every error it returns is located at
// file:line:col, and what it accepts meets the backends' limits.
func FuzzLoad(f *testing.F) {
	for _, n := range Builtins() {
		b, _ := Builtin(n)
		f.Add(b)
	}
	f.Add([]byte(valid))
	for _, c := range errorCases {
		f.Add([]byte(c.text))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		s, err := Parse("f.yaml", text)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "f.yaml" || e.Line < 1 || e.Col < 1 || !strings.HasPrefix(err.Error(), "f.yaml:") {
				t.Fatalf("error not located at f.yaml:line:col: %#v", err)
			}
			return
		}
		if s.Trials < MinTrials || s.Trials > MaxTrials || s.Warmup < 0 || s.Warmup > MaxWarmup {
			t.Fatalf("accepted trials %d warmup %d", s.Trials, s.Warmup)
		}
		if s.Timeouts.StartTimeout() <= 0 || s.Timeouts.WorkloadTimeout() <= 0 || s.Timeouts.StopTimeout() <= 0 {
			t.Fatalf("accepted time-outs %+v", s.Timeouts)
		}
		for _, r := range s.Runtimes {
			if key, err := r.Validate(); err != nil {
				t.Fatalf("accepted runtime %+v: %s: %v", r, key, err)
			}
			if r.VCPUs < MinVCPUs {
				t.Fatalf("accepted runtime %+v without vcpus", r)
			}
		}
		for _, w := range s.Workloads {
			if key, err := w.Params.Validate(); err != nil {
				t.Fatalf("accepted workload %+v: %s: %v", w.Params, key, err)
			}
		}
	})
}

func TestParseEngines(t *testing.T) {
	text := "runtimes:\n  - kind: docker\n    vcpus: 2\n    memory_mib: 128\n    hostname: box\n  - kind: podman\n    network: host\nworkloads:\n  - kind: cpu\n"
	s, err := Parse("t.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	d, p := s.Runtimes[0], s.Runtimes[1]
	if d.Kind != Docker || d.VCPUs != 2 || d.MemoryMiB != 128 || d.Hostname != "box" || d.Network != "" {
		t.Errorf("docker settings: %+v", d)
	}
	if p.Kind != Podman || p.Network != NetworkHost || p.MemoryMiB != DefaultMemoryMiB {
		t.Errorf("podman settings: %+v", p)
	}
}

// TestRunscAndHardening checks oci-runsc's platform default and the
// hardening key of the container kinds.
func TestRunscAndHardening(t *testing.T) {
	text := "runtimes:\n  - kind: oci-runsc\n  - kind: oci-runsc\n    name: runsc-kvm\n    platform: kvm\n    hardening: docker\n" +
		"  - kind: container\n    hardening: docker\n  - kind: oci-crun\n" + wl
	s, err := Parse("t.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		p Platform
		h Hardening
	}{{DefaultPlatform, ""}, {PlatformKVM, HardeningDocker}, {"", HardeningDocker}, {"", ""}}
	for i, w := range want {
		if r := s.Runtimes[i]; r.Platform != w.p || r.Hardening != w.h {
			t.Errorf("runtimes[%d]: platform %q hardening %q, want %q %q", i, r.Platform, r.Hardening, w.p, w.h)
		}
	}
	if DefaultPlatform != PlatformPtrace {
		t.Errorf("default platform %q, want ptrace", DefaultPlatform)
	}
	for _, c := range []struct {
		cfg RuntimeConfig
		key string
	}{
		{RuntimeConfig{Kind: OCIRunsc, Platform: "xen"}, "platform"},
		{RuntimeConfig{Kind: OCIRunc, Platform: PlatformKVM}, "platform"},
		{RuntimeConfig{Kind: Container, Hardening: "strict"}, "hardening"},
		{RuntimeConfig{Kind: Native, Hardening: HardeningDocker}, "hardening"},
		{RuntimeConfig{Kind: OCIRunsc, Platform: PlatformSystrap, Hardening: HardeningDocker}, ""},
	} {
		key, err := c.cfg.Validate()
		if key != c.key || (c.key == "") != (err == nil) {
			t.Errorf("Validate(%+v) = %q, %v; want key %q", c.cfg, key, err, c.key)
		}
	}
}

// TestToolsUnavailable: an engine beside tool workloads loads and is
// skipped with the reason; a runtime that could run the tools image but
// does not set it is still refused by the loader.
func TestToolsUnavailable(t *testing.T) {
	s, err := Parse("t.yaml", []byte("runtimes:\n  - kind: native\n    image: tools\n  - kind: docker\nworkloads:\n  - kind: hpl\n  - kind: cpu\n"))
	if err != nil {
		t.Fatal(err)
	}
	if why := s.ToolsUnavailable(s.Runtimes[1]); why != "docker imports only the minimal image, not the tools image that hpl need" {
		t.Errorf("docker: %q", why)
	}
	if why := s.ToolsUnavailable(s.Runtimes[0]); why != "" {
		t.Errorf("native with image tools: %q", why)
	}
	if s, err := Parse("t.yaml", []byte("runtimes:\n  - kind: docker\nworkloads:\n  - kind: cpu\n")); err != nil || s.ToolsUnavailable(s.Runtimes[0]) != "" {
		t.Errorf("docker without tool workloads: %v", err)
	}
}
