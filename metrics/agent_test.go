package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"vcbench/agent"
	"vcbench/agent/proto"
	"vcbench/workload"
)

// TestAgentExposition records workload results in a real agent server and
// checks the names, labels, types and values of what its /metrics exports.
func TestAgentExposition(t *testing.T) {
	cases := []struct {
		name    string
		results []workload.Result
		want    string
		names   []string
	}{
		{
			name: "one cpu run",
			results: []workload.Result{{Workload: workload.CPU, Seconds: 0.25, Metrics: []workload.Metric{
				{Name: "single_thread", Unit: workload.UnitOpsPerSecond, Better: "higher", Value: 1107609.8333601006},
				{Name: "all_threads", Unit: workload.UnitOpsPerSecond, Better: "higher", Value: 1424157.5573988901},
			}}},
			want: `
# HELP vcbench_workload_value Last figure of each built-in workload, in the base unit named by the unit label.
# TYPE vcbench_workload_value gauge
vcbench_workload_value{metric="all_threads",unit="ops_per_second",workload="cpu"} 1.4241575573988901e+06
vcbench_workload_value{metric="single_thread",unit="ops_per_second",workload="cpu"} 1.1076098333601006e+06
# HELP vcbench_workload_runs_total Workload runs by outcome.
# TYPE vcbench_workload_runs_total counter
vcbench_workload_runs_total{outcome="ok",workload="cpu"} 1
# HELP vcbench_workload_duration_seconds Wall time of the last run of each workload.
# TYPE vcbench_workload_duration_seconds gauge
vcbench_workload_duration_seconds{workload="cpu"} 0.25
`,
			names: []string{proto.MetricWorkloadValue, proto.MetricWorkloadRuns, proto.MetricWorkloadDuration},
		},
		{
			name: "two runs keep the last figure and count both",
			results: []workload.Result{
				{Workload: workload.Syscall, Seconds: 1, Metrics: []workload.Metric{{Name: "getppid", Unit: workload.UnitOpsPerSecond, Better: "higher", Value: 1e6}}},
				{Workload: workload.Syscall, Seconds: 2, Metrics: []workload.Metric{{Name: "getppid", Unit: workload.UnitOpsPerSecond, Better: "higher", Value: 2.5e6}}},
				{Workload: workload.Disk, Seconds: 3, Metrics: []workload.Metric{{Name: "rand_read_p99", Unit: workload.UnitSeconds, Better: "lower", Value: 0.000116533}}},
			},
			want: `
# HELP vcbench_workload_value Last figure of each built-in workload, in the base unit named by the unit label.
# TYPE vcbench_workload_value gauge
vcbench_workload_value{metric="getppid",unit="ops_per_second",workload="syscall"} 2.5e+06
vcbench_workload_value{metric="rand_read_p99",unit="seconds",workload="disk"} 0.000116533
# HELP vcbench_workload_runs_total Workload runs by outcome.
# TYPE vcbench_workload_runs_total counter
vcbench_workload_runs_total{outcome="ok",workload="disk"} 1
vcbench_workload_runs_total{outcome="ok",workload="syscall"} 2
`,
			names: []string{proto.MetricWorkloadValue, proto.MetricWorkloadRuns},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := agent.NewServer(agent.Config{})
			for i := range c.results {
				s.Record(&c.results[i])
			}
			if err := testutil.GatherAndCompare(s.Registry(), strings.NewReader(c.want), c.names...); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestAgentGuestMetrics checks the machine-wide metrics the runner relies on:
// their types, labels and that GuestFigures accepts what the agent gathers.
func TestAgentGuestMetrics(t *testing.T) {
	s := agent.NewServer(agent.Config{})
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	cases := []struct {
		name   string
		typ    dto.MetricType
		labels []string
		min    int // series
	}{
		{proto.MetricGuestMemTotal, dto.MetricType_GAUGE, nil, 1},
		{proto.MetricGuestMemAvailable, dto.MetricType_GAUGE, nil, 1},
		{proto.MetricGuestCPU, dto.MetricType_COUNTER, []string{"mode"}, 8},
		{"go_goroutines", dto.MetricType_GAUGE, nil, 1},
		{"process_resident_memory_bytes", dto.MetricType_GAUGE, nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mf, ok := byName[c.name]
			if !ok {
				t.Fatalf("%s not exported", c.name)
			}
			if mf.GetType() != c.typ {
				t.Errorf("type %s, want %s", mf.GetType(), c.typ)
			}
			if len(mf.GetMetric()) < c.min {
				t.Errorf("%d series, want at least %d", len(mf.GetMetric()), c.min)
			}
			for _, m := range mf.GetMetric() {
				var got []string
				for _, lp := range m.GetLabel() {
					got = append(got, lp.GetName())
				}
				if strings.Join(got, ",") != strings.Join(c.labels, ",") {
					t.Errorf("labels %v, want %v", got, c.labels)
				}
			}
		})
	}
	figs, err := GuestFigures(byName)
	if err != nil {
		t.Fatalf("GuestFigures on the agent's own registry: %v", err)
	}
	if figs[0].Value < figs[1].Value || figs[1].Value <= 0 {
		t.Errorf("figures %+v", figs)
	}
}

// TestAgentLint runs promlint over the agent's registry; the vcbench_*
// metrics must pass (the Go and process collectors are client_golang's).
func TestAgentLint(t *testing.T) {
	s := agent.NewServer(agent.Config{})
	s.Record(&workload.Result{Workload: workload.CPU, Seconds: 1, Metrics: []workload.Metric{{Name: "single_thread", Unit: workload.UnitOpsPerSecond, Better: "higher", Value: 1}}})
	problems, err := testutil.GatherAndLint(s.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "vcbench_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}
