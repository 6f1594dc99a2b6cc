package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vcbench/scenarios"
	"vcbench/workload"
)

// fakeHost is the world of the fake runtimes of one test: it records which
// instances were started and stopped, in order, and how each agent answers.
type fakeHost struct {
	mu        sync.Mutex
	starts    []string         // spec.Name of every Start call, in order
	stops     map[string]int   // Stop calls per instance
	runs      map[string]int   // POST /run requests per instance
	failStart map[string]error // Start of these instances fails
	// run, if set, answers POST /run instead of a good result.
	run func(inst string, w http.ResponseWriter, r *http.Request, quit <-chan struct{})
}

func newFakeHost() *fakeHost {
	return &fakeHost{stops: map[string]int{}, runs: map[string]int{}, failStart: map[string]error{}}
}

// factories returns a Factory per kind, each making a fakeRuntime of h.
func (h *fakeHost) factories(kinds ...scenarios.RuntimeKind) map[scenarios.RuntimeKind]Factory {
	m := map[scenarios.RuntimeKind]Factory{}
	for _, k := range kinds {
		m[k] = func(cfg scenarios.RuntimeConfig, env Env) (Runtime, error) {
			return &fakeRuntime{kind: k, h: h}, nil
		}
	}
	return m
}

func (h *fakeHost) snapshot() (starts []string, stops, runs map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.starts), maps(h.stops), maps(h.runs)
}

func maps(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// fakeRuntime starts fakeInstances: an httptest server playing the agent.
type fakeRuntime struct {
	kind scenarios.RuntimeKind
	h    *fakeHost
}

func (f *fakeRuntime) Kind() scenarios.RuntimeKind { return f.kind }

func (f *fakeRuntime) Start(ctx context.Context, spec InstanceSpec) (Instance, error) {
	f.h.mu.Lock()
	f.h.starts = append(f.h.starts, spec.Name)
	err := f.h.failStart[spec.Name]
	f.h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	inst := &fakeInstance{h: f.h, name: spec.Name, quit: make(chan struct{})}
	inst.srv = httptest.NewServer(http.HandlerFunc(inst.serve))
	return inst, nil
}

type fakeInstance struct {
	h    *fakeHost
	name string
	srv  *httptest.Server
	quit chan struct{}
	once sync.Once
}

func (i *fakeInstance) Addr() string { return strings.TrimPrefix(i.srv.URL, "http://") }

func (i *fakeInstance) HostMemory() (map[string]float64, error) {
	return map[string]float64{"host_rss": 8 << 20, "host_pss": 6 << 20}, nil
}

func (i *fakeInstance) Stop(ctx context.Context) error {
	i.h.mu.Lock()
	i.h.stops[i.name]++
	i.h.mu.Unlock()
	i.once.Do(func() {
		close(i.quit)
		i.srv.Close()
	})
	return nil
}

const fakeMetrics = `# TYPE vcbench_guest_memory_available_bytes gauge
vcbench_guest_memory_available_bytes 1.5e+08
# TYPE vcbench_guest_memory_total_bytes gauge
vcbench_guest_memory_total_bytes 2e+08
`

// serve plays the agent: /healthz, /info, /run and /metrics.
func (i *fakeInstance) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		fmt.Fprintln(w, "ok")
	case "/info":
		json.NewEncoder(w).Encode(map[string]string{"hostname": i.name})
	case "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, fakeMetrics)
	case "/run":
		i.h.mu.Lock()
		i.h.runs[i.name]++
		run := i.h.run
		i.h.mu.Unlock()
		if run != nil {
			run(i.name, w, r, i.quit)
			return
		}
		var p workload.Params
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(workload.Result{Workload: p.Kind, Seconds: 0.01,
			Metrics: []workload.Metric{{Name: "ops", Unit: workload.UnitOpsPerSecond, Better: "higher", Value: 42}}})
	default:
		http.NotFound(w, r)
	}
}

// hang answers /run only when the client gives up or the instance stops.
func hang(_ string, w http.ResponseWriter, r *http.Request, quit <-chan struct{}) {
	select {
	case <-r.Context().Done():
	case <-quit:
	case <-time.After(30 * time.Second):
	}
}

// newRunner builds a runner over the fake host for a scenario in YAML.
func newRunner(t *testing.T, h *fakeHost, yaml string) *Runner {
	t.Helper()
	sc, err := scenarios.Parse("fake.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	info := RunInfo{RunID: "fake", Scenario: sc.Name, Trials: sc.Trials, Warmup: sc.Warmup}
	var kinds []scenarios.RuntimeKind
	for _, rc := range sc.Runtimes {
		info.Runtimes = append(info.Runtimes, RuntimeInfo{Name: rc.RuntimeName(), Kind: string(rc.Kind)})
		kinds = append(kinds, rc.Kind)
	}
	store, err := Create(t.TempDir(), info)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Finish(StatusComplete, "") })
	return &Runner{Scenario: sc, Factories: h.factories(kinds...), Store: store}
}

// readBack reads what the runner wrote: run.json's per-runtime errors by
// name, and the samples.
func readBack(t *testing.T, r *Runner) (errs map[string][]string, samples []Sample) {
	t.Helper()
	f, err := os.Open(filepath.Join(r.Store.Dir, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	samples, skipped, err := ReadSamples(f)
	if err != nil || skipped != 0 {
		t.Fatalf("samples.jsonl: %v, %d lines skipped", err, skipped)
	}
	errs = map[string][]string{}
	for _, ri := range r.Store.Info().Runtimes {
		if len(ri.Errors) > 0 {
			errs[ri.Name] = ri.Errors
		}
	}
	return errs, samples
}

// trialsOf lists, per runtime, the sorted distinct trials that have a
// sample of workload w.
func trialsOf(samples []Sample, w string) map[string][]int {
	out := map[string][]int{}
	for _, s := range samples {
		if s.Workload == w && !slices.Contains(out[s.Runtime], s.Trial) {
			out[s.Runtime] = append(out[s.Runtime], s.Trial)
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

const twoRuntimes = `name: fake
trials: %d
warmup: %d
timeouts:
  workload: %s
runtimes:
  - kind: native
  - kind: container
workloads:
  - kind: cpu
    iterations: 1000
`

// TestRunnerRoundRobinDiscardsWarmup runs one warm-up and two trials of
// two runtimes: instances start alternately, each is stopped once, the
// warm-up instances run the workload but leave no sample nor raw file, and
// every kept trial has exactly its eight figures.
func TestRunnerRoundRobinDiscardsWarmup(t *testing.T) {
	h := newFakeHost()
	r := newRunner(t, h, fmt.Sprintf(twoRuntimes, 2, 1, "10s"))
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	starts, stops, runs := h.snapshot()
	wantStarts := []string{"native-1", "container-2", "native-3", "container-4", "native-5", "container-6"}
	if !slices.Equal(starts, wantStarts) {
		t.Errorf("start order %v, want %v", starts, wantStarts)
	}
	for _, name := range wantStarts {
		if stops[name] != 1 || runs[name] != 1 {
			t.Errorf("%s: stopped %d times, ran /run %d times; want 1 and 1", name, stops[name], runs[name])
		}
	}
	errs, samples := readBack(t, r)
	if len(errs) != 0 {
		t.Errorf("run.json errors: %v", errs)
	}
	perTrial := map[string]int{}
	for _, s := range samples {
		if s.Trial < 0 {
			t.Errorf("warm-up sample kept: %+v", s)
		}
		perTrial[fmt.Sprintf("%s/%d", s.Runtime, s.Trial)]++
	}
	// startup ready; idle host_rss, host_pss; cpu ops, host_rss, host_pss;
	// guest_mem_total, guest_mem_available.
	want := map[string]int{"native/0": 8, "native/1": 8, "container/0": 8, "container/1": 8}
	if !reflect.DeepEqual(perTrial, want) {
		t.Errorf("samples per runtime/trial %v, want %v", perTrial, want)
	}
	for _, w := range []string{"startup", "idle", "cpu", "guest"} {
		if got := trialsOf(samples, w); !reflect.DeepEqual(got, map[string][]int{"native": {0, 1}, "container": {0, 1}}) {
			t.Errorf("%s samples in trials %v, want 0 and 1 of each runtime", w, got)
		}
	}
	for _, s := range samples {
		if s.Workload == "cpu" && s.Metric == "ops" && s.Value != 42 {
			t.Errorf("cpu ops = %v, want the agent's 42", s.Value)
		}
	}
	raw, _ := filepath.Glob(filepath.Join(r.Store.RawDir(), "*"))
	for i := range raw {
		raw[i] = filepath.Base(raw[i])
	}
	slices.Sort(raw)
	wantRaw := []string{"info-container-0.json", "info-container-1.json", "info-native-0.json", "info-native-1.json",
		"scrape-container-0.prom", "scrape-container-1.prom", "scrape-native-0.prom", "scrape-native-1.prom"}
	if !slices.Equal(raw, wantRaw) {
		t.Errorf("raw files %v, want %v (none of the warm-up)", raw, wantRaw)
	}
}

// TestRunnerRecordsFailuresAndGoesOn fails one Start and one workload: each
// is recorded against its runtime and trial in run.json, that trial leaves
// no workload figures, and the run goes on with the next trials.
func TestRunnerRecordsFailuresAndGoesOn(t *testing.T) {
	h := newFakeHost()
	h.failStart["native-3"] = errors.New("no more pids")
	h.run = func(inst string, w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
		if inst == "container-2" {
			w.WriteHeader(http.StatusInternalServerError)
			json.NewEncoder(w).Encode(map[string]string{"error": "disk full"})
			return
		}
		json.NewEncoder(w).Encode(workload.Result{Workload: workload.CPU,
			Metrics: []workload.Metric{{Name: "ops", Unit: workload.UnitOpsPerSecond, Better: "higher", Value: 42}}})
	}
	r := newRunner(t, h, fmt.Sprintf(twoRuntimes, 3, 0, "10s"))
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	starts, stops, _ := h.snapshot()
	wantStarts := []string{"native-1", "container-2", "native-3", "container-4", "native-5", "container-6"}
	if !slices.Equal(starts, wantStarts) {
		t.Errorf("start order %v, want %v", starts, wantStarts)
	}
	for _, name := range wantStarts {
		want := 1
		if name == "native-3" {
			want = 0 // its Start failed: nothing to stop
		}
		if stops[name] != want {
			t.Errorf("%s stopped %d times, want %d", name, stops[name], want)
		}
	}
	errs, samples := readBack(t, r)
	wantErrs := map[string][]string{
		"native":    {"native trial 2/3: start: no more pids"},
		"container": {"container trial 1/3: workload cpu: agent: disk full"},
	}
	if !reflect.DeepEqual(errs, wantErrs) {
		t.Errorf("run.json errors %q, want %q", errs, wantErrs)
	}
	if got, want := trialsOf(samples, "cpu"), map[string][]int{"native": {0, 2}, "container": {1, 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("cpu samples in trials %v, want %v", got, want)
	}
	if got, want := trialsOf(samples, "guest"), map[string][]int{"native": {0, 2}, "container": {1, 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("guest samples in trials %v, want %v", got, want)
	}
	// The failed workload's instance did start: its startup is kept.
	if got, want := trialsOf(samples, "startup"), map[string][]int{"native": {0, 2}, "container": {0, 1, 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("startup samples in trials %v, want %v", got, want)
	}
}

// TestRunnerWorkloadTimeout: an agent that never answers /run is cut off at
// the scenario's workload time-out, the trial is recorded as failed and
// the instance is stopped.
func TestRunnerWorkloadTimeout(t *testing.T) {
	h := newFakeHost()
	h.run = hang
	r := newRunner(t, h, `name: fake
trials: 1
timeouts:
  workload: 100ms
runtimes:
  - kind: native
workloads:
  - kind: cpu
    iterations: 1000
`)
	begin := time.Now()
	err := r.Run(context.Background())
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("Run took %s with a 100ms workload time-out", took)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "no trial succeeded") {
		t.Fatalf("Run = %v, want no trial succeeded", err)
	}
	starts, stops, runs := h.snapshot()
	if !slices.Equal(starts, []string{"native-1"}) || stops["native-1"] != 1 || runs["native-1"] != 1 {
		t.Errorf("starts %v, stops %v, runs %v; want native-1 started, asked once and stopped once", starts, stops, runs)
	}
	errs, samples := readBack(t, r)
	e := errs["native"]
	if len(e) != 1 || !strings.HasPrefix(e[0], "native trial 1/1: workload cpu: ") || !strings.HasSuffix(e[0], "context deadline exceeded") {
		t.Errorf("run.json errors %q, want one workload cpu deadline error", errs)
	}
	if got := trialsOf(samples, "cpu"); len(got) != 0 {
		t.Errorf("cpu samples in trials %v, want none", got)
	}
}

// TestRunnerInterrupted cancels the run while the third instance runs its
// workload (Ctrl-C): Run returns the context's error, starts nothing more,
// stops every instance it started and records no trial error.
func TestRunnerInterrupted(t *testing.T) {
	h := newFakeHost()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.run = func(inst string, w http.ResponseWriter, r *http.Request, quit <-chan struct{}) {
		if inst == "native-3" {
			cancel()
			hang(inst, w, r, quit)
			return
		}
		json.NewEncoder(w).Encode(workload.Result{Workload: workload.CPU,
			Metrics: []workload.Metric{{Name: "ops", Unit: workload.UnitOpsPerSecond, Better: "higher", Value: 42}}})
	}
	r := newRunner(t, h, fmt.Sprintf(twoRuntimes, 3, 0, "30s"))
	begin := time.Now()
	err := r.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("Run took %s to return after the cancel", took)
	}
	starts, stops, _ := h.snapshot()
	if want := []string{"native-1", "container-2", "native-3"}; !slices.Equal(starts, want) {
		t.Errorf("start order %v, want %v", starts, want)
	}
	for _, name := range starts {
		if stops[name] != 1 {
			t.Errorf("%s stopped %d times, want 1", name, stops[name])
		}
	}
	errs, samples := readBack(t, r)
	if len(errs) != 0 {
		t.Errorf("run.json errors %v, want none for an interruption", errs)
	}
	if got, want := trialsOf(samples, "cpu"), map[string][]int{"native": {0}, "container": {0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("cpu samples in trials %v, want %v", got, want)
	}
}
