// Package image builds what the isolated runtimes boot from the same files:
// the container root filesystem (a directory tree) and the VM guest (Debian's
// cloud kernel plus an initramfs written with u-root's cpio). Both hold the
// agent, byte for byte the same: a VM's /init, and a container's server
// under the small vcbench-init.
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"vcbench/container/nsinit"
)

// Paths locates the built images under one directory.
type Paths struct{ Dir string }

// DefaultDir is where images live unless VCBENCH_IMAGE_DIR or --image-dir says otherwise.
func DefaultDir() string {
	if d := os.Getenv("VCBENCH_IMAGE_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/vcbench/images"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "vcbench", "images")
	}
	return filepath.Join(os.TempDir(), "vcbench-images")
}

// Agent is the agent binary the images were built from (the native runtime runs it).
func (p Paths) Agent() string { return filepath.Join(p.Dir, "vcbench-agent") }

// Rootfs is the container root filesystem directory.
func (p Paths) Rootfs() string { return filepath.Join(p.Dir, "rootfs") }

// Kernel is the guest kernel (bzImage).
func (p Paths) Kernel() string { return filepath.Join(p.Dir, "vmlinuz") }

// Initramfs is the guest's initramfs (newc cpio).
func (p Paths) Initramfs() string { return filepath.Join(p.Dir, "initramfs.cpio") }

// Manifest is the file recording what an image was built from.
func (p Paths) Manifest(name string) string { return filepath.Join(p.Dir, name+".manifest.json") }

// File is one entry of the image: a directory, a regular file copied from
// the host, or a symlink. The rootfs and the initramfs are written from the
// same list.
type File struct {
	Path    string      // absolute path inside the image
	Mode    os.FileMode // permission bits, plus os.ModeDir / os.ModeSymlink
	Source  string      // host file to copy (regular files)
	Target  string      // symlink target
	Content []byte      // literal content (regular files without Source)
}

// AgentPathInImage is where the agent lives inside every image; /init links to it.
const AgentPathInImage = "/bin/vcbench-agent"

// InitPathInImage is where the small vcbench-init lives in the container
// images (the rootfs and the tools tree): every container runtime starts
// it as the container's PID 1 (`vcbench-init supervise -- AGENT...`), and
// it starts the agent as its child. The initramfs has none: a VM's /init
// is the agent.
const InitPathInImage = "/bin/vcbench-init"

// InitBeside is the vcbench-init binary beside the agent binary, or ""
// when there is none (images then run the agent as PID 1, which starts a
// second copy of itself to serve).
func InitBeside(agent string) string {
	p := filepath.Join(filepath.Dir(agent), "vcbench-init")
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
		return p
	}
	return ""
}

// ContainerArgv is the process of a container over the tree rootfs (a
// host path) whose agent command line is agent: vcbench-init supervising
// the agent where the tree has it, else the agent itself as PID 1 (which
// then starts a second copy of itself to serve).
func ContainerArgv(rootfs string, agent []string) []string {
	if st, err := os.Stat(filepath.Join(rootfs, InitPathInImage)); err == nil && st.Mode().IsRegular() {
		return append([]string{InitPathInImage, nsinit.ModeSupervise, "--"}, agent...)
	}
	return agent
}

// initFile is the init binary's entry in a container image; none for "".
func initFile(init string) []File {
	if init == "" {
		return nil
	}
	return []File{{Path: InitPathInImage, Mode: 0o755, Source: init}}
}

// Files is the common content of the rootfs and the initramfs: the agent
// (also as /init), busybox for debugging when the host has busybox-static,
// and the directories the agent mounts on.
func Files(agent, busybox string) []File {
	fs := []File{}
	for _, d := range []string{"/bin", "/dev", "/etc", "/proc", "/sys", "/tmp", "/run", "/scratch", "/lib", "/lib/modules"} {
		fs = append(fs, File{Path: d, Mode: os.ModeDir | 0o755})
	}
	fs = append(fs,
		File{Path: AgentPathInImage, Mode: 0o755, Source: agent},
		File{Path: "/init", Mode: os.ModeSymlink | 0o777, Target: AgentPathInImage},
		File{Path: "/etc/hostname", Mode: 0o644, Content: []byte("vcbench\n")},
		File{Path: "/etc/passwd", Mode: 0o644, Content: []byte("root:x:0:0:root:/:/bin/sh\n")},
		File{Path: "/etc/group", Mode: 0o644, Content: []byte("root:x:0:\n")},
	)
	if busybox != "" {
		fs = append(fs,
			File{Path: "/bin/busybox", Mode: 0o755, Source: busybox},
			File{Path: "/bin/sh", Mode: os.ModeSymlink | 0o777, Target: "busybox"},
		)
	}
	return fs
}

// BusyboxPath is Debian's static busybox when installed (busybox-static), else "".
func BusyboxPath() string {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// Digest hashes the list's paths, modes, targets and file contents: the
// input side of "rebuild only when inputs change".
func Digest(files []File, extra ...string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00", f.Path, uint32(f.Mode), f.Target)
		h.Write(f.Content)
		if f.Source != "" {
			in, err := os.Open(f.Source)
			if err != nil {
				return "", fmt.Errorf("hash %s: %w", f.Source, err)
			}
			_, err = io.Copy(h, in)
			in.Close()
			if err != nil {
				return "", fmt.Errorf("hash %s: %w", f.Source, err)
			}
		}
	}
	for _, e := range extra {
		fmt.Fprintf(h, "%s\x00", e)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Manifest records the digest an image was built from.
type Manifest struct {
	Digest string            `json:"digest"`
	Info   map[string]string `json:"info,omitempty"`
}

// UpToDate reports whether the image named name was built from digest.
func (p Paths) UpToDate(name, digest string) bool {
	b, err := os.ReadFile(p.Manifest(name))
	if err != nil {
		return false
	}
	var m Manifest
	return json.Unmarshal(b, &m) == nil && m.Digest == digest
}

// WriteManifest records a finished build.
func (p Paths) WriteManifest(name string, m Manifest) error {
	b, _ := json.MarshalIndent(m, "", "  ")
	return os.WriteFile(p.Manifest(name), b, 0o644)
}

// ReadManifest returns a built image's manifest.
func (p Paths) ReadManifest(name string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(p.Manifest(name))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}
