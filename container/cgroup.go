package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"vcbench/internal/hostcg"
)

// hierarchy is one mounted cgroup hierarchy and vcbench's own group in it.
type hierarchy = hostcg.Hierarchy

// hierarchies lists the mounted hierarchies (see hostcg.Hierarchies).
func hierarchies() ([]hierarchy, error) { return hostcg.Hierarchies() }

// cgroupMode is what the host offers: cgroup v1 (legacy or hybrid) or v2.
func cgroupMode() (v2 bool, hybrid bool) { return hostcg.Mode() }

// usedV1 are the v1 controllers vcbench's own container manages.
var usedV1 = []string{"memory", "cpu", "cpuacct", "cpuset"}

// cgroup is one instance's control group: created through
// containerd/cgroups (or by an OCI runtime) and read through its files.
type cgroup struct {
	v2     bool
	rel    string   // vcbench/<run>/<instance>
	dirs   []string // every directory of the group, one per hierarchy
	memDir string   // where memory.* files are
	cpuDir string   // cpuacct.usage (v1) or cpu.stat (v2)
	v1     cgroup1.Cgroup
	v2m    *cgroup2.Manager
	hs     []hierarchy // the hierarchies the group spans
	// counted: the group is held (hostcg.Hold) until removeDirs succeeds.
	counted bool
}

// groupRel is the group's path relative to vcbench's own cgroup.
func groupRel(runID, instance string) string {
	return filepath.Join("vcbench", safeName(runID), safeName(instance))
}

// planCgroup computes the directories of an instance's group without
// creating anything, so that they can be recorded first. With all set, it
// spans every mounted hierarchy (what an OCI runtime creates), else only
// the controllers vcbench's own runtime uses.
func planCgroup(runID, instance string, all bool) (*cgroup, error) {
	hs, err := hierarchies()
	if err != nil {
		return nil, err
	}
	v2, _ := cgroupMode()
	cg := &cgroup{v2: v2, rel: groupRel(runID, instance)}
	defer func() {
		if cg != nil {
			hostcg.Mu.Lock()
			hostcg.Hold(filepath.Dir(cg.rel))
			cg.counted = true
			hostcg.Mu.Unlock()
		}
	}()
	for _, h := range hs {
		if v2 != h.V2 && !(all && h.V2) {
			continue
		}
		if !v2 && !all && !h.V2 {
			use := false
			for _, c := range usedV1 {
				use = use || h.Has(c)
			}
			if !use {
				continue
			}
		}
		dir := filepath.Join(h.OwnDir(), cg.rel)
		cg.hs = append(cg.hs, h)
		cg.dirs = append(cg.dirs, dir)
		switch {
		case h.V2 && v2:
			cg.memDir, cg.cpuDir = dir, dir
		case h.Has("memory"):
			cg.memDir = dir
		case h.Has("cpuacct"):
			cg.cpuDir = dir
		}
	}
	if len(cg.dirs) == 0 {
		cg = nil
		return nil, errors.New("no usable cgroup hierarchy is mounted")
	}
	return cg, nil
}

// resources turns the runtime's limits into the OCI form both
// containerd/cgroups and the OCI runtimes take.
func resources(vcpus, memoryMiB int, memsw bool) *specs.LinuxResources {
	r := &specs.LinuxResources{}
	if memoryMiB > 0 {
		limit := int64(memoryMiB) << 20
		r.Memory = &specs.LinuxMemory{Limit: &limit}
		if memsw {
			swap := limit // memory+swap = memory: no swapping out of the limit
			r.Memory.Swap = &swap
		}
	}
	if vcpus > 0 {
		period := uint64(100000)
		quota := int64(vcpus) * int64(period)
		r.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
		// Pin to the first vcpus CPUs as the native runtime does, so that
		// "one thread per vCPU" sees vcpus CPUs (sched_getaffinity) and a
		// quota alone does not throttle threads spread over every CPU.
		if n := hostCPUs(); vcpus < n {
			r.CPU.Cpus = cpuRange(vcpus)
			r.CPU.Mems = onlineMems()
		}
	}
	return r
}

// hostCPUs is the number of CPUs vcbench itself may run on.
func hostCPUs() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		return set.Count()
	}
	return 1
}

// cpuRange is the cpuset list of the first n CPUs ("0", "0-3").
func cpuRange(n int) string {
	if n == 1 {
		return "0"
	}
	return fmt.Sprintf("0-%d", n-1)
}

// onlineMems is the host's memory nodes in cpuset form, for cpuset.mems.
func onlineMems() string {
	b, err := os.ReadFile("/sys/devices/system/node/online")
	if err != nil {
		return "0"
	}
	return strings.TrimSpace(string(b))
}

// hasMemsw reports whether the v1 memory controller accounts swap.
func hasMemsw(hs []hierarchy) bool {
	for _, h := range hs {
		if h.Has("memory") {
			_, err := os.Stat(filepath.Join(h.OwnDir(), "memory.memsw.limit_in_bytes"))
			return err == nil
		}
	}
	return false
}

// create makes the group with its limits through containerd/cgroups.
func (cg *cgroup) create(vcpus, memoryMiB int) error {
	hostcg.Mu.Lock()
	defer hostcg.Mu.Unlock()
	res := resources(vcpus, memoryMiB, !cg.v2 && hasMemsw(cg.hs))
	if cg.v2 {
		var mount, group string
		for _, h := range cg.hs {
			if h.V2 {
				mount, group = h.Mount, filepath.Join(h.OwnRel, cg.rel)
			}
		}
		m, err := cgroup2.NewManager(mount, group, cgroup2.ToResources(res))
		if err != nil {
			return fmt.Errorf("create cgroup %s: %w", group, err)
		}
		cg.v2m = m
		return nil
	}
	byName := map[cgroup1.Name]string{}
	for _, h := range cg.hs {
		for _, c := range h.Controllers {
			byName[cgroup1.Name(c)] = filepath.Join(h.OwnRel, cg.rel)
		}
	}
	path := func(n cgroup1.Name) (string, error) {
		p, ok := byName[n]
		if !ok {
			return "", cgroup1.ErrControllerNotActive
		}
		return p, nil
	}
	hier := func() ([]cgroup1.Subsystem, error) {
		all, err := cgroup1.Default()
		if err != nil {
			return nil, err
		}
		var out []cgroup1.Subsystem
		for _, s := range all {
			if _, ok := byName[s.Name()]; ok {
				out = append(out, s)
			}
		}
		return out, nil
	}
	// The default init check insists on the devices controller, which
	// vcbench neither needs nor creates: accept any subset.
	c, err := cgroup1.New(path, res, cgroup1.WithHierarchy(hier),
		func(ic *cgroup1.InitConfig) error { ic.InitCheck = cgroup1.AllowAny; return nil })
	if err != nil {
		cg.removeDirs()
		return fmt.Errorf("create cgroup %s: %w", cg.rel, err)
	}
	cg.v1 = c
	return nil
}

// add moves a process (and its future children) into the group.
func (cg *cgroup) add(pid int) error {
	var err error
	switch {
	case cg.v2m != nil:
		err = cg.v2m.AddProc(uint64(pid))
	case cg.v1 != nil:
		err = cg.v1.Add(cgroup1.Process{Pid: pid})
	default:
		return errors.New("cgroup not created")
	}
	if err != nil {
		return fmt.Errorf("add pid %d to cgroup %s: %w", pid, cg.rel, err)
	}
	return nil
}

// memory returns the group's memory usage and its peak, in bytes, as
// cgroup_usage / cgroup_peak. Peak is left out where the kernel has none
// (cgroup2 before Linux 5.19).
func (cg *cgroup) memory() (map[string]float64, error) {
	if cg.memDir == "" {
		return nil, errors.New("no memory controller")
	}
	return hostcg.Memory(cg.memDir, cg.v2)
}

// cpuSeconds is the group's CPU time (user + system) in seconds.
func (cg *cgroup) cpuSeconds() (float64, error) {
	if cg.cpuDir == "" {
		return 0, errors.New("no cpu accounting controller")
	}
	return hostcg.CPUSeconds(cg.cpuDir, cg.v2)
}

// oomKills counts the processes the kernel's OOM killer killed in the group.
func (cg *cgroup) oomKills() (uint64, error) {
	if cg.memDir == "" {
		return 0, errors.New("no memory controller")
	}
	return hostcg.OOMKills(cg.memDir, cg.v2)
}

// remove deletes the group (its processes must be gone) and the run and
// vcbench groups above it once they are empty.
func (cg *cgroup) remove() error {
	hostcg.Mu.Lock()
	defer hostcg.Mu.Unlock()
	var err error
	switch {
	case cg.v2m != nil:
		err = cg.v2m.Delete()
	case cg.v1 != nil:
		err = cg.v1.Delete()
	}
	if errors.Is(err, cgroup1.ErrCgroupDeleted) {
		err = nil
	}
	// Whatever the library left (or what an OCI runtime created).
	return errors.Join(err, cg.removeDirs())
}

// removeDirs removes the group's directories and, once no other group of
// the run is left in this process, the empty parents up to and including
// "vcbench". Callers hold hostcg.Mu.
func (cg *cgroup) removeDirs() error {
	return hostcg.RemoveDirs(cg.dirs, filepath.Dir(cg.rel), &cg.counted)
}

// target is where vcbench's own container's init is born (hostcg.Spawn).
func (cg *cgroup) target() hostcg.Target {
	var t hostcg.Target
	for i, h := range cg.hs {
		switch {
		case h.V2 && cg.v2:
			t.V2 = cg.dirs[i]
		case !h.V2:
			t.V1 = append(t.V1, cg.dirs[i])
			t.Home = append(t.Home, h.OwnDir())
		}
	}
	return t
}
