// Package procfs reads the few /proc files that both the agent (inside an
// instance) and the harness (on the host) need, where
// github.com/prometheus/procfs does not fit: a map of every meminfo field
// (procfs's parser fails on a line it does not expect), the first line of
// /proc/stat alone, and the raw fields of /proc/PID/stat.
package procfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
	return ParseMeminfo(f)
}

// ParseMeminfo parses text in /proc/meminfo's format into its fields in
// bytes (kB values converted). Lines without a number are skipped.
func ParseMeminfo(r io.Reader) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(r)
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
	f, err := os.Open("/proc/stat")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseCPUTimes(f)
}

// ParseCPUTimes parses the first line of text in /proc/stat's format, as
// CPUTimes describes.
func ParseCPUTimes(r io.Reader) ([]float64, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\n")
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
	f, err := os.Open(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fields, err := ParseStatFields(f)
	if err != nil {
		return nil, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return fields, nil
}

// ParseStatFields parses text in /proc/PID/stat's format, as StatFields
// describes.
func ParseStatFields(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, errors.New("no command name")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("%d fields", len(f))
	}
	return f, nil
}
