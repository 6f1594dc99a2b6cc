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
}

// trialPrefix is how bench.Runner prefixes a failed trial's message
// ("vm trial 3/6: ..." or "vm warm-up 1/1: ...") after the runtime name.
var trialPrefix = regexp.MustCompile(`^(trial|warm-up) (\d+/\d+): `)

// failuresOf lists a run's failures in run.json order.
func failuresOf(label string, info bench.RunInfo) []Failure {
	var out []Failure
	for _, rt := range info.Runtimes {
		if rt.Skipped != "" {
			out = append(out, Failure{Label: label, Runtime: rt.Name, Cause: rt.Skipped, Skipped: true})
		}
		for _, msg := range rt.Errors {
			out = append(out, parseFailure(label, rt.Name, msg))
		}
	}
	return out
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
		if f.Skipped {
			cause = t(L, "skippedby") + ": " + cause
		}
		tb.Rows = append(tb.Rows, []string{Key{Label: f.Label, Runtime: f.Runtime}.Series(), trial, wl, cause})
	}
	return tb
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
	var startup *Failure
	for i, f := range m.Failures {
		if (Key{Label: f.Label, Runtime: f.Runtime}).Series() != series {
			continue
		}
		switch {
		case f.Skipped:
			return t(L, "skippedby") + ": " + f.Cause
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
// workloads' own warnings and the statistical warnings.
func (m *Model) warningItems() []string {
	L := m.Lang
	var out []string
	type nk struct{ series, workload, warning string }
	seen := map[nk][]string{}
	var order []nk
	for _, n := range m.Notes {
		k := nk{Key{Label: n.Label, Runtime: n.Runtime}.Series(), n.Workload, n.Warning}
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
