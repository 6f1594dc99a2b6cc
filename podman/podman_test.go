package podman

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

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
const helperEnv = "VCBENCH_PODMAN_TEST_HELPER"

func TestMain(m *testing.M) {
	enginetest.Main(m, helperEnv, New, scenarios.RuntimeConfig{Kind: scenarios.Podman, VCPUs: 1, MemoryMiB: 64}, "podman-1",
		func() string {
			if ok, why := Probe(context.Background()); !ok {
				return why
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
	cfg.Kind = scenarios.Podman
	return enginetest.Prepared(t, New, cfg, testEnv).(*Runtime)
}

// labelled lists the containers (running or not) of run.
func labelled(t *testing.T, run string) []string {
	t.Helper()
	out, err := podman(context.Background(), "podman", nil, "ps", "--all", "--quiet", "--filter", "label="+engine.LabelRun+"="+run)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

func TestStartIsolationWorkloadTeardown(t *testing.T) {
	need(t)
	r := prepared(t, scenarios.RuntimeConfig{VCPUs: 1, MemoryMiB: 128, Hostname: "boxed"})
	desc := r.Describe()
	if desc["network_backend"] == "" || desc["engine_version"] == "" || !strings.HasPrefix(desc["image"], "vcbench/minimal:") {
		t.Errorf("describe: %v", desc)
	}
	ctx := context.Background()
	run := fmt.Sprintf("test-%d", os.Getpid())
	inst, err := r.Start(ctx, enginetest.Spec(t, run, "podman-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Stop(ctx)
	enginetest.Isolated(t, inst, "the default network's eth0")
	phases := inst.(bench.Phaser).Phases()
	if len(phases) != 2 || phases[1].Name != "engine_run" {
		t.Errorf("phases %v", phases)
	}
	enginetest.Accounted(t, ctx, inst, "host_conmon_pss")
	if n := len(labelled(t, run)); n != 1 {
		t.Errorf("%d containers labelled %s, want 1", n, run)
	}
	in := inst.(*Instance)
	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := inst.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if ids := labelled(t, run); len(ids) != 0 {
		t.Errorf("containers left after stop: %v", ids)
	}
	for _, d := range in.base.Rec.Cgroups {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left", d)
		}
	}
	if in.base.Parent.Alive() {
		t.Error("conmon still running")
	}
	recs, _ := state.Load(testEnv.StateDir)
	if len(recs) != 0 {
		t.Errorf("%d state records left", len(recs))
	}
}

func TestHostNetwork(t *testing.T) {
	need(t)
	r := prepared(t, scenarios.RuntimeConfig{Network: scenarios.NetworkHost, VCPUs: 1, MemoryMiB: 64})
	ctx := context.Background()
	inst, err := r.Start(ctx, enginetest.Spec(t, fmt.Sprintf("host-%d", os.Getpid()), "podman-1"))
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
	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKillCleanup SIGKILLs a vcbench that has a podman container running
// and checks that `vcbench cleanup` removes it.
func TestKillCleanup(t *testing.T) {
	need(t)
	if testing.Short() {
		t.Skip("builds vcbench")
	}
	vcbench, _ := testenv.Binaries(t)
	run := fmt.Sprintf("kill-%d", os.Getpid())
	enginetest.KillHelper(t, helperEnv, testEnv, run)
	recs, _ := state.Load(testEnv.StateDir)
	if len(recs) != 1 {
		t.Fatalf("the killed run left %d state records, want 1", len(recs))
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
	if ids := labelled(t, run); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
	for _, d := range recs[0].Cgroups {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left", d)
		}
	}
}
