package workload

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultSyscallIterations is the number of getppid calls a syscall run makes.
const DefaultSyscallIterations = 2_000_000

// SyscallLoop makes n getppid system calls (a raw call with no Go scheduler
// hand-off) and returns the parent pid, so the loop cannot be optimised away.
func SyscallLoop(n int) int {
	ppid := 0
	for i := 0; i < n; i++ {
		ppid = unix.Getppid()
	}
	return ppid
}

func runSyscall(ctx context.Context, p Params) (*Result, error) {
	n := orDefault(p.Iterations, DefaultSyscallIterations)
	start := time.Now()
	SyscallLoop(n)
	el := time.Since(start)
	return &Result{
		Metrics: []Metric{higher("getppid", UnitOpsPerSecond, float64(n)/el.Seconds())},
		Notes:   map[string]string{"syscall": "getppid", "iterations": fmt.Sprint(n)},
	}, ctx.Err()
}
