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

func runMemory(ctx context.Context, p Params) (*Result, error) {
	llc, known := LastLevelCache()
	if !known {
		llc = fallbackLLC
	}
	size := 4 * llc
	if p.SizeMiB > 0 {
		size = p.SizeMiB << 20
	}
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
		"llc_bytes":   fmt.Sprint(llc),
		"llc_known":   fmt.Sprint(known),
		"passes":      fmt.Sprint(passes),
	}}
	if p.SizeMiB > 0 && size < 4*llc {
		res.Notes["warning"] = fmt.Sprintf("arrays (%d bytes) are smaller than 4x the last-level cache (%d bytes): figures include cache hits", size, llc)
	}
	for i := range names {
		res.Metrics = append(res.Metrics, higher(names[i], UnitBytesPerSecond, moved[i]*float64(size)/best[i].Seconds()))
	}
	return res, nil
}
