package workload

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultMemoryPasses is how many times each STREAM kernel runs; the best pass counts, as in STREAM.
const DefaultMemoryPasses = 5

// fallbackLLC is assumed when the last-level cache size cannot be read.
const fallbackLLC = 32 << 20

// LastLevelCache reads the largest cache size that sysfs shows for CPU 0.
func LastLevelCache() (int, bool) {
	best := 0
	for i := 0; i < 8; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/sys/devices/system/cpu/cpu0/cache/index%d/size", i))
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		mult := 1
		switch {
		case strings.HasSuffix(s, "K"):
			mult, s = 1<<10, strings.TrimSuffix(s, "K")
		case strings.HasSuffix(s, "M"):
			mult, s = 1<<20, strings.TrimSuffix(s, "M")
		}
		if v, err := strconv.Atoi(s); err == nil && v*mult > best {
			best = v * mult
		}
	}
	return best, best > 0
}

// StreamKernels runs STREAM's copy, scale, add and triad once over arrays
// a, b, c and returns the time of each. After the call a[0] has a known
// value for tests: with a=1, b=2, c=0 initially, one pass leaves
// c = a, b = 3c, c = a+b, a = b + 3c.
func StreamKernels(a, b, c []float64) [4]time.Duration {
	const s = 3.0
	var d [4]time.Duration
	t := time.Now()
	copy(c, a)
	d[0] = time.Since(t)
	t = time.Now()
	for i := range b {
		b[i] = s * c[i]
	}
	d[1] = time.Since(t)
	t = time.Now()
	for i := range c {
		c[i] = a[i] + b[i]
	}
	d[2] = time.Since(t)
	t = time.Now()
	for i := range a {
		a[i] = b[i] + s*c[i]
	}
	d[3] = time.Since(t)
	return d
}

// streamArrays is how many arrays STREAM allocates.
const streamArrays = 3

// streamMinArray is the smallest array PlanStream sizes by default, however
// little memory there is.
const streamMinArray = 1 << 20

// StreamPlan is how big the memory workload makes each of its three
// arrays, and what the figures then mean.
type StreamPlan struct {
	ArrayBytes uint64
	// RuleBytes is STREAM's rule, 4 × the last-level cache (the fallback
	// LLC when it is unknown): smaller arrays are partly served by the cache.
	RuleBytes uint64
	Warnings  []string
}

// PlanStream sizes the memory workload's arrays for resources r. An
// explicit size (sizeMiB > 0) is taken as it is unless the three arrays do
// not fit in r.Usable(), which is an error; by default each array is
// STREAM's 4 × LLC, lowered so that the three together stay within
// r.Budget(). Whenever the arrays end up below STREAM's rule, or an explicit
// size takes more than the budget, the plan says so in Warnings.
func PlanStream(r Resources, sizeMiB int) (StreamPlan, error) {
	llc := r.LLCBytes
	if llc == 0 {
		llc = fallbackLLC
	}
	plan := StreamPlan{RuleBytes: 4 * llc}
	budget := r.Budget()
	if sizeMiB > 0 {
		// An explicit size is the user's: the scenario loader refuses
		// files whose sizes cannot fit the runtime's memory_mib, and a
		// request that still does not fit (someone studying OOM kills)
		// runs as asked, with the warning.
		plan.ArrayBytes = uint64(sizeMiB) << 20
		total := streamArrays * plan.ArrayBytes
		switch usable := r.Usable(); {
		case usable > 0 && total > usable:
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("%d arrays × %d MiB = %d MiB do not fit in the %d MiB this instance can use (%s): expect the instance to be OOM-killed",
				streamArrays, sizeMiB, total>>20, usable>>20, r.describeMemory()))
		case budget > 0 && total > budget:
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("%d arrays × %d MiB = %d MiB take more than %.0f%% of the %d MiB this instance can use: the run may swap or be OOM-killed",
				streamArrays, sizeMiB, total>>20, MemoryHeadroom*100, r.Usable()>>20))
		}
	} else {
		plan.ArrayBytes = plan.RuleBytes
		if budget > 0 && streamArrays*plan.ArrayBytes > budget {
			plan.ArrayBytes = max(budget/streamArrays&^(streamMinArray-1), streamMinArray)
			plan.Warnings = append(plan.Warnings, fmt.Sprintf("arrays sized %d MiB each to keep %d of them within %.0f%% of the %d MiB this instance can use (%s)",
				plan.ArrayBytes>>20, streamArrays, MemoryHeadroom*100, r.Usable()>>20, r.describeMemory()))
		}
		if budget == 0 {
			plan.Warnings = append(plan.Warnings, "usable memory unknown: arrays sized by STREAM's rule alone")
		}
	}
	if plan.ArrayBytes < plan.RuleBytes {
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("arrays (%d bytes) are smaller than 4x the last-level cache (%d bytes): figures include cache hits", plan.ArrayBytes, llc))
	}
	return plan, nil
}

// describeMemory says where Usable comes from, for messages.
func (r Resources) describeMemory() string {
	s := fmt.Sprintf("MemAvailable %d MiB", r.MemAvailable>>20)
	if r.CgroupLimit > 0 {
		s += fmt.Sprintf(", cgroup limit %d MiB with %d MiB used", r.CgroupLimit>>20, r.CgroupUsage>>20)
	}
	return s
}

func runMemory(ctx context.Context, p Params, r Resources) (*Result, error) {
	plan, err := PlanStream(r, p.SizeMiB)
	if err != nil {
		return nil, err
	}
	size := int(plan.ArrayBytes)
	n := size / 8
	a, b, c := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range a {
		a[i], b[i], c[i] = 1, 2, 0
	}
	passes := orDefault(p.Iterations, DefaultMemoryPasses)
	best := [4]time.Duration{}
	for pass := 0; pass < passes; pass++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d := StreamKernels(a, b, c)
		for i := range d {
			if best[i] == 0 || d[i] < best[i] {
				best[i] = d[i]
			}
		}
	}
	// Bytes moved per kernel, as STREAM counts them.
	moved := [4]float64{2, 2, 3, 3}
	names := [4]string{"copy", "scale", "add", "triad"}
	res := &Result{Notes: map[string]string{
		"array_bytes": fmt.Sprint(size),
		"llc_bytes":   fmt.Sprint(plan.RuleBytes / 4),
		"llc_known":   fmt.Sprint(r.LLCBytes > 0),
		"passes":      fmt.Sprint(passes),
	}, Warnings: plan.Warnings}
	r.notes(res.Notes)
	for i := range names {
		res.Metrics = append(res.Metrics, higher(names[i], UnitBytesPerSecond, moved[i]*float64(size)/best[i].Seconds()))
	}
	return res, nil
}
