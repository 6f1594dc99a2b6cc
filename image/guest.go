package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pierrec/lz4/v4"
	"github.com/u-root/u-root/pkg/cpio"

	"vcbench/agent/proto"
)

// KernelMetaPackage is Debian's meta package whose dependency names the
// concrete cloud kernel package (linux-image-<abi>-cloud-amd64).
const KernelMetaPackage = "linux-image-cloud-amd64"

// GuestModules are the kernel modules the guest loads (with their
// dependencies): virtio transports for both machine types (virtio_mmio for
// microvm, virtio_pci for q35), the network card, the scratch disk and the
// entropy source (virtio_rng: without it the guest's random pool under TCG,
// whose CPU has no RDRAND, is ready only after a second or so, and the
// agent's first getrandom waits for it). Debian's cloud kernel builds all
// of them as modules.
var GuestModules = []string{"virtio_mmio", "virtio_pci", "virtio_net", "virtio_blk", "virtio_rng"}

// guestFormat changes whenever the layout BuildGuest writes changes, so that
// an old image is rebuilt.
const guestFormat = "guest-v3"

// KernelELF is the guest kernel uncompressed (vmlinux, an ELF with a PVH
// entry note): QEMU can start it directly, sparing the guest the LZ4
// decompression of the bzImage, which under TCG costs a few hundred
// milliseconds of emulated instructions.
func (p Paths) KernelELF() string { return filepath.Join(p.Dir, "vmlinux") }

// KernelCacheDir is where BuildGuest keeps downloaded kernel packages and
// their unpacked trees, so that rebuilding the initramfs never downloads again.
func (p Paths) KernelCacheDir() string { return filepath.Join(p.Dir, "cache", "kernel") }

// BuildGuest builds the VM guest under p: the kernel (p.Kernel(), from
// Debian's linux-image-cloud-amd64, downloaded with apt-get download and
// unpacked with dpkg-deb, never installed) and the initramfs
// (p.Initramfs(), newc) holding Files(agent, busybox), /dev/console, the
// modules the guest needs (decompressed) and proto.ModuleOrderPath (dependencies first). It rebuilds
// only when an input changed (agent or busybox bytes, kernel package
// version, module list) and reports whether it did.
func BuildGuest(ctx context.Context, p Paths, agent, busybox string) (built bool, err error) {
	if err := os.MkdirAll(p.KernelCacheDir(), 0o755); err != nil {
		return false, fmt.Errorf("guest image: %w", err)
	}
	deb, err := kernelDeb(ctx, p.KernelCacheDir())
	if err != nil {
		return false, fmt.Errorf("guest image: %w", err)
	}
	files := Files(agent, busybox)
	digest, err := Digest(files, guestFormat, "kernel="+filepath.Base(deb), "modules="+strings.Join(GuestModules, ","))
	if err != nil {
		return false, fmt.Errorf("guest image: %w", err)
	}
	if p.UpToDate("guest", digest) && exists(p.Kernel()) && exists(p.KernelELF()) && exists(p.Initramfs()) {
		return false, nil
	}
	root, err := unpackDeb(ctx, deb)
	if err != nil {
		return false, fmt.Errorf("guest image: %w", err)
	}
	kernels, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(kernels) != 1 {
		return false, fmt.Errorf("guest image: want one /boot/vmlinuz-* in %s, found %d", deb, len(kernels))
	}
	release := strings.TrimPrefix(filepath.Base(kernels[0]), "vmlinuz-")
	modDir := filepath.Join(root, "lib", "modules", release)
	mods, err := ResolveModules(modDir, GuestModules)
	if err != nil {
		return false, fmt.Errorf("guest image: %w", err)
	}
	if err := copyFileAtomic(kernels[0], p.Kernel(), 0o644); err != nil {
		return false, fmt.Errorf("guest image: kernel: %w", err)
	}
	if err := ExtractVmlinux(kernels[0], p.KernelELF()); err != nil {
		return false, fmt.Errorf("guest image: %w", err)
	}
	if err := writeInitramfs(p.Initramfs(), files, mods); err != nil {
		return false, fmt.Errorf("guest image: initramfs: %w", err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	err = p.WriteManifest("guest", Manifest{Digest: digest, Info: map[string]string{
		"kernel":         string(KernelCloud),
		"kernel_package": filepath.Base(deb),
		"kernel_release": release,
		"modules":        strings.Join(names, " "),
	}})
	if err != nil {
		return false, fmt.Errorf("guest image: manifest: %w", err)
	}
	return true, nil
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// kernelDeb returns the cached .deb of the concrete kernel package that
// KernelMetaPackage depends on, downloading it when it is not cached. When
// apt's lists are missing it runs apt-get update once; when apt cannot be
// asked at all it falls back to a cached package.
func kernelDeb(ctx context.Context, cache string) (string, error) {
	pkg, ver, err := resolveKernelPackage(ctx)
	if err != nil {
		if out, uerr := run(ctx, "", "apt-get", "update"); uerr != nil {
			if deb := newestCached(cache); deb != "" {
				return deb, nil
			}
			return "", fmt.Errorf("resolve %s: %w (apt-get update: %v: %s)", KernelMetaPackage, err, uerr, out)
		}
		if pkg, ver, err = resolveKernelPackage(ctx); err != nil {
			return "", fmt.Errorf("resolve %s: %w", KernelMetaPackage, err)
		}
	}
	// apt names files pkg_version_arch.deb with the epoch's ':' as %3a.
	want := filepath.Join(cache, pkg+"_"+strings.ReplaceAll(ver, ":", "%3a")+"_amd64.deb")
	if exists(want) {
		return want, nil
	}
	if _, err := run(ctx, cache, "apt-get", "download", pkg+"="+ver); err != nil {
		if out, uerr := run(ctx, "", "apt-get", "update"); uerr != nil {
			return "", fmt.Errorf("apt-get download %s: %w (apt-get update: %v: %s)", pkg, err, uerr, out)
		}
		if out, err := run(ctx, cache, "apt-get", "download", pkg+"="+ver); err != nil {
			return "", fmt.Errorf("apt-get download %s: %w: %s", pkg, err, out)
		}
	}
	if !exists(want) {
		return "", fmt.Errorf("apt-get download %s=%s did not write %s", pkg, ver, want)
	}
	return want, nil
}

// resolveKernelPackage asks apt which concrete package the meta package
// depends on, and that package's candidate version.
func resolveKernelPackage(ctx context.Context) (pkg, ver string, err error) {
	out, err := run(ctx, "", "apt-cache", "depends", KernelMetaPackage)
	if err != nil {
		return "", "", fmt.Errorf("apt-cache depends: %w: %s", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if d, ok := strings.CutPrefix(l, "Depends: "); ok && strings.HasPrefix(d, "linux-image-") {
			pkg = strings.TrimSpace(d)
			break
		}
	}
	if pkg == "" {
		return "", "", fmt.Errorf("apt-cache depends %s names no linux-image package", KernelMetaPackage)
	}
	out, err = run(ctx, "", "apt-cache", "policy", pkg)
	if err != nil {
		return "", "", fmt.Errorf("apt-cache policy %s: %w: %s", pkg, err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Candidate: "); ok && v != "(none)" {
			return pkg, strings.TrimSpace(v), nil
		}
	}
	return "", "", fmt.Errorf("apt-cache policy %s: no candidate version", pkg)
}

func newestCached(cache string) string {
	debs, _ := filepath.Glob(filepath.Join(cache, "linux-image-*.deb"))
	sort.Strings(debs)
	if len(debs) == 0 {
		return ""
	}
	return debs[len(debs)-1]
}

// unpackDeb extracts deb next to itself (once) and returns the tree's root.
func unpackDeb(ctx context.Context, deb string) (string, error) {
	root := strings.TrimSuffix(deb, ".deb")
	if exists(filepath.Join(root, "boot")) {
		return root, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(deb), ".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := run(ctx, "", "dpkg-deb", "-x", deb, tmp); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, out)
	}
	os.RemoveAll(root)
	if err := os.Rename(tmp, root); err != nil {
		return "", fmt.Errorf("unpack %s: %w", deb, err)
	}
	return root, nil
}

func run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Module is one kernel module of the guest, decompressed.
type Module struct {
	Name    string   // canonical name (underscores), e.g. virtio_net
	Path    string   // file in the kernel tree
	Depends []string // from .modinfo depends=
	Data    []byte   // the ELF object, decompressed
}

// moduleName turns a module file name into the kernel's canonical module
// name: no directory, no .ko[.xz|.zst|.gz], '-' as '_'.
func moduleName(file string) string {
	b := filepath.Base(file)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(b, ".ko"), "-", "_")
}

// ResolveModules finds the wanted modules under modDir (a
// /lib/modules/<release> tree without modules.dep), reads each one's
// dependencies from its .modinfo section and returns the closure in load
// order: every module after all of its dependencies, ties in name order.
func ResolveModules(modDir string, want []string) ([]Module, error) {
	index := map[string]string{}
	err := filepath.WalkDir(modDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n := d.Name()
		if !d.IsDir() && (strings.HasSuffix(n, ".ko") || strings.HasSuffix(n, ".ko.xz") || strings.HasSuffix(n, ".ko.zst") || strings.HasSuffix(n, ".ko.gz")) {
			index[moduleName(n)] = path
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules in %s: %w", modDir, err)
	}
	load := func(name string) (Module, error) {
		path, ok := index[name]
		if !ok {
			return Module{}, fmt.Errorf("module %s not found in %s (built in or missing?)", name, modDir)
		}
		data, err := readModule(path)
		if err != nil {
			return Module{}, err
		}
		deps, err := ModinfoDepends(data)
		if err != nil {
			return Module{}, fmt.Errorf("module %s: %w", path, err)
		}
		return Module{Name: name, Path: path, Depends: deps, Data: data}, nil
	}
	return orderModules(want, load)
}

// orderModules does the depth-first walk of ResolveModules with load
// supplying each module; it rejects dependency cycles.
func orderModules(want []string, load func(string) (Module, error)) ([]Module, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var out []Module
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		name = strings.ReplaceAll(name, "-", "_")
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, name), " -> "))
		}
		state[name] = visiting
		m, err := load(name)
		if err != nil {
			return err
		}
		deps := append([]string(nil), m.Depends...)
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		state[name] = done
		out = append(out, m)
		return nil
	}
	sorted := append([]string(nil), want...)
	sort.Strings(sorted)
	for _, w := range sorted {
		if err := visit(w, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readModule returns a module file's ELF bytes, decompressing .gz in Go
// and .xz/.zst with the host's xz/zstd tools, at build time, so that the
// guest only calls finit_module.
func readModule(path string) ([]byte, error) {
	switch {
	case strings.HasSuffix(path, ".gz"):
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("decompress %s: %w", path, err)
		}
		return io.ReadAll(zr)
	case strings.HasSuffix(path, ".xz"), strings.HasSuffix(path, ".zst"):
		tool := "xz"
		if strings.HasSuffix(path, ".zst") {
			tool = "zstd"
		}
		var stderr bytes.Buffer
		cmd := exec.Command(tool, "-dc", path)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("decompress %s with %s: %w: %s", path, tool, err, stderr.String())
		}
		return out, nil
	}
	return os.ReadFile(path)
}

// ModinfoDepends reads the depends= entry of a module's .modinfo section
// (NUL-separated key=value strings). No entry or an empty one means none.
func ModinfoDepends(elfData []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(elfData))
	if err != nil {
		return nil, fmt.Errorf("parse ELF: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errors.New("no .modinfo section")
	}
	info, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo: %w", err)
	}
	return parseModinfoDepends(info), nil
}

func parseModinfoDepends(info []byte) []string {
	for _, kv := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d = strings.TrimSpace(d); d != "" {
					deps = append(deps, d)
				}
			}
			return deps
		}
	}
	return nil
}

// writeInitramfs writes the newc archive atomically: the shared files,
// /dev/console (the kernel opens it for init's stdio before any devtmpfs
// exists) and the modules with their order file.
func writeInitramfs(dst string, files []File, mods []Module) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".initramfs-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	w := cpio.Newc.Writer(bw)
	recs, err := initramfsRecords(files, mods)
	if err != nil {
		tmp.Close()
		return err
	}
	if err := cpio.WriteRecords(w, recs); err != nil {
		tmp.Close()
		return err
	}
	if err := cpio.WriteTrailer(w); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func initramfsRecords(files []File, mods []Module) ([]cpio.Record, error) {
	var recs []cpio.Record
	for _, f := range files {
		name := cpio.Normalize(f.Path)
		perm := uint64(f.Mode.Perm())
		switch {
		case f.Mode&os.ModeDir != 0:
			recs = append(recs, cpio.Directory(name, perm))
		case f.Mode&os.ModeSymlink != 0:
			recs = append(recs, cpio.Symlink(name, f.Target))
		default:
			content := f.Content
			if f.Source != "" {
				b, err := os.ReadFile(f.Source)
				if err != nil {
					return nil, fmt.Errorf("read %s: %w", f.Source, err)
				}
				content = b
			}
			recs = append(recs, cpio.StaticRecord(content, cpio.Info{Name: name, Mode: cpio.S_IFREG | perm}))
		}
	}
	recs = append(recs, cpio.CharDev("dev/console", 0o600, 5, 1))
	var order strings.Builder
	for _, m := range mods {
		p := "/lib/modules/" + m.Name + ".ko"
		recs = append(recs, cpio.StaticRecord(m.Data, cpio.Info{Name: cpio.Normalize(p), Mode: cpio.S_IFREG | 0o644}))
		order.WriteString(p + "\n")
	}
	recs = append(recs, cpio.StaticRecord([]byte(order.String()), cpio.Info{Name: cpio.Normalize(proto.ModuleOrderPath), Mode: cpio.S_IFREG | 0o644}))
	return recs, nil
}

func copyFileAtomic(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// ExtractVmlinux writes the ELF kernel inside a bzImage to dst (atomically).
// The setup header's payload_offset/payload_length locate the compressed
// payload; Debian's cloud kernel uses LZ4 (legacy frames, as the kernel
// build writes them) and gzip is handled too. Other compressions are an
// error: the caller can still boot the bzImage.
func ExtractVmlinux(bzImage, dst string) error {
	b, err := os.ReadFile(bzImage)
	if err != nil {
		return fmt.Errorf("extract vmlinux: %w", err)
	}
	elfBytes, err := vmlinuxOf(b)
	if err != nil {
		return fmt.Errorf("extract vmlinux from %s: %w", bzImage, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".vmlinux-")
	if err != nil {
		return fmt.Errorf("extract vmlinux: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(elfBytes); err != nil {
		tmp.Close()
		return fmt.Errorf("extract vmlinux: %w", err)
	}
	tmp.Chmod(0o644)
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("extract vmlinux: %w", err)
	}
	return os.Rename(tmp.Name(), dst)
}

// maxCompressionRatio bounds how many bytes one byte of a kernel payload
// can decompress to: deflate's limit (1032:1) is above LZ4's (about 255:1).
const maxCompressionRatio = 1032

// vmlinuxOf returns the ELF kernel inside the bzImage b, as ExtractVmlinux
// describes.
func vmlinuxOf(b []byte) ([]byte, error) {
	if len(b) < 0x250 || string(b[0x202:0x206]) != "HdrS" {
		return nil, errors.New("not a bzImage")
	}
	setupSects := int(b[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects + 1) * 512
	off := start + int(binary.LittleEndian.Uint32(b[0x248:]))
	n := int(binary.LittleEndian.Uint32(b[0x24c:]))
	if off < 0 || n < 4 || off+n > len(b) {
		return nil, fmt.Errorf("payload %d+%d outside the %d-byte file", off, n, len(b))
	}
	payload := b[off : off+n]
	// The kernel build appends the uncompressed size (little endian). It
	// sizes the output buffer, so a size no payload of n bytes can reach
	// is refused rather than allocated.
	want := int(binary.LittleEndian.Uint32(payload[n-4:]))
	if want > maxCompressionRatio*n {
		return nil, fmt.Errorf("trailer says %d bytes, more than a %d-byte payload decompresses to", want, n)
	}
	var r io.Reader
	switch {
	case bytes.HasPrefix(payload, []byte{0x02, 0x21, 0x4c, 0x18}):
		r = lz4.NewReader(bytes.NewReader(payload[:n-4]))
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		r = zr
	default:
		return nil, fmt.Errorf("payload compression %x not supported", payload[:4])
	}
	var out bytes.Buffer
	out.Grow(want)
	if _, err := io.Copy(&out, io.LimitReader(r, int64(want)+1)); err != nil && out.Len() != want {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if out.Len() > want {
		return nil, fmt.Errorf("payload decompresses to more than the %d bytes its trailer says", want)
	}
	if out.Len() != want {
		return nil, fmt.Errorf("got %d bytes, header says %d", out.Len(), want)
	}
	if _, err := elf.NewFile(bytes.NewReader(out.Bytes())); err != nil {
		return nil, fmt.Errorf("payload is not an ELF: %w", err)
	}
	return out.Bytes(), nil
}
