package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"vcbench/image"
)

// QEMUBinary is the emulator vcbench runs.
const QEMUBinary = "qemu-system-x86_64"

// ProbeTimeout bounds the KVM probe boot. A KVM guest reaches the agent in
// well under a second; the nested KVM some hosts offer hangs the guest
// kernel instead, which must cost no more than this.
var ProbeTimeout = 5 * time.Second

// ProbeResult is the accelerator the VM runtime will use and why.
type ProbeResult struct {
	Accel       Accel         // kvm or tcg
	Reason      string        // why, in a sentence
	KVMDevice   bool          // /dev/kvm opened read-write
	BootTime    time.Duration // time the KVM probe guest took to reach the agent, if it did
	QEMUVersion string
}

// ProbeAccel decides between KVM and TCG with a real, short boot: the guest
// kernel and initramfs of imageDir under -accel kvm must reach the agent's
// start marker within ProbeTimeout. /dev/kvm existing is not enough: some
// nested (PVM-based) KVM hosts hang a standard guest kernel at boot.
func ProbeAccel(ctx context.Context, imageDir string) ProbeResult {
	res := ProbeResult{Accel: AccelTCG, QEMUVersion: qemuVersion()}
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		res.Reason = fmt.Sprintf("/dev/kvm unusable (%v): TCG software emulation", err)
		return res
	}
	unix.Close(fd)
	res.KVMDevice = true
	p := image.Paths{Dir: imageDir}
	kernel := bootKernel(p)
	if _, err := os.Stat(p.Initramfs()); err != nil {
		res.Reason = fmt.Sprintf("cannot probe KVM without the guest image (%v): TCG", err)
		return res
	}
	took, err := probeBoot(ctx, kernel, p.Initramfs(), p.GuestWithoutACPI(), ProbeTimeout)
	if err != nil {
		res.Reason = fmt.Sprintf("/dev/kvm exists but a KVM guest did not boot: %v; using TCG software emulation", err)
		return res
	}
	res.Accel, res.BootTime = AccelKVM, took
	res.Reason = fmt.Sprintf("KVM guest reached the agent in %.2fs", took.Seconds())
	return res
}

// bootKernel prefers the uncompressed vmlinux (PVH entry) over the bzImage.
func bootKernel(p image.Paths) string {
	if _, err := os.Stat(p.KernelELF()); err == nil {
		return p.KernelELF()
	}
	return p.Kernel()
}

// probeBoot boots a minimal KVM guest (microvm, no devices) and waits for
// the agent's start marker; it kills QEMU in every case.
func probeBoot(ctx context.Context, kernel, initrd string, noACPI bool, timeout time.Duration) (time.Duration, error) {
	l := Launch{
		Binary: QEMUBinary, Name: "vcbench-kvm-probe",
		Config: Config{VCPUs: 1, MemoryMiB: 128, Machine: MachineMicrovm},
		Accel:  AccelKVM, Kernel: kernel, Initrd: initrd, NoACPI: noACPI,
	}
	l.Cmdline = KernelCmdline(l, 0)
	start := time.Now()
	cmd := exec.Command(l.Binary, l.Args()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return 0, fmt.Errorf("start %s: %w", l.Binary, err)
	}
	w.Close()
	con := newConsole(start)
	go con.follow(r, io.Discard)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	kill := func() {
		cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		r.Close()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if d, ok := con.phase(evAgentStart); ok {
				kill()
				return d, nil
			}
		case err := <-exited:
			r.Close()
			return 0, fmt.Errorf("qemu exited (%v): %s", err, lastLine(con.tail(3)))
		case <-timer.C:
			kill()
			what := "no kernel output"
			if _, ok := con.phase(evKernelStart); ok {
				what = "kernel started but hung; last line: " + lastLine(con.tail(1))
			}
			return 0, fmt.Errorf("no agent within %s (%s)", timeout, what)
		case <-ctx.Done():
			kill()
			return 0, ctx.Err()
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

var (
	versionOnce sync.Once
	versionStr  string
)

// qemuVersion is "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)" or "" when
// QEMU is missing.
func qemuVersion() string {
	versionOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, QEMUBinary, "--version").Output()
		if err != nil {
			return
		}
		first, _, _ := strings.Cut(string(out), "\n")
		versionStr = strings.TrimSpace(strings.TrimPrefix(first, "QEMU emulator version "))
	})
	return versionStr
}

// errNoQEMU says that QEMU is not installed.
var errNoQEMU = errors.New(QEMUBinary + " not found (install qemu-system-x86)")
