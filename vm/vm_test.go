package vm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/testenv"
	"vcbench/scenarios"
	"vcbench/state"
)

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}

// waitHealthz polls /healthz every 2 ms like the runner does.
func waitHealthz(ctx context.Context, addr string) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+proto.PathHealthz, nil)
		c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("healthz at %s: %w (last: %v)", addr, ctx.Err(), err)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// assertClean checks that nothing of inst is left: process, files, tap, record.
func assertClean(t *testing.T, inst *Instance, env bench.Env) {
	t.Helper()
	rec := inst.own.Record()
	if inst.cmd != nil {
		if len(rec.Procs) == 0 {
			t.Error("qemu was never recorded")
		}
		for _, p := range rec.Procs {
			if p.Alive() {
				t.Errorf("qemu pid %d still running after Stop", p.Pid)
			}
		}
	}
	for _, p := range rec.Paths {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s still exists after Stop", p)
		}
	}
	for _, l := range rec.Links {
		if _, err := netlink.LinkByName(l); err == nil {
			t.Errorf("tap %s still exists after Stop", l)
		}
	}
	recs, _ := state.Load(env.StateDir)
	if len(recs) != 0 {
		t.Errorf("%d state records left after Stop", len(recs))
	}
}

// TestBoot boots a TCG microvm with user-mode networking and checks the
// agent, a workload, QMP's memory figure, the phases and the clean-up.
func TestBoot(t *testing.T) {
	needGuest(t)
	for _, tc := range []struct {
		name string
		cfg  scenarios.RuntimeConfig
	}{
		{"microvm-user", scenarios.RuntimeConfig{Kind: scenarios.VM, Accel: "tcg", MemoryMiB: 256, Network: "user"}},
		// The default kernel (auto: the small one where it is built) on
		// microvm; the cloud kernel, with its modules and ACPI, on q35.
		{"q35-tap", scenarios.RuntimeConfig{Kind: scenarios.VM, Accel: "tcg", MemoryMiB: 192, Machine: "q35", Network: "tap", Kernel: scenarios.KernelCloud}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, spec := testEnv(t, tc.name)
			rt, err := New(tc.cfg, env)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := rt.(bench.Preparer).Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			bi, err := rt.Start(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			inst := bi.(*Instance)
			defer func() {
				if tc.cfg.Network == "tap" {
					// As if vcbench had been SIGKILLed: `vcbench cleanup`
					// tears down from the state records alone.
					recs, err := state.Load(env.StateDir)
					if err != nil || len(recs) != 1 {
						t.Fatalf("state records: %v %v", recs, err)
					}
					if err := recs[0].Teardown(2 * time.Second); err != nil {
						t.Errorf("teardown from the state record: %v", err)
					}
				}
				if err := inst.Stop(ctx); err != nil {
					t.Error(err)
				}
				assertClean(t, inst, env)
			}()
			hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := waitHealthz(hctx, inst.Addr()); err != nil {
				t.Fatal(err)
			}

			assertPrivateDir(t, inst.dir)
			info := testenv.Info(t, inst.Addr())
			host, _ := os.ReadFile("/proc/sys/kernel/osrelease")
			want := "cloud-amd64"
			if strings.Contains(rt.(bench.Describer).Describe()["kernel_why"], "small kernel is built") {
				want = image.SmallKernelFlavorName
			}
			if !strings.Contains(info.KernelRelease, want) || info.KernelRelease == strings.TrimSpace(string(host)) {
				t.Errorf("guest kernel release %q: want the guest's own (%s), not the host's %q", info.KernelRelease, want, strings.TrimSpace(string(host)))
			}

			for _, w := range []string{`{"kind":"cpu","iterations":2000}`, `{"kind":"disk","size_mib":4,"ops":20}`} {
				resp, err := client.Post("http://"+inst.Addr()+proto.PathRun, "application/json", bytes.NewBufferString(w))
				if err != nil {
					t.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("workload %s: %s: %s", w, resp.Status, out)
				}
				if strings.Contains(w, "disk") && !strings.Contains(string(out), "/dev/vda") {
					t.Logf("disk workload answer does not name /dev/vda: %s", out)
				}
			}

			if got, want := inst.GuestMemoryBytes(), uint64(tc.cfg.MemoryMiB)<<20; got != want {
				t.Errorf("QMP guest memory %d, want %d", got, want)
			}
			mem, err := inst.HostMemory()
			if err != nil {
				t.Fatal(err)
			}
			if mem["host_pss"] <= 0 || mem["host_rss"] <= 0 {
				t.Errorf("host memory %v", mem)
			}
			if cpu, err := inst.HostCPUSeconds(); err != nil || cpu <= 0 {
				t.Errorf("host cpu %v, %v", cpu, err)
			}
			names := map[string]time.Duration{}
			for _, p := range inst.Phases() {
				names[p.Name] = p.Since
			}
			for _, n := range []string{"qemu_spawn", "qmp_ready", "kernel_start", "agent_start", "agent_listening"} {
				if _, ok := names[n]; !ok {
					t.Errorf("phase %s missing: %v", n, inst.Phases())
				}
			}
			if !(names["qemu_spawn"] <= names["kernel_start"] && names["kernel_start"] < names["agent_start"]) {
				t.Errorf("phases out of order: %v", inst.Phases())
			}
			d := rt.(bench.Describer).Describe()
			if d["accel"] != "tcg" || d["machine"] != string(tc.cfg.Machine) && tc.cfg.Machine != "" || d["qemu_version"] == "" || d["disk_cache"] == "" {
				t.Errorf("describe: %v", d)
			}
			for _, f := range []string{"console-" + spec.Name + ".log", "qemu-cmdline-" + spec.Name + ".sh"} {
				if st, err := os.Stat(filepath.Join(spec.RawDir, f)); err != nil || st.Size() == 0 {
					t.Errorf("raw file %s: %v", f, err)
				}
			}
			t.Logf("phases %v memory %v describe %v", inst.Phases(), mem, d)
		})
	}
}

// assertPrivateDir checks, while the instance runs, that its private
// directory (the QMP socket's: whoever can connect can drive QEMU) is a
// real directory of mode 0700 owned by the caller, with the socket in it.
func assertPrivateDir(t *testing.T, dir string) {
	t.Helper()
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatalf("private dir: %v", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 || int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid() {
		t.Errorf("private dir %s: mode %s uid %d gid %d, want a directory of mode 0700 owned by %d:%d", dir, fi.Mode(), st.Uid, st.Gid, os.Geteuid(), os.Getegid())
	}
	if sock, err := os.Lstat(filepath.Join(dir, "qmp.sock")); err != nil || sock.Mode()&os.ModeSocket == 0 {
		t.Errorf("QMP socket in %s: %v", dir, err)
	}
}

// TestBootFailure boots a kernel that never comes up (garbage as the
// kernel file: QEMU refuses or the guest never prints) and an agent that
// can never listen, and wants a clear error within the limit, nothing left.
func TestBootFailure(t *testing.T) {
	needGuest(t)
	dir := t.TempDir()
	// A bogus image: a "kernel" QEMU cannot boot; the initramfs is real.
	bogus := filepath.Join(dir, "vmlinuz")
	os.WriteFile(bogus, bytes.Repeat([]byte{0x90}, 1<<16), 0o644)
	data, err := os.ReadFile(filepath.Join(testImageDir, "initramfs.cpio"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "initramfs.cpio"), data, 0o644)
	copyGuestManifest(t, dir)

	env, spec := testEnv(t, "bogus")
	env.ImageDir = dir
	spec.StartTimeout = 8 * time.Second
	rt, err := New(scenarios.RuntimeConfig{Kind: scenarios.VM, Accel: "tcg"}, env)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	inst, err := rt.Start(context.Background(), spec)
	took := time.Since(t0)
	if err == nil {
		inst.Stop(context.Background())
		t.Fatal("bogus kernel booted")
	}
	t.Logf("error after %s: %v", took.Round(time.Millisecond), err)
	if took > spec.StartTimeout+15*time.Second {
		t.Errorf("failure took %s, limit %s", took, spec.StartTimeout)
	}
	if out, _ := exec.Command("pgrep", "-f", "vcbench-"+spec.Name).Output(); len(out) > 0 {
		t.Errorf("qemu left running: %s", out)
	}
	if recs, _ := state.Load(env.StateDir); len(recs) != 0 {
		t.Errorf("state records left: %d", len(recs))
	}
	if left, _ := filepath.Glob(filepath.Join(spec.ScratchDir, "*")); len(left) != 0 {
		t.Errorf("scratch files left: %v", left)
	}
}

// bogusImageDir makes an image dir with the real kernel and the given initramfs.
func bogusImageDir(t *testing.T, initramfs []byte) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"vmlinux", "vmlinuz"} {
		if err := os.Symlink(filepath.Join(testImageDir, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "initramfs.cpio"), initramfs, 0o644); err != nil {
		t.Fatal(err)
	}
	copyGuestManifest(t, dir)
	return dir
}

// copyGuestManifest gives a made-up image dir the real guest's manifest,
// which says which kernel flavour its guest is (image.Paths.GuestFor).
func copyGuestManifest(t *testing.T, dir string) {
	t.Helper()
	const m = "guest.manifest.json"
	b, err := os.ReadFile(filepath.Join(testImageDir, m))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, m), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func assertNothingLeft(t *testing.T, env bench.Env, spec bench.InstanceSpec) {
	t.Helper()
	if out, _ := exec.Command("pgrep", "-f", "vcbench-"+spec.Name+" ").Output(); len(out) > 0 {
		t.Errorf("qemu left running: %s", out)
	}
	if recs, _ := state.Load(env.StateDir); len(recs) != 0 {
		t.Errorf("state records left: %d", len(recs))
	}
	if left, _ := filepath.Glob(filepath.Join(spec.ScratchDir, "*")); len(left) != 0 {
		t.Errorf("scratch files left: %v", left)
	}
}

// TestBootPanic boots the real kernel with an initramfs that has no /init:
// the kernel panics, and Start must say so at once.
func TestBootPanic(t *testing.T) {
	needGuest(t)
	env, spec := testEnv(t, "panic")
	// An empty newc archive: only the trailer.
	env.ImageDir = bogusImageDir(t, []byte("070701"+strings.Repeat("0", 88)+"0000000B00000000TRAILER!!!\x00\x00\x00\x00"))
	spec.StartTimeout = 30 * time.Second
	rt, err := New(scenarios.RuntimeConfig{Kind: scenarios.VM, Accel: "tcg"}, env)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	inst, err := rt.Start(context.Background(), spec)
	if err == nil {
		inst.Stop(context.Background())
		t.Fatal("a guest without init started")
	}
	t.Logf("error after %s: %v", time.Since(t0).Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), "Kernel panic") && !strings.Contains(err.Error(), "qemu exited") {
		t.Errorf("error does not name the panic: %v", err)
	}
	if time.Since(t0) > 15*time.Second {
		t.Errorf("took %s to notice a panic", time.Since(t0))
	}
	assertNothingLeft(t, env, spec)
}

// TestStartCancel cancels the context in the middle of a boot.
func TestStartCancel(t *testing.T) {
	needGuest(t)
	env, spec := testEnv(t, "cancel")
	rt, err := New(scenarios.RuntimeConfig{Kind: scenarios.VM, Accel: "tcg"}, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	inst, err := rt.Start(ctx, spec)
	if err == nil {
		inst.Stop(context.Background())
		t.Skip("the guest booted within 400ms: nothing to cancel")
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("cancelled start took %s", took)
	}
	if !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Errorf("error %v, want the context's", err)
	}
	assertNothingLeft(t, env, spec)
}

// TestKVMHang: where /dev/kvm exists but cannot boot a guest (nested PVM
// hosts), ProbeAccel must say TCG within its time-out, and a runtime that
// insists on kvm must fail with a time-out within its start limit, leaving
// nothing. Where KVM works, the probe must say kvm.
func TestKVMHang(t *testing.T) {
	needGuest(t)
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("no /dev/kvm")
	}
	t0 := time.Now()
	res := ProbeAccel(context.Background(), testImageDir)
	took := time.Since(t0)
	t.Logf("probe after %s: %+v", took.Round(time.Millisecond), res)
	if took > ProbeTimeout+6*time.Second {
		t.Errorf("probe took %s, time-out %s", took, ProbeTimeout)
	}
	if res.Reason == "" || res.QEMUVersion == "" {
		t.Errorf("probe result incomplete: %+v", res)
	}
	if res.Accel == AccelKVM {
		t.Skip("KVM works here: nothing hangs")
	}
	// On the nested (PVM) KVM we know, -cpu host aborts QEMU at once, and
	// QEMU's default CPU model makes the guest hang without a word: use
	// that to check that hangs are caught, by the probe and by Start.
	defer func(cpu string, pt time.Duration) { kvmCPU, ProbeTimeout = cpu, pt }(kvmCPU, ProbeTimeout)
	kvmCPU, ProbeTimeout = "qemu64", 3*time.Second
	t0 = time.Now()
	res = ProbeAccel(context.Background(), testImageDir)
	took = time.Since(t0)
	t.Logf("probe (qemu64) after %s: %+v", took.Round(time.Millisecond), res)
	if res.Accel == AccelKVM {
		t.Skip("a KVM guest with the qemu64 CPU boots here: nothing hangs")
	}
	if took > ProbeTimeout+6*time.Second || !strings.Contains(res.Reason, "within 3s") {
		t.Errorf("probe of a hanging guest: %s after %s", res.Reason, took)
	}
	env, spec := testEnv(t, "kvmhang")
	spec.StartTimeout = 6 * time.Second
	rt, err := New(scenarios.RuntimeConfig{Kind: scenarios.VM, Accel: "kvm"}, env)
	if err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	inst, err := rt.Start(context.Background(), spec)
	took = time.Since(t0)
	if err == nil {
		inst.Stop(context.Background())
		t.Fatal("a KVM guest booted although the probe said it cannot")
	}
	t.Logf("error after %s: %v", took.Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), "within 6s") {
		t.Errorf("error %v, want a time-out", err)
	}
	if took > spec.StartTimeout+12*time.Second {
		t.Errorf("failure took %s, limit %s", took, spec.StartTimeout)
	}
	assertNothingLeft(t, env, spec)
}
