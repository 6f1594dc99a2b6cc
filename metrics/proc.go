// Package metrics turns what vcbench measures into Prometheus's formats and
// back: host-side collectors (process and cgroup memory and CPU), scrapes of
// the agent's /metrics, the live exporter and the Pushgateway client.
package metrics

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// ProcMemory reads a process's resident memory from /proc/PID/smaps_rollup:
// "host_rss" and "host_pss" in bytes. PSS divides shared pages among their
// users, so it is the fair per-instance figure when many instances run.
// Where the kernel splits PSS (Linux 5.x and later) it adds
// "host_pss_anon": the anonymous and shmem part, what each extra instance
// really takes from the host's available memory. The file-backed rest
// (binaries, a mapped guest kernel) is page cache the host counts as
// available, shared by every instance.
func ProcMemory(pid int) (map[string]float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return nil, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	defer f.Close()
	out, err := ParseSmapsRollup(f)
	if err != nil {
		return nil, fmt.Errorf("smaps_rollup of pid %d: %w", pid, err)
	}
	return out, nil
}

// ParseSmapsRollup parses text in /proc/PID/smaps_rollup's format into
// ProcMemory's figures. It stays hand-written because prometheus/procfs's
// ProcSMapsRollup has no Pss_Anon or Pss_Shmem.
func ParseSmapsRollup(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name := map[string]string{"Rss": "host_rss", "Pss": "host_pss", "Pss_Anon": "anon", "Pss_Shmem": "shmem"}[k]
		if name == "" {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			return nil, fmt.Errorf("unexpected %q", sc.Text())
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return nil, err
		}
		out[name] = float64(n * 1024)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if _, ok := out["host_rss"]; !ok {
		return nil, errors.New("Rss missing")
	}
	if _, ok := out["host_pss"]; !ok {
		return nil, errors.New("Pss missing")
	}
	anon, hasAnon := out["anon"]
	shmem, hasShmem := out["shmem"]
	delete(out, "anon")
	delete(out, "shmem")
	if hasAnon && hasShmem {
		out["host_pss_anon"] = anon + shmem
	}
	return out, nil
}

// ProcCPUSeconds reads a process's user+system CPU time (with its waited-for
// children) from /proc/PID/stat.
func ProcCPUSeconds(pid int) (float64, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, fmt.Errorf("read cpu time of pid %d: %w", pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return 0, fmt.Errorf("read cpu time of pid %d: %w", pid, err)
	}
	return procStatCPUSeconds(st), nil
}

// procStatCPUSeconds is utime+stime+cutime+cstime in seconds.
func procStatCPUSeconds(st procfs.ProcStat) float64 {
	const userHZ = 100 // USER_HZ is 100 on every Linux ABI vcbench supports
	return (float64(st.UTime) + float64(st.STime) + float64(st.CUTime) + float64(st.CSTime)) / userHZ
}

// ProcAlive reports whether the process pid, started at startTime (field 22
// of /proc/PID/stat, in clock ticks since boot), still runs and is not a
// zombie. The start time tells it from a later process that reused the pid.
func ProcAlive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	p, err := procfs.NewProc(pid)
	if err != nil {
		return false
	}
	st, err := p.Stat()
	if err != nil || st.Starttime != startTime {
		return false
	}
	return st.State != "Z"
}
