package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"vcbench/scenarios"
)

func newScenariosCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenarios",
		Short: "List, show and validate scenario files",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the built-in scenarios",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			for _, name := range scenarios.Builtins() {
				s, err := scenarios.Open(name)
				if err != nil {
					return err
				}
				var kinds []string
				for _, r := range s.Runtimes {
					kinds = append(kinds, r.RuntimeName())
				}
				shape := fmt.Sprintf("%d %s; %d trials + %d warm-up", len(s.Workloads), plural(len(s.Workloads), "workload"), s.Trials, s.Warmup)
				if s.Density != nil {
					shape = fmt.Sprintf("density sweep over %v instances", s.Density.Steps)
				}
				fmt.Fprintf(out, "%-10s %s\n%-10s runtimes: %s; %s\n",
					name, s.Description, "", strings.Join(kinds, ", "), shape)
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "show NAME",
		Short: "Print a built-in scenario's YAML (a starting point for your own)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, ok := scenarios.Builtin(args[0])
			if !ok {
				return fmt.Errorf("no built-in scenario %q (have: %s)", args[0], strings.Join(scenarios.Builtins(), ", "))
			}
			_, err := cmd.OutOrStdout().Write(b)
			return err
		},
	}, &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files; errors name the file, line, column and field",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, f := range args {
				s, err := scenarios.Open(f)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d runtimes × %d workloads × %d trials)\n", f, len(s.Runtimes), len(s.Workloads), s.Trials)
			}
			if bad > 0 {
				return exitCode(1)
			}
			return nil
		},
	})
	return cmd
}

// plural is word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
