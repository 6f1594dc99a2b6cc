package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/testenv"
)

// testImageDir holds the guest image the integration tests boot; the
// kernel package stays cached there between runs. VCBENCH_TEST_IMAGE_DIR
// overrides it.
var testImageDir string

// skipReason is why the integration tests cannot run here, or "".
var skipReason string

func TestMain(m *testing.M) {
	code := func() int {
		skipReason = prepareGuest()
		return m.Run()
	}()
	os.Exit(code)
}

func prepareGuest() string {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return "needs linux/amd64"
	}
	if os.Geteuid() != 0 {
		return "needs root (apt-get download, tap devices)"
	}
	if _, err := exec.LookPath(QEMUBinary); err != nil {
		return QEMUBinary + " not installed"
	}
	for _, tool := range []string{"apt-get", "apt-cache", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not installed: cannot build the guest kernel"
		}
	}
	testImageDir = os.Getenv("VCBENCH_TEST_IMAGE_DIR")
	if testImageDir == "" {
		testImageDir = "/var/cache/vcbench/test-images"
	}
	if err := os.MkdirAll(testImageDir, 0o755); err != nil {
		return fmt.Sprintf("image dir: %v", err)
	}
	agentBin := filepath.Join(testImageDir, "vcbench-agent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", agentBin, "vcbench/cmd/vcbench-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Sprintf("build agent: %v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := image.BuildGuest(ctx, image.Paths{Dir: testImageDir}, agentBin, image.BusyboxPath()); err != nil {
		return fmt.Sprintf("build guest image: %v", err)
	}
	return ""
}

func needGuest(t testing.TB) {
	t.Helper()
	if skipReason != "" {
		testenv.Require(t, "%s", skipReason)
	}
}

// testEnv returns an Env and an InstanceSpec in fresh temp dirs.
func testEnv(t testing.TB, name string) (bench.Env, bench.InstanceSpec) {
	t.Helper()
	env := bench.Env{ImageDir: testImageDir, StateDir: t.TempDir()}
	spec := bench.InstanceSpec{
		RunID: "test-" + randomSuffix(), Name: name,
		RawDir: t.TempDir(), ScratchDir: t.TempDir(),
		StartTimeout: 60 * time.Second, StopTimeout: 5 * time.Second,
	}
	return env, spec
}
