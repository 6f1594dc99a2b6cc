package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"

	"vcbench/agent/proto"
)

// TestSmallKernelConfigMustHaves checks the fragment asks for everything
// the guest cannot boot or serve without, and for no modules.
func TestSmallKernelConfigMustHaves(t *testing.T) {
	opts := ParseKconfig(SmallKernelConfig)
	for _, o := range []string{
		"CONFIG_64BIT", "CONFIG_PVH", "CONFIG_HYPERVISOR_GUEST",
		"CONFIG_VIRTIO", "CONFIG_VIRTIO_MMIO", "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES",
		"CONFIG_PCI", "CONFIG_VIRTIO_PCI", "CONFIG_VIRTIO_NET", "CONFIG_VIRTIO_BLK",
		"CONFIG_TTY", "CONFIG_SERIAL_8250", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_PRINTK", "CONFIG_EARLY_PRINTK",
		"CONFIG_BLK_DEV_INITRD", "CONFIG_BINFMT_ELF", "CONFIG_DEVTMPFS", "CONFIG_PROC_FS", "CONFIG_SYSFS", "CONFIG_TMPFS",
		"CONFIG_NET", "CONFIG_UNIX", "CONFIG_INET", "CONFIG_NETDEVICES",
		"CONFIG_MULTIUSER", "CONFIG_FUTEX", "CONFIG_EPOLL", "CONFIG_EVENTFD", "CONFIG_TIMERFD", "CONFIG_SIGNALFD",
		"CONFIG_SMP",
	} {
		if opts[o] != "y" {
			t.Errorf("%s=%q in the fragment, want y", o, opts[o])
		}
	}
	if v, ok := opts["CONFIG_MODULES"]; !ok || v != "n" {
		t.Errorf("CONFIG_MODULES: fragment says %q, want \"# CONFIG_MODULES is not set\"", v)
	}
	for o, v := range opts {
		if v == "m" {
			t.Errorf("%s=m: the small kernel has no modules", o)
		}
	}
	if !strings.Contains(opts["CONFIG_LOCALVERSION"], SmallKernelFlavorName) {
		t.Errorf("CONFIG_LOCALVERSION=%s does not name %s", opts["CONFIG_LOCALVERSION"], SmallKernelFlavorName)
	}
}

// TestSmallKernelConfigFile checks the embedded fragment is the file in
// the repository that reviewers read.
func TestSmallKernelConfigFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("kconfig", "vcbench-guest.config"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != SmallKernelConfig {
		t.Fatal("embedded fragment differs from kconfig/vcbench-guest.config")
	}
}

func TestParseKconfigAndMismatches(t *testing.T) {
	want := ParseKconfig("# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\"\nCONFIG_D=y\n")
	have := ParseKconfig("CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=\"x\"\n# CONFIG_D is not set\n")
	got := strings.Join(ConfigMismatches(want, have), "; ")
	if got != "CONFIG_B=n (got y); CONFIG_D=y (got n)" {
		t.Fatalf("mismatches: %s", got)
	}
	if m := ConfigMismatches(ParseKconfig("# CONFIG_E is not set\n"), map[string]string{}); len(m) != 0 {
		t.Fatalf("absent option counts as n, got %v", m)
	}
}

func TestSmallKernelKey(t *testing.T) {
	a := SmallKernelKey("6.1.1-1", "CONFIG_A=y\n")
	if a == SmallKernelKey("6.1.2-1", "CONFIG_A=y\n") || a == SmallKernelKey("6.1.1-1", "CONFIG_A=n\n") {
		t.Fatal("key ignores source version or fragment")
	}
	if a != SmallKernelKey("6.1.1-1", "CONFIG_A=y\n") {
		t.Fatal("key is not deterministic")
	}
}

func TestParseKernelFlavor(t *testing.T) {
	for _, s := range []string{"cloud", "small"} {
		if f, err := ParseKernelFlavor(s); err != nil || string(f) != s {
			t.Errorf("%s: %v %v", s, f, err)
		}
	}
	if _, err := ParseKernelFlavor("tiny"); err == nil {
		t.Error("tiny accepted")
	}
}

// fakeSmallKernel is a built small kernel of made-up files (vmlinux,
// bzImage) and an agent beside it.
func fakeSmallKernel(t *testing.T) (SmallKernel, string) {
	t.Helper()
	kdir := t.TempDir()
	for _, f := range []string{"vmlinux", "bzImage"} {
		if err := os.WriteFile(filepath.Join(kdir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	agent := filepath.Join(kdir, "agent")
	if err := os.WriteFile(agent, []byte("agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	return SmallKernel{Dir: kdir, Key: "k1", SourceVersion: "6.1.1-1", Release: "6.1.1-vcbench-small"}, agent
}

// TestInstallSmallGuest installs a fake built kernel into an image dir and
// checks the files, the empty module list and the manifest.
func TestInstallSmallGuest(t *testing.T) {
	k, agent := fakeSmallKernel(t)
	idir := t.TempDir()
	p := Paths{Dir: idir}
	built, err := InstallSmallGuest(p, k, agent, "")
	if err != nil || !built {
		t.Fatalf("install: built=%v err=%v", built, err)
	}
	if b, _ := os.ReadFile(p.KernelELF()); string(b) != "vmlinux" {
		t.Errorf("vmlinux: %q", b)
	}
	if b, _ := os.ReadFile(p.Kernel()); string(b) != "bzImage" {
		t.Errorf("bzImage: %q", b)
	}
	m, err := p.ReadManifest("guest")
	if err != nil {
		t.Fatal(err)
	}
	if m.Info["kernel"] != "small" || m.Info["kernel_release"] != k.Release || m.Info["kernel_flavor"] != SmallKernelFlavorName {
		t.Errorf("manifest: %v", m.Info)
	}
	if m.Info[ManifestKernelACPI] != "n" || !p.GuestWithoutACPI() {
		t.Errorf("small kernel without ACPI: manifest %v", m.Info)
	}
	if (Paths{Dir: t.TempDir()}).GuestWithoutACPI() {
		t.Error("no manifest: GuestWithoutACPI must be false (the cloud kernel's default)")
	}
	recs := readCPIO(t, p.Initramfs())
	if order, ok := recs[strings.TrimPrefix(proto.ModuleOrderPath, "/")]; !ok || order != "" {
		t.Errorf("module order file: present=%v content=%q", ok, order)
	}
	if built, err := InstallSmallGuest(p, k, agent, ""); err != nil || built {
		t.Errorf("second install: built=%v err=%v, want up to date", built, err)
	}
	k.Key = "k2"
	if built, err := InstallSmallGuest(p, k, agent, ""); err != nil || !built {
		t.Errorf("install of another kernel: built=%v err=%v", built, err)
	}
}

// readCPIO returns a newc archive's regular files by name (no leading /).
func readCPIO(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(f))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range recs {
		if r.Mode&cpio.S_IFMT == cpio.S_IFREG {
			b := make([]byte, r.FileSize)
			r.ReadAt(b, 0)
			out[r.Name] = string(b)
		}
	}
	return out
}

// TestGuestFor: the small guest beside the cloud one is found by flavor;
// an image dir whose own guest is small serves kernel small too; a missing
// flavor names the build command.
func TestGuestFor(t *testing.T) {
	k, agent := fakeSmallKernel(t)
	idir := t.TempDir()
	p := Paths{Dir: idir}
	if _, err := p.GuestFor(KernelCloud); err == nil || !strings.Contains(err.Error(), "vcbench images build --image-dir "+idir) {
		t.Errorf("empty dir, cloud: %v", err)
	}
	if _, err := InstallSmallGuest(p.SmallGuest(), k, agent, ""); err != nil {
		t.Fatal(err)
	}
	if g, err := p.GuestFor(KernelSmall); err != nil || g.Dir != p.SmallGuest().Dir {
		t.Errorf("small: %v %v, want %s", g, err, p.SmallGuest().Dir)
	}
	// A cloud guest at the top (as BuildGuest leaves it).
	for _, f := range []string{p.Kernel(), p.Initramfs()} {
		os.WriteFile(f, []byte("x"), 0o644)
	}
	p.WriteManifest("guest", Manifest{Digest: "d", Info: map[string]string{"kernel": string(KernelCloud)}})
	if g, err := p.GuestFor(KernelCloud); err != nil || g.Dir != idir {
		t.Errorf("cloud: %v %v", g, err)
	}
	// A dir whose own guest is small (InstallSmallGuest into it).
	q := Paths{Dir: t.TempDir()}
	if _, err := InstallSmallGuest(q, k, agent, ""); err != nil {
		t.Fatal(err)
	}
	if g, err := q.GuestFor(KernelSmall); err != nil || g.Dir != q.Dir {
		t.Errorf("own small guest: %v %v", g, err)
	}
	if _, err := q.GuestFor(KernelCloud); err == nil || !strings.Contains(err.Error(), "holds the small kernel") {
		t.Errorf("cloud from a small-only dir: %v", err)
	}
}
