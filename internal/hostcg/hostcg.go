// Package hostcg is what every backend shares about the host's control
// groups: the mounted hierarchies and vcbench's own group in each, the
// bookkeeping of the groups vcbench makes under <own>/vcbench/<run-id>,
// starting a process already inside a group (so that no move has to wait
// for the kernel), and a CPU-accounting group for processes that need no
// limits (the native agent, QEMU), read at nanosecond resolution.
package hostcg

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"
)

// Hierarchy is one mounted cgroup hierarchy and vcbench's own group in it.
type Hierarchy struct {
	Mount       string   // mount point, e.g. /sys/fs/cgroup/memory
	Controllers []string // from the super options: memory, cpu, name=systemd; none for cgroup2
	V2          bool
	OwnRel      string // own group relative to the mount point ("/" or "/process_api/...")
}

// OwnDir is vcbench's own group's directory in the hierarchy.
func (h Hierarchy) OwnDir() string { return filepath.Join(h.Mount, h.OwnRel) }

// Has reports whether the hierarchy carries controller c.
func (h Hierarchy) Has(c string) bool {
	for _, x := range h.Controllers {
		if x == c {
			return true
		}
	}
	return false
}

// Hierarchies lists the cgroup hierarchies mounted in this mount namespace
// with vcbench's own group in each, from /proc/self/mountinfo and
// /proc/self/cgroup.
func Hierarchies() ([]Hierarchy, error) {
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	var out []Hierarchy
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || (qf[0] != "cgroup" && qf[0] != "cgroup2") {
			continue
		}
		root, mnt := unescapeMount(pf[3]), unescapeMount(pf[4])
		h := Hierarchy{Mount: mnt, V2: qf[0] == "cgroup2"}
		key := ""
		if !h.V2 {
			opts := map[string]bool{}
			for _, o := range strings.Split(qf[2], ",") {
				opts[o] = true
			}
			for k := range own {
				if k == "" {
					continue
				}
				all := true
				for _, c := range strings.Split(k, ",") {
					all = all && opts[c]
				}
				if all {
					key = k
					break
				}
			}
			if key == "" {
				continue
			}
			h.Controllers = strings.Split(key, ",")
		}
		if seen[key] {
			continue
		}
		p, ok := own[key]
		if !ok {
			continue
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // our group is outside what this mount shows
		}
		seen[key] = true
		h.OwnRel = filepath.Join("/", rel)
		out = append(out, h)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroups parses /proc/self/cgroup into sorted controller list → path
// ("" for the cgroup2 entry).
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls := strings.Split(parts[1], ",")
		sort.Strings(ctrls)
		out[strings.Join(ctrls, ",")] = parts[2]
	}
	return out, nil
}

// Mode is what the host offers: cgroup v1 (legacy or hybrid) or v2.
func Mode() (v2 bool, hybrid bool) {
	switch cgroups.Mode() {
	case cgroups.Unified:
		return true, false
	case cgroups.Hybrid:
		return false, true
	}
	return false, false
}

// Mu serialises creating and removing groups under <own>/vcbench, so that
// one instance's removal of an empty run group never races another's
// creation beneath it. Every backend of the process takes it.
var Mu sync.Mutex

// runGroups counts this process's live instance groups per run group
// (vcbench/<run-id>): the run group and "vcbench" above it are removed only
// when the last goes, so that an OCI runtime creating a group (outside Mu)
// never finds its parent removed under it. Guarded by Mu.
var runGroups = map[string]int{}

// Hold counts one more live group under the run group run (vcbench/<run-id>,
// relative to the own groups). Callers hold Mu.
func Hold(run string) { runGroups[run]++ }

// RemoveDirs removes an instance group's directories (one per hierarchy)
// and, once no group Held under run is left in this process, the empty
// parents up to and including "vcbench". held says whether the group was
// counted with Hold; it is cleared once the directories are gone. Callers
// hold Mu.
func RemoveDirs(dirs []string, run string, held *bool) error {
	var errs []error
	for _, d := range dirs {
		if err := removeLeaf(d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if *held {
		*held = false
		runGroups[run]--
	}
	if runGroups[run] > 0 {
		return nil
	}
	delete(runGroups, run)
	for _, d := range dirs {
		for p := filepath.Dir(d); ; p = filepath.Dir(p) {
			if err := unix.Rmdir(p); err != nil {
				break // not empty (another vcbench run), or gone
			}
			if filepath.Base(p) == "vcbench" {
				break
			}
		}
	}
	return nil
}

func removeLeaf(dir string) error {
	var err error
	for i := 0; i < 100; i++ {
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		// A group whose last task just died stays busy for a moment.
		unix.Nanosleep(&unix.Timespec{Nsec: 10e6}, nil)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}
