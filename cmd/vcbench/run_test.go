package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"vcbench/bench"
	"vcbench/scenarios"
)

// TestApplyOverrides: --trials and --accel meet the scenario loader's
// limits; --trials 0 is refused like -1, not taken as "not given".
func TestApplyOverrides(t *testing.T) {
	for _, c := range []struct {
		o    runOptions
		want string // error text, or "" for none
	}{
		{runOptions{trials: 0, trialsSet: true}, "--trials: 0 is below 1 (allowed: 1..10000)"},
		{runOptions{trials: -1, trialsSet: true}, "--trials: -1 is below 1 (allowed: 1..10000)"},
		{runOptions{trials: 10001, trialsSet: true}, "--trials: 10001 is above 10000 (allowed: 1..10000)"},
		{runOptions{accel: "hvf"}, `--accel: "hvf" is not allowed (allowed: auto, kvm, tcg)`},
		{runOptions{runtimes: []string{"docker"}}, `--runtime: "docker" is not in scenario quick`},
		{runOptions{trials: 5, trialsSet: true, accel: "tcg"}, ""},
		{runOptions{}, ""},
	} {
		s, err := scenarios.Open("quick")
		if err != nil {
			t.Fatal(err)
		}
		trials := s.Trials
		err = applyOverrides(s, &c.o)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.o, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want %q", c.o, err, c.want)
		case c.want == "" && c.o.trialsSet && s.Trials != c.o.trials:
			t.Errorf("%+v: trials %d", c.o, s.Trials)
		case c.want == "" && !c.o.trialsSet && s.Trials != trials:
			t.Errorf("%+v: trials changed to %d without --trials", c.o, s.Trials)
		}
		if c.o.accel == "tcg" && c.want == "" {
			for _, r := range s.Runtimes {
				if r.Kind == scenarios.VM && r.Accel != scenarios.AccelTCG {
					t.Errorf("--accel tcg: %s has accel %q", r.RuntimeName(), r.Accel)
				}
			}
		}
	}
}

// TestFinishRunUnwritable: when run.json cannot be written at the end (its
// directory is gone, as after an I/O error), the error says so plainly.
func TestFinishRunUnwritable(t *testing.T) {
	store, err := bench.Create(t.TempDir(), bench.RunInfo{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(store.Dir); err != nil {
		t.Fatal(err)
	}
	err = finishRun(store, bench.StatusFailed, "boom")
	if err == nil || !strings.HasPrefix(err.Error(), "cannot write run.json: write run.json: ") ||
		!strings.HasSuffix(err.Error(), "; the run directory is incomplete") {
		t.Errorf("finishRun = %v, want cannot write run.json ...; the run directory is incomplete", err)
	}
}

// TestRuntimeWarnings: one warning line per runtime with a gap, and exit
// status 3 only for a complete run in which some runtime failed every trial.
func TestRuntimeWarnings(t *testing.T) {
	info := bench.RunInfo{Runtimes: []bench.RuntimeInfo{
		{Name: "native", TrialsOK: 3},
		{Name: "container", TrialsOK: 3, Missing: []string{"memory"}, Errors: []string{"container trial 1/3: workload memory: EOF (killed by the kernel's OOM killer)"}},
		{Name: "vm", Missing: []string{"cpu"}, Errors: []string{"vm trial 1/3: start: no kvm"}},
		{Name: "crun", Skipped: "crun not found"},
	}}
	var buf bytes.Buffer
	if !runtimeWarnings(&buf, info, bench.StatusComplete) {
		t.Error("a runtime failed every trial, but no exit status 3")
	}
	want := `vcbench: warning: container has no sample of memory (1 error(s); first: container trial 1/3: workload memory: EOF (killed by the kernel's OOM killer))
vcbench: warning: vm failed every trial: no figures; first error: vm trial 1/3: start: no kvm
vcbench: warning: crun was skipped: crun not found
`
	if buf.String() != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", buf.String(), want)
	}
	info.Runtimes = info.Runtimes[:2]
	if runtimeWarnings(io.Discard, info, bench.StatusComplete) {
		t.Error("exit status 3 without a runtime that failed every trial")
	}
}
