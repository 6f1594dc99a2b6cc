package state

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Kind is the sort of a recorded resource; it says how the resource is undone.
type Kind string

// The kinds of resource a record holds.
const (
	KindProc   Kind = "proc"   // a process: SIGTERM, grace, SIGKILL
	KindMount  Kind = "mount"  // a mount point: lazy unmount
	KindLink   Kind = "link"   // a host network link (veth, tap): deleted
	KindCgroup Kind = "cgroup" // a cgroup directory: removed, then its empty vcbench parents
	KindPath   Kind = "path"   // a file or directory tree: removed
	KindDir    Kind = "dir"    // a directory shared with other instances: removed once empty
)

// Resource is one thing an instance created, as recorded before it was
// created (a process: right after, once its start time is known).
type Resource struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name,omitempty"` // path, mount point, link name or cgroup directory
	Proc Proc   `json:"proc,omitzero"`  // KindProc only
}

// Process is the resource of a process.
func Process(p Proc) Resource { return Resource{Kind: KindProc, Proc: p} }

// Mount is the resource of a mount point.
func Mount(path string) Resource { return Resource{Kind: KindMount, Name: path} }

// Link is the resource of a host network link.
func Link(name string) Resource { return Resource{Kind: KindLink, Name: name} }

// Cgroup is the resource of one cgroup directory.
func Cgroup(dir string) Resource { return Resource{Kind: KindCgroup, Name: dir} }

// Cgroups are the resources of a group's directories, one per hierarchy.
func Cgroups(dirs ...string) []Resource {
	out := make([]Resource, len(dirs))
	for i, d := range dirs {
		out[i] = Cgroup(d)
	}
	return out
}

// Path is the resource of a file or directory tree that is removed whole.
func Path(path string) Resource { return Resource{Kind: KindPath, Name: path} }

// EmptyDir is the resource of a directory that several instances share
// (a run's directory): each removes it, and the last one succeeds.
func EmptyDir(path string) Resource { return Resource{Kind: KindDir, Name: path} }

// String names the resource for error messages.
func (x Resource) String() string {
	if x.Kind == KindProc {
		return fmt.Sprintf("proc %d", x.Proc.Pid)
	}
	return string(x.Kind) + " " + x.Name
}

// Undo removes the resource. It is idempotent: a resource that is already
// gone is not an error. grace is how long a process gets between SIGTERM
// and SIGKILL.
func (x Resource) Undo(grace time.Duration) error {
	switch x.Kind {
	case KindProc:
		return Kill(x.Proc, grace)
	case KindMount:
		if err := unix.Unmount(x.Name, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("unmount %s: %w", x.Name, err)
		}
		return nil
	case KindLink:
		return DeleteLink(x.Name)
	case KindCgroup:
		removed, err := removeCgroup(x.Name)
		if removed {
			// Only after this call removed the group: a group already
			// gone was removed by its owner, which keeps its run's
			// parents while other instances of the run may need them.
			removeEmptyParents(x.Name)
		}
		return err
	case KindPath:
		if err := os.RemoveAll(x.Name); err != nil {
			return fmt.Errorf("remove %s: %w", x.Name, err)
		}
		return nil
	case KindDir:
		err := unix.Rmdir(x.Name)
		if err == nil || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return nil
		}
		return fmt.Errorf("remove directory %s: %w", x.Name, err)
	}
	return fmt.Errorf("unknown resource kind %q (%s): recorded by a newer vcbench?", x.Kind, x.Name)
}
