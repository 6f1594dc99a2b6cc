package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"vcbench/bench"
	"vcbench/report"
	"vcbench/scenarios"
)

// newCalibrateCmd is `vcbench calibrate SCENARIO [--runtime R] [--trials N]`.
func newCalibrateCmd() *cobra.Command {
	o := &runOptions{noReport: true}
	var perGroup, resamples int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "calibrate SCENARIO|FILE [--runtime R] [--trials N]",
		Short: "Measure how often compare cries wolf on this host, and the smallest change it can see",
		Long: `calibrate runs the scenario once with 2N trials, through the same runner as
'vcbench run' (round-robin over runtimes), and treats the even trials and the
odd trials as two interleaved runs of the same runtimes: what compare would
see if nothing changed. For each runtime/workload/metric it reports:

  false alarms  the share of random splits of the 2N trials into two groups of
                N that compare's test (Mann–Whitney U, α=0.05) calls
                significant; it should be at most α
  MDE 90%       the smallest shift of one group, in percent of the median,
                that the test detects in at least 90% of those splits (found
                by simulation, so it holds for this metric's real noise, not
                a normal model)

and writes them to RUN_DIR/calibration.json, which 'vcbench compare' uses as
each metric's noise floor. N defaults to the scenario's trials: calibrate
with the n your comparisons will have.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("trials") {
				sc, err := scenarios.Open(args[0])
				if err != nil {
					return err
				}
				perGroup = sc.Trials
			}
			if perGroup < 2 {
				return fmt.Errorf("calibrate: --trials %d: want at least 2 trials per group", perGroup)
			}
			o.trials, o.trialsSet = 2*perGroup, true
			var runID string
			o.hooks.observers = append(o.hooks.observers, func(_ context.Context, info bench.RunInfo) (bench.Observer, func() error, error) {
				runID = info.RunID
				return nopObserver{}, nil, nil
			})
			if err := runScenario(cmd, args[0], o); err != nil {
				return fmt.Errorf("calibrate: %w", err)
			}
			root, err := filepath.Abs(o.out)
			if err != nil {
				return fmt.Errorf("calibrate: %w", err)
			}
			return calibrateRun(cmd.OutOrStdout(), filepath.Join(root, runID), report.CalibrateOptions{Resamples: resamples, Seed: seed})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.runtimes, "runtime", nil, "only these runtimes (names or kinds, comma-separated)")
	f.IntVar(&perGroup, "trials", 0, "trials per group N (the run has 2N); default: the scenario's trials")
	f.StringVar(&o.out, "out", "results", "root directory for run directories")
	f.StringVar(&o.accel, "accel", "", "override the accelerator of vm runtimes: auto, kvm or tcg")
	f.IntVar(&resamples, "resamples", report.DefaultResamples, "random splits per metric")
	f.Uint64Var(&seed, "seed", 1, "seed of the random splits (the same seed gives the same numbers)")
	o.paths.register(cmd)
	return cmd
}

// calibrateRun calibrates the run in dir, writes dir/calibration.json and
// prints the table.
func calibrateRun(w io.Writer, dir string, opt report.CalibrateOptions) error {
	run, err := bench.ReadRun(dir)
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	c := report.Calibrate(run, opt)
	if len(c.Metrics) == 0 {
		return fmt.Errorf("calibrate: run %s has no samples", dir)
	}
	path, err := report.WriteCalibration(dir, c)
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	if err := c.WriteText(w); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "calibration: %s\n", path)
	return err
}

// nopObserver lets calibrate learn the run id through the run hooks.
type nopObserver struct{}

func (nopObserver) Samples([]bench.Sample)        {}
func (nopObserver) TrialDone(string, bool, error) {}
func (nopObserver) Scraped(string, error)         {}
