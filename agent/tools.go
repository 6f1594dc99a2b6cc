package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
)

// toolsPATH is Debian's default PATH, which the tools image's programs
// expect (sbin for mariadbd, redis-server is in /usr/bin).
const toolsPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Tools runs programs from the tools image: through a chroot into Root
// (the native agent's tree, a VM's mounted disk), or directly when the
// agent's own root is the tools image (Root "/", a container). Either way
// the programs and their libraries are the image's, so every runtime runs
// the same versions (the ones run.json records).
type Tools struct {
	Root    string // tools tree; "/" when the agent's root is the tools image
	Scratch string // the agent's scratch directory, /scratch to the tools
	Disk    string // the agent's scratch block device, if any (the same path to the tools)
	Self    string // the agent binary, re-executed as the chroot helper
}

// FindTools returns the tools tree the agent serves tools from: flagRoot
// when set, else "/" when the agent's own root is the tools image, else
// nil (no tools: tool workloads are refused with the reason).
func FindTools(flagRoot, scratch, disk string) (*Tools, error) {
	root := flagRoot
	if root == "" {
		if _, err := os.Stat(proto.ToolsManifestPath); err != nil {
			return nil, nil
		}
		root = "/"
	}
	if _, err := os.Stat(filepath.Join(root, proto.ToolsManifestPath)); err != nil {
		return nil, fmt.Errorf("%s is not a tools image: %w", root, err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the agent binary for the chroot helper: %w", err)
	}
	abs, err := filepath.Abs(scratch)
	if err != nil {
		return nil, err
	}
	return &Tools{Root: root, Scratch: abs, Disk: disk, Self: self}, nil
}

// chrooted reports whether tools run through the chroot helper.
func (t *Tools) chrooted() bool { return t.Root != "/" }

// ScratchDir is the scratch directory as the tools see it.
func (t *Tools) ScratchDir() string {
	if t.chrooted() {
		return "/scratch"
	}
	return t.Scratch
}

// HostPath maps a path the tools see under ScratchDir to the agent's view.
func (t *Tools) HostPath(toolPath string) string {
	if !t.chrooted() {
		return toolPath
	}
	rel, err := filepath.Rel("/scratch", toolPath)
	if err != nil || strings.HasPrefix(rel, "..") {
		return filepath.Join(t.Root, toolPath)
	}
	return filepath.Join(t.Scratch, rel)
}

// DiskPath is the scratch block device as the tools see it ("" if none).
func (t *Tools) DiskPath() string { return t.Disk }

// Command returns the command that runs argv from the tools image in dir
// (as the tools see it). It runs in a process group of its own, which a
// cancelled ctx kills whole (stress-ng's workers, sysbench's threads), and
// dies with the agent.
func (t *Tools) Command(ctx context.Context, dir string, argv ...string) *exec.Cmd {
	var cmd *exec.Cmd
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if t.chrooted() {
		args := append([]string{proto.ToolsExecCommand, t.Root, t.Scratch, dir, "--"}, argv...)
		cmd = exec.CommandContext(ctx, t.Self, args...)
		// A mount namespace of its own: the binds into the tree vanish
		// with the tool, nothing to undo, and the host never sees them.
		attr.Unshareflags = syscall.CLONE_NEWNS
	} else {
		cmd = exec.CommandContext(ctx, lookTool(argv[0]), argv[1:]...)
		cmd.Args[0] = argv[0]
		cmd.Dir = dir
	}
	cmd.Env = []string{"PATH=" + toolsPATH, "LC_ALL=C", "HOME=/root", "TERM=dumb"}
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// lookTool finds name on toolsPATH, as the chroot helper does inside the
// tree: exec.Command would search the agent's own PATH, which in a
// container need not hold sbin (mariadbd). Not found, name stays as it is
// and the start fails with exec's error.
func lookTool(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	for _, dir := range filepath.SplitList(toolsPATH) {
		path := filepath.Join(dir, name)
		if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return path
		}
	}
	return name
}

// toolsBinds are the agent's directories bound into the tree for the tools.
var toolsBinds = []string{"/proc", "/sys", "/dev"}

// ToolsExecMain is the chroot helper (`vcbench-agent tools-exec ROOT
// SCRATCH DIR -- ARGV...`), started by Tools.Command in a new mount
// namespace: it makes every mount private, binds /proc, /sys, /dev and
// SCRATCH (at /scratch) into ROOT, puts a tmpfs on ROOT/tmp and ROOT/run,
// chroots into ROOT, changes to DIR and execs ARGV with PATH from the
// environment. The mounts work on a read-only tree (a VM's ext4 disk): they
// write nothing to it. It never returns.
func ToolsExecMain(args []string) {
	if err := toolsExec(args); err != nil {
		fmt.Fprintf(os.Stderr, "%s%s: %v\n", proto.LogPrefix, proto.ToolsExecCommand, err)
		os.Exit(126)
	}
}

func toolsExec(args []string) error {
	if len(args) < 5 || args[3] != "--" {
		return errors.New("usage: tools-exec ROOT SCRATCH DIR -- ARGV...")
	}
	root, scratch, dir, argv := args[0], args[1], args[2], args[4:]
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	for _, d := range toolsBinds {
		if err := unix.Mount(d, filepath.Join(root, d), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s into %s: %w", d, root, err)
		}
	}
	if err := unix.Mount(scratch, filepath.Join(root, "scratch"), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s at %s/scratch: %w", scratch, root, err)
	}
	for _, d := range []string{"tmp", "run"} {
		if err := unix.Mount("tmpfs", filepath.Join(root, d), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
			return fmt.Errorf("tmpfs on %s/%s: %w", root, d, err)
		}
	}
	if err := unix.Chroot(root); err != nil {
		return fmt.Errorf("chroot %s: %w", root, err)
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s in %s: %w", dir, root, err)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("%s in the tools image: %w", argv[0], err)
	}
	return unix.Exec(path, argv, os.Environ())
}

// MountTools mounts the tools image's disk dev (ext4) read-only at dir (a
// VM's proto.ToolsMountPoint). dev is a device path or "LABEL=<label>"
// (the block device whose ext4 superblock carries that volume label). It
// waits briefly for the device: virtio-blk probes while its module loads.
func MountTools(dev, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tools mount point: %w", err)
	}
	deadline := time.Now().Add(guestLinkWait)
	for {
		path, err := resolveDisk(dev)
		if err == nil {
			dev = path
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tools disk %s: %w", dev, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := unix.Mount(dev, dir, "ext4", unix.MS_RDONLY|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("mount tools disk %s on %s: %w", dev, dir, err)
	}
	return nil
}

// resolveDisk returns dev when it exists, or the /dev node of the block
// device labelled as "LABEL=<label>" says.
func resolveDisk(dev string) (string, error) {
	label, byLabel := strings.CutPrefix(dev, "LABEL=")
	if !byLabel {
		_, err := os.Stat(dev)
		return dev, err
	}
	blocks, err := os.ReadDir("/sys/block")
	if err != nil {
		return "", err
	}
	for _, b := range blocks {
		path := "/dev/" + b.Name()
		if l, err := ext4Label(path); err == nil && l == label {
			return path, nil
		}
	}
	return "", fmt.Errorf("no block device has the ext4 label %q", label)
}

// ext4Label reads the volume label of an ext2/3/4 superblock (at byte
// 1024: magic 0xEF53 at +0x38, 16-byte label at +0x78).
func ext4Label(dev string) (string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return "", err
	}
	return parseExt4Label(sb)
}

func parseExt4Label(sb []byte) (string, error) {
	if len(sb) < 0x88 || sb[0x38] != 0x53 || sb[0x39] != 0xEF {
		return "", errors.New("not an ext2/3/4 superblock")
	}
	l := sb[0x78:0x88]
	if i := bytes.IndexByte(l, 0); i >= 0 {
		l = l[:i]
	}
	return string(l), nil
}
