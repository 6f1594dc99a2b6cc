// Command vcbench-init is the first process of vcbench's own container and
// the mount-namespace wrapper of crun (package container/nsinit). It is a
// separate, small static binary so that it starts in about a millisecond:
// re-executing the whole vcbench binary costs its packages' initialisation
// (gonum, Prometheus) on every container start. vcbench finds it beside
// itself (or beside the agent) and falls back to `vcbench init` without it.
package main

import (
	"os"

	"vcbench/container/nsinit"
)

func main() { nsinit.Main(os.Args[1:]) }
