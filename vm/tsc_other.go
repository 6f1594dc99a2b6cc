//go:build !amd64

package vm

// hostTSCkHz is unknown off amd64: the guest calibrates by itself.
func hostTSCkHz() uint64 { return 0 }
