package main

import (
	"context"
	"fmt"

	"vcbench/vm"
)

// accelChecks reports the VM accelerator probe: a short real boot under
// KVM with a time-out, falling back to TCG.
func accelChecks(ctx context.Context, paths pathFlags) []check {
	res := vm.ProbeAccel(ctx, paths.imageDir)
	kvmOK := res.Accel == vm.AccelKVM
	detail := res.Reason
	if res.BootTime > 0 {
		detail = fmt.Sprintf("%s (probe guest reached the agent in %s)", detail, res.BootTime.Round(1e6))
	}
	return []check{
		{"kvm", kvmOK, detail},
		{"vm accelerator (auto)", true, string(res.Accel)},
	}
}
