package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/internal/testenv"
	"vcbench/state"
)

// faultCase is one fault injected into a real `vcbench run`: what runs,
// the fault, and what must come of it. Every case also wants nothing of
// the run left on the host (see assertNoLeftovers).
type faultCase struct {
	name     string
	scenario string
	needs    []string // binaries the case needs (PATH)
	// setup runs before vcbench starts: it may add flags (f.args).
	setup func(t *testing.T, f *faultRun)
	// fault runs once the first instance is ready (its startup sample is
	// in samples.jsonl); nil runs vcbench to its end untouched.
	fault func(t *testing.T, f *faultRun)
	// cleanup runs `vcbench cleanup` after vcbench has exited.
	cleanup bool
	// wantExit is vcbench run's exit status; -1 for a vcbench killed by
	// the case.
	wantExit   int
	wantStderr []string // each in vcbench run's stderr
	wantStatus bench.Status
	// wantErrors are each in some runtime's errors in run.json.
	wantErrors []string
	// wantSamples are "workload/metric" pairs that samples.jsonl keeps;
	// "workload/" stands for any metric of the workload.
	wantSamples []string
	// within bounds vcbench run's wall time (0: the suite's 120 s).
	within time.Duration
}

// faultRun is one case's vcbench run: its directories, its process and
// every state record it wrote (polled while it ran).
type faultRun struct {
	dir, out, stateDir string
	args               []string
	cmd                *exec.Cmd
	stdout, stderr     bytes.Buffer
	fakeAgent          func(t *testing.T, mode string) string

	mu   sync.Mutex
	recs map[string]*state.Record
}

func (f *faultRun) records() []*state.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*state.Record
	for _, r := range f.recs {
		out = append(out, r)
	}
	return out
}

// procs are the live processes of the run's records of runtime kind.
func (f *faultRun) procs(kind string) []state.Proc {
	var out []state.Proc
	for _, r := range f.records() {
		if r.Runtime != kind {
			continue
		}
		for _, p := range r.Procs {
			if p.Alive() {
				out = append(out, p)
			}
		}
	}
	return out
}

// pollRecords adds the state records it finds to f.recs until stop closes.
func (f *faultRun) pollRecords(stop <-chan struct{}) {
	for {
		recs, _ := state.Load(f.stateDir)
		f.mu.Lock()
		for _, r := range recs {
			f.recs[r.RunID+"/"+r.Instance] = r
		}
		f.mu.Unlock()
		select {
		case <-stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitReady waits until the run's first startup sample is written and its
// record seen: an instance is then in its first workload.
func (f *faultRun) waitReady(t *testing.T, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		samples, _ := filepath.Glob(filepath.Join(f.out, "*", "samples.jsonl"))
		if len(samples) == 1 {
			if b, _ := os.ReadFile(samples[0]); bytes.Contains(b, []byte(`"metric":"ready"`)) && len(f.records()) > 0 {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("vcbench exited before an instance was ready\nstderr:\n%s", f.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	f.cmd.Process.Kill()
	t.Fatalf("no instance ready within 90 s\nstderr:\n%s", f.stderr.String())
}

// sendSignal sends sig to vcbench run.
func sendSignal(sig syscall.Signal) func(*testing.T, *faultRun) {
	return func(t *testing.T, f *faultRun) { f.cmd.Process.Signal(sig) }
}

// killProcs SIGKILLs the live processes of kind's records whose command
// line contains match (all of them when match is empty).
func killProcs(kind, match string) func(*testing.T, *faultRun) {
	return func(t *testing.T, f *faultRun) {
		t.Helper()
		n := 0
		for _, p := range f.procs(kind) {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.Pid))
			if match != "" && !bytes.Contains(cmdline, []byte(match)) {
				continue
			}
			if err := syscall.Kill(p.Pid, syscall.SIGKILL); err == nil {
				t.Logf("killed %d: %s", p.Pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
				n++
			}
		}
		if n == 0 {
			t.Fatalf("no live %s process matching %q in the records %+v", kind, match, f.records())
		}
	}
}

// mountTmpfs mounts a tmpfs of size MiB at dir until the test ends.
func mountTmpfs(t *testing.T, dir string, mib int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%dm", mib)); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fillDisk writes a file in dir until the filesystem is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	fh, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := fh.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			break
		}
	}
	for _, n := range []int{4096, 512, 1} { // the last partial pages
		for {
			if _, err := fh.Write(buf[:n]); err != nil {
				break
			}
		}
	}
}

// fakeAgentSource is an agent that prints the real ready line, then either
// never answers (hang) or answers garbage to /run and /metrics (garbage).
const fakeAgentSource = `package main

import (
	"fmt"
	"net"
	"net/http"
)

var mode string

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	switch mode {
	case "hang":
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	case "garbage":
		mux.HandleFunc(%q, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
		mux.HandleFunc(%q, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{\"metrics\": [garbage\x00\xff")) })
	}
	fmt.Println(%q + l.Addr().String())
	http.Serve(l, mux)
}
`

// fakeAgents builds the fake agents (hang and garbage) into dir, once,
// on the first call of the function it returns, which gives the path of
// one of them.
func fakeAgents(dir string) func(t *testing.T, mode string) string {
	var once sync.Once
	var err error
	return func(t *testing.T, mode string) string {
		t.Helper()
		once.Do(func() {
			src := fmt.Sprintf(fakeAgentSource, proto.PathHealthz, proto.PathInfo, proto.ReadyMarker)
			os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644)
			os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fakeagent\n\ngo 1.22\n"), 0o644)
			for _, m := range []string{"hang", "garbage"} {
				build := exec.Command("go", "build", "-ldflags", "-X main.mode="+m, "-o", filepath.Join(dir, m), ".")
				build.Dir = dir
				build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
				if out, berr := build.CombinedOutput(); berr != nil {
					err = fmt.Errorf("build fake agent %s: %v\n%s", m, berr, out)
					return
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, mode)
	}
}

// setAgent replaces the native runtime's agent with the fake one of mode.
func setAgent(mode string) func(*testing.T, *faultRun) {
	return func(t *testing.T, f *faultRun) {
		f.args = append(f.args, "--agent", f.fakeAgent(t, mode))
	}
}

// hungListener accepts connections and never answers; its address.
func hungListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

const (
	// longCPU keeps an instance in its workload far longer than any case waits.
	longCPU = "  - kind: cpu\n    iterations: 100000000\n"
	// shortSyscall is a workload of a fraction of a second.
	shortSyscall = "  - kind: syscall\n    iterations: 2000\n"
)

func faultScenario(kind string, workloads ...string) string {
	return "name: fault\ntrials: 1\nruntimes:\n  - kind: " + kind + "\nworkloads:\n" + strings.Join(workloads, "")
}

func faultCases() []faultCase {
	var cases []faultCase
	kinds := []struct{ kind, bin string }{
		{"native", ""}, {"container", ""}, {"oci-crun", "crun"}, {"oci-runc", "runc"}, {"oci-runsc", "runsc"}, {"vm", "qemu-system-x86_64"},
	}
	for _, k := range kinds {
		var needs []string
		if k.bin != "" {
			needs = []string{k.bin}
		}
		cases = append(cases, faultCase{
			name: "sigint/" + k.kind, scenario: faultScenario(k.kind, longCPU), needs: needs,
			fault: sendSignal(syscall.SIGINT), wantExit: 1,
			wantStderr: []string{"interrupted"}, wantStatus: bench.StatusInterrupted,
			wantSamples: []string{"startup/ready", "idle/"},
		}, faultCase{
			name: "sigkill+cleanup/" + k.kind, scenario: faultScenario(k.kind, longCPU), needs: needs,
			fault: sendSignal(syscall.SIGKILL), cleanup: true, wantExit: -1,
			wantStatus: bench.StatusInterrupted, wantSamples: []string{"startup/ready", "idle/"},
		})
	}
	for _, engine := range []string{"docker", "podman"} {
		cases = append(cases, faultCase{
			name: "sigkill+cleanup/" + engine, scenario: faultScenario(engine, longCPU), needs: []string{engine},
			fault: sendSignal(syscall.SIGKILL), cleanup: true, wantExit: -1,
			wantStatus: bench.StatusInterrupted, wantSamples: []string{"startup/ready"},
		})
	}
	cases = append(cases,
		faultCase{
			// The killed instance costs its workload; a fresh one runs the next.
			name: "qemu-killed", scenario: faultScenario("vm", longCPU, shortSyscall), needs: []string{"qemu-system-x86_64"},
			fault: killProcs("vm", "qemu-system"), wantExit: 0, wantStatus: bench.StatusComplete,
			wantErrors:  []string{"workload cpu: ", "signal: killed", "replaced by vm-2"},
			wantSamples: []string{"startup/ready", "syscall/getppid"},
		},
		faultCase{
			name: "agent-killed/native", scenario: faultScenario("native", longCPU, shortSyscall),
			fault: killProcs("native", ""), wantExit: 0, wantStatus: bench.StatusComplete,
			wantErrors:  []string{"workload cpu: ", "agent process ended: signal: killed", "replaced by native-2"},
			wantSamples: []string{"startup/ready", "syscall/getppid"},
		},
		faultCase{
			name: "agent-killed/container", scenario: faultScenario("container", longCPU, shortSyscall),
			fault: killProcs("container", ""), wantExit: 0, wantStatus: bench.StatusComplete,
			wantErrors:  []string{"workload cpu: ", "killed by signal 9 (SIGKILL)", "replaced by container-2"},
			wantSamples: []string{"startup/ready", "syscall/getppid"},
		},
		faultCase{
			// The agent may still run the timed-out workload: a fresh
			// instance runs the next.
			name:     "workload-timeout",
			scenario: "name: fault\ntrials: 1\ntimeouts:\n  workload: 1s\nruntimes:\n  - kind: native\nworkloads:\n" + longCPU + shortSyscall,
			wantExit: 0, wantStatus: bench.StatusComplete,
			wantErrors:  []string{"workload cpu: timed out after 1s: ", "native-1 replaced by native-2"},
			wantSamples: []string{"startup/ready", "syscall/getppid"},
			within:      60 * time.Second,
		},
		faultCase{
			name:     "agent-hangs",
			scenario: "name: fault\ntrials: 1\ntimeouts:\n  start: 3s\nruntimes:\n  - kind: native\nworkloads:\n" + shortSyscall,
			setup:    setAgent("hang"), wantExit: 1, wantStatus: bench.StatusFailed,
			wantStderr: []string{"no trial succeeded"},
			wantErrors: []string{"agent never became ready within 3s"},
			within:     60 * time.Second,
		},
		faultCase{
			name:     "agent-answers-garbage",
			scenario: faultScenario("native", shortSyscall),
			setup:    setAgent("garbage"), wantExit: 1, wantStatus: bench.StatusFailed,
			wantStderr:  []string{"no trial succeeded"},
			wantErrors:  []string{"workload syscall: decode agent answer: invalid character"},
			wantSamples: []string{"startup/ready"},
			within:      60 * time.Second,
		},
		faultCase{
			// The results' filesystem fills up while a workload runs. No
			// status is asserted: run.json cannot be rewritten on the full
			// disk, so it stays "running" and reads back as interrupted.
			name:     "results-disk-full",
			scenario: "name: fault\ntrials: 1\nruntimes:\n  - kind: native\nworkloads:\n  - kind: cpu\n    iterations: 2000000\n" + shortSyscall,
			setup:    func(t *testing.T, f *faultRun) { mountTmpfs(t, f.out, 4) },
			fault:    func(t *testing.T, f *faultRun) { fillDisk(t, f.out) },
			wantExit: 1, wantStderr: []string{"no space left on device"},
			wantSamples: []string{"startup/ready"},
		},
		faultCase{
			// The disk workload's scratch file does not fit: that workload
			// fails, the next one and the results are written.
			name:     "scratch-disk-full",
			scenario: faultScenario("native", "  - kind: disk\n    size_mib: 64\n    ops: 10\n", shortSyscall),
			setup:    func(t *testing.T, f *faultRun) { mountTmpfs(t, f.out, 8) },
			wantExit: 0, wantStatus: bench.StatusComplete,
			wantErrors:  []string{"workload disk: agent: disk: scratch file of 64 MiB does not fit in the ", " MiB free in the scratch directory"},
			wantSamples: []string{"startup/ready", "syscall/getppid"},
		},
		faultCase{
			name:     "pushgateway-down",
			scenario: faultScenario("native", shortSyscall),
			setup: func(t *testing.T, f *faultRun) {
				f.args = append(f.args, "--push-gateway", "http://"+closedPort(t))
			},
			wantExit: 0, wantStatus: bench.StatusComplete,
			wantStderr:  []string{"vcbench: warning: ", "connection refused", "the run goes on"},
			wantSamples: []string{"startup/ready", "syscall/getppid"},
			within:      60 * time.Second,
		},
		faultCase{
			name:     "pushgateway-hung",
			scenario: faultScenario("native", shortSyscall),
			setup: func(t *testing.T, f *faultRun) {
				f.args = append(f.args, "--push-gateway", "http://"+hungListener(t))
			},
			wantExit: 0, wantStatus: bench.StatusComplete,
			wantStderr:  []string{"vcbench: warning: ", "the run goes on"},
			wantSamples: []string{"startup/ready", "syscall/getppid"},
			within:      60 * time.Second,
		},
	)
	return cases
}

// TestFaults injects faults into real `vcbench run`s, one case at a time
// (see faultCases): signals to vcbench in every runtime kind, dead QEMU
// and agents, time-outs, hung and lying agents, full disks, a dead and a
// hung Pushgateway. Each case checks vcbench's error text, the status in
// run.json, the samples kept, and that nothing of the run is left.
//
// Not covered: a guest that dies after ready from the inside. The agent
// has no exec endpoint (and must not grow a fault one), and QEMU's QMP
// socket takes one client, the one vcbench holds for the instance's life,
// so the test cannot send system_reset or inject-nmi; a killed QEMU
// (qemu-killed) is the nearest fault.
func TestFaults(t *testing.T) {
	needRoot(t)
	images := imageDir(t)
	vcbench, agent := binaries(t)
	fake := fakeAgents(t.TempDir())
	for _, c := range faultCases() {
		t.Run(c.name, func(t *testing.T) {
			for _, bin := range c.needs {
				if _, err := exec.LookPath(bin); err != nil {
					testenv.Require(t, "needs %s: %v", bin, err)
				}
			}
			runFault(t, c, vcbench, agent, images, fake)
		})
	}
}

func runFault(t *testing.T, c faultCase, vcbench, agent, images string, fake func(*testing.T, string) string) {
	// A short directory: a private dockerd's sockets live under the
	// state directory, and a socket path has at most 108 bytes.
	dir, err := os.MkdirTemp("", "vcbf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &faultRun{dir: dir, out: filepath.Join(dir, "results"), stateDir: filepath.Join(dir, "state"), recs: map[string]*state.Record{}, fakeAgent: fake}
	f.args = []string{"--agent", agent}
	if c.setup != nil {
		c.setup(t, f)
	}
	scen := filepath.Join(dir, "s.yaml")
	os.WriteFile(scen, []byte(c.scenario), 0o644)
	linksBefore := vcbLinks()
	args := append([]string{"run", scen, "--out", f.out, "--image-dir", images, "--state-dir", f.stateDir,
		"--no-report", "--accel", "tcg"}, f.args...)
	f.cmd = exec.Command(vcbench, args...)
	f.cmd.Stdout, f.cmd.Stderr = &f.stdout, &f.stderr
	start := time.Now()
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopPoll := make(chan struct{})
	polled := make(chan struct{})
	go func() { f.pollRecords(stopPoll); close(polled) }()
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = f.cmd.Wait(); close(exited) }()
	if c.fault != nil {
		f.waitReady(t, exited)
		c.fault(t, f)
	}
	within := c.within
	if within == 0 {
		within = 120 * time.Second
	}
	select {
	case <-exited:
	case <-time.After(within):
		f.cmd.Process.Kill()
		<-exited
		t.Errorf("vcbench run did not end within %s", within)
	}
	close(stopPoll)
	<-polled
	elapsed := time.Since(start)
	stderr := f.stderr.String()
	t.Logf("vcbench run took %s; stderr:\n%s", elapsed.Round(time.Millisecond), stderr)

	code := f.cmd.ProcessState.ExitCode()
	if code != c.wantExit {
		t.Errorf("exit status %d (%v), want %d", code, waitErr, c.wantExit)
	}
	for _, w := range c.wantStderr {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q", w)
		}
	}
	// A full results disk: free it, as a user would, to read what was kept.
	os.Remove(filepath.Join(f.out, "filler"))
	if c.cleanup {
		out, err := exec.Command(vcbench, "cleanup", "--state-dir", f.stateDir, "--out", f.out).CombinedOutput()
		t.Logf("vcbench cleanup:\n%s", out)
		if err != nil {
			t.Errorf("vcbench cleanup: %v", err)
		}
		if !strings.Contains(string(out), "removed") || !strings.Contains(string(out), "marked") {
			t.Errorf("cleanup removed or marked nothing")
		}
	}
	runDir := filepath.Join(f.out, mustOne(t, filepath.Join(f.out, "*-*")))
	checkRun(t, c, runDir)
	assertNoLeftovers(t, f, filepath.Base(runDir), runDir, linksBefore)
}

// checkRun checks run.json's status and errors and the samples kept.
func checkRun(t *testing.T, c faultCase, runDir string) {
	t.Helper()
	run, err := bench.ReadRun(runDir)
	if err != nil {
		t.Errorf("read the run back: %v", err)
		return
	}
	if c.wantStatus != "" && run.Info.Status != c.wantStatus {
		t.Errorf("run.json status %s (%s), want %s", run.Info.Status, run.Info.Reason, c.wantStatus)
	}
	var errs []string
	for _, r := range run.Info.Runtimes {
		errs = append(errs, r.Errors...)
	}
	all := strings.Join(errs, "\n")
	for _, w := range c.wantErrors {
		if !strings.Contains(all, w) {
			t.Errorf("run.json errors lack %q:\n%s", w, all)
		}
	}
	have := map[string]bool{}
	for _, s := range run.Samples {
		have[s.Workload+"/"+s.Metric] = true
		have[s.Workload+"/"] = true
	}
	for _, w := range c.wantSamples {
		if !have[w] {
			t.Errorf("sample %s not kept (%d samples)", w, len(run.Samples))
		}
	}
}

// vcbLinks lists the host's links named vcb*.
func vcbLinks() map[string]bool {
	out := map[string]bool{}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "vcb") {
			out[l.Attrs().Name] = true
		}
	}
	return out
}

// assertNoLeftovers wants nothing of the run on the host: no state record
// or netns file, nothing its records named (process, link, cgroup, path),
// no process or mount naming the test's directory or the run id, no
// cgroup named after the run, no new vcb* link, no scratch or temp file in
// the run directory.
func assertNoLeftovers(t *testing.T, f *faultRun, runID, runDir string, linksBefore map[string]bool) {
	t.Helper()
	recs := f.records()
	assertGone(t, f.stateDir, recs)
	filepath.WalkDir(f.stateDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("state file left: %s", p)
		}
		return nil
	})
	// Processes whose command line names the test's directory or the run.
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte(f.dir)) || bytes.Contains(cmdline, []byte(runID)) {
			t.Errorf("process %d left: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
	mounts, _ := os.Open("/proc/self/mountinfo")
	sc := bufio.NewScanner(mounts)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, runID) || strings.Contains(line, f.stateDir) || strings.Contains(line, runDir) {
			t.Errorf("mount left: %s", line)
		}
	}
	mounts.Close()
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == runID {
			t.Errorf("cgroup left: %s", p)
			return fs.SkipDir
		}
		return nil
	})
	for l := range vcbLinks() {
		if !linksBefore[l] {
			t.Errorf("link %s appeared during the run and is still there", l)
		}
	}
	if _, err := os.Stat(filepath.Join(runDir, "scratch")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("scratch directory left in the run: %v", err)
	}
	filepath.WalkDir(runDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".tmp") {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Instance)
	}
	t.Logf("%d instance record(s) seen (%s); nothing left", len(recs), strings.Join(kinds, ", "))
}

// TestFaultConcurrentCleanup runs two container runs at once, each with
// its own state directory, and `vcbench cleanup` beside them: with one
// live run's state directory and with a fresh one. Cleanup must leave
// live runs alone: both complete without an error, and nothing is left.
func TestFaultConcurrentCleanup(t *testing.T) {
	needRoot(t)
	images := imageDir(t)
	vcbench, agent := binaries(t)
	scenario := faultScenario("container", "  - kind: cpu\n    iterations: 1000000\n", shortSyscall, "  - kind: network\n    size_mib: 2\n    ops: 20\n")
	linksBefore := vcbLinks()
	runs := make([]*faultRun, 2)
	exited := make([]chan struct{}, 2)
	stopPoll := make(chan struct{})
	var polls sync.WaitGroup
	for i := range runs {
		dir := t.TempDir()
		f := &faultRun{dir: dir, out: filepath.Join(dir, "results"), stateDir: filepath.Join(dir, "state"), recs: map[string]*state.Record{}}
		runs[i] = f
		scen := filepath.Join(dir, "s.yaml")
		os.WriteFile(scen, []byte(scenario), 0o644)
		f.cmd = exec.Command(vcbench, "run", scen, "--out", f.out, "--image-dir", images, "--state-dir", f.stateDir, "--no-report", "--agent", agent)
		f.cmd.Stdout, f.cmd.Stderr = &f.stdout, &f.stderr
		if err := f.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		polls.Add(1)
		go func() { defer polls.Done(); f.pollRecords(stopPoll) }()
		exited[i] = make(chan struct{})
		go func() { f.cmd.Wait(); close(exited[i]) }()
	}
	for i, f := range runs {
		f.waitReady(t, exited[i])
	}
	fresh := filepath.Join(t.TempDir(), "state")
	for _, sd := range []string{runs[0].stateDir, fresh} {
		out, err := exec.Command(vcbench, "cleanup", "--state-dir", sd, "--out", runs[0].out).CombinedOutput()
		t.Logf("vcbench cleanup --state-dir %s:\n%s", sd, out)
		if err != nil {
			t.Errorf("vcbench cleanup: %v", err)
		}
	}
	for i, f := range runs {
		select {
		case <-exited[i]:
		case <-time.After(120 * time.Second):
			f.cmd.Process.Kill()
			<-exited[i]
			t.Errorf("run %d did not end within 120 s", i)
		}
	}
	close(stopPoll)
	polls.Wait()
	for i, f := range runs {
		t.Logf("run %d stderr:\n%s", i, f.stderr.String())
		if code := f.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("run %d: exit status %d, want 0", i, code)
		}
		runDir := filepath.Join(f.out, mustOne(t, filepath.Join(f.out, "*-*")))
		checkRun(t, faultCase{wantStatus: bench.StatusComplete, wantSamples: []string{"cpu/single_thread", "syscall/getppid", "network/rr_p50"}}, runDir)
		if run, err := bench.ReadRun(runDir); err == nil {
			for _, r := range run.Info.Runtimes {
				if len(r.Errors) > 0 {
					t.Errorf("run %d: %s errors %q, want none", i, r.Name, r.Errors)
				}
			}
		}
		assertNoLeftovers(t, f, filepath.Base(runDir), runDir, linksBefore)
	}
}
