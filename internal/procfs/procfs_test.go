package procfs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestParseMeminfo reads a recorded /proc/meminfo: kB values in bytes,
// unitless counts as they are, every field kept.
func TestParseMeminfo(t *testing.T) {
	m, err := ParseMeminfo(open(t, "meminfo"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{
		"MemTotal":        24683568 * 1024,
		"MemAvailable":    23363664 * 1024,
		"AnonPages":       784504 * 1024,
		"SecPageTables":   0,
		"Percpu":          1968 * 1024,
		"HugePages_Total": 0,
		"Hugepagesize":    2048 * 1024,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %d (present %v), want %d", k, got, ok, v)
		}
	}
	if len(m) != 54 {
		t.Errorf("%d fields, want the file's 54", len(m))
	}
	m, err = ParseMeminfo(strings.NewReader("MemTotal: 1 kB\nno colon\nEmpty:\nBad: x kB\nPlain: 7\n"))
	if err != nil || !reflect.DeepEqual(m, map[string]uint64{"MemTotal": 1024, "Plain": 7}) {
		t.Errorf("odd lines: %v, %v", m, err)
	}
}

// TestParseCPUTimes reads a recorded /proc/stat's first line in seconds.
func TestParseCPUTimes(t *testing.T) {
	got, err := ParseCPUTimes(open(t, "stat"))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1239.69, 1.77, 313.16, 514.07, 6.58, 0, 3.98, 1.52}
	if !reflect.DeepEqual(got, want) || len(got) != len(CPUModes) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 3 4 5 6 7\n", "cpu 1 2 3 x 5 6 7 8\n"} {
		if _, err := ParseCPUTimes(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := ParseCPUTimes(strings.NewReader("cpu 1 2 3 4 5 6 7 8")); err != nil {
		t.Errorf("a first line without a newline: %v", err)
	}
}

// TestParseStatFields reads recorded /proc/PID/stat files, one with a
// command name holding spaces and parentheses.
func TestParseStatFields(t *testing.T) {
	for _, c := range []struct {
		file, state, utime, start string
	}{
		{"pid-stat", "R", "0", "105341"},
		{"pid-stat-odd-comm", "S", "250", "123456"},
	} {
		f, err := ParseStatFields(open(t, c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if f[0] != c.state || f[11] != c.utime || f[19] != c.start {
			t.Errorf("%s: state %s utime %s start %s, want %s %s %s", c.file, f[0], f[11], f[19], c.state, c.utime, c.start)
		}
	}
	for bad, want := range map[string]string{"1 cat R 1": "no command name", "1 (cat) R 1 2 3": "4 fields"} {
		if _, err := ParseStatFields(strings.NewReader(bad)); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %q", bad, err, want)
		}
	}
}

// TestLive reads this machine's files through the same parsers.
func TestLive(t *testing.T) {
	if m, err := Meminfo(); err != nil || m["MemTotal"] == 0 {
		t.Errorf("Meminfo: MemTotal %d, %v", m["MemTotal"], err)
	}
	if c, err := CPUTimes(); err != nil || len(c) != 8 {
		t.Errorf("CPUTimes: %v, %v", c, err)
	}
	if f, err := StatFields(os.Getpid()); err != nil || f[0] == "Z" {
		t.Errorf("StatFields: %v, %v", f, err)
	}
	if _, err := StatFields(-1); err == nil {
		t.Error("StatFields(-1) read something")
	}
}
