package tools

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hpccFigures parses a recorded hpccoutf.txt into test's figures.
func hpccParse(test string) func(r *bytes.Reader) ([]Figure, error) {
	return func(r *bytes.Reader) ([]Figure, error) {
		s, err := ParseHPCC(r)
		if err != nil {
			return nil, err
		}
		return s.Figures(test)
	}
}

func init() {
	// Real hpccoutf.txt of the tools image's hpcc 1.5.0 (Debian 1.5.0-3,
	// Open MPI 4.1), N=1000 on one and two processes, recorded here.
	for _, t := range HPCCTests {
		parsers["hpcc-"+t] = hpccParse(t)
	}
}

// hpccFixture parses a recorded output for test, against the golden file
// <file>.<test>.golden.
func hpccFixture(t *testing.T, test, file string) []Figure {
	t.Helper()
	figs, err := parsers["hpcc-"+test](bytes.NewReader(mustRead(t, file)))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	golden(t, file+"."+test, format(figs))
	return figs
}

func TestParseHPCC(t *testing.T) {
	figs := hpccFixture(t, HPCCHPL, "hpcc-1.5.0-np2-n1000.txt")
	near(t, "flops", figure(t, figs, "flops"), 0.0041353e12)
	figs = hpccFixture(t, HPCCStream, "hpcc-1.5.0-np2-n1000.txt")
	// Star is per process: two processes at once move twice as much.
	near(t, "triad", figure(t, figs, "triad"), 2*30.1945e9)
	near(t, "single_triad", figure(t, figs, "single_triad"), 30.4895e9)
	figs = hpccFixture(t, HPCCRandomAccess, "hpcc-1.5.0-np2-n1000.txt")
	near(t, "updates", figure(t, figs, "updates"), 2*0.400794e9)
	near(t, "single_updates", figure(t, figs, "single_updates"), 0.73007e9)
	near(t, "mpi_updates", figure(t, figs, "mpi_updates"), 0.0314136e9)
	hpccFixture(t, HPCCHPL, "hpcc-1.5.0-np1-n1000.txt")
	hpccFixture(t, HPCCRandomAccess, "hpcc-1.5.0-np1-n1000.txt")
	figs = hpccFixture(t, HPCCStream, "hpcc-1.5.0-np1-n1000.txt")
	if figure(t, figs, "triad") != figure(t, figs, "single_triad") {
		t.Errorf("one process: Star and Single triad differ: %v", figs)
	}
	b, _ := os.ReadFile("testdata/hpcc-1.5.0-np1-n1000.txt")
	s, err := ParseHPCC(bytes.NewReader(b))
	if err != nil || s.Int("HPL_N") != 1000 || s.Int("CommWorldProcs") != 1 || s.Int("STREAM_VectorSize") != 333333 {
		t.Errorf("summary %v, %v", s, err)
	}
	if _, err := s.Figures("ptrans"); err == nil {
		t.Error("an unknown test gave figures")
	}
}

// TestParseHPCCFailures: hpcc's complaint about its input (on stderr),
// a truncated output and a failed verification are errors.
func TestParseHPCCFailures(t *testing.T) {
	b, _ := os.ReadFile("testdata/hpcc-1.5.0-np1-n1000.txt")
	for name, in := range map[string][]byte{
		"stderr":    mustRead(t, "hpcc-1.5.0-badinput.err"),
		"empty":     nil,
		"truncated": b[:bytes.Index(b, []byte("End of Summary section."))],
		"failed":    bytes.Replace(b, []byte("Success=1"), []byte("Success=0"), 1),
	} {
		if s, err := ParseHPCC(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: parsed to %v", name, s)
		}
	}
	s, _ := ParseHPCC(bytes.NewReader(regexp.MustCompile(`(?m)^HPL_Tflops=.*$`).ReplaceAll(b, []byte("HPL_Tflops=-1"))))
	if _, err := s.Figures(HPCCHPL); !errors.Is(err, ErrNoFigures) {
		t.Errorf("HPL not run: %v, want ErrNoFigures", err)
	}
}

func mustRead(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHPCCSizing(t *testing.T) {
	for _, c := range []struct {
		budget  uint64
		n       int
		bounded bool
	}{
		{0, 4000, false},       // unknown memory: the cap
		{8 << 30, 4000, false}, // plenty: the cap, the same N everywhere
		{64 << 20, 2880, true}, // sqrt(64 MiB / 8) = 2896 → 2880
		{1 << 20, 320, true},
		{100 << 10, 0, true},
	} {
		n, bounded := HPCCProblemSize(c.budget)
		if n != c.n || bounded != c.bounded {
			t.Errorf("HPCCProblemSize(%d) = %d, %v; want %d, %v", c.budget, n, bounded, c.n, c.bounded)
		}
		if n%(2*HPCCBlock) != 0 || (c.budget > 0 && HPCCMatrixBytes(n) > c.budget) {
			t.Errorf("N=%d for %d bytes", n, c.budget)
		}
	}
	for procs, want := range map[int][2]int{0: {1, 1}, 1: {1, 1}, 2: {1, 2}, 4: {2, 2}, 6: {2, 3}, 7: {1, 7}, 16: {4, 4}} {
		if p, q := HPCCGrid(procs); p != want[0] || q != want[1] {
			t.Errorf("HPCCGrid(%d) = %dx%d, want %dx%d", procs, p, q, want[0], want[1])
		}
	}
}

// TestHPCCInput: the input hpcc reads has N, NB and the grid where HPL's
// reader looks for them (lines 6, 8, 11, 12) and hpcc's 36 lines.
func TestHPCCInput(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(string(HPCCInput(2400, 4)), "\n"), "\n")
	if len(lines) != 36 {
		t.Fatalf("%d lines, want 36", len(lines))
	}
	for i, want := range map[int]string{5: "2400", 7: "80", 10: "2", 11: "2"} {
		if f := strings.Fields(lines[i]); len(f) == 0 || f[0] != want {
			t.Errorf("line %d: %q, want %s first", i+1, lines[i], want)
		}
	}
	if got := strings.Join(HPCCArgs(2), " "); got != "mpirun --allow-run-as-root --oversubscribe -np 2 hpcc" {
		t.Errorf("hpcc args: %s", got)
	}
}

// TestRunHPCC drives RunHPCC with a fake mpirun: the input it is given
// reaches hpcc's working directory, an output for another N (hpcc's
// fallback to its defaults when its input is unreadable) is an error with
// the tool's stderr, and nothing is left in the scratch directory.
func TestRunHPCC(t *testing.T) {
	r := shRunner{dir: t.TempDir()}
	fixture, _ := filepath.Abs("testdata/hpcc-1.5.0-np1-n1000.txt")
	// The fake runs in the runner's directory; it finds hpcc's through TMPDIR.
	fakeTool(t, "mpirun", `cd "$TMPDIR" && grep -q '^1000 *Ns' hpccinf.txt && cp `+fixture+` hpccoutf.txt; echo 'mpirun: note' >&2`+"\n")
	out, err := RunHPCC(context.Background(), r, HPCCStream, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if figure(t, out.Figures, "triad") <= 0 || out.Notes["n"] != "1000" || out.Notes["stream_vectorsize"] != "333333" {
		t.Errorf("output %+v", out)
	}
	_, err = RunHPCC(context.Background(), r, HPCCHPL, 2000, 1)
	var te *Error
	if !errors.As(err, &te) || !strings.Contains(te.Stderr, "mpirun: note") {
		t.Errorf("no output for N=2000: %v, want an *Error with stderr", err)
	}
	// What hpcc 1.5.0 really wrote, with success, for an input it could
	// not read: its default N from 64 MiB.
	defaults, _ := filepath.Abs("testdata/hpcc-1.5.0-badinput-defaults.txt")
	fakeTool(t, "mpirun", `cd "$TMPDIR" && cp `+defaults+` hpccoutf.txt`+"\n")
	if _, err := RunHPCC(context.Background(), r, HPCCHPL, 2000, 1); err == nil || !strings.Contains(err.Error(), "N=2560, not the N=2000") {
		t.Errorf("hpcc ran another N: %v", err)
	}
	if ents, _ := os.ReadDir(r.dir); len(ents) != 0 {
		t.Errorf("RunHPCC left %v in the scratch directory", ents)
	}
}

func FuzzParseHPCC(f *testing.F) {
	fuzzSeeds(f, "hpcc-1.5.0-np2-n1000.txt", "hpcc-1.5.0-badinput.err")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseHPCC(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, test := range HPCCTests {
			figs, err := s.Figures(test)
			checkFigures(t, figs, err)
			for _, f := range figs {
				if f.Value < 0 {
					t.Fatalf("%s = %v", f.Name, f.Value)
				}
			}
		}
	})
}
