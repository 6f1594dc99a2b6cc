package hostcg

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemoryAndOOMKills(t *testing.T) {
	write := func(dir, name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v2 := t.TempDir()
	write(v2, "memory.current", "4096\n")
	write(v2, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
	v1 := t.TempDir()
	write(v1, "memory.usage_in_bytes", "8192\n")
	write(v1, "memory.max_usage_in_bytes", "16384\n")
	write(v1, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
	for _, c := range []struct {
		dir        string
		v2         bool
		usage, oom uint64
		peak       bool
	}{{v2, true, 4096, 2, false}, {v1, false, 8192, 1, true}} {
		m, err := Memory(c.dir, c.v2)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m["cgroup_peak"]; m["cgroup_usage"] != float64(c.usage) || ok != c.peak {
			t.Errorf("v2=%v: memory %v", c.v2, m)
		}
		if n, err := OOMKills(c.dir, c.v2); err != nil || n != c.oom {
			t.Errorf("v2=%v: oom kills %d, %v", c.v2, n, err)
		}
	}
	if _, err := Memory(t.TempDir(), true); err == nil {
		t.Error("memory of an empty dir")
	}
}
