package vm

import (
	"sync"
	"time"
)

func rdtsc() uint64

var (
	tscOnce sync.Once
	tscKHz  uint64
)

// hostTSCkHz measures the host's TSC frequency against the monotonic clock
// (once, over 20 ms). Under TCG the guest's RDTSC reads the host's TSC, so
// handing this to the guest kernel as tsc_early_khz spares it the PIT
// calibration that, under TCG's irregular timing, sometimes fails ("Unable
// to calibrate against PIT") and then hangs the boot.
func hostTSCkHz() uint64 {
	tscOnce.Do(func() {
		t0, c0 := time.Now(), rdtsc()
		time.Sleep(20 * time.Millisecond)
		c1, t1 := rdtsc(), time.Now()
		if ns := t1.Sub(t0).Nanoseconds(); ns > 0 && c1 > c0 {
			tscKHz = (c1 - c0) * 1e6 / uint64(ns)
		}
	})
	return tscKHz
}
