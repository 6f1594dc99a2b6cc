package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"vcbench/agent/proto"
	"vcbench/workload"
)

// Default bounds of a scrape of an agent's /metrics. The agent's exposition
// is about 20 KB; the bound only stops a broken agent from filling memory.
const (
	DefaultScrapeMaxBytes = 8 << 20
	DefaultScrapeTimeout  = 10 * time.Second
)

// GuestWorkload is the workload label of the figures read from the agent's
// /metrics at the end of a trial, after its last workload: the guest's own
// view of its memory, as opposed to the host-side figures under "idle" and
// each workload's name.
const GuestWorkload = "guest"

// scrapeClient keeps no idle connections: instances come and go, and a
// connection to a stopped agent must not linger.
var scrapeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}

// Scrape GETs http://addr/metrics (proto.PathMetrics) (addr is host:port, or a full http URL)
// within timeout, reads at most maxBytes of the body and parses it as the
// Prometheus text format with UTF-8 name validation. It returns the raw body
// whenever one was read, even when parsing fails, so that the caller can keep
// it as evidence. Beyond the parser's own checks, a body that is not valid
// UTF-8, that does not end with a newline (truncated), that is empty or that
// repeats a series is an error.
func Scrape(ctx context.Context, addr string, maxBytes int64, timeout time.Duration) (raw []byte, families map[string]*dto.MetricFamily, err error) {
	if maxBytes <= 0 {
		maxBytes = DefaultScrapeMaxBytes
	}
	if timeout <= 0 {
		timeout = DefaultScrapeTimeout
	}
	url := addr
	if !strings.HasPrefix(addr, "http://") && !strings.HasPrefix(addr, "https://") {
		url = "http://" + addr + proto.PathMetrics
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return raw, nil, fmt.Errorf("GET %s: read body: %w", url, err)
	}
	if int64(len(raw)) > maxBytes {
		return raw[:maxBytes], nil, fmt.Errorf("GET %s: body exceeds %d bytes", url, maxBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return raw, nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return raw, nil, fmt.Errorf("GET %s: content type %q, want text/plain", url, resp.Header.Get("Content-Type"))
	}
	families, err = Parse(raw)
	if err != nil {
		return raw, nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return raw, families, nil
}

// Parse parses a text-format exposition strictly: valid UTF-8, a final
// newline, at least one family, and no series given twice (the text parser
// itself accepts duplicates).
func Parse(raw []byte) (map[string]*dto.MetricFamily, error) {
	if len(raw) == 0 {
		return nil, errors.New("empty exposition")
	}
	if !utf8.Valid(raw) {
		off := firstInvalidUTF8(raw)
		return nil, fmt.Errorf("not valid UTF-8 at line %d (byte %d)", bytes.Count(raw[:off], []byte("\n"))+1, off)
	}
	if raw[len(raw)-1] != '\n' {
		return nil, fmt.Errorf("truncated: the last line (line %d) has no newline", bytes.Count(raw, []byte("\n"))+1)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse exposition: %w", err)
	}
	if len(families) == 0 {
		return nil, errors.New("exposition has no metrics")
	}
	for name, mf := range families {
		seen := map[string]bool{}
		for _, m := range mf.GetMetric() {
			sig := labelSignature(m.GetLabel())
			if seen[sig] {
				return nil, fmt.Errorf("metric %s: series {%s} appears twice", name, sig)
			}
			seen[sig] = true
		}
	}
	return families, nil
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

func labelSignature(lps []*dto.LabelPair) string {
	parts := make([]string, len(lps))
	for i, lp := range lps {
		parts[i] = fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Figure is one value read from a scrape, ready to become a sample under
// GuestWorkload.
type Figure struct {
	Metric string          // sample metric name, e.g. guest_mem_total
	Unit   workload.Unit   // base unit
	Better workload.Better // higher|lower
	Value  float64         // in Unit
}

// guestFigures maps the agent's metrics that the runner turns into samples
// to sample metric names.
var guestFigures = []struct {
	family, metric string
	better         workload.Better
}{
	{proto.MetricGuestMemTotal, "guest_mem_total", workload.BetterHigher},
	{proto.MetricGuestMemAvailable, "guest_mem_available", workload.BetterHigher},
}

// GuestFigures turns the families of an agent scrape into the figures the
// runner records: guest_mem_total and guest_mem_available in bytes. A
// family that is missing, not a gauge, not exactly one unlabelled series,
// or not a finite non-negative value is an error naming the metric.
func GuestFigures(families map[string]*dto.MetricFamily) ([]Figure, error) {
	out := make([]Figure, 0, len(guestFigures))
	for _, g := range guestFigures {
		v, err := singleGauge(families, g.family)
		if err != nil {
			return nil, err
		}
		out = append(out, Figure{Metric: g.metric, Unit: workload.UnitBytes, Better: g.better, Value: v})
	}
	if out[1].Value > out[0].Value {
		return nil, fmt.Errorf("metric %s (%v) exceeds %s (%v)", proto.MetricGuestMemAvailable, out[1].Value, proto.MetricGuestMemTotal, out[0].Value)
	}
	return out, nil
}

func singleGauge(families map[string]*dto.MetricFamily, name string) (float64, error) {
	mf, ok := families[name]
	if !ok {
		return 0, fmt.Errorf("metric %s missing", name)
	}
	if mf.GetType() != dto.MetricType_GAUGE {
		return 0, fmt.Errorf("metric %s has type %s, want gauge", name, strings.ToLower(mf.GetType().String()))
	}
	if n := len(mf.GetMetric()); n != 1 {
		return 0, fmt.Errorf("metric %s has %d series, want 1", name, n)
	}
	m := mf.GetMetric()[0]
	if len(m.GetLabel()) != 0 {
		return 0, fmt.Errorf("metric %s has labels {%s}, want none", name, labelSignature(m.GetLabel()))
	}
	v := m.GetGauge().GetValue()
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("metric %s has value %v, want a finite value >= 0", name, v)
	}
	return v, nil
}

// ScrapeGuest scrapes the agent at addr with the default bounds, writes the
// raw body to rawPath (whenever one was read, so a malformed scrape is kept
// as evidence) and returns the guest figures. It is the runner's one call
// after each trial.
func ScrapeGuest(ctx context.Context, addr, rawPath string) ([]Figure, error) {
	raw, families, err := Scrape(ctx, addr, DefaultScrapeMaxBytes, DefaultScrapeTimeout)
	if raw != nil {
		if werr := os.WriteFile(rawPath, raw, 0o644); werr != nil {
			return nil, errors.Join(err, fmt.Errorf("save scrape: %w", werr))
		}
	}
	if err != nil {
		return nil, err
	}
	return GuestFigures(families)
}
