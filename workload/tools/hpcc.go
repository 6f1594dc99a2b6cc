package tools

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The HPC Challenge tests a workload reports (Felter et al.'s LINPACK,
// STREAM and RandomAccess). hpcc always runs all of its tests, sized from
// one HPL problem size N: its STREAM arrays and RandomAccess table take
// about as much memory as HPL's N×N matrix. Each workload reports its own
// test's figures.
const (
	HPCCHPL          = "hpl"
	HPCCStream       = "stream"
	HPCCRandomAccess = "randomaccess"
)

// hpcc's sizing.
const (
	// HPCCBlock is HPL's block size NB; N is a multiple of 2·NB, as hpcc's
	// own defaults make it, so that PTRANS (N/2) divides into blocks too.
	HPCCBlock = 80
	// DefaultHPCCMatrixBytes caps the default N: an 8·N² matrix of at
	// most 128 MiB (N = 4000), the same N in every instance with the
	// memory for it, so that the runtimes compare one problem. HPL's work
	// grows as N³: a larger default would take minutes under emulation.
	DefaultHPCCMatrixBytes = 128 << 20
	// MaxHPCCN bounds an explicit `n` (8·N² = 32 GiB).
	MaxHPCCN = 65536
	// hpccInput and hpccOutput are the files hpcc reads and appends to in
	// its working directory.
	hpccInput  = "hpccinf.txt"
	hpccOutput = "hpccoutf.txt"
)

// HPCCProblemSize is the default N for a memory budget (bytes the workload
// may take): the largest multiple of 2·HPCCBlock whose 8·N² matrix fits in
// the budget and in DefaultHPCCMatrixBytes. bounded says the budget, not
// the cap, decided; zero N means not even the smallest matrix fits.
func HPCCProblemSize(budget uint64) (n int, bounded bool) {
	limit := uint64(DefaultHPCCMatrixBytes)
	if budget > 0 && budget < limit {
		limit, bounded = budget, true
	}
	n = int(math.Sqrt(float64(limit) / 8))
	n -= n % (2 * HPCCBlock)
	return n, bounded
}

// HPCCMatrixBytes is the memory of HPL's matrix for N (8·N² bytes), about
// what hpcc needs at once.
func HPCCMatrixBytes(n int) uint64 { return 8 * uint64(n) * uint64(n) }

// HPCCGrid is the P×Q process grid for procs processes, as hpcc's own
// defaults choose it: the most nearly square with P ≤ Q.
func HPCCGrid(procs int) (p, q int) {
	procs = max(procs, 1)
	for i := int(math.Sqrt(float64(procs))); i > 1; i-- {
		if procs%i == 0 {
			return i, procs / i
		}
	}
	return 1, procs
}

// HPCCInput is hpccinf.txt for problem size n on procs processes: HPL's
// input (one N, one NB, the P×Q grid, hpcc's sample choices for the rest)
// and the PTRANS lines, which add no sizes of their own.
func HPCCInput(n, procs int) []byte {
	p, q := HPCCGrid(procs)
	lines := [][2]string{
		{"HPLinpack benchmark input file", ""},
		{"written by vcbench", ""},
		{"HPL.out", "output file name (if any)"},
		{"8", "device out (6=stdout,7=stderr,file)"},
		{"1", "# of problems sizes (N)"},
		{strconv.Itoa(n), "Ns"},
		{"1", "# of NBs"},
		{strconv.Itoa(HPCCBlock), "NBs"},
		{"0", "PMAP process mapping (0=Row-,1=Column-major)"},
		{"1", "# of process grids (P x Q)"},
		{strconv.Itoa(p), "Ps"},
		{strconv.Itoa(q), "Qs"},
		{"16.0", "threshold"},
		{"1", "# of panel fact"},
		{"2", "PFACTs (0=left, 1=Crout, 2=Right)"},
		{"1", "# of recursive stopping criterium"},
		{"4", "NBMINs (>= 1)"},
		{"1", "# of panels in recursion"},
		{"2", "NDIVs"},
		{"1", "# of recursive panel fact."},
		{"1", "RFACTs (0=left, 1=Crout, 2=Right)"},
		{"1", "# of broadcast"},
		{"1", "BCASTs (0=1rg,1=1rM,2=2rg,3=2rM,4=Lng,5=LnM)"},
		{"1", "# of lookahead depth"},
		{"1", "DEPTHs (>=0)"},
		{"2", "SWAP (0=bin-exch,1=long,2=mix)"},
		{"64", "swapping threshold"},
		{"0", "L1 in (0=transposed,1=no-transposed) form"},
		{"0", "U  in (0=transposed,1=no-transposed) form"},
		{"1", "Equilibration (0=no,1=yes)"},
		{"8", "memory alignment in double (> 0)"},
		{"##### This line (no. 32) is ignored (it serves as a separator). ######", ""},
		{"0", "Number of additional problem sizes for PTRANS"},
		{"1200", "values of N"},
		{"0", "number of additional blocking sizes for PTRANS"},
		{"40", "values of NB"},
	}
	var b strings.Builder
	for _, l := range lines {
		if l[1] == "" {
			b.WriteString(l[0] + "\n")
			continue
		}
		fmt.Fprintf(&b, "%-12s %s\n", l[0], l[1])
	}
	return []byte(b.String())
}

// HPCCArgs is the command line that runs hpcc on procs processes: Open
// MPI's mpirun, which the tools image's hpcc is built against (as root,
// which mpirun refuses unless told; oversubscribed rather than refused
// where Open MPI counts fewer cores than the instance may use).
func HPCCArgs(procs int) []string {
	return []string{"mpirun", "--allow-run-as-root", "--oversubscribe", "-np", strconv.Itoa(max(procs, 1)), "hpcc"}
}

// RunHPCC runs hpcc at problem size n on procs processes in a directory
// of its own under the scratch directory (hpccinf.txt in, hpccoutf.txt
// out; Open MPI's session files there too, as TMPDIR: the root may be
// read-only) and returns test's figures (HPCCHPL, HPCCStream or
// HPCCRandomAccess). The directory is removed afterwards.
func RunHPCC(ctx context.Context, r Runner, test string, n, procs int) (*Output, error) {
	if n <= 0 || n > MaxHPCCN {
		return nil, fmt.Errorf("hpcc: problem size %d outside 1..%d", n, MaxHPCCN)
	}
	procs = max(procs, 1)
	dir := filepath.Join(r.ScratchDir(), "vcbench-hpcc-"+strconv.FormatUint(rand.Uint64(), 36))
	host := r.HostPath(dir)
	if err := os.MkdirAll(host, 0o755); err != nil {
		return nil, fmt.Errorf("hpcc directory: %w", err)
	}
	defer removeAll(host)
	if err := os.WriteFile(filepath.Join(host, hpccInput), HPCCInput(n, procs), 0o644); err != nil {
		return nil, fmt.Errorf("hpcc input: %w", err)
	}
	argv := HPCCArgs(procs)
	_, stderr, err := runEnv(ctx, r, dir, []string{"TMPDIR=" + dir}, argv...)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(host, hpccOutput))
	if err != nil {
		return nil, parseFailed("hpcc", argv[1:], stderr, err)
	}
	s, err := ParseHPCC(bytesReader(raw))
	if err != nil {
		return nil, parseFailed("hpcc", argv[1:], stderr, err)
	}
	// hpcc falls back to its own defaults when it cannot read its input,
	// and still succeeds: figures for another problem are no figures.
	if got := s.Int("HPL_N"); got != n {
		return nil, parseFailed("hpcc", argv[1:], stderr, fmt.Errorf("hpcc ran N=%d, not the N=%d of its input", got, n))
	}
	if got := s.Int("CommWorldProcs"); got != procs {
		return nil, parseFailed("hpcc", argv[1:], stderr, fmt.Errorf("hpcc ran on %d processes, not %d", got, procs))
	}
	figs, err := s.Figures(test)
	if err != nil {
		return nil, parseFailed("hpcc", argv[1:], stderr, err)
	}
	p, q := HPCCGrid(procs)
	notes := map[string]string{
		"n": strconv.Itoa(n), "nb": strconv.Itoa(HPCCBlock), "processes": strconv.Itoa(procs),
		"grid": fmt.Sprintf("%dx%d", p, q), "matrix_bytes": strconv.FormatUint(HPCCMatrixBytes(n), 10),
	}
	for _, k := range []string{"STREAM_VectorSize", "RandomAccess_N", "MPIRandomAccess_N", "DGEMM_N", "FFT_N"} {
		if v, ok := s[k]; ok {
			notes[strings.ToLower(k)] = v
		}
	}
	return &Output{Figures: figs, Raw: raw, Command: argv, Notes: notes}, nil
}

// HPCCSummary is the "Summary section" of hpccoutf.txt: key=value lines
// (HPL_Tflops, StarSTREAM_Triad, MPIRandomAccess_GUPs, ...), as text.
type HPCCSummary map[string]string

// ParseHPCC reads hpccoutf.txt (hpcc 1.5) and returns its summary section;
// an output without one (hpcc stopped early), or whose Success is not 1,
// is an error.
func ParseHPCC(r io.Reader) (HPCCSummary, error) {
	s := HPCCSummary{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	in, ended := false, false
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		switch {
		case t == "Begin of Summary section.":
			in = true
		case t == "End of Summary section.":
			if in {
				ended = true
			}
			in = false
		case in:
			if k, v, ok := strings.Cut(t, "="); ok && k != "" {
				s[k] = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !ended {
		return nil, fmt.Errorf("no complete summary section in hpcc's output: %w", ErrNoFigures)
	}
	if s["Success"] != "1" {
		return nil, fmt.Errorf("hpcc reports Success=%q (a test failed its verification)", s["Success"])
	}
	return s, nil
}

// Float is key's value, or -1 (hpcc's "not run") when absent or not a number.
func (s HPCCSummary) Float(key string) float64 {
	f, err := strconv.ParseFloat(s[key], 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return -1
	}
	return f
}

// Int is key's integer value, or -1.
func (s HPCCSummary) Int(key string) int {
	n, err := strconv.Atoi(s[key])
	if err != nil {
		return -1
	}
	return n
}

// hpccFigure is one figure of the summary: its key, hpcc's unit (the
// multiplier to the base unit) and whether it scales with the number of
// processes (a Star figure is each process's while all run at once).
type hpccFigure struct {
	name, key, unit string
	mult            float64
	perProcess      bool
}

var hpccFigures = map[string][]hpccFigure{
	// HPL_Tflops is the whole grid's rate.
	HPCCHPL: {
		{"flops", "HPL_Tflops", UnitOpsPerSecond, 1e12, false},
	},
	// STREAM in GB/s of 10⁹ bytes: Star (every process at once, summed
	// here over the processes) and Single (one process, the others idle).
	HPCCStream: {
		{"triad", "StarSTREAM_Triad", UnitBytesPerSecond, 1e9, true},
		{"copy", "StarSTREAM_Copy", UnitBytesPerSecond, 1e9, true},
		{"scale", "StarSTREAM_Scale", UnitBytesPerSecond, 1e9, true},
		{"add", "StarSTREAM_Add", UnitBytesPerSecond, 1e9, true},
		{"single_triad", "SingleSTREAM_Triad", UnitBytesPerSecond, 1e9, false},
	},
	// RandomAccess in GUP/s (10⁹ updates a second): Star summed over the
	// processes, Single, and the MPI version (one table across processes).
	HPCCRandomAccess: {
		{"updates", "StarRandomAccess_GUPs", UnitOpsPerSecond, 1e9, true},
		{"single_updates", "SingleRandomAccess_GUPs", UnitOpsPerSecond, 1e9, false},
		{"mpi_updates", "MPIRandomAccess_GUPs", UnitOpsPerSecond, 1e9, false},
	},
}

// HPCCTests lists the tests a workload may report.
var HPCCTests = []string{HPCCHPL, HPCCStream, HPCCRandomAccess}

// Figures returns test's figures in base units: hpl's flops (flop/s);
// stream's triad, copy, scale, add (bytes/s of all processes at once) and
// single_triad; randomaccess's updates (updates/s of all processes at
// once), single_updates and mpi_updates. A figure hpcc did not produce
// (−1) is an error.
func (s HPCCSummary) Figures(test string) ([]Figure, error) {
	want, ok := hpccFigures[test]
	if !ok {
		return nil, fmt.Errorf("%q is not an hpcc test (allowed: %s)", test, strings.Join(HPCCTests, ", "))
	}
	procs := s.Int("CommWorldProcs")
	if procs < 1 {
		return nil, errors.New("hpcc's summary has no CommWorldProcs")
	}
	var figs []Figure
	for _, f := range want {
		v := s.Float(f.key)
		if v < 0 {
			return nil, fmt.Errorf("hpcc did not produce %s (%s=%q): %w", f.key, f.key, s[f.key], ErrNoFigures)
		}
		v *= f.mult
		if f.perProcess {
			v *= float64(procs)
		}
		figs = append(figs, higher(f.name, f.unit, v))
	}
	return figs, nil
}
