// Package pid1 is what the first process of a PID namespace does for the
// program it runs: start it as its child, pass it the signals that stop
// it, reap every process that exits (orphans of the namespace are init's
// children too), and end with the program's exit status. The agent's own
// init (a VM's /init) and the small vcbench-init (every container's PID 1)
// share it. It uses only the standard library, so that vcbench-init stays
// small and starts in about a millisecond.
package pid1

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Supervise starts path with argv and env as its child, with files as the
// child's descriptors 0..len(files)-1, calls started (when set) once the
// child exists, and then serves as the child's init: SIGTERM and SIGINT
// go to the child, every exited process is reaped, and when the child
// itself has exited Supervise returns its exit code (128 + the signal's
// number when a signal ended it). err is set only when the child could
// not be started.
func Supervise(path string, argv, env []string, files []uintptr, started func()) (code int, err error) {
	sigs := make(chan os.Signal, 8)
	// Before the fork: a child that exits at once must not be missed.
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Env: env, Files: files})
	if started != nil {
		started()
	}
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", path, err)
	}
	for s := range sigs {
		if s != syscall.SIGCHLD {
			syscall.Kill(pid, s.(syscall.Signal))
			continue
		}
		for {
			var ws syscall.WaitStatus
			got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err != nil || got <= 0 {
				break
			}
			if got == pid {
				if ws.Signaled() {
					return 128 + int(ws.Signal()), nil
				}
				return ws.ExitStatus(), nil
			}
		}
	}
	panic("unreachable: the signal channel is never closed")
}
