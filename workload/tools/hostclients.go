package tools

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"vcbench/agent/proto"
)

// The host-client tools: iperf3, sockperf and redis-benchmark. Their
// servers run in the instance (the agent starts them from ServerArgs);
// their clients run on the host, from the same tools tree, against the
// instance's address (see workload.RunHostClient).

// Choices of the host-client parameters.
var (
	// Protocols are the values of `protocol` (iperf3, sockperf).
	Protocols = []string{"tcp", "udp", "both"}
	// Directions are the values of `direction` (iperf3).
	Directions = []string{"to_agent", "from_agent", "both"}
	// RedisTests are the redis-benchmark 7 tests (-t) whose CSV rows have
	// one name each (the lrange tests add an "LPUSH" row of their own,
	// which would collide with the lpush test).
	RedisTests = []string{"ping_inline", "ping_mbulk", "set", "get", "incr", "lpush", "rpush",
		"lpop", "rpop", "sadd", "hset", "spop", "zadd", "zpopmin", "mset"}
)

// Defaults of the host-client parameters.
const (
	// DefaultUDPBitrate is iperf3's UDP target when bitrate is unset:
	// iperf3's own default (1 Mbit/s) measures nothing, and unlimited UDP
	// on loopback loses three quarters of the datagrams at the receiver.
	DefaultUDPBitrate = 1_000_000_000
	// SockperfMinMsg is sockperf's smallest message (its header).
	SockperfMinMsg = 14
	// SockperfMinSeconds is the shortest sockperf run that has valid
	// observations: sockperf 3.7 drops a warm-up and the edges of the run
	// (2 s keep ≈ 0.8 s; 1 s keeps none).
	SockperfMinSeconds = 2
	// DefaultRedisClients and DefaultRedisRequests are redis-benchmark's
	// -c and -n when unset.
	DefaultRedisClients  = 50
	DefaultRedisRequests = 100000
	defaultToolSeconds   = 5 * time.Second
)

// Wants reports whether a `protocol` or `direction` value v (empty:
// both) includes one.
func Wants(v, one string) bool { return v == "" || v == "both" || v == one }

// ServerArgs is the command line of a host-client tool's server in the
// instance, listening on port (TCP, or UDP for sockperf's udp) on every
// address, with dir as a writable directory (redis-server's).
func ServerArgs(tool, protocol string, port int, dir string) ([]string, error) {
	p := strconv.Itoa(port)
	switch tool {
	case proto.ServerIperf3:
		// One test, then it exits: each client run gets a fresh server.
		return []string{"iperf3", "-s", "-1", "-p", p}, nil
	case proto.ServerSockperf:
		args := []string{"sockperf", "server", "-i", "0.0.0.0", "-p", p}
		switch protocol {
		case "tcp":
			args = append(args, "--tcp")
		case "udp":
		default:
			return nil, fmt.Errorf("sockperf serves tcp or udp, not %q", protocol)
		}
		return args, nil
	case proto.ServerRedis:
		// protected-mode refuses clients from other addresses than
		// loopback when there is no password: the host is one.
		return []string{"redis-server", "--port", p, "--bind", "0.0.0.0", "--protected-mode", "no",
			"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"}, nil
	}
	return nil, fmt.Errorf("%q is not a tool server (allowed: %s, %s, %s)", tool, proto.ServerIperf3, proto.ServerSockperf, proto.ServerRedis)
}

// Iperf3Args is the iperf3 client's command line against host:port:
// -R when reverse (the server sends), UDP at p.Bitrate when udp.
func Iperf3Args(p Params, host string, port int, udp, reverse bool) []string {
	args := []string{"iperf3", "-c", host, "-p", strconv.Itoa(port),
		"-t", strconv.Itoa(p.Runtime.seconds(defaultToolSeconds)), "-P", strconv.Itoa(orInt(p.Streams, 1)),
		"--connect-timeout", "5000", "-J"}
	if reverse {
		args = append(args, "-R")
	}
	if udp {
		args = append(args, "-u", "-b", strconv.FormatInt(int64(orBitrate(p.Bitrate, DefaultUDPBitrate)), 10))
	}
	return args
}

func orBitrate(v, def Bitrate) Bitrate {
	if v > 0 {
		return v
	}
	return def
}

// RunIperf3 runs one iperf3 client through r and parses its report.
func RunIperf3(ctx context.Context, r Runner, p Params, host string, port int, udp, reverse bool) (*Output, error) {
	argv := Iperf3Args(p, host, port, udp, reverse)
	stdout, stderr, err := run(ctx, r, "/", argv...)
	if err != nil {
		return nil, err
	}
	figs, err := ParseIperf3(bytesReader(stdout))
	if err != nil {
		return nil, parseFailed("iperf3", argv[1:], append(stderr, stdout...), err)
	}
	return &Output{Figures: figs, Raw: stdout, Command: argv}, nil
}

// SockperfSeconds is the run time sockperf gets for p (at least
// SockperfMinSeconds), and a warning when that is longer than asked.
func SockperfSeconds(p Params) (int, string) {
	s := p.Runtime.seconds(defaultToolSeconds)
	if s < SockperfMinSeconds {
		return SockperfMinSeconds, fmt.Sprintf("sockperf runs %d s, not %d s: shorter runs have no valid observations", SockperfMinSeconds, s)
	}
	return s, ""
}

// SockperfArgs is sockperf's ping-pong client against host:port. Results
// are round trips (--full-rtt), the figure the built-in network
// workload's rr_* measure; the monotonic clock (--no-rdtsc), because
// sockperf scales the TSC by /proc/cpuinfo's MHz, which a VM's guest and
// a nested host misreport.
func SockperfArgs(p Params, host string, port int, udp bool) []string {
	secs, _ := SockperfSeconds(p)
	args := []string{"sockperf", "ping-pong", "-i", host, "-p", strconv.Itoa(port), "-t", strconv.Itoa(secs),
		"-m", strconv.Itoa(orInt(p.MsgSize, SockperfMinMsg)), "--full-rtt", "--no-rdtsc"}
	if !udp {
		args = append(args, "--tcp")
	}
	return args
}

// RunSockperf runs one sockperf ping-pong client through r and parses it.
func RunSockperf(ctx context.Context, r Runner, p Params, host string, port int, udp bool) (*Output, error) {
	argv := SockperfArgs(p, host, port, udp)
	stdout, stderr, err := run(ctx, r, "/", argv...)
	if err != nil {
		return nil, err
	}
	figs, err := ParseSockperf(bytesReader(stdout))
	if err != nil {
		// sockperf 3.7 prints its errors on stdout and exits 0.
		return nil, parseFailed("sockperf", argv[1:], append(stderr, stdout...), err)
	}
	out := &Output{Figures: figs, Raw: stdout, Command: argv}
	if _, w := SockperfSeconds(p); w != "" {
		out.Warnings = append(out.Warnings, w)
	}
	return out, nil
}

// RedisBenchmarkArgs is redis-benchmark's command line against host:port.
func RedisBenchmarkArgs(p Params, host string, port int) []string {
	tests := p.Tests
	if len(tests) == 0 {
		tests = []string{"get", "set"}
	}
	args := []string{"redis-benchmark", "-h", host, "-p", strconv.Itoa(port),
		"-c", strconv.Itoa(orInt(p.Clients, DefaultRedisClients)), "-n", strconv.Itoa(orInt(p.Requests, DefaultRedisRequests))}
	if p.ValueSize > 0 {
		args = append(args, "-d", strconv.FormatInt(int64(p.ValueSize), 10))
	}
	return append(args, "-t", strings.Join(tests, ","), "--csv")
}

// redisProbeWait bounds the connection that RunRedisBenchmark tries first.
const redisProbeWait = 5 * time.Second

// RunRedisBenchmark runs redis-benchmark through r and parses its CSV.
// It first connects to the server itself: redis-benchmark 7.0 that cannot
// connect says so and then spins on a CPU until it is killed, which would
// cost the whole workload time-out (and a CPU) instead of an error.
func RunRedisBenchmark(ctx context.Context, r Runner, p Params, host string, port int) (*Output, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	c, err := (&net.Dialer{Timeout: redisProbeWait}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("redis-server at %s does not accept connections (redis-benchmark would spin until killed): %w", addr, err)
	}
	c.Close()
	argv := RedisBenchmarkArgs(p, host, port)
	stdout, stderr, err := run(ctx, r, "/", argv...)
	if err != nil {
		return nil, err
	}
	figs, err := ParseRedisBenchmark(bytesReader(stdout))
	if err != nil {
		return nil, parseFailed("redis-benchmark", argv[1:], stderr, err)
	}
	return &Output{Figures: figs, Raw: stdout, Command: argv}, nil
}

var (
	ansiRE       = regexp.MustCompile("\x1b\\[[0-9;]*m")
	sockTotalRE  = regexp.MustCompile(`^sockperf: Total ([0-9]+) observations`)
	sockPctRE    = regexp.MustCompile(`^sockperf: ---> percentile ([0-9.]+) = +([0-9.]+)$`)
	sockAvgRE    = regexp.MustCompile(`^sockperf: ====> avg-(rtt|latency)=([0-9.]+) `)
	sockDropRE   = regexp.MustCompile(`^sockperf: # dropped messages = ([0-9]+);`)
	sockErrorRE  = regexp.MustCompile(`^sockperf: (ERROR: .*|No messages were received.*|No valid observations.*)$`)
	sockVersions = regexp.MustCompile(`== version #([^ ]+) ==`)
)

// ParseSockperf reads sockperf 3.7's ping-pong summary (with --full-rtt:
// round trips in µs) and returns rr_p50, rr_p99, rr_p99_9 and rr_avg
// (seconds), rr_count (observations) and dropped (messages, count). It
// refuses a summary of one-way latencies (without --full-rtt, half the
// round trip), and returns sockperf's own complaint (it exits 0 on "No
// valid observations" and a refused connection).
func ParseSockperf(r io.Reader) ([]Figure, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 16<<20))
	pct := map[string]float64{}
	var count, avg, dropped float64
	var haveCount, haveAvg, haveDrop bool
	version := ""
	for sc.Scan() {
		line := strings.TrimSpace(ansiRE.ReplaceAllString(sc.Text(), ""))
		if m := sockVersions.FindStringSubmatch(line); m != nil {
			version = m[1]
		}
		if m := sockErrorRE.FindStringSubmatch(line); m != nil {
			return nil, fmt.Errorf("sockperf: %s", m[1])
		}
		if m := sockTotalRE.FindStringSubmatch(line); m != nil {
			count, _ = strconv.ParseFloat(m[1], 64)
			haveCount = true
		}
		if m := sockAvgRE.FindStringSubmatch(line); m != nil {
			if m[1] != "rtt" {
				return nil, fmt.Errorf("sockperf reports one-way latency (avg-%s); run it with --full-rtt", m[1])
			}
			avg, _ = strconv.ParseFloat(m[2], 64)
			haveAvg = true
		}
		if m := sockDropRE.FindStringSubmatch(line); m != nil {
			dropped, _ = strconv.ParseFloat(m[1], 64)
			haveDrop = true
		}
		if m := sockPctRE.FindStringSubmatch(line); m != nil {
			q, err1 := strconv.ParseFloat(m[1], 64)
			v, err2 := strconv.ParseFloat(m[2], 64)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("sockperf percentile line %q", line)
			}
			pct[strconv.FormatFloat(q, 'f', 3, 64)] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sockperf output: %w", err)
	}
	if !haveCount || !haveAvg || !haveDrop {
		return nil, fmt.Errorf("sockperf output (version %q) without its summary: %w", version, ErrNoFigures)
	}
	figs := []Figure{}
	for _, q := range []struct{ key, name string }{{"50.000", "rr_p50"}, {"99.000", "rr_p99"}, {"99.900", "rr_p99_9"}} {
		v, ok := pct[q.key]
		if !ok {
			return nil, fmt.Errorf("sockperf summary without percentile %s: %w", q.key, ErrNoFigures)
		}
		figs = append(figs, lower(q.name, UnitSeconds, v/1e6))
	}
	figs = append(figs, lower("rr_avg", UnitSeconds, avg/1e6),
		higher("rr_count", UnitCount, count), lower("dropped", UnitCount, dropped))
	for _, f := range figs {
		if math.IsInf(f.Value, 0) || math.IsNaN(f.Value) {
			return nil, fmt.Errorf("sockperf %s = %v", f.Name, f.Value)
		}
	}
	if count <= 0 {
		return nil, fmt.Errorf("sockperf counted no observations: %w", ErrNoFigures)
	}
	return figs, nil
}
