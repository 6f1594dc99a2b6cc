// Package promrun puts a vcbench run into Prometheus and reads it back: the
// live exporter that `vcbench run --metrics-addr` serves, the Pushgateway
// client behind `--push-gateway`, and LoadRuns, which rebuilds bench.Run
// values from a Prometheus server for multi-host reports.
//
// It is a sub-package of metrics because it needs bench's types while bench
// itself uses metrics (process readers, scrapes): one direction each.
//
// Series and their labels (every series also carries run_id, host and
// scenario: const labels on the live exporter, the Pushgateway's grouping
// key plus a scenario label when pushed):
//
//	vcbench_run_info{version,scenario_sha256}                  1
//	vcbench_host_info{cpu_model,cores,mem_bytes,kernel,os}     1
//	vcbench_runtime_info{runtime,kind,vcpus,memory_mib,order}  1
//	vcbench_run_start_timestamp_seconds                        unix time
//	vcbench_run_end_timestamp_seconds{status}                  unix time (pushed when the run ends)
//	vcbench_sample_value{runtime,workload,metric,unit}         last value (live)
//	vcbench_trial_value{runtime,workload,metric,unit,better,trial,accel,network}  per trial (pushed)
//	vcbench_startup_seconds{runtime,phase}                     histogram (live)
//	vcbench_scrape_success{runtime}                            1/0, last agent scrape (live)
//	vcbench_trials_total{runtime,outcome,warmup}               counter (live)
//	vcbench_samples_total{runtime}                             counter (live)
//	vcbench_push_success, vcbench_pushes_total{outcome}        Pushgateway health (live)
package promrun

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"vcbench/bench"
)

// Job is the Pushgateway job name of every push; LoadRuns reads only series
// with this job (Prometheus must scrape the gateway with honor_labels: true).
const Job = "vcbench"

// Metric names shared by the exporter, the pusher and LoadRuns.
const (
	RunInfoName        = "vcbench_run_info"
	HostInfoName       = "vcbench_host_info"
	RuntimeInfoName    = "vcbench_runtime_info"
	RunStartName       = "vcbench_run_start_timestamp_seconds"
	RunEndName         = "vcbench_run_end_timestamp_seconds"
	SampleValueName    = "vcbench_sample_value"
	TrialValueName     = "vcbench_trial_value"
	StartupSecondsName = "vcbench_startup_seconds"
	ScrapeSuccessName  = "vcbench_scrape_success"
	TrialsTotalName    = "vcbench_trials_total"
	SamplesTotalName   = "vcbench_samples_total"
	PushSuccessName    = "vcbench_push_success"
	PushesTotalName    = "vcbench_pushes_total"
)

// Sample labels that are carried onto pushed series when a sample has them
// (the runner sets these two from the runtime's description). Other keys
// of Sample.Labels are not pushed: a metric must keep one label set.
var carriedLabels = []string{"accel", "network"}

// registerRunInfo registers the one-per-run info series on reg.
func registerRunInfo(reg prometheus.Registerer, info bench.RunInfo) error {
	runInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        RunInfoName,
		Help:        "Always 1; the labels describe the run (vcbench version, scenario checksum).",
		ConstLabels: prometheus.Labels{"version": info.Version, "scenario_sha256": info.ScenarioSHA256},
	})
	runInfo.Set(1)
	h := info.Host
	hostInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: HostInfoName,
		Help: "Always 1; the labels describe the measured host.",
		ConstLabels: prometheus.Labels{"cpu_model": h.CPUModel, "cores": strconv.Itoa(h.Cores),
			"mem_bytes": strconv.FormatUint(h.MemBytes, 10), "kernel": h.Kernel, "os": h.OS},
	})
	hostInfo.Set(1)
	runtimes := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: RuntimeInfoName,
		Help: "Always 1; one series per runtime of the scenario, in report order.",
	}, []string{"runtime", "kind", "vcpus", "memory_mib", "order"})
	for i, rt := range info.Runtimes {
		runtimes.WithLabelValues(rt.Name, rt.Kind, strconv.Itoa(rt.VCPUs), strconv.Itoa(rt.MemoryMiB), strconv.Itoa(i)).Set(1)
	}
	start := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: RunStartName,
		Help: "When the run started, in seconds since the Unix epoch.",
	})
	start.Set(float64(info.Start.UnixNano()) / 1e9)
	for _, c := range []prometheus.Collector{runInfo, hostInfo, runtimes, start} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Observers fans the runner's calls out to several observers in order.
type Observers []bench.Observer

var _ bench.Observer = Observers(nil)

// Samples passes s to every observer.
func (os Observers) Samples(s []bench.Sample) {
	for _, o := range os {
		o.Samples(s)
	}
}

// TrialDone passes the outcome to every observer.
func (os Observers) TrialDone(runtime string, warmup bool, err error) {
	for _, o := range os {
		o.TrialDone(runtime, warmup, err)
	}
}

// Scraped passes the scrape's outcome to every observer.
func (os Observers) Scraped(runtime string, err error) {
	for _, o := range os {
		o.Scraped(runtime, err)
	}
}
