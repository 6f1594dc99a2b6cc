package vm

import (
	"io"
	"strings"
	"testing"
	"time"

	"vcbench/agent/proto"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		line string
		want consoleEvent
	}{
		{"[    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org)\r", evKernelStart},
		{"[   12.345678] anything", evKernelStart},
		{"Linux version 6.1.0 (no timestamps)", evKernelStart},
		{proto.StartLine(0.912345) + "\r", evAgentStart},
		{proto.ReadyLine("[::]:8080"), evListening},
		{"[    1.234] Kernel panic - not syncing: No working init found.", evPanic},
		{proto.InitGuestSetupFailed + " no eth0 after 5s", evGuestError},
		{proto.InitStartServerFailed + " fork/exec /init: no such file", evGuestError},
		{proto.InitPrefix + "mount devtmpfs on /dev: busy", evNone},
		{"Probing EDD (edd=off to disable)... ok", evNone},
		{"[ not a time] x", evNone},
		{"", evNone},
	} {
		if got := classify(tc.line); got != tc.want {
			t.Errorf("classify(%q) = %d, want %d", tc.line, got, tc.want)
		}
	}
}

func TestGuestUptime(t *testing.T) {
	if up, ok := guestUptime(proto.StartLine(0.912345) + "\r"); !ok || up != 0.912345 {
		t.Errorf("got %v %v", up, ok)
	}
	if _, ok := guestUptime("[ 1.0] foo"); ok {
		t.Error("parsed a non-marker")
	}
}

// slowReader hands out one line per Read with a pause, so that phases get
// distinct host times.
type slowReader struct{ lines []string }

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.lines) == 0 {
		return 0, io.EOF
	}
	time.Sleep(3 * time.Millisecond)
	n := copy(p, r.lines[0])
	r.lines = r.lines[1:]
	return n, nil
}

func TestConsoleFollow(t *testing.T) {
	in := &slowReader{lines: []string{
		"noise before the kernel\r\n",
		"[    0.000000] Linux version 6.1.0\r\n",
		"[    0.100000] more\r\n",
		proto.StartLine(0.95) + "\r\n",
		proto.ReadyLine("[::]:8080") + "\r\n",
		"[    2.0] Kernel panic - not syncing: Attempted to kill init!\r\n",
	}}
	c := newConsole(time.Now())
	var log strings.Builder
	c.follow(in, &log)
	if !strings.Contains(log.String(), "Linux version") {
		t.Errorf("log lost lines: %q", log.String())
	}
	ks, ok1 := c.phase(evKernelStart)
	as, ok2 := c.phase(evAgentStart)
	ls, ok3 := c.phase(evListening)
	if !ok1 || !ok2 || !ok3 || !(ks < as && as < ls) {
		t.Errorf("phases kernel %v %v agent %v %v listening %v %v", ks, ok1, as, ok2, ls, ok3)
	}
	if c.uptime != 0.95 {
		t.Errorf("uptime %v", c.uptime)
	}
	select {
	case <-c.listening:
	default:
		t.Error("listening not signalled")
	}
	select {
	case <-c.failed:
	default:
		t.Error("panic not signalled")
	}
	if !strings.Contains(c.failureLine(), "Kernel panic") {
		t.Errorf("failure %q", c.failureLine())
	}
}
