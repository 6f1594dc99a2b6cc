package image

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestBuildRootfs(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	if err := os.WriteFile(agent, []byte("agent v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	busybox := filepath.Join(dir, "busybox")
	if err := os.WriteFile(busybox, []byte("busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := Paths{Dir: filepath.Join(dir, "images")}

	built, err := BuildRootfs(p, agent, "", busybox)
	if err != nil || !built {
		t.Fatalf("first build: built=%v err=%v", built, err)
	}
	for _, f := range Files(agent, busybox) {
		st, err := os.Lstat(filepath.Join(p.Rootfs(), f.Path))
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
			continue
		}
		switch {
		case f.Mode&os.ModeSymlink != 0:
			target, _ := os.Readlink(filepath.Join(p.Rootfs(), f.Path))
			if st.Mode()&os.ModeSymlink == 0 || target != f.Target {
				t.Errorf("%s: want a link to %s, got %v %q", f.Path, f.Target, st.Mode(), target)
			}
		case f.Mode.IsDir():
			if !st.IsDir() || st.Mode().Perm() != f.Mode.Perm() {
				t.Errorf("%s: mode %v, want %v", f.Path, st.Mode(), f.Mode)
			}
		default:
			if !st.Mode().IsRegular() || st.Mode().Perm() != f.Mode.Perm() {
				t.Errorf("%s: mode %v, want %v", f.Path, st.Mode(), f.Mode)
			}
		}
	}
	if b, _ := os.ReadFile(filepath.Join(p.Rootfs(), AgentPathInImage)); string(b) != "agent v1" {
		t.Errorf("agent in rootfs %q", b)
	}
	if b, _ := os.ReadFile(p.Agent()); string(b) != "agent v1" {
		t.Errorf("agent copy %q", b)
	}
	if st, err := os.Stat(p.Rootfs()); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("rootfs dir %v %v, want 0755", st, err)
	}

	built, err = BuildRootfs(p, agent, "", busybox)
	if err != nil || built {
		t.Fatalf("unchanged inputs: built=%v err=%v, want no rebuild", built, err)
	}

	if err := os.WriteFile(agent, []byte("agent v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	built, err = BuildRootfs(p, agent, "", "")
	if err != nil || !built {
		t.Fatalf("changed agent: built=%v err=%v, want a rebuild", built, err)
	}
	if b, _ := os.ReadFile(filepath.Join(p.Rootfs(), AgentPathInImage)); !bytes.Equal(b, []byte("agent v2")) {
		t.Errorf("agent after rebuild %q", b)
	}
	if _, err := os.Lstat(filepath.Join(p.Rootfs(), "bin/busybox")); !os.IsNotExist(err) {
		t.Errorf("busybox left from the old tree: %v", err)
	}
	// Only the rootfs, its manifest and the agent: no temporary trees.
	entries, _ := os.ReadDir(p.Dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 {
		t.Errorf("image dir holds %v, want rootfs, rootfs.manifest.json, vcbench-agent", names)
	}

	// The container init joins the tree, and is part of its digest.
	initBin := filepath.Join(filepath.Dir(agent), "vcbench-init")
	if err := os.WriteFile(initBin, []byte("init"), 0o755); err != nil {
		t.Fatal(err)
	}
	if InitBeside(agent) != initBin {
		t.Errorf("InitBeside(%s) = %q, want %s", agent, InitBeside(agent), initBin)
	}
	if built, err := BuildRootfs(p, agent, initBin, ""); err != nil || !built {
		t.Fatalf("with init: built=%v err=%v, want a rebuild", built, err)
	}
	if b, _ := os.ReadFile(filepath.Join(p.Rootfs(), InitPathInImage)); !bytes.Equal(b, []byte("init")) {
		t.Errorf("init in the tree %q", b)
	}

	// A missing tree is rebuilt even when the manifest matches.
	if err := os.RemoveAll(p.Rootfs()); err != nil {
		t.Fatal(err)
	}
	if built, err := BuildRootfs(p, agent, "", ""); err != nil || !built {
		t.Fatalf("missing tree: built=%v err=%v", built, err)
	}
}

func TestBuildRootfsMissingAgent(t *testing.T) {
	dir := t.TempDir()
	p := Paths{Dir: filepath.Join(dir, "images")}
	if _, err := BuildRootfs(p, filepath.Join(dir, "nope"), "", ""); err == nil {
		t.Fatal("built without an agent")
	}
	if _, err := os.Stat(p.Rootfs()); !os.IsNotExist(err) {
		t.Errorf("a rootfs appeared: %v", err)
	}
}
