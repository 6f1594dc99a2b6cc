package promrun

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"vcbench/agent"
	"vcbench/internal/testenv"
	"vcbench/workload"
)

const deployDir = "../../deploy"

// exportedNames gathers the series names that vcbench really exports: the
// live exporter with the pusher's health on it, the pushed registry and the
// agent, each fed so that every vector has a child. Histograms and
// summaries contribute their _bucket, _sum and _count series.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	e, err := NewExporter(testInfo(), "hostA")
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer gw.Close()
	p, err := NewPusher(PushConfig{URL: gw.URL, Host: "hostA", Health: e.Registry()}, testInfo())
	if err != nil {
		t.Fatal(err)
	}
	obs := Observers{e, p}
	obs.Samples(testSamples())
	obs.TrialDone("native", false, nil)
	obs.Scraped("native", errors.New("x"))
	if err := p.Finish(context.Background(), "complete"); err != nil {
		t.Fatal(err)
	}
	a := agent.NewServer(agent.Config{})
	a.Record(&workload.Result{Workload: workload.CPU, Seconds: 1, Metrics: []workload.Metric{{Name: "single_thread", Unit: workload.UnitOpsPerSecond, Value: 1}}})
	names := map[string]bool{}
	for _, g := range []prometheus.Gatherer{e.Registry(), p.Registry(), a.Registry()} {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			n := mf.GetName()
			names[n] = true
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
			case dto.MetricType_SUMMARY:
				names[n+"_sum"], names[n+"_count"] = true, true
			}
		}
	}
	return names
}

// dashboardQueries returns every PromQL expression of the dashboard (panel
// targets) and every templating query, walking the JSON generically.
func dashboardQueries(t *testing.T) (exprs, templating []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(c, k)
			}
		case []any:
			for _, c := range x {
				walk(c, key)
			}
		case string:
			switch key {
			case "expr":
				exprs = append(exprs, x)
			case "definition", "query":
				templating = append(templating, x)
			}
		}
	}
	walk(doc, "")
	return exprs, templating
}

var vcbenchIdent = regexp.MustCompile(`\bvcbench_[a-zA-Z0-9_]+`)

// TestDashboardNamesAreExported checks that every vcbench_* name that the
// Grafana dashboard queries is one that vcbench's registries export.
func TestDashboardNamesAreExported(t *testing.T) {
	names := exportedNames(t)
	exprs, templating := dashboardQueries(t)
	if len(exprs) < 10 {
		t.Fatalf("dashboard has %d expressions; want its panels", len(exprs))
	}
	used := map[string]bool{}
	for _, q := range append(exprs, templating...) {
		for _, id := range vcbenchIdent.FindAllString(q, -1) {
			used[id] = true
			if !names[id] {
				t.Errorf("dashboard queries %s, which vcbench does not export (in %q)", id, q)
			}
		}
	}
	var list []string
	for n := range used {
		list = append(list, n)
	}
	sort.Strings(list)
	t.Logf("dashboard uses %d vcbench names: %s", len(list), strings.Join(list, " "))
}

// TestPrometheusConfig checks deploy/prometheus.yml: promtool accepts it
// (when installed), it scrapes the live exporter and the Pushgateway on
// loopback, the latter with honor_labels, and has no alerting or rules.
func TestPrometheusConfig(t *testing.T) {
	path := filepath.Join(deployDir, "prometheus.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Alerting      any      `yaml:"alerting"`
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			HonorLabels   bool   `yaml:"honor_labels"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Alerting != nil || len(cfg.RuleFiles) > 0 {
		t.Error("prometheus.yml has alerting or rules")
	}
	want := map[string]bool{"127.0.0.1:9464": false, "127.0.0.1:9091": true} // target → honor_labels
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				honor, ok := want[target]
				if !ok {
					t.Errorf("job %s scrapes unexpected target %s", sc.JobName, target)
					continue
				}
				if honor != sc.HonorLabels {
					t.Errorf("job %s (%s): honor_labels %v, want %v", sc.JobName, target, sc.HonorLabels, honor)
				}
				delete(want, target)
			}
		}
	}
	for target := range want {
		t.Errorf("prometheus.yml does not scrape %s", target)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if testenv.Required() {
			testenv.Require(t, "promtool not installed (Debian package prometheus): %v", err)
		}
		t.Log("promtool not installed: syntax not checked by Prometheus itself")
		return
	}
	if out, err := exec.Command(promtool, "check", "config", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}
