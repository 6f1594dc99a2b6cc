package workload

import (
	"vcbench/agent/proto"

	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// agentMux is the agent's network routes with a data server, as the agent
// wires them.
func agentMux(t *testing.T) (*http.ServeMux, *DataServer) {
	t.Helper()
	ds, err := ListenData("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ds.Close(); err != nil {
			t.Errorf("close data server: %v", err)
		}
		if err := ds.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
	})
	mux := http.NewServeMux()
	RegisterNetworkHandlers(mux)
	mux.Handle("GET "+proto.PathNetPorts, ds)
	return mux, ds
}

func TestNetworkRawFigures(t *testing.T) {
	mux, ds := agentMux(t)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := RunNetwork(ctx, strings.TrimPrefix(srv.URL, "http://"), Params{Kind: Network, SizeMiB: 4, Ops: 200})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
	got := metricNames(res)
	for _, name := range []string{"stream_to_agent", "stream_from_agent", "rr_rate", "rr_p50", "rr_p90", "rr_p99",
		"tcp_stream_to_agent", "tcp_stream_from_agent", "tcp_rr_rate", "tcp_rr_p50", "tcp_rr_p90", "tcp_rr_p99",
		"udp_rr_rate", "udp_rr_p50", "udp_rr_p90", "udp_rr_p99"} {
		m, ok := got[name]
		if !ok || !(m.Value > 0) {
			t.Errorf("%s = %+v", name, m)
		}
	}
	for _, p := range []string{"rr", "tcp_rr", "udp_rr"} {
		if !(got[p+"_p50"].Value <= got[p+"_p90"].Value && got[p+"_p90"].Value <= got[p+"_p99"].Value) {
			t.Errorf("%s percentiles out of order: %v %v %v", p, got[p+"_p50"].Value, got[p+"_p90"].Value, got[p+"_p99"].Value)
		}
	}
	if res.Notes["tcp_rr_count"] != "200" || res.Notes["udp_rr_count"] != "200" || res.Notes["udp_rr_lost"] != "0" {
		t.Errorf("notes %v", res.Notes)
	}
	if want := net.JoinHostPort("127.0.0.1", itoa(ds.Ports().TCP)); res.Notes["data_addr"] != want {
		t.Errorf("data_addr %q, want %q", res.Notes["data_addr"], want)
	}
	t.Logf("loopback p50: http %.1f µs, tcp %.1f µs, udp %.1f µs", got["rr_p50"].Value*1e6, got["tcp_rr_p50"].Value*1e6, got["udp_rr_p50"].Value*1e6)
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestNetworkWithoutDataServer(t *testing.T) {
	// An agent without /net/ports: the HTTP figures stay, a warning says
	// why the raw ones are missing.
	mux := http.NewServeMux()
	RegisterNetworkHandlers(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res, err := RunNetwork(context.Background(), strings.TrimPrefix(srv.URL, "http://"), Params{Kind: Network, SizeMiB: 1, Ops: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := metricNames(res)["tcp_rr_p50"]; ok {
		t.Error("tcp_rr_p50 without a data server")
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "raw TCP and UDP figures missing") || res.Notes["warning"] == "" {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func TestNetworkDataPortNotOurs(t *testing.T) {
	// A data address that some other server answers (an unforwarded VM
	// port on the host) must not be measured.
	mux, _ := agentMux(t)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	other, err := ListenData("127.0.0.1:0") // another agent: another token
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	target := NetTarget{Control: strings.TrimPrefix(srv.URL, "http://"), Data: net.JoinHostPort("127.0.0.1", itoa(other.Ports().TCP))}
	res, err := RunNetworkTarget(context.Background(), target, Params{Kind: Network, SizeMiB: 1, Ops: 10})
	if err != nil {
		t.Fatal(err)
	}
	for name := range metricNames(res) {
		if strings.HasPrefix(name, "tcp_") || strings.HasPrefix(name, "udp_") {
			t.Errorf("%s measured against another server", name)
		}
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "is the data port forwarded") {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func TestDataListenFor(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:8080": "0.0.0.0:8081",
		"127.0.0.1:0":  "127.0.0.1:0",
		"[::1]:9000":   "[::1]:9001",
		":8080":        ":8081",
	} {
		if got, err := DataListenFor(in); err != nil || got != want {
			t.Errorf("DataListenFor(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := DataListenFor("nonsense"); err == nil {
		t.Error("DataListenFor accepted an address without a port")
	}
}
