package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostClientsEveryRuntime is one end-to-end scenario of the host-client
// tools (server in the instance, client on the host from the tools
// tree) in every runtime that runs the tools image, a VM on a tap (the
// default as root) and one on QEMU's user-mode networking (each tool's
// port forwarded from 127.0.0.1), at the smallest sizes that still give
// figures: iperf3 2 s each way, sockperf 2 s (its minimum with valid
// observations), redis 5000 requests of each test.
const hostClientsEveryRuntime = `name: host-clients-everywhere
trials: 1
warmup: 0
` + toolsRuntimes + `    network: tap
  - kind: vm
    name: vm-user
    image: tools
    memory_mib: 512
    network: user
workloads:
  - kind: iperf3
    protocol: tcp
    direction: both
    runtime: 2s
  - kind: sockperf
    protocol: tcp
    runtime: 2s
  - kind: redis
    tests: [get, set]
    clients: 10
    requests: 5000
`

// TestHostClientWorkloadsEveryRuntime runs `vcbench run` of
// hostClientsEveryRuntime and checks that each (runtime, tool) pair
// produced positive figures, and that run.json says which network the
// VMs' figures went through.
func TestHostClientWorkloadsEveryRuntime(t *testing.T) {
	needRoot(t)
	images := toolsImageDir(t)
	start := time.Now()
	run, err := runScenarioFile(t, hostClientsEveryRuntime, "--image-dir", images, "--no-report")
	t.Logf("vcbench run took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("vcbench run: %v (status %s: %s)", err, run.Info.Status, run.Info.Reason)
	}
	runtimes := []string{"native", "container", "oci-crun", "oci-runc", "vm", "vm-user"}
	for _, r := range run.Info.Runtimes {
		if r.Skipped != "" || len(r.Errors) != 0 {
			t.Errorf("%s: skipped %q, errors %q", r.Name, r.Skipped, r.Errors)
			logConsoles(t, run.Dir, r.Name)
		}
		want := map[string]string{"vm": "tap", "vm-user": "user"}[r.Name]
		if want != "" && (r.Settings["network"] != want || !strings.Contains(r.Settings["network_path"], want)) {
			t.Errorf("%s: run.json settings network %q, network_path %q; want %s", r.Name, r.Settings["network"], r.Settings["network_path"], want)
		}
	}
	checkToolFigures(t, run, runtimes, []toolFigures{
		{"iperf3", []string{"tcp_to_agent_sent_bw", "tcp_to_agent_received_bw", "tcp_from_agent_sent_bw", "tcp_from_agent_received_bw"}},
		{"sockperf", []string{"tcp_rr_p50", "tcp_rr_p99", "tcp_rr_avg", "tcp_rr_count"}},
		{"redis", []string{"get_requests_per_second", "set_requests_per_second", "get_latency_p99", "set_latency_p99"}},
	})
}

// logConsoles logs the last lines of runtime's VM console logs (a guest
// that stalled says why there, and the run directory is a test's temp).
func logConsoles(t *testing.T, runDir, runtime string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(runDir, "raw", "console-"+runtime+"-*.log"))
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		t.Logf("%s, last lines:\n%s", filepath.Base(f), strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
}
