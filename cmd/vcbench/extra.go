package main

import "github.com/spf13/cobra"

// extraCommands are the commands of packages that land separately.
func extraCommands() []*cobra.Command { return nil }
