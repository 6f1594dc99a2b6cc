package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
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
	// MinEffect is the smallest relative change called for any metric.
	MinEffect float64 `json:"min_effect"`
	// Calibration names where per-metric noise floors came from; empty
	// when none was given.
	Calibration string `json:"calibration,omitempty"`
}

// DefaultMinEffect is the smallest relative change compare calls when
// nothing better is known: 2%. Two runs are never identical: the host
// drifts between them (page cache, THP and KSM state, frequency), which no
// run's own noise shows, so a change smaller than this is not called even
// at p < α. Firecracker's A/B tests call a regression only at p < 0.01 and
// a change of at least 20%; Kata's metrics CI accepts 5–40% around its
// baselines. vcbench reports rather than gates, so its floor is lower, and
// calibration can only raise it per metric.
const DefaultMinEffect = 0.02

// CompareOptions set the call rule of CompareRunsWith.
type CompareOptions struct {
	// MinEffect is the smallest relative change called (0.02 is 2%);
	// 0 leaves only the calibration's floors.
	MinEffect float64
	// Calibration, when set, gives each metric it covers a noise floor:
	// its mde_90, scaled by √(n_cal/n) to the runs' sample size.
	Calibration *Calibration
	// CalibrationSource names the calibration in the output (a path).
	CalibrationSource string
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
	// Floor is the noise floor of this metric: the relative change a
	// significant difference must exceed to be called.
	Floor float64 `json:"floor"`
	// FloorSource is "calibration" or "min-effect".
	FloorSource string `json:"floor_source,omitempty"`
	// Called is the call rule: significant (p < α) and the change larger
	// than Floor.
	Called bool `json:"called"`
}

// BelowFloor reports whether the row is significant but not called: a
// change within the metric's noise floor.
func (r CompareRow) BelowFloor() bool {
	return r.Cmp != nil && r.Cmp.Significant && !r.Called
}

// Regressed reports whether the row is a called change in the bad
// direction by more than pct percent.
func (r CompareRow) Regressed(pct float64) bool {
	if r.Cmp == nil || !r.Called || !r.Cmp.Worse || math.IsNaN(r.Cmp.Change) {
		return false
	}
	return math.Abs(r.Cmp.Change)*100 > pct
}

// floor is the noise floor of k at sample size n (the smaller run's).
func (o CompareOptions) floor(k Key, n int) (float64, string) {
	floor, src := o.MinEffect, "min-effect"
	mc, ok := o.Calibration.Lookup(k)
	if !ok {
		return floor, src
	}
	mde := mc.MDE90
	if math.IsInf(mde, 1) && n > mc.N {
		return floor, src // undetectable at the calibration's n says nothing about more trials
	}
	if !math.IsInf(mde, 1) && n > 0 && mc.N > 0 {
		mde *= math.Sqrt(float64(mc.N) / float64(n))
	}
	if mde > floor {
		floor, src = mde, "calibration"
	}
	return floor, src
}

// CompareRuns compares every metric of old and new with the default call
// rule (DefaultMinEffect, no calibration).
func CompareRuns(old, new *bench.Run) *RunComparison {
	return CompareRunsWith(old, new, CompareOptions{MinEffect: DefaultMinEffect})
}

// CompareRunsWith compares every metric of old and new; a difference is
// called when it is significant and larger than the metric's noise floor.
func CompareRunsWith(old, new *bench.Run, opt CompareOptions) *RunComparison {
	rc := &RunComparison{Old: runName(old), New: runName(new), MinEffect: opt.MinEffect, Calibration: opt.CalibrationSource}
	if opt.Calibration != nil && rc.Calibration == "" {
		rc.Calibration = "calibration of run " + opt.Calibration.RunID
	}
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
			row.Floor, row.FloorSource = opt.floor(k, min(sl.old.N, sl.new.N))
			row.Called = c.Significant && (math.IsNaN(c.Change) || math.Abs(c.Change) > row.Floor) // NaN: from 0, beyond any floor
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
	for _, d := range FingerprintDiff(old.Info, new.Info) {
		rc.Notes = append(rc.Notes, "setup differs: "+d)
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

// Tested counts the figures that went through the test (present in both
// runs): the number of chances to cry wolf.
func (rc *RunComparison) Tested() int { return rc.Shared() }

// CalledCount counts the figures called changed (significant and above
// their noise floor).
func (rc *RunComparison) CalledCount() int {
	n := 0
	for _, g := range rc.Groups {
		for _, r := range g.Rows {
			if r.Called {
				n++
			}
		}
	}
	return n
}

// ExpectedByChance is α × tested: how many figures the test alone would
// call significant if nothing had changed (the footer's multiple-comparison
// warning; the noise floor only lowers the real number).
func (rc *RunComparison) ExpectedByChance() float64 { return Alpha * float64(rc.Tested()) }

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
			case r.BelowFloor():
				delta, pn = fmt.Sprintf("~ (below noise floor %s)", floorText(r.Floor)), r.Cmp.PN()
			case r.Cmp != nil:
				delta, pn = r.Cmp.Delta(), r.Cmp.PN()
				if r.Called && r.Cmp.Worse {
					delta += " (worse)"
				} else if r.Called && !math.IsNaN(r.Cmp.Change) && r.Cmp.Change != 0 {
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

func floorText(f float64) string {
	if math.IsInf(f, 1) {
		return "∞"
	}
	return fmt.Sprintf("%.1f%%", 100*f)
}

func (rc *RunComparison) writeFooter(w io.Writer, bullet string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s~ : not significant at α=%.2g (Mann–Whitney U); ↑/↓ : higher/lower is better; CI is the 95%% confidence interval of the median\n", bullet, Alpha)
	floor := fmt.Sprintf("the minimum effect %s", floorText(rc.MinEffect))
	if rc.Calibration != "" {
		floor = fmt.Sprintf("the larger of the metric's mde_90 from %s and %s", rc.Calibration, floor)
	}
	fmt.Fprintf(&b, "%sa change is called when p < α and it exceeds its noise floor (%s)\n", bullet, floor)
	fmt.Fprintf(&b, "%s%d called of %d tested; %.2g expected by chance at α=%.2g (α × tested)\n", bullet, rc.CalledCount(), rc.Tested(), rc.ExpectedByChance(), Alpha)
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
		Floor       *float64        `json:"floor,omitempty"` // null: nothing can be called at this n
		FloorSource string          `json:"floor_source,omitempty"`
		Called      bool            `json:"called"`
	}
	type jgroup struct {
		Unit       workload.Unit `json:"unit"`
		Rows       []jrow        `json:"rows"`
		GeomeanOld float64       `json:"geomean_old,omitempty"`
		GeomeanNew float64       `json:"geomean_new,omitempty"`
	}
	out := struct {
		Old         string   `json:"old"`
		New         string   `json:"new"`
		Alpha       float64  `json:"alpha"`
		MinEffect   float64  `json:"min_effect"`
		Calibration string   `json:"calibration,omitempty"`
		Tested      int      `json:"tested"`
		Called      int      `json:"called"`
		Expected    float64  `json:"expected_by_chance"`
		Groups      []jgroup `json:"groups"`
		Notes       []string `json:"notes,omitempty"`
	}{Old: rc.Old, New: rc.New, Alpha: Alpha, MinEffect: rc.MinEffect, Calibration: rc.Calibration,
		Tested: rc.Tested(), Called: rc.CalledCount(), Expected: rc.ExpectedByChance(), Notes: rc.Notes}
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
				jr.FloorSource, jr.Called = r.FloorSource, r.Called
				if !math.IsInf(r.Floor, 0) {
					f := r.Floor
					jr.Floor = &f
				}
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

// fingerprintSettings are the per-runtime settings that make two runs
// incomparable when they differ (besides every setting whose name ends in
// "version"): the accelerator above all, a TCG guest runs 10–50× slower
// than KVM.
var fingerprintSettings = map[string]bool{"accel": true, "machine": true, "kernel": true, "binary": true}

// memTolerance is how far MemTotal may move between boots of one machine
// (the kernel's own reservations) before it counts as other memory.
const memTolerance = 0.01

// FingerprintDiff lists every field of the measured setup that differs
// between old and new, one line each ("kernel: \"6.1.0 x86_64\" vs
// \"6.12.0 x86_64\""): every host field run.json records but the hostname
// (CPU model, cores, memory, kernel, OS, cgroup mode, and whatever
// fingerprint fields later versions add under "host"), the QEMU version,
// and for each runtime measured in both runs its accelerator, machine,
// guest kernel and versions. A field recorded by only one of the runs (an
// older vcbench) is not a difference. Empty when the setups match.
func FingerprintDiff(old, new bench.RunInfo) []string {
	a, b := fingerprint(old), fingerprint(new)
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		va, vb := a[k], b[k]
		if va == "" || vb == "" || va == vb {
			continue
		}
		if k == "mem_bytes" {
			x, errx := strconv.ParseFloat(va, 64)
			y, erry := strconv.ParseFloat(vb, 64)
			if errx == nil && erry == nil {
				if math.Abs(x-y) <= memTolerance*math.Max(x, y) {
					continue
				}
				out = append(out, fmt.Sprintf("memory: %s vs %s", formatValue("bytes", x), formatValue("bytes", y)))
				continue
			}
		}
		out = append(out, fmt.Sprintf("%s: %q vs %q", k, va, vb))
	}
	return out
}

// fingerprint flattens what run.json says about the setup into name →
// value; host fields come through their JSON names, so that fields added
// to bench.Host later are compared without a change here.
func fingerprint(info bench.RunInfo) map[string]string {
	out := map[string]string{"qemu_version": info.QEMUVersion}
	if raw, err := json.Marshal(info.Host); err == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var host map[string]any
		if dec.Decode(&host) == nil {
			delete(host, "hostname") // the same setup may run on several hosts
			flatten("", host, out)
		}
	}
	for _, rt := range info.Runtimes {
		if rt.Skipped != "" {
			continue
		}
		for k, v := range rt.Settings {
			if fingerprintSettings[k] || strings.HasSuffix(k, "version") {
				out[rt.Name+" "+k] = v
			}
		}
	}
	return out
}

func flatten(prefix string, v any, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			flatten(name, x, out)
		}
	case nil:
	case string:
		out[prefix] = v
	default:
		b, _ := json.Marshal(v)
		out[prefix] = string(b)
	}
}
