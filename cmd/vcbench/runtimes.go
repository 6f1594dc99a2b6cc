package main

import (
	"vcbench/bench"
	"vcbench/scenarios"
)

// factories registers every runtime backend explicitly (no init() side effects).
var factories = map[scenarios.RuntimeKind]bench.Factory{
	scenarios.Native: bench.NewNative,
}
