package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"

	"vcbench/bench"
	"vcbench/state"
)

func newCleanupCmd() *cobra.Command {
	var stateDir, out string
	var all bool
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what killed runs left behind (processes, mounts, links, cgroups, files)",
		Long: `Reads the state directory, where every run records each resource before it
creates it, and removes the resources of runs whose vcbench process is gone.
With --all it also removes those of live runs. Runs under --out still marked
"running" by a dead process are marked "interrupted".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			recs, err := state.Load(stateDir)
			if err != nil {
				return err
			}
			if !all {
				recs = state.Stale(recs)
			}
			// Instances first, then the engine daemons they ran in.
			sort.SliceStable(recs, func(i, j int) bool { return !daemonRecord(recs[i]) && daemonRecord(recs[j]) })
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			var failed []string
			for _, r := range recs {
				if clean, ok := engineCleaners[r.Runtime]; ok {
					if err := clean(ctx, stateDir, r); err != nil {
						failed = append(failed, fmt.Sprintf("%s/%s: %v", r.RunID, r.Instance, err))
						continue
					}
				}
				// The same undo, in the same reverse creation order, that
				// each backend's state.Owner runs when an instance stops.
				if err := r.Teardown(2 * time.Second); err != nil {
					failed = append(failed, fmt.Sprintf("%s/%s: %v", r.RunID, r.Instance, err))
					continue
				}
				fmt.Fprintf(w, "removed %s instance %s (%s): %s\n", r.RunID, r.Instance, r.Runtime, r.Summary())
			}
			for _, l := range strayLinks(all || len(liveOwners(stateDir)) == 0) {
				if err := netlink.LinkDel(l); err != nil {
					failed = append(failed, fmt.Sprintf("link %s: %v", l.Attrs().Name, err))
				} else {
					fmt.Fprintf(w, "removed stray link %s\n", l.Attrs().Name)
				}
			}
			markInterrupted(w, out)
			if len(failed) > 0 {
				return fmt.Errorf("could not remove everything:\n  %s", strings.Join(failed, "\n  "))
			}
			if len(recs) == 0 {
				fmt.Fprintln(w, "nothing left behind")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", state.DefaultDir(), "state directory")
	cmd.Flags().StringVar(&out, "out", "results", "results root whose interrupted runs to mark")
	cmd.Flags().BoolVar(&all, "all", false, "also remove resources of runs still in progress")
	return cmd
}

func liveOwners(dir string) []state.Proc {
	recs, _ := state.Load(dir)
	var live []state.Proc
	for _, r := range recs {
		if r.Owner.Alive() {
			live = append(live, r.Owner)
		}
	}
	return live
}

// strayLinks are vcbench's veth, tap and bridge interfaces (names start
// with "vcb") that the records left behind, e.g. from a run killed
// between creating a link and saving its record. A link whose alias names
// its owner (state.LinkAlias) is stray only when that vcbench is gone, so
// that a live run with another state directory keeps its links. A link
// without an owner (an older vcbench's, or one killed before it named the
// owner) is stray only when unowned is true: with --all, or when no run of
// this state directory is alive.
func strayLinks(unowned bool) []netlink.Link {
	links, err := netlink.LinkList()
	if err != nil {
		return nil
	}
	var out []netlink.Link
	for _, l := range links {
		if !strings.HasPrefix(l.Attrs().Name, "vcb") {
			continue
		}
		if owner, ok := state.LinkOwner(l.Attrs().Alias); ok {
			if !owner.Alive() {
				out = append(out, l)
			}
			continue
		}
		if unowned {
			out = append(out, l)
		}
	}
	return out
}

// markInterrupted marks the runs under root that a dead vcbench left
// "running" as interrupted, and removes the scratch directory of every run
// whose writer is gone (a killed run never removed it). The records'
// teardown has removed what was in it by then; a scratch directory that is
// not empty is left alone and named, since something in it (a mount of a
// live process) may not be ours to delete.
func markInterrupted(w interface{ Write([]byte) (int, error) }, root string) {
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "run.json"))
	for _, f := range dirs {
		dir := filepath.Dir(f)
		run, err := bench.ReadRun(dir)
		if err != nil || run.Info.Status == bench.StatusRunning {
			continue
		}
		scratch := filepath.Join(dir, "scratch")
		if err := os.Remove(scratch); err == nil {
			fmt.Fprintf(w, "removed %s\n", scratch)
		} else if !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(w, "left %s: %v\n", scratch, err)
		}
		if run.Info.Status != bench.StatusInterrupted {
			continue
		}
		// ReadRun reports a dead writer as interrupted; make it so on disk.
		raw, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(raw), `"status": "running"`) {
			continue
		}
		info := run.Info
		now := time.Now().UTC()
		info.End = &now
		if err := bench.WriteJSONAtomic(f, info); err == nil {
			fmt.Fprintf(w, "marked %s interrupted\n", dir)
		}
	}
}
