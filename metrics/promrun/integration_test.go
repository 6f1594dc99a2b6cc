package promrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"vcbench/bench"
	"vcbench/internal/testenv"
)

// integrationScenario runs long enough (a few seconds) for Prometheus,
// scraping every second, to see the live exporter during the run.
const integrationScenario = `name: prom-integration
trials: 2
warmup: 0
runtimes:
  - kind: native
workloads:
  - kind: cpu
    iterations: 1000000
  - kind: syscall
    iterations: 20000
`

// vcbenchBinaries returns the real vcbench and vcbench-agent.
func vcbenchBinaries(t *testing.T) (vcbench, agent string) { return testenv.Binaries(t) }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer starts a server binary, kills it at cleanup (and if the test
// binary dies), and waits until url answers 200.
func startServer(t *testing.T, name, readyURL string, args ...string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(name)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(readyURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf.Sync()
	b, _ := os.ReadFile(logf.Name())
	t.Fatalf("%s not ready at %s within 30 s; log:\n%s", name, readyURL, b)
}

type promEnv struct {
	pushURL, promURL, liveAddr string
	api                        v1.API
}

// startPrometheus starts a Pushgateway and a Prometheus that scrapes it
// (honor_labels) and the live exporter address every second.
func startPrometheus(t *testing.T) *promEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Prometheus and a Pushgateway: not in -short")
	}
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		testenv.Require(t, "prometheus binary not found (Debian: apt-get install prometheus)")
	}
	pgw, err := exec.LookPath("prometheus-pushgateway")
	if err != nil {
		testenv.Require(t, "prometheus-pushgateway binary not found (Debian: apt-get install prometheus-pushgateway)")
	}
	pgPort, promPort, livePort := freePort(t), freePort(t), freePort(t)
	env := &promEnv{
		pushURL:  fmt.Sprintf("http://127.0.0.1:%d", pgPort),
		promURL:  fmt.Sprintf("http://127.0.0.1:%d", promPort),
		liveAddr: fmt.Sprintf("127.0.0.1:%d", livePort),
	}
	startServer(t, pgw, env.pushURL+"/-/ready", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", pgPort))
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:%d']
  - job_name: vcbench-live
    static_configs:
      - targets: ['%s']
`, pgPort, env.liveAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startServer(t, prom, env.promURL+"/-/ready", "--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	c, err := api.NewClient(api.Config{Address: env.promURL})
	if err != nil {
		t.Fatal(err)
	}
	env.api = v1.NewAPI(c)
	// Prometheus applies discovered targets a few seconds after it is
	// ready; wait until both scrape loops run (the live target is down).
	queryUntil(t, env.api, `up{job="pushgateway"} == 1 or up{job="vcbench-live"} == 0`,
		func(v model.Vector) bool { return len(v) == 2 })
	return env
}

// runResult is one finished `vcbench run`.
type runResult struct {
	run       *bench.Run
	stderr    string
	liveSeen  bool // the test's own poll of --metrics-addr saw vcbench_run_info during the run
	liveRunID string
}

// runVCBench runs the scenario with the metrics flags, polling the live
// exporter every 100 ms while it runs.
func runVCBench(t *testing.T, vcbench, agent, host string, extra ...string) runResult {
	t.Helper()
	dir := t.TempDir()
	scen := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(scen, []byte(integrationScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", scen, "--agent", agent, "--out", filepath.Join(dir, "results"),
		"--state-dir", filepath.Join(dir, "state"), "--no-report", "--json", "--host-label", host}, extra...)
	cmd := exec.Command(vcbench, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var res runResult
	live := ""
	for i, a := range extra {
		if a == "--metrics-addr" {
			live = extra[i+1]
		}
	}
	var err error
poll:
	for {
		select {
		case err = <-done:
			break poll
		case <-time.After(100 * time.Millisecond):
		}
		if live == "" || res.liveSeen {
			continue
		}
		if resp, gerr := http.Get("http://" + live + "/metrics"); gerr == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "vcbench_run_info{") && strings.Contains(line, `host="`+host+`"`) {
					res.liveSeen = true
					_, rest, _ := strings.Cut(line, `run_id="`)
					res.liveRunID, _, _ = strings.Cut(rest, `"`)
				}
			}
		}
	}
	res.stderr = stderr.String()
	if err != nil {
		t.Fatalf("vcbench run: %v\nstderr:\n%s", err, res.stderr)
	}
	var sum struct {
		RunDir string `json:"run_dir"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout.String())
	}
	if res.run, err = bench.ReadRun(sum.RunDir); err != nil {
		t.Fatal(err)
	}
	if res.run.Info.Status != bench.StatusComplete {
		t.Fatalf("run %s: %s", res.run.Info.Status, res.run.Info.Reason)
	}
	return res
}

func sampleKey(runtime, w, m string, trial string) string {
	return runtime + "/" + w + "/" + m + "/" + trial
}

// queryUntil evaluates q until ok accepts the vector or 30 s pass.
func queryUntil(t *testing.T, a v1.API, q string, ok func(model.Vector) bool) model.Vector {
	t.Helper()
	var vec model.Vector
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		v, _, _, err := a.Query(context.Background(), q, time.Now())
		if err == nil {
			vec, _ = v.(model.Vector)
			if ok(vec) {
				return vec
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("query %s: no acceptable answer within 30 s; last: %v", q, vec)
	return nil
}

// TestPrometheusIntegration runs real vcbench runs against a real
// Pushgateway and Prometheus: values pushed per trial come back from
// Prometheus exactly as in samples.jsonl, the live exporter is scraped
// during the run and gone after it, and LoadRuns returns two hosts' runs
// side by side.
func TestPrometheusIntegration(t *testing.T) {
	env := startPrometheus(t)
	vcbench, agent := vcbenchBinaries(t)

	a := runVCBench(t, vcbench, agent, "hostA", "--push-gateway", env.pushURL, "--metrics-addr", env.liveAddr)
	id := a.run.Info.RunID
	if !a.liveSeen || a.liveRunID != id {
		t.Errorf("polling --metrics-addr during the run: saw run_info %v with run_id %q, want %q", a.liveSeen, a.liveRunID, id)
	}
	if c, err := net.DialTimeout("tcp", env.liveAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("the live exporter still listens at %s after the run", env.liveAddr)
	}

	// Pushed per-trial values, through the gateway and Prometheus, exactly.
	want := map[string]float64{}
	for _, s := range a.run.Samples {
		want[sampleKey(s.Runtime, s.Workload, s.Metric, fmt.Sprint(s.Trial))] = s.Value
	}
	if len(want) != len(a.run.Samples) || len(want) == 0 {
		t.Fatalf("%d samples, %d distinct keys", len(a.run.Samples), len(want))
	}
	queryUntil(t, env.api, fmt.Sprintf(`last_over_time(%s{job="vcbench",run_id=%q}[5m])`, RunEndName, id),
		func(v model.Vector) bool { return len(v) == 1 && v[0].Metric["status"] == "complete" })
	vec := queryUntil(t, env.api, fmt.Sprintf(`last_over_time(%s{job="vcbench",run_id=%q}[5m])`, TrialValueName, id),
		func(v model.Vector) bool { return len(v) == len(want) })
	for _, s := range vec {
		m := s.Metric
		key := sampleKey(string(m["runtime"]), string(m["workload"]), string(m["metric"]), string(m["trial"]))
		w, ok := want[key]
		if !ok {
			t.Errorf("Prometheus has %s, which samples.jsonl lacks", key)
			continue
		}
		if math.Float64bits(float64(s.Value)) != math.Float64bits(w) {
			t.Errorf("%s: Prometheus %v, samples.jsonl %v", key, s.Value, w)
		}
		if m["host"] != "hostA" || m["scenario"] != "prom-integration" {
			t.Errorf("%s: labels %v", key, m)
		}
	}

	// The live exporter as Prometheus scraped it during the run: its gauges
	// hold the latest trial's value at scrape time, so each must equal one
	// trial's value in samples.jsonl.
	live := queryUntil(t, env.api, fmt.Sprintf(`last_over_time(%s{job="vcbench-live",run_id=%q}[5m])`, SampleValueName, id),
		func(v model.Vector) bool { return len(v) > 0 })
	for _, s := range live {
		m := s.Metric
		found := false
		for _, smp := range a.run.Samples {
			if smp.Runtime == string(m["runtime"]) && smp.Workload == string(m["workload"]) && smp.Metric == string(m["metric"]) &&
				math.Float64bits(smp.Value) == math.Float64bits(float64(s.Value)) {
				found = true
			}
		}
		if !found {
			t.Errorf("live %v = %v matches no sample of samples.jsonl", m, s.Value)
		}
	}
	queryUntil(t, env.api, fmt.Sprintf(`last_over_time(%s{job="vcbench-live",run_id=%q,host="hostA"}[5m])`, RunInfoName, id),
		func(v model.Vector) bool { return len(v) == 1 })

	// A second host, then both back through LoadRuns.
	b := runVCBench(t, vcbench, agent, "hostB", "--push-gateway", env.pushURL)
	queryUntil(t, env.api, fmt.Sprintf(`last_over_time(%s{job="vcbench",run_id=%q}[5m])`, RunEndName, b.run.Info.RunID),
		func(v model.Vector) bool { return len(v) == 1 })
	checkDashboardQueries(t, env.api)
	runs, err := LoadRuns(context.Background(), env.promURL, []string{id, b.run.Info.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("LoadRuns returned %d runs, want 2", len(runs))
	}
	for i, local := range []*bench.Run{a.run, b.run} {
		got := runs[i]
		if got.Info.RunID != local.Info.RunID || got.Info.Host.Hostname != []string{"hostA", "hostB"}[i] ||
			got.Info.Scenario != local.Info.Scenario || got.Info.Status != bench.StatusComplete ||
			got.Info.ScenarioSHA256 != local.Info.ScenarioSHA256 || got.Info.Trials != local.Info.Trials ||
			len(got.Info.Runtimes) != 1 || got.Info.Runtimes[0].Name != "native" || got.Info.Host.CPUModel != local.Info.Host.CPUModel {
			t.Errorf("run %d info %+v\nwant like %+v", i, got.Info, local.Info)
		}
		if len(got.Samples) != len(local.Samples) {
			t.Errorf("run %d: %d samples, want %d", i, len(got.Samples), len(local.Samples))
		}
		lw := map[string]bench.Sample{}
		for _, s := range local.Samples {
			lw[sampleKey(s.Runtime, s.Workload, s.Metric, fmt.Sprint(s.Trial))] = s
		}
		for _, s := range got.Samples {
			w, ok := lw[sampleKey(s.Runtime, s.Workload, s.Metric, fmt.Sprint(s.Trial))]
			if !ok || math.Float64bits(w.Value) != math.Float64bits(s.Value) || w.Unit != s.Unit || w.Better != s.Better || w.Scenario != s.Scenario {
				t.Errorf("run %d: loaded %+v, samples.jsonl has %+v", i, s, w)
			}
		}
	}

	// The same, end to end through the CLI: one report with both hosts.
	out := filepath.Join(t.TempDir(), "report")
	cli, err := exec.Command(vcbench, "report", "--prometheus", env.promURL, "--run-id", id, "--run-id", b.run.Info.RunID, "--out", out).CombinedOutput()
	if err != nil {
		t.Fatalf("vcbench report --prometheus: %v\n%s", err, cli)
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"hostA", "hostB"} {
		if !strings.Contains(string(summary), host) {
			t.Errorf("summary.md from Prometheus does not show %s side by side", host)
		}
	}
}

// checkDashboardQueries evaluates every panel expression of the Grafana
// dashboard, with its variables set to match everything, on the real
// Prometheus: each must parse and run, and the pushed-series panels must
// return data.
func checkDashboardQueries(t *testing.T, a v1.API) {
	t.Helper()
	exprs, _ := dashboardQueries(t)
	r := strings.NewReplacer(`"$run_id"`, `".*"`, `"$host"`, `".*"`, `"$workload"`, `".*"`, "$__range", "10m")
	for _, e := range exprs {
		q := r.Replace(e)
		v, _, _, err := a.Query(context.Background(), q, time.Now())
		if err != nil {
			t.Errorf("dashboard query %s: %v", q, err)
			continue
		}
		if strings.Contains(q, `job="vcbench"`) {
			if vec, ok := v.(model.Vector); !ok || len(vec) == 0 {
				t.Errorf("dashboard query %s: no data after two pushed runs", q)
			}
		}
	}
}

// TestRunGoesOnWhenGatewayDown points --push-gateway at a closed port: the
// run completes, warns on stderr, and takes no more than the retry bound.
func TestRunGoesOnWhenGatewayDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs vcbench: not in -short")
	}
	vcbench, agent := vcbenchBinaries(t)
	start := time.Now()
	res := runVCBench(t, vcbench, agent, "hostC", "--push-gateway", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
	if !strings.Contains(res.stderr, "vcbench: warning: push run "+res.run.Info.RunID) || !strings.Contains(res.stderr, "the run goes on") {
		t.Errorf("no push warning on stderr:\n%s", res.stderr)
	}
	// 2 trial pushes + the final one, each at most 5 s.
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("run took %s", took)
	}
	if len(res.run.Samples) == 0 {
		t.Error("no samples written")
	}
}

// TestRunRefusesBadMetricsFlags checks that the real binary refuses a
// non-loopback --metrics-addr (without --metrics-allow-remote) and a bad
// --push-gateway before it creates a run directory.
func TestRunRefusesBadMetricsFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds vcbench: not in -short")
	}
	vcbench, agent := vcbenchBinaries(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--metrics-addr", "0.0.0.0:9464"}, `--metrics-addr: metrics address "0.0.0.0:9464" is not a loopback address (pass --metrics-allow-remote`},
		{[]string{"--metrics-addr", ":9464"}, "is not a loopback address"},
		{[]string{"--metrics-addr", "127.0.0.1"}, "--metrics-addr: metrics address \"127.0.0.1\""},
		{[]string{"--push-gateway", "127.0.0.1:9091"}, "--push-gateway: push gateway URL \"127.0.0.1:9091\""},
		{[]string{"--push-gateway", "http://127.0.0.1:9091", "--host-label", ""}, "--host-label: empty"},
	}
	for _, c := range cases {
		out := t.TempDir()
		args := append([]string{"run", "quick", "--agent", agent, "--out", out}, c.args...)
		b, err := exec.Command(vcbench, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(b), c.want) {
			t.Errorf("vcbench %v: err %v, output\n%s\nwant it to contain %q", c.args, err, b, c.want)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("vcbench %v created %d entries in --out", c.args, len(entries))
		}
	}
}
