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

	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
	"vcbench/internal/testenv"
	"vcbench/scenarios"
)

// TestScratchDiskHostFull puts the scratch disk on a 16 MiB tmpfs and
// writes 32 MiB to it from the guest: the write fails at once instead of
// the guest pausing until the workload's time-out, and Exited names the
// cause, the host's full file system.
func TestScratchDiskHostFull(t *testing.T) {
	needGuest(t)
	env, spec := testEnv(t, "diskfull")
	spec.ScratchDir = filepath.Join(t.TempDir(), "full")
	if err := os.Mkdir(spec.ScratchDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", spec.ScratchDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=16m,mode=0755"); err != nil {
		testenv.Require(t, "mount a 16 MiB tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(spec.ScratchDir, 0); err != nil {
			t.Errorf("unmount %s: %v", spec.ScratchDir, err)
			unix.Unmount(spec.ScratchDir, unix.MNT_DETACH)
		}
	})
	rt, err := New(scenarios.RuntimeConfig{Kind: scenarios.VM, Accel: "tcg"}, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bi, err := rt.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	inst := bi.(*Instance)
	defer func() {
		if err := inst.Stop(ctx); err != nil {
			t.Error(err)
		}
		assertNothingLeft(t, env, spec)
	}()
	if dead, why := inst.Exited(); dead {
		t.Fatalf("exited before the workload: %s", why)
	}
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{Proxy: nil}}
	t0 := time.Now()
	resp, err := client.Post("http://"+inst.Addr()+proto.PathRun, "application/json", bytes.NewBufferString(`{"kind":"disk","size_mib":32,"ops":20}`))
	took := time.Since(t0)
	if err != nil {
		t.Fatalf("disk workload after %s: %v", took, err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("disk workload on a full host file system: %s after %s: %s", resp.Status, took.Round(time.Millisecond), out)
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("32 MiB written to a 16 MiB file system: %s", out)
	}
	if took > 30*time.Second {
		t.Errorf("the failing workload took %s: the guest waited instead of getting the error", took)
	}
	var why string
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		var dead bool
		if dead, why = inst.Exited(); dead {
			break
		}
	}
	if !strings.Contains(why, "no space left on device on the host") || !strings.Contains(why, inst.launch.Disk.Path) {
		t.Errorf("Exited says %q, want the scratch disk's host file system full", why)
	}
}
