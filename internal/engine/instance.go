package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"vcbench/bench"
	"vcbench/scenarios"
	"vcbench/state"
)

// Instance is what an engine-made container's instance keeps on the host
// side, the same for every engine: its state record and scratch dir, its
// init, the engine's per-instance process beside it (the init's parent),
// its cgroup, its start phases, and whether it was stopped. The docker and
// podman Instances hold one and answer the host-side questions through it;
// only what asks the engine itself stays in their packages.
type Instance struct {
	Kind   string // the runtime kind, in errors and file names
	Spec   bench.InstanceSpec
	Rec    *state.Record
	Launch time.Time

	// Init is the container's init; Parent the engine's process beside
	// it, reported in HostMemory as ParentKey ("host_shim_pss") and named
	// ParentName ("containerd shim") in errors.
	Init, Parent          state.Proc
	ParentKey, ParentName string
	Cgroup                *Cgroup
	Scratch               string

	mu      sync.Mutex
	phases  []bench.Phase
	stopped bool
}

// NewInstance is the host side of a kind's instance of spec, launched now,
// with its state record under stateDir.
func NewInstance(kind string, stateDir string, spec bench.InstanceSpec, parentKey, parentName string) *Instance {
	return &Instance{Kind: kind, Spec: spec, Launch: time.Now(),
		Rec:       state.New(stateDir, spec.RunID, spec.Name, kind),
		ParentKey: parentKey, ParentName: parentName}
}

// MakeScratch records and creates the instance's scratch dir,
// <kind>-<run>-<name> under the spec's ScratchDir (or the temp dir).
func (in *Instance) MakeScratch() error {
	dir := in.Spec.ScratchDir
	if dir == "" {
		dir = os.TempDir()
	}
	in.Scratch = filepath.Join(dir, in.Kind+"-"+SafeName(in.Spec.RunID)+"-"+SafeName(in.Spec.Name))
	in.Rec.Paths = append(in.Rec.Paths, in.Scratch)
	if err := in.Rec.Save(); err != nil {
		return fmt.Errorf("save state record: %w", err)
	}
	if err := os.MkdirAll(in.Scratch, 0o755); err != nil {
		return fmt.Errorf("create scratch dir: %w", err)
	}
	return nil
}

// StartFailed is what a start that failed with err returns: err with the
// instance's name, after stop cleaned up what the start made. A nil err
// passes through.
func (in *Instance) StartFailed(err error, stop func(context.Context) error) error {
	if err == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if serr := stop(sctx); serr != nil {
		err = errors.Join(err, fmt.Errorf("clean up after failed start: %w", serr))
	}
	return fmt.Errorf("start %s container %s: %w", in.Kind, in.Spec.Name, err)
}

// Phase records that the start reached name at at.
func (in *Instance) Phase(name string, at time.Time) {
	in.mu.Lock()
	in.phases = append(in.phases, bench.Phase{Name: name, Since: at.Sub(in.Launch)})
	in.mu.Unlock()
}

// Phases are the recorded phases in time order, since launch.
func (in *Instance) Phases() []bench.Phase {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := append([]bench.Phase(nil), in.phases...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Since < out[j].Since })
	return out
}

// HostMemory is the container's cgroup figures and the PSS of the
// engine's process beside it, under ParentKey.
func (in *Instance) HostMemory() (map[string]float64, error) {
	if in.Cgroup == nil {
		return nil, errors.New("no cgroup")
	}
	m, err := in.Cgroup.Memory()
	if err != nil {
		return nil, err
	}
	pss, err := PSS(in.Parent)
	if err != nil {
		return nil, fmt.Errorf("%s memory: %w", in.ParentName, err)
	}
	m[in.ParentKey] = pss
	return m, nil
}

// HostCPUSeconds is the container's cgroup CPU time.
func (in *Instance) HostCPUSeconds() (float64, error) {
	if in.Cgroup == nil {
		return 0, errors.New("no cgroup")
	}
	return in.Cgroup.CPUSeconds()
}

// Exited is bench.Exiter's answer: "stopped" after Stop, not exited while
// the init lives, and once it is gone what reason (which asks the engine)
// words.
func (in *Instance) Exited(reason func() string) (bool, string) {
	in.mu.Lock()
	stopped := in.stopped
	in.mu.Unlock()
	if stopped {
		return true, "stopped"
	}
	if in.Init.Pid == 0 || in.Init.Alive() {
		return false, ""
	}
	return true, reason()
}

// Stop runs remove, the engine's removal of the container given its stop
// grace in whole seconds, then removes the scratch dir and, when all went
// well, the state record. Idempotent: a stopped instance is not removed
// again.
func (in *Instance) Stop(remove func(grace int) []error) error {
	in.mu.Lock()
	stopped := in.stopped
	in.mu.Unlock()
	if stopped {
		return nil
	}
	grace := int(in.Spec.StopTimeout / time.Second)
	if grace <= 0 {
		grace = int(scenarios.DefaultStopTimeout / time.Second)
	}
	errs := remove(grace)
	if in.Scratch != "" {
		if err := os.RemoveAll(in.Scratch); err != nil {
			errs = append(errs, fmt.Errorf("remove scratch dir: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop %s container %s: %w", in.Kind, in.Spec.Name, err)
	}
	if err := in.Rec.Delete(); err != nil {
		return fmt.Errorf("delete state record: %w", err)
	}
	in.mu.Lock()
	in.stopped = true
	in.mu.Unlock()
	return nil
}
