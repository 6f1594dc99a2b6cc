// Package procfs reads the few /proc files that both the agent (inside an
// instance) and the harness (on the host) need.
package procfs

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Meminfo returns /proc/meminfo's fields in bytes (kB values converted).
func Meminfo() (map[string]uint64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n *= 1024
		}
		out[k] = n
	}
	return out, sc.Err()
}

// CPUTimes returns the first line of /proc/stat (all CPUs) as seconds per
// mode: user nice system idle iowait irq softirq steal, in that order.
func CPUTimes() ([]float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return nil, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	const userHZ = 100 // USER_HZ is 100 on every Linux ABI vcbench runs on
	out := make([]float64, 8)
	for i := range out {
		v, err := strconv.ParseFloat(f[i+1], 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/stat: %w", err)
		}
		out[i] = v / userHZ
	}
	return out, nil
}

// CPUModes names the entries of CPUTimes.
var CPUModes = []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}

// StatFields returns the fields of /proc/PID/stat after the command name
// (which may hold spaces and parentheses, so it ends at the last ')'):
// index 0 is the state, 11 and 12 utime and stime, 19 the start time.
func StatFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}
