package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vcbench/report"
)

// TestCalibrateRunWritesFile: calibrate's second half (after the run)
// writes calibration.json beside run.json and prints the table.
func TestCalibrateRunWritesFile(t *testing.T) {
	dir := writeRunDir(t, t.TempDir(), cpuInfo("cal"), 20, 100)
	var out bytes.Buffer
	if err := calibrateRun(&out, dir, report.CalibrateOptions{Resamples: 50}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, report.CalibrationFile)
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	c, err := report.ReadCalibration(path)
	if err != nil || len(c.Metrics) != 2 || c.Metrics[0].N != 10 || c.Resamples != 50 {
		t.Fatalf("calibration %+v (%v), want 2 metrics with n=10", c, err)
	}
	for _, want := range []string{"cpu/single_thread/native", "false alarms", "MDE 90%", "calibration: " + path} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestCalibrateCmdFlags: the command is registered with its flags, and
// rejects fewer than 2 trials per group before running anything.
func TestCalibrateCmdFlags(t *testing.T) {
	cmd, _, err := newRootCmd().Find([]string{"calibrate"})
	if err != nil || cmd.Name() != "calibrate" {
		t.Fatalf("calibrate not registered: %v", err)
	}
	for _, f := range []string{"runtime", "trials", "out", "resamples", "seed", "accel"} {
		if cmd.Flags().Lookup(f) == nil {
			t.Errorf("no --%s", f)
		}
	}
	c := newCalibrateCmd()
	c.SetArgs([]string{"--trials", "1", "cpu"})
	c.SetOut(&bytes.Buffer{})
	c.SetErr(&bytes.Buffer{})
	c.SilenceUsage, c.SilenceErrors = true, true
	if err := c.Execute(); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("--trials 1: %v, want an error", err)
	}
}
