package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/testenv"
	"vcbench/scenarios"
)

// testEnv is set up by TestMain when the tests can start real containers;
// skipReason says why not otherwise.
var (
	testEnv    bench.Env
	skipReason string
	selfIsTest bool   // init is this test binary, not a built vcbench
	selfNote   string // how the vcbench binary was built
	testDir    string
)

func TestMain(m *testing.M) {
	// The test binary doubles as `vcbench init` where cmd/vcbench lacks it.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		RunInit(os.Args[2:])
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := setup(); err != nil {
		skipReason = err.Error()
	}
	code := m.Run()
	if testDir != "" {
		os.RemoveAll(testDir)
	}
	return code
}

func setup() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (namespaces, cgroups, veth)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("needs the go tool to build the agent: %v", err)
	}
	testDir, err = os.MkdirTemp("", "vcbench-container-test-")
	if err != nil {
		return err
	}
	// A user namespace's root is an unprivileged uid outside: let it in.
	if err := os.Chmod(testDir, 0o755); err != nil {
		return err
	}
	agentBin := filepath.Join(testDir, "vcbench-agent")
	build := exec.Command(goBin, "build", "-o", agentBin, "vcbench/cmd/vcbench-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build agent: %v: %s", err, out)
	}
	initBin := filepath.Join(testDir, "vcbench-init")
	build = exec.Command(goBin, "build", "-o", initBin, "vcbench/cmd/vcbench-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build vcbench-init: %v: %s", err, out)
	}
	paths := image.Paths{Dir: filepath.Join(testDir, "images")}
	if _, err := BuildRootfs(paths, agentBin); err != nil {
		return err
	}
	self := filepath.Join(testDir, "vcbench")
	if !buildSelf(goBin, self, "") {
		// cmd/vcbench may not wire `vcbench init` yet: add the hook through
		// an overlay, leaving the source tree alone.
		overlay, err := hookOverlay(goBin)
		if err != nil || !buildSelf(goBin, self, overlay) {
			self = ""
		} else {
			selfNote = "vcbench binary with a test-added init hook"
		}
	}
	if self == "" {
		// cmd/vcbench does not (yet) reach RunInit: re-exec this test binary.
		self, err = os.Executable()
		if err != nil {
			return err
		}
		selfIsTest = true
	}
	testEnv = bench.Env{
		AgentPath: agentBin,
		ImageDir:  paths.Dir,
		StateDir:  filepath.Join(testDir, "state"),
		SelfPath:  self,
		InitPath:  initBin,
	}
	return nil
}

// BuildRootfs is image.BuildRootfs with the host's busybox and the
// vcbench-init beside agentBin.
func BuildRootfs(p image.Paths, agentBin string) (bool, error) {
	return image.BuildRootfs(p, agentBin, image.InitBeside(agentBin), image.BusyboxPath())
}

func needEnv(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		testenv.Require(t, "%s", skipReason)
	}
}

func needBinary(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		testenv.Require(t, "needs %s: %v", name, err)
	}
}

// haveBinary reports whether name is in PATH, for tests that run every
// kind they can beside each other; a missing one fails the test where
// every prerequisite is required.
func haveBinary(t *testing.T, name string) bool {
	t.Helper()
	_, err := exec.LookPath(name)
	if err != nil && testenv.Required() {
		testenv.Require(t, "needs %s: %v", name, err)
	}
	return err == nil
}

// newRuntime makes the runtime of kind with cfg's settings.
func newRuntime(t *testing.T, cfg scenarios.RuntimeConfig) bench.Runtime {
	t.Helper()
	var (
		rt  bench.Runtime
		err error
	)
	switch cfg.Kind {
	case scenarios.Container:
		rt, err = New(cfg, testEnv)
	case scenarios.OCICrun:
		rt, err = NewCrun(cfg, testEnv)
	case scenarios.OCIRunc:
		rt, err = NewRunc(cfg, testEnv)
	}
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := rt.(bench.Preparer); ok {
		if err := p.Prepare(context.Background()); err != nil {
			t.Fatalf("prepare: %v", err)
		}
	}
	return rt
}

func testSpec(t *testing.T, name string) bench.InstanceSpec {
	raw := t.TempDir()
	os.Chmod(raw, 0o755)
	os.Chmod(filepath.Dir(raw), 0o755)
	return bench.InstanceSpec{
		RunID: "test-" + safeName(t.Name()), Name: name, RawDir: raw, ScratchDir: raw,
		StartTimeout: 30 * time.Second, StopTimeout: 3 * time.Second,
	}
}

// start starts an instance and stops it when the test ends.
func start(t *testing.T, rt bench.Runtime, spec bench.InstanceSpec) bench.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), spec.StartTimeout)
	defer cancel()
	in, err := rt.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return in
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// waitHealthy polls /healthz the way the runner measures "ready".
func waitHealthy(addr string, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	end := time.Now().Add(timeout)
	var last error
	for time.Now().Before(end) {
		resp, err := c.Get("http://" + addr + proto.PathHealthz)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("status %s", resp.Status)
		} else {
			last = err
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("agent at %s not healthy after %s: %v", addr, timeout, last)
}

func getInfo(t *testing.T, addr string) proto.Info { return testenv.Info(t, addr) }

func postRun(addr, body string, timeout time.Duration) (int, string, error) {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Post("http://"+addr+proto.PathRun, "application/json", bytes.NewBufferString(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// leftovers lists what vcbench's container runtimes left on the host.
func leftovers() []string {
	var out []string
	if links, err := netlink.LinkList(); err == nil {
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, LinkPrefix) {
				out = append(out, "link "+l.Attrs().Name)
			}
		}
	}
	if f, err := os.Open("/proc/mounts"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "vcbench") {
				out = append(out, "mount "+sc.Text())
			}
		}
		f.Close()
	}
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == "vcbench" {
			out = append(out, "cgroup "+p)
			return filepath.SkipDir
		}
		return nil
	})
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		argv := strings.Split(string(b), "\x00")
		if argv[0] == image.AgentPathInImage || (len(argv) > 2 && argv[1] == "init" && (argv[2] == modeContainer || argv[2] == modeOCIExec)) {
			out = append(out, "process "+p+" "+strings.Join(argv, " "))
		}
	}
	if testEnv.StateDir != "" {
		recs, _ := filepath.Glob(filepath.Join(testEnv.StateDir, "*.json"))
		for _, r := range recs {
			out = append(out, "state record "+r)
		}
	}
	return out
}

// checkClean fails the test if anything is left once its cleanups ran.
func checkClean(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		if left := leftovers(); len(left) > 0 {
			t.Errorf("left behind:\n  %s", strings.Join(left, "\n  "))
		}
	})
}

// buildSelf builds cmd/vcbench to path and checks that `vcbench init`
// reaches RunInit.
func buildSelf(goBin, path, overlay string) bool {
	args := []string{"build", "-o", path}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	if out, err := exec.Command(goBin, append(args, "vcbench/cmd/vcbench")...).CombinedOutput(); err != nil {
		selfNote = "cmd/vcbench does not build: " + strings.TrimSpace(string(out))
		return false
	}
	out, err := exec.Command(path, "init", modeProbe).Output()
	return err == nil && strings.TrimSpace(string(out)) == probeAnswer
}

// hookOverlay writes a go build overlay that adds to cmd/vcbench a file
// setting its containerInit hook to RunInit.
func hookOverlay(goBin string) (string, error) {
	out, err := exec.Command(goBin, "list", "-f", "{{.Dir}}", "vcbench/cmd/vcbench").Output()
	if err != nil {
		return "", err
	}
	dir := strings.TrimSpace(string(out))
	hook := filepath.Join(testDir, "init_hook.go")
	src := "package main\n\nimport \"vcbench/container\"\n\nfunc init() { containerInit = container.RunInit }\n"
	if err := os.WriteFile(hook, []byte(src), 0o644); err != nil {
		return "", err
	}
	b, _ := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(dir, "zz_test_init_hook.go"): hook}})
	overlay := filepath.Join(testDir, "overlay.json")
	return overlay, os.WriteFile(overlay, b, 0o644)
}
