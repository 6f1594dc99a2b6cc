package container

import (
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// waitStatusReason words how a process ended from its wait status:
// "killed by signal 9 (SIGKILL)", "exited with status 1".
func waitStatusReason(ws syscall.WaitStatus) string {
	switch {
	case ws.Signaled():
		s := fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), unix.SignalName(ws.Signal()))
		if ws.CoreDump() {
			s += ", core dumped"
		}
		return s
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	}
	return fmt.Sprintf("ended with wait status %#x", uint32(ws))
}

// exitMemory is how many exits procExits remembers: enough for the
// moments between an agent's death and the runner asking why, even with a
// fork-heavy workload on the host.
const exitMemory = 4096

// exitMonitor follows the kernel's process events (the netlink proc
// connector, root only) while OCI instances run and remembers the wait
// status of the last exitMemory processes that ended. `crun/runc run -d`
// leaves the container's init to be reaped by the host's init, and neither
// runtime's `state` keeps an exit status, so this is how vcbench learns
// how an OCI agent died. One monitor serves every instance of the process:
// each acquires it for its lifetime.
type exitMonitor struct {
	mu     sync.Mutex
	users  int
	done   chan struct{} // closed when the last user releases
	status map[int]uint32
	order  []int // pids of status, oldest first
	err    error // why the monitor could not start, if it could not
}

// procExits is the process's exit monitor.
var procExits exitMonitor

// acquire starts the monitor if it is not running and returns the
// function that gives it back. A monitor that cannot start (no root, a
// kernel without the proc connector) leaves exits unknown, nothing worse.
func (m *exitMonitor) acquire() (release func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.users == 0 {
		m.done = make(chan struct{})
		ready := make(chan error, 1)
		go m.follow(m.done, ready)
		m.err = <-ready
	}
	m.users++
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.users--; m.users == 0 {
				close(m.done)
			}
		})
	}
}

// follow subscribes to process events until done, subscribing again when
// the kernel drops the socket (an overrun under a burst of exits). The
// first subscription's result goes to ready.
func (m *exitMonitor) follow(done <-chan struct{}, ready chan<- error) {
	for first := true; ; first = false {
		events := make(chan netlink.ProcEvent, 256)
		errc := make(chan error, 1)
		err := netlink.ProcEventMonitor(events, done, errc)
		if first {
			ready <- err
		}
		if err != nil {
			return
		}
		for ev := range events {
			if x, ok := ev.Msg.(*netlink.ExitProcEvent); ok && x.ProcessPid == x.ProcessTgid {
				m.record(int(x.ProcessPid), x.ExitCode)
			}
		}
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (m *exitMonitor) record(pid int, status uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.status == nil {
		m.status = map[int]uint32{}
	}
	if _, seen := m.status[pid]; !seen {
		m.order = append(m.order, pid)
	}
	m.status[pid] = status
	if len(m.order) > exitMemory {
		delete(m.status, m.order[0])
		m.order = m.order[1:]
	}
}

// lookup returns the wait status of pid's exit, waiting up to wait for
// the event (it is sent as the process dies, and may be read a moment
// after /proc shows the process gone).
func (m *exitMonitor) lookup(pid int, wait time.Duration) (syscall.WaitStatus, bool) {
	for end := time.Now().Add(wait); ; time.Sleep(5 * time.Millisecond) {
		m.mu.Lock()
		st, ok := m.status[pid]
		running := m.users > 0 && m.err == nil
		m.mu.Unlock()
		if ok {
			return syscall.WaitStatus(st), true
		}
		if !running || time.Now().After(end) {
			return 0, false
		}
	}
}

// startErr says why the monitor is not following exits, or nil.
func (m *exitMonitor) startErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}
