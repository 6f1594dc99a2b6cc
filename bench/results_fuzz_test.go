package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// fuzzSampleLines seed both fuzz targets: lines as Store.Append writes
// them, a torn last line, a bad middle line and blank lines.
var fuzzSampleLines = []string{
	`{"scenario":"quick","runtime":"native","workload":"startup","metric":"ready","unit":"seconds","better":"lower","trial":0,"value":0.0037173}` + "\n" +
		`{"scenario":"quick","runtime":"vm","workload":"cpu","metric":"single_thread","unit":"ops_per_second","better":"higher","trial":1,"value":12345,"labels":{"accel":"tcg"}}` + "\n",
	`{"scenario":"x","runtime":"n","workload":"cpu","metric":"m","unit":"u","better":"higher","trial":0,"value":1}` + "\n" + `{"scenario":"x","run`,
	`{"scenario":"x","value":1}` + "\ngarbage\n" + `{"value":2e308}` + "\n",
	"\n  \n{}\nnull\n",
	"",
}

// reencode writes samples the way Store.Append does.
func reencode(t *testing.T, samples []Sample) []byte {
	var buf bytes.Buffer
	for _, s := range samples {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("sample %+v read back but cannot be written: %v", s, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// sameSamples compares samples, taking an empty label map as none (the
// encoding omits both).
func sameSamples(a, b []Sample) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if len(x.Labels) == 0 && len(y.Labels) == 0 {
			x.Labels, y.Labels = nil, nil
		}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

// checkSamples asserts what every accepted samples.jsonl must satisfy:
// at most one skipped line, no more samples than lines, finite values,
// and a round trip through Append's encoding that changes nothing.
func checkSamples(t *testing.T, text []byte, samples []Sample, skipped int) {
	if skipped < 0 || skipped > 1 {
		t.Errorf("skipped %d lines, want 0 or 1", skipped)
	}
	if lines := bytes.Count(text, []byte("\n")) + 1; len(samples)+skipped > lines {
		t.Errorf("%d samples and %d skipped from %d lines", len(samples), skipped, lines)
	}
	for _, s := range samples {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			t.Errorf("sample %+v has a non-finite value", s)
		}
	}
	again, skipped2, err := ReadSamples(bytes.NewReader(reencode(t, samples)))
	if err != nil || skipped2 != 0 || !sameSamples(samples, again) {
		t.Errorf("round trip: %d samples, %d skipped, err %v; want the %d read", len(again), skipped2, err, len(samples))
	}
}

// FuzzReadSamples feeds ReadSamples arbitrary samples.jsonl text.
func FuzzReadSamples(f *testing.F) {
	for _, s := range fuzzSampleLines {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		samples, skipped, err := ReadSamples(bytes.NewReader(text))
		if err != nil {
			if samples != nil || skipped != 0 {
				t.Errorf("%d samples, %d skipped with error %v", len(samples), skipped, err)
			}
			return
		}
		checkSamples(t, text, samples, skipped)
	})
}

// FuzzReadRun feeds ReadRun arbitrary run.json and samples.jsonl files.
// A run it accepts has the samples ReadSamples reads from the same text, a
// status that changed only from running to interrupted, and run.json
// contents that can be written back (cleanup does, to mark a dead run).
func FuzzReadRun(f *testing.F) {
	info, err := os.ReadFile(filepath.Join("..", "report", "testdata", "run-a", "run.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzSampleLines {
		f.Add(info, []byte(s))
	}
	f.Add([]byte(`{"run_id":"r","status":"running","pid":1,"pid_start_time":1,"start":"2025-03-14T09:26:53+05:00"}`), []byte(fuzzSampleLines[0]))
	f.Add([]byte(`{"status":"complete","end":null,"labels":{"a":""}}`), []byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, runJSON, text []byte) {
		if err := os.WriteFile(filepath.Join(dir, "run.json"), runJSON, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "samples.jsonl"), text, 0o644); err != nil {
			t.Fatal(err)
		}
		run, err := ReadRun(dir)
		if err != nil {
			if run != nil {
				t.Errorf("run returned with error %v", err)
			}
			return
		}
		if run.Dir != dir {
			t.Errorf("dir %q, want %q", run.Dir, dir)
		}
		samples, skipped, err := ReadSamples(bytes.NewReader(text))
		if err != nil || skipped != run.Skipped || !sameSamples(samples, run.Samples) {
			t.Errorf("run has %d samples (%d skipped), ReadSamples %d (%d skipped, err %v)", len(run.Samples), run.Skipped, len(samples), skipped, err)
		}
		checkSamples(t, text, run.Samples, run.Skipped)
		var orig RunInfo
		if err := json.Unmarshal(runJSON, &orig); err != nil {
			t.Fatalf("ReadRun accepted a run.json that does not decode: %v", err)
		}
		if got := run.Info.Status; got != orig.Status && !(orig.Status == StatusRunning && got == StatusInterrupted) {
			t.Errorf("status %q read back as %q", orig.Status, got)
		}
		b, err := json.Marshal(run.Info)
		if err != nil {
			t.Fatalf("run.json read back but cannot be written: %v", err)
		}
		var again RunInfo
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("run.json as written does not read back: %v", err)
		}
		if b2, _ := json.Marshal(again); !bytes.Equal(b, b2) {
			t.Errorf("run.json changes on a second round trip:\n%s\n%s", b, b2)
		}
	})
}
