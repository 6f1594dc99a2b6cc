package tools

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vcbench/agent/proto"
)

// The host-client fixtures are real outputs of the tools image's iperf3
// 3.12, sockperf 3.7 and redis-benchmark 7.0.15 on loopback, each side
// pinned to one CPU of the development machine.

func init() {
	parsers["sockperf"] = func(r *bytes.Reader) ([]Figure, error) { return ParseSockperf(r) }
}

func TestParseIperf3UDP(t *testing.T) {
	figs := parseFixture(t, "iperf3", "iperf3-3.12-udp-1G.json")
	near(t, "received_bw", figure(t, figs, "received_bw"), 999103098.411302/8)
	near(t, "jitter", figure(t, figs, "jitter"), 0.014063461042252546e-3)
	near(t, "lost", figure(t, figs, "lost"), 0)
	figs = parseFixture(t, "iperf3", "iperf3-3.12-udp-reverse-P2-unlimited.json")
	near(t, "lost", figure(t, figs, "lost"), 0.7770585679870463)
	near(t, "sent_bw", figure(t, figs, "sent_bw"), 66370646063.45547/8)
	for _, f := range figs {
		if f.Name == "retransmits" {
			t.Error("a UDP report has no retransmits")
		}
	}
}

func TestParseSockperf(t *testing.T) {
	figs := parseFixture(t, "sockperf", "sockperf-3.7-tcp-pp.txt")
	near(t, "p50", figure(t, figs, "rr_p50"), 49.301e-6)
	near(t, "p99", figure(t, figs, "rr_p99"), 1798.815e-6)
	near(t, "p99.9", figure(t, figs, "rr_p99_9"), 4220.257e-6)
	near(t, "avg", figure(t, figs, "rr_avg"), 108.793e-6)
	near(t, "count", figure(t, figs, "rr_count"), 7620)
	figs = parseFixture(t, "sockperf", "sockperf-3.7-udp-pp.txt")
	near(t, "udp p50", figure(t, figs, "rr_p50"), 43.007e-6)
	near(t, "udp dropped", figure(t, figs, "dropped"), 0)
	parseFixture(t, "redis", "redis-benchmark-7.0.15-get-set-incr-c10.csv")
}

// TestParseHostClientFailures: sockperf exits 0 when it measured nothing
// or reached no server; each such output is an error that says why.
func TestParseHostClientFailures(t *testing.T) {
	for file, want := range map[string]string{
		"sockperf-3.7-no-observations.txt": "No valid observations",
		"sockperf-3.7-udp-no-server.txt":   "No messages were received",
		"sockperf-3.7-tcp-refused.txt":     "Connection refused",
		"iperf3-3.12-client.json":          "without its summary",
	} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if figs, err := ParseSockperf(bytes.NewReader(b)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, %v; want an error containing %q", file, figs, err, want)
		}
	}
	b, _ := os.ReadFile("testdata/sockperf-3.7-tcp-pp.txt")
	oneWay := strings.ReplaceAll(string(b), "avg-rtt", "avg-latency")
	if _, err := ParseSockperf(strings.NewReader(oneWay)); err == nil || !strings.Contains(err.Error(), "--full-rtt") {
		t.Errorf("one-way latencies: %v, want a refusal naming --full-rtt", err)
	}
	csv := "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n" +
		"\"LPUSH\",\"1\",\"1\",\"1\",\"1\",\"1\",\"1\",\"1\"\n\"LPUSH (needed to benchmark LRANGE)\",\"1\",\"1\",\"1\",\"1\",\"1\",\"1\",\"1\"\n"
	if _, err := ParseRedisBenchmark(strings.NewReader(csv)); err == nil {
		t.Error("redis-benchmark CSV with LPUSH twice parsed")
	}
}

// TestSockperfErrorCarriesOutput: the driver's error holds sockperf's own
// complaint, which it prints on stdout.
func TestSockperfErrorCarriesOutput(t *testing.T) {
	b, _ := os.ReadFile("testdata/sockperf-3.7-tcp-refused.txt")
	fakeTool(t, "sockperf", "cat <<'EOF'\n"+string(b)+"EOF\n")
	_, err := RunSockperf(context.Background(), shRunner{dir: t.TempDir()}, Params{}, "127.0.0.1", 1, false)
	var te *Error
	if !errors.As(err, &te) || !strings.Contains(te.Stderr, "Connection refused") {
		t.Errorf("sockperf refused: %v, want an *Error with its output", err)
	}
}

// TestRedisBenchmarkRefused: a server that refuses connections is an
// error at once, without starting redis-benchmark (7.0 spins forever).
func TestRedisBenchmarkRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ran := filepath.Join(t.TempDir(), "ran")
	fakeTool(t, "redis-benchmark", "touch "+ran+"; sleep 60\n")
	start := time.Now()
	_, err = RunRedisBenchmark(context.Background(), shRunner{dir: t.TempDir()}, Params{}, "127.0.0.1", port)
	if err == nil || !strings.Contains(err.Error(), "does not accept connections") || time.Since(start) > 5*time.Second {
		t.Errorf("refused redis: %v after %s, want an error at once", err, time.Since(start))
	}
	if _, serr := os.Stat(ran); serr == nil {
		t.Error("redis-benchmark ran against a refusing server")
	}
}

func TestHostClientArgs(t *testing.T) {
	p := Params{Streams: 4, Bitrate: 500_000_000}
	for _, c := range []struct{ got, want string }{
		{strings.Join(Iperf3Args(p, "10.0.0.2", 8082, true, true), " "),
			"iperf3 -c 10.0.0.2 -p 8082 -t 5 -P 4 --connect-timeout 5000 -J -R -u -b 500000000"},
		{strings.Join(Iperf3Args(Params{}, "127.0.0.1", 9, false, false), " "),
			"iperf3 -c 127.0.0.1 -p 9 -t 5 -P 1 --connect-timeout 5000 -J"},
		{strings.Join(SockperfArgs(Params{Runtime: Duration{D: 1}}, "127.0.0.1", 9, false), " "),
			"sockperf ping-pong -i 127.0.0.1 -p 9 -t 2 -m 14 --full-rtt --no-rdtsc --tcp"},
		{strings.Join(RedisBenchmarkArgs(Params{ValueSize: 64, Tests: []string{"incr"}}, "h", 9), " "),
			"redis-benchmark -h h -p 9 -c 50 -n 100000 -d 64 -t incr --csv"},
	} {
		if c.got != c.want {
			t.Errorf("\n got %s\nwant %s", c.got, c.want)
		}
	}
	for _, tool := range []string{proto.ServerIperf3, proto.ServerRedis} {
		if _, err := ServerArgs(tool, "tcp", 8082, "/scratch"); err != nil {
			t.Error(err)
		}
	}
	if got, _ := ServerArgs(proto.ServerSockperf, "udp", 8082, "/scratch"); strings.Join(got, " ") != "sockperf server -i 0.0.0.0 -p 8082" {
		t.Errorf("sockperf udp server: %v", got)
	}
	if _, err := ServerArgs(proto.ServerSockperf, "sctp", 1, "/"); err == nil {
		t.Error("sockperf sctp server accepted")
	}
	if _, err := ServerArgs("nc", "tcp", 1, "/"); err == nil {
		t.Error("nc server accepted")
	}
}

func TestParseBitrate(t *testing.T) {
	for in, want := range map[string]Bitrate{"1000": 1000, "100M": 100e6, "1G": 1e9, "2.5g": 2.5e9, "10k": 1e4} {
		if got, err := ParseBitrate(in); err != nil || got != want {
			t.Errorf("ParseBitrate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1", "1P", "1e9", "999T"} {
		if got, err := ParseBitrate(in); err == nil {
			t.Errorf("ParseBitrate(%q) = %d, want an error", in, got)
		}
	}
}

func TestValidateHostClientParams(t *testing.T) {
	for _, c := range []struct {
		p   Params
		key string
	}{
		{Params{Protocol: "icmp"}, "protocol"},
		{Params{Direction: "sideways"}, "direction"},
		{Params{MsgSize: 13}, "msg_size"},
		{Params{MsgSize: MaxMsgSize + 1}, "msg_size"},
		{Params{Tests: []string{"get", "get"}}, "tests"},
		{Params{Tests: []string{""}}, "tests"},
		{Params{Bitrate: -1}, "bitrate"},
	} {
		if key, err := c.p.Validate(); err == nil || key != c.key {
			t.Errorf("%+v: key %q, %v; want an error at %s", c.p, key, err, c.key)
		}
	}
	if key, err := (Params{Protocol: "udp", Direction: "from_agent", MsgSize: 64, Tests: []string{"get", "mset"}, Bitrate: 1e9}).Validate(); err != nil {
		t.Errorf("valid params refused at %s: %v", key, err)
	}
}

func FuzzParseSockperf(f *testing.F) {
	fuzzSeeds(f, "sockperf-3.7-tcp-pp.txt", "sockperf-3.7-udp-pp.txt", "sockperf-3.7-no-observations.txt", "sockperf-3.7-tcp-refused.txt")
	f.Fuzz(func(t *testing.T, b []byte) {
		figs, err := ParseSockperf(bytes.NewReader(b))
		checkFigures(t, figs, err)
	})
}

func FuzzParseIperf3UDP(f *testing.F) {
	fuzzSeeds(f, "iperf3-3.12-udp-1G.json", "iperf3-3.12-udp-reverse-P2-unlimited.json")
	f.Fuzz(func(t *testing.T, b []byte) {
		figs, err := ParseIperf3(bytes.NewReader(b))
		checkFigures(t, figs, err)
	})
}
