// Package state records every resource that a run creates (processes, mounts,
// network links, cgroups, files) in a state directory, so that `vcbench
// cleanup` can remove what a killed run (SIGKILL) left behind. A backend
// saves its record before it creates a resource and deletes it once the
// resource is gone.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vcbench/internal/procfs"
)

// DefaultDir is where records live unless --state-dir says otherwise: for
// root /run/vcbench; for a user $XDG_RUNTIME_DIR/vcbench, else a directory
// under the user's cache directory — never a predictable name in the
// shared /tmp, where another user could create it first.
func DefaultDir() string {
	cache, _ := os.UserCacheDir()
	return defaultDir(os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"), cache)
}

func defaultDir(euid int, runtimeDir, cacheDir string) string {
	switch {
	case euid == 0:
		return "/run/vcbench"
	case runtimeDir != "":
		return filepath.Join(runtimeDir, "vcbench")
	case cacheDir != "":
		return filepath.Join(cacheDir, "vcbench", "state")
	}
	// No home either: a fresh private directory, never a guessable name.
	d, err := os.MkdirTemp("", "vcbench-state-")
	if err != nil {
		return filepath.Join(os.TempDir(), fmt.Sprintf("vcbench-%d", euid))
	}
	return d
}

// PrivateDir makes dir (and its parents) if missing and checks that it is
// a real directory (not a symlink), owned by this user and closed to
// everyone else (0700): records name processes that cleanup will kill and
// paths it will remove, so nobody else may write them. A directory of
// ours with wider permissions is narrowed.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state dir %s: not a directory (a symlink?)", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("state dir %s: owned by uid %d, not by this user (%d)", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("state dir %s: %w", dir, err)
		}
	}
	return nil
}

// Proc identifies a process robustly: the pid plus its start time in clock
// ticks, so that a recycled pid is never killed.
type Proc struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"start_time"`
}

// Record lists the resources of one instance, in the order they were
// created. Teardown undoes them in reverse order: what was made last (a
// process in a cgroup, a mount on a file) goes first.
//
// Resources is the whole truth when it is set. The per-type lists mirror it
// for vcbench binaries older than the ordered list, and are read only when
// Resources is empty, i.e. in records those binaries wrote (or that a caller
// filled by hand); their creation order is then taken as paths, cgroups,
// links, mounts, processes, which reversed is the order those binaries tore
// down in. So the file stays readable both ways and needs no version bump.
type Record struct {
	RunID     string     `json:"run_id"`
	Instance  string     `json:"instance"`
	Runtime   string     `json:"runtime"`
	Owner     Proc       `json:"owner"` // the vcbench process that created it
	Created   time.Time  `json:"created"`
	Resources []Resource `json:"resources,omitempty"`
	Procs     []Proc     `json:"procs,omitempty"`
	Mounts    []string   `json:"mounts,omitempty"`
	Links     []string   `json:"links,omitempty"`
	Cgroups   []string   `json:"cgroups,omitempty"`
	Paths     []string   `json:"paths,omitempty"`

	dir string
}

// New starts a record owned by this process. Nothing is written until Save.
func New(dir, runID, instance, runtime string) *Record {
	self, _ := ProcOf(os.Getpid())
	return &Record{dir: dir, RunID: runID, Instance: instance, Runtime: runtime, Owner: self, Created: time.Now().UTC()}
}

func (r *Record) file() string {
	return filepath.Join(r.dir, safe(r.RunID)+"--"+safe(r.Instance)+".json")
}

func safe(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '/' || c == 0 {
			return '_'
		}
		return c
	}, s)
}

// Save writes the record atomically (temp file + rename).
func (r *Record) Save() error {
	if err := PrivateDir(r.dir); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := r.file() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return os.Rename(tmp, r.file())
}

// Delete removes the record once its resources are gone.
func (r *Record) Delete() error {
	err := os.Remove(r.file())
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	return err
}

// ProcOf returns the identity of a live process.
func ProcOf(pid int) (Proc, error) {
	st, err := startTime(pid)
	return Proc{Pid: pid, StartTime: st}, err
}

func startTime(pid int) (uint64, error) {
	f, err := procfs.StatFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// Alive reports whether p is still the same running process (not a zombie).
func (p Proc) Alive() bool {
	if p.Pid <= 0 {
		return false
	}
	f, err := procfs.StatFields(p.Pid)
	if err != nil || f[19] != strconv.FormatUint(p.StartTime, 10) {
		return false
	}
	return f[0] != "Z"
}

// Load reads every record in dir.
func Load(dir string) ([]*Record, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue // a live run's instance finished between Glob and ReadFile
		}
		if err != nil {
			return nil, err
		}
		r := &Record{dir: dir}
		if err := json.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].file() < out[j].file() })
	return out, nil
}

// Teardown removes every resource in the record, in reverse order of
// creation, and deletes the record if all went. Missing resources are not
// errors: teardown is idempotent. It is what `vcbench cleanup` runs, and
// the undo that Owner.Close runs for every recorded resource.
func (r *Record) Teardown(grace time.Duration) error {
	res := r.ordered()
	var errs []error
	for i := len(res) - 1; i >= 0; i-- {
		errs = append(errs, res[i].Undo(grace))
	}
	err := errors.Join(errs...)
	if err == nil {
		err = r.Delete()
	}
	return err
}

// ordered returns the record's resources in creation order.
func (r *Record) ordered() []Resource {
	if len(r.Resources) > 0 {
		return r.Resources
	}
	var out []Resource
	for _, p := range r.Paths {
		out = append(out, Path(p))
	}
	for _, c := range r.Cgroups {
		out = append(out, Cgroup(c))
	}
	for _, l := range r.Links {
		out = append(out, Link(l))
	}
	for _, m := range r.Mounts {
		out = append(out, Mount(m))
	}
	for _, p := range r.Procs {
		out = append(out, Process(p))
	}
	return out
}

// setResources makes res the record's resources and rebuilds the per-type
// lists that mirror them.
func (r *Record) setResources(res []Resource) {
	r.Resources = res
	r.Procs, r.Mounts, r.Links, r.Cgroups, r.Paths = nil, nil, nil, nil, nil
	for _, x := range res {
		switch x.Kind {
		case KindProc:
			r.Procs = append(r.Procs, x.Proc)
		case KindMount:
			r.Mounts = append(r.Mounts, x.Name)
		case KindLink:
			r.Links = append(r.Links, x.Name)
		case KindCgroup:
			r.Cgroups = append(r.Cgroups, x.Name)
		case KindPath:
			r.Paths = append(r.Paths, x.Name)
		}
	}
}

// Summary counts the record's resources by kind, for `vcbench cleanup`.
func (r *Record) Summary() string {
	n := map[Kind]int{}
	for _, x := range r.ordered() {
		n[x.Kind]++
	}
	s := fmt.Sprintf("%d processes, %d mounts, %d links, %d cgroups, %d paths", n[KindProc], n[KindMount], n[KindLink], n[KindCgroup], n[KindPath])
	if n[KindDir] > 0 {
		s += fmt.Sprintf(", %d directories", n[KindDir])
	}
	return s
}

// DeleteLink removes a host network link (veth, tap) by name; its peer goes
// with it. A link that is already gone is not an error, nor is ENODEV: the
// kernel may remove a veth itself when its other end's namespace goes.
// Nor is a link of that name that another live vcbench process owns (its
// alias, LinkAlias): a dead run's record names the link it made, and the
// name may since have been given to another run's instance, which keeps it.
func DeleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if ownedByOther(link.Attrs().Alias) {
		return nil
	}
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// Kill sends SIGTERM, waits up to grace, then SIGKILL, and waits for the
// process to be gone (it may be a child of a dead vcbench, reaped by init).
func Kill(p Proc, grace time.Duration) error {
	if !p.Alive() {
		return nil
	}
	_ = syscall.Kill(p.Pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && p.Alive() {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Alive() {
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	}
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && p.Alive() {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Alive() {
		return fmt.Errorf("process %d did not exit after SIGKILL", p.Pid)
	}
	return nil
}

// RemoveCgroupDir removes a cgroup directory (and child groups) that
// vcbench created. It retries briefly, because a group whose last task
// just died can stay busy for a moment; processes still in a group under
// a "vcbench" one after that are killed (see removeCgroup). A group that
// is already gone is not an error.
func RemoveCgroupDir(path string) error {
	_, err := removeCgroup(path)
	return err
}

// removeCgroup is RemoveCgroupDir that also says whether this call removed
// the group (rather than finding it gone).
//
// A group that stays busy still holds processes that no record names: a
// runtime's helpers (runsc's sentry and gofer, a container whose pid file
// was never read because vcbench was killed during `runsc create` or
// `crun run`). They are the instance's alone, so they are killed.
func removeCgroup(path string) (bool, error) {
	var err error
	for i := 0; i < 50; i++ {
		err = removeCgroupTree(path)
		if err == nil {
			return true, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if i == 5 && errors.Is(err, syscall.EBUSY) && strings.Contains(path, "/vcbench/") {
			killCgroupTasks(path)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false, fmt.Errorf("remove cgroup %s: %w", path, err)
}

// removeEmptyParents removes the groups above a removed instance group up
// to and including the one named "vcbench" (<own>/vcbench/<run-id>), each
// only if empty: other runs and instances keep theirs.
func removeEmptyParents(path string) {
	if !strings.Contains(path, "/vcbench/") {
		return
	}
	for p := filepath.Dir(path); p != "/" && p != "."; p = filepath.Dir(p) {
		if syscall.Rmdir(p) != nil || filepath.Base(p) == "vcbench" {
			return
		}
	}
}

// killCgroupTasks sends SIGKILL to every process in the group at path
// and the groups below it.
func killCgroupTasks(path string) {
	filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return nil
	})
}

func removeCgroupTree(path string) error {
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroupTree(filepath.Join(path, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return syscall.Rmdir(path)
}

// Stale returns the records whose owner is no longer running.
func Stale(recs []*Record) []*Record {
	var out []*Record
	for _, r := range recs {
		if !r.Owner.Alive() {
			out = append(out, r)
		}
	}
	return out
}

// linkAliasPrefix begins the alias (IFLA_IFALIAS) of every network link
// vcbench makes; the owner's pid and start time follow.
const linkAliasPrefix = "vcbench owner "

// LinkAlias is the alias a backend gives each link it makes (veth, tap,
// bridge): the vcbench process that owns it. `vcbench cleanup` reads it
// back with LinkOwner, so that a link no record in its state directory
// covers is taken for stray only when its owner is gone: a live run with
// another state directory keeps its links.
func LinkAlias() string {
	self, _ := ProcOf(os.Getpid())
	return fmt.Sprintf("%s%d %d", linkAliasPrefix, self.Pid, self.StartTime)
}

// ownedByOther reports whether alias (LinkAlias's) names a live vcbench
// process other than this one.
func ownedByOther(alias string) bool {
	owner, ok := LinkOwner(alias)
	if !ok || owner.Pid == os.Getpid() {
		return false
	}
	return owner.Alive()
}

// LinkOwner returns the owner that LinkAlias wrote in alias; ok is false
// for any other alias (none, or not vcbench's).
func LinkOwner(alias string) (p Proc, ok bool) {
	rest, found := strings.CutPrefix(alias, linkAliasPrefix)
	if !found {
		return Proc{}, false
	}
	pid, start, found := strings.Cut(rest, " ")
	if !found {
		return Proc{}, false
	}
	var err error
	if p.Pid, err = strconv.Atoi(pid); err != nil || p.Pid <= 0 {
		return Proc{}, false
	}
	if p.StartTime, err = strconv.ParseUint(start, 10, 64); err != nil {
		return Proc{}, false
	}
	return p, true
}
