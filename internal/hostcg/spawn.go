package hostcg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Target is the group a new process is to be born in.
type Target struct {
	// V1 are the group's directories in cgroup v1 hierarchies and Home,
	// index for index, vcbench's own group in the same hierarchy (where
	// the forking thread returns).
	V1, Home []string
	// V2 is the group's cgroup2 directory; used when V1 is empty.
	V2 string
}

// Spawn calls start (a fork: exec.Cmd.Start, syscall.ForkExec) so that the
// child is born inside t, and none of the parent's other threads moves.
//
// A move of a running process into a v1 group (a pid written to
// cgroup.procs or tasks) takes the cgroup threadgroup lock for writing,
// which waits for an RCU grace period: 7-14 ms on a loaded host. A thread
// that writes "0" to a tasks file moves only itself, without that lock
// (kernel/cgroup/cgroup.c, cgroup_procs_write_start), in tens of
// microseconds; a child it forks then starts in its groups. So on v1 the
// fork runs on a locked OS thread that joins the group for the fork and
// goes home afterwards (its CPU affinity, which a cpuset move resets,
// restored). On cgroup2 the child is cloned straight into the group
// (CLONE_INTO_CGROUP, Linux 5.7), or moved after the fork where the
// kernel refuses that. attr is the SysProcAttr start forks with (for
// CLONE_INTO_CGROUP); start runs on the locked thread, so that what it
// sets per thread (affinity, a network namespace) is inherited too.
//
// If the thread cannot go home it is retired (its goroutine ends locked):
// a child started with Pdeathsig then gets its signal, and Spawn says why.
func Spawn(t Target, attr *syscall.SysProcAttr, start func() error) error {
	if len(t.V1) == 0 {
		return spawnV2(t.V2, attr, start)
	}
	if len(t.Home) != len(t.V1) {
		return errors.New("cgroup target: one home directory per v1 group needed")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var mask unix.CPUSet
		maskErr := unix.SchedGetaffinity(0, &mask)
		moved := 0
		err := func() error {
			for _, d := range t.V1 {
				if err := writeSelf(d); err != nil {
					return fmt.Errorf("join cgroup %s: %w", d, err)
				}
				moved++
			}
			return start()
		}()
		var back error
		for i := 0; i < moved; i++ {
			if e := writeSelf(t.Home[i]); e != nil {
				back = errors.Join(back, fmt.Errorf("return to cgroup %s: %w", t.Home[i], e))
			}
		}
		if maskErr == nil {
			unix.SchedSetaffinity(0, &mask)
		}
		if back != nil {
			errc <- errors.Join(err, back)
			return // the thread dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// writeSelf moves the calling thread into the v1 group dir.
func writeSelf(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, "tasks"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("0"))
	return errors.Join(err, f.Close())
}

func spawnV2(dir string, attr *syscall.SysProcAttr, start func() error) error {
	if dir == "" {
		return errors.New("cgroup target: no group directory")
	}
	if attr == nil {
		return errors.New("cgroup target: no SysProcAttr to clone into the group with")
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	attr.UseCgroupFD, attr.CgroupFD = true, fd
	err = start()
	attr.UseCgroupFD, attr.CgroupFD = false, 0
	if err != nil {
		return fmt.Errorf("start in cgroup %s (CLONE_INTO_CGROUP, Linux 5.7 or later): %w", dir, err)
	}
	return nil
}
