package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"vcbench/internal/procfs"
)

// Host-wide readers and controls for the density sweep: figures of the whole
// machine (used memory, CPU busy time) rather than of one instance, and the
// kernel's same-page merging.

// DropPageCache asks the kernel to drop clean caches (root only) so that
// readings reflect instances, not file I/O. It reports whether it did.
func DropPageCache() bool {
	if os.Geteuid() != 0 {
		return false
	}
	unix.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0) == nil
}

// hostUsedCounters are the kernel's global counters of memory that no
// cache drop gives back: anonymous and shmem pages, page tables, kernel
// stacks, unreclaimable slab and per-CPU allocations.
var hostUsedCounters = []string{"AnonPages", "Shmem", "PageTables", "SecPageTables", "KernelStack", "SUnreclaim", "Percpu"}

// HostUsed sums hostUsedCounters of /proc/meminfo, in bytes. It is measured
// apart from the per-instance figures (global counters, not per-process PSS
// or cgroup charges) and includes the kernel memory those miss. MemFree and
// MemAvailable are not used: on recent kernels freed pages linger in
// per-CPU lists that MemFree does not count (one TCG VM here took 162 MiB
// of AnonPages while MemFree fell by 72 MiB), and MemAvailable adds a
// guess about reclaimable page cache.
//
// With UsedCgroupEnv set, it counts only what is charged to that cgroup
// (see CgroupUsed).
func HostUsed() (uint64, error) {
	if dir := os.Getenv(UsedCgroupEnv); dir != "" {
		return CgroupUsed(dir)
	}
	m, err := procfs.Meminfo()
	if err != nil {
		return 0, fmt.Errorf("host used memory: %w", err)
	}
	return hostUsedFrom(m)
}

// hostUsedFrom sums hostUsedCounters of meminfo's fields (in bytes).
func hostUsedFrom(meminfo map[string]uint64) (uint64, error) {
	var sum uint64
	for _, k := range hostUsedCounters {
		v, ok := meminfo[k]
		if !ok && (k == "SecPageTables" || k == "Percpu") {
			continue // newer counters; older kernels lack them
		}
		if !ok {
			return 0, fmt.Errorf("/proc/meminfo has no %s", k)
		}
		sum += v
	}
	return sum, nil
}

// UsedCgroupEnv names a memory cgroup directory (cgroup2, or cgroup v1's
// memory hierarchy) to which HostUsed is confined: it then counts the same
// kinds of memory as on the whole host, but only those charged to that
// cgroup and its descendants, which nothing outside it moves. The density
// accounting test sets it to a cgroup that holds vcbench and its
// instances (or, for containers, to the vcbench group their cgroups sit
// in), so that the rest of the machine does not move its verdict.
const UsedCgroupEnv = "VCBENCH_HOST_USED_CGROUP"

// cgroupUsedV2 are memory.stat's (cgroup2) counterparts of
// hostUsedCounters.
var cgroupUsedV2 = []string{"anon", "shmem", "pagetables", "sec_pagetables", "kernel_stack", "slab_unreclaimable", "percpu"}

// CgroupUsed is HostUsed for the memory charged to the cgroup at dir (its
// descendants included), in bytes; 0 when dir does not exist (yet). For
// cgroup2 it sums cgroupUsedV2 of memory.stat; for cgroup v1, whose
// memory.stat has no kernel counters, total_rss + total_shmem of
// memory.stat plus memory.kmem.usage_in_bytes.
func CgroupUsed(dir string) (uint64, error) {
	f, err := os.Open(filepath.Join(dir, "memory.stat"))
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(dir); errors.Is(serr, os.ErrNotExist) {
			return 0, nil
		}
	}
	if err != nil {
		return 0, fmt.Errorf("cgroup used memory: %w", err)
	}
	defer f.Close()
	stat, err := parseMemoryStat(f)
	if err != nil {
		return 0, fmt.Errorf("cgroup used memory: %s: %w", f.Name(), err)
	}
	var kmem uint64
	if _, v1 := stat["total_rss"]; v1 {
		b, err := os.ReadFile(filepath.Join(dir, "memory.kmem.usage_in_bytes"))
		if err == nil {
			kmem, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("cgroup used memory: kmem: %w", err)
		}
	}
	return cgroupUsedFrom(stat, kmem)
}

// parseMemoryStat reads a cgroup's memory.stat ("key value" lines).
func parseMemoryStat(r io.Reader) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("memory.stat %s: %w", k, err)
		}
		out[k] = n
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// cgroupUsedFrom sums a cgroup's unreclaimable memory from its memory.stat
// (cgroup2, or v1 with kmem its memory.kmem.usage_in_bytes).
func cgroupUsedFrom(stat map[string]uint64, kmem uint64) (uint64, error) {
	if _, v1 := stat["total_rss"]; v1 {
		return stat["total_rss"] + stat["total_shmem"] + kmem, nil
	}
	if _, v2 := stat["anon"]; !v2 {
		return 0, errors.New("memory.stat has neither anon (cgroup2) nor total_rss (cgroup v1)")
	}
	var sum uint64
	for _, k := range cgroupUsedV2 {
		sum += stat[k] // sec_pagetables, percpu: absent on older kernels
	}
	return sum, nil
}

// HostCPUTimes reads the host's CPU time per mode, in seconds summed over
// all CPUs (procfs.CPUModes names the entries). Two readings give
// BusyFraction.
func HostCPUTimes() ([]float64, error) {
	t, err := procfs.CPUTimes()
	if err != nil {
		return nil, fmt.Errorf("host cpu times: %w", err)
	}
	return t, nil
}

// BusyFraction is the fraction of all host CPUs' time that was not idle or
// iowait between two HostCPUTimes readings a and b; 0 when no time passed.
func BusyFraction(a, b []float64) float64 {
	var total, idle float64
	for i := range min(len(a), len(b)) {
		d := b[i] - a[i]
		total += d
		if i == 3 || i == 4 { // idle, iowait
			idle += d
		}
	}
	if total <= 0 {
		return 0
	}
	return 1 - idle/total
}

// KSMDir is where Linux exposes the controls and counters of KSM, its
// same-page merging.
const KSMDir = "/sys/kernel/mm/ksm"

// KSMSettleTimeout bounds KSMSession.Settle.
const KSMSettleTimeout = 90 * time.Second

// ksmFastScan are the settings of a KSM session: scan far faster than the
// default (100 pages every 20 ms), so that merging settles within the
// sweep's time, then run. They are written in this order.
var ksmFastScan = [][2]string{{"pages_to_scan", "10000"}, {"sleep_millisecs", "20"}, {"run", "1"}}

// KSM controls the kernel's same-page merging through the files of Dir.
type KSM struct {
	// Dir is the sysfs directory; empty means KSMDir.
	Dir string
	// Poll is how often Settle reads the counters; zero means 500 ms.
	Poll time.Duration
}

// KSMSession is KSM turned on with fast scanning, until Restore.
type KSMSession struct {
	dir    string
	poll   time.Duration
	scans0 int
	old    [][2]string // settings to write back, in order
}

// Start turns KSM on with fast scanning, remembering the previous
// settings for Restore. When a file cannot be read KSM is not available
// ("not available on this host (...)"); when one cannot be written
// ("could not set pages_to_scan: ...") the settings already changed are restored.
func (k KSM) Start() (*KSMSession, error) {
	s := &KSMSession{dir: k.Dir, poll: k.Poll}
	if s.dir == "" {
		s.dir = KSMDir
	}
	if s.poll <= 0 {
		s.poll = 500 * time.Millisecond
	}
	for _, kv := range ksmFastScan {
		f := filepath.Join(s.dir, kv[0])
		old, err := os.ReadFile(f)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("not available on this host (%w)", err), s.Restore())
		}
		if err := os.WriteFile(f, []byte(kv[1]), 0); err != nil {
			return nil, errors.Join(fmt.Errorf("could not set %s: %w", kv[0], err), s.Restore())
		}
		s.old = append([][2]string{{kv[0], string(old)}}, s.old...)
	}
	s.scans0 = s.read("full_scans")
	return s, nil
}

func (s *KSMSession) read(f string) int {
	b, _ := os.ReadFile(filepath.Join(s.dir, f))
	v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return v
}

// FullScans is how many full scans KSM made since Start.
func (s *KSMSession) FullScans() int { return s.read("full_scans") - s.scans0 }

// Settle waits, up to KSMSettleTimeout or ctx's end, until KSM has made two
// full scans since Start and pages_sharing stayed the same for two polls.
// It returns whether that happened and the last pages_sharing read (-1 if
// none was).
func (s *KSMSession) Settle(ctx context.Context) (settled bool, pagesSharing int) {
	last, stable := -1, 0
	deadline := time.Now().Add(KSMSettleTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(s.poll)
		v := s.read("pages_sharing")
		if v == last {
			stable++
		} else {
			stable = 0
		}
		last = v
		if s.FullScans() >= 2 && stable >= 2 {
			return true, last
		}
	}
	return false, last
}

// Restore writes back the settings Start changed, last changed first.
// It is idempotent.
func (s *KSMSession) Restore() error {
	var errs []error
	for _, kv := range s.old {
		if err := os.WriteFile(filepath.Join(s.dir, kv[0]), []byte(kv[1]), 0); err != nil {
			errs = append(errs, fmt.Errorf("restore ksm %s: %w", kv[0], err))
		}
	}
	s.old = nil
	return errors.Join(errs...)
}
