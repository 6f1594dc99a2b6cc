// Package testenv gives integration tests the real vcbench and agent
// binaries: the ones `make` built ($VCBENCH_BIN) or fresh builds.
package testenv

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"vcbench/agent/proto"
)

// Binaries returns the paths of vcbench and vcbench-agent. With
// $VCBENCH_BIN set (make test sets it) it uses the binaries there;
// otherwise it builds both into a temp dir, the agent static as in images.
func Binaries(t testing.TB) (vcbench, agent string) {
	t.Helper()
	if dir := os.Getenv("VCBENCH_BIN"); dir != "" {
		v, a := filepath.Join(dir, "vcbench"), filepath.Join(dir, "vcbench-agent")
		if _, err := os.Stat(v); err == nil {
			if _, err := os.Stat(a); err == nil {
				return v, a
			}
		}
	}
	dir := t.TempDir()
	vcbench, agent = filepath.Join(dir, "vcbench"), filepath.Join(dir, "vcbench-agent")
	if out, err := exec.Command("go", "build", "-o", vcbench, "vcbench/cmd/vcbench").CombinedOutput(); err != nil {
		t.Fatalf("build vcbench: %v\n%s", err, out)
	}
	build := exec.Command("go", "build", "-o", agent, "vcbench/cmd/vcbench-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, out)
	}
	return vcbench, agent
}

// Info asks the agent at addr (host:port) what it sees, failing the test
// on any error.
func Info(t testing.TB, addr string) proto.Info {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + addr + proto.PathInfo)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s at %s: %s", proto.PathInfo, addr, resp.Status)
	}
	var in proto.Info
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil {
		t.Fatalf("decode %s at %s: %v", proto.PathInfo, addr, err)
	}
	return in
}

// RequireEnv is the environment variable that turns a missing test
// prerequisite into a failure: `make test` (and so CI) sets it to 1, on a
// machine that `make deps` prepared, where every prerequisite should be
// there and a skip would hide that a test never ran.
const RequireEnv = "VCBENCH_REQUIRE"

// Required reports whether RequireEnv asks for every prerequisite.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Require reports that a prerequisite of the test (root, a binary, an
// image, a built kernel) is missing: it fails the test when RequireEnv is 1
// and skips it otherwise. Conditions under which a test has nothing to
// check (-short, an opt-in benchmark, a host where the case cannot arise)
// are not missing prerequisites: those call t.Skip.
func Require(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("missing prerequisite ("+RequireEnv+"=1): "+format, args...)
	}
	t.Skipf(format, args...)
}
