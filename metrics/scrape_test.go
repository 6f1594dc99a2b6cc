package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vcbench/agent/proto"
)

// serveFile serves body at /metrics with the agent's content type.
func serveFile(t *testing.T, body []byte, contentType string, delay time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != proto.PathMetrics {
			http.NotFound(w, r)
			return
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", contentType)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

const agentContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// TestScrapeRecorded scrapes recorded agent outputs, good and malformed,
// over HTTP and checks the figures or the error that names the fault.
func TestScrapeRecorded(t *testing.T) {
	cases := []struct {
		file    string
		total   float64
		avail   float64
		wantErr string // substring; empty means success
	}{
		{file: "agent-after-cpu-disk.prom", total: 2.5276502016e+10, avail: 2.461927424e+10},
		{file: "agent-idle.prom", total: -1, avail: -1}, // values checked for plausibility only
		{file: "truncated-mid-line.prom", wantErr: "truncated: the last line (line 136) has no newline"},
		{file: "truncated-at-line.prom", wantErr: "metric " + proto.MetricGuestMemTotal + " missing"},
		{file: "wrong-type.prom", wantErr: "metric " + proto.MetricGuestMemTotal + " has type counter, want gauge"},
		{file: "duplicate-series.prom", wantErr: "metric " + proto.MetricGuestMemAvailable + ": series {} appears twice"},
		{file: "duplicate-type.prom", wantErr: `second TYPE line for metric name "` + proto.MetricGuestMemTotal + `"`},
		{file: "non-utf8.prom", wantErr: "not valid UTF-8 at line"},
		{file: "labelled.prom", wantErr: "metric " + proto.MetricGuestMemTotal + ` has labels {node="a"}, want none`},
		{file: "nan-value.prom", wantErr: "metric " + proto.MetricGuestMemAvailable + " has value NaN"},
		{file: "garbage-value.prom", wantErr: "parse exposition"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			addr := serveFile(t, body, agentContentType, 0)
			rawPath := filepath.Join(t.TempDir(), "scrape.prom")
			figs, err := ScrapeGuest(context.Background(), addr, rawPath)
			saved, rerr := os.ReadFile(rawPath)
			if rerr != nil || string(saved) != string(body) {
				t.Errorf("raw scrape not kept as read (err %v, %d of %d bytes)", rerr, len(saved), len(body))
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(figs) != 2 || figs[0].Metric != "guest_mem_total" || figs[1].Metric != "guest_mem_available" {
				t.Fatalf("figures %+v", figs)
			}
			for _, f := range figs {
				if f.Unit != "bytes" || f.Better != "higher" || !(f.Value > 0) {
					t.Errorf("figure %+v", f)
				}
			}
			if c.total >= 0 && (figs[0].Value != c.total || figs[1].Value != c.avail) {
				t.Errorf("total %v available %v, want %v %v", figs[0].Value, figs[1].Value, c.total, c.avail)
			}
		})
	}
}

// TestScrapeBounds checks the size and time bounds and the HTTP checks.
func TestScrapeBounds(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "agent-idle.prom"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		body        []byte
		contentType string
		delay       time.Duration
		maxBytes    int64
		timeout     time.Duration
		wantErr     string
		wantRaw     int
	}{
		{name: "ok", body: good, contentType: agentContentType, maxBytes: 1 << 20, timeout: 5 * time.Second, wantRaw: len(good)},
		{name: "too big", body: good, contentType: agentContentType, maxBytes: 1000, timeout: 5 * time.Second, wantErr: "body exceeds 1000 bytes", wantRaw: 1000},
		{name: "slow", body: good, contentType: agentContentType, delay: 2 * time.Second, maxBytes: 1 << 20, timeout: 100 * time.Millisecond, wantErr: "context deadline exceeded"},
		{name: "html", body: []byte("<html></html>\n"), contentType: "text/html", maxBytes: 1 << 20, timeout: 5 * time.Second, wantErr: `content type "text/html"`, wantRaw: 14},
		{name: "empty", body: nil, contentType: agentContentType, maxBytes: 1 << 20, timeout: 5 * time.Second, wantErr: "empty exposition"},
		{name: "comments only", body: []byte("# HELP x y\n"), contentType: agentContentType, maxBytes: 1 << 20, timeout: 5 * time.Second, wantErr: "no metrics", wantRaw: 11},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := serveFile(t, c.body, c.contentType, c.delay)
			start := time.Now()
			raw, fams, err := Scrape(context.Background(), addr, c.maxBytes, c.timeout)
			if took := time.Since(start); took > c.timeout+time.Second {
				t.Errorf("took %s with a %s timeout", took, c.timeout)
			}
			if len(raw) != c.wantRaw {
				t.Errorf("raw has %d bytes, want %d", len(raw), c.wantRaw)
			}
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := fams[proto.MetricGuestMemTotal]; !ok {
					t.Errorf("families lack %s", proto.MetricGuestMemTotal)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

// TestScrapeNotFound checks that a non-200 answer is an error that says so.
func TestScrapeNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, _, err := Scrape(context.Background(), strings.TrimPrefix(srv.URL, "http://"), 0, 0)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("error %v, want a 404", err)
	}
}
