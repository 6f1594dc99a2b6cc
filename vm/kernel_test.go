package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vcbench/image"
)

// TestGuestForAuto: kernel auto boots the cloud kernel where the small one
// is not built, and says how to build it; once the small guest is there,
// auto boots it; an explicit kernel is what the scenario says.
func TestGuestForAuto(t *testing.T) {
	idir, kdir := t.TempDir(), t.TempDir()
	p := image.Paths{Dir: idir}
	for _, f := range []string{p.Kernel(), p.Initramfs()} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.WriteManifest("guest", image.Manifest{Digest: "d", Info: map[string]string{"kernel": string(image.KernelCloud)}}); err != nil {
		t.Fatal(err)
	}
	g, why, err := guestFor(p, KernelAuto)
	if err != nil || g.Dir != idir || !strings.Contains(why, "not built") || !strings.Contains(why, "--kernel small") {
		t.Errorf("auto without the small kernel: %s, %q, %v; want the cloud guest in %s and how to build the small one", g.Dir, why, err, idir)
	}
	if _, _, err := guestFor(p, KernelSmall); err == nil {
		t.Error("kernel small without the small kernel built: no error")
	}

	for _, f := range []string{"vmlinux", "bzImage"} {
		if err := os.WriteFile(filepath.Join(kdir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	agent := filepath.Join(kdir, "agent")
	if err := os.WriteFile(agent, []byte("agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	k := image.SmallKernel{Dir: kdir, Key: "k1", SourceVersion: "6.1.1-1", Release: "6.1.1-vcbench-small"}
	if _, err := image.InstallSmallGuest(p.SmallGuest(), k, agent, ""); err != nil {
		t.Fatal(err)
	}
	g, why, err = guestFor(p, KernelAuto)
	if err != nil || g.Dir != p.SmallGuest().Dir || !strings.Contains(why, "small kernel is built") {
		t.Errorf("auto with the small kernel built: %s, %q, %v; want %s", g.Dir, why, err, p.SmallGuest().Dir)
	}
	g, why, err = guestFor(p, KernelCloud)
	if err != nil || g.Dir != idir || why != "kernel: cloud in the scenario" {
		t.Errorf("kernel cloud: %s, %q, %v", g.Dir, why, err)
	}
}
