// Package enginetest is what the docker and podman integration tests
// share: a built agent and rootfs in a temp dir, waiting for an instance's
// agent, running the cpu workload through /run, and a killed-run helper.
package enginetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"vcbench/bench"
	"vcbench/image"
	"vcbench/workload"
)

// Setup builds the static agent and the rootfs into a temp dir and returns
// the environment for a backend, with a private state directory. It
// returns a reason instead when the tests cannot run here.
func Setup() (env bench.Env, dir string, skip string) {
	if os.Geteuid() != 0 {
		return env, "", "needs root (engines, cgroups)"
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return env, "", "needs the go tool to build the agent"
	}
	dir, err = os.MkdirTemp("", "vcbench-engine-test-")
	if err != nil {
		return env, "", err.Error()
	}
	agent := filepath.Join(dir, "vcbench-agent")
	build := exec.Command(goBin, "build", "-o", agent, "vcbench/cmd/vcbench-agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return env, dir, fmt.Sprintf("build agent: %v: %s", err, out)
	}
	p := image.Paths{Dir: filepath.Join(dir, "images")}
	if _, err := image.BuildRootfs(p, agent, image.BusyboxPath()); err != nil {
		return env, dir, err.Error()
	}
	return bench.Env{AgentPath: agent, ImageDir: p.Dir, StateDir: filepath.Join(dir, "state")}, dir, ""
}

// Spec is an instance spec for tests, its scratch under t's temp dir.
func Spec(t testing.TB, runID, name string) bench.InstanceSpec {
	return bench.InstanceSpec{RunID: runID, Name: name, RawDir: t.TempDir(), ScratchDir: t.TempDir(),
		StartTimeout: 60 * time.Second, StopTimeout: 5 * time.Second}
}

// WaitReady polls the agent's /healthz until it answers 200, up to d.
func WaitReady(addr string, d time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	var last error
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		resp, err := c.Get("http://" + addr + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("healthz: %s", resp.Status)
		}
		last = err
	}
	return fmt.Errorf("agent at %s not ready within %s: %v", addr, d, last)
}

// RunCPU runs a short cpu workload through the agent's /run.
func RunCPU(ctx context.Context, addr string) (*workload.Result, error) {
	body, _ := json.Marshal(workload.Params{Kind: workload.CPU, Iterations: 2000, Threads: 1})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/run", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/run: %s: %s", resp.Status, b)
	}
	var res workload.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	if len(res.Metrics) == 0 {
		return nil, fmt.Errorf("/run answered no figures: %s", b)
	}
	return &res, nil
}
