package main

import (
	"vcbench/bench"
	"vcbench/scenarios"
)

// factories registers every runtime backend explicitly (no init() side effects).
var factories = map[scenarios.RuntimeKind]bench.Factory{
	scenarios.Native: bench.NewNative,
}

// containerInit is the hidden `vcbench init` entry point of the container
// runtime (the re-executed vcbench inside the new namespaces); nil until
// that runtime is built in.
var containerInit func(args []string)
