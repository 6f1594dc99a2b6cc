package container

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroupMu serialises creating and removing groups under <own>/vcbench, so
// that one instance's removal of an empty run group never races another's
// creation beneath it.
var cgroupMu sync.Mutex

// runGroups counts this process's live instance groups per run group
// (vcbench/<run-id>): the run group and "vcbench" above it are removed
// only when the last goes, so that an OCI runtime creating a group (outside
// cgroupMu) never finds its parent removed under it. Guarded by cgroupMu.
var runGroups = map[string]int{}

// hierarchy is one mounted cgroup hierarchy and vcbench's own group in it.
type hierarchy struct {
	Mount       string   // mount point, e.g. /sys/fs/cgroup/memory
	Controllers []string // from the super options: memory, cpu, name=systemd; none for cgroup2
	V2          bool
	OwnRel      string // own group relative to the mount point ("/" or "/process_api/...")
}

// OwnDir is vcbench's own group's directory in the hierarchy.
func (h hierarchy) OwnDir() string { return filepath.Join(h.Mount, h.OwnRel) }

// has reports whether the hierarchy carries controller c.
func (h hierarchy) has(c string) bool {
	for _, x := range h.Controllers {
		if x == c {
			return true
		}
	}
	return false
}

// hierarchies lists the cgroup hierarchies mounted in this mount namespace
// with vcbench's own group in each, from /proc/self/mountinfo and
// /proc/self/cgroup.
func hierarchies() ([]hierarchy, error) {
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	var out []hierarchy
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || (qf[0] != "cgroup" && qf[0] != "cgroup2") {
			continue
		}
		root, mnt := unescapeMount(pf[3]), unescapeMount(pf[4])
		h := hierarchy{Mount: mnt, V2: qf[0] == "cgroup2"}
		key := ""
		if !h.V2 {
			opts := map[string]bool{}
			for _, o := range strings.Split(qf[2], ",") {
				opts[o] = true
			}
			for k := range own {
				if k == "" {
					continue
				}
				all := true
				for _, c := range strings.Split(k, ",") {
					all = all && opts[c]
				}
				if all {
					key = k
					break
				}
			}
			if key == "" {
				continue
			}
			h.Controllers = strings.Split(key, ",")
		}
		if seen[key] {
			continue
		}
		p, ok := own[key]
		if !ok {
			continue
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // our group is outside what this mount shows
		}
		seen[key] = true
		h.OwnRel = filepath.Join("/", rel)
		out = append(out, h)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroups parses /proc/self/cgroup into sorted controller list → path
// ("" for the cgroup2 entry).
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls := strings.Split(parts[1], ",")
		sort.Strings(ctrls)
		out[strings.Join(ctrls, ",")] = parts[2]
	}
	return out, nil
}

// cgroupMode is what the host offers: cgroup v1 (legacy or hybrid) or v2.
func cgroupMode() (v2 bool, hybrid bool) {
	switch cgroups.Mode() {
	case cgroups.Unified:
		return true, false
	case cgroups.Hybrid:
		return false, true
	}
	return false, false
}

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
	// counted: the group is in runGroups until removeDirs succeeds.
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
			cgroupMu.Lock()
			runGroups[filepath.Dir(cg.rel)]++
			cg.counted = true
			cgroupMu.Unlock()
		}
	}()
	for _, h := range hs {
		if v2 != h.V2 && !(all && h.V2) {
			continue
		}
		if !v2 && !all && !h.V2 {
			use := false
			for _, c := range usedV1 {
				use = use || h.has(c)
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
		case h.has("memory"):
			cg.memDir = dir
		case h.has("cpuacct"):
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
		if h.has("memory") {
			_, err := os.Stat(filepath.Join(h.OwnDir(), "memory.memsw.limit_in_bytes"))
			return err == nil
		}
	}
	return false
}

// create makes the group with its limits through containerd/cgroups.
func (cg *cgroup) create(vcpus, memoryMiB int) error {
	cgroupMu.Lock()
	defer cgroupMu.Unlock()
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

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

func readKey(path, key string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// memory returns the group's memory usage and its peak, in bytes, as
// cgroup_usage / cgroup_peak. Peak is left out where the kernel has none
// (cgroup2 before Linux 5.19).
func (cg *cgroup) memory() (map[string]float64, error) {
	if cg.memDir == "" {
		return nil, errors.New("no memory controller")
	}
	out := map[string]float64{}
	cur, peak := "memory.usage_in_bytes", "memory.max_usage_in_bytes"
	if cg.v2 {
		cur, peak = "memory.current", "memory.peak"
	}
	u, err := readUint(filepath.Join(cg.memDir, cur))
	if err != nil {
		return nil, fmt.Errorf("read cgroup memory: %w", err)
	}
	out["cgroup_usage"] = float64(u)
	if p, err := readUint(filepath.Join(cg.memDir, peak)); err == nil {
		out["cgroup_peak"] = float64(p)
	}
	return out, nil
}

// cpuSeconds is the group's CPU time (user + system) in seconds.
func (cg *cgroup) cpuSeconds() (float64, error) {
	if cg.cpuDir == "" {
		return 0, errors.New("no cpu accounting controller")
	}
	if cg.v2 {
		us, err := readKey(filepath.Join(cg.cpuDir, "cpu.stat"), "usage_usec")
		if err != nil {
			return 0, fmt.Errorf("read cgroup cpu time: %w", err)
		}
		return float64(us) / 1e6, nil
	}
	ns, err := readUint(filepath.Join(cg.cpuDir, "cpuacct.usage"))
	if err != nil {
		return 0, fmt.Errorf("read cgroup cpu time: %w", err)
	}
	return float64(ns) / 1e9, nil
}

// oomKills counts the processes the kernel's OOM killer killed in the group.
func (cg *cgroup) oomKills() (uint64, error) {
	if cg.memDir == "" {
		return 0, errors.New("no memory controller")
	}
	if cg.v2 {
		return readKey(filepath.Join(cg.memDir, "memory.events"), "oom_kill")
	}
	return readKey(filepath.Join(cg.memDir, "memory.oom_control"), "oom_kill")
}

// remove deletes the group (its processes must be gone) and the run and
// vcbench groups above it once they are empty.
func (cg *cgroup) remove() error {
	cgroupMu.Lock()
	defer cgroupMu.Unlock()
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
// "vcbench". Callers hold cgroupMu.
func (cg *cgroup) removeDirs() error {
	var errs []error
	for _, d := range cg.dirs {
		if err := removeCgroupLeaf(d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	run := filepath.Dir(cg.rel)
	if cg.counted {
		cg.counted = false
		runGroups[run]--
	}
	if runGroups[run] > 0 {
		return nil
	}
	delete(runGroups, run)
	for _, d := range cg.dirs {
		for p := filepath.Dir(d); ; p = filepath.Dir(p) {
			if err := unix.Rmdir(p); err != nil {
				break // not empty (another vcbench run), or gone
			}
			if filepath.Base(p) == "vcbench" {
				break
			}
		}
	}
	return nil
}

func removeCgroupLeaf(dir string) error {
	var err error
	for i := 0; i < 100; i++ {
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		// A group whose last task just died stays busy for a moment.
		sleepMs(10)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}
