package workload

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"vcbench/agent/proto"
)

// Network workload defaults.
const (
	DefaultNetworkSizeMiB = 64
	DefaultNetworkOps     = 1000
	maxStreamBytes        = 64 << 30
)

// RegisterNetworkHandlers adds the agent's side of the network workload:
// POST /net/sink swallows a body, GET /net/source?bytes=N sends N bytes,
// GET /net/ping answers a few bytes.
func RegisterNetworkHandlers(mux *http.ServeMux) {
	mux.HandleFunc("POST "+proto.PathNetSink, func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, io.LimitReader(r.Body, maxStreamBytes))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d\n", n)
	})
	mux.HandleFunc("GET "+proto.PathNetSource, func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get(proto.NetSourceBytes), 10, 64)
		if err != nil || n < 0 || n > maxStreamBytes {
			http.Error(w, proto.NetSourceBytes+": want 0.."+strconv.Itoa(maxStreamBytes), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.CopyN(w, zeros{}, n)
	})
	mux.HandleFunc("GET "+proto.PathNetPing, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "pong")
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// NetTarget is where the harness reaches an agent's network workload.
type NetTarget struct {
	// Control is the agent's HTTP address (the instance's Addr).
	Control string
	// Data is host:port of the agent's data server as the harness reaches
	// it (TCP and UDP on one port). Empty means Control's host and the port
	// GET /net/ports reports, which is right wherever the harness reaches
	// the instance's own address (native loopback, a container's veth, a
	// VM's tap); QEMU user-mode networking forwards another host port.
	Data string
}

// RunNetwork is RunNetworkTarget with the data server found through the
// agent at addr.
func RunNetwork(ctx context.Context, addr string, p Params) (*Result, error) {
	return RunNetworkTarget(ctx, NetTarget{Control: addr}, p)
}

// RunNetworkTarget is the harness side of the network workload. Over HTTP
// (kept for continuity with earlier runs): stream throughput to and from
// the agent and request/response latency on one kept-alive connection.
// Over the agent's data server: raw TCP stream throughput both ways, and
// TCP and UDP request/response latency, which measure the network path
// rather than net/http (≈ 140 µs against ≈ 5 µs on loopback). Traffic goes
// only to the instance's own addresses. When the data server cannot be
// reached, the raw figures are missing and Warnings say why.
func RunNetworkTarget(ctx context.Context, target NetTarget, p Params) (*Result, error) {
	size := int64(orDefault(p.SizeMiB, DefaultNetworkSizeMiB)) << 20
	ops := orDefault(p.Ops, DefaultNetworkOps)
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	base := "http://" + target.Control
	start := time.Now()

	t := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+proto.PathNetSink, io.LimitReader(zeros{}, size))
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	if err := drain(client.Do(req)); err != nil {
		return nil, fmt.Errorf("stream to agent: %w", err)
	}
	up := time.Since(t)

	t = time.Now()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s%s?%s=%d", base, proto.PathNetSource, proto.NetSourceBytes, size), nil)
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("stream from agent: %w", err)
	}
	got, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || got != size {
		return nil, fmt.Errorf("stream from agent: got %d of %d bytes: %v", got, size, err)
	}
	down := time.Since(t)

	lat := make([]time.Duration, ops)
	rrStart := time.Now()
	for i := range lat {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+proto.PathNetPing, nil)
		t := time.Now()
		if err := drain(client.Do(req)); err != nil {
			return nil, fmt.Errorf("ping %d: %w", i, err)
		}
		lat[i] = time.Since(t)
	}
	rr := time.Since(rrStart)
	sortDurations(lat)
	res := &Result{
		Workload: Network,
		Metrics: []Metric{
			higher("stream_to_agent", UnitBytesPerSecond, float64(size)/up.Seconds()),
			higher("stream_from_agent", UnitBytesPerSecond, float64(size)/down.Seconds()),
			higher("rr_rate", UnitOpsPerSecond, float64(ops)/rr.Seconds()),
			lower("rr_p50", UnitSeconds, percentile(lat, 0.50).Seconds()),
			lower("rr_p90", UnitSeconds, percentile(lat, 0.90).Seconds()),
			lower("rr_p99", UnitSeconds, percentile(lat, 0.99).Seconds()),
		},
		Notes: map[string]string{"bytes": fmt.Sprint(size), "ops": fmt.Sprint(ops), "rr_count": fmt.Sprint(ops),
			"transport": "HTTP/1.1 over one TCP connection (stream_*, rr_*); raw TCP and UDP to the data server (tcp_*, udp_*)", "addr": target.Control},
	}
	if err := runRaw(ctx, client, target, size, ops, res); err != nil {
		return nil, err
	}
	if len(res.Warnings) > 0 {
		res.Notes["warning"] = strings.Join(res.Warnings, "; ")
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func drain(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent answered %s", resp.Status)
	}
	return nil
}
