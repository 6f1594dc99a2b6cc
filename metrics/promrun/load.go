package promrun

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"vcbench/bench"
	"vcbench/workload"
)

// DefaultLookback is how far back LoadRuns looks for a run's series
// (last_over_time over this range): longer than Prometheus's default
// retention of 15 days, so any run still stored is found.
const DefaultLookback = 30 * 24 * time.Hour

// Loader reads pushed runs back from a Prometheus server.
type Loader struct {
	API      v1.API
	Lookback time.Duration    // default DefaultLookback
	Now      func() time.Time // evaluation time; default time.Now
}

// LoadRuns reads the runs with the given ids from the Prometheus server at
// promURL (which scrapes the Pushgateway that `vcbench run --push-gateway`
// pushed to) and rebuilds one bench.Run per (run_id, host): Info with the
// run id, the host label as Host.Hostname, scenario, version, runtimes and
// status, and every pushed sample. A run id with nothing stored is an error.
// Runs come back in the order of runIDs, hosts sorted within a run id.
func LoadRuns(ctx context.Context, promURL string, runIDs []string) ([]*bench.Run, error) {
	c, err := api.NewClient(api.Config{Address: promURL})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", promURL, err)
	}
	return (&Loader{API: v1.NewAPI(c)}).Load(ctx, runIDs)
}

// Load is LoadRuns with the loader's API.
func (l *Loader) Load(ctx context.Context, runIDs []string) ([]*bench.Run, error) {
	if len(runIDs) == 0 {
		return nil, errors.New("load runs: no run id given")
	}
	var out []*bench.Run
	for _, id := range runIDs {
		runs, err := l.loadRun(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("load run %s from prometheus: %w", id, err)
		}
		out = append(out, runs...)
	}
	return out, nil
}

// query evaluates last_over_time(name{job, run_id}[lookback]) and returns
// the series grouped by host.
func (l *Loader) query(ctx context.Context, name, runID string) (map[string][]*model.Sample, error) {
	lookback := l.Lookback
	if lookback <= 0 {
		lookback = DefaultLookback
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	q := fmt.Sprintf("last_over_time(%s{job=%s,run_id=%s}[%s])", name, strconv.Quote(Job), strconv.Quote(runID), model.Duration(lookback))
	val, _, _, err := l.API.Query(ctx, q, now())
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s: got %s, want a vector", q, val.Type())
	}
	byHost := map[string][]*model.Sample{}
	for _, s := range vec {
		h := string(s.Metric["host"])
		byHost[h] = append(byHost[h], s)
	}
	return byHost, nil
}

func (l *Loader) loadRun(ctx context.Context, id string) ([]*bench.Run, error) {
	values, err := l.query(ctx, TrialValueName, id)
	if err != nil {
		return nil, err
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("no %s series with job=%q (was it run with --push-gateway, and does Prometheus scrape the gateway with honor_labels: true?)", TrialValueName, Job)
	}
	infos := map[string]map[string][]*model.Sample{}
	for _, name := range []string{RunInfoName, HostInfoName, RuntimeInfoName, RunStartName, RunEndName} {
		if infos[name], err = l.query(ctx, name, id); err != nil {
			return nil, err
		}
	}
	hosts := make([]string, 0, len(values))
	for h := range values {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var runs []*bench.Run
	for _, h := range hosts {
		run := &bench.Run{Info: bench.RunInfo{RunID: id, Status: bench.StatusRunning,
			Reason: "no end pushed: still running, or killed before its last push"}}
		run.Info.Host.Hostname = h
		if s := first(infos[RunInfoName][h]); s != nil {
			run.Info.Version = string(s.Metric["version"])
			run.Info.ScenarioSHA256 = string(s.Metric["scenario_sha256"])
			run.Info.Scenario = string(s.Metric["scenario"])
		}
		if s := first(infos[HostInfoName][h]); s != nil {
			hi := &run.Info.Host
			hi.CPUModel, hi.Kernel, hi.OS = string(s.Metric["cpu_model"]), string(s.Metric["kernel"]), string(s.Metric["os"])
			hi.Cores, _ = strconv.Atoi(string(s.Metric["cores"]))
			hi.MemBytes, _ = strconv.ParseUint(string(s.Metric["mem_bytes"]), 10, 64)
		}
		if s := first(infos[RunStartName][h]); s != nil {
			run.Info.Start = unixTime(float64(s.Value))
		}
		if s := latest(infos[RunEndName][h]); s != nil {
			end := unixTime(float64(s.Value))
			run.Info.End = &end
			run.Info.Status = bench.Status(s.Metric["status"])
			run.Info.Reason = ""
		}
		order := map[string]int{}
		rts := infos[RuntimeInfoName][h]
		sort.SliceStable(rts, func(i, j int) bool { return atoi(rts[i].Metric["order"]) < atoi(rts[j].Metric["order"]) })
		for _, s := range rts {
			name := string(s.Metric["runtime"])
			if _, dup := order[name]; dup {
				continue
			}
			order[name] = len(run.Info.Runtimes)
			run.Info.Runtimes = append(run.Info.Runtimes, bench.RuntimeInfo{Name: name, Kind: string(s.Metric["kind"]),
				VCPUs: atoi(s.Metric["vcpus"]), MemoryMiB: atoi(s.Metric["memory_mib"])})
		}
		seen := map[model.Fingerprint]bool{}
		for _, s := range values[h] {
			// Two scrape jobs of one gateway would give the same series twice.
			fp := withoutTarget(s.Metric).Fingerprint()
			if seen[fp] {
				continue
			}
			seen[fp] = true
			trial, err := strconv.Atoi(string(s.Metric["trial"]))
			if err != nil {
				return nil, fmt.Errorf("host %s: series %s: trial: %w", h, s.Metric, err)
			}
			smp := bench.Sample{Scenario: string(s.Metric["scenario"]), Runtime: string(s.Metric["runtime"]),
				Workload: string(s.Metric["workload"]), Metric: string(s.Metric["metric"]), Unit: workload.Unit(s.Metric["unit"]),
				Better: workload.Better(s.Metric["better"]), Trial: trial, Value: float64(s.Value)}
			for _, k := range carriedLabels {
				if v := s.Metric[model.LabelName(k)]; v != "" {
					if smp.Labels == nil {
						smp.Labels = map[string]string{}
					}
					smp.Labels[k] = string(v)
				}
			}
			if run.Info.Scenario == "" {
				run.Info.Scenario = smp.Scenario
			}
			if _, ok := order[smp.Runtime]; !ok {
				order[smp.Runtime] = len(run.Info.Runtimes)
				run.Info.Runtimes = append(run.Info.Runtimes, bench.RuntimeInfo{Name: smp.Runtime})
			}
			if trial+1 > run.Info.Trials {
				run.Info.Trials = trial + 1
			}
			run.Samples = append(run.Samples, smp)
		}
		for i := range run.Info.Runtimes {
			rt := &run.Info.Runtimes[i]
			for _, smp := range run.Samples {
				if smp.Runtime == rt.Name && len(smp.Labels) > 0 && rt.Settings == nil {
					rt.Settings = map[string]string{}
					for k, v := range smp.Labels {
						rt.Settings[k] = v
					}
				}
			}
		}
		sortSamples(run.Samples, order)
		runs = append(runs, run)
	}
	return runs, nil
}

// sortSamples orders samples the way samples.jsonl has them: runtime (in
// scenario order), trial, workload (startup, idle, the built-ins in their
// order, guest, then others), metric.
func sortSamples(s []bench.Sample, runtimeOrder map[string]int) {
	rank := map[string]int{"startup": 0, "idle": 1}
	for i, k := range workload.Kinds {
		rank[string(k)] = 2 + i
	}
	rank["guest"] = 2 + len(workload.Kinds)
	wr := func(w string) int {
		if r, ok := rank[w]; ok {
			return r
		}
		return math.MaxInt
	}
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		switch {
		case runtimeOrder[a.Runtime] != runtimeOrder[b.Runtime]:
			return runtimeOrder[a.Runtime] < runtimeOrder[b.Runtime]
		case a.Trial != b.Trial:
			return a.Trial < b.Trial
		case wr(a.Workload) != wr(b.Workload):
			return wr(a.Workload) < wr(b.Workload)
		case a.Workload != b.Workload:
			return a.Workload < b.Workload
		}
		return a.Metric < b.Metric
	})
}

func withoutTarget(m model.Metric) model.Metric {
	c := m.Clone()
	delete(c, "instance")
	return c
}

func first(s []*model.Sample) *model.Sample {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

// latest picks the series with the highest value (the last end time: a
// run id pushed twice keeps the later end).
func latest(s []*model.Sample) *model.Sample {
	var best *model.Sample
	for _, x := range s {
		if best == nil || x.Value > best.Value {
			best = x
		}
	}
	return best
}

func atoi(v model.LabelValue) int {
	n, _ := strconv.Atoi(string(v))
	return n
}

func unixTime(sec float64) time.Time {
	s, frac := math.Modf(sec)
	return time.Unix(int64(s), int64(frac*1e9)).UTC()
}
