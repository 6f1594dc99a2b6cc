package nsinit

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DecodeFilter is the inverse of container's encodeFilter: struct
// sock_filter's bytes, little-endian, as Config.Seccomp carries them.
func DecodeFilter(b []byte) ([]unix.SockFilter, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("seccomp filter of %d bytes is not whole instructions", len(b))
	}
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		p := b[8*i:]
		prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(p), Jt: p[2], Jf: p[3], K: binary.LittleEndian.Uint32(p[4:])}
	}
	return prog, nil
}

// installSeccomp loads prog on the calling thread (the one that execs
// the agent: a filter survives execve). no_new_privs must be set.
func installSeccomp(prog []unix.SockFilter) error {
	if len(prog) == 0 {
		return nil
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fp)), 0, 0); err != nil {
		return fmt.Errorf("install seccomp filter (%d instructions): %w", len(prog), err)
	}
	runtime.KeepAlive(prog)
	return nil
}
