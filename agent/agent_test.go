package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"vcbench/agent/proto"
	"vcbench/workload"
)

func TestHandlers(t *testing.T) {
	s := NewServer(Config{ScratchDir: t.TempDir()})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(body string) (int, string) {
		resp, err := http.Post(srv.URL+proto.PathRun, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := get(proto.PathHealthz); code != 200 || body != "ok\n" {
		t.Errorf("%s: %d %q", proto.PathHealthz, code, body)
	}
	code, body := get(proto.PathInfo)
	var info proto.Info
	if code != 200 || json.Unmarshal([]byte(body), &info) != nil {
		t.Fatalf("%s: %d %s", proto.PathInfo, code, body)
	}
	host, _ := os.Hostname()
	if info.Hostname != host || info.PID != os.Getpid() || info.VisiblePIDs < 1 || info.CPUsOnline < 1 || info.MemTotalBytes == 0 || info.KernelRelease == "" || info.RootFSType == "" {
		t.Errorf("/info incomplete: %+v", info)
	}
	foundLo := false
	for _, i := range info.Interfaces {
		foundLo = foundLo || i.Name == "lo"
	}
	if !foundLo {
		t.Errorf("/info lists no lo: %+v", info.Interfaces)
	}

	cases := []struct {
		body string
		code int
		want string
	}{
		{`{"kind":"cpu","iterations":100,"threads":1}`, 200, `"single_thread"`},
		{`not json`, 400, "decode request"},
		{`{"kind":"cpu","colour":"red"}`, 400, `unknown field \"colour\"`},
		{`{"kind":"gpu"}`, 400, `kind: \"gpu\" is not a workload`},
		{`{"kind":"cpu","threads":-2}`, 400, "threads: -2 is below 0"},
		{`{"kind":"network"}`, 500, "network runs from the harness"},
	}
	for _, c := range cases {
		code, body := post(c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("POST /run %s: %d %s; want %d containing %s", c.body, code, body, c.code, c.want)
		}
	}

	_, metrics := get(proto.PathMetrics)
	for _, want := range []string{
		proto.MetricWorkloadValue + `{metric="single_thread",unit="ops_per_second",workload="cpu"}`,
		proto.MetricWorkloadRuns + `{outcome="ok",workload="cpu"} 1`,
		proto.MetricWorkloadRuns + `{outcome="error",workload="network"} 1`,
		proto.MetricGuestMemTotal + " ",
		proto.MetricGuestCPU + `{mode="idle"}`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRecordExportsEveryFigure(t *testing.T) {
	s := NewServer(Config{})
	s.Record(&workload.Result{Workload: workload.Disk, Seconds: 2, Metrics: []workload.Metric{
		{Name: "seq_read", Unit: workload.UnitBytesPerSecond, Better: "higher", Value: 1e9},
		{Name: "rand_read_p99", Unit: workload.UnitSeconds, Better: "lower", Value: 0.001},
	}})
	families, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, f := range families {
		if f.GetName() != proto.MetricWorkloadValue {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "metric" {
					values[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	if values["seq_read"] != 1e9 || values["rand_read_p99"] != 0.001 {
		t.Errorf("gauges %v", values)
	}
}
