package vm

import (
	"fmt"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/raw"
)

// qmpClient is a QMP connection whose every call has a time-out: go-qemu's
// Run has none, so each call runs in a goroutine and a late one closes the
// connection (which unblocks it). Events are never subscribed to: go-qemu
// drops them when nobody listens, and a listener that does not drain them
// makes commands hang.
type qmpClient struct {
	mon *qmp.SocketMonitor
	raw *raw.Monitor
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
