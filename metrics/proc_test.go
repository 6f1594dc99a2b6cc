package metrics

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
)

// TestParseSmapsRollup reads recorded smaps_rollup files: a kernel that
// splits PSS (host_pss_anon = Pss_Anon + Pss_Shmem), one that does not
// (Linux 4.19: no host_pss_anon), and malformed ones.
func TestParseSmapsRollup(t *testing.T) {
	cases := []struct {
		file    string
		want    map[string]float64
		wantErr string
	}{
		{file: "smaps_rollup", want: map[string]float64{"host_rss": 2208 * 1024, "host_pss": 677 * 1024, "host_pss_anon": 164 * 1024}},
		{file: "smaps_rollup-4.19", want: map[string]float64{"host_rss": 13140 * 1024, "host_pss": 9526 * 1024}},
		{file: "smaps_rollup-bad-unit", wantErr: `unexpected "Pss: 12 MB"`},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ParseSmapsRollup(f)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
	for text, want := range map[string]string{
		"Pss: 1 kB\n":              "Rss missing",
		"Rss: 1 kB\n":              "Pss missing",
		"Rss: x kB\nPss: 1 kB\n":   `strconv.ParseUint: parsing "x": invalid syntax`,
		"Rss: 1 2 kB\nPss: 1 kB\n": `unexpected "Rss: 1 2 kB"`,
	} {
		if _, err := ParseSmapsRollup(strings.NewReader(text)); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %q", text, err, want)
		}
	}
}

// TestProcCPUSeconds sums utime, stime, cutime and cstime of a recorded
// /proc/PID/stat whose command name holds spaces and parentheses, read
// through prometheus/procfs as ProcCPUSeconds does, and of this process.
func TestProcCPUSeconds(t *testing.T) {
	fs, err := procfs.NewFS(filepath.Join("testdata", "proc"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := fs.Proc(4242)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := procStatCPUSeconds(st), (250+75+30+10)/100.0; got != want {
		t.Errorf("cpu seconds %v, want %v", got, want)
	}
	if s, err := ProcCPUSeconds(os.Getpid()); err != nil || s < 0 {
		t.Errorf("this process: %v, %v", s, err)
	}
	if _, err := ProcCPUSeconds(-1); err == nil || !strings.Contains(err.Error(), "read cpu time of pid -1") {
		t.Errorf("pid -1: error %v", err)
	}
}
