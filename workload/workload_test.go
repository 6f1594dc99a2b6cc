package workload

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestHashChainChecksum(t *testing.T) {
	// Known answer, computed independently: sha256 of the bytes 0..255 four
	// times over (the block's initial content).
	const want = "785b0751fc2c53dc14a4ce3d800e69ef9ce1009eb327ccf458afe09c242c26c9"
	first := HashChain(1, 0)
	if got := hex.EncodeToString(first[:]); got != want {
		t.Errorf("HashChain(1) = %s, want %s", got, want)
	}
	a, b := HashChain(1000, 0), HashChain(1000, 0)
	if a != b {
		t.Error("HashChain is not deterministic")
	}
	if HashChain(1000, 1) == a || HashChain(999, 0) == a {
		t.Error("HashChain ignores its inputs")
	}
}

func TestStreamKernels(t *testing.T) {
	a, b, c := []float64{1, 1}, []float64{2, 2}, []float64{0, 0}
	StreamKernels(a, b, c)
	// c = a = 1; b = 3c = 3; c = a + b = 4; a = b + 3c = 15.
	if a[0] != 15 || b[0] != 3 || c[0] != 4 {
		t.Errorf("after one pass a, b, c = %v %v %v; want 15 3 4", a[0], b[0], c[0])
	}
}

func TestTinyELFRuns(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the tiny program is x86-64")
	}
	p := filepath.Join(t.TempDir(), "exit0")
	if err := os.WriteFile(p, TinyELF(), 0o755); err != nil {
		t.Fatal(err)
	}
	if len(TinyELF()) != 129 {
		t.Errorf("TinyELF is %d bytes, doc says 129", len(TinyELF()))
	}
	if err := exec.Command(p).Run(); err != nil {
		t.Fatalf("tiny program did not exit 0: %v", err)
	}
}

func metricNames(r *Result) map[string]Metric {
	out := map[string]Metric{}
	for _, m := range r.Metrics {
		out[m.Name] = m
	}
	return out
}

func TestRunEachWorkload(t *testing.T) {
	cases := []struct {
		p    Params
		want []string
		unit Unit
	}{
		{Params{Kind: CPU, Iterations: 2000, Threads: 2}, []string{"single_thread", "all_threads"}, UnitOpsPerSecond},
		{Params{Kind: Memory, SizeMiB: 1, Iterations: 2}, []string{"copy", "scale", "add", "triad"}, UnitBytesPerSecond},
		{Params{Kind: Syscall, Iterations: 1000}, []string{"getppid"}, UnitOpsPerSecond},
		{Params{Kind: Fork, Iterations: 5}, []string{"spawn"}, UnitOpsPerSecond},
		{Params{Kind: Disk, SizeMiB: 2, Ops: 20}, []string{"seq_write", "seq_read", "rand_read_iops", "rand_write_iops", "rand_read_p50", "rand_read_p99", "rand_write_p50", "rand_write_p99"}, ""},
	}
	for _, c := range cases {
		t.Run(string(c.p.Kind), func(t *testing.T) {
			dir := t.TempDir()
			res, err := Run(context.Background(), c.p, Env{ScratchDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			got := metricNames(res)
			for _, name := range c.want {
				m, ok := got[name]
				if !ok {
					t.Errorf("metric %s missing (have %v)", name, res.Metrics)
					continue
				}
				if !(m.Value > 0) {
					t.Errorf("%s = %v, want > 0", name, m.Value)
				}
				if c.unit != "" && m.Unit != c.unit {
					t.Errorf("%s unit %s, want %s", name, m.Unit, c.unit)
				}
				if !m.Better.Valid() {
					t.Errorf("%s better = %q", name, m.Better)
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("got %d metrics, want %d", len(got), len(c.want))
			}
			if res.Workload != c.p.Kind || res.Seconds <= 0 {
				t.Errorf("result header %q %v", res.Workload, res.Seconds)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Errorf("workload left %d files in its scratch dir", len(entries))
			}
		})
	}
}

func TestCPUChecksumInNotes(t *testing.T) {
	res, err := Run(context.Background(), Params{Kind: CPU, Iterations: 1, Threads: 1}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Notes["checksum"] != "785b0751fc2c53dc14a4ce3d800e69ef9ce1009eb327ccf458afe09c242c26c9" {
		t.Errorf("checksum note %q", res.Notes["checksum"])
	}
}

func TestNetworkAgainstHandlers(t *testing.T) {
	mux := http.NewServeMux()
	RegisterNetworkHandlers(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := RunNetwork(ctx, strings.TrimPrefix(srv.URL, "http://"), Params{Kind: Network, SizeMiB: 4, Ops: 50})
	if err != nil {
		t.Fatal(err)
	}
	got := metricNames(res)
	for _, name := range []string{"stream_to_agent", "stream_from_agent", "rr_rate", "rr_p50", "rr_p99"} {
		if !(got[name].Value > 0) {
			t.Errorf("%s = %v", name, got[name].Value)
		}
	}
	if got["rr_p99"].Value < got["rr_p50"].Value {
		t.Errorf("p99 %v below p50 %v", got["rr_p99"].Value, got["rr_p50"].Value)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		p   Params
		key string
	}{
		{Params{Kind: "gpu"}, "kind"},
		{Params{Kind: CPU, Threads: -1}, "threads"},
		{Params{Kind: Disk, SizeMiB: 1 << 20}, "size_mib"},
		{Params{Kind: CPU, Iterations: 5}, ""},
	}
	for _, c := range cases {
		key, err := c.p.Validate()
		if key != c.key || (err == nil) != (c.key == "") {
			t.Errorf("%+v: key %q err %v, want key %q", c.p, key, err, c.key)
		}
	}
	if _, err := Run(context.Background(), Params{Kind: Network}, Env{}); err == nil {
		t.Error("network through Run should be refused")
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	sortDurations(d)
	if p := percentile(d, 0.5); p != 5 {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(d, 0.99); p != 10 {
		t.Errorf("p99 = %v", p)
	}
}
