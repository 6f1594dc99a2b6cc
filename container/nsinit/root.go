package nsinit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Devices every container gets (as runc and crun create them).
var devices = []struct {
	name         string
	major, minor uint32
}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}

// Paths of /proc (and /sys) hidden or made read-only, the list runc and
// crun use by default; the OCI spec carries the same.
var (
	// MaskedPaths are hidden in every container (a tmpfs or /dev/null over them).
	MaskedPaths = []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}
	// ReadonlyPaths are made read-only in every container.
	ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// setupRoot builds the container's mount tree on the rootfs and pivots
// into it. Runs in the new mount namespace, as its only process.
func setupRoot(c Config) error {
	// Nothing mounted from here on may leak back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := c.Rootfs
	// pivot_root needs the new root to be a mount point.
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s: %w", root, err)
	}
	in := func(p string) string { return filepath.Join(root, p) }
	mount := func(src, dst, fstype string, flags uintptr, data string) error {
		if err := unix.Mount(src, in(dst), fstype, flags, data); err != nil {
			what := fstype
			if what == "" {
				what = src
			}
			return fmt.Errorf("mount %s on %s: %w", what, in(dst), err)
		}
		return nil
	}
	const nsx = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := mount("proc", "/proc", "proc", nsx, ""); err != nil {
		return err
	}
	if err := mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_STRICTATIME, "mode=755,size=64k"); err != nil {
		return err
	}
	if err := makeDevices(in("/dev"), c.UserNS); err != nil {
		return err
	}
	if err := unix.Mount("", in("/dev"), "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_STRICTATIME, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("remount %s read-only: %w", in("/dev"), err)
	}
	if err := mount("sysfs", "/sys", "sysfs", nsx|unix.MS_RDONLY, ""); err != nil {
		return err
	}
	if err := mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return err
	}
	if err := bindMount(c.Scratch, in("/scratch"), unix.MS_NOSUID|unix.MS_NODEV); err != nil {
		return err
	}
	for _, p := range MaskedPaths {
		st, err := os.Stat(in(p))
		if err != nil {
			continue
		}
		if st.IsDir() {
			err = unix.Mount("tmpfs", in(p), "tmpfs", unix.MS_RDONLY, "size=0")
		} else {
			err = unix.Mount(in("/dev/null"), in(p), "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	for _, p := range ReadonlyPaths {
		if _, err := os.Stat(in(p)); err != nil {
			continue
		}
		if err := bindMount(in(p), in(p), unix.MS_RDONLY|nsx); err != nil {
			return err
		}
	}
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
	}
	// pivot_root(".", ".") stacks the old root under the new one; the
	// detach below takes it away without needing a directory for it.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	if !c.Writable {
		if err := remountBind("/", unix.MS_RDONLY); err != nil {
			return fmt.Errorf("make rootfs read-only: %w", err)
		}
	}
	return nil
}

// bindMount binds src on dst, then remounts it with flags (a bind mount
// ignores flags at creation).
func bindMount(src, dst string, flags uintptr) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, dst, err)
	}
	if err := remountBind(dst, flags); err != nil {
		return fmt.Errorf("remount %s: %w", dst, err)
	}
	return nil
}

// remountBind adds flags to a bind mount, keeping the ones it has (a user
// namespace may not clear locked flags such as nosuid).
func remountBind(dst string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err != nil {
		return err
	}
	keep := uintptr(0)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
		{unix.ST_RDONLY, unix.MS_RDONLY},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			keep |= f.ms
		}
	}
	return unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|keep|flags, "")
}

// makeDevices fills the container's /dev: device nodes (or, in a user
// namespace where mknod is refused, bind mounts of the host's nodes) and the
// usual links into /proc.
func makeDevices(dev string, userNS bool) error {
	for _, d := range devices {
		p := filepath.Join(dev, d.name)
		if userNS {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o666)
			if err != nil {
				return fmt.Errorf("create %s: %w", p, err)
			}
			f.Close()
			if err := unix.Mount("/dev/"+d.name, p, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind /dev/%s: %w", d.name, err)
			}
			continue
		}
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", p, err)
		}
		if err := unix.Chmod(p, 0o666); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("link /dev/%s: %w", name, err)
		}
	}
	return nil
}

// mountCgroups shows the container its own group, read-only, the way
// runc and crun do: the hierarchies in a tmpfs at /sys/fs/cgroup (v1), or
// the unified hierarchy there (v2). Runs after the cgroup namespace unshare.
func mountCgroups(c Config) error {
	if c.UserNS {
		return nil // cgroup v1 cannot be mounted from a user namespace
	}
	const base = "/sys/fs/cgroup"
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME
	if c.CgroupV2 {
		if err := unix.Mount("cgroup2", base, "cgroup2", flags|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("mount cgroup2 on %s: %w", base, err)
		}
		return nil
	}
	if err := unix.Mount("tmpfs", base, "tmpfs", flags, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", base, err)
	}
	for _, h := range c.Cgroups {
		dir := filepath.Join(base, h)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", dir, err)
		}
		if err := unix.Mount("cgroup", dir, "cgroup", flags|unix.MS_RDONLY, h); err != nil {
			return fmt.Errorf("mount cgroup %s on %s: %w", h, dir, err)
		}
	}
	if err := unix.Mount("", base, "", unix.MS_REMOUNT|unix.MS_RDONLY|flags, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("remount %s read-only: %w", base, err)
	}
	return nil
}

// dropPrivileges empties every capability set but the capabilities in
// keep (bounding first, so that the exec of the agent as uid 0 cannot
// regain others) and sets no_new_privs. Capabilities are per thread: this
// runs on the thread that execs.
func dropPrivileges(keep uint64) error {
	last := 63
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			last = v
		}
	}
	for c := 0; c <= last; c++ {
		if c < 64 && keep&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) {
				break
			}
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		w := uint32(keep >> (32 * i))
		data[i].Effective, data[i].Permitted = w, w
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("set capabilities to %#x: %w", keep, err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return nil
}
