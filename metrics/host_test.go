package metrics

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"vcbench/internal/procfs"
)

func TestHostUsedFrom(t *testing.T) {
	full := map[string]uint64{
		"MemTotal": 1 << 40, "MemFree": 1 << 39, "Cached": 1 << 38, // not counted
		"AnonPages": 1000, "Shmem": 200, "PageTables": 30, "SecPageTables": 4,
		"KernelStack": 50, "SUnreclaim": 600, "Percpu": 7,
	}
	without := func(keys ...string) map[string]uint64 {
		m := map[string]uint64{}
		for k, v := range full {
			m[k] = v
		}
		for _, k := range keys {
			delete(m, k)
		}
		return m
	}
	for _, c := range []struct {
		name    string
		meminfo map[string]uint64
		want    uint64
		err     string
	}{
		{"all counters", full, 1891, ""},
		{"older kernel without SecPageTables and Percpu", without("SecPageTables", "Percpu"), 1880, ""},
		{"no AnonPages", without("AnonPages"), 0, "/proc/meminfo has no AnonPages"},
		{"no SUnreclaim", without("SUnreclaim"), 0, "/proc/meminfo has no SUnreclaim"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := hostUsedFrom(c.meminfo)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("hostUsedFrom = %d, %v; want %d", got, err, c.want)
			}
		})
	}
}

// TestHostUsedReadsThisHost checks the real /proc/meminfo: the sum is
// positive and below MemTotal.
func TestHostUsedReadsThisHost(t *testing.T) {
	used, err := HostUsed()
	if err != nil {
		t.Fatal(err)
	}
	m, err := procfs.Meminfo()
	if err != nil {
		t.Fatal(err)
	}
	if used == 0 || used >= m["MemTotal"] {
		t.Fatalf("HostUsed = %d, MemTotal %d", used, m["MemTotal"])
	}
}

func TestBusyFraction(t *testing.T) {
	//                    user nice sys idle iowait irq softirq steal
	a := []float64{10, 0, 5, 100, 2, 0, 0, 0}
	for _, c := range []struct {
		name string
		b    []float64
		want float64
	}{
		{"no time passed", a, 0},
		{"all idle", []float64{10, 0, 5, 110, 2, 0, 0, 0}, 0},
		{"iowait counts as idle", []float64{10, 0, 5, 105, 7, 0, 0, 0}, 0},
		{"all busy", []float64{14, 1, 8, 100, 2, 1, 1, 0}, 1},
		{"one quarter busy", []float64{11, 0, 5, 103, 2, 0, 0, 0}, 0.25},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := BusyFraction(a, c.b); got != c.want {
				t.Fatalf("BusyFraction = %v, want %v", got, c.want)
			}
		})
	}
}

// TestHostCPUTimesAdvance reads this host's CPU times twice around a spin
// of this process: the busy fraction is a ratio and some time passed.
func TestHostCPUTimesAdvance(t *testing.T) {
	a, err := HostCPUTimes()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(procfs.CPUModes) {
		t.Fatalf("%d modes, want %d", len(a), len(procfs.CPUModes))
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	b, err := HostCPUTimes()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for i := range a {
		total += b[i] - a[i]
	}
	if total <= 0 {
		t.Fatalf("no CPU time passed in 50 ms: %v → %v", a, b)
	}
	if f := BusyFraction(a, b); f <= 0 || f > 1 {
		t.Fatalf("BusyFraction = %v after a 50 ms spin, want (0, 1]", f)
	}
}

func TestDropPageCacheNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("as root DropPageCache really drops the host's caches")
	}
	if DropPageCache() {
		t.Fatal("DropPageCache reported success without root")
	}
}

func TestProcAlive(t *testing.T) {
	f, err := procfs.StatFields(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if !ProcAlive(os.Getpid(), start) {
		t.Error("this process is not alive")
	}
	if ProcAlive(os.Getpid(), start+1) {
		t.Error("a different start time (a reused pid) is alive")
	}
	if ProcAlive(0, 0) || ProcAlive(-1, 0) {
		t.Error("pid 0 or -1 is alive")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if ProcAlive(cmd.Process.Pid, 0) {
		t.Errorf("reaped child %d is alive", cmd.Process.Pid)
	}
}

// fakeKSM is a KSM sysfs directory with the given files.
func fakeKSM(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKSMSession drives a session on a fake sysfs directory whose
// counters a goroutine moves as the kernel would: it must set fast
// scanning, settle after two full scans with stable sharing, and restore
// the old settings exactly.
func TestKSMSession(t *testing.T) {
	old := map[string]string{"run": "0\n", "pages_to_scan": "100\n", "sleep_millisecs": "200\n"}
	files := map[string]string{"full_scans": "7\n", "pages_sharing": "0\n"}
	for f, v := range old {
		files[f] = v
	}
	dir := fakeKSM(t, files)
	s, err := KSM{Dir: dir, Poll: 5 * time.Millisecond}.Start()
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"run": "1", "pages_to_scan": "10000", "sleep_millisecs": "20"} {
		if got := readFile(t, filepath.Join(dir, f)); got != want {
			t.Errorf("%s = %q during the session, want %q", f, got, want)
		}
	}
	if n := s.FullScans(); n != 0 {
		t.Errorf("FullScans = %d right after Start, want 0", n)
	}
	// The "kernel": sharing grows to 512, then three full scans end. Until
	// they do, Settle must not settle however long sharing stays put.
	go func() {
		for _, v := range []string{"100", "300", "512"} {
			time.Sleep(20 * time.Millisecond)
			os.WriteFile(filepath.Join(dir, "pages_sharing"), []byte(v+"\n"), 0o644)
		}
		os.WriteFile(filepath.Join(dir, "full_scans"), []byte("10\n"), 0o644)
	}()
	settled, sharing := s.Settle(context.Background())
	if !settled || sharing != 512 {
		t.Fatalf("Settle = %v, %d; want true, 512", settled, sharing)
	}
	if n := s.FullScans(); n != 3 {
		t.Errorf("FullScans = %d, want 3", n)
	}
	if err := s.Restore(); err != nil {
		t.Fatal(err)
	}
	for f, want := range old {
		if got := readFile(t, filepath.Join(dir, f)); got != want {
			t.Errorf("%s = %q after Restore, want %q", f, got, want)
		}
	}
	if err := s.Restore(); err != nil {
		t.Errorf("second Restore: %v", err)
	}
}

// TestKSMSettleInterrupted checks that a cancelled context ends the wait
// unsettled.
func TestKSMSettleInterrupted(t *testing.T) {
	dir := fakeKSM(t, map[string]string{"run": "0", "pages_to_scan": "100", "sleep_millisecs": "200", "full_scans": "0", "pages_sharing": "0"})
	s, err := KSM{Dir: dir, Poll: 5 * time.Millisecond}.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Restore()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if settled, _ := s.Settle(ctx); settled {
		t.Fatal("settled without a full scan")
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("Settle took %s after its context ended", d)
	}
}

func TestKSMStartFails(t *testing.T) {
	t.Run("not available", func(t *testing.T) {
		_, err := KSM{Dir: filepath.Join(t.TempDir(), "none")}.Start()
		if err == nil || !strings.HasPrefix(err.Error(), "not available on this host (") {
			t.Fatalf("err = %v, want not available", err)
		}
	})
	t.Run("not writable restores what was set", func(t *testing.T) {
		dir := fakeKSM(t, map[string]string{"pages_to_scan": "100\n", "sleep_millisecs": "200\n"})
		// A file that reads but that no one, root included, can write.
		if err := os.Symlink("/proc/self/stat", filepath.Join(dir, "run")); err != nil {
			t.Fatal(err)
		}
		_, err := KSM{Dir: dir}.Start()
		if err == nil || !strings.HasPrefix(err.Error(), "could not set run: ") {
			t.Fatalf("err = %v, want could not set run", err)
		}
		for f, want := range map[string]string{"pages_to_scan": "100\n", "sleep_millisecs": "200\n"} {
			if got := readFile(t, filepath.Join(dir, f)); got != want {
				t.Errorf("%s = %q after a failed Start, want %q", f, got, want)
			}
		}
	})
}

// TestCgroupUsedFrom reads recorded memory.stat files: cgroup v1 (this
// project's development host, Linux 6.18, memory hierarchy) and cgroup2
// (a Debian 12 cgroup on Linux 6.1, as its OOM report printed it).
func TestCgroupUsedFrom(t *testing.T) {
	for _, c := range []struct {
		file string
		kmem uint64
		want uint64
	}{
		{"testdata/memory.stat.v1", 23973888, 2310144 + 0 + 23973888},
		{"testdata/memory.stat.v2", 0, 20705280 + 0 + 81920 + 0 + 16384 + 18752 + 0},
	} {
		f, err := os.Open(c.file)
		if err != nil {
			t.Fatal(err)
		}
		stat, err := parseMemoryStat(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		got, err := cgroupUsedFrom(stat, c.kmem)
		if err != nil || got != c.want {
			t.Errorf("%s: %d, %v; want %d", c.file, got, err, c.want)
		}
	}
	if _, err := cgroupUsedFrom(map[string]uint64{"cache": 1}, 0); err == nil {
		t.Error("a memory.stat of neither kind was accepted")
	}
	if _, err := parseMemoryStat(strings.NewReader("anon x\n")); err == nil {
		t.Error("a non-number was accepted")
	}
}

// TestCgroupUsedMissing: a cgroup that does not exist (yet) holds nothing;
// HostUsed follows UsedCgroupEnv.
func TestCgroupUsedMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vcbench")
	if n, err := CgroupUsed(dir); n != 0 || err != nil {
		t.Errorf("CgroupUsed(missing) = %d, %v", n, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := CgroupUsed(dir); err == nil {
		t.Error("a directory without memory.stat was read as a cgroup")
	}
	b, _ := os.ReadFile("testdata/memory.stat.v2")
	os.WriteFile(filepath.Join(dir, "memory.stat"), b, 0o644)
	t.Setenv(UsedCgroupEnv, dir)
	if n, err := HostUsed(); err != nil || n != 20705280+81920+16384+18752 {
		t.Errorf("HostUsed with %s=%s: %d, %v", UsedCgroupEnv, dir, n, err)
	}
}

func FuzzParseMemoryStat(f *testing.F) {
	for _, p := range []string{"testdata/memory.stat.v1", "testdata/memory.stat.v2"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		stat, err := parseMemoryStat(bytes.NewReader(b))
		if err == nil {
			cgroupUsedFrom(stat, 0)
		}
	})
}
