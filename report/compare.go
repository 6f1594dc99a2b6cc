package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"vcbench/bench"
	"vcbench/workload"
)

// RunComparison is a benchstat-style comparison of two runs: every
// (runtime, workload, metric) in either run, grouped by unit, with a
// geometric-mean row per unit.
type RunComparison struct {
	Old    string         `json:"old"`
	New    string         `json:"new"`
	Groups []CompareGroup `json:"groups"`
	Notes  []string       `json:"notes,omitempty"`
}

// CompareGroup is the rows of one unit, like one benchstat table.
type CompareGroup struct {
	Unit workload.Unit `json:"unit"`
	Rows []CompareRow  `json:"rows"`
	// GeomeanOld/New are the geometric means of the medians of the rows
	// present in both runs (benchstat's geomean row); zero when undefined.
	GeomeanOld float64 `json:"geomean_old"`
	GeomeanNew float64 `json:"geomean_new"`
}

// CompareRow is one metric of one runtime in both runs.
type CompareRow struct {
	Key    Key             `json:"key"`
	Better workload.Better `json:"better"`
	Old    *Stat           `json:"old,omitempty"`
	New    *Stat           `json:"new,omitempty"`
	Cmp    *Comparison     `json:"comparison,omitempty"`
}

// Regressed reports whether the row is a significant change in the bad
// direction by more than pct percent.
func (r CompareRow) Regressed(pct float64) bool {
	if r.Cmp == nil || !r.Cmp.Significant || !r.Cmp.Worse || math.IsNaN(r.Cmp.Change) {
		return false
	}
	return math.Abs(r.Cmp.Change)*100 > pct
}

// CompareRuns compares every metric of old and new.
func CompareRuns(old, new *bench.Run) *RunComparison {
	rc := &RunComparison{Old: runName(old), New: runName(new)}
	os, ns := Summarize("", old.Samples), Summarize("", new.Samples)
	type slot struct{ old, new *Stat }
	idx := map[Key]*slot{}
	var order []Key
	put := func(st []Stat, isNew bool) {
		for i := range st {
			k := st[i].Key
			if idx[k] == nil {
				idx[k] = &slot{}
				order = append(order, k)
			}
			if isNew {
				idx[k].new = &st[i]
			} else {
				idx[k].old = &st[i]
			}
		}
	}
	put(os, false)
	put(ns, true)
	groups := map[workload.Unit]*CompareGroup{}
	var units []workload.Unit
	for _, k := range order {
		sl := idx[k]
		ref := sl.old
		if ref == nil {
			ref = sl.new
		}
		g := groups[ref.Unit]
		if g == nil {
			g = &CompareGroup{Unit: ref.Unit}
			groups[ref.Unit] = g
			units = append(units, ref.Unit)
		}
		row := CompareRow{Key: k, Better: ref.Better, Old: sl.old, New: sl.new}
		if sl.old != nil && sl.new != nil {
			c := Compare(*sl.old, *sl.new)
			row.Cmp = &c
		}
		g.Rows = append(g.Rows, row)
	}
	sort.SliceStable(units, func(i, j int) bool { return unitRank(units[i]) < unitRank(units[j]) })
	for _, u := range units {
		g := groups[u]
		g.GeomeanOld, g.GeomeanNew = geomeans(g.Rows)
		rc.Groups = append(rc.Groups, *g)
	}
	if rc.Shared() == 0 {
		rc.Notes = append(rc.Notes, "the runs share no figure (same runtime, workload and metric): nothing was compared")
	}
	if old.Info.Scenario != new.Info.Scenario {
		rc.Notes = append(rc.Notes, fmt.Sprintf("scenarios differ: %q vs %q", old.Info.Scenario, new.Info.Scenario))
	} else if old.Info.ScenarioSHA256 != new.Info.ScenarioSHA256 && old.Info.ScenarioSHA256 != "" && new.Info.ScenarioSHA256 != "" {
		rc.Notes = append(rc.Notes, "scenario text differs between the runs (sha256)")
	}
	if old.Info.Host.CPUModel != new.Info.Host.CPUModel {
		rc.Notes = append(rc.Notes, fmt.Sprintf("CPUs differ: %q vs %q", old.Info.Host.CPUModel, new.Info.Host.CPUModel))
	}
	for _, r := range []*bench.Run{old, new} {
		if r.Info.Status != bench.StatusComplete {
			rc.Notes = append(rc.Notes, fmt.Sprintf("%s is %s, not complete", runName(r), r.Info.Status))
		}
	}
	return rc
}

// Shared counts the figures present in both runs: the ones compared.
func (rc *RunComparison) Shared() int {
	n := 0
	for _, g := range rc.Groups {
		for _, r := range g.Rows {
			if r.Old != nil && r.New != nil {
				n++
			}
		}
	}
	return n
}

func runName(r *bench.Run) string {
	if r.Info.RunID != "" {
		return r.Info.RunID
	}
	return r.Dir
}

func unitRank(u workload.Unit) int {
	for i, x := range []workload.Unit{workload.UnitSeconds, workload.UnitBytes, workload.UnitOpsPerSecond, workload.UnitBytesPerSecond} {
		if x == u {
			return i
		}
	}
	return 99
}

func geomeans(rows []CompareRow) (float64, float64) {
	var lo, ln float64
	n := 0
	for _, r := range rows {
		if r.Old == nil || r.New == nil || r.Old.Median <= 0 || r.New.Median <= 0 {
			continue
		}
		lo += math.Log(r.Old.Median)
		ln += math.Log(r.New.Median)
		n++
	}
	if n == 0 {
		return 0, 0
	}
	return math.Exp(lo / float64(n)), math.Exp(ln / float64(n))
}

// Regressions lists the rows that regressed significantly by more than pct.
func (rc *RunComparison) Regressions(pct float64) []CompareRow {
	var out []CompareRow
	for _, g := range rc.Groups {
		for _, r := range g.Rows {
			if r.Regressed(pct) {
				out = append(out, r)
			}
		}
	}
	return out
}

func statCell(unit workload.Unit, s *Stat) string {
	if s == nil || s.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%s ± %s", formatValue(unit, s.Median), s.CIPct())
}

func rowName(k Key) string { return k.Workload + "/" + k.Metric + "/" + k.Series() }

// cells renders the table in rows of cells: name, old, new, delta, p/n.
func (rc *RunComparison) cells() [][][]string {
	var out [][][]string
	for _, g := range rc.Groups {
		var rows [][]string
		for _, r := range g.Rows {
			delta, pn := "", ""
			switch {
			case r.Cmp != nil:
				delta, pn = r.Cmp.Delta(), r.Cmp.PN()
				if r.Cmp.Significant && r.Cmp.Worse {
					delta += " (worse)"
				} else if r.Cmp.Significant && !math.IsNaN(r.Cmp.Change) && r.Cmp.Change != 0 {
					delta += " (better)"
				}
			case r.Old == nil:
				delta = "(new only)"
			default:
				delta = "(old only)"
			}
			arrow := "↓"
			if r.Better == "higher" {
				arrow = "↑"
			}
			rows = append(rows, []string{rowName(r.Key) + " " + arrow, statCell(g.Unit, r.Old), statCell(g.Unit, r.New), delta, pn})
		}
		gm := []string{"geomean", "—", "—", "", ""}
		if g.GeomeanOld > 0 {
			gm[1], gm[2] = formatValue(g.Unit, g.GeomeanOld), formatValue(g.Unit, g.GeomeanNew)
			gm[3] = fmt.Sprintf("%+.2f%%", 100*(g.GeomeanNew/g.GeomeanOld-1))
		}
		rows = append(rows, gm)
		out = append(out, rows)
	}
	return out
}

// WriteText writes the comparison as aligned text, benchstat style.
func (rc *RunComparison) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, rows := range rc.cells() {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\t\n", rc.Groups[i].Unit, rc.Old, rc.New)
		fmt.Fprintf(tw, "\tmedian ± CI\tmedian ± CI\tvs base\t\n")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r[0], r[1], r[2], r[3], r[4])
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	return rc.writeFooter(w, "")
}

func (rc *RunComparison) writeFooter(w io.Writer, bullet string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s~ : not significant at α=%.2g (Mann–Whitney U); ↑/↓ : higher/lower is better; CI is the 95%% confidence interval of the median\n", bullet, Alpha)
	for _, n := range rc.Notes {
		fmt.Fprintf(&b, "%snote: %s\n", bullet, n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the comparison as Markdown tables.
func (rc *RunComparison) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	for i, rows := range rc.cells() {
		fmt.Fprintf(&b, "### %s\n\n", rc.Groups[i].Unit)
		writeMDTable(&b, table{Head: []string{"", rc.Old + " (median ± CI)", rc.New + " (median ± CI)", "vs base", "p, n"}, Rows: rows})
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	return rc.writeFooter(w, "- ")
}

// WriteJSON writes the comparison as JSON (infinite CI bounds as null).
func (rc *RunComparison) WriteJSON(w io.Writer) error {
	type jstat struct {
		N        int      `json:"n"`
		Median   float64  `json:"median"`
		Lo       *float64 `json:"ci_lo"`
		Hi       *float64 `json:"ci_hi"`
		Warnings []string `json:"warnings,omitempty"`
	}
	conv := func(s *Stat) *jstat {
		if s == nil {
			return nil
		}
		j := &jstat{N: s.N, Median: s.Median, Warnings: s.Warnings}
		if s.HasCI() {
			lo, hi := s.Lo, s.Hi
			j.Lo, j.Hi = &lo, &hi
		}
		return j
	}
	type jrow struct {
		Workload    string          `json:"workload"`
		Metric      string          `json:"metric"`
		Runtime     string          `json:"runtime"`
		Better      workload.Better `json:"better"`
		Old         *jstat          `json:"old"`
		New         *jstat          `json:"new"`
		P           *float64        `json:"p,omitempty"`
		Change      *float64        `json:"change,omitempty"`
		Significant bool            `json:"significant"`
		Worse       bool            `json:"worse"`
	}
	type jgroup struct {
		Unit       workload.Unit `json:"unit"`
		Rows       []jrow        `json:"rows"`
		GeomeanOld float64       `json:"geomean_old,omitempty"`
		GeomeanNew float64       `json:"geomean_new,omitempty"`
	}
	out := struct {
		Old    string   `json:"old"`
		New    string   `json:"new"`
		Alpha  float64  `json:"alpha"`
		Groups []jgroup `json:"groups"`
		Notes  []string `json:"notes,omitempty"`
	}{Old: rc.Old, New: rc.New, Alpha: Alpha, Notes: rc.Notes}
	for _, g := range rc.Groups {
		jg := jgroup{Unit: g.Unit, GeomeanOld: g.GeomeanOld, GeomeanNew: g.GeomeanNew}
		for _, r := range g.Rows {
			jr := jrow{Workload: r.Key.Workload, Metric: r.Key.Metric, Runtime: r.Key.Series(), Better: r.Better, Old: conv(r.Old), New: conv(r.New)}
			if r.Cmp != nil {
				p := r.Cmp.P
				jr.P = &p
				if !math.IsNaN(r.Cmp.Change) {
					c := r.Cmp.Change
					jr.Change = &c
				}
				jr.Significant, jr.Worse = r.Cmp.Significant, r.Cmp.Worse
			}
			jg.Rows = append(jg.Rows, jr)
		}
		out.Groups = append(out.Groups, jg)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	return nil
}
