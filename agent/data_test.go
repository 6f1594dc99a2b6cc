package agent

import (
	"vcbench/agent/proto"

	"bufio"
	"context"
	"io"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"vcbench/workload"
)

// serveInProcess runs Serve on a free loopback port and returns its address.
func serveInProcess(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Config{Listen: "127.0.0.1:0", ScratchDir: t.TempDir(), Log: io.Discard}, pw)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	addr, ok := proto.ParseReady(strings.TrimSpace(line))
	if !ok {
		t.Fatalf("first line %q lacks the ready marker", line)
	}
	return addr
}

// pingPongP50 is the floor: the median round trip of a minimal Go TCP
// ping-pong of workload.TCPRRBytes on loopback, in this process.
func pingPongP50(t *testing.T, n int) time.Duration {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, workload.TCPRRBytes)
		for {
			if _, err := io.ReadFull(c, b); err != nil {
				return
			}
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, workload.TCPRRBytes)
	lat := make([]time.Duration, n)
	for i := -n / 10; i < n; i++ {
		start := time.Now()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		if i >= 0 {
			lat[i] = time.Since(start)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[n/2]
}

// TestTCPRRMeasuresTheNetwork checks that the network workload's raw TCP
// round trip, against a real agent's data server, costs what a minimal Go
// ping-pong costs (within 3×), unlike the HTTP round trip.
func TestTCPRRMeasuresTheNetwork(t *testing.T) {
	addr := serveInProcess(t)
	const ops, factor, tries = 2000, 3.0, 3
	var last string
	for try := 0; try < tries; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := workload.RunNetwork(ctx, addr, workload.Params{Kind: workload.Network, SizeMiB: 1, Ops: ops})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Warnings) != 0 {
			t.Fatalf("warnings: %q", res.Warnings)
		}
		figs := map[string]float64{}
		for _, m := range res.Metrics {
			figs[m.Name] = m.Value
		}
		floor := pingPongP50(t, ops)
		tcp := time.Duration(figs["tcp_rr_p50"] * 1e9)
		last = "http p50 " + time.Duration(figs["rr_p50"]*1e9).String() + ", tcp p50 " + tcp.String() +
			", udp p50 " + time.Duration(figs["udp_rr_p50"]*1e9).String() + ", minimal Go ping-pong p50 " + floor.String()
		t.Log(last)
		if tcp > 0 && float64(tcp) <= factor*float64(floor) {
			return
		}
	}
	t.Errorf("tcp_rr_p50 is not within %.0f× of a minimal ping-pong in %d tries (last: %s)", factor, tries, last)
}
