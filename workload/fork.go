package workload

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// DefaultForkIterations is the number of spawns a fork run makes.
const DefaultForkIterations = 500

// TinyELF returns a complete static x86-64 Linux executable of 129 bytes
// whose only work is exit(0): the cheapest program the kernel can exec, so
// that the fork workload measures process creation, not program start-up.
func TinyELF() []byte {
	const base, codeOff = 0x400000, 64 + 56
	code := []byte{
		0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
		0x31, 0xff, // xor edi, edi
		0x0f, 0x05, // syscall
	}
	size := uint64(codeOff + len(code))
	b := make([]byte, 0, size)
	le := binary.LittleEndian
	b = append(b, 0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b = le.AppendUint16(b, 2)    // ET_EXEC
	b = le.AppendUint16(b, 0x3e) // x86-64
	b = le.AppendUint32(b, 1)
	b = le.AppendUint64(b, base+codeOff) // entry
	b = le.AppendUint64(b, 64)           // phoff
	b = le.AppendUint64(b, 0)            // shoff
	b = le.AppendUint32(b, 0)            // flags
	b = le.AppendUint16(b, 64)           // ehsize
	b = le.AppendUint16(b, 56)           // phentsize
	b = le.AppendUint16(b, 1)            // phnum
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	// PT_LOAD, R+X, the whole file at base.
	b = le.AppendUint32(b, 1)
	b = le.AppendUint32(b, 5)
	b = le.AppendUint64(b, 0)
	b = le.AppendUint64(b, base)
	b = le.AppendUint64(b, base)
	b = le.AppendUint64(b, size)
	b = le.AppendUint64(b, size)
	b = le.AppendUint64(b, 0x1000)
	return append(b, code...)
}

// spawnTarget writes the tiny program to dir and returns its path; on
// architectures other than amd64, or where dir is not executable, it
// falls back to the agent itself with the "noop" argument.
func spawnTarget(dir string) (path string, args []string, cleanup func(), note string) {
	self, _ := os.Executable()
	fallback := func(why string) (string, []string, func(), string) {
		return self, []string{self, "noop"}, func() {}, "agent binary with noop argument (" + why + ")"
	}
	if runtime.GOARCH != "amd64" {
		return fallback("tiny ELF is x86-64 only")
	}
	d, err := os.MkdirTemp(dir, "vcbench-fork-")
	if err != nil {
		return fallback(err.Error())
	}
	p := filepath.Join(d, "exit0")
	if err := os.WriteFile(p, TinyELF(), 0o755); err != nil {
		os.RemoveAll(d)
		return fallback(err.Error())
	}
	cleanup = func() { os.RemoveAll(d) }
	if err := spawnOnce(p, []string{p}); err != nil {
		cleanup()
		return fallback(err.Error())
	}
	return p, []string{p}, cleanup, "129-byte static exit(0) program"
}

func spawnOnce(path string, args []string) error {
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{Env: []string{}})
	if err != nil {
		return err
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		return err
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("spawned program ended with %v", ws)
	}
	return nil
}

func runFork(ctx context.Context, p Params) (*Result, error) {
	n := orDefault(p.Iterations, DefaultForkIterations)
	path, args, cleanup, note := spawnTarget(os.TempDir())
	defer cleanup()
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := spawnOnce(path, args); err != nil {
			return nil, fmt.Errorf("spawn %d: %w", i, err)
		}
	}
	el := time.Since(start)
	return &Result{
		Metrics: []Metric{higher("spawn", UnitOpsPerSecond, float64(n)/el.Seconds())},
		Notes:   map[string]string{"program": note, "iterations": fmt.Sprint(n)},
	}, nil
}
