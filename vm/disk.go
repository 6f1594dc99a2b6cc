package vm

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// createDisk makes a sparse raw file of sizeMiB and picks QEMU's cache mode:
// cache=none,aio=native (O_DIRECT: the guest's I/O reaches the host's disk
// without the host's page cache in between) when the file system supports
// O_DIRECT, else cache=writeback,aio=threads (tmpfs, for one), which the
// returned setup records so that the report can say so.
func createDisk(path string, sizeMiB int) (DiskSetup, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return DiskSetup{}, fmt.Errorf("create disk %s: %w", path, err)
	}
	err = f.Truncate(int64(sizeMiB) << 20)
	f.Close()
	if err != nil {
		return DiskSetup{}, fmt.Errorf("size disk %s: %w", path, err)
	}
	d := DiskSetup{Path: path, Cache: "none", AIO: "native"}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		if !errors.Is(err, unix.EINVAL) {
			return DiskSetup{}, fmt.Errorf("open disk %s with O_DIRECT: %w", path, err)
		}
		d.Cache, d.AIO = "writeback", "threads"
		return d, nil
	}
	unix.Close(fd)
	return d, nil
}
