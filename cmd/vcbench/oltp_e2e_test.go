package main

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// oltpEveryRuntime runs one sysbench OLTP test (%s) in every runtime of
// the tools image, each against a MariaDB server the agent starts in the
// instance, at the smallest size that still gives figures: one table of
// 1000 rows (it fits the 64 MiB buffer pool many times over), two
// threads, two seconds.
const oltpEveryRuntime = `name: oltp-everywhere
trials: 1
warmup: 0
` + toolsRuntimes + `workloads:
  - kind: sysbench
    test: %s
    tables: 1
    table_size: 1000
    threads: 2
    runtime: 2s
`

// TestOLTPEveryRuntime runs `vcbench run` of oltpEveryRuntime for both
// OLTP tests and checks that each runtime produced transactions and
// queries per second and latencies, and that no mariadbd process outlived
// its workload (the VM's die with the guest; the others would be seen
// here).
func TestOLTPEveryRuntime(t *testing.T) {
	needRoot(t)
	images := toolsImageDir(t)
	before := mariadbdPIDs(t)
	runtimes := []string{"native", "container", "oci-crun", "oci-runc", "vm"}
	for _, test := range []string{"oltp_read_only", "oltp_read_write"} {
		t.Run(test, func(t *testing.T) {
			run, err := runScenarioFile(t, fmt.Sprintf(oltpEveryRuntime, test), "--image-dir", images, "--no-report")
			if err != nil {
				t.Fatalf("vcbench run: %v (status %s: %s)", err, run.Info.Status, run.Info.Reason)
			}
			for _, r := range run.Info.Runtimes {
				if r.Skipped != "" || len(r.Errors) != 0 {
					t.Errorf("%s: skipped %q, errors %q", r.Name, r.Skipped, r.Errors)
				}
			}
			got := map[[2]string]float64{}
			for _, s := range run.Samples {
				if s.Workload == "sysbench" {
					got[[2]string{s.Runtime, s.Metric}] = s.Value
				}
			}
			for _, rt := range runtimes {
				var missing []string
				for _, m := range []string{"transactions_per_second", "queries_per_second", "latency_p50", "latency_p99"} {
					if v, ok := got[[2]string{rt, m}]; !ok || !(v > 0) {
						missing = append(missing, m)
					}
				}
				for _, m := range []string{"errors", "reconnects"} {
					if v, ok := got[[2]string{rt, m}]; !ok || v < 0 {
						missing = append(missing, m)
					}
				}
				if len(missing) > 0 {
					t.Errorf("%s: no %s", rt, strings.Join(missing, ", "))
				}
				t.Logf("%s: %.1f transactions/s, %.0f queries/s, p50 %.3g s, p99 %.3g s, %g errors",
					rt, got[[2]string{rt, "transactions_per_second"}], got[[2]string{rt, "queries_per_second"}],
					got[[2]string{rt, "latency_p50"}], got[[2]string{rt, "latency_p99"}], got[[2]string{rt, "errors"}])
			}
			if v := run.Info.ToolVersions["mariadb-server"]; v == "" {
				t.Errorf("run.json records no mariadb-server version: %v", run.Info.ToolVersions)
			}
			for _, pid := range mariadbdPIDs(t) {
				if !slices.Contains(before, pid) {
					t.Errorf("mariadbd (pid %s) outlived the run", pid)
				}
			}
		})
	}
}

// mariadbdPIDs lists the host's mariadbd processes.
func mariadbdPIDs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("pgrep", "-x", "mariadbd").Output()
	// pgrep exits 1 when nothing matches.
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		t.Fatalf("pgrep mariadbd: %v", err)
	}
	return strings.Fields(string(out))
}
