package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"vcbench/bench"
	"vcbench/metrics/promrun"
	"vcbench/report"
)

// writeReport writes the run's report under RUN_DIR/report and returns the
// index.html path: what `vcbench run` does at its end.
func writeReport(run *bench.Run) (string, error) {
	return report.Write(run, filepath.Join(run.Dir, "report"), report.Options{Lang: "en"})
}

// newReportCmd is `vcbench report RUN_DIR [--out DIR] [--lang en|ko]`.
func newReportCmd() *cobra.Command {
	var out, lang, promURL, history string
	var runIDs, histMetrics []string
	var noPNG bool
	cmd := &cobra.Command{
		Use:   "report RUN_DIR [RUN_DIR...] | --prometheus URL --run-id ID [--run-id ID...] | --history DIR [--metric WORKLOAD/METRIC...]",
		Short: "Write the HTML/Markdown report of a run (several runs: side by side)",
		Long: `report reads results/<run-id>/ and writes index.html (one self-contained file,
charts inline), summary.md and charts/*.svg|png. The default output is
RUN_DIR/report/. Given several run directories (e.g. the same scenario on
several hosts), it draws them side by side, labelled by host name; then --out
is required.

With --prometheus, the runs are read back through the Prometheus HTTP API from
what vcbench pushed to a Pushgateway (--push-gateway) on one or more hosts;
hosts appear side by side.

With --history DIR, it reads every run directory under DIR, groups the runs
that share a scenario and host setup (compare's fingerprint: CPU, kernel,
governor, THP, KSM, mitigations, SMT, QEMU and runtime versions), and writes
DIR/history/index.html: the chosen figures (--metric startup/runtime_ready,
repeatable; default start-up, idle host memory and each workload's first
metric) over time, medians with 95% intervals, with the changes that compare
would call between consecutive runs marked.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if history != "" {
				if len(args) > 0 || promURL != "" || len(runIDs) > 0 {
					return fmt.Errorf("report: --history takes no run directories and no --prometheus")
				}
				return nil
			}
			if len(histMetrics) > 0 {
				return fmt.Errorf("report: --metric needs --history DIR")
			}
			if promURL != "" {
				if len(args) > 0 {
					return fmt.Errorf("report: give run directories or --prometheus, not both")
				}
				if len(runIDs) == 0 {
					return fmt.Errorf("report: --prometheus needs at least one --run-id")
				}
				if out == "" {
					return fmt.Errorf("report: --out is required with --prometheus")
				}
				return nil
			}
			if len(runIDs) > 0 {
				return fmt.Errorf("report: --run-id needs --prometheus URL")
			}
			return cobra.MinimumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if history != "" {
				for _, m := range histMetrics {
					if w, met, ok := strings.Cut(m, "/"); !ok || w == "" || met == "" {
						return fmt.Errorf("report: --metric %q: want WORKLOAD/METRIC, e.g. startup/runtime_ready", m)
					}
				}
				index, err := report.WriteHistory(history, report.HistoryOptions{Metrics: histMetrics, Lang: lang, NoPNG: noPNG})
				if err != nil {
					return fmt.Errorf("report: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), index)
				return nil
			}
			if promURL != "" {
				ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
				defer cancel()
				runs, err := promrun.LoadRuns(ctx, promURL, runIDs)
				if err != nil {
					return fmt.Errorf("report: %w", err)
				}
				labels := make([]string, len(runs))
				for i, r := range runs {
					labels[i] = r.Info.Host.Hostname
				}
				index, err := report.WriteRuns(runs, out, report.Options{Lang: lang, NoPNG: noPNG, Labels: labels})
				if err != nil {
					return fmt.Errorf("report: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), index)
				return nil
			}
			runs := make([]*bench.Run, 0, len(args))
			for _, dir := range args {
				r, err := bench.ReadRun(dir)
				if err != nil {
					return fmt.Errorf("report: %w", err)
				}
				runs = append(runs, r)
			}
			if out == "" {
				if len(args) > 1 {
					return fmt.Errorf("report: --out is required with several runs")
				}
				out = filepath.Join(args[0], "report")
			}
			index, err := report.WriteRuns(runs, out, report.Options{Lang: lang, NoPNG: noPNG})
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), index)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output directory (default RUN_DIR/report)")
	cmd.Flags().StringVar(&lang, "lang", report.LangEnglish, "language of the text: en or ko")
	cmd.Flags().BoolVar(&noPNG, "no-png", false, "write charts as SVG only")
	cmd.Flags().StringVar(&promURL, "prometheus", "", "read runs from this Prometheus server (e.g. http://127.0.0.1:9090) instead of run directories")
	cmd.Flags().StringSliceVar(&runIDs, "run-id", nil, "run id to read from --prometheus (repeatable)")
	cmd.Flags().StringVar(&history, "history", "", "plot figures over every run under this directory (writes DIR/history/)")
	cmd.Flags().StringArrayVar(&histMetrics, "metric", nil, "with --history: a figure to follow, WORKLOAD/METRIC (repeatable)")
	return cmd
}

// newCompareCmd is `vcbench compare OLD NEW [--format text|markdown|json]
// [--fail-on-regression PCT] [--min-effect PCT] [--calibration FILE] [--force]`.
func newCompareCmd() *cobra.Command {
	var format, calPath string
	var failPct, minEffect float64
	var force bool
	cmd := &cobra.Command{
		Use:   "compare OLD_RUN_DIR NEW_RUN_DIR",
		Short: "Compare two runs benchstat-style; optionally fail on regressions",
		Long: `compare prints, for every runtime/workload/metric, the median ± 95% CI of both
runs, the change, and the Mann–Whitney U p-value. A change is called only when
it is significant (p < α=0.05) AND larger than the metric's noise floor; "~"
means not called, "~ (below noise floor X%)" significant but within the floor.
The footer says how many figures were tested and called, and how many α ×
tested would be called by chance alone if nothing had changed.

The noise floor is --min-effect (default 2%): two runs never see the same host
state (page cache, THP, KSM, frequency), so sub-percent shifts of near-constant
figures are significant and meaningless. For scale: Firecracker's A/B tests
call a regression only at p < 0.01 and a change of at least 20%; Kata's
metrics CI accepts 5–40% around its baselines. With a calibration
('vcbench calibrate', or --calibration FILE; a calibration.json in either run
directory is used by default) a metric's floor is its mde_90 — the smallest
change detectable with 90% power at its measured noise, scaled to the runs'
trials — when that is larger than --min-effect.

compare refuses (exit 2) runs whose setups differ: CPU model, cores, memory,
kernel, OS, cgroup mode and any other host fingerprint run.json records, the
QEMU version, and each shared runtime's accelerator, machine, guest kernel and
versions; --force compares anyway and lists the differences as notes.

With --fail-on-regression PCT it exits with status 1 when any metric got
worse ("better" direction respected) by a called change of more than PCT
percent, and lists those rows on stderr: use it to gate CI.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if minEffect < 0 || math.IsNaN(minEffect) || math.IsInf(minEffect, 0) {
				return fmt.Errorf("compare: --min-effect %g: want a percentage ≥ 0", minEffect)
			}
			old, err := bench.ReadRun(args[0])
			if err != nil {
				return fmt.Errorf("compare: %w", err)
			}
			new, err := bench.ReadRun(args[1])
			if err != nil {
				return fmt.Errorf("compare: %w", err)
			}
			if diffs := report.FingerprintDiff(old.Info, new.Info); len(diffs) > 0 && !force {
				w := cmd.ErrOrStderr()
				fmt.Fprintf(w, "vcbench: compare: %s and %s were measured on different setups, so their figures differ for reasons other than the change under test:\n", args[0], args[1])
				for _, d := range diffs {
					fmt.Fprintf(w, "  %s\n", d)
				}
				fmt.Fprintln(w, "vcbench: compare: pass --force to compare them anyway")
				return exitCode(2)
			}
			opt := report.CompareOptions{MinEffect: minEffect / 100}
			if opt.Calibration, opt.CalibrationSource, err = findCalibration(calPath, args[0], args[1]); err != nil {
				return fmt.Errorf("compare: %w", err)
			}
			rc := report.CompareRunsWith(old, new, opt)
			w := cmd.OutOrStdout()
			switch format {
			case "text":
				err = rc.WriteText(w)
			case "markdown", "md":
				err = rc.WriteMarkdown(w)
			case "json":
				err = rc.WriteJSON(w)
			default:
				return fmt.Errorf("compare: --format %q: want text, markdown or json", format)
			}
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("fail-on-regression") {
				return nil
			}
			return checkRegressions(cmd.ErrOrStderr(), rc, failPct)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text, markdown or json")
	cmd.Flags().Float64Var(&failPct, "fail-on-regression", 0, "exit 1 if a called regression exceeds this many percent")
	cmd.Flags().Float64Var(&minEffect, "min-effect", 100*report.DefaultMinEffect, "smallest change in percent that is called, however small p is (see above)")
	cmd.Flags().StringVar(&calPath, "calibration", "", "calibration.json whose mde_90 per metric is the noise floor (default: one found in OLD_RUN_DIR, else NEW_RUN_DIR)")
	cmd.Flags().BoolVar(&force, "force", false, "compare runs whose host fingerprints or runtime versions differ")
	return cmd
}

// findCalibration reads path, or else the calibration.json of the first
// run directory that has one; none found is no calibration, not an error.
func findCalibration(path string, dirs ...string) (*report.Calibration, string, error) {
	if path != "" {
		c, err := report.ReadCalibration(path)
		return c, path, err
	}
	for _, d := range dirs {
		p := filepath.Join(d, report.CalibrationFile)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		c, err := report.ReadCalibration(p)
		return c, p, err
	}
	return nil, "", nil
}

// checkRegressions prints the rows that regressed by more than pct and
// returns exitCode(1) if there are any; runs that share no figure are an
// error, not a pass.
func checkRegressions(w io.Writer, rc *report.RunComparison, pct float64) error {
	if rc.Shared() == 0 {
		return fmt.Errorf("compare: %s and %s share no figure (same runtime, workload and metric): no regression can be ruled out", rc.Old, rc.New)
	}
	regs := rc.Regressions(pct)
	if len(regs) == 0 {
		fmt.Fprintf(w, "no regression above %g%% called (significant and above its noise floor)\n", pct)
		return nil
	}
	fmt.Fprintf(w, "%d regression(s) above %g%% called (significant and above their noise floor):\n", len(regs), pct)
	for _, r := range regs {
		fmt.Fprintf(w, "  %s/%s/%s: %s (%s, better is %s)\n", r.Key.Workload, r.Key.Metric, r.Key.Series(),
			r.Cmp.Delta(), r.Cmp.PN(), r.Better)
	}
	return exitCode(1)
}

// newExportCmd is `vcbench export --format benchfmt RUN_DIR`.
func newExportCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "export --format benchfmt RUN_DIR",
		Short: "Print a run in Go benchmark format (for benchstat)",
		Long: `export prints every sample of a run as a Go benchmark line, e.g.
BenchmarkCPU/runtime=vm/metric=single_thread 1 71300 ops/s, with config lines
(cpu, kernel, accel, ...) so that benchstat can compare runs:
  vcbench export A > a.txt; vcbench export B > b.txt; benchstat a.txt b.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "benchfmt" {
				return fmt.Errorf("export: --format %q: only benchfmt is supported", format)
			}
			r, err := bench.ReadRun(args[0])
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return report.WriteBenchfmt(cmd.OutOrStdout(), r)
		},
	}
	cmd.Flags().StringVar(&format, "format", "benchfmt", "output format (benchfmt)")
	return cmd
}
