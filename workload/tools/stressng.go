package tools

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// StressNGVersion is the stress-ng whose stressors IsStressor knows: the
// tools image's (Debian bookworm).
const StressNGVersion = "0.15.06"

// stressorList is `stress-ng --stressors` of StressNGVersion.
//
//go:embed stressors-0.15.06.txt
var stressorList string

var stressors = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Fields(stressorList) {
		m[s] = true
	}
	return m
}()

// IsStressor reports whether name is a stressor of StressNGVersion.
func IsStressor(name string) bool { return stressors[name] }

// stress-ng defaults.
const DefaultStressNGRuntime = 5 * time.Second

// DefaultStressors run when a workload names none.
var DefaultStressors = []string{"cpu"}

// StressNGArgs is stress-ng's command line for p, writing its metrics as
// YAML to yamlPath.
func StressNGArgs(p Params, yamlPath string) []string {
	list := p.Stressors
	if len(list) == 0 {
		list = DefaultStressors
	}
	argv := []string{"stress-ng"}
	for _, s := range list {
		argv = append(argv, "--"+s, strconv.Itoa(orInt(p.Workers, 1)))
	}
	return append(argv, "--timeout", strconv.Itoa(p.Runtime.seconds(DefaultStressNGRuntime))+"s",
		"--metrics", "--yaml", yamlPath)
}

// RunStressNG runs the stressors at once and reads their metrics back
// from the YAML file stress-ng writes (in the scratch directory, removed
// afterwards).
func RunStressNG(ctx context.Context, r Runner, p Params) (*Output, error) {
	yamlPath := filepath.Join(r.ScratchDir(), "vcbench-stress-ng-"+strconv.FormatUint(rand.Uint64(), 36)+".yaml")
	host := r.HostPath(yamlPath)
	defer removeAll(host)
	argv := StressNGArgs(p, yamlPath)
	_, stderr, err := run(ctx, r, r.ScratchDir(), argv...)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(host)
	if err != nil {
		return nil, parseFailed("stress-ng", argv[1:], stderr, err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return nil, parseFailed("stress-ng", argv[1:], stderr, err)
	}
	figs, err := ParseStressNG(bytesReader(raw))
	if err != nil {
		return nil, parseFailed("stress-ng", argv[1:], stderr, err)
	}
	return &Output{Figures: figs, Raw: raw, Command: argv}, nil
}

type stressNGReport struct {
	Metrics []struct {
		Stressor string   `yaml:"stressor"`
		BogoOps  *float64 `yaml:"bogo-ops"`
		RealTime *float64 `yaml:"bogo-ops-per-second-real-time"`
		UsrSys   *float64 `yaml:"bogo-ops-per-second-usr-sys-time"`
	} `yaml:"metrics"`
}

// ParseStressNG reads stress-ng's --yaml report and returns, per stressor,
// <stressor>_bogo_ops_per_second (bogo operations per second of wall time,
// '-' in names as '_'). Bogo-ops are a stressor's own unit of work: they
// compare one stressor across runtimes, never two stressors.
func ParseStressNG(r io.Reader) ([]Figure, error) {
	var rep stressNGReport
	if err := yaml.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("stress-ng YAML: %w", err)
	}
	var figs []Figure
	for _, m := range rep.Metrics {
		if m.Stressor == "" || m.RealTime == nil {
			continue
		}
		v := *m.RealTime
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("stress-ng %s: bogo-ops/s %v", m.Stressor, v)
		}
		figs = append(figs, higher(strings.ReplaceAll(m.Stressor, "-", "_")+"_bogo_ops_per_second", UnitOpsPerSecond, v))
	}
	if len(figs) == 0 {
		return nil, fmt.Errorf("no stressor metrics in stress-ng's YAML: %w", ErrNoFigures)
	}
	return figs, nil
}
