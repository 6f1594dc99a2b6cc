// Package agent is the guest agent: one static binary that runs unchanged as
// a host process, as a container's PID 1 and as a VM's /init. It answers
// /healthz, describes what it sees at /info, runs built-in workloads at
// /run, serves the network workload's endpoints and exports /metrics.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vcbench/agent/proto"
	"vcbench/workload"
)

// Config is the agent's configuration.
type Config struct {
	Listen     string // host:port; port 0 picks one
	ScratchDir string // where the disk workload writes
	DiskPath   string // block device for the disk workload, if any (VM scratch disk)
	// DataListen is the network workload's raw TCP/UDP server address;
	// empty means Listen's host and port + proto.DataPortOffset.
	DataListen string
	// ToolsRoot is the tools image's tree to chroot into for tool
	// workloads; empty: none, unless the agent's own root is the tools
	// image (see FindTools).
	ToolsRoot string
	Log       io.Writer
}

// Server is the agent's HTTP server and its metrics.
type Server struct {
	cfg      Config
	reg      *prometheus.Registry
	mu       sync.Mutex // one workload at a time: they measure the machine
	figures  *prometheus.GaugeVec
	runs     *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	duration *prometheus.GaugeVec
	data     *workload.DataServer // raw network data server; nil until Serve starts it
	dataErr  error                // why data is nil
	tools    *Tools               // nil: no tools image
	toolsWhy string               // why tools is nil, when that is an error
	toolSrv  *toolServers         // the host-client tools' server in the instance
}

// NewServer builds the server and registers its metrics.
func NewServer(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	s := &Server{cfg: cfg, reg: prometheus.NewRegistry(), toolSrv: newToolServers()}
	var err error
	if s.tools, err = FindTools(cfg.ToolsRoot, cfg.ScratchDir, cfg.DiskPath); err != nil {
		s.toolsWhy = err.Error()
		fmt.Fprintf(cfg.Log, "%s%v (tool workloads unavailable)\n", proto.LogPrefix, err)
	}
	s.figures = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: proto.MetricWorkloadValue,
		Help: "Last figure of each built-in workload, in the base unit named by the unit label.",
	}, []string{"workload", "metric", "unit"})
	s.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: proto.MetricWorkloadRuns,
		Help: "Workload runs by outcome.",
	}, []string{"workload", "outcome"})
	s.duration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: proto.MetricWorkloadDuration,
		Help: "Wall time of the last run of each workload.",
	}, []string{"workload"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    proto.MetricWorkloadLatency,
		Help:    "Per-operation latencies measured by workloads that time single operations.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 2, 28),
	}, []string{"workload", "op"})
	s.reg.MustRegister(s.figures, s.runs, s.duration, s.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newGuestCollector())
	return s
}

// Registry exposes the agent's registry (tests use it with testutil).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handler returns the agent's HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+proto.PathHealthz, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET "+proto.PathInfo, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Describe())
	})
	mux.HandleFunc("POST "+proto.PathRun, s.handleRun)
	mux.Handle("GET "+proto.PathMetrics, promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	workload.RegisterNetworkHandlers(mux)
	mux.HandleFunc("GET "+proto.PathNetPorts, s.handlePorts)
	mux.HandleFunc("POST "+proto.PathToolsServe, s.handleToolServe)
	mux.HandleFunc("DELETE "+proto.PathToolsServe+"/{port}", s.handleToolStop)
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (s *Server) handleRun(w http.ResponseWriter, r *http.Request) {
	var p workload.Params
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		writeJSON(w, http.StatusBadRequest, proto.RunError{Error: fmt.Sprintf("decode request: %v", err)})
		return
	}
	if key, err := p.Validate(); err != nil {
		writeJSON(w, http.StatusBadRequest, proto.RunError{Error: fmt.Sprintf("%s: %v", key, err)})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	env := workload.Env{ScratchDir: s.cfg.ScratchDir, DiskPath: s.cfg.DiskPath, Observe: s.observe(p.Kind), ToolsWhy: s.toolsWhy}
	if s.tools != nil {
		env.Tools = s.tools
	}
	res, err := workload.Run(r.Context(), p, env)
	if err != nil {
		s.runs.WithLabelValues(string(p.Kind), "error").Inc()
		writeJSON(w, http.StatusInternalServerError, proto.RunError{Error: err.Error()})
		return
	}
	s.Record(res)
	writeJSON(w, http.StatusOK, res)
}

// Record exports a result's figures as gauges.
func (s *Server) Record(res *workload.Result) {
	s.runs.WithLabelValues(string(res.Workload), "ok").Inc()
	s.duration.WithLabelValues(string(res.Workload)).Set(res.Seconds)
	for _, m := range res.Metrics {
		s.figures.WithLabelValues(string(res.Workload), m.Name, string(m.Unit)).Set(m.Value)
	}
}

func (s *Server) observe(k workload.Kind) func(op string, d time.Duration) {
	return func(op string, d time.Duration) {
		s.latency.WithLabelValues(string(k), op).Observe(d.Seconds())
	}
}

// Close stops what the server started outside a request: the tool
// server, if one runs.
func (s *Server) Close() { s.toolSrv.close() }

// Serve listens on cfg.Listen, prints proto.ReadyLine and serves until ctx ends.
func Serve(ctx context.Context, cfg Config, out io.Writer) error {
	s := NewServer(cfg)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	s.startData(cfg, cfg.Listen)
	defer s.stopData()
	defer s.Close()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(cfg.Log, proto.LogPrefix, 0)}
	fmt.Fprintln(out, proto.ReadyLine(ln.Addr().String()))
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
