package vm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vcbench/agent/proto"
	"vcbench/internal/testenv"
	"vcbench/scenarios"
)

// TestSavedCommandLineReruns: after an instance has stopped and the run's
// scratch directory is gone, `sh raw/qemu-cmdline-NAME.sh` boots the same
// guest with a disk of its own, its agent answers on the same port and
// writes to that disk, and a SIGTERM to the script stops QEMU and removes
// everything the script made.
func TestSavedCommandLineReruns(t *testing.T) {
	needGuest(t)
	env, spec := testEnv(t, "rerun")
	rt, err := New(scenarios.RuntimeConfig{Kind: scenarios.VM, Accel: "tcg"}, env)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inst, err := rt.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	addr := inst.Addr()
	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	assertNothingLeft(t, env, spec)
	if err := os.RemoveAll(spec.ScratchDir); err != nil {
		t.Fatal(err)
	}

	tmp := t.TempDir()
	h, err := startScript(filepath.Join(spec.RawDir, "qemu-cmdline-"+spec.Name+".sh"), tmp)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			h.stop()
		}
	}()
	select {
	case <-h.listening:
	case <-h.exited:
		t.Fatalf("the script ended before the agent listened: %v", h.err)
	case <-time.After(60 * time.Second):
		t.Fatal("no listening marker within 60s")
	}
	hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := waitHealthz(hctx, addr); err != nil {
		t.Fatal(err)
	}
	if in := testenv.Info(t, addr); in.KernelRelease == "" {
		t.Errorf("/info of the rerun guest: %+v", in)
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Post("http://"+addr+proto.PathRun, "application/json", bytes.NewBufferString(`{"kind":"disk","size_mib":4,"ops":20}`))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), guestDisk) {
		t.Errorf("disk workload on the script's disk: %s: %s", resp.Status, out)
	}

	stopped = true
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if !errors.As(h.err, &ee) || ee.ExitCode() != 143 {
		t.Errorf("script after SIGTERM: %v, want exit status 143", h.err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the script left %v in its TMPDIR", left)
	}
	if out, _ := exec.Command("pgrep", "-af", tmp).Output(); len(out) > 0 {
		t.Errorf("qemu left running: %s", out)
	}
}
