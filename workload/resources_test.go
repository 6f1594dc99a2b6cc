package workload

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

const mib = 1 << 20

func TestPlanStream(t *testing.T) {
	// Instances as the agent sees them: a container shows the host's
	// MemAvailable (24 GiB) and its cgroup limit; usage is the agent's own.
	host := uint64(24 << 30)
	small := Resources{MemAvailable: host, CgroupLimit: 256 * mib, CgroupUsage: 16 * mib, CPUs: 1}
	medium := Resources{MemAvailable: host, CgroupLimit: 1024 * mib, CgroupUsage: 16 * mib, CPUs: 1}
	unlimited := Resources{MemAvailable: host, CPUs: 2}
	vm256 := Resources{MemTotal: 220 * mib, MemAvailable: 180 * mib, CPUs: 1} // PID 1 in a 256 MiB VM, no cgroup
	with := func(r Resources, llc uint64) Resources { r.LLCBytes = llc; return r }
	cases := []struct {
		name    string
		r       Resources
		sizeMiB int
		array   uint64 // bytes per array
		warn    string // substring of a warning; "" = no warning
		err     string
	}{
		{"32MiB-LLC/256MiB", with(small, 32*mib), 0, 40 * mib, "smaller than 4x the last-level cache", ""},
		{"32MiB-LLC/1024MiB", with(medium, 32*mib), 0, 128 * mib, "", ""},
		{"32MiB-LLC/unlimited", with(unlimited, 32*mib), 0, 128 * mib, "", ""},
		{"480MiB-LLC/256MiB", with(small, 480*mib), 0, 40 * mib, "arrays sized 40 MiB each", ""},
		{"480MiB-LLC/1024MiB", with(medium, 480*mib), 0, 168 * mib, "arrays sized 168 MiB each", ""},
		{"480MiB-LLC/unlimited", with(unlimited, 480*mib), 0, 1920 * mib, "", ""},
		{"480MiB-LLC/vm-256MiB", with(vm256, 480*mib), 0, 30 * mib, "MemAvailable 180 MiB", ""},
		{"unknown-LLC/unlimited", unlimited, 0, 128 * mib, "", ""},
		{"explicit-small", with(unlimited, 32*mib), 8, 8 * mib, "smaller than 4x", ""},
		{"explicit-over-budget", with(small, 32*mib), 64, 64 * mib, "take more than 50%", ""},
		{"explicit-too-big", with(small, 32*mib), 100, 100 * mib, "3 arrays × 100 MiB = 300 MiB do not fit in the 240 MiB", ""},
		{"memory-unknown", Resources{LLCBytes: 32 * mib}, 0, 128 * mib, "usable memory unknown", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, err := PlanStream(c.r, c.sizeMiB)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.ArrayBytes != c.array {
				t.Errorf("array = %d MiB, want %d MiB", plan.ArrayBytes/mib, c.array/mib)
			}
			if c.sizeMiB == 0 {
				if b := c.r.Budget(); b > 0 && 3*plan.ArrayBytes > b {
					t.Errorf("3 × %d MiB over the budget of %d MiB", plan.ArrayBytes/mib, b/mib)
				}
			}
			joined := strings.Join(plan.Warnings, "\n")
			if c.warn == "" && joined != "" {
				t.Errorf("unexpected warnings: %s", joined)
			}
			if c.warn != "" && !strings.Contains(joined, c.warn) {
				t.Errorf("warnings %q lack %q", joined, c.warn)
			}
		})
	}
}

func TestFitsIn(t *testing.T) {
	cases := []struct {
		p    Params
		mem  uint64
		want string // "" = fits
	}{
		{Params{Kind: Memory, SizeMiB: 512}, 1024 * mib, "3 arrays × 512 MiB = 1536 MiB do not fit in 1024 MiB of memory less 64 MiB for the agent and kernel (at most 320 MiB per array)"},
		{Params{Kind: Memory, SizeMiB: 64}, 256 * mib, ""},
		{Params{Kind: Memory, SizeMiB: 65}, 256 * mib, "at most 64 MiB per array"},
		{Params{Kind: Memory}, 128 * mib, ""},
		{Params{Kind: Memory, SizeMiB: 4096}, 0, ""},
		{Params{Kind: Memory, SizeMiB: 1}, 32 * mib, "at most 0 MiB"},
		{Params{Kind: Network, SizeMiB: 4096}, 256 * mib, ""},
	}
	for _, c := range cases {
		err := c.p.FitsIn(c.mem)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v in %d MiB: %v, want %q", c.p, c.mem/mib, err, c.want)
		}
	}
}

func TestPlanDisk(t *testing.T) {
	r := Resources{MemAvailable: 180 * mib}
	size, warn, err := planDisk(r, 0, scratchFS{InMemory: true})
	if err != nil || size != 64*mib || len(warn) != 1 {
		t.Errorf("tmpfs default in 180 MiB: %d MiB %q %v", size/mib, warn, err)
	}
	r.MemAvailable = 100 * mib
	if size, _, _ := planDisk(r, 0, scratchFS{InMemory: true}); size != 50*mib {
		t.Errorf("tmpfs default in 100 MiB: %d MiB, want 50", size/mib)
	}
	if _, _, err := planDisk(r, 200, scratchFS{InMemory: true}); err == nil {
		t.Error("200 MiB on tmpfs in 100 MiB accepted")
	}
	if size, warn, err := planDisk(r, 0, scratchFS{FreeBytes: 1 << 40}); size != 64*mib || warn != nil || err != nil {
		t.Errorf("disk default: %d MiB %q %v", size/mib, warn, err)
	}
	if size, _, _ := planDisk(r, 0, scratchFS{FreeBytes: 20 * mib}); size != 10*mib {
		t.Errorf("disk default with 20 MiB free: %d MiB", size/mib)
	}
}

// fakeCgroupFS serves cgroup files from a map, as a fixture tree would.
func fakeCgroupFS(files map[string]string) func(string) (string, error) {
	return func(p string) (string, error) {
		if v, ok := files[p]; ok {
			return v, nil
		}
		return "", fs.ErrNotExist
	}
}

func mount(fstype, root, point string, opts ...string) *procfs.MountInfo {
	so := map[string]string{}
	for _, o := range opts {
		so[o] = ""
	}
	return &procfs.MountInfo{FSType: fstype, Root: root, MountPoint: point, SuperOptions: so}
}

func TestCgroupMemory(t *testing.T) {
	const unlim = "9223372036854771712"
	cases := []struct {
		name         string
		groups       []procfs.Cgroup
		mounts       []*procfs.MountInfo
		files        map[string]string
		limit, usage uint64
		quota        float64
	}{
		{
			name:   "v2 host process in a nested group, parent limit binds",
			groups: []procfs.Cgroup{{HierarchyID: 0, Path: "/vcbench/run/inst"}},
			mounts: []*procfs.MountInfo{mount("cgroup2", "/", "/sys/fs/cgroup")},
			files: map[string]string{
				"/sys/fs/cgroup/vcbench/run/inst/memory.max":     "max",
				"/sys/fs/cgroup/vcbench/run/inst/memory.current": "10485760",
				"/sys/fs/cgroup/vcbench/run/memory.max":          "268435456",
				"/sys/fs/cgroup/vcbench/run/memory.current":      "104857600",
				"/sys/fs/cgroup/vcbench/run/memory.stat":         "anon 1\ninactive_file 4194304\n",
				"/sys/fs/cgroup/vcbench/run/inst/cpu.max":        "50000 100000",
			},
			limit: 256 * mib, usage: 96 * mib, quota: 0.5,
		},
		{
			name:   "v2 container with a cgroup namespace",
			groups: []procfs.Cgroup{{HierarchyID: 0, Path: "/"}},
			mounts: []*procfs.MountInfo{mount("cgroup2", "/", "/sys/fs/cgroup")},
			files: map[string]string{
				"/sys/fs/cgroup/memory.max":     "1073741824",
				"/sys/fs/cgroup/memory.current": "8388608",
			},
			limit: 1024 * mib, usage: 8 * mib,
		},
		{
			name: "v1 container with its group bind-mounted (hybrid host)",
			groups: []procfs.Cgroup{
				{HierarchyID: 4, Controllers: []string{"memory"}, Path: "/own/vcbench/r1/c1"},
				{HierarchyID: 1, Controllers: []string{"cpu", "cpuacct"}, Path: "/own/vcbench/r1/c1"},
				{HierarchyID: 0, Path: "/"},
			},
			mounts: []*procfs.MountInfo{
				mount("cgroup", "/own/vcbench/r1/c1", "/sys/fs/cgroup/memory", "rw", "memory"),
				mount("cgroup", "/other", "/sys/fs/cgroup/cpu", "rw", "cpu", "cpuacct"),
				mount("cgroup2", "/", "/sys/fs/cgroup/unified"),
			},
			files: map[string]string{
				"/sys/fs/cgroup/memory/memory.limit_in_bytes": "268435456",
				"/sys/fs/cgroup/memory/memory.usage_in_bytes": "20971520",
				"/sys/fs/cgroup/memory/memory.stat":           "total_inactive_file 4194304\nhierarchical_memory_limit 268435456\n",
				"/sys/fs/cgroup/cpu/cpu.cfs_quota_us":         "100000",
				"/sys/fs/cgroup/cpu/cpu.cfs_period_us":        "100000",
			},
			limit: 256 * mib, usage: 16 * mib,
		},
		{
			name:   "v1 host process: only an ancestor above the mount is limited",
			groups: []procfs.Cgroup{{HierarchyID: 4, Controllers: []string{"memory"}, Path: "/a/b"}},
			mounts: []*procfs.MountInfo{mount("cgroup", "/", "/sys/fs/cgroup/memory", "memory")},
			files: map[string]string{
				"/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes": unlim,
				"/sys/fs/cgroup/memory/a/b/memory.usage_in_bytes": "1048576",
				"/sys/fs/cgroup/memory/a/b/memory.stat":           "hierarchical_memory_limit 536870912\n",
				"/sys/fs/cgroup/memory/a/memory.limit_in_bytes":   unlim,
				"/sys/fs/cgroup/memory/memory.limit_in_bytes":     unlim,
			},
			limit: 512 * mib, usage: 1 * mib,
		},
		{
			name:   "unlimited v1 (the development machine)",
			groups: []procfs.Cgroup{{HierarchyID: 4, Controllers: []string{"memory"}, Path: "/process_api/x"}},
			mounts: []*procfs.MountInfo{mount("cgroup", "/", "/sys/fs/cgroup/memory", "rw", "memory")},
			files: map[string]string{
				"/sys/fs/cgroup/memory/process_api/x/memory.limit_in_bytes": unlim,
				"/sys/fs/cgroup/memory/process_api/x/memory.usage_in_bytes": "3141632",
				"/sys/fs/cgroup/memory/process_api/x/memory.stat":           "hierarchical_memory_limit " + unlim + "\n",
			},
		},
		{
			name:   "VM PID 1: no cgroup file system mounted",
			groups: []procfs.Cgroup{{HierarchyID: 0, Path: "/"}},
		},
		{
			name:   "a mount of another part of the hierarchy is not ours",
			groups: []procfs.Cgroup{{HierarchyID: 0, Path: "/abc2"}},
			mounts: []*procfs.MountInfo{mount("cgroup2", "/abc", "/sys/fs/cgroup")},
			files:  map[string]string{"/sys/fs/cgroup/memory.max": "1048576"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cg := cgroupFiles{groups: c.groups, mounts: c.mounts, read: fakeCgroupFS(c.files)}
			limit, usage := cg.memory()
			if limit != c.limit || usage != c.usage {
				t.Errorf("limit, usage = %d, %d MiB; want %d, %d MiB", limit/mib, usage/mib, c.limit/mib, c.usage/mib)
			}
			if q := cg.cpuQuota(); q != c.quota {
				t.Errorf("quota = %v, want %v", q, c.quota)
			}
		})
	}
}

func TestReadResourcesHere(t *testing.T) {
	r := ReadResources()
	if r.CPUs < 1 || r.MemTotal == 0 || r.MemAvailable == 0 || r.Usable() == 0 {
		t.Errorf("resources here: %+v", r)
	}
	if r.Usable() > r.MemAvailable {
		t.Errorf("usable %d above MemAvailable %d", r.Usable(), r.MemAvailable)
	}
	t.Logf("%+v usable %d MiB budget %d MiB", r, r.Usable()/mib, r.Budget()/mib)
}

func TestMemoryWorkloadSizesFromResources(t *testing.T) {
	// A 256 MiB instance on a host whose sysfs shows a 480 MiB LLC: the
	// default must fit, and say that it is below STREAM's rule.
	r := Resources{LLCBytes: 480 * mib, MemAvailable: 24 << 30, CgroupLimit: 10 * mib, CgroupUsage: 4 * mib, CPUs: 1}
	res, err := Run(t.Context(), Params{Kind: Memory, Iterations: 1}, Env{Resources: &r})
	if err != nil {
		t.Fatal(err)
	}
	if res.Notes["array_bytes"] != "1048576" || len(res.Warnings) == 0 || res.Notes["warning"] == "" {
		t.Errorf("notes %v warnings %q", res.Notes, res.Warnings)
	}
	// An explicit size that cannot fit runs as asked (this one does: the
	// limit is fake) and says so.
	res, err = Run(t.Context(), Params{Kind: Memory, SizeMiB: 8, Iterations: 1}, Env{Resources: &r})
	if err != nil || !strings.Contains(strings.Join(res.Warnings, "; "), "do not fit") {
		t.Errorf("8 MiB arrays with 6 MiB left: err %v, warnings %q; want the OOM warning", err, res.Warnings)
	}
}
