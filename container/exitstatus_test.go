package container

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"vcbench/bench"
	"vcbench/internal/testenv"
	"vcbench/scenarios"
)

func TestWaitStatusReason(t *testing.T) {
	for _, c := range []struct {
		ws   syscall.WaitStatus
		want string
	}{
		{syscall.WaitStatus(9), "killed by signal 9 (SIGKILL)"},
		{syscall.WaitStatus(15), "killed by signal 15 (SIGTERM)"},
		{syscall.WaitStatus(11 | 0x80), "killed by signal 11 (SIGSEGV), core dumped"},
		{syscall.WaitStatus(0), "exited with status 0"},
		{syscall.WaitStatus(2 << 8), "exited with status 2"},
		{syscall.WaitStatus(0xffff), "ended with wait status 0xffff"},
	} {
		if got := waitStatusReason(c.ws); got != c.want {
			t.Errorf("waitStatusReason(%#x) = %q, want %q", uint32(c.ws), got, c.want)
		}
	}
}

// TestExitMonitor: with the monitor acquired, the wait status of a
// process that another process reaps (here: this test, which the monitor
// does not rely on) is known by pid, signal or exit code; once released,
// nothing is followed.
func TestExitMonitor(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Require(t, "needs root (the netlink proc connector)")
	}
	release := procExits.acquire()
	defer release()
	if err := procExits.startErr(); err != nil {
		t.Fatalf("process events: %v", err)
	}
	for _, c := range []struct{ script, want string }{
		{"kill -9 $$", "killed by signal 9 (SIGKILL)"},
		{"exit 3", "exited with status 3"},
	} {
		cmd := exec.Command("sh", "-c", c.script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		cmd.Wait()
		ws, ok := procExits.lookup(pid, 2*time.Second)
		if !ok {
			t.Errorf("sh -c %q (pid %d): no exit seen", c.script, pid)
			continue
		}
		if got := waitStatusReason(ws); got != c.want {
			t.Errorf("sh -c %q: %q, want %q", c.script, got, c.want)
		}
	}
	release()
	t0 := time.Now()
	if _, ok := procExits.lookup(-1, time.Second); ok || time.Since(t0) > 100*time.Millisecond {
		t.Errorf("released monitor: lookup found %v after %s, want nothing at once", ok, time.Since(t0))
	}
}

// TestAgentKilledBySignal SIGKILLs each kind's agent: the instance names
// the signal, for an OCI runtime too, whose agent the host's init reaps.
func TestAgentKilledBySignal(t *testing.T) {
	eachKind(t, func(t *testing.T, k kindCase) {
		rt := newRuntime(t, scenarios.RuntimeConfig{Kind: k.kind, MemoryMiB: 128})
		in := start(t, rt, testSpec(t, "kill-0"))
		if err := waitHealthy(in.Addr(), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		var pid int
		switch in := in.(type) {
		case *Instance:
			pid = in.cmd.Process.Pid
		case *OCIInstance:
			pid = in.pid.Pid
		default:
			t.Fatalf("instance of type %T", in)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		ex := in.(bench.Exiter)
		var done bool
		var why string
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if done, why = ex.Exited(); done {
				break
			}
		}
		if !done || why != "killed by signal 9 (SIGKILL)" {
			t.Errorf("Exited() = %v, %q; want killed by signal 9 (SIGKILL)", done, why)
		}
	})
}
