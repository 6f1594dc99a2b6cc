package image

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"

	"vcbench/agent/proto"
	"vcbench/internal/testenv"
)

func TestParseModinfoDepends(t *testing.T) {
	for _, tc := range []struct {
		info string
		want []string
	}{
		{"license=GPL\x00depends=virtio,virtio_ring\x00intree=Y\x00", []string{"virtio", "virtio_ring"}},
		{"depends=\x00name=virtio_ring\x00", nil},
		{"license=GPL\x00name=failover\x00", nil},
		{"depends=net_failover\x00", []string{"net_failover"}},
	} {
		if got := parseModinfoDepends([]byte(tc.info)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseModinfoDepends(%q) = %v, want %v", tc.info, got, tc.want)
		}
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"/lib/modules/x/kernel/drivers/net/virtio_net.ko": "virtio_net",
		"virtio-rng.ko.xz": "virtio_rng",
		"failover.ko.zst":  "failover",
		"a-b.ko.gz":        "a_b",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}

// The dependency graph of Debian 6.1's cloud kernel for the guest's modules.
var cloudDeps = map[string][]string{
	"virtio_ring": nil, "virtio": nil, "failover": nil,
	"virtio_mmio":           {"virtio", "virtio_ring"},
	"virtio_pci_legacy_dev": nil, "virtio_pci_modern_dev": nil,
	"virtio_pci":   {"virtio_pci_modern_dev", "virtio", "virtio_ring", "virtio_pci_legacy_dev"},
	"net_failover": {"failover"},
	"virtio_net":   {"net_failover", "virtio", "virtio_ring"},
	"virtio_blk":   {"virtio", "virtio_ring"},
	"virtio_rng":   {"virtio", "virtio_ring"},
}

func fakeLoad(deps map[string][]string) func(string) (Module, error) {
	return func(name string) (Module, error) {
		d, ok := deps[name]
		if !ok {
			return Module{}, fmt.Errorf("module %s not found", name)
		}
		return Module{Name: name, Depends: d}, nil
	}
}

func TestOrderModules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		want    []string
		deps    map[string][]string
		order   []string
		wantErr string
	}{
		{name: "guest", deps: cloudDeps, want: GuestModules, order: []string{
			"virtio", "virtio_ring", "virtio_blk", "virtio_mmio", "failover", "net_failover", "virtio_net",
			"virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_rng"}},
		{name: "net only", deps: cloudDeps, want: []string{"virtio_net"}, order: []string{
			"failover", "net_failover", "virtio", "virtio_ring", "virtio_net"}},
		{name: "dash names", deps: map[string][]string{"a_b": {"c-d"}, "c_d": nil}, want: []string{"a-b"}, order: []string{"c_d", "a_b"}},
		{name: "cycle", deps: map[string][]string{"a": {"b"}, "b": {"a"}}, want: []string{"a"}, wantErr: "cycle: a -> b -> a"},
		{name: "missing", deps: map[string][]string{"a": {"zz"}}, want: []string{"a"}, wantErr: "zz not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mods, err := orderModules(tc.want, fakeLoad(tc.deps))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range mods {
				got = append(got, m.Name)
			}
			if !reflect.DeepEqual(got, tc.order) {
				t.Errorf("order %v, want %v", got, tc.order)
			}
			// Every module after its dependencies.
			pos := map[string]int{}
			for i, n := range got {
				pos[n] = i
			}
			for _, n := range got {
				for _, d := range tc.deps[n] {
					if pos[strings.ReplaceAll(d, "-", "_")] > pos[n] {
						t.Errorf("%s before its dependency %s", n, d)
					}
				}
			}
		})
	}
}

func TestInitramfsRecords(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	os.WriteFile(agent, []byte("ELF..."), 0o755)
	mods := []Module{{Name: "virtio", Data: []byte("v")}, {Name: "virtio_net", Data: []byte("n")}}
	dst := filepath.Join(dir, "initramfs.cpio")
	if err := writeInitramfs(dst, Files(agent, ""), mods); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(f))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]cpio.Record{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	con, ok := byName["dev/console"]
	if !ok || con.Mode&cpio.S_IFMT != cpio.S_IFCHR || con.Rmajor != 5 || con.Rminor != 1 {
		t.Errorf("dev/console: %v", con)
	}
	for _, n := range []string{"init", "bin/vcbench-agent", "lib/modules/virtio.ko", "lib/modules/virtio_net.ko", strings.TrimPrefix(proto.ModuleOrderPath, "/")} {
		if _, ok := byName[n]; !ok {
			t.Errorf("%s missing from the initramfs", n)
		}
	}
	order := byName[strings.TrimPrefix(proto.ModuleOrderPath, "/")]
	b := make([]byte, order.FileSize)
	order.ReadAt(b, 0)
	if string(b) != "/lib/modules/virtio.ko\n/lib/modules/virtio_net.ko\n" {
		t.Errorf("order file %q", b)
	}
}

// A synthetic bzImage: setup sectors, then a gzip payload of an ELF.
func TestExtractVmlinuxGzip(t *testing.T) {
	elfBytes, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		testenv.Require(t, "read this test binary: %v", err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(elfBytes)
	zw.Close()
	payload := binary.LittleEndian.AppendUint32(z.Bytes(), uint32(len(elfBytes)))
	img := make([]byte, 5*512) // setup_sects = 4 (0 means 4)
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint32(img[0x248:], 16)
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(len(payload)))
	img = append(img, make([]byte, 16)...)
	img = append(img, payload...)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "bzImage"), filepath.Join(dir, "vmlinux")
	os.WriteFile(src, img, 0o644)
	if err := ExtractVmlinux(src, dst); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, elfBytes) {
		t.Errorf("extracted %d bytes, want the %d-byte ELF", len(got), len(elfBytes))
	}
	os.WriteFile(src, []byte("not a kernel"), 0o644)
	if err := ExtractVmlinux(src, dst); err == nil {
		t.Error("extracted a vmlinux from garbage")
	}
}

// TestBuildGuestCached builds the guest from a kernel package that an
// earlier build cached (the vm tests' image dir or VCBENCH_TEST_IMAGE_DIR,
// or the images `make images` built: DefaultDir), so that it needs apt only
// to resolve the version, and checks that a second build with the same
// inputs does nothing.
func TestBuildGuestCached(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Require(t, "needs root (apt)")
	}
	var debs, searched []string
	for _, src := range []string{os.Getenv("VCBENCH_TEST_IMAGE_DIR"), "/var/cache/vcbench/test-images", DefaultDir()} {
		if src == "" || len(debs) > 0 {
			continue
		}
		dir := Paths{Dir: src}.KernelCacheDir()
		searched = append(searched, dir)
		debs, _ = filepath.Glob(filepath.Join(dir, "linux-image-*.deb"))
	}
	if len(debs) == 0 {
		testenv.Require(t, "no cached kernel package in %s (run `make images` or the vm tests first)", strings.Join(searched, ", "))
	}
	p := Paths{Dir: t.TempDir()}
	os.MkdirAll(p.KernelCacheDir(), 0o755)
	for _, d := range debs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(p.KernelCacheDir(), filepath.Base(d)), b, 0o644)
	}
	agent := filepath.Join(t.TempDir(), "agent")
	os.WriteFile(agent, []byte("not really an agent"), 0o755)
	built, err := BuildGuest(t.Context(), p, agent, "")
	if err != nil {
		t.Fatal(err)
	}
	if !built {
		t.Error("first build reported nothing built")
	}
	m, err := p.ReadManifest("guest")
	if err != nil {
		t.Fatal(err)
	}
	mods := strings.Fields(m.Info["modules"])
	pos := map[string]int{}
	for i, n := range mods {
		pos[n] = i
	}
	for _, w := range append(GuestModules, "virtio", "virtio_ring", "failover", "net_failover") {
		if _, ok := pos[w]; !ok {
			t.Errorf("module %s not in %v", w, mods)
		}
	}
	if pos["net_failover"] > pos["virtio_net"] || pos["virtio_ring"] > pos["virtio_mmio"] {
		t.Errorf("dependency after its user: %v", mods)
	}
	for _, f := range []string{p.Kernel(), p.KernelELF(), p.Initramfs()} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if built, err := BuildGuest(t.Context(), p, agent, ""); err != nil || built {
		t.Errorf("second build: built=%v err=%v, want no rebuild", built, err)
	}
	os.WriteFile(agent, []byte("a changed agent"), 0o755)
	if built, err := BuildGuest(t.Context(), p, agent, ""); err != nil || !built {
		t.Errorf("build after the agent changed: built=%v err=%v, want a rebuild", built, err)
	}
}
