package promrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"vcbench/bench"
	"vcbench/workload"
)

func testInfo() bench.RunInfo {
	return bench.RunInfo{
		RunID: "20260101-000000-abcdef", Scenario: "s1", Version: "v1.2", ScenarioSHA256: "abc",
		Start: time.Unix(1767225600, 500000000).UTC(),
		Host:  bench.Host{Hostname: "box", CPUModel: "cpu x", Cores: 2, MemBytes: 1 << 30, Kernel: "6.1", OS: "Debian"},
		Runtimes: []bench.RuntimeInfo{
			{Name: "native", Kind: "native", VCPUs: 1, MemoryMiB: 256},
			{Name: "vm", Kind: "vm", VCPUs: 1, MemoryMiB: 256},
		},
	}
}

// testSamples are two trials of native and one of vm; values chosen so
// that a decimal round trip that is not exact would change them.
func testSamples() []bench.Sample {
	mk := func(rt, w, m string, unit workload.Unit, better workload.Better, trial int, v float64) bench.Sample {
		s := bench.Sample{Scenario: "s1", Runtime: rt, Workload: w, Metric: m, Unit: unit, Better: better, Trial: trial, Value: v}
		if rt == "vm" {
			s.Labels = map[string]string{"accel": "tcg", "network": "user"}
		}
		return s
	}
	return []bench.Sample{
		mk("native", "startup", "ready", "seconds", "lower", 0, 0.0123456789012345),
		mk("native", "cpu", "single_thread", "ops_per_second", "higher", 0, 1107609.8333601006),
		mk("native", "guest", "guest_mem_total", "bytes", "higher", 0, 2.5276502016e+10),
		mk("native", "startup", "ready", "seconds", "lower", 1, 0.30000000000000004),
		mk("native", "cpu", "single_thread", "ops_per_second", "higher", 1, math.Nextafter(1e6, 2e6)),
		mk("native", "guest", "guest_mem_total", "bytes", "higher", 1, 2.5276502016e+10),
		mk("vm", "startup", "ready", "seconds", "lower", 0, 4.7),
		mk("vm", "cpu", "single_thread", "ops_per_second", "higher", 0, 1.0/3),
	}
}

// TestExporterExposition feeds an exporter and checks its series with testutil.
func TestExporterExposition(t *testing.T) {
	e, err := NewExporter(testInfo(), "hostA")
	if err != nil {
		t.Fatal(err)
	}
	e.Samples(testSamples())
	e.TrialDone("native", true, nil)
	e.TrialDone("native", false, nil)
	e.TrialDone("native", false, errors.New("boom"))
	e.Scraped("native", nil)
	e.Scraped("vm", errors.New("metric vcbench_guest_memory_total_bytes missing"))
	cases := []struct {
		name string
		want string
	}{
		{SampleValueName, `
# HELP vcbench_sample_value Last value of each figure of the run (the latest trial), in the base unit named by the unit label; samples.jsonl has every trial.
# TYPE vcbench_sample_value gauge
vcbench_sample_value{host="hostA",metric="guest_mem_total",run_id="20260101-000000-abcdef",runtime="native",scenario="s1",unit="bytes",workload="guest"} 2.5276502016e+10
vcbench_sample_value{host="hostA",metric="ready",run_id="20260101-000000-abcdef",runtime="native",scenario="s1",unit="seconds",workload="startup"} 0.30000000000000004
vcbench_sample_value{host="hostA",metric="ready",run_id="20260101-000000-abcdef",runtime="vm",scenario="s1",unit="seconds",workload="startup"} 4.7
vcbench_sample_value{host="hostA",metric="single_thread",run_id="20260101-000000-abcdef",runtime="native",scenario="s1",unit="ops_per_second",workload="cpu"} 1.0000000000000001e+06
vcbench_sample_value{host="hostA",metric="single_thread",run_id="20260101-000000-abcdef",runtime="vm",scenario="s1",unit="ops_per_second",workload="cpu"} 0.3333333333333333
`},
		{ScrapeSuccessName, `
# HELP vcbench_scrape_success 1 if the last scrape of an agent's /metrics in this runtime succeeded and had the figures vcbench needs, else 0.
# TYPE vcbench_scrape_success gauge
vcbench_scrape_success{host="hostA",run_id="20260101-000000-abcdef",runtime="native",scenario="s1"} 1
vcbench_scrape_success{host="hostA",run_id="20260101-000000-abcdef",runtime="vm",scenario="s1"} 0
`},
		{TrialsTotalName, `
# HELP vcbench_trials_total Trials run, by outcome (ok or failed) and whether they were warm-ups.
# TYPE vcbench_trials_total counter
vcbench_trials_total{host="hostA",outcome="failed",run_id="20260101-000000-abcdef",runtime="native",scenario="s1",warmup="false"} 1
vcbench_trials_total{host="hostA",outcome="ok",run_id="20260101-000000-abcdef",runtime="native",scenario="s1",warmup="false"} 1
vcbench_trials_total{host="hostA",outcome="ok",run_id="20260101-000000-abcdef",runtime="native",scenario="s1",warmup="true"} 1
vcbench_trials_total{host="hostA",outcome="failed",run_id="20260101-000000-abcdef",runtime="vm",scenario="s1",warmup="false"} 0
vcbench_trials_total{host="hostA",outcome="ok",run_id="20260101-000000-abcdef",runtime="vm",scenario="s1",warmup="false"} 0
`},
		{RunInfoName, `
# HELP vcbench_run_info Always 1; the labels describe the run (vcbench version, scenario checksum).
# TYPE vcbench_run_info gauge
vcbench_run_info{host="hostA",run_id="20260101-000000-abcdef",scenario="s1",scenario_sha256="abc",version="v1.2"} 1
`},
		{RuntimeInfoName, `
# HELP vcbench_runtime_info Always 1; one series per runtime of the scenario, in report order.
# TYPE vcbench_runtime_info gauge
vcbench_runtime_info{host="hostA",kind="native",memory_mib="256",order="0",run_id="20260101-000000-abcdef",runtime="native",scenario="s1",vcpus="1"} 1
vcbench_runtime_info{host="hostA",kind="vm",memory_mib="256",order="1",run_id="20260101-000000-abcdef",runtime="vm",scenario="s1",vcpus="1"} 1
`},
		{RunStartName, `
# HELP vcbench_run_start_timestamp_seconds When the run started, in seconds since the Unix epoch.
# TYPE vcbench_run_start_timestamp_seconds gauge
vcbench_run_start_timestamp_seconds{host="hostA",run_id="20260101-000000-abcdef",scenario="s1"} 1.7672256005e+09
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := testutil.GatherAndCompare(sortedLabels(e.Registry()), strings.NewReader(c.want), c.name); err != nil {
				t.Error(err)
			}
		})
	}
	// The startup histogram: one observation per startup sample.
	if n := testutil.CollectAndCount(e.startup); n != 2 {
		t.Errorf("startup histogram has %d series, want 2 (native/ready, vm/ready)", n)
	}
	mfs, _ := e.Registry().Gather()
	for _, mf := range mfs {
		if mf.GetName() != StartupSecondsName {
			continue
		}
		for _, m := range mf.GetMetric() {
			if rt := labelValue(m, "runtime"); rt == "native" && m.GetHistogram().GetSampleCount() != 2 {
				t.Errorf("native startup count %d, want 2", m.GetHistogram().GetSampleCount())
			}
		}
	}
	problems, err := testutil.GatherAndLint(e.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "vcbench_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// sortedLabels gathers from g with each series' labels sorted by name: the
// wrapping registerer puts its const labels first, which the text format
// does not care about but testutil's comparison does.
func sortedLabels(g prometheus.Gatherer) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
			}
		}
		return mfs, err
	})
}

func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// TestCheckListenAddr covers the loopback rule.
func TestCheckListenAddr(t *testing.T) {
	cases := []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:9464", false, true},
		{"127.0.0.2:9464", false, true},
		{"[::1]:9464", false, true},
		{"localhost:9464", false, true},
		{":9464", false, false},
		{"0.0.0.0:9464", false, false},
		{"192.168.1.10:9464", false, false},
		{"192.168.1.10:9464", true, true},
		{"example.com:9464", false, false},
		{"127.0.0.1", false, false},
		{"127.0.0.1:", false, false},
	}
	for _, c := range cases {
		err := CheckListenAddr(c.addr, c.remote)
		if (err == nil) != c.ok {
			t.Errorf("CheckListenAddr(%q, %v) = %v, want ok=%v", c.addr, c.remote, err, c.ok)
		}
	}
}

// TestExporterServeClose serves on a free loopback port, scrapes it, closes
// it and checks that nothing listens any more.
func TestExporterServeClose(t *testing.T) {
	e, err := NewExporter(testInfo(), "hostA")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serve("127.0.0.1:0", false); err != nil {
		t.Fatal(err)
	}
	addr := e.Addr()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte(`vcbench_run_info{host="hostA"`)) {
		t.Errorf("exposition lacks vcbench_run_info:\n%s", body)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Close", addr)
	}
}

// fakeGateway answers pushes with the given status codes in turn (then 200)
// and keeps the bodies.
type fakeGateway struct {
	mu     sync.Mutex
	codes  []int
	bodies [][]byte
	paths  []string
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.paths = append(g.paths, r.Method+" "+r.URL.Path)
	code := http.StatusOK
	if len(g.codes) > 0 {
		code, g.codes = g.codes[0], g.codes[1:]
	}
	if code == http.StatusOK {
		g.bodies = append(g.bodies, b)
	}
	w.WriteHeader(code)
}

// TestPusher checks the grouping path, exact values in the pushed body, the
// retry bound and that a dead gateway only warns.
func TestPusher(t *testing.T) {
	cases := []struct {
		name      string
		codes     []int
		dead      bool
		wantTries int
		wantErr   bool
	}{
		{name: "first try", wantTries: 1},
		{name: "two failures then ok", codes: []int{500, 503}, wantTries: 3},
		{name: "always failing", codes: []int{500, 500, 500, 500}, wantTries: 3, wantErr: true},
		{name: "gateway down", dead: true, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := &fakeGateway{codes: c.codes}
			srv := httptest.NewServer(g)
			if c.dead {
				srv.Close()
			} else {
				defer srv.Close()
			}
			var warn bytes.Buffer
			health, _ := NewExporter(testInfo(), "hostA")
			p, err := NewPusher(PushConfig{URL: srv.URL, Host: "hostA", Warn: &warn, Backoff: 10 * time.Millisecond, Health: health.Registry()}, testInfo())
			if err != nil {
				t.Fatal(err)
			}
			p.Samples(testSamples())
			start := time.Now()
			p.TrialDone("native", false, nil)
			if took := time.Since(start); took > 5*time.Second+500*time.Millisecond {
				t.Errorf("push took %s, over its 5 s budget", took)
			}
			if c.wantErr != (warn.Len() > 0) {
				t.Errorf("warning %q, want one: %v", warn.String(), c.wantErr)
			}
			wantOK := 1.0
			if c.wantErr {
				wantOK = 0
			}
			if got := testutil.ToFloat64(p.ok); got != wantOK {
				t.Errorf("vcbench_push_success %v, want %v", got, wantOK)
			}
			if c.dead {
				return
			}
			if len(g.paths) != c.wantTries {
				t.Errorf("%d tries, want %d", len(g.paths), c.wantTries)
			}
			if c.wantErr {
				return
			}
			// The grouping labels come in map order.
			if p := g.paths[0]; !strings.HasPrefix(p, "PUT /metrics/job/vcbench/") ||
				!strings.Contains(p, "/run_id/20260101-000000-abcdef") || !strings.Contains(p, "/host/hostA") {
				t.Errorf("pushed to %s, want PUT to job vcbench, run_id and host", p)
			}
			checkPushedValues(t, g.bodies[len(g.bodies)-1], testSamples())
		})
	}
}

// checkPushedValues decodes a pushed protobuf body and compares every
// vcbench_trial_value with the samples bit for bit.
func checkPushedValues(t *testing.T, body []byte, samples []bench.Sample) {
	t.Helper()
	dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim))
	got := map[string]float64{}
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if mf.GetName() != TrialValueName {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := fmt.Sprintf("%s/%s/%s/%s", labelValue(m, "runtime"), labelValue(m, "workload"), labelValue(m, "metric"), labelValue(m, "trial"))
			got[key] = m.GetGauge().GetValue()
			if labelValue(m, "scenario") != "s1" {
				t.Errorf("%s: scenario %q", key, labelValue(m, "scenario"))
			}
		}
	}
	if len(got) != len(samples) {
		t.Errorf("pushed %d values, want %d", len(got), len(samples))
	}
	for _, s := range samples {
		key := fmt.Sprintf("%s/%s/%s/%d", s.Runtime, s.Workload, s.Metric, s.Trial)
		if v, ok := got[key]; !ok || math.Float64bits(v) != math.Float64bits(s.Value) {
			t.Errorf("%s: pushed %v, want exactly %v", key, v, s.Value)
		}
	}
}

// fakeAPI answers instant queries from canned vectors keyed by metric name.
type fakeAPI struct {
	v1.API
	series map[string]model.Vector
}

func (f *fakeAPI) Query(ctx context.Context, q string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	name := strings.TrimPrefix(q, "last_over_time(")
	name, _, _ = strings.Cut(name, "{")
	var out model.Vector
	for _, s := range f.series[name] {
		if strings.Contains(q, `run_id="`+string(s.Metric["run_id"])+`"`) {
			out = append(out, s)
		}
	}
	return out, nil, nil, nil
}

// TestLoaderRebuildsRuns pushes two hosts' runs into a fake Prometheus (the
// shape that a Pushgateway scrape with honor_labels gives) and checks that
// Load returns them side by side with exact values.
func TestLoaderRebuildsRuns(t *testing.T) {
	api := &fakeAPI{series: map[string]model.Vector{}}
	add := func(name string, host string, labels model.LabelSet, v float64) {
		m := model.Metric{"job": "vcbench", "instance": "", "run_id": "20260101-000000-abcdef", "host": model.LabelValue(host), "scenario": "s1"}
		for k, lv := range labels {
			m[k] = lv
		}
		api.series[name] = append(api.series[name], &model.Sample{Metric: m, Value: model.SampleValue(v)})
	}
	for _, host := range []string{"hostB", "hostA"} {
		add(RunInfoName, host, model.LabelSet{"version": "v1.2", "scenario_sha256": "abc"}, 1)
		add(RuntimeInfoName, host, model.LabelSet{"runtime": "vm", "kind": "vm", "vcpus": "1", "memory_mib": "256", "order": "1"}, 1)
		add(RuntimeInfoName, host, model.LabelSet{"runtime": "native", "kind": "native", "vcpus": "1", "memory_mib": "256", "order": "0"}, 1)
		add(RunStartName, host, nil, 1.7672256005e+09)
		add(RunEndName, host, model.LabelSet{"status": "complete"}, 1.7672257e+09)
		for _, s := range testSamples() {
			ls := model.LabelSet{"runtime": model.LabelValue(s.Runtime), "workload": model.LabelValue(s.Workload), "metric": model.LabelValue(s.Metric),
				"unit": model.LabelValue(s.Unit), "better": model.LabelValue(s.Better), "trial": model.LabelValue(fmt.Sprint(s.Trial)),
				"accel": model.LabelValue(s.Labels["accel"]), "network": model.LabelValue(s.Labels["network"])}
			for k, v := range ls {
				if v == "" {
					delete(ls, k)
				}
			}
			add(TrialValueName, host, ls, s.Value)
		}
	}
	runs, err := (&Loader{API: api}).Load(context.Background(), []string{"20260101-000000-abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Info.Host.Hostname != "hostA" || runs[1].Info.Host.Hostname != "hostB" {
		t.Fatalf("got %d runs, want hostA and hostB", len(runs))
	}
	want := testSamples()
	for _, r := range runs {
		if r.Info.Status != bench.StatusComplete || r.Info.Scenario != "s1" || r.Info.Version != "v1.2" || r.Info.Trials != 2 {
			t.Errorf("%s: info %+v", r.Info.Host.Hostname, r.Info)
		}
		if len(r.Info.Runtimes) != 2 || r.Info.Runtimes[0].Name != "native" || r.Info.Runtimes[1].Settings["accel"] != "tcg" {
			t.Errorf("%s: runtimes %+v", r.Info.Host.Hostname, r.Info.Runtimes)
		}
		if len(r.Samples) != len(want) {
			t.Fatalf("%s: %d samples, want %d", r.Info.Host.Hostname, len(r.Samples), len(want))
		}
		for i, s := range r.Samples {
			w := want[i]
			if s.Runtime != w.Runtime || s.Workload != w.Workload || s.Metric != w.Metric || s.Trial != w.Trial ||
				s.Unit != w.Unit || s.Better != w.Better || math.Float64bits(s.Value) != math.Float64bits(w.Value) ||
				s.Labels["accel"] != w.Labels["accel"] {
				t.Errorf("%s sample %d: %+v, want %+v", r.Info.Host.Hostname, i, s, w)
			}
		}
	}
	if _, err := (&Loader{API: api}).Load(context.Background(), []string{"nosuch"}); err == nil || !strings.Contains(err.Error(), "load run nosuch") {
		t.Errorf("unknown run id: %v", err)
	}
}

// TestPusherHungGateway: a gateway that accepts and never answers costs at
// most GiveUpAfter × Budget over a whole run, and a cancelled run context
// (Ctrl-C) ends a push in progress at once.
func TestPusherHungGateway(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	t.Run("gives up", func(t *testing.T) {
		var warn bytes.Buffer
		p, err := NewPusher(PushConfig{URL: srv.URL, Host: "hostA", Warn: &warn, Tries: 1, Budget: 100 * time.Millisecond, GiveUpAfter: 2}, testInfo())
		if err != nil {
			t.Fatal(err)
		}
		p.Samples(testSamples())
		hits.Store(0)
		for i := 0; i < 6; i++ {
			p.TrialDone("native", false, nil)
		}
		if n := hits.Load(); n != 2 {
			t.Errorf("gateway got %d pushes over 6 trials, want 2 (give up after 2 failures)", n)
		}
		if got := strings.Count(warn.String(), "no more pushes after trials"); got != 1 {
			t.Errorf("give-up warning printed %d times, want once:\n%s", got, warn.String())
		}
	})
	t.Run("Ctrl-C", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var warn bytes.Buffer
		p, err := NewPusher(PushConfig{URL: srv.URL, Host: "hostA", Warn: &warn, Budget: time.Minute, Context: ctx}, testInfo())
		if err != nil {
			t.Fatal(err)
		}
		p.Samples(testSamples())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		p.TrialDone("native", false, nil)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("a cancelled run's push took %s: it ignored the signal (budget 1 min)", took)
		}
		hits.Store(0)
		p.TrialDone("native", false, nil)
		if n := hits.Load(); n != 0 {
			t.Errorf("pushed %d times after the run was cancelled, want 0", n)
		}
	})
}
