package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FioRWs are fio's rw patterns a workload may ask for.
var FioRWs = []string{"read", "write", "randread", "randwrite", "rw", "readwrite", "randrw"}

// FioEngines are the I/O engines a workload may ask for (fio's built-in
// ones that need no server or special device).
var FioEngines = []string{"libaio", "io_uring", "psync", "sync", "pvsync2", "posixaio", "mmap"}

// fio defaults.
const (
	DefaultFioRW       = "randread"
	DefaultFioBS       = Size(4 << 10)
	DefaultFioSize     = Size(64 << 20)
	DefaultFioEngine   = "libaio"
	DefaultFioRuntime  = 5 * time.Second
	DefaultFioNumJobs  = 1
	DefaultFioIODepth  = 1
	fioScratchFileName = "vcbench-fio.dat"
)

// FioArgs is fio's command line for p on target (a file or a block
// device), time-based for the runtime, one group report, JSON output.
func FioArgs(p Params, target string) []string {
	direct := p.Direct == nil || *p.Direct
	d := 0
	if direct {
		d = 1
	}
	return []string{"fio",
		"--name=vcbench",
		"--filename=" + target,
		"--rw=" + orString(p.RW, DefaultFioRW),
		"--bs=" + strconv.FormatInt(int64(orSize(p.BS, DefaultFioBS)), 10),
		"--iodepth=" + strconv.Itoa(orInt(p.IODepth, DefaultFioIODepth)),
		"--numjobs=" + strconv.Itoa(orInt(p.NumJobs, DefaultFioNumJobs)),
		"--size=" + strconv.FormatInt(int64(orSize(p.Size, DefaultFioSize)), 10),
		"--direct=" + strconv.Itoa(d),
		"--ioengine=" + orString(p.IOEngine, DefaultFioEngine),
		"--runtime=" + strconv.Itoa(p.Runtime.seconds(DefaultFioRuntime)),
		"--time_based",
		"--group_reporting",
		"--output-format=json",
	}
}

// FioLayoutBS is the block size of the layout pass (FioLayoutArgs).
const FioLayoutBS = Size(1 << 20)

// FioLayoutArgs is the pass that writes target's first size bytes once,
// sequentially in FioLayoutBS blocks with O_DIRECT, before the measured
// job on a block device. A VM's scratch disk is a sparse file on the
// host: a never-written block is a hole, which the host answers without
// touching the disk, so a read job would measure holes (faster than
// native) and a write job the host's block allocation. fio lays out a new
// file itself (it writes it before the job runs); this does the same for
// a device. Every job reads [0, size) of the device (numjobs share it),
// so one pass of size covers them. Its figures are not counted.
func FioLayoutArgs(p Params, target string) []string {
	return []string{"fio",
		"--name=vcbench-layout",
		"--filename=" + target,
		"--rw=write",
		"--bs=" + strconv.FormatInt(int64(FioLayoutBS), 10),
		"--size=" + strconv.FormatInt(int64(orSize(p.Size, DefaultFioSize)), 10),
		"--direct=1",
		"--ioengine=psync",
		"--output-format=json",
	}
}

func orString(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// RunFio runs fio on the instance's scratch block device when it has one
// (a VM), else on a file in its scratch directory (removed afterwards).
// Either way the job runs on data written before it: fio lays out a new
// file itself, and a device gets a layout pass first (FioLayoutArgs),
// whose command and figures the notes keep apart from the job's.
func RunFio(ctx context.Context, r Runner, p Params) (*Output, error) {
	target := r.DiskPath()
	notes := map[string]string{}
	if target == "" {
		target = filepath.Join(r.ScratchDir(), fioScratchFileName)
		defer removeAll(r.HostPath(target))
		notes["target"] = "file in the scratch directory"
		notes["layout"] = "fio writes the new file before the job (its own layout)"
	} else {
		notes["target"] = "block device " + target
		if err := layOut(ctx, r, p, target, notes); err != nil {
			return nil, err
		}
	}
	argv := FioArgs(p, target)
	stdout, stderr, err := run(ctx, r, r.ScratchDir(), argv...)
	if err != nil {
		return nil, err
	}
	figs, err := ParseFio(bytesReader(stdout))
	if err != nil {
		return nil, parseFailed("fio", argv[1:], stderr, err)
	}
	return &Output{Figures: figs, Raw: stdout, Command: argv, Notes: notes}, nil
}

// layOut runs the layout pass on a block device and notes what it wrote.
func layOut(ctx context.Context, r Runner, p Params, target string, notes map[string]string) error {
	argv := FioLayoutArgs(p, target)
	start := time.Now()
	stdout, stderr, err := run(ctx, r, r.ScratchDir(), argv...)
	if err != nil {
		return fmt.Errorf("lay out %s before the fio job: %w", target, err)
	}
	figs, err := ParseFio(bytesReader(stdout))
	if err != nil {
		return parseFailed("fio (layout)", argv[1:], stderr, err)
	}
	bw := 0.0
	for _, f := range figs {
		if f.Name == "write_bw" {
			bw = f.Value
		}
	}
	if bw <= 0 {
		return fmt.Errorf("lay out %s before the fio job: fio wrote nothing", target)
	}
	notes["layout"] = fmt.Sprintf("wrote the job's %d bytes of %s sequentially first (%d-byte O_DIRECT blocks, %.3g bytes/s, %.2f s), not counted: a never-written block of the sparse disk file is a hole the host answers without its disk",
		int64(orSize(p.Size, DefaultFioSize)), target, int64(FioLayoutBS), bw, time.Since(start).Seconds())
	notes["layout_command"] = strings.Join(argv, " ")
	return nil
}

// fioReport is the part of fio's --output-format=json (fio 3.x) vcbench reads.
type fioReport struct {
	Version string   `json:"fio version"`
	Jobs    []fioJob `json:"jobs"`
}

type fioJob struct {
	Name  string `json:"jobname"`
	Error int    `json:"error"`
	Read  fioDir `json:"read"`
	Write fioDir `json:"write"`
	Trim  fioDir `json:"trim"`
}

type fioDir struct {
	IOBytes int64   `json:"io_bytes"`
	BW      float64 `json:"bw_bytes"` // bytes per second
	IOPS    float64 `json:"iops"`
	ClatNS  struct {
		N          int64              `json:"N"`
		Percentile map[string]float64 `json:"percentile"`
	} `json:"clat_ns"`
}

// ParseFio reads fio's JSON report and returns, for each direction that
// moved data (read, write, trim), its bandwidth (<dir>_bw, bytes/s), IOPS
// (<dir>_iops) and completion latency percentiles (<dir>_clat_p50,
// _p99, _p99_9, seconds). Jobs' bandwidths and IOPS add up; with several
// jobs (no group reporting) the latency percentiles are the worst job's.
// A job that reports an error is an error.
func ParseFio(r io.Reader) ([]Figure, error) {
	var rep fioReport
	// fio may print notes ("fio: ...") before the JSON on stdout.
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, err
	}
	if i := indexByte(b, '{'); i > 0 {
		b = b[i:]
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("fio JSON: %w", err)
	}
	if len(rep.Jobs) == 0 {
		return nil, fmt.Errorf("fio JSON has no jobs: %w", ErrNoFigures)
	}
	type agg struct {
		bw, iops float64
		p        [3]float64
		moved    bool
	}
	dirs := []string{"read", "write", "trim"}
	sums := make([]agg, len(dirs))
	for _, j := range rep.Jobs {
		if j.Error != 0 {
			return nil, fmt.Errorf("fio job %s failed with error %d", j.Name, j.Error)
		}
		for i, d := range []fioDir{j.Read, j.Write, j.Trim} {
			if d.IOBytes <= 0 {
				continue
			}
			s := &sums[i]
			s.moved = true
			s.bw += d.BW
			s.iops += d.IOPS
			for k, q := range []string{"50.000000", "99.000000", "99.900000"} {
				v, ok := d.ClatNS.Percentile[q]
				if !ok {
					return nil, fmt.Errorf("fio %s: no clat percentile %s", dirs[i], q)
				}
				s.p[k] = math.Max(s.p[k], v/1e9)
			}
		}
	}
	var figs []Figure
	for i, s := range sums {
		if !s.moved {
			continue
		}
		d := dirs[i]
		figs = append(figs,
			higher(d+"_bw", UnitBytesPerSecond, s.bw),
			higher(d+"_iops", UnitOpsPerSecond, s.iops),
			lower(d+"_clat_p50", UnitSeconds, s.p[0]),
			lower(d+"_clat_p99", UnitSeconds, s.p[1]),
			lower(d+"_clat_p99_9", UnitSeconds, s.p[2]),
		)
	}
	if len(figs) == 0 {
		return nil, fmt.Errorf("fio moved no data: %w", ErrNoFigures)
	}
	return figs, nil
}
