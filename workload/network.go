package workload

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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

// RunNetwork is the harness side of the network workload: TCP stream
// throughput to and from the agent at addr, then request/response latency
// over one kept-alive connection. Traffic goes only to addr, which is the
// instance's own address (loopback, the container's veth, the VM's tap or
// forwarded port).
func RunNetwork(ctx context.Context, addr string, p Params) (*Result, error) {
	size := int64(orDefault(p.SizeMiB, DefaultNetworkSizeMiB)) << 20
	ops := orDefault(p.Ops, DefaultNetworkOps)
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	base := "http://" + addr
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
	return &Result{
		Workload: Network,
		Metrics: []Metric{
			higher("stream_to_agent", UnitBytesPerSecond, float64(size)/up.Seconds()),
			higher("stream_from_agent", UnitBytesPerSecond, float64(size)/down.Seconds()),
			higher("rr_rate", UnitOpsPerSecond, float64(ops)/rr.Seconds()),
			lower("rr_p50", UnitSeconds, percentile(lat, 0.50).Seconds()),
			lower("rr_p99", UnitSeconds, percentile(lat, 0.99).Seconds()),
		},
		Notes:   map[string]string{"bytes": fmt.Sprint(size), "ops": fmt.Sprint(ops), "transport": "HTTP/1.1 over one TCP connection", "addr": addr},
		Seconds: time.Since(start).Seconds(),
	}, nil
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
