package container

import "vcbench/container/nsinit"

// The modes of the init binary (cmd/vcbench-init, or the hidden `vcbench
// init`): see package nsinit.
const (
	modeContainer = nsinit.ModeContainer
	modeOCIExec   = nsinit.ModeOCIExec
	modeProbe     = nsinit.ModeProbe
)

const probeAnswer = nsinit.ProbeAnswer

// initConfig is what the parent tells the container's init.
type initConfig = nsinit.Config

// wrapConfig is what the crun wrapper changes before it execs crun.
type wrapConfig = nsinit.WrapConfig

// The /proc (and /sys) paths every container hides or makes read-only;
// the OCI spec carries the same.
var (
	maskedPaths   = nsinit.MaskedPaths
	readonlyPaths = nsinit.ReadonlyPaths
)

// monoNow reads CLOCK_MONOTONIC in nanoseconds, the clock of the child's stamps.
func monoNow() int64 { return nsinit.MonoNow() }

// RunInit is the hidden `vcbench init` entry point, the same code as
// cmd/vcbench-init (nsinit.Main), used where that binary is missing. It
// never returns.
func RunInit(args []string) { nsinit.Main(args) }
