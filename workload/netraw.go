package workload

import (
	"vcbench/agent/proto"

	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Request/response message sizes of the raw workload.
const (
	// TCPRRBytes is netperf TCP_RR's default request and response size.
	TCPRRBytes = 1
	// UDPRRBytes carries a sequence number, so that a late reply is not
	// taken for the current one.
	UDPRRBytes = 8
)

const (
	rawDialTimeout  = 5 * time.Second
	udpReplyTimeout = 500 * time.Millisecond
	udpHelloTries   = 3
)

// rrWarmup is how many round trips run untimed first (connection and
// cache warm-up, the scheduler learning the ping-pong).
func rrWarmup(ops int) int { return min(ops/10, 100) }

// runRaw adds the data server's figures to res: raw TCP streams both ways,
// then TCP and UDP request/response. A data server that cannot be reached
// (an old agent, a port not forwarded) leaves a warning; a failure once
// connected is an error.
func runRaw(ctx context.Context, client *http.Client, target NetTarget, size int64, ops int, res *Result) error {
	missing := func(what string, err error) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s figures missing: %v", what, err))
	}
	ports, err := fetchPorts(ctx, client, "http://"+target.Control)
	if err != nil {
		missing("raw TCP and UDP", err)
		return nil
	}
	token, err := hex.DecodeString(ports.Token)
	if err != nil || len(token) != tokenBytes {
		missing("raw TCP and UDP", fmt.Errorf("GET "+proto.PathNetPorts+": bad token %q", ports.Token))
		return nil
	}
	tcpAddr, udpAddr := target.Data, target.Data
	if target.Data == "" {
		host, _, err := net.SplitHostPort(target.Control)
		if err != nil {
			return fmt.Errorf("control address %q: %w", target.Control, err)
		}
		tcpAddr = net.JoinHostPort(host, strconv.Itoa(ports.TCP))
		udpAddr = net.JoinHostPort(host, strconv.Itoa(ports.UDP))
	}
	res.Notes["data_addr"] = tcpAddr
	res.Notes["tcp_rr_request_bytes"] = fmt.Sprint(TCPRRBytes)
	res.Notes["udp_rr_request_bytes"] = fmt.Sprint(UDPRRBytes)

	if err := rawTCP(ctx, tcpAddr, token, size, ops, res); err != nil {
		if !errors.Is(err, errUnreachable) {
			return err
		}
		missing("raw TCP", err)
	}
	if err := rawUDP(ctx, udpAddr, token, ops, res); err != nil {
		if !errors.Is(err, errUnreachable) {
			return err
		}
		missing("UDP", err)
	}
	return nil
}

func fetchPorts(ctx context.Context, client *http.Client, base string) (proto.DataPorts, error) {
	var ports proto.DataPorts
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+proto.PathNetPorts, nil)
	if err != nil {
		return ports, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return ports, fmt.Errorf("GET "+proto.PathNetPorts+": %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return ports, fmt.Errorf("GET "+proto.PathNetPorts+": agent answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if err := json.NewDecoder(resp.Body).Decode(&ports); err != nil {
		return ports, fmt.Errorf("GET "+proto.PathNetPorts+": %w", err)
	}
	return ports, nil
}

// errUnreachable marks a data server that was not reached or not ours.
var errUnreachable = errors.New("data server not reached")

// dialData connects to the data server at addr, checks its token and
// sends the operation header. The connection ends with ctx.
func dialData(ctx context.Context, addr string, token []byte, header []byte) (net.Conn, func(), error) {
	c, err := (&net.Dialer{Timeout: rawDialTimeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errUnreachable, err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	done := func() { stop(); c.Close() }
	c.SetDeadline(time.Now().Add(rawDialTimeout))
	got := make([]byte, tokenBytes)
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, token) {
		done()
		return nil, nil, fmt.Errorf("%w: %s did not greet with the agent's token (is the data port forwarded to the instance?): %v", errUnreachable, addr, err)
	}
	c.SetDeadline(time.Time{})
	if _, err := c.Write(header); err != nil {
		done()
		return nil, nil, fmt.Errorf("data server %s: %w", addr, err)
	}
	return c, done, nil
}

func rawTCP(ctx context.Context, addr string, token []byte, size int64, ops int, res *Result) error {
	// To the agent: write size bytes, half-close, read the agent's count.
	c, done, err := dialData(ctx, addr, token, []byte{opSink})
	if err != nil {
		return err
	}
	buf := make([]byte, streamBufSize)
	t := time.Now()
	for left := size; left > 0; {
		n, err := c.Write(buf[:min(left, int64(len(buf)))])
		if err != nil {
			done()
			return fmt.Errorf("tcp stream to agent: %w", err)
		}
		left -= int64(n)
	}
	c.(*net.TCPConn).CloseWrite()
	var count [8]byte
	_, err = io.ReadFull(c, count[:])
	up := time.Since(t)
	done()
	if err != nil || int64(binary.BigEndian.Uint64(count[:])) != size {
		return fmt.Errorf("tcp stream to agent: agent counted %d of %d bytes: %v", binary.BigEndian.Uint64(count[:]), size, err)
	}

	// From the agent.
	hdr := binary.BigEndian.AppendUint64([]byte{opSource}, uint64(size))
	c, done, err = dialData(ctx, addr, token, hdr)
	if err != nil {
		return err
	}
	t = time.Now()
	got, err := io.CopyBuffer(io.Discard, c, buf)
	down := time.Since(t)
	done()
	if err != nil || got != size {
		return fmt.Errorf("tcp stream from agent: got %d of %d bytes: %v", got, size, err)
	}

	// Request/response on one connection (Go sets TCP_NODELAY).
	hdr = binary.BigEndian.AppendUint32([]byte{opEcho}, TCPRRBytes)
	c, done, err = dialData(ctx, addr, token, hdr)
	if err != nil {
		return err
	}
	defer done()
	msg := make([]byte, TCPRRBytes)
	warm := rrWarmup(ops)
	lat := make([]time.Duration, 0, ops)
	var rrStart time.Time
	for i := 0; i < warm+ops; i++ {
		t := time.Now()
		if i == warm {
			rrStart = t
		}
		if _, err := c.Write(msg); err != nil {
			return fmt.Errorf("tcp rr %d: %w", i, err)
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			return fmt.Errorf("tcp rr %d: %w", i, err)
		}
		if i >= warm {
			lat = append(lat, time.Since(t))
		}
	}
	rrTime := time.Since(rrStart)
	sortDurations(lat)
	res.Metrics = append(res.Metrics,
		higher("tcp_stream_to_agent", UnitBytesPerSecond, float64(size)/up.Seconds()),
		higher("tcp_stream_from_agent", UnitBytesPerSecond, float64(size)/down.Seconds()),
		higher("tcp_rr_rate", UnitOpsPerSecond, float64(len(lat))/rrTime.Seconds()),
		lower("tcp_rr_p50", UnitSeconds, percentile(lat, 0.50).Seconds()),
		lower("tcp_rr_p90", UnitSeconds, percentile(lat, 0.90).Seconds()),
		lower("tcp_rr_p99", UnitSeconds, percentile(lat, 0.99).Seconds()),
	)
	res.Notes["tcp_rr_count"] = fmt.Sprint(len(lat))
	res.Notes["tcp_rr_warmup"] = fmt.Sprint(warm)
	return nil
}

func rawUDP(ctx context.Context, addr string, token []byte, ops int, res *Result) error {
	c, err := (&net.Dialer{Timeout: rawDialTimeout}).DialContext(ctx, "udp", addr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnreachable, err)
	}
	defer context.AfterFunc(ctx, func() { c.Close() })()
	defer c.Close()
	buf := make([]byte, 64)
	greeted := false
	for try := 0; try < udpHelloTries && !greeted; try++ {
		if _, err := c.Write([]byte(udpHello)); err != nil {
			return fmt.Errorf("%w: udp hello to %s: %v", errUnreachable, addr, err)
		}
		c.SetReadDeadline(time.Now().Add(udpReplyTimeout))
		n, err := c.Read(buf)
		greeted = err == nil && bytes.Equal(buf[:n], token)
	}
	if !greeted {
		return fmt.Errorf("%w: %s did not answer the UDP hello with the agent's token (is the data port forwarded for UDP?)", errUnreachable, addr)
	}
	warm := rrWarmup(ops)
	lat := make([]time.Duration, 0, ops)
	var rrStart time.Time
	lost := 0
	msg := make([]byte, UDPRRBytes)
	for i := 0; i < warm+ops; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		seq := uint64(i)
		binary.BigEndian.PutUint64(msg, seq)
		t := time.Now()
		if i == warm {
			rrStart = t
		}
		if _, err := c.Write(msg); err != nil {
			return fmt.Errorf("udp rr %d: %w", i, err)
		}
		c.SetReadDeadline(t.Add(udpReplyTimeout))
		for {
			n, err := c.Read(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				lost++
				break
			}
			if err != nil {
				return fmt.Errorf("udp rr %d: %w", i, err)
			}
			if n != UDPRRBytes || binary.BigEndian.Uint64(buf[:n]) != seq {
				continue // a late reply to an earlier request
			}
			if i >= warm {
				lat = append(lat, time.Since(t))
			}
			break
		}
	}
	rrTime := time.Since(rrStart)
	if len(lat) == 0 {
		return fmt.Errorf("udp rr: all %d requests lost", warm+ops)
	}
	sortDurations(lat)
	res.Metrics = append(res.Metrics,
		higher("udp_rr_rate", UnitOpsPerSecond, float64(len(lat))/rrTime.Seconds()),
		lower("udp_rr_p50", UnitSeconds, percentile(lat, 0.50).Seconds()),
		lower("udp_rr_p90", UnitSeconds, percentile(lat, 0.90).Seconds()),
		lower("udp_rr_p99", UnitSeconds, percentile(lat, 0.99).Seconds()),
	)
	res.Notes["udp_rr_count"] = fmt.Sprint(len(lat))
	res.Notes["udp_rr_lost"] = fmt.Sprint(lost)
	if lost > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("udp rr: %d of %d requests got no reply within %s; percentiles are over the %d answered", lost, warm+ops, udpReplyTimeout, len(lat)))
	}
	return nil
}
