// Command vcbench measures what isolation costs: it runs the same workloads
// natively, in namespace containers and in QEMU virtual machines, and
// reports startup time, memory footprint and throughput side by side.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Set at build time with -ldflags "-X main.version=... -X main.gitRevision=...".
var (
	version     = "dev"
	gitRevision = "unknown"
)

func main() {
	// The container runtime re-executes vcbench as the container's init.
	if len(os.Args) > 1 && os.Args[1] == "init" && containerInit != nil {
		containerInit(os.Args[2:])
		return
	}
	if err := newRootCmd().Execute(); err != nil {
		if code, ok := err.(exitCode); ok {
			os.Exit(int(code))
		}
		fmt.Fprintln(os.Stderr, "vcbench:", err)
		os.Exit(1)
	}
}

// exitCode is an error that only carries an exit status (its message was
// printed already).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "vcbench",
		Short: "Measure what isolation costs: native vs containers vs VMs",
		Long: `vcbench runs the same workloads natively, in namespace containers (its own,
crun, runc and gVisor's runsc), in Docker and Podman, and in QEMU virtual
machines, and measures startup time, memory footprint and throughput. Every
figure is written to results/<run-id>/ and exported in Prometheus format.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newScenariosCmd(), newDoctorCmd(), newCleanupCmd(),
		newImagesCmd(), newVersionCmd(), newCalibrateCmd())
	// The report commands: report, compare, export.
	root.AddCommand(newReportCmd(), newCompareCmd(), newExportCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print vcbench's version and git revision",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "vcbench %s (git %s)\n", version, gitRevision)
		},
	}
}
