package workload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultCPUIterations is the number of SHA-256 blocks a cpu run hashes per thread.
const DefaultCPUIterations = 100_000

// cpuBlock is the size of the block each SHA-256 iteration hashes.
const cpuBlock = 1024

// HashChain is the cpu workload's fixed compute kernel: it hashes a 1 KiB
// block n times, feeding each digest back into the block, and returns the
// final digest. The same n gives the same digest everywhere, so a test can
// check that the work was really done.
func HashChain(n int, seed byte) [32]byte {
	var buf [cpuBlock]byte
	for i := range buf {
		buf[i] = byte(i) ^ seed
	}
	var sum [32]byte
	for i := 0; i < n; i++ {
		sum = sha256.Sum256(buf[:])
		copy(buf[:32], sum[:])
	}
	return sum
}

func runCPU(ctx context.Context, p Params, r Resources) (*Result, error) {
	n := orDefault(p.Iterations, DefaultCPUIterations)
	cpus := r.CPUs
	if cpus <= 0 {
		cpus = UsableCPUs()
	}
	threads := orDefault(p.Threads, cpus)
	var warnings []string
	if r.CPUQuota > 0 && r.CPUQuota < float64(threads) {
		warnings = append(warnings, fmt.Sprintf("cgroup CPU quota of %.2f CPUs is below the %d threads: all_threads is throttled by the quota", r.CPUQuota, threads))
	}

	single, sum := timeHashes(1, n)
	parallel, _ := timeHashes(threads, n)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &Result{
		Metrics: []Metric{
			higher("single_thread", UnitOpsPerSecond, float64(n)/single.Seconds()),
			higher("all_threads", UnitOpsPerSecond, float64(n*threads)/parallel.Seconds()),
		},
		Notes: map[string]string{
			"kernel":     "sha256 chain over a 1 KiB block",
			"iterations": fmt.Sprint(n),
			"threads":    fmt.Sprint(threads),
			"checksum":   hex.EncodeToString(sum[:]),
		},
		Warnings: warnings,
	}, nil
}

// UsableCPUs is the number of CPUs this process may run on (its affinity
// mask), which is what "one thread per vCPU" means in every runtime.
func UsableCPUs() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil && set.Count() > 0 {
		return set.Count()
	}
	return runtime.NumCPU()
}

// timeHashes runs HashChain(n) on each of t locked OS threads at once and
// returns the wall time of the slowest.
func timeHashes(t, n int) (time.Duration, [32]byte) {
	var wg sync.WaitGroup
	sums := make([][32]byte, t)
	start := time.Now()
	for i := 0; i < t; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			sums[i] = HashChain(n, 0)
		}(i)
	}
	wg.Wait()
	return time.Since(start), sums[0]
}
