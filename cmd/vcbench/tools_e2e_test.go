package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/testenv"
)

// toolsImageDir returns an image directory with the tools image built
// (tree and ext4 disk) besides the minimal images, or skips the test.
func toolsImageDir(t *testing.T) string {
	t.Helper()
	dir := imageDir(t)
	p := image.Paths{Dir: dir}
	for _, f := range []string{p.ToolsRootfs(), p.ToolsDisk()} {
		if _, err := os.Stat(f); err != nil {
			testenv.Require(t, "tools image not built in %s (run `vcbench images build --tools`): %v", dir, err)
		}
	}
	return dir
}

// toolsRuntimes is every runtime that runs the tools image, as the
// end-to-end tool tests' scenarios list them (the VM's last, so that a
// test can add settings to it).
const toolsRuntimes = `runtimes:
  - kind: native
    image: tools
  - kind: container
    image: tools
    memory_mib: 512
  - kind: oci-crun
    image: tools
    memory_mib: 512
  - kind: oci-runc
    image: tools
    memory_mib: 512
  - kind: vm
    image: tools
    memory_mib: 512
`

// toolsEveryRuntime is one end-to-end scenario: every runtime that runs
// the tools image (the tree natively and as the containers' root, the
// ext4 disk in a VM) runs every tool workload, at sizes that keep it
// under two minutes with the VM under TCG.
const toolsEveryRuntime = `name: tools-everywhere
trials: 1
warmup: 0
` + toolsRuntimes + `workloads:
  - kind: fio
    size: 8m
    runtime: 1s
  - kind: sysbench
    test: fileio
    size: 8m
    runtime: 1s
  - kind: stress-ng
    stressors: [cpu]
    runtime: 1s
  - kind: hpl
    n: 320
  - kind: stream
    n: 320
  - kind: randomaccess
    n: 320
`

// TestToolWorkloadsEveryRuntime runs `vcbench run` of toolsEveryRuntime
// and checks that each (runtime, tool) pair produced its figures: the
// tools are the same binaries everywhere, reached by chroot (native, VM)
// or as the root (containers), and write only to their scratch.
func TestToolWorkloadsEveryRuntime(t *testing.T) {
	needRoot(t)
	images := toolsImageDir(t)
	run, err := runScenarioFile(t, toolsEveryRuntime, "--image-dir", images, "--no-report")
	if err != nil {
		t.Fatalf("vcbench run: %v (status %s: %s)", err, run.Info.Status, run.Info.Reason)
	}
	runtimes := []string{"native", "container", "oci-crun", "oci-runc", "vm"}
	for _, r := range run.Info.Runtimes {
		if r.Skipped != "" || len(r.Errors) != 0 {
			t.Errorf("%s: skipped %q, errors %q", r.Name, r.Skipped, r.Errors)
		}
	}
	checkToolFigures(t, run, runtimes, []toolFigures{
		{"fio", []string{"read_iops", "read_bw", "read_clat_p50", "read_clat_p99"}},
		{"sysbench", []string{"events_per_second", "read_iops", "write_iops", "latency_p99"}},
		{"stress-ng", []string{"cpu_bogo_ops_per_second"}},
		{"hpl", []string{"flops"}},
		{"stream", []string{"triad", "copy", "single_triad"}},
		{"randomaccess", []string{"updates", "single_updates", "mpi_updates"}},
	})
	if v := run.Info.ToolVersions["hpcc"]; v == "" {
		t.Errorf("run.json records no hpcc version: %v", run.Info.ToolVersions)
	}
}

// toolFigures names the metrics a tool's workload must give.
type toolFigures struct {
	tool    string
	metrics []string
}

// checkToolFigures checks, in a subtest per (tool, runtime), that each of
// the tool's metrics has a positive sample in run, and logs the values.
func checkToolFigures(t *testing.T, run *bench.Run, runtimes []string, tools []toolFigures) {
	t.Helper()
	got := map[[3]string]float64{}
	for _, s := range run.Samples {
		got[[3]string{s.Runtime, s.Workload, s.Metric}] = s.Value
	}
	for _, tc := range tools {
		for _, rt := range runtimes {
			t.Run(tc.tool+"/"+rt, func(t *testing.T) {
				var missing, have []string
				for _, m := range tc.metrics {
					v, ok := got[[3]string{rt, tc.tool, m}]
					if !ok || !(v > 0) {
						missing = append(missing, m)
					}
					have = append(have, m+"="+strconv.FormatFloat(v, 'g', 4, 64))
				}
				t.Log(strings.Join(have, " "))
				if len(missing) > 0 {
					t.Errorf("no positive %s", strings.Join(missing, ", "))
				}
			})
		}
	}
}
