package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records whether Require failed or skipped.
type recorder struct {
	testing.TB
	failed, skipped string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func require() *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Require(r, "needs %s", "crun")
	}()
	<-done
	return r
}

// TestRequire: with VCBENCH_REQUIRE=1 a missing prerequisite fails the
// test and says why; otherwise (unset, or any other value) it skips.
func TestRequire(t *testing.T) {
	for _, c := range []struct {
		env  string
		fail bool
	}{{"1", true}, {"", false}, {"0", false}, {"yes", false}} {
		t.Run("env="+c.env, func(t *testing.T) {
			t.Setenv(RequireEnv, c.env)
			r := require()
			switch {
			case c.fail && (r.failed == "" || r.skipped != ""):
				t.Errorf("failed %q skipped %q: want a failure", r.failed, r.skipped)
			case c.fail && !strings.Contains(r.failed, "needs crun") || c.fail && !strings.Contains(r.failed, RequireEnv+"=1"):
				t.Errorf("failure %q: want the reason and %s=1", r.failed, RequireEnv)
			case !c.fail && (r.skipped != "needs crun" || r.failed != ""):
				t.Errorf("failed %q skipped %q: want a skip", r.failed, r.skipped)
			}
		})
	}
}
