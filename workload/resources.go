package workload

import (
	"fmt"
	"math"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// Resources is what the agent can really use, as opposed to what the
// machine reports: the host's last-level cache and MemTotal are visible in a
// container, but its cgroup limit is what the kernel enforces. Workloads size
// their defaults from this value (PlanStream, PlanDisk) so that the sizing
// is a pure function that tests can drive with any instance shape.
type Resources struct {
	// LLCBytes is the largest cache sysfs shows for CPU 0; 0 when unknown.
	// On some cloud machines it is the whole host's (480 MiB), shared.
	LLCBytes uint64 `json:"llc_bytes"`
	// MemTotal and MemAvailable are /proc/meminfo's; inside a container
	// they are the host's.
	MemTotal     uint64 `json:"mem_total_bytes"`
	MemAvailable uint64 `json:"mem_available_bytes"`
	// CgroupLimit is the smallest memory limit of the agent's cgroup and
	// the ancestors it can see (v2 memory.max, v1 memory.limit_in_bytes and
	// hierarchical_memory_limit); 0 means none.
	CgroupLimit uint64 `json:"cgroup_limit_bytes,omitempty"`
	// CgroupUsage is the usage, less inactive file cache (reclaimable), of
	// the group whose limit leaves the least room.
	CgroupUsage uint64 `json:"cgroup_usage_bytes,omitempty"`
	// CPUs is the size of the affinity mask (the cpuset the agent may run on).
	CPUs int `json:"cpus"`
	// CPUQuota is the cgroup's CPU bandwidth limit in CPUs (cpu.max or
	// cfs_quota_us/cfs_period_us); 0 means none.
	CPUQuota float64 `json:"cpu_quota,omitempty"`
}

// MemoryHeadroom is the share of usable memory that a workload's default
// sizes may take: the rest is for the agent, the guest kernel and the page
// cache, so that a default never gets an instance OOM-killed.
const MemoryHeadroom = 0.5

// FitReserveBytes is what FitsIn keeps back from an instance's memory for
// the agent and, in a VM, the guest kernel, when it checks explicit sizes.
const FitReserveBytes = 64 << 20

// Usable is the memory the agent can allocate now: MemAvailable (MemTotal
// when that is unknown), bounded by the room left under the cgroup limit.
// Zero means unknown.
func (r Resources) Usable() uint64 {
	u := r.MemAvailable
	if u == 0 {
		u = r.MemTotal
	}
	if r.CgroupLimit > 0 {
		room := uint64(0)
		if r.CgroupLimit > r.CgroupUsage {
			room = r.CgroupLimit - r.CgroupUsage
		}
		if u == 0 || room < u {
			u = room
		}
	}
	return u
}

// Budget is the memory a workload's default sizes may take in total:
// MemoryHeadroom of Usable; zero means unknown.
func (r Resources) Budget() uint64 { return uint64(float64(r.Usable()) * MemoryHeadroom) }

// notes are the resources as Result notes, so that a run says what it sized from.
func (r Resources) notes(n map[string]string) {
	n["mem_available_bytes"] = fmt.Sprint(r.MemAvailable)
	n["mem_usable_bytes"] = fmt.Sprint(r.Usable())
	if r.CgroupLimit > 0 {
		n["cgroup_limit_bytes"] = fmt.Sprint(r.CgroupLimit)
		n["cgroup_usage_bytes"] = fmt.Sprint(r.CgroupUsage)
	}
}

// ReadResources reads the agent's resources from /proc and /sys. What
// cannot be read stays zero (unknown), never an error: a VM's PID 1 may have
// no cgroup file system mounted, and then its MemAvailable is the answer.
func ReadResources() Resources {
	r := Resources{CPUs: UsableCPUs()}
	if llc, ok := LastLevelCache(); ok {
		r.LLCBytes = uint64(llc)
	}
	if fs, err := procfs.NewDefaultFS(); err == nil {
		if mi, err := fs.Meminfo(); err == nil {
			if mi.MemTotalBytes != nil {
				r.MemTotal = *mi.MemTotalBytes
			}
			if mi.MemAvailableBytes != nil {
				r.MemAvailable = *mi.MemAvailableBytes
			}
		}
	}
	self, err := procfs.Self()
	if err != nil {
		return r
	}
	groups, err := self.Cgroups()
	if err != nil {
		return r
	}
	mounts, err := procfs.GetMounts()
	if err != nil {
		return r
	}
	c := cgroupFiles{groups: groups, mounts: mounts, read: readTrimmed}
	r.CgroupLimit, r.CgroupUsage = c.memory()
	r.CPUQuota = c.cpuQuota()
	return r
}

func readTrimmed(p string) (string, error) {
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

// unlimited is where cgroup v1 limit values mean "no limit" (the kernel
// shows PAGE_COUNTER_MAX rounded to pages, 9223372036854771712).
const unlimited = 1 << 62

// cgroupFiles finds the agent's cgroup files: /proc/self/cgroup gives the
// group's path in each hierarchy, /proc/self/mountinfo where (and which
// part of) each hierarchy is mounted. A container with a cgroup namespace
// sees "/" mounted at /sys/fs/cgroup; one with its group bind-mounted sees
// the full path and a mount whose root is that path; the host sees both.
type cgroupFiles struct {
	groups []procfs.Cgroup
	mounts []*procfs.MountInfo
	read   func(path string) (string, error)
}

// dirs returns the directories of the agent's group and of each ancestor
// that the mount shows, innermost first, for the v1 hierarchy holding
// controller, or for the v2 hierarchy when controller is "".
func (c cgroupFiles) dirs(controller string) []string {
	var cgPath string
	found := false
	for _, g := range c.groups {
		if controller == "" && g.HierarchyID == 0 && len(g.Controllers) == 0 {
			cgPath, found = g.Path, true
		}
		for _, ctl := range g.Controllers {
			if controller != "" && ctl == controller {
				cgPath, found = g.Path, true
			}
		}
	}
	if !found {
		return nil
	}
	for _, m := range c.mounts {
		switch {
		case controller == "" && m.FSType == "cgroup2":
		case controller != "" && m.FSType == "cgroup" && hasOption(m.SuperOptions, controller):
		default:
			continue
		}
		rel, ok := within(cgPath, m.Root)
		if !ok {
			continue // the mount shows another part of the hierarchy
		}
		var out []string
		for rel = path.Clean(rel); ; rel = path.Dir(rel) {
			out = append(out, path.Join(m.MountPoint, rel))
			if rel == "/" {
				break
			}
		}
		return out
	}
	return nil
}

// within returns p relative to root ("/" for root itself) when p is root
// or below it.
func within(p, root string) (string, bool) {
	switch {
	case root == "/":
		return p, true
	case p == root:
		return "/", true
	case strings.HasPrefix(p, root+"/"):
		return p[len(root):], true
	}
	return "", false
}

func hasOption(opts map[string]string, name string) bool {
	_, ok := opts[name]
	return ok
}

// memory returns the tightest limit of the visible groups and the usage
// of that group (less its inactive file cache); 0, 0 without a limit.
func (c cgroupFiles) memory() (limit, usage uint64) {
	room := uint64(math.MaxUint64)
	consider := func(l, u uint64) {
		if l == 0 || l >= unlimited {
			return
		}
		r := uint64(0)
		if l > u {
			r = l - u
		}
		if r < room {
			room, limit, usage = r, l, u
		}
	}
	if dirs := c.dirs(""); len(dirs) > 0 {
		for _, d := range dirs {
			l, err := c.read(path.Join(d, "memory.max"))
			if err != nil || l == "max" {
				continue
			}
			consider(parseUint(l), c.usage(d, "memory.current", "inactive_file"))
		}
	}
	if dirs := c.dirs("memory"); len(dirs) > 0 {
		own := c.usage(dirs[0], "memory.usage_in_bytes", "total_inactive_file")
		for _, d := range dirs {
			if l, err := c.read(path.Join(d, "memory.limit_in_bytes")); err == nil {
				consider(parseUint(l), c.usage(d, "memory.usage_in_bytes", "total_inactive_file"))
			}
		}
		// Ancestors above the mount still bind: v1 sums them up here.
		if l, ok := c.stat(dirs[0], "hierarchical_memory_limit"); ok {
			consider(l, own)
		}
	}
	return limit, usage
}

// usage reads a group's usage file less the named memory.stat field.
func (c cgroupFiles) usage(dir, file, inactive string) uint64 {
	s, err := c.read(path.Join(dir, file))
	if err != nil {
		return 0
	}
	u := parseUint(s)
	if in, ok := c.stat(dir, inactive); ok && in < u {
		u -= in
	}
	return u
}

func (c cgroupFiles) stat(dir, key string) (uint64, bool) {
	s, err := c.read(path.Join(dir, "memory.stat"))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return parseUint(v), true
		}
	}
	return 0, false
}

// cpuQuota returns the tightest CPU bandwidth limit of the visible groups, in CPUs.
func (c cgroupFiles) cpuQuota() float64 {
	best := 0.0
	take := func(q, p float64) {
		if q > 0 && p > 0 && (best == 0 || q/p < best) {
			best = q / p
		}
	}
	for _, d := range c.dirs("") {
		if s, err := c.read(path.Join(d, "cpu.max")); err == nil {
			if q, p, ok := strings.Cut(s, " "); ok && q != "max" {
				take(parseFloat(q), parseFloat(p))
			}
		}
	}
	for _, d := range c.dirs("cpu") {
		q, err1 := c.read(path.Join(d, "cpu.cfs_quota_us"))
		p, err2 := c.read(path.Join(d, "cpu.cfs_period_us"))
		if err1 == nil && err2 == nil {
			take(parseFloat(q), parseFloat(p))
		}
	}
	return best
}

func parseUint(s string) uint64 {
	v, _ := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	return v
}

func parseFloat(s string) float64 {
	v, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return v
}

// scratchFS is what PlanDisk needs to know of the scratch directory.
type scratchFS struct {
	InMemory  bool   // tmpfs or ramfs: the file is charged as memory
	FreeBytes uint64 // space left to an unprivileged writer; 0 unknown
}

func statScratch(dir string) scratchFS {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return scratchFS{}
	}
	return scratchFS{
		InMemory:  st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC,
		FreeBytes: st.Bavail * uint64(st.Bsize),
	}
}
