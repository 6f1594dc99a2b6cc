package vm

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/raw"
	"golang.org/x/sys/unix"
)

// qmpClient is a QMP connection whose every call has a time-out: go-qemu's
// Run has none, so each call runs in a goroutine and a late one closes the
// connection (which unblocks it). Its events are drained by one goroutine
// (go-qemu's reader blocks, and commands with it, on a subscriber that
// does not drain), which keeps the first BLOCK_IO_ERROR.
type qmpClient struct {
	mon *qmp.SocketMonitor
	raw *raw.Monitor

	mu      sync.Mutex
	ioError *blockIOError
}

// blockIOError is QEMU's BLOCK_IO_ERROR event: a host-side read or write
// of a disk failed, and (with werror/rerror=report) the guest got an I/O
// error for it.
type blockIOError struct {
	Operation string // read or write
	NoSpace   bool   // the host's file system is full (ENOSPC)
	Reason    string // the host's error, e.g. "No space left on device"
}

// blockIOErrorFrom reads the event's data. QEMU sets "nospace" only on
// devices whose I/O status it tracks (werror=stop and the like); with
// werror=report the reason, strerror(ENOSPC), says it.
func blockIOErrorFrom(data map[string]any) *blockIOError {
	e := &blockIOError{}
	e.Operation, _ = data["operation"].(string)
	e.NoSpace, _ = data["nospace"].(bool)
	e.Reason, _ = data["reason"].(string)
	e.NoSpace = e.NoSpace || strings.EqualFold(e.Reason, unix.ENOSPC.Error())
	return e
}

// describe words the error for a disk at path.
func (e *blockIOError) describe(path string) string {
	if e.NoSpace {
		return fmt.Sprintf("scratch disk %s: no space left on device on the host (QEMU's %s failed: %s; the guest got an I/O error)", path, e.Operation, e.Reason)
	}
	return fmt.Sprintf("scratch disk %s: host I/O error on %s: %s (the guest got an I/O error)", path, e.Operation, e.Reason)
}

// watchEvents drains the connection's events until it closes.
func (c *qmpClient) watchEvents() {
	events, err := c.mon.Events(context.Background())
	if err != nil {
		return
	}
	go func() {
		for ev := range events {
			if ev.Event != "BLOCK_IO_ERROR" {
				continue
			}
			c.mu.Lock()
			if c.ioError == nil {
				c.ioError = blockIOErrorFrom(ev.Data)
			}
			c.mu.Unlock()
		}
	}()
}

// diskError is the first BLOCK_IO_ERROR QEMU sent, or nil.
func (c *qmpClient) diskError() *blockIOError {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ioError
}

// dialQMP connects to QEMU's QMP socket, retrying until QEMU has created it
// or the deadline passes, then negotiates capabilities.
func dialQMP(path string, deadline time.Time, exited <-chan struct{}) (*qmpClient, error) {
	var mon *qmp.SocketMonitor
	var err error
	for {
		mon, err = qmp.NewSocketMonitor("unix", path, time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("dial qmp %s: %w", path, err)
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("dial qmp %s: qemu exited", path)
		case <-time.After(2 * time.Millisecond):
		}
	}
	c := &qmpClient{mon: mon, raw: raw.NewMonitor(mon)}
	if err := c.call(time.Until(deadline), mon.Connect); err != nil {
		return nil, fmt.Errorf("qmp handshake: %w", err)
	}
	c.watchEvents()
	return c, nil
}

// call runs f with a time-out; on time-out it disconnects, so that f returns.
func (c *qmpClient) call(timeout time.Duration, f func() error) error {
	if timeout <= 0 {
		timeout = time.Millisecond
	}
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-ch:
		return err
	case <-t.C:
		c.mon.Disconnect()
		return fmt.Errorf("qmp: no answer within %s", timeout)
	}
}

// status returns the run state ("running", "paused", ...).
func (c *qmpClient) status(timeout time.Duration) (string, error) {
	var st raw.StatusInfo
	err := c.call(timeout, func() (err error) { st, err = c.raw.QueryStatus(); return })
	if err != nil {
		return "", fmt.Errorf("query-status: %w", err)
	}
	return st.Status.String(), nil
}

// memoryBytes returns the guest RAM QEMU reports (base + plugged).
func (c *qmpClient) memoryBytes(timeout time.Duration) (uint64, error) {
	var mi raw.MemoryInfo
	err := c.call(timeout, func() (err error) { mi, err = c.raw.QueryMemorySizeSummary(); return })
	if err != nil {
		return 0, fmt.Errorf("query-memory-size-summary: %w", err)
	}
	n := mi.BaseMemory
	if mi.PluggedMemory != nil {
		n += *mi.PluggedMemory
	}
	return n, nil
}

func (c *qmpClient) powerdown(timeout time.Duration) error {
	if err := c.call(timeout, c.raw.SystemPowerdown); err != nil {
		return fmt.Errorf("system_powerdown: %w", err)
	}
	return nil
}

// quit asks QEMU to exit. The connection may close before the answer
// comes: the caller judges by whether the process exits.
func (c *qmpClient) quit(timeout time.Duration) error {
	if err := c.call(timeout, c.raw.Quit); err != nil {
		return fmt.Errorf("quit: %w", err)
	}
	return nil
}

func (c *qmpClient) close() {
	if c != nil {
		c.mon.Disconnect()
	}
}
