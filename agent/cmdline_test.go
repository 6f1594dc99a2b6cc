package agent

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vcbench/agent/proto"
	"vcbench/internal/testenv"
)

// TestInVM: only a VM's /init (PID 1 in the kernel's first PID namespace)
// and its serving child read the kernel command line; a native agent, a
// container's init (PID 1 of a namespace of its own) and that init's child
// share the host's /proc/cmdline and must not obey it.
func TestInVM(t *testing.T) {
	const other = initPIDNamespace - 1
	for _, c := range []struct {
		name      string
		pid, ppid int
		child     bool
		ns        uint64
		want      bool
	}{
		{"vm init", 1, 0, false, initPIDNamespace, true},
		{"vm serving child", 7, 1, true, initPIDNamespace, true},
		{"native agent", 4242, 4000, false, initPIDNamespace, false},
		{"native agent with the child variable", 4242, 4000, true, initPIDNamespace, false},
		{"native agent orphaned to init", 4242, 1, false, initPIDNamespace, false},
		{"container init", 1, 0, false, other, false},
		{"container serving child", 2, 1, true, other, false},
	} {
		if got := inVM(c.pid, c.ppid, c.child, c.ns); got != c.want {
			t.Errorf("%s: inVM = %v, want %v", c.name, got, c.want)
		}
	}
	if InVM() {
		t.Error("the test process is taken for a VM's agent")
	}
}

// TestNativeIgnoresHostCmdline runs the real agent as a host process with
// a /proc/cmdline (bind-mounted in a private mount namespace) that asks
// for vcbench.listen on an address the host does not have: the agent must
// serve where its flags say, on loopback.
func TestNativeIgnoresHostCmdline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the agent")
	}
	if os.Geteuid() != 0 {
		testenv.Require(t, "needs root to bind-mount over /proc/cmdline")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		testenv.Require(t, "needs unshare: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vcbench-agent")
	build := exec.Command("go", "build", "-o", bin, "vcbench/cmd/vcbench-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, out)
	}
	fake := filepath.Join(dir, "cmdline")
	os.WriteFile(fake, []byte("console=ttyS0 "+proto.KernelParam(proto.ParamListen, "203.0.113.7:8080")+" "+proto.KernelParam(proto.ParamTools, "/dev/nonexistent")+"\n"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount --bind "$0" /proc/cmdline && exec "$@"`, fake, bin, "-"+proto.FlagListen, "127.0.0.1:0", "-"+proto.FlagScratch, dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := proto.ParseReady(sc.Text()); ok {
			if !strings.HasPrefix(addr, "127.0.0.1:") {
				t.Errorf("native agent serves on %s: it obeyed the host's kernel command line", addr)
			}
			if strings.Contains(stderr.String(), "nonexistent") {
				t.Errorf("native agent tried the command line's tools disk: %s", stderr.String())
			}
			return
		}
	}
	t.Fatalf("no ready line from the agent; stderr:\n%s", stderr.String())
}
