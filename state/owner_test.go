package state

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestOwnerReverseOrder checks that Close undoes steps in reverse order of
// Add across kinds, graceful undo before the recorded one, and only once.
func TestOwnerReverseOrder(t *testing.T) {
	dir := t.TempDir()
	o := NewOwner(filepath.Join(dir, "state"), "run-1", "c-0", "container")
	var order []string
	note := func(s string) func(context.Context) error {
		return func(context.Context) error { order = append(order, s); return nil }
	}
	shared := filepath.Join(dir, "shared")
	tree := filepath.Join(shared, "tree")
	must(t, o.Add(note("shared"), EmptyDir(shared)))
	must(t, os.Mkdir(shared, 0o755))
	must(t, o.Add(note("tree"), Path(tree)))
	must(t, os.MkdirAll(filepath.Join(tree, "sub"), 0o755))
	o.OnClose(note("log"))
	must(t, o.Add(note("link"), Link("vcbnosuch0")))

	recs, err := Load(filepath.Join(dir, "state"))
	if err != nil || len(recs) != 1 {
		t.Fatalf("Load: %v %v", recs, err)
	}
	want := []Resource{EmptyDir(shared), Path(tree), Link("vcbnosuch0")}
	if !reflect.DeepEqual(recs[0].Resources, want) {
		t.Errorf("saved resources %v, want %v", recs[0].Resources, want)
	}
	if !reflect.DeepEqual(recs[0].Paths, []string{tree}) || !reflect.DeepEqual(recs[0].Links, []string{"vcbnosuch0"}) {
		t.Errorf("per-type lists for older binaries: paths %v links %v", recs[0].Paths, recs[0].Links)
	}

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = o.Close(context.Background(), time.Second) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if got := strings.Join(order, ","); got != "link,log,tree,shared" {
		t.Errorf("undo order %s, want link,log,tree,shared (once)", got)
	}
	if _, err := os.Stat(shared); !os.IsNotExist(err) {
		t.Errorf("shared dir still there: %v", err)
	}
	if recs, _ := Load(filepath.Join(dir, "state")); len(recs) != 0 {
		t.Errorf("%d records left", len(recs))
	}
	if err := o.Add(nil, Path(tree)); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
}

// TestOwnerSaveError checks that a record that cannot be saved fails Add,
// and that Close still undoes the step.
func TestOwnerSaveError(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	must(t, os.WriteFile(notDir, nil, 0o644))
	o := NewOwner(filepath.Join(notDir, "state"), "run-1", "vm-0", "vm")
	undone := false
	err := o.Add(func(context.Context) error { undone = true; return nil }, Path(filepath.Join(dir, "x")))
	if err == nil || !strings.Contains(err.Error(), "save state record of vm-0") {
		t.Fatalf("Add with an unwritable state dir: %v", err)
	}
	if err := o.Close(context.Background(), 0); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !undone {
		t.Error("a step whose save failed was not undone")
	}
}

// TestOwnerKeepsFailed checks that what could not be undone stays on disk
// and the error says so, while the rest is dropped from the record.
func TestOwnerKeepsFailed(t *testing.T) {
	dir := t.TempDir()
	sd := filepath.Join(dir, "state")
	o := NewOwner(sd, "run-1", "c-1", "oci-crun")
	gone := filepath.Join(dir, "gone")
	must(t, o.Add(nil, Path(gone)))
	bad := Resource{Kind: "future", Name: "x"}
	must(t, o.Add(nil, bad))
	err := o.Close(context.Background(), 0)
	if err == nil || !strings.Contains(err.Error(), `unknown resource kind "future"`) {
		t.Fatalf("Close: %v", err)
	}
	if again := o.Close(context.Background(), 0); again != err {
		t.Errorf("second Close = %v, want the first's error", again)
	}
	recs, lerr := Load(sd)
	if lerr != nil || len(recs) != 1 || !reflect.DeepEqual(recs[0].Resources, []Resource{bad}) {
		t.Fatalf("left on disk: %v %v", recs, lerr)
	}
}

// TestOwnerForget checks that a link found to be another's is dropped.
func TestOwnerForget(t *testing.T) {
	sd := filepath.Join(t.TempDir(), "state")
	o := NewOwner(sd, "run-1", "c-2", "container")
	must(t, o.Add(nil, Link("vcbe7")))
	must(t, o.Forget(Link("vcbe7")))
	must(t, o.Add(nil, Link("vcbe8")))
	r := o.Record()
	if !reflect.DeepEqual(r.Resources, []Resource{Link("vcbe8")}) || !reflect.DeepEqual(r.Links, []string{"vcbe8"}) {
		t.Errorf("after Forget: %v %v", r.Resources, r.Links)
	}
	must(t, o.Close(context.Background(), 0))
}

// TestOwnerProcThenCleanup records a real process through AddProc and
// tears it down from the saved record as `vcbench cleanup` would.
func TestOwnerProcThenCleanup(t *testing.T) {
	dir := t.TempDir()
	sd := filepath.Join(dir, "state")
	o := NewOwner(sd, "run-1", "native-0", "native")
	scratch := filepath.Join(dir, "scratch")
	must(t, o.Add(nil, Path(scratch)))
	must(t, os.Mkdir(scratch, 0o755))
	cmd := exec.Command("/bin/sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, cmd.Start())
	go cmd.Wait()
	must(t, o.AddProc(cmd.Process.Pid, nil))
	p := o.Record().Procs[0]
	recs, err := Load(sd)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Load: %v %v", recs, err)
	}
	if got := recs[0].Summary(); got != "1 processes, 0 mounts, 0 links, 0 cgroups, 1 paths" {
		t.Errorf("Summary = %q", got)
	}
	must(t, recs[0].Teardown(time.Second))
	if p.Alive() {
		t.Error("process alive after teardown")
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("scratch still there: %v", err)
	}
	// The owner then finds nothing left to do.
	if err := o.Close(context.Background(), time.Second); err != nil {
		t.Errorf("Close after cleanup: %v", err)
	}
}

// TestLegacyRecord reads a record written before the ordered list and
// checks its creation order: paths, cgroups, links, mounts, processes.
func TestLegacyRecord(t *testing.T) {
	sd := t.TempDir()
	old := `{"run_id":"r","instance":"i","runtime":"oci-runc","owner":{"pid":1,"start_time":1},
	"created":"2024-01-01T00:00:00Z","procs":[{"pid":5,"start_time":9}],"mounts":["/m"],
	"links":["vcbe0"],"cgroups":["/sys/fs/cgroup/x"],"paths":["/a","/b"]}`
	must(t, os.WriteFile(filepath.Join(sd, "r--i.json"), []byte(old), 0o600))
	recs, err := Load(sd)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Load: %v %v", recs, err)
	}
	want := []Resource{Path("/a"), Path("/b"), Cgroup("/sys/fs/cgroup/x"), Link("vcbe0"), Mount("/m"), Process(Proc{Pid: 5, StartTime: 9})}
	if got := recs[0].ordered(); !reflect.DeepEqual(got, want) {
		t.Errorf("creation order %v, want %v", got, want)
	}
	// And a new record keeps the lists that older binaries read.
	r := New(sd, "r", "j", "vm")
	r.setResources(want)
	b, _ := json.Marshal(r)
	var back struct {
		Procs []Proc   `json:"procs"`
		Paths []string `json:"paths"`
	}
	json.Unmarshal(b, &back)
	if len(back.Procs) != 1 || !reflect.DeepEqual(back.Paths, []string{"/a", "/b"}) {
		t.Errorf("per-type lists in %s", b)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
