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
	if v.RuntimeName() != "vm-tap" || v.VCPUs != 2 || v.MemoryMiB != 512 || v.Accel != "tcg" || v.Machine != "q35" || v.Network != "tap" {
		t.Errorf("vm settings: %+v", v)
	}
	if w := s.Workloads[0]; w.Kind != "cpu" || w.Iterations != 10 || w.Threads != 2 {
		t.Errorf("cpu params: %+v", w.Params)
	}
	if string(s.Text) != valid {
		t.Error("scenario text not kept verbatim")
	}
}

func TestParseErrors(t *testing.T) {
	rt := "runtimes:\n  - kind: native\n"
	wl := "workloads:\n  - kind: cpu\n"
	cases := []struct {
		name, text, want string
	}{
		{"unknown top key", "trialz: 3\n" + rt + wl, "t.yaml:1:1: trialz: unknown key (allowed: name, description, trials, warmup, timeouts, runtimes, workloads, density)"},
		{"trials zero", "trials: 0\n" + rt + wl, "t.yaml:1:1: trials: 0 is below 1"},
		{"warmup negative", "warmup: -1\n" + rt + wl, "t.yaml:1:1: warmup: -1 is below 0"},
		{"no runtimes", wl, "runtimes: at least one runtime is needed"},
		{"no workloads", rt, "workloads: at least one workload is needed"},
		{"unknown runtime key", "runtimes:\n  - kind: native\n    cpus: 2\n" + wl, "t.yaml:3:5: cpus: unknown key (allowed: kind, name, vcpus, memory_mib, hostname, user_ns, writable_rootfs, accel, machine, network)"},
		{"bad kind", "runtimes:\n  - kind: lxc\n" + wl, `t.yaml:2:5: runtimes[0].kind: "lxc" is not a runtime`},
		{"accel on docker", "runtimes:\n  - kind: docker\n    accel: kvm\n" + wl, "t.yaml:3:5: runtimes[0].accel: does not apply to runtime docker (allowed: kind, name, vcpus, memory_mib, hostname, network)"},
		{"user_ns on podman", "runtimes:\n  - kind: podman\n    user_ns: true\n" + wl, "runtimes[0].user_ns: does not apply to runtime podman"},
		{"veth on docker", "runtimes:\n  - kind: docker\n    network: veth\n" + wl, `runtimes[0].network: "veth" is not allowed (allowed: bridge, host)`},
		{"missing kind", "runtimes:\n  - vcpus: 1\n" + wl, "runtimes[0].kind: missing"},
		{"vcpus zero", "runtimes:\n  - kind: vm\n    vcpus: 0\n" + wl, "t.yaml:3:5: runtimes[0].vcpus: 0 is below 1"},
		{"vcpus huge", "runtimes:\n  - kind: vm\n    vcpus: 1000\n" + wl, "runtimes[0].vcpus: 1000 is above 256"},
		{"memory small", "runtimes:\n  - kind: vm\n    memory_mib: 8\n" + wl, "t.yaml:3:5: runtimes[0].memory_mib: 8 is below 32"},
		{"accel on native", "runtimes:\n  - kind: native\n    accel: kvm\n" + wl, "t.yaml:3:5: runtimes[0].accel: does not apply to runtime native"},
		{"memory on native", "runtimes:\n  - kind: native\n    memory_mib: 512\n" + wl, "t.yaml:3:5: runtimes[0].memory_mib: does not apply to runtime native (allowed: kind, name, vcpus)"},
		{"bad accel", "runtimes:\n  - kind: vm\n    accel: hvf\n" + wl, `runtimes[0].accel: "hvf" is not allowed (allowed: auto, kvm, tcg)`},
		{"bad machine", "runtimes:\n  - kind: vm\n    machine: pc\n" + wl, `runtimes[0].machine: "pc" is not allowed (allowed: microvm, q35)`},
		{"vm network veth", "runtimes:\n  - kind: vm\n    network: veth\n" + wl, `runtimes[0].network: "veth" is not allowed (allowed: user, tap)`},
		{"duplicate names", "runtimes:\n  - kind: vm\n  - kind: vm\n" + wl, `runtimes[1].name: runtime name "vm" is used twice`},
		{"duplicate key", "runtimes:\n  - kind: vm\n    kind: vm\n" + wl, "t.yaml:3:5: kind: key given twice"},
		{"bad workload", rt + "workloads:\n  - kind: gpu\n", `t.yaml:4:5: workloads[0].kind: "gpu" is not a workload`},
		{"param not for workload", rt + "workloads:\n  - kind: cpu\n    size_mib: 4\n", "t.yaml:5:5: workloads[0].size_mib: does not apply to workload cpu (allowed: kind, iterations, threads)"},
		{"negative param", rt + "workloads:\n  - kind: disk\n    ops: -5\n", "t.yaml:5:5: workloads[0].ops: -5 is below 0"},
		{"unknown workload key", rt + "workloads:\n  - kind: disk\n    bs: 4k\n", "t.yaml:5:5: bs: unknown key"},
		{"bad duration", "timeouts:\n  start: soon\n" + rt + wl, `t.yaml:2:10: "soon" is not a duration`},
		{"unknown timeout", "timeouts:\n  boot: 1s\n" + rt + wl, "t.yaml:2:3: boot: unknown key (allowed: start, workload, stop)"},
		{"wrong type", "trials: many\n" + rt + wl, "cannot unmarshal"},
		{"list not map", "runtimes:\n  - native\n" + wl, `t.yaml:2:5: expected a mapping, found "native"`},
		{"workload twice", rt + "workloads:\n  - kind: cpu\n  - kind: cpu\n    threads: 1\n", "t.yaml:5:5: workloads[1].kind: cpu is already workloads[0]"},
		{"density steps order", rt + "density:\n  steps: [1, 4, 2]\n", "density.steps[2]: 2 must be above the step before (4)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(c.text))
			if err == nil {
				t.Fatalf("no error; want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error\n  %s\nwant it to contain\n  %s", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "t.yaml") {
				t.Errorf("error does not name the file: %s", err)
			}
		})
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
	if p.Kind != Podman || p.Network != EngineHost || p.MemoryMiB != DefaultMemoryMiB {
		t.Errorf("podman settings: %+v", p)
	}
}
