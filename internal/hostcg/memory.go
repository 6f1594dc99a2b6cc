package hostcg

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Memory reads a group's memory usage and its peak in bytes, as
// cgroup_usage and cgroup_peak: memory.usage_in_bytes and
// memory.max_usage_in_bytes on v1, memory.current and memory.peak on v2.
// Peak is left out where the kernel has none (cgroup2 before Linux 5.19).
// vcbench's own containers and the engines' are read the same way.
func Memory(dir string, v2 bool) (map[string]float64, error) {
	cur, peak := "memory.usage_in_bytes", "memory.max_usage_in_bytes"
	if v2 {
		cur, peak = "memory.current", "memory.peak"
	}
	u, err := readUint(filepath.Join(dir, cur))
	if err != nil {
		return nil, fmt.Errorf("read cgroup memory: %w", err)
	}
	out := map[string]float64{"cgroup_usage": float64(u)}
	if p, err := readUint(filepath.Join(dir, peak)); err == nil {
		out["cgroup_peak"] = float64(p)
	}
	return out, nil
}

// OOMKills counts the processes the kernel's OOM killer killed in a group:
// oom_kill in memory.oom_control on v1, in memory.events on v2.
func OOMKills(dir string, v2 bool) (uint64, error) {
	f := "memory.oom_control"
	if v2 {
		f = "memory.events"
	}
	return readKey(filepath.Join(dir, f), "oom_kill")
}

// readUint reads a file holding one number, "max" reading as 0.
func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKey reads key's number from a flat-keyed file ("key value" lines).
func readKey(path, key string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}
