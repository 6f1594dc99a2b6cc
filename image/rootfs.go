package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// rootfsManifest names the rootfs's manifest (Paths.Manifest).
const rootfsManifest = "rootfs"

// rootfsFormat is mixed into the digest so that a change in how the tree is
// written (not only in its inputs) forces a rebuild.
const rootfsFormat = "rootfs-format=1"

// BuildRootfs writes the container root filesystem (Files(agent, busybox),
// and init at InitPathInImage unless it is "") as a directory tree at
// p.Rootfs() and copies the agent to p.Agent(). It
// rebuilds only when the inputs' digest differs from the manifest's, and
// reports whether it did. The tree is built in a temporary directory beside
// the old one and swapped in with one rename, so a reader never sees half a
// tree; containers still running on the old tree keep it through their bind
// mounts.
func BuildRootfs(p Paths, agent, init, busybox string) (built bool, err error) {
	files := append(Files(agent, busybox), initFile(init)...)
	digest, err := Digest(files, rootfsFormat)
	if err != nil {
		return false, fmt.Errorf("rootfs digest: %w", err)
	}
	if p.UpToDate(rootfsManifest, digest) && isDir(p.Rootfs()) && isFile(p.Agent()) {
		return false, nil
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return false, fmt.Errorf("create image dir: %w", err)
	}
	tmp, err := os.MkdirTemp(p.Dir, ".rootfs-")
	if err != nil {
		return false, fmt.Errorf("create rootfs temp dir: %w", err)
	}
	defer os.RemoveAll(tmp) // after a swap it holds the old tree
	if err := os.Chmod(tmp, 0o755); err != nil {
		return false, fmt.Errorf("chmod rootfs: %w", err)
	}
	for _, f := range files {
		if err := writeFile(tmp, f); err != nil {
			return false, fmt.Errorf("rootfs %s: %w", f.Path, err)
		}
	}
	if err := swapIn(tmp, p.Rootfs()); err != nil {
		return false, fmt.Errorf("install rootfs: %w", err)
	}
	if err := copyAtomic(agent, p.Agent(), 0o755); err != nil {
		return false, fmt.Errorf("copy agent to %s: %w", p.Agent(), err)
	}
	m := Manifest{Digest: digest, Info: map[string]string{"agent": agent, "init": init, "busybox": busybox}}
	if err := p.WriteManifest(rootfsManifest, m); err != nil {
		return false, fmt.Errorf("write rootfs manifest: %w", err)
	}
	return true, nil
}

// swapIn puts the tree at tmp in place of dst: a plain rename when dst does
// not exist, else an atomic exchange (the old tree ends up at tmp).
func swapIn(tmp, dst string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOENT) {
		return os.Rename(tmp, dst)
	}
	if err != nil {
		return fmt.Errorf("exchange %s with %s: %w", tmp, dst, err)
	}
	return nil
}

func writeFile(root string, f File) error {
	dst := filepath.Join(root, filepath.Clean("/"+f.Path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	switch {
	case f.Mode&os.ModeDir != 0:
		if err := os.MkdirAll(dst, f.Mode.Perm()); err != nil {
			return err
		}
		return os.Chmod(dst, f.Mode.Perm())
	case f.Mode&os.ModeSymlink != 0:
		return os.Symlink(f.Target, dst)
	case f.Source != "":
		return copyFile(f.Source, dst, f.Mode.Perm())
	default:
		if err := os.WriteFile(dst, f.Content, f.Mode.Perm()); err != nil {
			return err
		}
		return os.Chmod(dst, f.Mode.Perm())
	}
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm)
}

// copyAtomic copies src to dst through a temporary file and a rename, so
// that a running copy of the old dst is never overwritten in place.
func copyAtomic(src, dst string, perm os.FileMode) error {
	tmp := dst + ".tmp"
	if err := copyFile(src, tmp, perm); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
