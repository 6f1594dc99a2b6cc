package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"vcbench/bench"
)

// Failure is one failed trial, failed density sweep or skipped runtime of
// a run, parsed from run.json's runtimes[].errors and skipped.
type Failure struct {
	Label   string `json:"label,omitempty"`
	Runtime string `json:"runtime"`
	// Trial is "3/6", "warm-up 1/1", or "" when the failure is not a
	// trial's (a skipped runtime, a density sweep).
	Trial string `json:"trial,omitempty"`
	// Workload is the workload that failed: "startup" when the instance
	// never became ready, a workload kind, "density", or "" when the
	// message does not say.
	Workload string `json:"workload,omitempty"`
	Cause    string `json:"cause"`
	Skipped  bool   `json:"skipped,omitempty"`
	// Instance is the instance the workload ran in, when run.json's
	// failed_workloads names it.
	Instance string `json:"instance,omitempty"`
	// Replaced says the instance was dead or unresponsive afterwards and
	// the trial's remaining workloads ran on a fresh one.
	Replaced bool `json:"replaced,omitempty"`
	// Missing marks the summary line of a workload of which the runtime
	// has no figure at all (run.json's missing): every trial failed it.
	Missing bool `json:"missing,omitempty"`
}

// trialPrefix is how bench.Runner prefixes a failed trial's message
// ("vm trial 3/6: ..." or "vm warm-up 1/1: ...") after the runtime name.
var trialPrefix = regexp.MustCompile(`^(trial|warm-up) (\d+/\d+): `)

// failuresOf lists a run's failures in run.json order: per runtime, why
// it was skipped, its errors (a failed workload of a measured trial
// comes from failed_workloads, which says it plainly, rather than from
// the error message that repeats it), then the workloads it has no
// figure of at all.
func failuresOf(label string, info bench.RunInfo) []Failure {
	var out []Failure
	for _, rt := range info.Runtimes {
		if rt.Skipped != "" {
			out = append(out, Failure{Label: label, Runtime: rt.Name, Cause: rt.Skipped, Skipped: true})
		}
		structured := map[[2]string]bool{}
		for _, fw := range rt.FailedWorkloads {
			structured[[2]string{trialText(fw.Trial, info.Trials), fw.Workload}] = true
		}
		// Each failed workload takes the place of its error message.
		placed := map[[2]string]bool{}
		put := func(k [2]string) {
			if placed[k] {
				return
			}
			placed[k] = true
			for _, fw := range rt.FailedWorkloads {
				if k == [2]string{trialText(fw.Trial, info.Trials), fw.Workload} {
					out = append(out, Failure{Label: label, Runtime: rt.Name, Trial: k[0], Workload: fw.Workload,
						Cause: fw.Cause, Instance: fw.Instance, Replaced: fw.Replaced})
				}
			}
		}
		for _, msg := range rt.Errors {
			f := parseFailure(label, rt.Name, msg)
			if k := [2]string{f.Trial, f.Workload}; structured[k] && strings.HasPrefix(f.Cause, "workload ") {
				put(k)
				continue
			}
			out = append(out, f)
		}
		for _, fw := range rt.FailedWorkloads {
			put([2]string{trialText(fw.Trial, info.Trials), fw.Workload})
		}
		for _, w := range rt.Missing {
			out = append(out, Failure{Label: label, Runtime: rt.Name, Workload: w, Missing: true})
		}
	}
	return out
}

// trialText is a measured trial (0-based) as the runner's messages say
// it: "3/6".
func trialText(trial, trials int) string {
	if trials > 0 {
		return fmt.Sprintf("%d/%d", trial+1, trials)
	}
	return strconv.Itoa(trial + 1)
}

// parseFailure splits one runtimes[].errors message into trial, workload
// and cause.
func parseFailure(label, runtime, msg string) Failure {
	f := Failure{Label: label, Runtime: runtime, Cause: msg}
	rest, ok := strings.CutPrefix(msg, runtime+" ")
	if ok {
		if m := trialPrefix.FindStringSubmatch(rest); m != nil {
			f.Trial = m[2]
			if m[1] == "warm-up" {
				f.Trial = "warm-up " + m[2]
			}
			f.Cause = rest[len(m[0]):]
		}
	}
	switch c := f.Cause; {
	case strings.HasPrefix(c, "density"):
		f.Workload = DensityWorkload
		f.Cause = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(c, "density"), " stop"), ":"))
	case strings.HasPrefix(c, "workload "):
		w, _, _ := strings.Cut(strings.TrimPrefix(c, "workload "), ":")
		f.Workload = w
	case strings.HasPrefix(c, "host memory after "):
		w, _, _ := strings.Cut(strings.TrimPrefix(c, "host memory after "), ":")
		f.Workload = w
	case strings.HasPrefix(c, "start:"), strings.HasPrefix(c, "agent never became ready"):
		f.Workload = "startup"
	}
	return f
}

// WorkloadNote is a warning a workload left in its notes
// (raw/notes-<runtime>-<trial>-<workload>.json, key "warning").
type WorkloadNote struct {
	Label    string
	Runtime  string
	Trial    int
	Workload string
	Warning  string
}

// notesFile is raw/notes-<runtime>-<trial>-<workload>.json; runtime names
// may hold dashes, trial and workload do not.
var notesFile = regexp.MustCompile(`^notes-(.+)-(\d+)-([^-]+)\.json$`)

// readNotes loads the warnings of raw/notes-*.json; a run without them has
// none, and an unreadable file is skipped (the notes are advisory).
func readNotes(label, dir string) []WorkloadNote {
	if dir == "" {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(dir, "raw", "notes-*.json"))
	var out []WorkloadNote
	for _, f := range files {
		m := notesFile.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var notes map[string]string
		if json.Unmarshal(b, &notes) != nil || notes["warning"] == "" {
			continue
		}
		trial, _ := strconv.Atoi(m[2])
		out = append(out, WorkloadNote{Label: label, Runtime: m[1], Trial: trial, Workload: m[3], Warning: notes["warning"]})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Runtime != b.Runtime {
			return runtimeRank(a.Runtime, nil) < runtimeRank(b.Runtime, nil) || runtimeRank(a.Runtime, nil) == runtimeRank(b.Runtime, nil) && a.Runtime < b.Runtime
		}
		return a.Trial < b.Trial
	})
	return out
}

// failureTable lists every failure: runtime, trial, workload, cause.
func (m *Model) failureTable() table {
	L := m.Lang
	tb := table{Head: []string{t(L, "runtime"), t(L, "trial"), t(L, "workload"), t(L, "cause")}}
	for _, f := range m.Failures {
		trial, wl := f.Trial, f.Workload
		if f.Skipped {
			trial, wl = t(L, "alltrials"), t(L, "allworkloads")
		}
		if trial == "" {
			trial = "—"
		}
		if wl == "" {
			wl = "—"
		}
		cause := f.Cause
		switch {
		case f.Skipped:
			cause = t(L, "skippedby") + ": " + cause
		case f.Missing:
			trial = t(L, "alltrials")
			cause = t(L, "missingcause")
			if why := m.firstCause(f); why != "" {
				cause += " (" + t(L, "firstword") + ": " + why + ")"
			}
		default:
			cause += m.replacedText(f)
		}
		tb.Rows = append(tb.Rows, []string{Key{Label: f.Label, Runtime: f.Runtime}.Series(), trial, wl, cause})
	}
	return tb
}

// replacedText is "; vm-5 was replaced by a fresh instance" for a failed
// workload whose instance the runner replaced, else "".
func (m *Model) replacedText(f Failure) string {
	if !f.Replaced {
		return ""
	}
	inst := f.Instance
	if inst == "" {
		inst = f.Runtime
	}
	return "; " + fmt.Sprintf(t(m.Lang, "replaced"), inst)
}

// firstCause is the cause of the first failed trial of f's runtime and
// workload, "" when run.json lists none.
func (m *Model) firstCause(f Failure) string {
	for _, g := range m.Failures {
		if g.Label == f.Label && g.Runtime == f.Runtime && g.Workload == f.Workload && !g.Missing && !g.Skipped {
			c := g.Cause
			if g.Trial != "" {
				c = t(m.Lang, "trialword") + " " + g.Trial + ": " + c
			}
			return c
		}
	}
	return ""
}

// dashReason says why a summary or ratio cell of series for (workload,
// metric) is empty: the runtime does not measure that figure, or it has
// no figure of the workload at all because its trials of it failed.
func (m *Model) dashReason(series, workload, metric string) string {
	L := m.Lang
	if contains(m.seriesIn(workload), series) {
		// It ran the workload: it just has no such figure.
		return fmt.Sprintf(t(L, "notmeasured"), series)
	}
	for _, f := range m.Failures {
		if f.Missing && f.Workload == workload && (Key{Label: f.Label, Runtime: f.Runtime}).Series() == series {
			if why := m.firstCause(f); why != "" {
				return t(L, "missingcause") + "; " + t(L, "failedby") + " (" + t(L, "firstword") + ") " + why
			}
			return t(L, "missingcause")
		}
	}
	var startup *Failure
	for i, f := range m.Failures {
		if (Key{Label: f.Label, Runtime: f.Runtime}).Series() != series {
			continue
		}
		switch {
		case f.Skipped:
			return t(L, "skippedby") + ": " + f.Cause
		case f.Missing:
		case f.Workload == workload:
			return failedText(L, f)
		case f.Workload == "startup" && startup == nil:
			startup = &m.Failures[i]
		}
	}
	if startup != nil {
		return failedText(L, *startup)
	}
	return fmt.Sprintf(t(L, "notmeasured"), series)
}

func failedText(lang string, f Failure) string {
	s := t(lang, "failedby") + ": " + f.Cause
	if f.Trial != "" {
		s += " (" + t(lang, "trialword") + " " + f.Trial + ")"
	}
	return s
}

// warningItems lists, besides software emulation (m.TCG, shown first by
// the writers), what a reader should weigh the figures against: the
// workloads' warnings of run.json (each once, with every runtime that
// gave it), those of raw/notes-*.json that run.json does not repeat
// (runs of older versions), and the statistical warnings.
func (m *Model) warningItems() []string {
	L := m.Lang
	var out []string
	if _, err := chartLookOf(m); err != nil {
		out = append(out, fmt.Sprintf(t(L, "nofont"), err))
	}
	// run.json: "<workload>: <warning>" per runtime, grouped by text.
	type rk struct{ label, text string }
	byText := map[rk][]string{}
	var texts []rk
	inRunJSON := map[[3]string]bool{} // series, workload, warning
	for _, e := range m.Runs {
		for _, rt := range e.Info.Runtimes {
			for _, w := range rt.Warnings {
				k := rk{e.Label, w}
				if byText[k] == nil {
					texts = append(texts, k)
				}
				byText[k] = append(byText[k], rt.Name)
				wl, warning, _ := strings.Cut(w, ": ")
				inRunJSON[[3]string{Key{Label: e.Label, Runtime: rt.Name}.Series(), wl, warning}] = true
			}
		}
	}
	for _, k := range texts {
		wl, warning, ok := strings.Cut(k.text, ": ")
		if !ok {
			wl, warning = "—", k.text
		}
		out = append(out, labelPrefix(k.label)+fmt.Sprintf(t(L, "rtwarning"), wl, strings.Join(byText[k], ", "), warning))
	}
	type nk struct{ series, workload, warning string }
	seen := map[nk][]string{}
	var order []nk
	for _, n := range m.Notes {
		k := nk{Key{Label: n.Label, Runtime: n.Runtime}.Series(), n.Workload, n.Warning}
		if inRunJSON[[3]string{k.series, k.workload, k.warning}] {
			continue
		}
		if seen[k] == nil {
			order = append(order, k)
		}
		seen[k] = append(seen[k], strconv.Itoa(n.Trial+1))
	}
	for _, k := range order {
		out = append(out, fmt.Sprintf(t(L, "wlwarning"), k.workload, k.series, strings.Join(seen[k], ", "), k.warning))
	}
	return append(out, m.warningList()...)
}
