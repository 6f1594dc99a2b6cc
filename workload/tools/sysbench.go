package tools

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SysbenchTests are the sysbench tests a workload may run.
var SysbenchTests = []string{"cpu", "memory", "fileio", "oltp_read_only", "oltp_read_write"}

// SysbenchOLTPTests are the tests that run against a MariaDB server the
// driver starts in the instance (RunSysbenchOLTP).
var SysbenchOLTPTests = []string{"oltp_read_only", "oltp_read_write"}

// IsSysbenchOLTP reports whether test is one of SysbenchOLTPTests.
func IsSysbenchOLTP(test string) bool {
	for _, t := range SysbenchOLTPTests {
		if test == t {
			return true
		}
	}
	return false
}

// SysbenchFileModes are sysbench fileio's --file-test-mode values.
var SysbenchFileModes = []string{"seqwr", "seqrewr", "seqrd", "rndrd", "rndwr", "rndrw"}

// sysbench defaults.
const (
	DefaultSysbenchTest     = "cpu"
	DefaultSysbenchRuntime  = 5 * time.Second
	DefaultSysbenchMemBS    = Size(1 << 20)
	DefaultSysbenchMemSize  = Size(1 << 40) // bounded by the runtime
	DefaultSysbenchFileSize = Size(64 << 20)
	DefaultSysbenchFileBS   = Size(16 << 10)
	DefaultSysbenchFileMode = "rndrw"
	sysbenchFileNum         = 4
	sysbenchPercentile      = 99
)

// SysbenchArgs is sysbench's `run` command line for p with threads (at
// least 1): its own 99th percentile and a latency histogram (for the median).
func SysbenchArgs(p Params, threads int) []string {
	test := orString(p.Test, DefaultSysbenchTest)
	argv := []string{"sysbench", test,
		"--threads=" + strconv.Itoa(max(threads, 1)),
		"--time=" + strconv.Itoa(p.Runtime.seconds(DefaultSysbenchRuntime)),
		"--events=0",
		"--percentile=" + strconv.Itoa(sysbenchPercentile),
		"--histogram=on",
	}
	switch test {
	case "cpu":
		if p.MaxPrime > 0 {
			argv = append(argv, "--cpu-max-prime="+strconv.Itoa(p.MaxPrime))
		}
	case "memory":
		argv = append(argv,
			"--memory-block-size="+strconv.FormatInt(int64(orSize(p.BS, DefaultSysbenchMemBS)), 10),
			"--memory-total-size="+strconv.FormatInt(int64(orSize(p.Size, DefaultSysbenchMemSize)), 10))
	case "fileio":
		argv = append(argv, sysbenchFileArgs(p)...)
	}
	return append(argv, "run")
}

func sysbenchFileArgs(p Params) []string {
	return []string{
		"--file-total-size=" + strconv.FormatInt(int64(orSize(p.Size, DefaultSysbenchFileSize)), 10),
		"--file-block-size=" + strconv.FormatInt(int64(orSize(p.BS, DefaultSysbenchFileBS)), 10),
		"--file-test-mode=" + orString(p.Mode, DefaultSysbenchFileMode),
		"--file-num=" + strconv.Itoa(sysbenchFileNum),
	}
}

// RunSysbench runs one sysbench test; fileio prepares its files in a
// directory of its own under the scratch directory and removes it after.
func RunSysbench(ctx context.Context, r Runner, p Params, threads int) (*Output, error) {
	test := orString(p.Test, DefaultSysbenchTest)
	if IsSysbenchOLTP(test) {
		return RunSysbenchOLTP(ctx, r, p, threads)
	}
	dir := r.ScratchDir()
	notes := map[string]string{"threads": strconv.Itoa(max(threads, 1))}
	if test == "fileio" {
		dir = filepath.Join(r.ScratchDir(), "vcbench-sysbench")
		host := r.HostPath(dir)
		if err := os.MkdirAll(host, 0o755); err != nil {
			return nil, fmt.Errorf("sysbench fileio directory: %w", err)
		}
		defer removeAll(host)
		prep := append(append([]string{"sysbench", "fileio"}, sysbenchFileArgs(p)...), "prepare")
		if _, _, err := run(ctx, r, dir, prep...); err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
	}
	argv := SysbenchArgs(p, threads)
	stdout, stderr, err := run(ctx, r, dir, argv...)
	if err != nil {
		return nil, err
	}
	figs, err := ParseSysbench(bytesReader(stdout))
	if err != nil {
		return nil, parseFailed("sysbench", argv[1:], stderr, err)
	}
	return &Output{Figures: figs, Raw: stdout, Command: argv, Notes: notes}, nil
}

// ParseSysbench reads sysbench 1.0's text report of its cpu, memory or
// fileio test and returns what it holds: events_per_second (ops/s; cpu's
// "events per second", memory's "Total operations ... per second" —
// blocks —, fileio's reads+writes per second), bytes_per_second (memory),
// read_iops, write_iops, fsyncs_per_second, read_bw, write_bw (fileio,
// bytes/s), and latency_avg, latency_p99, latency_max (seconds) plus
// latency_p50 from the histogram when one was printed. MiB are 2^20
// bytes, as sysbench counts them.
func ParseSysbench(r io.Reader) ([]Figure, error) {
	sc, err := scanSysbench(r)
	if err != nil {
		return nil, err
	}
	figs := sc.figs
	events, haveEvents := sc.events, sc.haveEvents
	if sc.haveFileOps && !haveEvents {
		events, haveEvents = sc.reads+sc.writes, true
	}
	if !haveEvents && sc.totalTime > 0 && sc.totalEvents > 0 {
		events, haveEvents = sc.totalEvents/sc.totalTime, true
	}
	if !haveEvents {
		return nil, fmt.Errorf("no events per second in sysbench's report: %w", ErrNoFigures)
	}
	figs = append([]Figure{higher("events_per_second", UnitOpsPerSecond, events)}, figs...)
	return append(figs, sc.latency...), nil
}

// ParseSysbenchOLTP reads sysbench 1.0's text report of an OLTP test
// (oltp_read_only, oltp_read_write) and returns transactions_per_second
// and queries_per_second (ops/s), errors and reconnects (counts over the
// run: sysbench's "ignored errors", such as deadlocks, and reconnects to
// the server), and latency_avg, latency_p99, latency_max and latency_p50
// (seconds) of a transaction. A report without its transactions and
// queries lines is refused.
func ParseSysbenchOLTP(r io.Reader) ([]Figure, error) {
	sc, err := scanSysbench(r)
	if err != nil {
		return nil, err
	}
	if !sc.haveTx || !sc.haveQueries {
		return nil, fmt.Errorf("no transactions and queries per second in sysbench's OLTP report: %w", ErrNoFigures)
	}
	figs := []Figure{
		higher("transactions_per_second", UnitOpsPerSecond, sc.tps),
		higher("queries_per_second", UnitOpsPerSecond, sc.qps),
	}
	if sc.haveErrors {
		figs = append(figs, lower("errors", UnitCount, sc.errors))
	}
	if sc.haveReconnects {
		figs = append(figs, lower("reconnects", UnitCount, sc.reconnects))
	}
	return append(figs, sc.latency...), nil
}

// sysbenchScan is what a sysbench 1.0 report holds, whichever its test.
type sysbenchScan struct {
	figs    []Figure // memory's and fileio's own figures
	latency []Figure // latency_avg, _p99, _max, then _p50 from the histogram

	events                 float64
	haveEvents             bool
	totalTime, totalEvents float64
	reads, writes          float64
	haveFileOps            bool

	tps, qps, errors, reconnects                    float64
	haveTx, haveQueries, haveErrors, haveReconnects bool
}

func scanSysbench(r io.Reader) (*sysbenchScan, error) {
	var (
		out               sysbenchScan
		figs              []Figure
		hist              [][2]float64 // value (ms), count
		inHist, inLatency bool
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "FATAL:") {
			return nil, fmt.Errorf("sysbench: %s", t)
		}
		if strings.HasPrefix(t, "Latency histogram") {
			inHist = true
			continue
		}
		if inHist {
			if strings.HasPrefix(t, "value") {
				continue
			}
			v, c, ok := histLine(t)
			if !ok {
				inHist = false
			} else {
				hist = append(hist, [2]float64{v, c})
				continue
			}
		}
		if strings.HasPrefix(t, "Latency (ms):") {
			inLatency = true
			continue
		}
		// "35960.00 MiB transferred (17890.12 MiB/sec)": memory's throughput.
		if _, rest, ok := strings.Cut(t, "MiB transferred ("); ok {
			if f, ok := finite(rest); ok {
				figs = append(figs, higher("bytes_per_second", UnitBytesPerSecond, f*(1<<20)))
			}
			continue
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		num := func() (float64, bool) { return finite(v) }
		// "1234   (123.32 per sec.)": the count, then its rate; neither
		// can be negative.
		rate := func() (count, perSec float64, ok bool) {
			c, ok1 := finite(v)
			_, rest, found := strings.Cut(v, "(")
			p, ok2 := finite(rest)
			return c, p, ok1 && found && ok2 && c >= 0 && p >= 0 && strings.Contains(rest, "per sec.")
		}
		if inLatency {
			f, ok := num()
			switch {
			case !ok:
			case k == "avg":
				out.latency = append(out.latency, lower("latency_avg", UnitSeconds, f/1e3))
			case k == "max":
				out.latency = append(out.latency, lower("latency_max", UnitSeconds, f/1e3))
			case strings.HasSuffix(k, "th percentile"):
				out.latency = append(out.latency, lower(fmt.Sprintf("latency_p%d", sysbenchPercentileOf(k)), UnitSeconds, f/1e3))
			case k == "sum":
				inLatency = false
			}
			continue
		}
		switch k {
		case "events per second":
			if f, ok := num(); ok {
				out.events, out.haveEvents = f, true
			}
		case "Total operations":
			// "35960 (17890.12 per second)"
			if _, rest, ok := strings.Cut(v, "("); ok {
				if f, ok := finite(rest); ok {
					out.events, out.haveEvents = f, true
				}
			}
		case "reads/s":
			if f, ok := num(); ok {
				out.reads, out.haveFileOps = f, true
				figs = append(figs, higher("read_iops", UnitOpsPerSecond, f))
			}
		case "writes/s":
			if f, ok := num(); ok {
				out.writes, out.haveFileOps = f, true
				figs = append(figs, higher("write_iops", UnitOpsPerSecond, f))
			}
		case "fsyncs/s":
			if f, ok := num(); ok {
				figs = append(figs, higher("fsyncs_per_second", UnitOpsPerSecond, f))
			}
		case "read, MiB/s":
			if f, ok := num(); ok {
				figs = append(figs, higher("read_bw", UnitBytesPerSecond, f*(1<<20)))
			}
		case "written, MiB/s":
			if f, ok := num(); ok {
				figs = append(figs, higher("write_bw", UnitBytesPerSecond, f*(1<<20)))
			}
		case "transactions":
			if _, p, ok := rate(); ok {
				out.tps, out.haveTx = p, true
			}
		case "queries":
			if _, p, ok := rate(); ok {
				out.qps, out.haveQueries = p, true
			}
		case "ignored errors":
			if c, _, ok := rate(); ok {
				out.errors, out.haveErrors = c, true
			}
		case "reconnects":
			if c, _, ok := rate(); ok {
				out.reconnects, out.haveReconnects = c, true
			}
		case "total time":
			if f, err := strconv.ParseFloat(strings.TrimSuffix(v, "s"), 64); err == nil && f > 0 && !math.IsInf(f, 0) {
				out.totalTime = f
			}
		case "total number of events":
			if f, ok := num(); ok {
				out.totalEvents = f
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if p50, ok := histQuantile(hist, 0.5); ok {
		out.latency = append(out.latency, lower("latency_p50", UnitSeconds, p50/1e3))
	}
	out.figs = figs
	return &out, nil
}

// finite reads the number that s starts with (after spaces), if it is finite.
func finite(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.Fields(s + " x")[0], 64)
	return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

func sysbenchPercentileOf(k string) int {
	n, err := strconv.Atoi(strings.TrimSuffix(k, "th percentile"))
	if err != nil {
		return sysbenchPercentile
	}
	return n
}

// histLine reads "       0.285 |****      1514".
func histLine(t string) (value, count float64, ok bool) {
	v, rest, found := strings.Cut(t, "|")
	if !found {
		return 0, 0, false
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return 0, 0, false
	}
	value, err1 := strconv.ParseFloat(strings.TrimSpace(v), 64)
	count, err2 := strconv.ParseFloat(f[len(f)-1], 64)
	if err1 != nil || err2 != nil || count < 0 || math.IsNaN(value) || math.IsInf(value, 0) || math.IsInf(count, 0) {
		return 0, 0, false
	}
	return value, count, true
}

// histQuantile is the q-quantile of a histogram of (value, count), values
// increasing as sysbench prints them: the first value whose cumulative
// count reaches q of the total.
func histQuantile(h [][2]float64, q float64) (float64, bool) {
	var total float64
	for _, b := range h {
		total += b[1]
	}
	if total <= 0 {
		return 0, false
	}
	var cum float64
	for _, b := range h {
		cum += b[1]
		if cum >= q*total {
			return b[0], true
		}
	}
	return h[len(h)-1][0], true
}
