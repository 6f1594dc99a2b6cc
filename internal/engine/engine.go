// Package engine holds what the container-engine backends (docker/,
// podman/) share: reading an engine-made container's cgroup from its init's
// pid, the cgroup parent vcbench gives an engine, the host's limits the
// engines must not try to raise, free loopback ports, and the removal of
// mounts and processes that an engine left under a directory. The engines
// themselves differ (an API, a CLI) and live in their own packages.
package engine

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3"
	promfs "github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
	"vcbench/image"
	"vcbench/internal/hostcg"
	"vcbench/metrics"
	"vcbench/state"
)

// AgentPort is the port the agent listens on inside a bridged container;
// the engine publishes it on a free 127.0.0.1 port.
const AgentPort = 8080

// Labels set on every container vcbench makes, so that `vcbench cleanup`
// finds a killed run's containers and nothing else.
const (
	LabelRun      = "vcbench.run"
	LabelInstance = "vcbench.instance"
)

// SafeName makes a string usable in container, file and cgroup names.
func SafeName(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			return c
		}
		return '_'
	}, s)
}

// ContainerName is the engine-side name of an instance.
func ContainerName(runID, instance string) string {
	return "vcbench-" + SafeName(runID) + "-" + SafeName(instance)
}

// AgentArgs is the container's command line in the image imported from
// the tree rootfs: the agent listening on listen, under vcbench-init where
// the tree has it (image.ContainerArgv).
func AgentArgs(rootfs, listen string) []string {
	return image.ContainerArgv(rootfs, append([]string{image.AgentPathInImage}, proto.ServeArgs(listen, "/scratch")...))
}

// FreePort returns a loopback TCP port that nothing listens on now, for an
// agent sharing the host's network namespace.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CPURange is the cpuset of the first n CPUs ("0", "0-3"), or "" when n
// covers every CPU vcbench may use: the same pinning as the other runtimes.
func CPURange(n int) string {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil || n <= 0 || n >= set.Count() {
		return ""
	}
	if n == 1 {
		return "0"
	}
	return fmt.Sprintf("0-%d", n-1)
}

// Hybrid reports whether the host mounts cgroup v1 controllers beside an
// empty cgroup2 (crun refuses such hosts).
func Hybrid() bool { return cgroups.Mode() == cgroups.Hybrid }

// Rlimit is a resource limit as the engines' --ulimit flags take it.
type Rlimit struct {
	Name       string // nofile, nproc
	Soft, Hard uint64
}

// HostRlimits are this process's open-file and process limits, the latter
// bounded by kernel.pid_max. Podman otherwise asks the OCI runtime for
// 1048576 files and up to 4194304 processes, which a root without
// CAP_SYS_RESOURCE (as in some sandboxes) cannot raise to; inheriting them is
// also what the other runtimes do.
func HostRlimits() []Rlimit {
	var out []Rlimit
	pidMax := uint64(0)
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		pidMax, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	for _, l := range []struct {
		name string
		res  int
	}{{"nofile", unix.RLIMIT_NOFILE}, {"nproc", unix.RLIMIT_NPROC}} {
		var r unix.Rlimit
		if unix.Getrlimit(l.res, &r) != nil {
			continue
		}
		if l.name == "nproc" && pidMax > 0 {
			r.Cur, r.Max = min(r.Cur, pidMax), min(r.Max, pidMax)
		}
		out = append(out, Rlimit{Name: l.name, Soft: r.Cur, Hard: r.Max})
	}
	return out
}

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	mount, root string
	v2          bool
	controllers map[string]bool
}

func hierarchies() ([]hierarchy, error) {
	ms, err := promfs.GetMounts()
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	var out []hierarchy
	for _, m := range ms {
		switch m.FSType {
		case "cgroup":
			h := hierarchy{mount: m.MountPoint, root: m.Root, controllers: map[string]bool{}}
			for k := range m.SuperOptions {
				h.controllers[k] = true
			}
			out = append(out, h)
		case "cgroup2":
			out = append(out, hierarchy{mount: m.MountPoint, root: m.Root, v2: true})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	return out, nil
}

// dir is the directory of group path (as /proc/PID/cgroup writes it) in h.
func (h hierarchy) dir(path string) string {
	rel := path
	if h.root != "/" && strings.HasPrefix(path, h.root) {
		rel = strings.TrimPrefix(path, h.root)
	}
	return filepath.Join(h.mount, rel)
}

// ParentPath is the cgroup parent vcbench gives an engine's containers:
// <own>/vcbench/<parts...>, where <own> is vcbench's own group in the
// memory hierarchy (in the unified one on cgroup v2). The engines create
// the same path in every hierarchy.
func ParentPath(parts ...string) (string, error) {
	cgs, err := cgroupsOf(os.Getpid())
	if err != nil {
		return "", fmt.Errorf("read own cgroup: %w", err)
	}
	unified := cgroups.Mode() == cgroups.Unified
	own := "/"
	for _, c := range cgs {
		if unified && c.HierarchyID == 0 {
			own = c.Path
		}
		for _, ctl := range c.Controllers {
			if !unified && ctl == "memory" {
				own = c.Path
			}
		}
	}
	p := filepath.Join(own, "vcbench")
	for _, part := range parts {
		p = filepath.Join(p, SafeName(part))
	}
	return p, nil
}

// ParentDirs are the directories of a cgroup parent path in every mounted
// hierarchy: what an engine creates there, for the state record.
func ParentDirs(path string) ([]string, error) {
	hs, err := hierarchies()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range hs {
		out = append(out, filepath.Join(h.mount, path))
	}
	return out, nil
}

func cgroupsOf(pid int) ([]promfs.Cgroup, error) {
	p, err := promfs.NewProc(pid)
	if err != nil {
		return nil, err
	}
	return p.Cgroups()
}

// Cgroup is an engine-made container's group, found from its init's pid.
type Cgroup struct {
	v2             bool
	memDir, cpuDir string
}

// CgroupOf finds the memory and CPU accounting directories of pid's group.
// On a hybrid host the v1 controllers count, as for the other runtimes.
func CgroupOf(pid int) (*Cgroup, error) {
	hs, err := hierarchies()
	if err != nil {
		return nil, err
	}
	cgs, err := cgroupsOf(pid)
	if err != nil {
		return nil, fmt.Errorf("cgroup of pid %d: %w", pid, err)
	}
	unified := cgroups.Mode() == cgroups.Unified
	cg := &Cgroup{v2: unified}
	for _, c := range cgs {
		for _, h := range hs {
			switch {
			case unified && h.v2 && c.HierarchyID == 0:
				cg.memDir, cg.cpuDir = h.dir(c.Path), h.dir(c.Path)
			case !unified && !h.v2 && len(c.Controllers) > 0 && h.controllers[c.Controllers[0]]:
				for _, ctl := range c.Controllers {
					if ctl == "memory" {
						cg.memDir = h.dir(c.Path)
					}
					if ctl == "cpuacct" {
						cg.cpuDir = h.dir(c.Path)
					}
				}
			}
		}
	}
	if cg.memDir == "" || cg.cpuDir == "" {
		return nil, fmt.Errorf("pid %d: no memory or cpu accounting group found", pid)
	}
	return cg, nil
}

// Memory returns cgroup_usage and, where the kernel has it, cgroup_peak,
// read as for vcbench's own containers (hostcg.Memory).
func (cg *Cgroup) Memory() (map[string]float64, error) { return hostcg.Memory(cg.memDir, cg.v2) }

// CPUSeconds is the group's CPU time (hostcg.CPUSeconds).
func (cg *Cgroup) CPUSeconds() (float64, error) { return hostcg.CPUSeconds(cg.cpuDir, cg.v2) }

// OOMKills counts the group's processes killed by the OOM killer, 0 where
// that cannot be read.
func (cg *Cgroup) OOMKills() uint64 {
	n, _ := hostcg.OOMKills(cg.memDir, cg.v2)
	return n
}

// Parent is pid's parent process (the engine's shim or conmon for a
// container's init).
func Parent(pid int) (state.Proc, error) {
	p, err := promfs.NewProc(pid)
	if err != nil {
		return state.Proc{}, fmt.Errorf("parent of pid %d: %w", pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return state.Proc{}, fmt.Errorf("parent of pid %d: %w", pid, err)
	}
	return state.ProcOf(st.PPID)
}

// PSS is the proportional set size of a live process in bytes.
func PSS(p state.Proc) (float64, error) {
	if !p.Alive() {
		return 0, fmt.Errorf("process %d is gone", p.Pid)
	}
	m, err := metrics.ProcMemory(p.Pid)
	if err != nil {
		return 0, err
	}
	return m["host_pss"], nil
}

// ExitReason words how a container's init ended.
func ExitReason(oomKilled bool, memoryMiB int, status string) string {
	if oomKilled {
		if memoryMiB > 0 {
			return fmt.Sprintf("killed by the kernel's OOM killer (memory limit %d MiB)", memoryMiB)
		}
		return "killed by the kernel's OOM killer"
	}
	return status
}

// UnmountUnder detaches every mount at or below dir, deepest first: what
// an engine killed without its own teardown leaves (overlays, netns
// binds, shm).
func UnmountUnder(dir string) error {
	ms, err := promfs.GetMounts()
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	dir = filepath.Clean(dir)
	var under []string
	for _, m := range ms {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, dir+"/") {
			under = append(under, m.MountPoint)
		}
	}
	sort.Slice(under, func(i, j int) bool { return len(under[i]) > len(under[j]) })
	var errs []error
	for _, m := range under {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// KillCgroupTree SIGKILLs every process in the groups at and below each of
// dirs and waits up to 5 s for them to go.
func KillCgroupTree(dirs []string) {
	kill := func() int {
		n := 0
		for _, d := range dirs {
			filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
				if err != nil || !e.IsDir() {
					return nil
				}
				b, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						syscall.Kill(pid, syscall.SIGKILL)
						n++
					}
				}
				return nil
			})
		}
		return n
	}
	for end := time.Now().Add(5 * time.Second); kill() > 0 && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
}

// KillMentioning SIGKILLs the processes whose command line contains s (an
// engine's private directory: its containerd and shims) and waits for them.
func KillMentioning(s string) {
	if s == "" {
		return
	}
	procs, err := promfs.AllProcs()
	if err != nil {
		return
	}
	self := os.Getpid()
	var victims []state.Proc
	for _, p := range procs {
		if p.PID == self {
			continue
		}
		argv, err := p.CmdLine()
		if err != nil || !strings.Contains(strings.Join(argv, " "), s) {
			continue
		}
		if pr, err := state.ProcOf(p.PID); err == nil {
			victims = append(victims, pr)
		}
	}
	for _, v := range victims {
		state.Kill(v, 0)
	}
}
