package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/vishvananda/netlink"

	"vcbench/bench"
	"vcbench/internal/engine"
	"vcbench/internal/enginetest"
	"vcbench/internal/testenv"
	"vcbench/scenarios"
	"vcbench/state"
)

var (
	testEnv    bench.Env
	skipReason string
)

// helperEnv makes the test binary a vcbench that starts one container and
// waits to be killed (TestKillCleanup).
const helperEnv = "VCBENCH_DOCKER_TEST_HELPER"

func TestMain(m *testing.M) {
	enginetest.Main(m, helperEnv, New, scenarios.RuntimeConfig{Kind: scenarios.Docker, VCPUs: 1, MemoryMiB: 64}, "docker-1",
		func() string {
			if _, err := exec.LookPath("dockerd"); err != nil {
				if _, err := os.Stat(SystemSocket); err != nil {
					return "needs dockerd (apt-get install docker.io) or a daemon on " + SystemSocket
				}
			}
			return ""
		}, &testEnv, &skipReason)
}

func need(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		testenv.Require(t, "%s", skipReason)
	}
}

func prepared(t *testing.T, cfg scenarios.RuntimeConfig) *Runtime {
	t.Helper()
	cfg.Kind = scenarios.Docker
	return enginetest.Prepared(t, New, cfg, testEnv).(*Runtime)
}

// labelled lists the containers of run on r's daemon.
func labelled(t *testing.T, r *Runtime, run string) int {
	t.Helper()
	cs, err := r.cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", engine.LabelRun+"="+run))})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

func TestStartIsolationWorkloadTeardown(t *testing.T) {
	need(t)
	r := prepared(t, scenarios.RuntimeConfig{VCPUs: 1, MemoryMiB: 128, Hostname: "boxed"})
	d := r.d
	defer r.Close(context.Background())
	desc := r.Describe()
	if desc["api_version"] == "" || desc["engine_version"] == "" || !strings.HasPrefix(desc["image"], "vcbench/minimal:") {
		t.Errorf("describe: %v", desc)
	}
	ctx := context.Background()
	run := fmt.Sprintf("test-%d", os.Getpid())
	inst, err := r.Start(ctx, enginetest.Spec(t, run, "docker-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop(ctx)
	enginetest.Isolated(t, inst, "the bridge's eth0")
	phases := inst.(bench.Phaser).Phases()
	if len(phases) != 2 || phases[0].Name != "engine_create" || phases[1].Name != "engine_start" {
		t.Errorf("phases %v", phases)
	}
	enginetest.Accounted(t, ctx, inst, "host_shim_pss")
	if labelled(t, r, run) != 1 {
		t.Errorf("want 1 container labelled %s", run)
	}
	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := inst.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if n := labelled(t, r, run); n != 0 {
		t.Errorf("%d containers left after stop", n)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d.private {
		if d.proc.Alive() {
			t.Error("private dockerd still running after Close")
		}
		if _, err := os.Stat(d.dir); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", d.dir, err)
		}
		if _, err := netlink.LinkByName(d.bridge); err == nil {
			t.Errorf("bridge %s left", d.bridge)
		}
	}
	recs, _ := state.Load(testEnv.StateDir)
	if len(recs) != 0 {
		t.Errorf("%d state records left", len(recs))
	}
}

func TestHostNetwork(t *testing.T) {
	need(t)
	r := prepared(t, scenarios.RuntimeConfig{Network: scenarios.NetworkHost, VCPUs: 1, MemoryMiB: 64})
	defer r.Close(context.Background())
	ctx := context.Background()
	inst, err := r.Start(ctx, enginetest.Spec(t, fmt.Sprintf("host-%d", os.Getpid()), "docker-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop(ctx)
	if err := enginetest.WaitReady(inst.Addr(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	info := testenv.Info(t, inst.Addr())
	host, _ := netlink.LinkList()
	if len(info.Interfaces) != len(host) {
		t.Errorf("agent sees %d interfaces, the host has %d", len(info.Interfaces), len(host))
	}
	if r.Describe()["network"] != string(scenarios.NetworkHost) {
		t.Errorf("network %q", r.Describe()["network"])
	}
	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKillCleanup SIGKILLs a vcbench that has a container running (and,
// without a host daemon, its private dockerd) and checks that `vcbench
// cleanup` removes all of it.
func TestKillCleanup(t *testing.T) {
	need(t)
	if testing.Short() {
		t.Skip("builds vcbench")
	}
	vcbench, _ := testenv.Binaries(t)
	run := fmt.Sprintf("kill-%d", os.Getpid())
	pid := enginetest.KillHelper(t, helperEnv, testEnv, run)
	recs, _ := state.Load(testEnv.StateDir)
	private := false
	for _, r := range recs {
		private = private || r.Instance == DaemonInstance
	}
	if len(recs) == 0 {
		t.Fatal("the killed run left no state records")
	}
	c := exec.Command(vcbench, "cleanup", "--state-dir", testEnv.StateDir, "--out", t.TempDir())
	b, err := c.CombinedOutput()
	t.Logf("vcbench cleanup:\n%s", b)
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if recs, _ := state.Load(testEnv.StateDir); len(recs) != 0 {
		t.Errorf("%d records left after cleanup", len(recs))
	}
	if private {
		if leftovers := mentioning(testEnv.StateDir); len(leftovers) > 0 {
			t.Errorf("processes left: %v", leftovers)
		}
		if err := engine.UnmountUnder(testEnv.StateDir); err != nil {
			t.Error(err)
		}
		if ds, _ := filepath.Glob(filepath.Join(testEnv.StateDir, "docker", "*")); len(ds) > 0 {
			t.Errorf("left: %v", ds)
		}
		links, _ := netlink.LinkList()
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, fmt.Sprintf("vcbd%x-", pid)) {
				t.Errorf("bridge %s left", l.Attrs().Name)
			}
		}
	} else {
		r := prepared(t, scenarios.RuntimeConfig{})
		defer r.Close(context.Background())
		if n := labelled(t, r, run); n != 0 {
			t.Errorf("%d containers left", n)
		}
	}
}

// mentioning lists the processes whose command line names dir.
func mentioning(dir string) []string {
	var out []string
	ps, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range ps {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), dir) {
			out = append(out, p+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}
