package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vcbench/state"
)

func TestStoreRoundTrip(t *testing.T) {
	root := t.TempDir()
	s, err := Create(root, RunInfo{RunID: "r1", PID: os.Getpid(), Scenario: "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{
		{Scenario: "x", Runtime: "native", Workload: "startup", Metric: "ready", Unit: "seconds", Better: "lower", Trial: 0, Value: 0.01},
		{Scenario: "x", Runtime: "vm", Workload: "cpu", Metric: "single_thread", Unit: "ops_per_second", Better: "higher", Trial: 1, Value: 12345, Labels: map[string]string{"accel": "tcg"}},
	}
	if err := s.Append(want...); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
	run, err := ReadRun(filepath.Join(root, "r1"))
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != StatusComplete || run.Info.End == nil {
		t.Errorf("status %q end %v", run.Info.Status, run.Info.End)
	}
	if len(run.Samples) != 2 || run.Samples[1].Labels["accel"] != "tcg" || run.Samples[1].Value != 12345 {
		t.Errorf("samples = %+v", run.Samples)
	}
	if _, err := Create(root, RunInfo{RunID: "r1"}); err == nil {
		t.Error("creating a run over an existing one should fail")
	}
}

func TestReadSamplesTornLine(t *testing.T) {
	good := `{"scenario":"x","runtime":"n","workload":"cpu","metric":"m","unit":"u","better":"higher","trial":0,"value":1}` + "\n"
	cases := []struct {
		name    string
		text    string
		n, skip int
		err     string
	}{
		{"clean", good + good, 2, 0, ""},
		{"torn last", good + good + `{"scenario":"x","run`, 2, 1, ""},
		{"bad middle", good + "garbage\n" + good, 0, 0, "line 2 is not a JSON sample"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, skipped, err := ReadSamples(strings.NewReader(c.text))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || len(got) != c.n || skipped != c.skip {
				t.Errorf("got %d samples, %d skipped, err %v", len(got), skipped, err)
			}
		})
	}
}

// TestKilledWriterKeepsValidLines kills a process that appends samples as
// fast as it can and checks that every line on disk is valid JSON and that
// the run reads back as interrupted.
func TestKilledWriterKeepsValidLines(t *testing.T) {
	if os.Getenv("VCBENCH_WRITER_CHILD") != "" {
		self, _ := state.ProcOf(os.Getpid())
		s, err := Create(os.Getenv("VCBENCH_WRITER_ROOT"), RunInfo{RunID: "killed", PID: self.Pid, PIDStart: self.StartTime})
		if err != nil {
			os.Exit(2)
		}
		for i := 0; ; i++ {
			s.Append(Sample{Scenario: "x", Runtime: "native", Workload: "cpu", Metric: "m", Unit: "ops_per_second", Better: "higher", Trial: i, Value: float64(i)})
		}
	}
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterKeepsValidLines$")
	cmd.Env = append(os.Environ(), "VCBENCH_WRITER_CHILD=1", "VCBENCH_WRITER_ROOT="+root)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join(root, "killed", "samples.jsonl")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(samples); err == nil && st.Size() > 20000 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	run, err := ReadRun(filepath.Join(root, "killed"))
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Samples) < 50 {
		t.Fatalf("only %d samples written before the kill", len(run.Samples))
	}
	if run.Skipped != 0 {
		t.Errorf("%d torn lines: each sample should be one write", run.Skipped)
	}
	for i, s := range run.Samples {
		if s.Trial != i {
			t.Fatalf("sample %d has trial %d: lines lost or reordered", i, s.Trial)
		}
	}
	if run.Info.Status != StatusInterrupted {
		t.Errorf("status %q, want interrupted for a dead writer", run.Info.Status)
	}
}

// TestCreateAbsolute: a relative --out must not leak into paths handed to
// crun, runc or QEMU, which run in other working directories.
func TestCreateAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := Create("results", RunInfo{RunID: "rel"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Finish(StatusComplete, "")
	if !filepath.IsAbs(s.Dir) || !filepath.IsAbs(s.RawDir()) {
		t.Errorf("run dir %q is relative", s.Dir)
	}
}
