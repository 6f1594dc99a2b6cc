package container

import (
	"errors"
	"net/netip"
	"reflect"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/scenarios"
)

func TestSlotAt(t *testing.T) {
	for _, tc := range []struct {
		base      string
		index     int
		host      string
		peer      string
		link      string
		wantError bool
	}{
		{base: "10.213.0.0/16", index: 0, host: "10.213.0.1", peer: "10.213.0.2", link: "vcbe0"},
		{base: "10.213.0.0/16", index: 1, host: "10.213.0.5", peer: "10.213.0.6", link: "vcbe1"},
		{base: "10.213.0.0/16", index: 64, host: "10.213.1.1", peer: "10.213.1.2", link: "vcbe64"},
		{base: "10.213.0.0/16", index: 16383, host: "10.213.255.253", peer: "10.213.255.254", link: "vcbe16383"},
		{base: "10.213.0.0/16", index: 16384, wantError: true},
		{base: "10.213.0.0/16", index: -1, wantError: true},
		{base: "10.213.7.9/16", index: 0, host: "10.213.0.1", peer: "10.213.0.2", link: "vcbe0"}, // host bits masked
		{base: "192.168.50.0/30", index: 0, host: "192.168.50.1", peer: "192.168.50.2", link: "vcbe0"},
		{base: "192.168.50.0/30", index: 1, wantError: true},
		{base: "192.168.50.0/31", index: 0, wantError: true},
		{base: "10.0.0.0/7", index: 0, wantError: true},
		{base: "fd00::/64", index: 0, wantError: true},
	} {
		s, err := slotAt(netip.MustParsePrefix(tc.base), tc.index)
		if tc.wantError {
			if err == nil {
				t.Errorf("slotAt(%s, %d) = %v, want an error", tc.base, tc.index, s)
			}
			continue
		}
		if err != nil {
			t.Errorf("slotAt(%s, %d): %v", tc.base, tc.index, err)
			continue
		}
		if s.Host.String() != tc.host || s.Peer.String() != tc.peer || s.Link != tc.link || s.Index != tc.index {
			t.Errorf("slotAt(%s, %d) = %+v, want host %s peer %s link %s", tc.base, tc.index, s, tc.host, tc.peer, tc.link)
		}
		if len(s.Link) > 15 {
			t.Errorf("link name %q longer than IFNAMSIZ-1", s.Link)
		}
		if p := s.Prefix(); !p.Contains(s.Host) || !p.Contains(s.Peer) || p.Bits() != 30 {
			t.Errorf("prefix %s does not hold both sides", p)
		}
	}
}

func TestAllocator(t *testing.T) {
	base := netip.MustParsePrefix("10.9.0.0/28") // four slots
	for _, tc := range []struct {
		name    string
		busy    map[int]bool // slots held by another process (claim says busy)
		skip    map[int]bool // slots overlapping host networks
		n       int          // allocations
		want    []int
		wantErr bool
	}{
		{name: "lowest first", n: 3, want: []int{0, 1, 2}},
		{name: "skips slots held elsewhere", busy: map[int]bool{0: true, 2: true}, n: 2, want: []int{1, 3}},
		{name: "skips host networks", skip: map[int]bool{1: true}, n: 3, want: []int{0, 2, 3}},
		{name: "exhausted", busy: map[int]bool{1: true}, n: 4, want: []int{0, 2, 3}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &allocator{base: base, inUse: map[int]bool{}}
			var got []int
			var err error
			for i := 0; i < tc.n; i++ {
				var s slot
				s, err = a.alloc(func(s slot) error {
					if tc.busy[s.Index] {
						return errSlotBusy
					}
					return nil
				}, func(s slot) bool { return tc.skip[s.Index] })
				if err != nil {
					break
				}
				got = append(got, s.Index)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got slots %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAllocatorReleaseAndErrors(t *testing.T) {
	a := &allocator{base: netip.MustParsePrefix("10.9.0.0/29"), inUse: map[int]bool{}}
	ok := func(slot) error { return nil }
	s0, _ := a.alloc(ok, nil)
	s1, _ := a.alloc(ok, nil)
	a.release(s0.Index)
	s2, err := a.alloc(ok, nil)
	if err != nil || s2.Index != 0 || s1.Index != 1 {
		t.Errorf("after release got %d (%v), want slot 0 again", s2.Index, err)
	}
	// A claim that fails for another reason stops the search and frees the slot.
	boom := errors.New("boom")
	a.release(s2.Index)
	if _, err := a.alloc(func(slot) error { return boom }, nil); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
	if a.inUse[0] {
		t.Errorf("slot of a failed claim still in use")
	}
}

func TestAllocatorConcurrent(t *testing.T) {
	a := &allocator{base: netip.MustParsePrefix("10.213.0.0/16"), inUse: map[int]bool{}}
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := a.alloc(func(slot) error { return nil }, nil)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[s.Index] {
				t.Errorf("slot %d handed out twice", s.Index)
			}
			seen[s.Index] = true
		}()
	}
	wg.Wait()
	if len(seen) != 64 {
		t.Errorf("%d distinct slots, want 64", len(seen))
	}
}

func TestAllocatorFor(t *testing.T) {
	for _, bad := range []string{"nonsense", "10.0.0.0/31", "fd00::/64"} {
		if _, err := allocatorFor(bad); err == nil {
			t.Errorf("allocatorFor(%q) accepted", bad)
		}
	}
	a, err := allocatorFor("10.77.0.0/24")
	b, err2 := allocatorFor("10.77.0.5/24")
	if err != nil || err2 != nil || a != b {
		t.Errorf("one range, two allocators (%v, %v)", err, err2)
	}
}

func TestOCISpec(t *testing.T) {
	base := ociParams{Rootfs: "/img/rootfs", Hostname: "h", NetNS: "/run/vcbench/netns/r--c-0",
		Scratch: "/res/scratch/x", CgroupsPath: "vcbench/r/c-0"}
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	for _, tc := range []struct {
		name  string
		edit  func(*ociParams)
		check func(*testing.T, *specs.Spec)
	}{
		{"read-only root, no privileges", nil, func(t *testing.T, s *specs.Spec) {
			if !s.Root.Readonly || s.Root.Path != "/img/rootfs" {
				t.Errorf("root %+v", s.Root)
			}
			c := s.Process.Capabilities
			if c == nil || len(c.Bounding)+len(c.Effective)+len(c.Permitted)+len(c.Inheritable)+len(c.Ambient) != 0 {
				t.Errorf("capabilities %+v, want none", c)
			}
			if !s.Process.NoNewPrivileges || s.Process.Terminal {
				t.Errorf("process %+v", s.Process)
			}
			want := append([]string{"/bin/vcbench-agent"}, proto.ServeArgs("0.0.0.0:8080", "/scratch")...)
			if !reflect.DeepEqual(s.Process.Args, want) {
				t.Errorf("args %v, want %v", s.Process.Args, want)
			}
			if s.Linux.Resources.Memory != nil || s.Linux.Resources.CPU != nil {
				t.Errorf("limits without settings: %+v", s.Linux.Resources)
			}
		}},
		{"writable root", func(p *ociParams) { p.Writable = true }, func(t *testing.T, s *specs.Spec) {
			if s.Root.Readonly {
				t.Errorf("root read-only")
			}
		}},
		{"namespaces, the network one prepared", nil, func(t *testing.T, s *specs.Spec) {
			got := map[specs.LinuxNamespaceType]string{}
			for _, n := range s.Linux.Namespaces {
				got[n.Type] = n.Path
			}
			want := map[specs.LinuxNamespaceType]string{specs.PIDNamespace: "", specs.IPCNamespace: "", specs.UTSNamespace: "",
				specs.MountNamespace: "", specs.NetworkNamespace: "/run/vcbench/netns/r--c-0", specs.CgroupNamespace: ""}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("namespaces %v, want %v", got, want)
			}
			if s.Hostname != "h" || s.Linux.CgroupsPath != "vcbench/r/c-0" {
				t.Errorf("hostname %q cgroupsPath %q", s.Hostname, s.Linux.CgroupsPath)
			}
		}},
		{"mounts", nil, func(t *testing.T, s *specs.Spec) {
			m := map[string]specs.Mount{}
			for _, x := range s.Mounts {
				m[x.Destination] = x
			}
			if m["/tmp"].Type != "tmpfs" || m["/proc"].Type != "proc" || m["/sys"].Type != "sysfs" || m["/dev"].Type != "tmpfs" {
				t.Errorf("mounts %+v", s.Mounts)
			}
			if sc := m["/scratch"]; sc.Type != "bind" || sc.Source != "/res/scratch/x" {
				t.Errorf("scratch mount %+v", sc)
			}
			if len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 {
				t.Errorf("no masked or read-only paths")
			}
		}},
		{"limits", func(p *ociParams) { p.VCPUs, p.MemoryMiB = 2, 64 }, func(t *testing.T, s *specs.Spec) {
			r := s.Linux.Resources
			if !reflect.DeepEqual(r.Memory, &specs.LinuxMemory{Limit: i64(64 << 20)}) {
				t.Errorf("memory %+v", r.Memory)
			}
			if !reflect.DeepEqual(r.CPU, &specs.LinuxCPU{Quota: i64(200000), Period: u64(100000)}) {
				t.Errorf("cpu %+v", r.CPU)
			}
		}},
		{"memory and swap", func(p *ociParams) { p.MemoryMiB, p.Memsw = 128, true }, func(t *testing.T, s *specs.Spec) {
			m := s.Linux.Resources.Memory
			if m == nil || m.Swap == nil || *m.Swap != 128<<20 || *m.Limit != 128<<20 {
				t.Errorf("memory %+v", m)
			}
		}},
		{"no seccomp by default", nil, func(t *testing.T, s *specs.Spec) {
			if s.Linux.Seccomp != nil {
				t.Errorf("seccomp %+v without hardening", s.Linux.Seccomp)
			}
		}},
		{"docker hardening", func(p *ociParams) {
			h, err := hardeningFor(scenarios.HardeningDocker)
			if err != nil {
				t.Fatal(err)
			}
			p.Harden = h
		}, func(t *testing.T, s *specs.Spec) {
			c := s.Process.Capabilities
			if len(c.Bounding) != 14 || !reflect.DeepEqual(c.Bounding, c.Effective) || !reflect.DeepEqual(c.Bounding, c.Permitted) ||
				len(c.Inheritable)+len(c.Ambient) != 0 {
				t.Errorf("capabilities %+v, want Docker's 14", c)
			}
			if sc := s.Linux.Seccomp; sc == nil || sc.DefaultAction != specs.ActErrno || len(sc.Syscalls) < 10 {
				t.Errorf("seccomp %+v, want Docker's default", sc)
			}
			if !s.Process.NoNewPrivileges {
				t.Errorf("no_new_privs off")
			}
		}},
		{"user namespace", func(p *ociParams) { p.UserNS = true }, func(t *testing.T, s *specs.Spec) {
			found := false
			for _, n := range s.Linux.Namespaces {
				found = found || n.Type == specs.UserNamespace
			}
			if !found || len(s.Linux.UIDMappings) != 1 || s.Linux.UIDMappings[0].HostID != userNSBase {
				t.Errorf("user namespace %v / %v", s.Linux.Namespaces, s.Linux.UIDMappings)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			if tc.edit != nil {
				tc.edit(&p)
			}
			tc.check(t, ociSpec(p))
		})
	}
}

func TestOCICgroupPlan(t *testing.T) {
	v1 := func(mount, own string, c ...string) hierarchy {
		return hierarchy{Mount: mount, OwnRel: own, Controllers: c}
	}
	hybrid := []hierarchy{
		v1("/sys/fs/cgroup/cpu", "/", "cpu"),
		v1("/sys/fs/cgroup/memory", "/process_api/x", "memory"),
		{Mount: "/sys/fs/cgroup/unified", OwnRel: "/", V2: true},
	}
	sameV1 := []hierarchy{v1("/sys/fs/cgroup/cpu", "/a", "cpu"), v1("/sys/fs/cgroup/memory", "/a", "memory")}
	unified := []hierarchy{{Mount: "/sys/fs/cgroup", OwnRel: "/user.slice/u", V2: true}}
	for _, tc := range []struct {
		name     string
		bin      string
		hs       []hierarchy
		hybrid   bool
		wantWrap *wrapConfig
		wantPath string
	}{
		{"runc per-controller own groups", "runc", hybrid, true, nil, "vcbench/r/i"},
		{"runc one own group", "runc", sameV1, false, nil, "/a/vcbench/r/i"},
		{"crun on a hybrid host", "crun", hybrid, true, &wrapConfig{
			Umount: []string{"/sys/fs/cgroup/unified"},
			Binds:  [][2]string{{"/sys/fs/cgroup/memory/process_api/x", "/sys/fs/cgroup/memory"}},
		}, "/vcbench/r/i"},
		{"crun one own group", "crun", sameV1, false, nil, "/a/vcbench/r/i"},
		{"runsc per-controller own groups", "runsc", hybrid, true, nil, "vcbench/r/i"},
		{"runsc one own group", "runsc", sameV1, false, nil, "/a/vcbench/r/i"},
		{"crun unified", "crun", unified, false, nil, "/user.slice/u/vcbench/r/i"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, p := ociCgroupPlan(tc.bin, tc.hs, "vcbench/r/i", tc.hybrid)
			if !reflect.DeepEqual(w, tc.wantWrap) || p != tc.wantPath {
				t.Errorf("got %+v %q, want %+v %q", w, p, tc.wantWrap, tc.wantPath)
			}
		})
	}
}

func TestExitReason(t *testing.T) {
	for _, tc := range []struct {
		oom    uint64
		mib    int
		status string
		want   string
	}{
		{1, 64, "exited with status 137", "killed by the kernel's OOM killer (memory limit 64 MiB)"},
		{2, 0, "exited", "killed by the kernel's OOM killer"},
		{0, 64, "exited with status 1", "exited with status 1"},
	} {
		if got := exitReason(tc.oom, tc.mib, tc.status); got != tc.want {
			t.Errorf("exitReason(%d, %d, %q) = %q, want %q", tc.oom, tc.mib, tc.status, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if _, err := New(rc("container", 0, 0, ""), testEnvOrZero()); err != nil {
		t.Errorf("plain config refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		cfg  func() (err error)
	}{
		{"wrong kind", func() error { _, err := New(rc("vm", 0, 0, ""), testEnvOrZero()); return err }},
		{"negative vcpus", func() error { _, err := New(rc("container", -1, 0, ""), testEnvOrZero()); return err }},
		{"negative memory", func() error { _, err := NewCrun(rc("oci-crun", 0, -5, ""), testEnvOrZero()); return err }},
		{"tap network", func() error { _, err := NewRunc(rc("oci-runc", 0, 0, "tap"), testEnvOrZero()); return err }},
	} {
		if tc.cfg() == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func rc(kind string, vcpus, mib int, network string) scenarios.RuntimeConfig {
	return scenarios.RuntimeConfig{Kind: scenarios.RuntimeKind(kind), VCPUs: vcpus, MemoryMiB: mib, Network: scenarios.Network(network)}
}

func testEnvOrZero() bench.Env { return testEnv }
