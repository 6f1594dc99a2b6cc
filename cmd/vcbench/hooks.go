package main

import (
	"path/filepath"

	"vcbench/bench"
	"vcbench/report"
)

// writeReport writes the run's report under RUN_DIR/report and returns the
// index.html path.
func writeReport(run *bench.Run) (string, error) {
	return report.Write(run, filepath.Join(run.Dir, "report"), report.Options{Lang: "en"})
}
