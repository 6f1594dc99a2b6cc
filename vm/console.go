package vm

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"vcbench/agent/proto"
)

// Console events the backend looks for on the serial console.
type consoleEvent int

const (
	evNone        consoleEvent = iota
	evKernelStart              // first kernel message (earlyprintk)
	evAgentStart               // proto.StartMarker
	evListening                // proto.ReadyMarker
	evPanic                    // "Kernel panic"
	evGuestError               // the agent's init failed (guest setup, server start)
)

// classify tells what one console line means. The first kernel line is
// any line that starts with a printk timestamp or the kernel banner.
func classify(line string) consoleEvent {
	line = strings.TrimRight(line, "\r")
	switch {
	case strings.Contains(line, proto.StartMarker):
		return evAgentStart
	case strings.Contains(line, proto.ReadyMarker):
		return evListening
	case strings.Contains(line, "Kernel panic"):
		return evPanic
	case proto.IsInitFailure(line):
		return evGuestError
	case strings.HasPrefix(strings.TrimSpace(line), "[") && isPrintkTime(line), strings.HasPrefix(line, "Linux version "):
		return evKernelStart
	}
	return evNone
}

// isPrintkTime reports whether line starts with "[ 12.345678]".
func isPrintkTime(line string) bool {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "[") {
		return false
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return false
	}
	_, err := strconv.ParseFloat(strings.TrimSpace(s[1:end]), 64)
	return err == nil
}

// guestUptime parses the agent's start marker's uptime (the guest clock).
func guestUptime(line string) (float64, bool) { return proto.ParseStart(line) }

// console follows QEMU's stdout (the serial console) and stderr, copies
// them to the log and stamps the boot milestones on the host clock.
type console struct {
	launch time.Time

	mu          sync.Mutex
	phases      map[consoleEvent]time.Duration
	uptime      float64 // guest uptime at agent start
	lastLines   []string
	failure     string // panic or guest error, if seen
	listening   chan struct{}
	listenOnce  sync.Once
	failed      chan struct{}
	failOnce    sync.Once
	done        chan struct{} // closed at EOF (QEMU exited)
	keepLastLen int
}

func newConsole(launch time.Time) *console {
	return &console{
		launch:      launch,
		phases:      map[consoleEvent]time.Duration{},
		listening:   make(chan struct{}),
		failed:      make(chan struct{}),
		done:        make(chan struct{}),
		keepLastLen: 20,
	}
}

// follow reads r until EOF, writing every line to log.
func (c *console) follow(r io.Reader, log io.Writer) {
	defer close(c.done)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			now := time.Since(c.launch)
			io.WriteString(log, line)
			c.observe(strings.TrimRight(line, "\r\n"), now)
		}
		if err != nil {
			return
		}
	}
}

func (c *console) observe(line string, at time.Duration) {
	ev := classify(line)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastLines = append(c.lastLines, line)
	if len(c.lastLines) > c.keepLastLen {
		c.lastLines = c.lastLines[1:]
	}
	if ev == evNone {
		return
	}
	if _, seen := c.phases[ev]; !seen {
		c.phases[ev] = at
	}
	switch ev {
	case evAgentStart:
		if up, ok := guestUptime(line); ok {
			c.uptime = up
		}
	case evListening:
		c.listenOnce.Do(func() { close(c.listening) })
	case evPanic, evGuestError:
		if c.failure == "" {
			c.failure = strings.TrimSpace(line)
		}
		c.failOnce.Do(func() { close(c.failed) })
	}
}

// phase returns when ev was seen.
func (c *console) phase(ev consoleEvent) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.phases[ev]
	return d, ok
}

// tail returns the last console lines, for error messages.
func (c *console) tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.lastLines
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func (c *console) failureLine() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failure
}
