package vm

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/scenarios"
)

// TestBootTime measures launch → /healthz answered for the vm runtime and
// for its own saved command line started by hand (sh qemu-cmdline-*.sh),
// alternating, and reports both medians: vcbench's overhead over QEMU
// itself. Both sides wait for the agent's listening marker on the console
// and then poll /healthz every 2 ms as the runner does (polling earlier
// only meets slirp holding the connection; see Start). It boots 2×N
// guests, so it runs only when VCBENCH_BOOT_TRIALS=N is set:
//
//	VCBENCH_BOOT_TRIALS=10 go test ./vm -run TestBootTime -v
//
// VCBENCH_BOOT_MACHINE and VCBENCH_BOOT_MEMORY change the guest;
// VCBENCH_BOOT_KERNEL=small boots the small kernel (see TestSmallKernelBoot)
// instead of the cloud kernel.
func TestBootTime(t *testing.T) {
	needGuest(t)
	n, _ := strconv.Atoi(os.Getenv("VCBENCH_BOOT_TRIALS"))
	if n <= 0 {
		t.Skip("set VCBENCH_BOOT_TRIALS=N to boot 2×N guests")
	}
	mem := 256
	if v, err := strconv.Atoi(os.Getenv("VCBENCH_BOOT_MEMORY")); err == nil {
		mem = v
	}
	cfg := scenarios.RuntimeConfig{Kind: scenarios.VM, Accel: "tcg", MemoryMiB: mem, Machine: scenarios.Machine(os.Getenv("VCBENCH_BOOT_MACHINE"))}
	imageDir, kernel := testImageDir, "cloud"
	if os.Getenv("VCBENCH_BOOT_KERNEL") == "small" {
		imageDir, kernel = smallGuestDir(t), "small"
	}
	var ours, hand []float64
	phases := map[string][]float64{}
	var overhead, vmm []float64
	var prevScript, prevAddr string
	for i := 0; i < n; i++ {
		if prevScript != "" && i%2 == 1 {
			// Alternate the order: by hand first on odd trials (the
			// previous trial's command line; its port is free again).
			h, err := bootByHand(prevScript, prevAddr)
			if err != nil {
				t.Fatal(err)
			}
			hand = append(hand, h.Seconds())
			t.Logf("trial %d: by hand %.3fs (first)", i, h.Seconds())
		}
		env, spec := testEnv(t, fmt.Sprintf("boot%d", i))
		env.ImageDir = imageDir
		rt, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		inst, err := rt.Start(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = waitHealthz(ctx, inst.Addr())
		ready := time.Since(t0)
		cancel()
		if err != nil {
			inst.Stop(context.Background())
			t.Fatal(err)
		}
		ours = append(ours, ready.Seconds())
		for _, p := range inst.(bench.Phaser).Phases() {
			phases[p.Name] = append(phases[p.Name], p.Since.Seconds())
		}
		if m, err := inst.HostMemory(); err == nil {
			overhead = append(overhead, m["host_overhead"])
			vmm = append(vmm, m["host_vmm_pss"])
		}
		if err := inst.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		prevScript, prevAddr = filepath.Join(spec.RawDir, "qemu-cmdline-"+spec.Name+".sh"), inst.Addr()
		t.Logf("trial %d: vcbench %.3fs", i, ready.Seconds())
		if i%2 == 0 {
			h, err := bootByHand(prevScript, prevAddr)
			if err != nil {
				t.Fatal(err)
			}
			hand = append(hand, h.Seconds())
			t.Logf("trial %d: by hand %.3fs", i, h.Seconds())
		}
	}
	mo, mh := median(ours), median(hand)
	t.Logf("launch → /healthz, median of %d (TCG, %s, %d MiB, %s kernel): vcbench %.3fs, saved command line by hand %.3fs, overhead %+.1f%%",
		n, orDefault(string(cfg.Machine), "microvm"), mem, kernel, mo, mh, 100*(mo-mh)/mh)
	names := make([]string, 0, len(phases))
	for k := range phases {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return median(phases[names[i]]) < median(phases[names[j]]) })
	for _, k := range names {
		t.Logf("  phase %-16s median %.3fs", k, median(phases[k]))
	}
	t.Logf("  host_overhead (PSS − guest RAM) median %.1f MiB; host_vmm_pss (PSS without the guest RAM mapping) median %.1f MiB",
		median(overhead)/(1<<20), median(vmm)/(1<<20))
}

// bootByHand runs a saved command line the way a person would and measures
// the same launch → /healthz span.
func bootByHand(script, addr string) (time.Duration, error) {
	tmp, err := os.MkdirTemp("", "vcbench-byhand-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	t0 := time.Now()
	h, err := startScript(script, tmp)
	if err != nil {
		return 0, err
	}
	defer h.stop()
	select {
	case <-h.listening:
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("%s: no listening marker within 30s", script)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := waitHealthz(ctx, addr); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// scriptRun is a saved command line running as `sh SCRIPT`.
type scriptRun struct {
	cmd       *exec.Cmd
	listening chan struct{} // closed at the agent's listening marker
	exited    chan struct{} // closed once sh has been waited for
	err       error         // sh's exit, once exited is closed
}

// startScript runs `sh script` with TMPDIR=tmp (where the script makes
// its temporary directory), in a process group of its own.
func startScript(script, tmp string) (*scriptRun, error) {
	cmd := exec.Command("sh", script)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &scriptRun{cmd: cmd, listening: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), proto.ReadyMarker) {
				seen = true
				close(h.listening)
			}
		}
		h.err = cmd.Wait()
		close(h.exited)
	}()
	return h, nil
}

// stop sends the script SIGTERM, as a person's kill would, and waits for
// it to stop QEMU and remove what it made; after 15 s it SIGKILLs the
// group and says so.
func (h *scriptRun) stop() error {
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
		return nil
	case <-time.After(15 * time.Second):
		syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
		<-h.exited
		return fmt.Errorf("sh %s did not end within 15s of SIGTERM", h.cmd.Args[1])
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
