package container

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/image"
	"vcbench/scenarios"
	"vcbench/state"
)

// kindCase is one container kind under test and the binary it needs.
type kindCase struct {
	kind scenarios.RuntimeKind
	bin  string // a binary the kind needs
}

var kinds = []kindCase{
	{scenarios.Container, ""},
	{scenarios.OCICrun, "crun"},
	{scenarios.OCIRunc, "runc"},
}

// eachKind runs fn as a subtest per container kind, skipping kinds whose
// binary is missing and checking first that nothing of vcbench is left.
func eachKind(t *testing.T, fn func(t *testing.T, k kindCase)) {
	needEnv(t)
	for _, k := range kinds {
		t.Run(string(k.kind), func(t *testing.T) {
			if k.bin != "" {
				needBinary(t, k.bin)
			}
			checkClean(t)
			fn(t, k)
		})
	}
}

// TestIsolation starts each kind and checks what the agent sees.
func TestIsolation(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		cfg := scenarios.RuntimeConfig{Kind: k.kind, VCPUs: 1, MemoryMiB: 256, Hostname: "vcb-" + string(k.kind)}
		rt := newRuntime(t, cfg)
		in := start(t, rt, testSpec(t, "iso-0"))
		if err := waitHealthy(in.Addr(), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		info := getInfo(t, in.Addr())
		host, _ := os.Hostname()
		if info.Hostname != cfg.Hostname || info.Hostname == host {
			t.Errorf("hostname %q, want %q (host is %q)", info.Hostname, cfg.Hostname, host)
		}
		// The agent as PID 1 forks its serving child.
		if info.VisiblePIDs > 3 || info.VisiblePIDs < 1 {
			t.Errorf("visible_pids %d, want ≤ 3", info.VisiblePIDs)
		}
		if !info.RootReadOnly {
			t.Errorf("rootfs not read-only")
		}
		if strings.Trim(info.CapEff, "0") != "" {
			t.Errorf("cap_eff %s, want none", info.CapEff)
		}
		// Nothing the agent runs can gain a capability back: the bounding
		// and ambient sets are empty too (read, not assumed, by the agent).
		if info.CapBnd == "" || strings.Trim(info.CapBnd, "0") != "" {
			t.Errorf("cap_bnd %q, want an empty bounding set", info.CapBnd)
		}
		if info.CapAmb == "" || strings.Trim(info.CapAmb, "0") != "" {
			t.Errorf("cap_amb %q, want an empty ambient set", info.CapAmb)
		}
		if !info.NoNewPrivs {
			t.Errorf("no_new_privs not set")
		}
		var names []string
		for _, i := range info.Interfaces {
			names = append(names, i.Name)
		}
		sort.Strings(names)
		if strings.Join(names, ",") != "eth0,lo" {
			t.Errorf("interfaces %v, want lo and eth0", names)
		}
		hostAddr, _, _ := strings.Cut(in.Addr(), ":")
		for _, i := range info.Interfaces {
			if i.Name == "eth0" && (len(i.Addrs) == 0 || !strings.HasPrefix(i.Addrs[0], hostAddr+"/30")) {
				t.Errorf("eth0 addresses %v, want %s/30", i.Addrs, hostAddr)
			}
		}
		if info.Cgroup.MemoryLimit != "268435456" {
			t.Errorf("memory limit seen inside %q, want 268435456", info.Cgroup.MemoryLimit)
		}
		mem, err := in.HostMemory()
		if err != nil || mem["cgroup_usage"] <= 0 || mem["cgroup_peak"] < mem["cgroup_usage"] {
			t.Errorf("host memory %v, %v", mem, err)
		}
		if ct, ok := in.(bench.CPUTimer); !ok {
			t.Errorf("no CPU timer")
		} else if s, err := ct.HostCPUSeconds(); err != nil || s <= 0 {
			t.Errorf("cpu seconds %v, %v", s, err)
		}
		ph := in.(bench.Phaser).Phases()
		t.Logf("phases: %v", ph)
		for i := 1; i < len(ph); i++ {
			if ph[i].Since < ph[i-1].Since || ph[i].Since <= 0 {
				t.Errorf("phases out of order: %v", ph)
			}
		}
		if d, ok := rt.(bench.Describer); ok {
			t.Logf("describe: %v", d.Describe())
		}
		if ex, ok := in.(bench.Exiter); !ok {
			t.Errorf("no Exited method")
		} else if done, why := ex.Exited(); done {
			t.Errorf("exited early: %s", why)
		}
		// The disk workload writes in /scratch.
		code, body, err := postRun(in.Addr(), `{"kind":"disk","size_mib":4,"ops":64}`, 30*time.Second)
		if err != nil || code != 200 {
			t.Errorf("disk workload: %d %s %v", code, body, err)
		}
		if err := in.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := in.Stop(context.Background()); err != nil {
			t.Errorf("second stop: %v", err)
		}
	})
}

// TestOOM fills a 64 MiB container with a 200 MiB workload: the kernel
// kills the agent and the instance says so.
func TestOOM(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		rt := newRuntime(t, scenarios.RuntimeConfig{Kind: k.kind, MemoryMiB: 64})
		in := start(t, rt, testSpec(t, "oom-0"))
		if err := waitHealthy(in.Addr(), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		code, body, err := postRun(in.Addr(), `{"kind":"memory","size_mib":200,"iterations":1}`, 60*time.Second)
		if err == nil && code == 200 {
			t.Fatalf("a 200 MiB workload finished in a 64 MiB container: %s", body)
		}
		ex := in.(bench.Exiter)
		end := time.Now().Add(10 * time.Second)
		for time.Now().Before(end) {
			if done, _ := ex.Exited(); done {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		done, why := ex.Exited()
		if !done || !strings.Contains(why, "OOM killer (memory limit 64 MiB)") {
			t.Errorf("Exited() = %v, %q; want the OOM killer", done, why)
		}
		t.Logf("Exited: %q", why)
	})
}

// TestStartFailure checks that a failing start reports the child's error
// readably and leaves nothing behind.
func TestStartFailure(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		env := testEnv
		env.ImageDir = filepath.Join(t.TempDir(), "missing")
		var rt bench.Runtime
		var err error
		cfg := scenarios.RuntimeConfig{Kind: k.kind}
		switch k.kind {
		case scenarios.Container:
			rt, err = New(cfg, env)
		case scenarios.OCICrun:
			rt, err = NewCrun(cfg, env)
		default:
			rt, err = NewRunc(cfg, env)
		}
		if err != nil {
			t.Fatal(err)
		}
		in, err := rt.Start(context.Background(), testSpec(t, "fail-0"))
		if err == nil {
			in.Stop(context.Background())
			t.Fatal("start on a missing rootfs succeeded")
		}
		t.Logf("error: %v", err)
		if k.kind == scenarios.Container && !strings.Contains(err.Error(), "bind rootfs") {
			t.Errorf("error %q does not say what failed", err)
		}
	})
}

// TestTeardownRecord kills nothing gracefully: it tears an instance down
// from its state record alone, as `vcbench cleanup` does after a SIGKILL.
func TestTeardownRecord(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		rt := newRuntime(t, scenarios.RuntimeConfig{Kind: k.kind, MemoryMiB: 128})
		spec := testSpec(t, "rec-0")
		in, err := rt.Start(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := waitHealthy(in.Addr(), 10*time.Second); err != nil {
			t.Error(err)
		}
		recs, err := state.Load(testEnv.StateDir)
		if err != nil || len(recs) != 1 {
			t.Fatalf("records %v, %v", recs, err)
		}
		if err := recs[0].Teardown(2 * time.Second); err != nil {
			t.Errorf("teardown: %v", err)
		}
		// Let the instance notice; its Stop must then have nothing left to do.
		time.Sleep(100 * time.Millisecond)
		if err := in.Stop(context.Background()); err != nil {
			t.Errorf("stop after teardown: %v", err)
		}
		// The run's runtime and netns directories went with the record.
		for _, d := range []string{"oci", "netns"} {
			if _, err := os.Stat(filepath.Join(testEnv.StateDir, d)); err == nil {
				t.Errorf("%s left in the state dir", d)
			}
		}
	})
}

// TestStopConcurrent stops each kind from several goroutines at once, as
// the runner's time-out and its normal path may: one teardown runs, every
// Stop returns its result, and nothing is left.
func TestStopConcurrent(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		rt := newRuntime(t, scenarios.RuntimeConfig{Kind: k.kind, MemoryMiB: 128})
		in, err := rt.Start(context.Background(), testSpec(t, "stop-0"))
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error)
		for range 4 {
			go func() { errc <- in.Stop(context.Background()) }()
		}
		for range 4 {
			if err := <-errc; err != nil {
				t.Errorf("concurrent stop: %v", err)
			}
		}
		if err := in.Stop(context.Background()); err != nil {
			t.Errorf("stop after stop: %v", err)
		}
	})
}

// TestStartupSideBySide starts each kind 20 times in turn and prints the
// median launch → /healthz answered. Targets: container no slower than
// oci-crun and faster than oci-runc.
func TestStartupSideBySide(t *testing.T) {
	needEnv(t)
	checkClean(t)
	n := 20
	if testing.Short() {
		n = 3
	}
	times := map[scenarios.RuntimeKind][]time.Duration{}
	rts := map[scenarios.RuntimeKind]bench.Runtime{}
	phases := map[scenarios.RuntimeKind][]time.Duration{}
	for _, k := range kinds {
		if k.bin != "" && !haveBinary(t, k.bin) {
			continue
		}
		rts[k.kind] = newRuntime(t, scenarios.RuntimeConfig{Kind: k.kind, VCPUs: 1, MemoryMiB: 256})
	}
	var bare []time.Duration
	runtimeReady := map[scenarios.RuntimeKind][]time.Duration{}
	for i := 0; i < n+1; i++ { // the first round warms caches and is dropped
		// The floor, at the same moment: unshare + pivot_root + exec of the
		// agent, until it prints that it listens.
		if d, err := bareUnshare(t); err != nil {
			t.Logf("bare unshare: %v", err)
		} else if i > 0 {
			bare = append(bare, d)
		}
		for _, k := range kinds {
			rt, ok := rts[k.kind]
			if !ok {
				continue
			}
			spec := testSpec(t, "s-"+string(k.kind))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			t0 := time.Now()
			in, err := rt.Start(ctx, spec)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			err = waitHealthy(in.Addr(), 10*time.Second)
			d := time.Since(t0)
			if serr := in.Stop(context.Background()); serr != nil {
				t.Fatal(serr)
			}
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				times[k.kind] = append(times[k.kind], d)
				for _, p := range in.(bench.Phaser).Phases() {
					if p.Name == bench.PhaseRuntimeExec {
						runtimeReady[k.kind] = append(runtimeReady[k.kind], d-p.Since)
					}
					phases[k.kind+":"+scenarios.RuntimeKind(p.Name)] = append(phases[k.kind+":"+scenarios.RuntimeKind(p.Name)], p.Since)
				}
			}
		}
	}
	med := map[scenarios.RuntimeKind]time.Duration{}
	for _, k := range kinds {
		ts := times[k.kind]
		if len(ts) == 0 {
			continue
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		med[k.kind] = ts[len(ts)/2]
		t.Logf("%-10s median %6.1f ms  min %6.1f ms  max %6.1f ms  (n=%d, init=%s)", k.kind,
			ms(ts[len(ts)/2]), ms(ts[0]), ms(ts[len(ts)-1]), len(ts), initKind())
	}
	if len(bare) > 0 {
		sort.Slice(bare, func(i, j int) bool { return bare[i] < bare[j] })
		t.Logf("%-10s median %6.1f ms  min %6.1f ms  max %6.1f ms  (n=%d: unshare --pid --net --mount --uts --ipc --fork, pivot_root, exec of vcbench-init supervising the agent → its ready line)",
			"bare", ms(bare[len(bare)/2]), ms(bare[0]), ms(bare[len(bare)-1]), len(bare))
	}
	for _, k := range kinds {
		rr := runtimeReady[k.kind]
		if len(rr) > 0 {
			sort.Slice(rr, func(i, j int) bool { return rr[i] < rr[j] })
			t.Logf("%-10s runtime_ready median %6.1f ms  min %6.1f ms", k.kind, ms(rr[len(rr)/2]), ms(rr[0]))
		}
	}
	var names []string
	for name := range phases {
		names = append(names, string(name))
	}
	sort.Strings(names)
	for _, name := range names {
		ts := phases[scenarios.RuntimeKind(name)]
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		t.Logf("  phase %-28s median %6.1f ms", name, ms(ts[len(ts)/2]))
	}
	if c, ok := med[scenarios.Container]; ok {
		if r, ok := med[scenarios.OCICrun]; ok && c > r {
			t.Logf("note: container median %.1f ms slower than oci-crun %.1f ms", ms(c), ms(r))
		}
		if r, ok := med[scenarios.OCIRunc]; ok && c >= r {
			t.Logf("note: container median %.1f ms not faster than oci-runc %.1f ms", ms(c), ms(r))
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// bareUnshare times the least a namespace container can cost here: util-
// linux unshare with the namespaces of vcbench's container, a private
// bind of the rootfs, /proc, pivot_root and the exec of the image's
// process as every container runtime starts it (image.ContainerArgv:
// vcbench-init as PID 1, the agent its child), until the agent prints its
// ready line. No cgroup, no veth, no device nodes, no capability drop.
func bareUnshare(t *testing.T) (time.Duration, error) {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		return 0, err
	}
	root := image.Paths{Dir: testEnv.ImageDir}.Rootfs()
	script := `set -e; r=$1; shift; mount --make-rprivate /; mount --bind "$r" "$r"; cd "$r"; mount -t proc proc proc; pivot_root . .; exec /bin/busybox sh -c 'umount -l /; exec "$@"' sh "$@"`
	args := append([]string{"--pid", "--net", "--mount", "--uts", "--ipc", "--fork", "--kill-child", "sh", "-c", script, "sh", root}, image.ContainerArgv(root, agentArgv())...)
	cmd := exec.Command("unshare", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Kill() // --kill-child: PID 1 of its namespace, and with it the agent, follows
		cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, ok := proto.ParseReady(sc.Text()); ok {
			return time.Since(t0), nil
		}
	}
	return 0, fmt.Errorf("the agent never printed its ready line: %v", sc.Err())
}

func initKind() string {
	if testEnv.InitPath != "" {
		return "vcbench-init"
	}
	if selfIsTest {
		return "test binary"
	}
	if selfNote != "" {
		return selfNote
	}
	return "vcbench binary"
}

// TestSubnetAllocation checks that concurrent instances get distinct
// addresses in the configured range.
func TestSubnetAllocation(t *testing.T) {
	needEnv(t)
	checkClean(t)
	rt, err := NewWithOptions(scenarios.RuntimeConfig{Kind: scenarios.Container, MemoryMiB: 128}, testEnv, Options{Subnet: "10.214.8.0/28"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		in := start(t, rt, testSpec(t, "net-"+string(rune('a'+i))))
		addr, _, _ := strings.Cut(in.Addr(), ":")
		a := netip.MustParseAddr(addr)
		if !netip.MustParsePrefix("10.214.8.0/28").Contains(a) || seen[addr] {
			t.Errorf("address %s: outside the range or taken twice", addr)
		}
		seen[addr] = true
		if err := waitHealthy(in.Addr(), 10*time.Second); err != nil {
			t.Error(err)
		}
	}
}

// TestUserNS runs each kind with a user namespace: root inside is an
// unprivileged uid outside.
func TestUserNS(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		rt := newRuntime(t, scenarios.RuntimeConfig{Kind: k.kind, MemoryMiB: 128, UserNS: true})
		in := start(t, rt, testSpec(t, "userns-0"))
		if err := waitHealthy(in.Addr(), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		info := getInfo(t, in.Addr())
		if info.UID != 0 || !info.RootReadOnly || strings.Trim(info.CapEff, "0") != "" || info.VisiblePIDs > 3 {
			t.Errorf("info %+v", info)
		}
		code, body, err := postRun(in.Addr(), `{"kind":"disk","size_mib":4,"ops":64}`, 30*time.Second)
		if err != nil || code != 200 {
			t.Errorf("disk workload: %d %s %v", code, body, err)
		}
	})
}

// TestConcurrent starts instances of every kind at once, as the density
// sweep does, and checks each answers at its own address.
func TestConcurrent(t *testing.T) {
	needEnv(t)
	checkClean(t)
	type started struct {
		in  bench.Instance
		err error
	}
	var rts []bench.Runtime
	for _, k := range kinds {
		if k.bin != "" && !haveBinary(t, k.bin) {
			continue
		}
		rts = append(rts, newRuntime(t, scenarios.RuntimeConfig{Kind: k.kind, MemoryMiB: 128}))
	}
	const perKind = 4
	ch := make(chan started)
	for i, rt := range rts {
		for j := 0; j < perKind; j++ {
			spec := testSpec(t, fmt.Sprintf("par-%d-%d", i, j))
			go func() {
				in, err := rt.Start(context.Background(), spec)
				ch <- started{in, err}
			}()
		}
	}
	addrs := map[string]bool{}
	var ins []bench.Instance
	for i := 0; i < len(rts)*perKind; i++ {
		s := <-ch
		if s.err != nil {
			t.Error(s.err)
			continue
		}
		ins = append(ins, s.in)
		if addrs[s.in.Addr()] {
			t.Errorf("address %s given twice", s.in.Addr())
		}
		addrs[s.in.Addr()] = true
	}
	for _, in := range ins {
		if err := waitHealthy(in.Addr(), 10*time.Second); err != nil {
			t.Error(err)
		}
	}
	errc := make(chan error)
	for _, in := range ins {
		go func() { errc <- in.Stop(context.Background()) }()
	}
	for range ins {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
