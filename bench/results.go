package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"vcbench/metrics"
	"vcbench/workload"
)

// Status is a run's state as written in run.json.
type Status string

// Run statuses.
const (
	StatusRunning     Status = "running"
	StatusComplete    Status = "complete"
	StatusFailed      Status = "failed"
	StatusInterrupted Status = "interrupted"
)

// Sample is one line of samples.jsonl: one figure of one trial.
//
// A workload that kills its instance (OOM, a panic, an exit) or leaves it
// unresponsive costs that workload, not the trial: the runner records the
// failure (RuntimeInfo.Errors and FailedWorkloads), stops the instance and
// runs the trial's remaining workloads on a fresh one. Samples taken on such
// a replacement carry the label RestartedLabel = "1", "2", ... (how many
// replacements the trial needed before it), so that a report can tell
// them from figures of the trial's first instance. The replacement's own
// startup and idle memory are not recorded: the trial's "startup" and
// "idle" samples stay those of its first instance.
type Sample struct {
	Scenario string            `json:"scenario"`
	Runtime  string            `json:"runtime"`
	Workload string            `json:"workload"`
	Metric   string            `json:"metric"`
	Unit     workload.Unit     `json:"unit"`
	Better   workload.Better   `json:"better"`
	Trial    int               `json:"trial"`
	Value    float64           `json:"value"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Host describes the machine a run measured.
type Host struct {
	Hostname   string `json:"hostname"`
	CPUModel   string `json:"cpu_model"`
	Cores      int    `json:"cores"`
	MemBytes   uint64 `json:"mem_bytes"`
	Kernel     string `json:"kernel"`
	OS         string `json:"os"`
	CgroupMode string `json:"cgroup_mode,omitempty"`
	// Fingerprint (governor, THP, KSM, mitigations, SMT) is inlined in
	// run.json's host object: compare refuses runs whose fields differ.
	metrics.Fingerprint
}

// RestartedLabel is the sample label that marks figures measured on a
// replacement instance (see Sample).
const RestartedLabel = "restarted"

// RuntimeInfo is one runtime's settings as actually used, including the
// accelerator for VMs, and why it was skipped if it was.
type RuntimeInfo struct {
	Name      string            `json:"name"`
	Kind      string            `json:"kind"`
	VCPUs     int               `json:"vcpus"`
	MemoryMiB int               `json:"memory_mib"`
	Settings  map[string]string `json:"settings,omitempty"`
	Skipped   string            `json:"skipped,omitempty"`
	Errors    []string          `json:"errors,omitempty"`
	// TrialsOK counts the measured trials (warm-ups aside) in which the
	// instance started and at least one workload gave figures; absent is
	// none. A trial with some failed workloads counts, and is partial: its
	// failures are in FailedWorkloads.
	TrialsOK int `json:"trials_ok,omitempty"`
	// FailedWorkloads lists every workload of a measured trial that gave
	// no figures, with its cause.
	FailedWorkloads []WorkloadFailure `json:"failed_workloads,omitempty"`
	// Missing lists, once the run reached its end, the scenario's workloads
	// of which this runtime has no sample at all (every trial failed
	// them). Written only for runtimes that ran (not Skipped).
	Missing []string `json:"missing,omitempty"`
	// Warnings are the workloads' warnings ("memory: arrays sized ...",
	// where the figures are not what the workload's rule asks for), each
	// once, prefixed with the workload.
	Warnings []string `json:"warnings,omitempty"`
	// Density is set when the scenario swept instance counts.
	Density *DensityInfo `json:"density,omitempty"`
}

// WorkloadFailure is one workload of one measured trial that gave no figures.
type WorkloadFailure struct {
	Trial    int    `json:"trial"`
	Workload string `json:"workload"`
	// Instance is the instance it ran in (e.g. "vm-7").
	Instance string `json:"instance"`
	// Cause is why, as plainly as the runner knows: the instance's exit
	// ("killed by the kernel's OOM killer (memory limit 64 MiB)"), "timed
	// out after 10m0s", or the agent's or the connection's error.
	Cause string `json:"cause"`
	// Replaced says that the instance was dead or unresponsive afterwards
	// and the trial's remaining workloads ran on a fresh one.
	Replaced bool `json:"replaced,omitempty"`
}

// FailedEveryTrial reports whether a runtime that ran trials (neither
// skipped nor a density sweep) got no measured trial through. Only
// meaningful for a run written by this version (older run.json files have
// no trials_ok).
func (ri RuntimeInfo) FailedEveryTrial() bool {
	return ri.Skipped == "" && ri.Density == nil && ri.TrialsOK == 0
}

// Outcome is the status and reason a run ends with, from the context's
// error, what Runner.Run returned and the run's record: interrupted when
// the context ended, failed with Run's error, else complete — with a
// reason naming every runtime that failed every trial or has no sample of
// some workload, so that "complete" never hides a gap.
func Outcome(ctxErr, runErr error, info RunInfo) (Status, string) {
	switch {
	case ctxErr != nil:
		return StatusInterrupted, "interrupted by a signal"
	case runErr != nil:
		return StatusFailed, runErr.Error()
	}
	var gaps []string
	for _, ri := range info.Runtimes {
		switch {
		case ri.Skipped != "":
		case ri.FailedEveryTrial():
			gaps = append(gaps, ri.Name+" failed every trial")
		case len(ri.Missing) > 0:
			gaps = append(gaps, fmt.Sprintf("%s has no sample of %s", ri.Name, strings.Join(ri.Missing, ", ")))
		}
	}
	if len(gaps) == 0 {
		return StatusComplete, ""
	}
	return StatusComplete, "complete with gaps: " + strings.Join(gaps, "; ") + " (see errors in run.json)"
}

// RunInfo is run.json.
type RunInfo struct {
	RunID       string     `json:"run_id"`
	Status      Status     `json:"status"`
	Reason      string     `json:"reason,omitempty"`
	Start       time.Time  `json:"start"`
	End         *time.Time `json:"end,omitempty"`
	Version     string     `json:"vcbench_version"`
	GitRevision string     `json:"git_revision"`
	PID         int        `json:"pid"`
	PIDStart    uint64     `json:"pid_start_time"` // with PID, tells a live writer from a recycled pid
	Host        Host       `json:"host"`
	QEMUVersion string     `json:"qemu_version,omitempty"`
	// ToolVersions are the tools image's package versions (package →
	// Debian version, from dpkg inside the image) when a runtime runs it.
	ToolVersions   map[string]string `json:"tool_versions,omitempty"`
	Runtimes       []RuntimeInfo     `json:"runtimes"`
	Scenario       string            `json:"scenario"`
	ScenarioSource string            `json:"scenario_source"`
	ScenarioText   string            `json:"scenario_text"`
	ScenarioSHA256 string            `json:"scenario_sha256"`
	Trials         int               `json:"trials"`
	Warmup         int               `json:"warmup"`
	Labels         map[string]string `json:"labels,omitempty"`
}

// Store writes one run directory: run.json atomically (temp + rename),
// samples.jsonl append-only with one write and fsync per line, so that a
// killed run keeps every completed line and never a torn one.
type Store struct {
	Dir  string
	mu   sync.Mutex
	info RunInfo
	f    syncWriter
	// writeJSON writes run.json; tests make it fail (a full disk).
	writeJSON func(path string, v any) error
}

// syncWriter is what the store needs of samples.jsonl: an *os.File, or in
// tests one whose writes fail as on a full disk or after an I/O error.
type syncWriter interface {
	io.Writer
	Sync() error
	Close() error
}

// Create makes root/<run-id>/ with raw/, writes run.json as "running" and opens samples.jsonl.
// The directory is made absolute: backends hand its scratch paths to other
// programs (crun, runc, QEMU) that run in other working directories.
func Create(root string, info RunInfo) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("results root: %w", err)
	}
	dir := filepath.Join(root, info.RunID)
	if err := os.MkdirAll(filepath.Join(dir, "raw"), 0o755); err != nil {
		return nil, fmt.Errorf("create run directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "samples.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create samples.jsonl: %w", err)
	}
	s := &Store{Dir: dir, info: info, f: f, writeJSON: WriteJSONAtomic}
	s.info.Status = StatusRunning
	if err := s.writeInfo(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// RawDir is results/<run-id>/raw.
func (s *Store) RawDir() string { return filepath.Join(s.Dir, "raw") }

// Append writes samples as JSON lines, each line in one write, then fsyncs.
func (s *Store) Append(samples ...Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf bytes.Buffer
	for _, smp := range samples {
		b, err := json.Marshal(smp)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("append to samples.jsonl: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync samples.jsonl: %w", err)
	}
	return nil
}

// Update changes run.json under the store's lock and rewrites it.
func (s *Store) Update(fn func(*RunInfo)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.info)
	return s.writeInfo()
}

// Info returns a copy of the current run.json contents.
func (s *Store) Info() RunInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Finish records the final status and closes samples.jsonl.
func (s *Store) Finish(status Status, reason string) error {
	now := time.Now().UTC()
	err := s.Update(func(i *RunInfo) {
		i.Status, i.Reason, i.End = status, reason, &now
	})
	return errors.Join(err, s.f.Close())
}

func (s *Store) writeInfo() error {
	if err := s.writeJSON(filepath.Join(s.Dir, "run.json"), s.info); err != nil {
		return fmt.Errorf("write run.json: %w", err)
	}
	return nil
}

// WriteJSONAtomic writes v as indented JSON to path through a temp file and rename.
func WriteJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Run is a run directory read back.
type Run struct {
	Dir     string
	Info    RunInfo
	Samples []Sample
	// Skipped counts lines of samples.jsonl that were not valid JSON (a
	// torn last line of a run killed mid-write).
	Skipped int
}

// ReadRun loads run.json and samples.jsonl from dir. A run whose run.json
// still says "running" but whose process is gone is reported as interrupted.
func ReadRun(dir string) (*Run, error) {
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		return nil, fmt.Errorf("read run: %w", err)
	}
	r := &Run{Dir: dir}
	if err := json.Unmarshal(b, &r.Info); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "run.json"), err)
	}
	f, err := os.Open(filepath.Join(dir, "samples.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	defer f.Close()
	r.Samples, r.Skipped, err = ReadSamples(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "samples.jsonl"), err)
	}
	if r.Info.Status == StatusRunning && !metrics.ProcAlive(r.Info.PID, r.Info.PIDStart) {
		r.Info.Status = StatusInterrupted
		r.Info.Reason = "the vcbench process that wrote this run is gone (killed?)"
	}
	return r, nil
}

// ReadSamples parses JSON lines; an unparsable final line (torn write) is
// counted in skipped, an unparsable line elsewhere is an error with its number.
func ReadSamples(rd io.Reader) ([]Sample, int, error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var out []Sample
	var bad []int
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var s Sample
		if err := json.Unmarshal(line, &s); err != nil {
			bad = append(bad, n)
			continue
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	if len(bad) > 1 || (len(bad) == 1 && bad[0] != n) {
		return nil, 0, fmt.Errorf("line %d is not a JSON sample", bad[0])
	}
	return out, len(bad), nil
}
