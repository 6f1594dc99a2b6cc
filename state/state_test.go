package state

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestProcAlive(t *testing.T) {
	self, err := ProcOf(os.Getpid())
	if err != nil || !self.Alive() {
		t.Fatalf("this process is not alive: %+v %v", self, err)
	}
	recycled := self
	recycled.StartTime++
	if recycled.Alive() {
		t.Error("a pid with another start time (recycled) counts as alive")
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, _ := ProcOf(cmd.Process.Pid)
	deadline := time.Now().Add(5 * time.Second)
	for p.Alive() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // becomes a zombie until waited for
	}
	if p.Alive() {
		t.Error("a zombie counts as alive")
	}
	cmd.Wait()
	if (Proc{Pid: -1}).Alive() {
		t.Error("pid -1 alive")
	}
}

// TestTeardown records a real process and files, tears them down from the
// record as `vcbench cleanup` would, and checks that a second teardown is
// harmless.
func TestTeardown(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("/bin/sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait() // reap, as the owner would
	scratch := filepath.Join(dir, "scratch")
	os.MkdirAll(filepath.Join(scratch, "sub"), 0o755)
	os.WriteFile(filepath.Join(scratch, "sub", "f"), []byte("x"), 0o644)

	r := New(filepath.Join(dir, "state"), "run-1", "vm-3", "vm")
	p, err := ProcOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	r.Procs = []Proc{p}
	r.Paths = []string{scratch}
	r.Links = []string{"vcbnosuch0"}
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	recs, err := Load(filepath.Join(dir, "state"))
	if err != nil || len(recs) != 1 || recs[0].Instance != "vm-3" || len(recs[0].Procs) != 1 {
		t.Fatalf("Load: %v %+v", err, recs)
	}
	if len(Stale(recs)) != 0 {
		t.Error("a record of this live process counts as stale")
	}
	if err := recs[0].Teardown(time.Second); err != nil {
		t.Fatal(err)
	}
	if p.Alive() {
		t.Error("process still alive after teardown")
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("scratch still there: %v", err)
	}
	if recs, _ := Load(filepath.Join(dir, "state")); len(recs) != 0 {
		t.Errorf("%d records left", len(recs))
	}
	if err := r.Teardown(time.Second); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

func TestStale(t *testing.T) {
	live := &Record{Owner: mustProc(t, os.Getpid())}
	dead := &Record{Owner: Proc{Pid: os.Getpid(), StartTime: 1}}
	got := Stale([]*Record{live, dead})
	if len(got) != 1 || got[0] != dead {
		t.Errorf("Stale = %v", got)
	}
}

func mustProc(t *testing.T, pid int) Proc {
	p, err := ProcOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLinkOwner: LinkAlias names this live process, LinkOwner reads it
// back, and other aliases name nobody.
func TestLinkOwner(t *testing.T) {
	p, ok := LinkOwner(LinkAlias())
	if !ok || p.Pid != os.Getpid() || !p.Alive() {
		t.Errorf("LinkOwner(LinkAlias()) = %+v, %v; want this live process", p, ok)
	}
	for _, a := range []string{"", "uplink", "vcbench owner", "vcbench owner 12", "vcbench owner x 1", "vcbench owner 0 5", "vcbench owner 12 -1"} {
		if p, ok := LinkOwner(a); ok {
			t.Errorf("LinkOwner(%q) = %+v, want none", a, p)
		}
	}
}
