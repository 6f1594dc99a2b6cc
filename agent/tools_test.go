package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"vcbench/internal/testenv"

	"vcbench/agent/proto"
	"vcbench/image"
	"vcbench/workload"
	"vcbench/workload/tools"
)

// TestMain lets the test binary be the chroot helper that Tools.Command
// re-executes (os.Executable is the test binary here).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == proto.ToolsExecCommand {
		ToolsExecMain(os.Args[2:])
	}
	os.Exit(m.Run())
}

// toolsTree returns the built tools image's tree, or skips: it needs root
// (chroot, mount namespace) and `vcbench images build --tools` (make test
// builds it into VCBENCH_IMAGE_DIR).
func toolsTree(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the tools image's programs (slow)")
	}
	if os.Geteuid() != 0 {
		testenv.Require(t, "needs root: chroot and a mount namespace")
	}
	tree := image.Paths{Dir: image.DefaultDir()}.ToolsRootfs()
	if _, err := os.Stat(filepath.Join(tree, proto.ToolsManifestPath)); err != nil {
		testenv.Require(t, "no tools image (run `vcbench images build --tools`): %v", err)
	}
	return tree
}

func runOn(t *testing.T, url string, p workload.Params) *workload.Result {
	t.Helper()
	body, _ := json.Marshal(p)
	resp, err := http.Post(url+proto.PathRun, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s: %s", p.Kind, resp.Status, b)
	}
	var res workload.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	for _, m := range res.Metrics {
		// A count (sysbench's errors, reconnects) may well be 0.
		if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) || m.Value < 0 || m.Value == 0 && m.Unit != workload.UnitCount {
			t.Errorf("%s: %s = %v, want a finite figure above 0", p.Kind, m.Name, m.Value)
		}
	}
	if len(res.Metrics) == 0 {
		t.Fatalf("%s: no figures", p.Kind)
	}
	t.Logf("%s: %s", p.Kind, res.Notes["command"])
	for _, m := range res.Metrics {
		t.Logf("  %s = %g %s", m.Name, m.Value, m.Unit)
	}
	return &res
}

func metric(t *testing.T, res *workload.Result, name string) float64 {
	t.Helper()
	for _, m := range res.Metrics {
		if m.Name == name {
			return m.Value
		}
	}
	t.Fatalf("%s has no %s", res.Workload, name)
	return 0
}

// TestToolsNative runs the tool workloads through the native agent's
// chroot into the tools image, beside the built-in disk and memory
// workloads on the same scratch directory, and logs how the tools'
// figures compare with the built-in ones. It asserts only that every
// figure is finite and positive, that nothing is left in the scratch
// directory and that no mount of the tree leaked into the host.
func TestToolsNative(t *testing.T) {
	tree := toolsTree(t)
	scratch := t.TempDir()
	s := NewServer(Config{ScratchDir: scratch, ToolsRoot: tree, Log: io.Discard})
	if s.tools == nil {
		t.Fatalf("no tools from %s: %s", tree, s.toolsWhy)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	disk := runOn(t, srv.URL, workload.Params{Kind: workload.Disk, SizeMiB: 64, Ops: 4000})
	fio := runOn(t, srv.URL, workload.Params{Kind: workload.Fio, Params: tools.Params{RW: "randread", BS: 4096, IODepth: 1, Size: 64 << 20, Runtime: tools.Duration{D: 3e9}}})
	t.Logf("fio randread 4 KiB QD1 O_DIRECT / built-in disk rand_read: IOPS ratio %.2f, p50 ratio %.2f",
		metric(t, fio, "read_iops")/metric(t, disk, "rand_read_iops"),
		metric(t, fio, "read_clat_p50")/metric(t, disk, "rand_read_p50"))

	mem := runOn(t, srv.URL, workload.Params{Kind: workload.Memory})
	sb := runOn(t, srv.URL, workload.Params{Kind: workload.Sysbench, Threads: 1, Params: tools.Params{Test: "memory", Runtime: tools.Duration{D: 3e9}}})
	t.Logf("sysbench memory (1 thread, 1 MiB writes) / built-in memory: %.2f of copy, %.2f of triad",
		metric(t, sb, "bytes_per_second")/metric(t, mem, "copy"), metric(t, sb, "bytes_per_second")/metric(t, mem, "triad"))

	runOn(t, srv.URL, workload.Params{Kind: workload.Sysbench, Params: tools.Params{Test: "cpu", Runtime: tools.Duration{D: 2e9}}})
	runOn(t, srv.URL, workload.Params{Kind: workload.Sysbench, Threads: 1, Params: tools.Params{Test: "fileio", Size: 32 << 20, Runtime: tools.Duration{D: 2e9}}})
	runOn(t, srv.URL, workload.Params{Kind: workload.StressNG, Params: tools.Params{Stressors: []string{"cpu", "switch"}, Runtime: tools.Duration{D: 2e9}}})

	if ents, _ := os.ReadDir(scratch); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("tool workloads left %v in the scratch directory", names)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), tree) {
		t.Errorf("a mount under %s is visible outside the tool's namespace", tree)
	}
}

// TestSysbenchOLTPNative runs both OLTP tests through the native agent's
// chroot into the tools image, each against a MariaDB server of its own in
// the scratch directory: the figures are there, and neither a mariadbd
// process nor a file is left.
func TestSysbenchOLTPNative(t *testing.T) {
	tree := toolsTree(t)
	before := mariadbds(t)
	scratch := t.TempDir()
	s := NewServer(Config{ScratchDir: scratch, ToolsRoot: tree, Log: io.Discard})
	if s.tools == nil {
		t.Fatalf("no tools from %s: %s", tree, s.toolsWhy)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, test := range tools.SysbenchOLTPTests {
		res := runOn(t, srv.URL, workload.Params{Kind: workload.Sysbench, Threads: 2, Params: tools.Params{Test: test, Tables: 1, TableSize: 1000, Runtime: tools.Duration{D: 2e9}}})
		for _, m := range []string{"transactions_per_second", "queries_per_second", "latency_p50", "latency_p99"} {
			metric(t, res, m)
		}
		if !strings.Contains(res.Notes["mariadbd_log"], "ready for connections") {
			t.Errorf("%s: no server log in the notes: %q", test, res.Notes["mariadbd_log"])
		}
	}
	if ents, _ := os.ReadDir(scratch); len(ents) != 0 {
		t.Errorf("the OLTP workloads left %d entries in the scratch directory", len(ents))
	}
	if after := mariadbds(t); len(after) > len(before) {
		t.Errorf("mariadbd processes %v remain (before: %v)", after, before)
	}
}

// mariadbds lists the mariadbd processes running now.
func mariadbds(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("pgrep", "-x", "mariadbd").Output()
	// pgrep exits 1 when nothing matches.
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		t.Fatalf("pgrep: %v", err)
	}
	return strings.Fields(string(out))
}

// TestToolsRefused: without a tools image a tool workload is refused with
// the reason, and a bad tree is reported.
func TestToolsRefused(t *testing.T) {
	s := NewServer(Config{ScratchDir: t.TempDir(), Log: io.Discard})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	body, _ := json.Marshal(workload.Params{Kind: workload.Fio})
	resp, err := http.Post(srv.URL+proto.PathRun, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(b), "image: tools") {
		t.Errorf("fio without tools: %s %s", resp.Status, b)
	}
	if _, err := FindTools(t.TempDir(), t.TempDir(), ""); err == nil {
		t.Error("FindTools accepted a directory without the tools manifest")
	}
}

// TestExt4Label reads the label of a real mke2fs image (the tools disk's
// way of being found in a VM whatever order its disks probe in).
func TestExt4Label(t *testing.T) {
	if _, err := exec.LookPath("mke2fs"); err != nil {
		testenv.Require(t, "mke2fs not installed (e2fsprogs)")
	}
	img := filepath.Join(t.TempDir(), "x.ext4")
	if out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", "-L", proto.ToolsLabel, img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v: %s", err, out)
	}
	if l, err := ext4Label(img); err != nil || l != proto.ToolsLabel {
		t.Errorf("label %q, %v; want %q", l, err, proto.ToolsLabel)
	}
	if _, err := parseExt4Label(make([]byte, 1024)); err == nil {
		t.Error("a zero superblock has a label")
	}
}

// TestLookTool: without the chroot, a tool is found on the tools' PATH
// (sbin included: mariadbd), not the agent's (a container's is /bin).
func TestLookTool(t *testing.T) {
	t.Setenv("PATH", "/nonexistent")
	if got := lookTool("sh"); !filepath.IsAbs(got) {
		t.Errorf("lookTool(sh) = %q, want a path on %s", got, toolsPATH)
	}
	if got := lookTool("vcbench-no-such-tool"); got != "vcbench-no-such-tool" {
		t.Errorf("lookTool of a missing tool = %q, want the name back", got)
	}
	if got := lookTool("/bin/sh"); got != "/bin/sh" {
		t.Errorf("lookTool(/bin/sh) = %q", got)
	}
}
