package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultDirNotSharedTmp: without root the state directory must not be
// a name in the shared /tmp that another user could create first.
func TestDefaultDirNotSharedTmp(t *testing.T) {
	cases := []struct {
		euid          int
		runtime, home string
		want          string
	}{
		{0, "/run/user/0", "/root/.cache", "/run/vcbench"},
		{1000, "/run/user/1000", "/home/u/.cache", "/run/user/1000/vcbench"},
		{1000, "", "/home/u/.cache", "/home/u/.cache/vcbench/state"},
	}
	for _, c := range cases {
		if got := defaultDir(c.euid, c.runtime, c.home); got != c.want {
			t.Errorf("defaultDir(%d, %q, %q) = %q, want %q", c.euid, c.runtime, c.home, got, c.want)
		}
	}
	got := defaultDir(1000, "", "")
	defer os.RemoveAll(got)
	if got == filepath.Join(os.TempDir(), "vcbench-1000") || !strings.HasPrefix(filepath.Base(got), "vcbench-state-") {
		t.Errorf("defaultDir without runtime or cache dir = %q, want a fresh MkdirTemp directory", got)
	}
}

// TestPrivateDir: the state directory ends 0700, owned by the caller, and
// a symlink in its place is refused.
func TestPrivateDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "state")
	if err := PrivateDir(dir); err != nil {
		t.Fatal(err)
	}
	wide := filepath.Join(base, "wide")
	os.Mkdir(wide, 0o777)
	os.Chmod(wide, 0o777)
	if err := PrivateDir(wide); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, wide} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %o, want 700", d, fi.Mode().Perm())
		}
	}
	link := filepath.Join(base, "link")
	os.Symlink(wide, link)
	if err := PrivateDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("PrivateDir(symlink) = %v, want a refusal", err)
	}
	// A record written there is 0600.
	r := New(dir, "run", "inst", "native")
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(r.file())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("record mode %o, want 600", fi.Mode().Perm())
	}
}

// TestLoadSkipsVanishedRecord: a record removed between listing and
// reading (a live run's instance ending beside `vcbench cleanup`) is
// skipped, not an error.
func TestLoadSkipsVanishedRecord(t *testing.T) {
	dir := t.TempDir()
	r := New(dir, "run", "a", "native")
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	// A dangling symlink reads as ENOENT, as a record deleted mid-Load does.
	os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "run--b.json"))
	recs, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(recs) != 1 || recs[0].Instance != "a" {
		t.Errorf("Load = %d records, want the one that exists", len(recs))
	}
}
