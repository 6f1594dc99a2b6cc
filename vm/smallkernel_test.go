package vm

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/testenv"
	"vcbench/scenarios"
)

// smallKernelDirs are the image directories searched for a small kernel
// that `vcbench images build --kernel small` built (the tests never build
// one: it takes minutes).
func smallKernelDirs() []string {
	dirs := []string{os.Getenv("VCBENCH_SMALL_KERNEL_DIR"), image.DefaultDir(), testImageDir, "/var/lib/vcbench/images"}
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// smallGuestDir returns a fresh image directory whose guest is the small
// kernel with the test's agent, or skips the test when no small kernel has
// been built.
func smallGuestDir(t testing.TB) string {
	t.Helper()
	needGuest(t)
	var k image.SmallKernel
	var reasons []string
	for _, d := range smallKernelDirs() {
		found, err := image.FindSmallKernel(image.Paths{Dir: d})
		if err == nil {
			k = found
			break
		}
		reasons = append(reasons, err.Error())
	}
	if k.Dir == "" {
		testenv.Require(t, "no small kernel built (run `vcbench images build --kernel small`, or set VCBENCH_SMALL_KERNEL_DIR to its --image-dir): %s", strings.Join(reasons, "; "))
	}
	dir := t.TempDir()
	if _, err := image.InstallSmallGuest(image.Paths{Dir: dir}, k, filepath.Join(testImageDir, "vcbench-agent"), image.BusyboxPath()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSmallKernelBoot boots the small kernel on both machine types, runs
// the disk workload on its virtio-blk scratch disk and checks that /info
// and Describe name the small kernel.
func TestSmallKernelBoot(t *testing.T) {
	dir := smallGuestDir(t)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}} // microvm and q35 get the same address in turn
	for _, machine := range []scenarios.Machine{MachineMicrovm, MachineQ35} {
		t.Run(string(machine), func(t *testing.T) {
			env, spec := testEnv(t, "small-"+string(machine))
			env.ImageDir = dir
			rt, err := New(scenarios.RuntimeConfig{Kind: scenarios.VM, Accel: "tcg", Machine: machine, MemoryMiB: 256, Kernel: scenarios.KernelSmall}, env)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			t0 := time.Now()
			bi, err := rt.Start(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			inst := bi.(*Instance)
			defer func() {
				if err := inst.Stop(ctx); err != nil {
					t.Error(err)
				}
			}()
			hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := waitHealthz(hctx, inst.Addr()); err != nil {
				t.Fatal(err)
			}
			ready := time.Since(t0)
			info := testenv.Info(t, inst.Addr())
			if !strings.Contains(info.KernelRelease, image.SmallKernelFlavorName) {
				t.Errorf("guest kernel release %q: want the small kernel", info.KernelRelease)
			}
			resp, err := client.Post("http://"+inst.Addr()+proto.PathRun, "application/json", bytes.NewBufferString(`{"kind":"disk","size_mib":4,"ops":20}`))
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), "/dev/vda") {
				t.Errorf("disk workload on the virtio-blk disk: %s: %s", resp.Status, out)
			}
			d := rt.(bench.Describer).Describe()
			if !strings.Contains(d["kernel"], image.SmallKernelFlavorName) || !strings.Contains(d["kernel"], "vmlinux (PVH entry)") {
				t.Errorf("describe kernel %q: want the small kernel's vmlinux", d["kernel"])
			}
			t.Logf("ready %.3fs phases %v kernel %q", ready.Seconds(), inst.Phases(), d["kernel"])
		})
	}
}
