package image

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRootfsTarReproducible(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "bin", "agent"), []byte("binary"), 0o755)
	os.Symlink("/bin/agent", filepath.Join(dir, "init"))
	a, da, err := RootfsTar(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A new mtime changes nothing in the archive.
	os.Chtimes(filepath.Join(dir, "bin", "agent"), time0(), time0())
	b, db, err := RootfsTar(dir)
	if err != nil {
		t.Fatal(err)
	}
	if da != db || !bytes.Equal(a, b) {
		t.Fatalf("digest changed with mtime: %s vs %s", da, db)
	}
	tr := tar.NewReader(bytes.NewReader(a))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d", h.Name, h.Uid, h.Gid)
		}
		if h.Name == "init" && h.Linkname != "/bin/agent" {
			t.Errorf("init links to %q", h.Linkname)
		}
		names = append(names, h.Name)
	}
	if got := strings.Join(names, ","); got != "bin/,bin/agent,init" {
		t.Errorf("entries %s", got)
	}
	if tag := EngineTag(da); tag != EngineRepo+":"+da[:16] {
		t.Errorf("tag %s", tag)
	}
}

func time0() (t0 time.Time) { return time.Unix(12345, 0) }
