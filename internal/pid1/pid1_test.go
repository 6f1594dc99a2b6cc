package pid1

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestSuperviseExitCode: the child's exit status, or 128 + the signal that
// ended it, is Supervise's code.
func TestSuperviseExitCode(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"kill -KILL $$", 128 + int(syscall.SIGKILL)},
	} {
		started := false
		code, err := Supervise(sh, []string{"sh", "-c", tc.script}, os.Environ(), []uintptr{0, 1, 2}, func() { started = true })
		if err != nil || code != tc.want || !started {
			t.Errorf("%q: code %d, err %v, started %v; want %d", tc.script, code, err, started, tc.want)
		}
	}
	if _, err := Supervise("/nonexistent/agent", []string{"agent"}, nil, []uintptr{0, 1, 2}, nil); err == nil {
		t.Error("a binary that does not exist: no error")
	}
}

// TestSuperviseForwardsSIGTERM: a SIGTERM to the init goes to its child,
// whose end (by that signal) ends Supervise.
func TestSuperviseForwardsSIGTERM(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}()
	start := time.Now()
	code, err := Supervise(sleep, []string{"sleep", "30"}, os.Environ(), []uintptr{0, 1, 2}, nil)
	if err != nil || code != 128+int(syscall.SIGTERM) {
		t.Errorf("code %d, err %v; want %d (SIGTERM passed to the child)", code, err, 128+int(syscall.SIGTERM))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s: the child did not get SIGTERM", d)
	}
}
