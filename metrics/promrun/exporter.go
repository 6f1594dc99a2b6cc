package promrun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vcbench/bench"
	"vcbench/workload"
)

// StartupBuckets are the vcbench_startup_seconds buckets: 1 ms (a native
// process) to about 65 s (a TCG guest on a slow host), doubling.
var StartupBuckets = prometheus.ExponentialBuckets(0.001, 2, 17)

// Exporter is the live /metrics of one run: the last value of every figure,
// a startup histogram per runtime and phase, and the harness's own health.
// It is a bench.Observer; Serve exposes it over HTTP and Close stops that.
type Exporter struct {
	reg      *prometheus.Registry
	values   *prometheus.GaugeVec
	startup  *prometheus.HistogramVec
	scrapeOK *prometheus.GaugeVec
	trials   *prometheus.CounterVec
	samples  *prometheus.CounterVec

	mu       sync.Mutex
	srv      *http.Server
	ln       net.Listener
	served   chan struct{}
	closeErr error
	closed   bool
}

var _ bench.Observer = (*Exporter)(nil)

// NewExporter builds the exporter's registry for the run described by info,
// labelling every vcbench series with run_id, host and scenario. It listens
// nowhere until Serve.
func NewExporter(info bench.RunInfo, host string) (*Exporter, error) {
	if host == "" {
		return nil, errors.New("live exporter: empty host label")
	}
	e := &Exporter{reg: prometheus.NewRegistry()}
	run := prometheus.WrapRegistererWith(prometheus.Labels{"run_id": info.RunID, "host": host, "scenario": info.Scenario}, e.reg)
	e.values = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: SampleValueName,
		Help: "Last value of each figure of the run (the latest trial), in the base unit named by the unit label; samples.jsonl has every trial.",
	}, []string{"runtime", "workload", "metric", "unit"})
	e.startup = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    StartupSecondsName,
		Help:    "Startup phases of every measured instance, seconds since launch (phase ready: launch to agent /healthz).",
		Buckets: StartupBuckets,
	}, []string{"runtime", "phase"})
	e.scrapeOK = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: ScrapeSuccessName,
		Help: "1 if the last scrape of an agent's /metrics in this runtime succeeded and had the figures vcbench needs, else 0.",
	}, []string{"runtime"})
	e.trials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: TrialsTotalName,
		Help: "Trials run, by outcome (ok or failed) and whether they were warm-ups.",
	}, []string{"runtime", "outcome", "warmup"})
	e.samples = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: SamplesTotalName,
		Help: "Samples appended to samples.jsonl.",
	}, []string{"runtime"})
	for _, c := range []prometheus.Collector{e.values, e.startup, e.scrapeOK, e.trials, e.samples} {
		if err := run.Register(c); err != nil {
			return nil, fmt.Errorf("live exporter: %w", err)
		}
	}
	if err := registerRunInfo(run, info); err != nil {
		return nil, fmt.Errorf("live exporter: %w", err)
	}
	for _, rt := range info.Runtimes {
		// Known runtimes start with zero counts, so that rate() and
		// increase() see the first trial.
		for _, outcome := range []string{"ok", "failed"} {
			e.trials.WithLabelValues(rt.Name, outcome, "false")
		}
		e.samples.WithLabelValues(rt.Name)
	}
	e.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e, nil
}

// Registry is the exporter's registry; the pusher may register its health
// metrics on it, and tests gather from it.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Handler serves /metrics.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(e.reg, promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "vcbench live exporter: see /metrics")
	})
	return mux
}

// Samples sets the last value of each sample and observes startup phases.
func (e *Exporter) Samples(s []bench.Sample) {
	for _, smp := range s {
		e.values.WithLabelValues(smp.Runtime, smp.Workload, smp.Metric, string(smp.Unit)).Set(smp.Value)
		if smp.Workload == "startup" && smp.Unit == workload.UnitSeconds {
			e.startup.WithLabelValues(smp.Runtime, smp.Metric).Observe(smp.Value)
		}
		e.samples.WithLabelValues(smp.Runtime).Inc()
	}
}

// TrialDone counts the trial by outcome.
func (e *Exporter) TrialDone(runtime string, warmup bool, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	e.trials.WithLabelValues(runtime, outcome, fmt.Sprint(warmup)).Inc()
}

// Scraped records whether the last agent scrape of runtime succeeded.
func (e *Exporter) Scraped(runtime string, err error) {
	v := 1.0
	if err != nil {
		v = 0
	}
	e.scrapeOK.WithLabelValues(runtime).Set(v)
}

// CheckListenAddr refuses an address that is not host:port or whose host
// is not a loopback IP (or "localhost"), unless allowRemote is set. An empty
// host means every interface, so it is refused too.
func CheckListenAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("metrics address %q: %w", addr, err)
	}
	if port == "" {
		return fmt.Errorf("metrics address %q: no port", addr)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("metrics address %q is not a loopback address", addr)
	}
	return nil
}

// Serve listens on addr (checked with CheckListenAddr) and serves /metrics
// in the background until Close. It returns once the socket is listening,
// so a bad address or a port in use fails the run before it starts.
func (e *Exporter) Serve(addr string, allowRemote bool) error {
	if err := CheckListenAddr(addr, allowRemote); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil || e.closed {
		return errors.New("live exporter: already served")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("live exporter: %w", err)
	}
	e.ln = ln
	e.srv = &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	e.served = make(chan struct{})
	go func() {
		defer close(e.served)
		e.srv.Serve(ln)
	}()
	return nil
}

// Addr is the address the exporter listens on ("" before Serve); with port
// 0 it tells the port picked.
func (e *Exporter) Addr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil {
		return ""
	}
	return e.ln.Addr().String()
}

// Close stops serving: in-flight scrapes get two seconds to finish, then
// connections are closed. Nothing is left listening when it returns. It is
// idempotent.
func (e *Exporter) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return e.closeErr
	}
	e.closed = true
	if e.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.closeErr = errors.Join(fmt.Errorf("live exporter: shutdown: %w", err), e.srv.Close())
	}
	<-e.served
	return e.closeErr
}
