package main

import "github.com/spf13/cobra"

// extraCommands are the report commands: report, compare, export.
func extraCommands() []*cobra.Command {
	return []*cobra.Command{newReportCmd(), newCompareCmd(), newExportCmd()}
}
