package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Disk workload defaults.
const (
	DefaultDiskSizeMiB = 64
	DefaultDiskOps     = 2000
	diskSeqBlock       = 1 << 20
	diskRandBlock      = 4 << 10
)

// alignedBuf returns a page-aligned buffer, as O_DIRECT requires.
func alignedBuf(n int) ([]byte, func(), error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, err
	}
	return b, func() { unix.Munmap(b) }, nil
}

// openDirect opens path with O_DIRECT if the filesystem allows it, and
// says whether it did.
func openDirect(path string, flags int) (*os.File, bool, error) {
	f, err := os.OpenFile(path, flags|unix.O_DIRECT, 0o600)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return nil, false, err
	}
	f, err = os.OpenFile(path, flags, 0o600)
	return f, false, err
}

// planDisk sizes the scratch file: the explicit size, or the default
// lowered to fit. A file on tmpfs or ramfs (a VM's /tmp) is memory, so it
// is bounded like the memory workload's arrays; any file is bounded by the
// free space. An explicit size that cannot fit is an error.
func planDisk(r Resources, sizeMiB int, fs scratchFS) (int64, []string, error) {
	size := uint64(orDefault(sizeMiB, DefaultDiskSizeMiB)) << 20
	var warnings []string
	if fs.InMemory {
		if usable := r.Usable(); sizeMiB > 0 && usable > 0 && size > usable {
			return 0, nil, fmt.Errorf("scratch file of %d MiB is on a memory file system and does not fit in the %d MiB this instance can use (%s)", size>>20, usable>>20, r.describeMemory())
		}
		if budget := r.Budget(); budget > 0 && size > budget {
			if sizeMiB > 0 {
				warnings = append(warnings, fmt.Sprintf("scratch file of %d MiB on a memory file system takes more than %.0f%% of the %d MiB this instance can use", size>>20, MemoryHeadroom*100, r.Usable()>>20))
			} else {
				size = max(budget&^(diskSeqBlock-1), diskSeqBlock)
				warnings = append(warnings, fmt.Sprintf("scratch file on a memory file system: sized %d MiB to stay within %.0f%% of the %d MiB this instance can use", size>>20, MemoryHeadroom*100, r.Usable()>>20))
			}
		}
		warnings = append(warnings, "scratch file is on a memory file system (tmpfs/ramfs): figures are memory speed, not a disk's")
	}
	if fs.FreeBytes > 0 && size > fs.FreeBytes/2 {
		if sizeMiB > 0 && size > fs.FreeBytes {
			return 0, nil, fmt.Errorf("scratch file of %d MiB does not fit in the %d MiB free in the scratch directory", size>>20, fs.FreeBytes>>20)
		}
		if sizeMiB == 0 {
			size = max(fs.FreeBytes/2&^(diskSeqBlock-1), diskSeqBlock)
			warnings = append(warnings, fmt.Sprintf("scratch file sized %d MiB, half the space free in the scratch directory", size>>20))
		}
	}
	return int64(size), warnings, nil
}

func runDisk(ctx context.Context, p Params, env Env, r Resources) (*Result, error) {
	size := int64(orDefault(p.SizeMiB, DefaultDiskSizeMiB)) << 20
	ops := orDefault(p.Ops, DefaultDiskOps)
	path := env.DiskPath
	notes := map[string]string{"size_bytes": fmt.Sprint(size), "ops": fmt.Sprint(ops)}
	var warnings []string
	if path == "" {
		dir := env.ScratchDir
		if dir == "" {
			dir = os.TempDir()
		}
		var err error
		size, warnings, err = planDisk(r, p.SizeMiB, statScratch(dir))
		if err != nil {
			return nil, err
		}
		notes["size_bytes"] = fmt.Sprint(size)
		path = filepath.Join(dir, fmt.Sprintf("vcbench-disk-%d.dat", os.Getpid()))
		defer os.Remove(path)
		notes["target"] = "file"
	} else {
		notes["target"] = "block device"
		if st, err := os.Stat(path); err == nil && st.Mode()&os.ModeDevice != 0 {
			if f, err := os.Open(path); err == nil {
				if devSize, err := f.Seek(0, 2); err == nil && devSize < size {
					size = devSize &^ (diskSeqBlock - 1)
					notes["size_bytes"] = fmt.Sprint(size)
				}
				f.Close()
			}
		}
	}
	notes["path"] = path
	if size < diskSeqBlock {
		return nil, fmt.Errorf("scratch space of %d bytes is below one 1 MiB block", size)
	}
	f, direct, err := openDirect(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("open scratch %s: %w", path, err)
	}
	defer f.Close()
	notes["o_direct"] = fmt.Sprint(direct)
	if !direct {
		warnings = append(warnings, "O_DIRECT not supported here: buffered I/O with fdatasync and fadvise(DONTNEED); reads may hit the page cache")
	}
	buf, free, err := alignedBuf(diskSeqBlock)
	if err != nil {
		return nil, err
	}
	defer free()
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	evict := func() {
		if !direct {
			unix.Fdatasync(int(f.Fd()))
			unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		}
	}

	// Sequential write, then fsync: bytes/s including the flush.
	start := time.Now()
	for off := int64(0); off < size; off += diskSeqBlock {
		if _, err := f.WriteAt(buf, off); err != nil {
			return nil, fmt.Errorf("sequential write at %d: %w", off, err)
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fsync: %w", err)
	}
	seqW := time.Since(start)
	evict()

	start = time.Now()
	for off := int64(0); off < size; off += diskSeqBlock {
		if _, err := f.ReadAt(buf, off); err != nil {
			return nil, fmt.Errorf("sequential read at %d: %w", off, err)
		}
	}
	seqR := time.Since(start)
	evict()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	blocks := size / diskRandBlock
	rng := rand.New(rand.NewPCG(1, 2)) // fixed offsets: the same pattern in every runtime
	small := buf[:diskRandBlock]
	randOp := func(op string, do func(off int64) error) (time.Duration, []time.Duration, error) {
		lat := make([]time.Duration, ops)
		start := time.Now()
		for i := 0; i < ops; i++ {
			off := rng.Int64N(blocks) * diskRandBlock
			t := time.Now()
			if err := do(off); err != nil {
				return 0, nil, fmt.Errorf("random %s at %d: %w", op, off, err)
			}
			lat[i] = time.Since(t)
			env.Observe("rand_"+op, lat[i])
		}
		return time.Since(start), lat, nil
	}
	rrTime, rrLat, err := randOp("read", func(off int64) error { _, err := f.ReadAt(small, off); return err })
	if err != nil {
		return nil, err
	}
	rwTime, rwLat, err := randOp("write", func(off int64) error { _, err := f.WriteAt(small, off); return err })
	if err != nil {
		return nil, err
	}
	syncStart := time.Now()
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fsync: %w", err)
	}
	rwTime += time.Since(syncStart)
	sortDurations(rrLat)
	sortDurations(rwLat)
	return &Result{
		Metrics: []Metric{
			higher("seq_write", UnitBytesPerSecond, float64(size)/seqW.Seconds()),
			higher("seq_read", UnitBytesPerSecond, float64(size)/seqR.Seconds()),
			higher("rand_read_iops", UnitOpsPerSecond, float64(ops)/rrTime.Seconds()),
			higher("rand_write_iops", UnitOpsPerSecond, float64(ops)/rwTime.Seconds()),
			lower("rand_read_p50", UnitSeconds, percentile(rrLat, 0.50).Seconds()),
			lower("rand_read_p99", UnitSeconds, percentile(rrLat, 0.99).Seconds()),
			lower("rand_write_p50", UnitSeconds, percentile(rwLat, 0.50).Seconds()),
			lower("rand_write_p99", UnitSeconds, percentile(rwLat, 0.99).Seconds()),
		},
		Notes:    notes,
		Warnings: warnings,
	}, nil
}
