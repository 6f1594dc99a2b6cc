// Package tools drives the third-party benchmarks of the tools image (fio,
// sysbench, stress-ng, iperf3, redis-benchmark, hpcc): typed, validated
// parameters, the command lines built from them, and parsers of the tools'
// outputs that read an io.Reader and return figures in base units. It
// knows nothing of runtimes: the agent hands it a Runner that runs
// programs from the tools image, the same binaries in every runtime.
package tools

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Runner runs programs from the tools image (the agent's chroot helper, or
// the agent's own root when that is the tools image).
type Runner interface {
	// Command returns a command running argv from the tools image, with dir
	// (a path as the tools see it) as its working directory.
	Command(ctx context.Context, dir string, argv ...string) *exec.Cmd
	// ScratchDir is the instance's scratch directory as the tools see it.
	ScratchDir() string
	// HostPath maps a path under ScratchDir to the caller's view of it.
	HostPath(toolPath string) string
	// DiskPath is the instance's scratch block device as the tools see it
	// (a VM's virtio-blk disk), or "" when there is none.
	DiskPath() string
}

// Unit names of figures, as workload.Unit spells them in samples.jsonl.
const (
	UnitSeconds        = "seconds"
	UnitBytesPerSecond = "bytes_per_second"
	UnitOpsPerSecond   = "ops_per_second"
	UnitCount          = "count"
	UnitRatio          = "ratio"
)

// Starter is implemented by Runners that must start the commands they
// make themselves (the host client's, pinned to CPUs the instance does
// not use: a child inherits the affinity of the thread that forks it).
type Starter interface {
	Start(cmd *exec.Cmd) error
}

// Figure is one figure a tool produced, in a base unit.
type Figure struct {
	Name   string
	Unit   string
	Higher bool // higher is better
	Value  float64
}

func higher(name, unit string, v float64) Figure {
	return Figure{Name: name, Unit: unit, Higher: true, Value: v}
}

func lower(name, unit string, v float64) Figure {
	return Figure{Name: name, Unit: unit, Value: v}
}

// Output is what a tool run returned: its figures, its raw output (kept
// under results' raw/) and notes on how it ran.
type Output struct {
	Figures []Figure
	Raw     []byte
	Command []string
	Notes   map[string]string
	// Warnings say where figures are not what the parameters ask for.
	Warnings []string
}

// stderrKeep bounds the tool's stderr carried in an Error.
const stderrKeep = 4 << 10

// Error is a tool run that failed or whose output was not understood; it
// carries the tool's own stderr (its last stderrKeep bytes), which usually
// says why.
type Error struct {
	Tool   string
	Args   []string
	Stderr string
	Err    error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Tool, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += "; stderr: " + s
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNoFigures is a parse that found none of the figures it looks for.
var ErrNoFigures = errors.New("no figures in the output")

// tail keeps the last stderrKeep bytes of b.
func tail(b []byte) string {
	if len(b) > stderrKeep {
		b = b[len(b)-stderrKeep:]
	}
	return string(b)
}

// run runs argv through r in dir and returns its stdout; a failure is an
// *Error with the tool's stderr.
func run(ctx context.Context, r Runner, dir string, argv ...string) (stdout, stderr []byte, err error) {
	return runEnv(ctx, r, dir, nil, argv...)
}

// runEnv is run with env (KEY=value) added to the tool's environment.
func runEnv(ctx context.Context, r Runner, dir string, env []string, argv ...string) (stdout, stderr []byte, err error) {
	var out, errb bytes.Buffer
	cmd := r.Command(ctx, dir, argv...)
	if len(env) > 0 {
		if cmd.Env == nil {
			cmd.Env = os.Environ() // nil is the caller's environment
		}
		cmd.Env = append(cmd.Env, env...)
	}
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := cmd.Start
	if s, ok := r.(Starter); ok {
		start = func() error { return s.Start(cmd) }
	}
	err = start()
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		// Some tools (fio) print their complaint on stdout.
		return out.Bytes(), errb.Bytes(), &Error{Tool: argv[0], Args: argv[1:], Stderr: tail(append(errb.Bytes(), out.Bytes()...)), Err: err}
	}
	return out.Bytes(), errb.Bytes(), nil
}

// parseFailed wraps a parser's error with the tool's stderr.
func parseFailed(tool string, argv []string, stderr []byte, err error) error {
	return &Error{Tool: tool, Args: argv, Stderr: tail(stderr), Err: fmt.Errorf("output not understood: %w", err)}
}
