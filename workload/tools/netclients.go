package tools

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The parsers of the host-side clients (iperf3, redis-benchmark; sockperf
// is in hostclients.go with the drivers).

type iperf3Report struct {
	Start struct {
		Version   string `json:"version"`
		TestStart struct {
			Protocol string `json:"protocol"`
		} `json:"test_start"`
	} `json:"start"`
	End struct {
		SumSent struct {
			Bytes       float64  `json:"bytes"`
			Seconds     float64  `json:"seconds"`
			BPS         float64  `json:"bits_per_second"`
			Retransmits *float64 `json:"retransmits"`
		} `json:"sum_sent"`
		SumReceived struct {
			BPS         float64  `json:"bits_per_second"`
			JitterMS    *float64 `json:"jitter_ms"`
			LostPercent *float64 `json:"lost_percent"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// ParseIperf3 reads the client's `iperf3 -J` report and returns sent_bw
// and received_bw (bytes/s; iperf3 counts bits) and, for TCP, retransmits
// (count, when the sender's kernel reports them); for UDP, the receiver's
// jitter (seconds) and lost (the fraction of datagrams lost, 0..1).
// iperf3 3.12 exits 0 when it cannot connect: the report's "error" is
// then the error.
func ParseIperf3(r io.Reader) ([]Figure, error) {
	var rep iperf3Report
	if err := json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(&rep); err != nil {
		return nil, fmt.Errorf("iperf3 JSON: %w", err)
	}
	if rep.Error != "" {
		return nil, fmt.Errorf("iperf3: %s", rep.Error)
	}
	s, rcv := rep.End.SumSent, rep.End.SumReceived
	ok := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }
	if !ok(s.BPS) || !ok(rcv.BPS) {
		return nil, fmt.Errorf("iperf3 report without end sums: %w", ErrNoFigures)
	}
	figs := []Figure{
		higher("sent_bw", UnitBytesPerSecond, s.BPS/8),
		higher("received_bw", UnitBytesPerSecond, rcv.BPS/8),
	}
	finite := func(v float64) bool { return v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }
	switch rep.Start.TestStart.Protocol {
	case "UDP":
		j, l := rcv.JitterMS, rcv.LostPercent
		if j == nil || l == nil || !finite(*j) || !finite(*l) || *l > 100 {
			return nil, fmt.Errorf("iperf3 UDP report without the receiver's jitter and loss: %w", ErrNoFigures)
		}
		figs = append(figs, lower("jitter", UnitSeconds, *j/1e3), lower("lost", UnitRatio, *l/100))
	case "TCP", "":
		if s.Retransmits != nil && finite(*s.Retransmits) {
			figs = append(figs, lower("retransmits", UnitCount, *s.Retransmits))
		}
	default:
		return nil, fmt.Errorf("iperf3 report of protocol %q", rep.Start.TestStart.Protocol)
	}
	return figs, nil
}

// ParseRedisBenchmark reads `redis-benchmark --csv` (redis 7: test, rps,
// avg/min/p50/p95/p99/max latency in ms) and returns per test (lower
// case, e.g. get, set) <test>_requests_per_second and <test>_latency_p50,
// _p99 (seconds).
func ParseRedisBenchmark(r io.Reader) ([]Figure, error) {
	cr := csv.NewReader(io.LimitReader(r, 16<<20))
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("redis-benchmark CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, want := range []string{"test", "rps", "p50_latency_ms", "p99_latency_ms"} {
		if _, ok := col[want]; !ok {
			return nil, fmt.Errorf("redis-benchmark CSV has no %q column (header %v)", want, head)
		}
	}
	var figs []Figure
	seen := map[string]bool{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("redis-benchmark CSV: %w", err)
		}
		if len(rec) != len(head) {
			return nil, fmt.Errorf("redis-benchmark CSV: %d fields, header has %d", len(rec), len(head))
		}
		name := strings.ToLower(strings.Fields(rec[col["test"]] + " x")[0])
		if seen[name] {
			// The lrange tests add an "LPUSH (needed to benchmark LRANGE)" row.
			return nil, fmt.Errorf("redis-benchmark CSV has test %q twice", name)
		}
		seen[name] = true
		num := func(k string) (float64, error) {
			v, err := strconv.ParseFloat(rec[col[k]], 64)
			if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				return 0, fmt.Errorf("redis-benchmark %s %s: %q", name, k, rec[col[k]])
			}
			return v, nil
		}
		rps, err1 := num("rps")
		p50, err2 := num("p50_latency_ms")
		p99, err3 := num("p99_latency_ms")
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		figs = append(figs,
			higher(name+"_requests_per_second", UnitOpsPerSecond, rps),
			lower(name+"_latency_p50", UnitSeconds, p50/1e3),
			lower(name+"_latency_p99", UnitSeconds, p99/1e3))
	}
	if len(figs) == 0 {
		return nil, fmt.Errorf("no tests in redis-benchmark's CSV: %w", ErrNoFigures)
	}
	return figs, nil
}
