package hostcg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// CPUGroup is a group without limits in the CPU-accounting hierarchy
// (cpuacct on a v1 or hybrid host, the unified tree on v2) that one process
// tree is born in, so that its CPU time is read at nanosecond resolution
// and includes children that have exited: the native agent, QEMU. The
// container runtimes read their own groups the same way.
type CPUGroup struct {
	dir  string
	home string // own group in the same hierarchy (v1)
	v2   bool
	run  string
	held bool
}

// InstanceRel is the layout of every instance group, relative to the own
// groups: run is vcbench/<run-id>, rel is run/<instance>, with characters
// that are not [A-Za-z0-9._-] made '_'.
func InstanceRel(runID, instance string) (run, rel string) {
	run = filepath.Join("vcbench", SafeName(runID))
	return run, filepath.Join(run, SafeName(instance))
}

// SafeName makes a string usable in file, cgroup and container names.
func SafeName(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			return c
		}
		return '_'
	}, s)
}

// PlanCPU computes the group <own>/rel without creating it, so that the
// caller can record it first; run is its run group (vcbench/<run-id>).
func PlanCPU(run, rel string) (*CPUGroup, error) {
	hs, err := Hierarchies()
	if err != nil {
		return nil, err
	}
	v2, _ := Mode()
	for _, h := range hs {
		if (v2 && h.V2) || (!v2 && !h.V2 && h.Has("cpuacct")) {
			return &CPUGroup{dir: filepath.Join(h.OwnDir(), rel), home: h.OwnDir(), v2: v2, run: run}, nil
		}
	}
	return nil, errors.New("no CPU-accounting cgroup hierarchy (cpuacct or cgroup2) is mounted")
}

// Dir is the group's directory.
func (g *CPUGroup) Dir() string { return g.dir }

// Source says where CPU time comes from, for run.json.
func (g *CPUGroup) Source() string { return CPUTimeSource(g.v2) }

// CPUTimeSource names the CPU-time source of a group on a v1 or v2 host.
func CPUTimeSource(v2 bool) string {
	if v2 {
		return "cgroup v2 cpu.stat usage_usec (µs)"
	}
	return "cgroup v1 cpuacct.usage (ns)"
}

// Create makes the group (and its parents).
func (g *CPUGroup) Create() error {
	Mu.Lock()
	defer Mu.Unlock()
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", g.dir, err)
	}
	if !g.held {
		Hold(g.run)
		g.held = true
	}
	return nil
}

// Spawn calls start so that the process it forks is born in the group (see
// the package's Spawn).
func (g *CPUGroup) Spawn(attr *syscall.SysProcAttr, start func() error) error {
	if g.v2 {
		return Spawn(Target{V2: g.dir}, attr, start)
	}
	return Spawn(Target{V1: []string{g.dir}, Home: []string{g.home}}, attr, start)
}

// Seconds is the CPU time (user + system) of every task that ran in the
// group, in seconds.
func (g *CPUGroup) Seconds() (float64, error) { return CPUSeconds(g.dir, g.v2) }

// CPUSeconds reads a group's CPU time in seconds: cpuacct.usage (ns) on v1,
// cpu.stat's usage_usec on v2.
func CPUSeconds(dir string, v2 bool) (float64, error) {
	if v2 {
		b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
		if err != nil {
			return 0, fmt.Errorf("read cgroup cpu time: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, " "); ok && k == "usage_usec" {
				us, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("read cgroup cpu time: %w", err)
				}
				return float64(us) / 1e6, nil
			}
		}
		return 0, fmt.Errorf("read cgroup cpu time: %s/cpu.stat has no usage_usec", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
	if err != nil {
		return 0, fmt.Errorf("read cgroup cpu time: %w", err)
	}
	ns, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read cgroup cpu time: %w", err)
	}
	return float64(ns) / 1e9, nil
}

// Remove deletes the group (its processes must be gone) and the run and
// vcbench groups above it once no other group of the run lives.
func (g *CPUGroup) Remove() error {
	Mu.Lock()
	defer Mu.Unlock()
	return RemoveDirs([]string{g.dir}, g.run, &g.held)
}
