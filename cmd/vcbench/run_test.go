package main

import (
	"strings"
	"testing"

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
