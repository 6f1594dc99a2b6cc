package main

import "context"

// accelChecks reports the VM accelerator probe (filled in by the vm runtime).
func accelChecks(ctx context.Context, paths pathFlags) []check { return nil }
