package agent

import (
	"context"
	"io"
	"math"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"vcbench/workload"
	"vcbench/workload/tools"
)

// TestHostClientsNative runs iperf3, sockperf and redis with the servers
// started by a native agent and the clients on the host through the test
// binary's chroot helper into the tools tree, beside the built-in network
// workload, and logs the built-in/tool ratios (tcp_rr_p50 against
// sockperf's TCP p50, tcp_stream_* against iperf3). It asserts only that
// every figure is finite and positive (counts and losses may be 0) and
// that no server outlives its workload.
func TestHostClientsNative(t *testing.T) {
	tree := toolsTree(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Listen: "127.0.0.1:0", ScratchDir: t.TempDir(), ToolsRoot: tree, Log: io.Discard}
	s := NewServer(cfg)
	defer s.Close()
	s.startData(cfg, cfg.Listen)
	defer s.stopData()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	cpus, _ := workloadCPUs()
	target := workload.HostTarget{Control: addr, Tools: &workload.HostTools{Helper: self, Root: tree, Scratch: t.TempDir(), CPUs: cpus}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(p workload.Params) map[string]float64 {
		t.Helper()
		res, err := workload.RunHostClient(ctx, target, p)
		if err != nil {
			t.Fatalf("%s: %v", p.Kind, err)
		}
		return figures(t, res)
	}
	ip := run(workload.Params{Kind: workload.Iperf3, Params: tools.Params{Runtime: tools.Duration{D: time.Second}, Streams: 2}})
	sp := run(workload.Params{Kind: workload.Sockperf, Params: tools.Params{Runtime: tools.Duration{D: 2 * time.Second}}})
	run(workload.Params{Kind: workload.Redis, Params: tools.Params{Requests: 2000, Clients: 10}})
	net, err := workload.RunNetworkTarget(ctx, workload.NetTarget{Control: addr}, workload.Params{Kind: workload.Network, SizeMiB: 64, Ops: 2000})
	if err != nil {
		t.Fatal(err)
	}
	nf := figures(t, net)
	t.Logf("built-in/tool: tcp_rr_p50 / sockperf tcp p50 = %.3g; tcp_stream_to_agent / iperf3 = %.3g; tcp_stream_from_agent / iperf3 -R = %.3g",
		nf["tcp_rr_p50"]/sp["tcp_rr_p50"], nf["tcp_stream_to_agent"]/ip["tcp_to_agent_received_bw"], nf["tcp_stream_from_agent"]/ip["tcp_from_agent_received_bw"])
	s.toolSrv.mu.Lock()
	left := s.toolSrv.cur
	s.toolSrv.mu.Unlock()
	if left != nil {
		t.Errorf("a tool server (port %d) outlived its workload", left.port)
	}
}

// workloadCPUs are this process's CPUs less CPU 0 (a 1-vcpu instance's).
func workloadCPUs() ([]int, error) {
	var cpus []int
	for c := 1; c < 1024; c++ {
		if b, err := os.ReadFile("/sys/devices/system/cpu/cpu" + strconv.Itoa(c) + "/online"); err == nil && strings.TrimSpace(string(b)) == "1" {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

func figures(t *testing.T, res *workload.Result) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, f := range res.Metrics {
		zeroOK := f.Unit == workload.UnitCount || f.Unit == workload.UnitRatio
		if math.IsNaN(f.Value) || math.IsInf(f.Value, 0) || f.Value < 0 || (!zeroOK && f.Value == 0) {
			t.Errorf("%s: %s = %v %s, want finite and positive", res.Workload, f.Name, f.Value, f.Unit)
		}
		m[f.Name] = f.Value
		t.Logf("%s %s = %.4g %s", res.Workload, f.Name, f.Value, f.Unit)
	}
	return m
}
