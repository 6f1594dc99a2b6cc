package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"vcbench/bench"
	"vcbench/report"
)

// TestCheckRegressionsNoSharedFigure: two runs with no figure in common
// must not pass --fail-on-regression as "no significant regression".
func TestCheckRegressionsNoSharedFigure(t *testing.T) {
	run := func(id, rt string) *bench.Run {
		r := &bench.Run{Info: bench.RunInfo{RunID: id, Scenario: "cpu", Status: bench.StatusComplete}}
		for i := 0; i < 5; i++ {
			r.Samples = append(r.Samples, bench.Sample{Scenario: "cpu", Runtime: rt, Workload: "cpu", Metric: "single_thread",
				Unit: "ops_per_second", Better: "higher", Trial: i, Value: 100 + float64(i)})
		}
		return r
	}
	var w bytes.Buffer
	rc := report.CompareRuns(run("a", "native"), run("b", "vm"))
	err := checkRegressions(&w, rc, 5)
	if err == nil || !strings.Contains(err.Error(), "share no figure") {
		t.Fatalf("checkRegressions of disjoint runs = %v, want a 'share no figure' error (printed %q)", err, w.String())
	}
	if !strings.Contains(strings.Join(rc.Notes, "\n"), "share no figure") {
		t.Errorf("comparison notes %q do not say that nothing was compared", rc.Notes)
	}
	rc = report.CompareRuns(run("a", "native"), run("b", "native"))
	if err := checkRegressions(&w, rc, 5); err != nil {
		t.Errorf("identical runs: %v, want no regression", err)
	}
}

// writeRunDir writes a complete run directory under root: one cpu figure
// per runtime, n trials around center.
func writeRunDir(t *testing.T, root string, info bench.RunInfo, n int, center float64) string {
	t.Helper()
	st, err := bench.Create(root, info)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		for _, rt := range info.Runtimes {
			v := center * (1 + 0.01*float64((i*7)%5-2))
			if err := st.Append(bench.Sample{Scenario: "cpu", Runtime: rt.Name, Workload: "cpu", Metric: "single_thread",
				Unit: "ops_per_second", Better: "higher", Trial: i, Value: v}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.Finish(bench.StatusComplete, ""); err != nil {
		t.Fatal(err)
	}
	return st.Dir
}

func runCompare(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := newCompareCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&o)
	cmd.SetErr(&e)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.Execute()
	return o.String(), e.String(), err
}

func cpuInfo(id string) bench.RunInfo {
	return bench.RunInfo{RunID: id, Scenario: "cpu",
		Host:        bench.Host{Hostname: "h", CPUModel: "Xeon", Cores: 2, MemBytes: 8 << 30, Kernel: "6.1.0 x86_64", OS: "Debian 12"},
		QEMUVersion: "QEMU emulator version 7.2.9",
		Runtimes: []bench.RuntimeInfo{{Name: "native", Kind: "native"},
			{Name: "vm", Kind: "vm", Settings: map[string]string{"accel": "kvm", "qemu_version": "7.2.9"}}}}
}

// TestCompareFingerprintRefused: runs of different setups exit 2 and name
// every differing field; --force compares them and keeps the differences
// as notes.
func TestCompareFingerprintRefused(t *testing.T) {
	root := t.TempDir()
	a := writeRunDir(t, root, cpuInfo("a"), 6, 100)
	other := cpuInfo("b")
	other.Host.Kernel = "6.12.0 x86_64"
	other.Host.Hostname = "h2"
	other.Runtimes[1].Settings = map[string]string{"accel": "tcg", "qemu_version": "7.2.9"}
	b := writeRunDir(t, root, other, 6, 100)
	out, errOut, err := runCompare(a, b)
	if code, ok := err.(exitCode); !ok || code != 2 {
		t.Fatalf("compare of different setups: err %v, want exit status 2 (stdout %q)", err, out)
	}
	for _, want := range []string{`kernel: "6.1.0 x86_64" vs "6.12.0 x86_64"`, `vm accel: "kvm" vs "tcg"`, "--force"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "hostname") || out != "" {
		t.Errorf("hostname listed, or a table printed:\nstderr %s\nstdout %s", errOut, out)
	}
	out, _, err = runCompare("--force", a, b)
	if err != nil || !strings.Contains(out, `note: setup differs: vm accel: "kvm" vs "tcg"`) {
		t.Errorf("--force: err %v, output lacks the setup note:\n%s", err, out)
	}
	// The same setup on another host name compares.
	same := cpuInfo("c")
	same.Host.Hostname = "h3"
	c := writeRunDir(t, root, same, 6, 100)
	if out, errOut, err := runCompare(a, c); err != nil || !strings.Contains(out, "0 called of 2 tested; 0.1 expected by chance") {
		t.Errorf("same setup: err %v\nstdout %s\nstderr %s", err, out, errOut)
	}
}

// TestCompareCalibrationAndMinEffect: a calibration.json in a run directory
// sets the floors; --min-effect sets the default one.
func TestCompareCalibrationAndMinEffect(t *testing.T) {
	root := t.TempDir()
	a := writeRunDir(t, root, cpuInfo("a"), 10, 100)
	b := writeRunDir(t, root, cpuInfo("b"), 10, 104) // +4%
	out, _, err := runCompare(a, b)
	if err != nil || !strings.Contains(out, "2 called of 2 tested") || !strings.Contains(out, "(better)") {
		t.Fatalf("+4%% at the 2%% default: err %v\n%s", err, out)
	}
	out, _, err = runCompare("--min-effect", "5", a, b)
	if err != nil || !strings.Contains(out, "0 called of 2 tested") || !strings.Contains(out, "~ (below noise floor 5.0%)") {
		t.Errorf("--min-effect 5: err %v\n%s", err, out)
	}
	cal := &report.Calibration{RunID: "cal", Metrics: []report.MetricCalibration{
		{Runtime: "native", Workload: "cpu", Metric: "single_thread", N: 10, MDE90: 0.06}}}
	path, err := report.WriteCalibration(b, cal)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = runCompare("--format", "json", a, b)
	if err != nil || !strings.Contains(out, `"calibration": "`+path+`"`) || !strings.Contains(out, `"called": 1,`) {
		t.Errorf("calibration found in NEW_RUN_DIR: err %v\n%s", err, out)
	}
	if _, _, err := runCompare("--calibration", filepath.Join(root, "missing.json"), a, b); err == nil {
		t.Error("a missing --calibration file is not an error")
	}
	if _, _, err := runCompare("--min-effect", "-1", a, b); err == nil {
		t.Error("--min-effect -1 accepted")
	}
	// --fail-on-regression counts called rows only: a 4% drop under a 5%
	// floor passes.
	var errOut string
	_, errOut, err = runCompare("--min-effect", "5", "--fail-on-regression", "1", b, a)
	if err != nil || !strings.Contains(errOut, "no regression above 1% called") {
		t.Errorf("4%% drop under a 5%% floor: err %v, stderr %q", err, errOut)
	}
	if _, _, err = runCompare("--fail-on-regression", "1", b, a); err == nil {
		t.Error("4% drop above the 2% floor passed --fail-on-regression 1")
	}
}
