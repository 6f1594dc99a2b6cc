package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"vcbench/internal/testenv"
)

func TestParseAptSources(t *testing.T) {
	// This machine's /etc/apt/sources.list.d/debian.sources (deb822) and a
	// classic sources.list with options and comments.
	deb822 := `Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
Enabled: no
URIs: http://off.example/debian
Suites: bookworm
Components: main
`
	got := ParseDeb822Sources(deb822)
	want := []AptSource{
		{URI: "http://deb.debian.org/debian", Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main"}},
		{URI: "http://deb.debian.org/debian-security", Suites: []string{"bookworm-security"}, Components: []string{"main"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("deb822:\n got %+v\nwant %+v", got, want)
	}
	list := "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib # trailing\ndeb-src http://x bookworm main\ndeb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n"
	got = ParseSourcesList(list)
	want = []AptSource{
		{URI: "http://mirror.example/debian", Suites: []string{"bookworm"}, Components: []string{"main", "contrib"}},
		{URI: "https://packages.cloud.google.com/apt", Suites: []string{"cloud-sdk-bookworm"}, Components: []string{"main"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sources.list:\n got %+v\nwant %+v", got, want)
	}
	if !got[0].Serves("bookworm", "main") || got[1].Serves("bookworm", "main") {
		t.Error("Serves: want the Debian mirror only")
	}
}

func TestParseDpkgQuery(t *testing.T) {
	// chroot tools-rootfs dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n' of bookworm.
	in := "fio\t3.33-3\tii \nhpcc\t1.5.0-3\tii \nredis-server\t5:7.0.15-1~deb12u7\tii \ngone\t1.0\trc \n"
	got, err := ParseDpkgQuery(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"fio": "3.33-3", "hpcc": "1.5.0-3", "redis-server": "5:7.0.15-1~deb12u7"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestWriteExt4 writes a small tree as ext4 without mounting and checks it
// with e2fsck and debugfs (e2fsprogs; no root needed).
func TestWriteExt4(t *testing.T) {
	for _, tool := range []string{"mke2fs", "e2fsck", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Require(t, "%s not installed (apt-get install e2fsprogs)", tool)
		}
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "usr", "bin"), 0o755)
	os.WriteFile(filepath.Join(tree, "usr", "bin", "tool"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.Symlink("usr/bin", filepath.Join(tree, "bin"))
	img := filepath.Join(dir, "tools.ext4")
	if err := WriteExt4(context.Background(), tree, img); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck: %v\n%s", err, out)
	}
	out, err := exec.Command("debugfs", "-R", "stat /usr/bin/tool", img).CombinedOutput()
	// mke2fs -d keeps the files' owners: root's when root built the tree.
	rootOwned := os.Geteuid() != 0 || strings.Contains(string(out), "User:     0   Group:     0")
	if err != nil || !rootOwned || !strings.Contains(string(out), "Mode:  0755") {
		t.Errorf("debugfs stat /usr/bin/tool: %v\n%s", err, out)
	}
	if _, err := os.Stat(img + ".tmp"); err == nil {
		t.Error("WriteExt4 left its temporary file")
	}
}

// TestUnmountUnder: a mount left in a tree (debootstrap's /proc) is
// detached before the tree is swapped in or removed.
func TestUnmountUnder(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Require(t, "needs root to mount")
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "proc")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("proc", sub, "proc", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(sub, unix.MNT_DETACH)
	if err := unmountUnder(dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/self/mounts")
	if strings.Contains(string(b), sub) {
		t.Errorf("%s still mounted after unmountUnder", sub)
	}
}
