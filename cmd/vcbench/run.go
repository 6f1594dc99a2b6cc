package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"vcbench/agent"
	"vcbench/bench"
	"vcbench/image"
	"vcbench/metrics"
	"vcbench/report"
	"vcbench/scenarios"
	"vcbench/state"
	"vcbench/workload"
)

// runOptions are the flags of `vcbench run`.
type runOptions struct {
	runtimes []string
	trials   int
	// trialsSet says that --trials was given: its zero is then an error,
	// not "the scenario's number".
	trialsSet bool
	out       string
	json      bool
	accel     string
	noReport  bool
	paths     pathFlags
	hooks     runHooks
}

// pathFlags locate images, state and the agent; shared by several commands.
type pathFlags struct {
	imageDir string
	stateDir string
	agent    string
}

func (p *pathFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.imageDir, "image-dir", image.DefaultDir(), "directory of built images (rootfs, kernel, initramfs, agent)")
	cmd.Flags().StringVar(&p.stateDir, "state-dir", state.DefaultDir(), "directory recording created resources for `vcbench cleanup`")
	cmd.Flags().StringVar(&p.agent, "agent", "", "agent binary for the native runtime (default: the one in --image-dir, else vcbench-agent beside vcbench)")
}

func (p *pathFlags) env() (bench.Env, error) {
	self, err := os.Executable()
	if err != nil {
		return bench.Env{}, err
	}
	agentPath := p.agent
	if agentPath == "" {
		agentPath = image.Paths{Dir: p.imageDir}.Agent()
		if _, err := os.Stat(agentPath); err != nil {
			agentPath = filepath.Join(filepath.Dir(self), "vcbench-agent")
		}
	}
	// Absolute paths: backends hand them to crun, runc and QEMU, which run
	// in other working directories.
	env := bench.Env{AgentPath: agentPath, ImageDir: p.imageDir, StateDir: p.stateDir, SelfPath: self,
		ToolsRootfs: image.Paths{Dir: p.imageDir}.ToolsRootfs()}
	// The container runtimes' small init: beside vcbench, else beside the agent.
	for _, dir := range []string{filepath.Dir(self), filepath.Dir(agentPath)} {
		if st, err := os.Stat(filepath.Join(dir, "vcbench-init")); err == nil && st.Mode().IsRegular() {
			env.InitPath = filepath.Join(dir, "vcbench-init")
			break
		}
	}
	for _, path := range []*string{&env.AgentPath, &env.ImageDir, &env.StateDir, &env.InitPath, &env.ToolsRootfs} {
		if *path == "" {
			continue
		}
		if *path, err = filepath.Abs(*path); err != nil {
			return bench.Env{}, err
		}
	}
	return env, nil
}

// runHooks lets later packages (metrics) add observers and finish steps.
type runHooks struct {
	observers []func(ctx context.Context, info bench.RunInfo) (bench.Observer, func() error, error)
}

func newRunCmd() *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run [SCENARIO|FILE]",
		Short: "Run a scenario (default: quick) and write results/<run-id>/",
		Long: `Run a built-in scenario by name (see 'vcbench scenarios list') or a scenario
file, on every runtime it names that this host can run. Results go to
--out/<run-id>/: run.json, samples.jsonl, raw/ and report/index.html.
Ctrl-C stops cleanly: instances are removed and run.json says interrupted.

A workload that kills its instance costs that workload: the failure and its
cause go to run.json and the trial goes on in a fresh instance. A runtime
with no sample of some workload is named in a warning and in run.json
(missing). A run stops at once when its results cannot be written.

Exit status: 0 when the run is complete; 1 when it failed (every runtime
failed or was skipped, the results could not be written) or was
interrupted; 3 when it is complete but some runtime failed every trial.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "quick"
			if len(args) == 1 {
				name = args[0]
			}
			o.trialsSet = cmd.Flags().Changed("trials")
			return runScenario(cmd, name, o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.runtimes, "runtime", nil, "only these runtimes (names or kinds, comma-separated)")
	f.IntVar(&o.trials, "trials", 0, "override the scenario's number of trials")
	f.StringVar(&o.out, "out", "results", "root directory for run directories")
	f.BoolVar(&o.json, "json", false, "print the run directory and a summary as JSON on stdout")
	f.StringVar(&o.accel, "accel", "", "override the accelerator of vm runtimes: auto, kvm or tcg")
	f.BoolVar(&o.noReport, "no-report", false, "do not write report/ at the end")
	o.paths.register(cmd)
	registerMetricsFlags(cmd, o)
	return cmd
}

func applyOverrides(s *scenarios.Scenario, o *runOptions) error {
	if o.trialsSet {
		if err := s.SetTrials(o.trials); err != nil {
			return fmt.Errorf("--trials: %w", err)
		}
	}
	if accel := scenarios.Accel(o.accel); accel != "" {
		if !accel.Valid() {
			names := make([]string, len(scenarios.Accels))
			for i, a := range scenarios.Accels {
				names[i] = string(a)
			}
			return fmt.Errorf("--accel: %q is not allowed (allowed: %s)", o.accel, strings.Join(names, ", "))
		}
		for i := range s.Runtimes {
			if s.Runtimes[i].Kind == scenarios.VM {
				s.Runtimes[i].Accel = accel
			}
		}
	}
	if len(o.runtimes) == 0 {
		return nil
	}
	var keep []scenarios.RuntimeConfig
	used := map[string]bool{}
	for _, r := range s.Runtimes {
		for _, want := range o.runtimes {
			if want == r.RuntimeName() || want == string(r.Kind) {
				keep = append(keep, r)
				used[want] = true
				break
			}
		}
	}
	for _, want := range o.runtimes {
		if !used[want] {
			var have []string
			for _, r := range s.Runtimes {
				have = append(have, r.RuntimeName())
			}
			return fmt.Errorf("--runtime: %q is not in scenario %s (it has: %s)", want, s.Name, strings.Join(have, ", "))
		}
	}
	s.Runtimes = keep
	return nil
}

func newRunID() string {
	var b [3]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

func runScenario(cmd *cobra.Command, name string, o *runOptions) error {
	sc, err := scenarios.Open(name)
	if err != nil {
		return err
	}
	if err := applyOverrides(sc, o); err != nil {
		return err
	}
	env, err := o.paths.env()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(sc.Text)
	self, _ := state.ProcOf(os.Getpid())
	info := bench.RunInfo{
		RunID:          newRunID(),
		Start:          time.Now().UTC(),
		Version:        version,
		GitRevision:    gitRevision,
		PID:            self.Pid,
		PIDStart:       self.StartTime,
		Host:           hostInfo(),
		QEMUVersion:    qemuVersion(),
		Scenario:       sc.Name,
		ScenarioSource: sc.Source,
		ScenarioText:   string(sc.Text),
		ScenarioSHA256: hex.EncodeToString(sum[:]),
		Trials:         sc.Trials,
		Warmup:         sc.Warmup,
	}
	for _, r := range sc.Runtimes {
		info.Runtimes = append(info.Runtimes, bench.RuntimeInfo{Name: r.RuntimeName(), Kind: string(r.Kind), VCPUs: r.VCPUs, MemoryMiB: r.MemoryMiB})
		if r.ImageName() == scenarios.ImageTools && info.ToolVersions == nil {
			info.ToolVersions = image.Paths{Dir: env.ImageDir}.ToolVersions()
		}
	}
	store, err := bench.Create(o.out, info)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "vcbench: run %s of scenario %s → %s\n", info.RunID, sc.Name, store.Dir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &bench.Runner{Scenario: sc, Factories: factories, Env: env, Store: store}
	var finishers []func() error
	finished := false
	runFinishers := func() {
		if finished {
			return
		}
		finished = true
		for _, f := range finishers {
			if err := f(); err != nil {
				fmt.Fprintln(stderr, "vcbench:", err)
			}
		}
	}
	// Observers (live exporter, pusher) are shut down whatever happens.
	defer runFinishers()
	for _, mk := range o.hooks.observers {
		obs, finish, err := mk(ctx, store.Info())
		if err != nil {
			store.Finish(bench.StatusFailed, err.Error())
			return err
		}
		r.Observers = append(r.Observers, obs)
		if finish != nil {
			finishers = append(finishers, finish)
		}
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.Progress = &barProgress{w: stderr}
	} else {
		r.Log = stderr
	}
	runErr := r.Run(ctx)
	status, reason := bench.Outcome(ctx.Err(), runErr, store.Info())
	os.RemoveAll(filepath.Join(store.Dir, "scratch"))
	if err := finishRun(store, status, reason); err != nil {
		return err
	}
	runFinishers() // after Finish: the last push carries the final status
	run, err := bench.ReadRun(store.Dir)
	if err != nil {
		return err
	}
	index := ""
	if !o.noReport {
		if index, err = writeReport(run); err != nil {
			fmt.Fprintln(stderr, "vcbench: report:", err)
		}
	}
	failedAll := runtimeWarnings(stderr, run.Info, status)
	findings, ferr := report.Findings(run, report.LangEnglish)
	if ferr != nil {
		fmt.Fprintln(stderr, "vcbench:", ferr)
	}
	if o.json {
		printJSONSummary(cmd.OutOrStdout(), run, index, findings)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "run %s: %s, %d samples in %s\n", run.Info.RunID, run.Info.Status, len(run.Samples), store.Dir)
		if index != "" {
			fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", index)
		}
		if len(findings) > 0 {
			fmt.Fprintln(cmd.OutOrStdout(), "findings:")
			for _, f := range findings {
				fmt.Fprintf(cmd.OutOrStdout(), "  - %s\n", f.Text)
			}
		}
	}
	if status != bench.StatusComplete {
		if runErr == nil {
			runErr = errors.New(reason)
		}
		return fmt.Errorf("run %s %s: %w", run.Info.RunID, status, runErr)
	}
	if failedAll {
		return exitCode(exitRuntimeFailed)
	}
	return nil
}

// exitRuntimeFailed is `vcbench run`'s exit status for a run that is
// complete although some runtime failed every trial.
const exitRuntimeFailed = 3

// finishRun writes the final status to run.json; when it cannot, the
// error says that the run directory is incomplete.
func finishRun(store *bench.Store, status bench.Status, reason string) error {
	if err := store.Finish(status, reason); err != nil {
		return fmt.Errorf("cannot write run.json: %w; the run directory is incomplete", err)
	}
	return nil
}

// runtimeWarnings prints one warning per runtime that was skipped, failed
// every trial, has no sample of some workload or had failures, and
// reports whether a runtime of a complete run failed every trial.
func runtimeWarnings(w io.Writer, info bench.RunInfo, status bench.Status) (failedAll bool) {
	for _, rt := range info.Runtimes {
		switch {
		case rt.Skipped != "":
			fmt.Fprintf(w, "vcbench: warning: %s was skipped: %s\n", rt.Name, rt.Skipped)
		case status == bench.StatusComplete && rt.FailedEveryTrial():
			failedAll = true
			first := ""
			if len(rt.Errors) > 0 {
				first = "; first error: " + rt.Errors[0]
			}
			fmt.Fprintf(w, "vcbench: warning: %s failed every trial: no figures%s\n", rt.Name, first)
		case len(rt.Missing) > 0:
			fmt.Fprintf(w, "vcbench: warning: %s has no sample of %s (%d error(s); first: %s)\n",
				rt.Name, strings.Join(rt.Missing, ", "), len(rt.Errors), firstOr(rt.Errors, "none"))
		case len(rt.Errors) > 0:
			fmt.Fprintf(w, "vcbench: warning: %s had %d failure(s); first: %s\n", rt.Name, len(rt.Errors), rt.Errors[0])
		}
	}
	return failedAll
}

func firstOr(list []string, def string) string {
	if len(list) == 0 {
		return def
	}
	return list[0]
}

// JSONSummary is what `vcbench run --json` prints.
type JSONSummary struct {
	RunDir  string        `json:"run_dir"`
	RunID   string        `json:"run_id"`
	Status  bench.Status  `json:"status"`
	Reason  string        `json:"reason,omitempty"`
	Report  string        `json:"report,omitempty"`
	Samples int           `json:"samples"`
	Summary []SummaryLine `json:"summary"`
	// Findings are the report's sentences (report.Findings), in English.
	Findings []report.Finding `json:"findings"`
}

// SummaryLine is the median of one (runtime, workload, metric).
type SummaryLine struct {
	Runtime  string          `json:"runtime"`
	Workload string          `json:"workload"`
	Metric   string          `json:"metric"`
	Unit     workload.Unit   `json:"unit"`
	Better   workload.Better `json:"better"`
	N        int             `json:"n"`
	Median   float64         `json:"median"`
}

func printJSONSummary(w io.Writer, run *bench.Run, index string, findings []report.Finding) {
	groups := map[[3]string][]bench.Sample{}
	var keys [][3]string
	for _, s := range run.Samples {
		k := [3]string{s.Runtime, s.Workload, s.Metric}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], s)
	}
	out := JSONSummary{RunDir: run.Dir, RunID: run.Info.RunID, Status: run.Info.Status, Reason: run.Info.Reason, Report: index, Samples: len(run.Samples), Summary: []SummaryLine{}, Findings: findings}
	if out.Findings == nil {
		out.Findings = []report.Finding{}
	}
	for _, k := range keys {
		g := groups[k]
		vals := make([]float64, len(g))
		for i, s := range g {
			vals[i] = s.Value
		}
		sort.Float64s(vals)
		med := vals[len(vals)/2]
		if len(vals)%2 == 0 {
			med = (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2
		}
		out.Summary = append(out.Summary, SummaryLine{Runtime: k[0], Workload: k[1], Metric: k[2], Unit: g[0].Unit, Better: g[0].Better, N: len(g), Median: med})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}

func hostInfo() bench.Host {
	in := agent.Describe()
	var u unix.Utsname
	unix.Uname(&u)
	h := bench.Host{
		Hostname: in.Hostname,
		CPUModel: in.CPUModel,
		Cores:    in.CPUsOnline,
		MemBytes: in.MemTotalBytes,
		Kernel:   in.KernelRelease + " " + unix.ByteSliceToString(u.Machine[:]),
		OS:       osRelease(),
	}
	h.CgroupMode = cgroupMode()
	h.Fingerprint = metrics.ReadFingerprint("/sys")
	return h
}

func osRelease() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func qemuVersion() string {
	out, err := exec.Command("qemu-system-x86_64", "--version").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// barProgress draws a progress bar on a terminal.
type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (p *barProgress) Begin(total int) {
	p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.w),
		progressbar.OptionShowCount(), progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true))
}
func (p *barProgress) Step(desc string) { p.bar.Describe(desc) }
func (p *barProgress) Done(desc string, err error) {
	if err != nil {
		p.bar.Clear()
		fmt.Fprintf(p.w, "\r%s: %v\n", desc, err)
	}
	p.bar.Add(1)
}
func (p *barProgress) End() { p.bar.Finish() }
