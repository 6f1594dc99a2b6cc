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
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
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
	// die makes instance's agent die while it runs workload: the key is
	// "instance/workload", the value what its Exiter then reports.
	die map[string]string
	// hangUp makes instance's agent drop the connection of workload and
	// stop answering /healthz, while its Exiter sees nothing (a hung guest).
	hangUp map[string]bool
	// run, if set, answers POST /run instead of a good result.
	run func(inst string, w http.ResponseWriter, r *http.Request, quit <-chan struct{})
}

func newFakeHost() *fakeHost {
	return &fakeHost{stops: map[string]int{}, runs: map[string]int{}, failStart: map[string]error{},
		die: map[string]string{}, hangUp: map[string]bool{}}
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
	return slices.Clone(h.starts), copyCounts(h.stops), copyCounts(h.runs)
}

func copyCounts(m map[string]int) map[string]int {
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

	mu        sync.Mutex
	exited    string // what Exited reports once the agent "died"
	unhealthy bool   // /healthz answers 503
}

var _ Exiter = (*fakeInstance)(nil)

// Exited reports the death that h.die caused.
func (i *fakeInstance) Exited() (bool, string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.exited != "", i.exited
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
		i.mu.Lock()
		bad := i.unhealthy || i.exited != ""
		i.mu.Unlock()
		if bad {
			http.Error(w, "gone", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	case "/info":
		json.NewEncoder(w).Encode(map[string]string{"hostname": i.name})
	case "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, fakeMetrics)
	case "/run":
		var p workload.Params
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		key := i.name + "/" + string(p.Kind)
		i.h.mu.Lock()
		i.h.runs[i.name]++
		run := i.h.run
		why, hangUp := i.h.die[key], i.h.hangUp[key]
		i.h.mu.Unlock()
		if why != "" || hangUp {
			i.mu.Lock()
			i.exited, i.unhealthy = why, hangUp
			i.mu.Unlock()
			panic(http.ErrAbortHandler) // the connection drops, as when the agent is killed
		}
		if run != nil {
			run(i.name, w, r, i.quit)
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
// is recorded against its runtime and trial in run.json, the failed
// workload leaves no figures (its instance stayed healthy: the trial's
// guest scrape is kept), and the run goes on with the next trials.
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
	if got, want := trialsOf(samples, "guest"), map[string][]int{"native": {0, 2}, "container": {0, 1, 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("guest samples in trials %v, want %v", got, want)
	}
	for _, ri := range r.Store.Info().Runtimes {
		var want []WorkloadFailure
		if ri.Name == "container" {
			want = []WorkloadFailure{{Trial: 0, Workload: "cpu", Instance: "container-2", Cause: "agent: disk full"}}
		}
		if !reflect.DeepEqual(ri.FailedWorkloads, want) {
			t.Errorf("%s failed_workloads %+v, want %+v", ri.Name, ri.FailedWorkloads, want)
		}
		// native: trial 2/3 did not start; container: trial 1/3 had no figures.
		if ri.TrialsOK != 2 || len(ri.Missing) != 0 {
			t.Errorf("%s trials_ok %d, missing %v; want 2 and none", ri.Name, ri.TrialsOK, ri.Missing)
		}
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

// TestRunnerWorkloadTimeoutReplaces: a workload that timed out may still
// run in the agent (which runs one at a time), so its instance is replaced
// for the next workload, which then gives its figures.
func TestRunnerWorkloadTimeoutReplaces(t *testing.T) {
	h := newFakeHost()
	h.run = func(inst string, w http.ResponseWriter, r *http.Request, quit <-chan struct{}) {
		if inst == "native-1" {
			hang(inst, w, r, quit)
			return
		}
		json.NewEncoder(w).Encode(workload.Result{Workload: workload.Syscall,
			Metrics: []workload.Metric{{Name: "getppid", Unit: workload.UnitOpsPerSecond, Better: "higher", Value: 42}}})
	}
	r := newRunner(t, h, `name: fake
trials: 1
timeouts:
  workload: 100ms
runtimes:
  - kind: native
workloads:
  - kind: cpu
    iterations: 1000
  - kind: syscall
    iterations: 1000
`)
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v, want the trial to go on in a replacement", err)
	}
	starts, stops, runs := h.snapshot()
	if !slices.Equal(starts, []string{"native-1", "native-2"}) || stops["native-1"] != 1 || stops["native-2"] != 1 || runs["native-1"] != 1 || runs["native-2"] != 1 {
		t.Errorf("starts %v, stops %v, runs %v; want native-1 asked once and replaced by native-2", starts, stops, runs)
	}
	errs, samples := readBack(t, r)
	e := errs["native"]
	if len(e) != 1 || !strings.Contains(e[0], "workload cpu: timed out after 100ms: ") || !strings.HasSuffix(e[0], "native-1 replaced by native-2 for the trial's remaining workloads") {
		t.Errorf("run.json errors %q, want the cpu time-out and the replacement", errs)
	}
	if got := trialsOf(samples, "syscall"); len(got) != 1 {
		t.Errorf("syscall samples in trials %v, want one", got)
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

const threeWorkloads = `name: fake
trials: 2
runtimes:
  - kind: native
workloads:
  - kind: cpu
    iterations: 1000
  - kind: syscall
  - kind: fork
`

// labelsOf lists the distinct "restarted" labels of the samples of
// workload w in trial t ("" for none).
func labelsOf(samples []Sample, w string, t int) []string {
	var out []string
	for _, s := range samples {
		if s.Workload == w && s.Trial == t && !slices.Contains(out, s.Labels[RestartedLabel]) {
			out = append(out, s.Labels[RestartedLabel])
		}
	}
	slices.Sort(out)
	return out
}

// TestRunnerReplacesDeadInstance: the agent of trial 1 is OOM-killed
// during its second workload. That workload's failure is recorded with the
// cause the instance's Exiter gives; the instance is stopped and the
// trial's last workload runs on a replacement, whose figures carry
// restarted=1 and whose startup and idle memory are not recorded. Trial 2
// is untouched.
func TestRunnerReplacesDeadInstance(t *testing.T) {
	h := newFakeHost()
	oom := "killed by the kernel's OOM killer (memory limit 64 MiB)"
	h.die["native-1/syscall"] = oom
	r := newRunner(t, h, threeWorkloads)
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	starts, stops, runs := h.snapshot()
	if want := []string{"native-1", "native-2", "native-3"}; !slices.Equal(starts, want) {
		t.Errorf("start order %v, want %v (native-2 replaces native-1)", starts, want)
	}
	for name, want := range map[string]int{"native-1": 2, "native-2": 1, "native-3": 3} {
		if stops[name] != 1 || runs[name] != want {
			t.Errorf("%s: stopped %d times, %d workloads; want 1 and %d", name, stops[name], runs[name], want)
		}
	}
	errs, samples := readBack(t, r)
	e := errs["native"]
	if len(e) != 1 || !strings.HasPrefix(e[0], "native trial 1/2: workload syscall: ") ||
		!strings.Contains(e[0], " ("+oom+")") ||
		!strings.HasSuffix(e[0], "; native-1 replaced by native-2 for the trial's remaining workloads") {
		t.Errorf("run.json errors %q, want the syscall failure with its OOM cause and the replacement", e)
	}
	ri := r.Store.Info().Runtimes[0]
	wantFailed := []WorkloadFailure{{Trial: 0, Workload: "syscall", Instance: "native-1", Cause: oom, Replaced: true}}
	if !reflect.DeepEqual(ri.FailedWorkloads, wantFailed) {
		t.Errorf("failed_workloads %+v, want %+v", ri.FailedWorkloads, wantFailed)
	}
	if ri.TrialsOK != 2 || len(ri.Missing) != 0 {
		t.Errorf("trials_ok %d, missing %v; want 2 (a partial trial counts) and none", ri.TrialsOK, ri.Missing)
	}
	for _, c := range []struct {
		w      string
		trial  int
		labels []string
	}{
		{"startup", 0, []string{""}}, {"idle", 0, []string{""}}, {"cpu", 0, []string{""}},
		{"syscall", 0, nil}, {"fork", 0, []string{"1"}}, {"guest", 0, []string{"1"}},
		{"startup", 1, []string{""}}, {"cpu", 1, []string{""}}, {"syscall", 1, []string{""}},
		{"fork", 1, []string{""}}, {"guest", 1, []string{""}},
	} {
		if got := labelsOf(samples, c.w, c.trial); !slices.Equal(got, c.labels) {
			t.Errorf("%s trial %d: restarted labels %q, want %q", c.w, c.trial, got, c.labels)
		}
	}
	n := 0
	for _, s := range samples {
		if s.Workload == "startup" && s.Trial == 0 {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d startup samples in trial 0, want 1 (the replacement's start is not the trial's)", n)
	}
	if got := trialsOf(samples, "idle")["native"]; !slices.Equal(got, []int{0, 1}) {
		t.Errorf("idle samples in trials %v", got)
	}
}

// TestRunnerReplacesUnresponsiveInstance: an agent that drops its first
// workload's connection and then stops answering /healthz, while the
// backend sees no exit, is taken for dead too; the cause says it was
// unresponsive. When the failing workload is the trial's last, no
// replacement starts and the trial has no guest figures.
func TestRunnerReplacesUnresponsiveInstance(t *testing.T) {
	h := newFakeHost()
	h.hangUp["native-1/cpu"] = true
	h.hangUp["native-3/syscall"] = true
	r := newRunner(t, h, `name: fake
trials: 2
runtimes:
  - kind: native
workloads:
  - kind: cpu
  - kind: syscall
`)
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	starts, stops, _ := h.snapshot()
	if want := []string{"native-1", "native-2", "native-3"}; !slices.Equal(starts, want) {
		t.Errorf("start order %v, want %v", starts, want)
	}
	for _, name := range starts {
		if stops[name] != 1 {
			t.Errorf("%s stopped %d times, want 1", name, stops[name])
		}
	}
	ri := r.Store.Info().Runtimes[0]
	if len(ri.FailedWorkloads) != 2 {
		t.Fatalf("failed_workloads %+v, want two", ri.FailedWorkloads)
	}
	for i, want := range []WorkloadFailure{
		{Trial: 0, Workload: "cpu", Instance: "native-1", Replaced: true},
		{Trial: 1, Workload: "syscall", Instance: "native-3", Replaced: false},
	} {
		got := ri.FailedWorkloads[i]
		cause := got.Cause
		got.Cause = ""
		if got != want || !strings.HasSuffix(cause, "; agent unresponsive (answered 503 Service Unavailable)") {
			t.Errorf("failure %d: %+v cause %q, want %+v with an unresponsive agent", i, got, cause, want)
		}
	}
	_, samples := readBack(t, r)
	if got := labelsOf(samples, "syscall", 0); !slices.Equal(got, []string{"1"}) {
		t.Errorf("syscall trial 0 labels %q, want restarted=1", got)
	}
	if got := trialsOf(samples, "guest")["native"]; !slices.Equal(got, []int{0}) {
		t.Errorf("guest samples in trials %v, want only 0 (trial 1's instance died at its end)", got)
	}
	if got := trialsOf(samples, "cpu")["native"]; !slices.Equal(got, []int{1}) {
		t.Errorf("cpu samples in trials %v, want 1", got)
	}
}

// TestRunnerMissing: native gives every figure, container fails syscall
// in every trial and vm never starts. run.json lists per runtime what has
// no sample; the run is complete, and its reason names both gaps.
func TestRunnerMissing(t *testing.T) {
	h := newFakeHost()
	h.failStart["vm-3"] = errors.New("no kvm")
	h.failStart["vm-6"] = errors.New("no kvm")
	h.die["container-2/syscall"] = "exited with status 2"
	h.die["container-5/syscall"] = "exited with status 2"
	r := newRunner(t, h, `name: fake
trials: 2
runtimes:
  - kind: native
  - kind: container
  - kind: vm
workloads:
  - kind: cpu
  - kind: syscall
`)
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	info := r.Store.Info()
	want := map[string]struct {
		ok      int
		missing []string
		failed  bool
	}{
		"native":    {2, nil, false},
		"container": {2, []string{"syscall"}, false},
		"vm":        {0, []string{"cpu", "syscall"}, true},
	}
	for _, ri := range info.Runtimes {
		w := want[ri.Name]
		if ri.TrialsOK != w.ok || !slices.Equal(ri.Missing, w.missing) || ri.FailedEveryTrial() != w.failed {
			t.Errorf("%s: trials_ok %d, missing %v, failed every trial %v; want %d, %v, %v",
				ri.Name, ri.TrialsOK, ri.Missing, ri.FailedEveryTrial(), w.ok, w.missing, w.failed)
		}
	}
	status, reason := Outcome(nil, nil, info)
	if wantReason := "complete with gaps: container has no sample of syscall; vm failed every trial (see errors in run.json)"; status != StatusComplete || reason != wantReason {
		t.Errorf("Outcome = %s, %q; want complete, %q", status, reason, wantReason)
	}
	b, err := os.ReadFile(filepath.Join(r.Store.Dir, "run.json"))
	if err != nil || !strings.Contains(string(b), `"missing": [
        "cpu",
        "syscall"
      ]`) {
		t.Errorf("run.json does not list vm's missing workloads: %v\n%s", err, b)
	}
}

// failingFile is samples.jsonl on a disk that fails every write.
type failingFile struct{ err error }

func (f failingFile) Write([]byte) (int, error) { return 0, f.err }
func (f failingFile) Sync() error               { return f.err }
func (f failingFile) Close() error              { return nil }

// TestRunnerStopsWhenResultsFail: when samples.jsonl cannot be written
// (an I/O error) the run stops at its first write — no further trial
// starts, the instance is stopped — and run.json ends failed with the
// reason. When run.json itself cannot be written (a full disk), the run
// stops at its first update and Finish says it could not write.
func TestRunnerStopsWhenResultsFail(t *testing.T) {
	t.Run("samples", func(t *testing.T) {
		h := newFakeHost()
		r := newRunner(t, h, fmt.Sprintf(twoRuntimes, 3, 0, "10s"))
		r.Store.f = failingFile{syscall.EIO}
		err := r.Run(context.Background())
		if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "append to samples.jsonl: input/output error") {
			t.Fatalf("Run = %v, want the EIO of samples.jsonl", err)
		}
		starts, stops, runs := h.snapshot()
		if !slices.Equal(starts, []string{"native-1"}) || stops["native-1"] != 1 || runs["native-1"] != 0 {
			t.Errorf("starts %v, stops %v, runs %v; want native-1 started, stopped, no workload", starts, stops, runs)
		}
		status, reason := Outcome(nil, err, r.Store.Info())
		if err := r.Store.Finish(status, reason); err != nil {
			t.Fatalf("Finish: %v", err)
		}
		run, err := ReadRun(r.Store.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if run.Info.Status != StatusFailed || !strings.Contains(run.Info.Reason, "append to samples.jsonl: input/output error") {
			t.Errorf("run.json %s %q, want failed with the write error", run.Info.Status, run.Info.Reason)
		}
	})
	t.Run("run.json", func(t *testing.T) {
		h := newFakeHost()
		r := newRunner(t, h, fmt.Sprintf(twoRuntimes, 3, 0, "10s"))
		r.Store.writeJSON = func(string, any) error { return syscall.ENOSPC }
		err := r.Run(context.Background())
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "write run.json: no space left on device") {
			t.Fatalf("Run = %v, want the ENOSPC of run.json", err)
		}
		// native-1's trial ran; recording it (trials_ok) was the first update.
		if starts, _, _ := h.snapshot(); !slices.Equal(starts, []string{"native-1"}) {
			t.Errorf("starts %v, want native-1 only", starts)
		}
		if err := r.Store.Finish(StatusFailed, err.Error()); !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("Finish = %v, want ENOSPC", err)
		}
	})
}

// TestDensityWorkloadFailure: at k=2 the steady workload fails in the
// second instance (its agent exits). The step says so — in run.json's
// errors and as the sweep's stop reason — and is not measured as if its
// instances were loaded: no memory figures for k=2, k=1's are kept.
func TestDensityWorkloadFailure(t *testing.T) {
	h := newFakeHost()
	h.die["native-d2/cpu"] = "exited with status 2"
	r := newRunner(t, h, `name: fake
runtimes:
  - kind: native
density:
  steps: [1, 2, 4]
  workload: cpu
`)
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	starts, stops, _ := h.snapshot()
	if want := []string{"native-d1", "native-d2"}; !slices.Equal(starts, want) {
		t.Errorf("starts %v, want %v (the sweep ends at k=2)", starts, want)
	}
	for _, name := range starts {
		if stops[name] != 1 {
			t.Errorf("%s stopped %d times, want 1", name, stops[name])
		}
	}
	ri := r.Store.Info().Runtimes[0]
	if len(ri.Errors) != 1 || !strings.HasPrefix(ri.Errors[0], "density k=2: instance 2: workload cpu: ") || !strings.HasSuffix(ri.Errors[0], " (exited with status 2)") {
		t.Errorf("run.json errors %q, want the k=2 failure with its cause", ri.Errors)
	}
	if d := ri.Density; d == nil || d.Reached != 1 || !strings.HasPrefix(d.Stop, "steady workload cpu failed at 2 instances: instance 2: workload cpu: ") {
		t.Errorf("density %+v, want reached 1 and the workload failure as stop reason", d)
	}
	_, samples := readBack(t, r)
	means := map[string]bool{}
	ops := map[string]int{}
	for _, s := range samples {
		switch s.Metric {
		case "instance_memory_mean", "host_used":
			means[s.Labels["k"]] = true
		case "cpu_ops":
			ops[s.Labels["k"]]++
		}
	}
	if !means["1"] || means["2"] {
		t.Errorf("memory figures at steps %v, want k=1 only", means)
	}
	if ops["1"] != 1 || ops["2"] != 1 {
		t.Errorf("cpu_ops per step %v, want one at k=1 and the surviving instance's at k=2", ops)
	}
}

// TestRunnerKeepsWarnings: a workload's warnings go to its notes file
// under raw/ and, once each, to its runtime's entry of run.json.
func TestRunnerKeepsWarnings(t *testing.T) {
	h := newFakeHost()
	h.run = func(inst string, w http.ResponseWriter, r *http.Request, _ <-chan struct{}) {
		json.NewEncoder(w).Encode(workload.Result{Workload: workload.CPU,
			Metrics:  []workload.Metric{{Name: "ops", Unit: workload.UnitOpsPerSecond, Better: "higher", Value: 42}},
			Notes:    map[string]string{"threads": "1"},
			Warnings: []string{"usable memory unknown"}})
	}
	r := newRunner(t, h, fmt.Sprintf(twoRuntimes, 2, 0, "10s"))
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, ri := range r.Store.Info().Runtimes {
		if want := []string{"cpu: usable memory unknown"}; !slices.Equal(ri.Warnings, want) {
			t.Errorf("%s warnings %q, want %q", ri.Name, ri.Warnings, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(r.Store.RawDir(), "notes-native-1-cpu.json"))
	if err != nil {
		t.Fatal(err)
	}
	var notes struct {
		Threads  string   `json:"threads"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(b, &notes); err != nil || notes.Threads != "1" || !slices.Equal(notes.Warnings, []string{"usable memory unknown"}) {
		t.Errorf("notes file %s: %v", b, err)
	}
}

// TestDensityBatchRate: each batch of instances started together gets its
// wall time and its start rate per host core, labelled with the batch size.
func TestDensityBatchRate(t *testing.T) {
	h := newFakeHost()
	r := newRunner(t, h, `name: fake
runtimes:
  - kind: native
density:
  steps: [2, 4]
  batch: 2
`)
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	_, samples := readBack(t, r)
	walls, rates := map[int]float64{}, map[int]float64{}
	for _, s := range samples {
		switch s.Metric {
		case "batch_start":
			walls[s.Trial] = s.Value
		case "start_rate_per_core":
			if s.Labels["batch"] != "2" || s.Labels["cores"] == "" || s.Unit != workload.UnitOpsPerSecond || s.Better != workload.BetterHigher {
				t.Errorf("rate sample %+v", s)
			}
			rates[s.Trial] = s.Value
		}
	}
	if len(walls) != 2 || len(rates) != 2 {
		t.Fatalf("batch samples at %v / %v, want one per batch (trials 2 and 4)", walls, rates)
	}
	for trial, w := range walls {
		if want := 2 / w / float64(runtime.NumCPU()); w <= 0 || rates[trial] < want*0.999 || rates[trial] > want*1.001 {
			t.Errorf("batch ending at %d: wall %v rate %v, want 2/wall/cores = %v", trial, w, rates[trial], want)
		}
	}
}
