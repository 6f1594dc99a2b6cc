package image

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed" // the kernel config fragment
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// KernelFlavor says which guest kernel an image carries.
type KernelFlavor string

// Guest kernels. KernelCloud (the default) is Debian's
// linux-image-cloud-amd64 with its virtio drivers as modules; KernelSmall
// is built here from Debian's linux-source-6.1 with SmallKernelConfig:
// everything the guest needs built in, no modules.
const (
	KernelCloud KernelFlavor = "cloud"
	KernelSmall KernelFlavor = "small"
)

// ParseKernelFlavor validates a --kernel value.
func ParseKernelFlavor(s string) (KernelFlavor, error) {
	switch f := KernelFlavor(s); f {
	case KernelCloud, KernelSmall:
		return f, nil
	}
	return "", fmt.Errorf("kernel %q: want %s or %s", s, KernelCloud, KernelSmall)
}

// SmallKernelFlavorName is how the manifest and the vm runtime's Describe
// name the small kernel.
const SmallKernelFlavorName = "vcbench-small"

// SmallKernelConfig is the kconfig fragment of the small guest kernel
// (image/kconfig/vcbench-guest.config), applied on top of `make tinyconfig`.
//
//go:embed kconfig/vcbench-guest.config
var SmallKernelConfig string

// LinuxSourcePackage is the Debian package whose tarball the small kernel
// is built from.
const LinuxSourcePackage = "linux-source-6.1"

// SmallKernelBuildDeps are the packages the small kernel's build needs:
// the source, gcc and make (build-essential), bc (timeconst.h), bison and
// flex (kconfig), libelf-dev (objtool) and xz-utils (the tarball). With
// no modules there is no module signing, so libssl-dev is not needed.
var SmallKernelBuildDeps = []string{LinuxSourcePackage, "build-essential", "bc", "bison", "flex", "libelf-dev", "xz-utils"}

// SmallKernelBuildTimeout bounds BuildSmallKernel as a whole (apt, unpack,
// configure, make): a build takes about four minutes on two cores.
const SmallKernelBuildTimeout = time.Hour

// smallKernelFormat changes whenever the way the small kernel is built
// changes (not its config: that is hashed), so that a cached one is rebuilt.
const smallKernelFormat = "small-kernel-v1"

// KernelSrcDir is where the small kernel's source tarball is unpacked.
func (p Paths) KernelSrcDir() string { return filepath.Join(p.Dir, "cache", "kernel-src") }

// KernelBuildDir is the small kernel's out-of-tree build directory (make
// O=): kept between builds, so that a changed config rebuilds only what
// it touches.
func (p Paths) KernelBuildDir() string { return filepath.Join(p.Dir, "cache", "kernel-build") }

// SmallKernelCacheDir holds each finished small kernel in a directory
// named after its key (source version, config fragment, build format).
func (p Paths) SmallKernelCacheDir() string { return filepath.Join(p.Dir, "cache", "kernel-small") }

// SmallKernel is one finished build of the small kernel.
type SmallKernel struct {
	Dir           string  // holds vmlinux, bzImage, config
	Key           string  // hash of source version, fragment and build format
	SourceVersion string  // the linux-source package's version
	Release       string  // `make kernelrelease`, e.g. 6.1.192-vcbench-small
	BuildSeconds  float64 // wall time of the make that built it
}

// Vmlinux is the uncompressed kernel (ELF with a PVH entry note).
func (k SmallKernel) Vmlinux() string { return filepath.Join(k.Dir, "vmlinux") }

// BzImage is the same kernel as a bzImage.
func (k SmallKernel) BzImage() string { return filepath.Join(k.Dir, "bzImage") }

// Config is the full .config the kernel was built with.
func (k SmallKernel) Config() string { return filepath.Join(k.Dir, "config") }

// SmallKernelKey hashes what a small kernel is built from.
func SmallKernelKey(sourceVersion, fragment string) string {
	h := sha256.Sum256([]byte(smallKernelFormat + "\x00" + sourceVersion + "\x00" + fragment))
	return hex.EncodeToString(h[:8])
}

// FindSmallKernel returns the cached small kernel built from the installed
// linux-source package and SmallKernelConfig, without building anything; an
// error says why there is none.
func FindSmallKernel(p Paths) (SmallKernel, error) {
	ver, err := installedVersion(context.Background(), LinuxSourcePackage)
	if err != nil {
		return SmallKernel{}, fmt.Errorf("small kernel: %w", err)
	}
	return cachedSmallKernel(p, ver)
}

func cachedSmallKernel(p Paths, ver string) (SmallKernel, error) {
	key := SmallKernelKey(ver, SmallKernelConfig)
	k := SmallKernel{Dir: filepath.Join(p.SmallKernelCacheDir(), key), Key: key, SourceVersion: ver}
	b, err := os.ReadFile(filepath.Join(k.Dir, "release"))
	if err != nil {
		return SmallKernel{}, fmt.Errorf("small kernel %s not built under %s: %w", key, p.SmallKernelCacheDir(), err)
	}
	k.Release = strings.TrimSpace(string(b))
	if b, err := os.ReadFile(filepath.Join(k.Dir, "build-seconds")); err == nil {
		k.BuildSeconds, _ = strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	}
	for _, f := range []string{k.Vmlinux(), k.BzImage()} {
		if !exists(f) {
			return SmallKernel{}, fmt.Errorf("small kernel %s: %s missing", key, f)
		}
	}
	return k, nil
}

// BuildSmallKernel returns the small kernel for the installed (or, when
// missing, apt-installed) linux-source package and SmallKernelConfig,
// building it when the cache has none: unpack the tarball once, `make
// tinyconfig`, merge the fragment, `make olddefconfig`, check that every
// option of the fragment held, then `nice make -j<cpus> vmlinux bzImage`.
// The build's output goes to log (nil: discarded) and to
// KernelBuildDir()/build.log. A build takes minutes; it stops when ctx ends.
func BuildSmallKernel(ctx context.Context, p Paths, log io.Writer) (k SmallKernel, built bool, err error) {
	if log == nil {
		log = io.Discard
	}
	ctx, cancel := context.WithTimeout(ctx, SmallKernelBuildTimeout)
	defer cancel()
	ver, err := ensurePackages(ctx, log, SmallKernelBuildDeps)
	if err != nil {
		return k, false, fmt.Errorf("small kernel: %w", err)
	}
	if k, err := cachedSmallKernel(p, ver); err == nil {
		return k, false, nil
	}
	src, err := unpackKernelSource(ctx, p, ver, log)
	if err != nil {
		return k, false, fmt.Errorf("small kernel: %w", err)
	}
	bdir := p.KernelBuildDir()
	if err := os.MkdirAll(bdir, 0o755); err != nil {
		return k, false, fmt.Errorf("small kernel: %w", err)
	}
	logFile, err := os.Create(filepath.Join(bdir, "build.log"))
	if err != nil {
		return k, false, fmt.Errorf("small kernel: %w", err)
	}
	defer logFile.Close()
	w := io.MultiWriter(logFile, log)
	if err := configureSmallKernel(ctx, src, bdir, w); err != nil {
		return k, false, fmt.Errorf("small kernel: %w (log: %s)", err, logFile.Name())
	}
	start := time.Now()
	jobs := "-j" + strconv.Itoa(runtime.NumCPU())
	if err := runLogged(ctx, w, src, "nice", "make", jobs, "O="+bdir, "vmlinux", "bzImage"); err != nil {
		return k, false, fmt.Errorf("small kernel: make: %w (log: %s)", err, logFile.Name())
	}
	secs := time.Since(start).Seconds()
	out, err := run(ctx, src, "make", "-s", "O="+bdir, "kernelrelease")
	if err != nil {
		return k, false, fmt.Errorf("small kernel: make kernelrelease: %w: %s", err, out)
	}
	release := strings.TrimSpace(lastLine(out))
	fmt.Fprintf(w, "small kernel %s built in %.0fs\n", release, secs)
	if err := saveSmallKernel(p, ver, bdir, release, secs); err != nil {
		return k, false, fmt.Errorf("small kernel: %w", err)
	}
	k, err = cachedSmallKernel(p, ver)
	return k, err == nil, err
}

// configureSmallKernel writes bdir/.config: tinyconfig, the fragment merged
// with the kernel's merge_config.sh, olddefconfig; then it checks the result.
func configureSmallKernel(ctx context.Context, src, bdir string, w io.Writer) error {
	frag := filepath.Join(bdir, "vcbench-guest.config")
	if err := os.WriteFile(frag, []byte(SmallKernelConfig), 0o644); err != nil {
		return fmt.Errorf("write config fragment: %w", err)
	}
	if err := runLogged(ctx, w, src, "make", "O="+bdir, "tinyconfig"); err != nil {
		return fmt.Errorf("make tinyconfig: %w", err)
	}
	if err := runLogged(ctx, w, src, "scripts/kconfig/merge_config.sh", "-m", "-O", bdir, filepath.Join(bdir, ".config"), frag); err != nil {
		return fmt.Errorf("merge_config.sh: %w", err)
	}
	if err := runLogged(ctx, w, src, "make", "O="+bdir, "olddefconfig"); err != nil {
		return fmt.Errorf("make olddefconfig: %w", err)
	}
	cfg, err := os.ReadFile(filepath.Join(bdir, ".config"))
	if err != nil {
		return fmt.Errorf("read .config: %w", err)
	}
	if missed := ConfigMismatches(ParseKconfig(SmallKernelConfig), ParseKconfig(string(cfg))); len(missed) > 0 {
		return fmt.Errorf("kconfig dropped options of the fragment (a dependency is missing): %s", strings.Join(missed, ", "))
	}
	return nil
}

// ParseKconfig reads a .config or fragment into option → value: "y", "m",
// a literal (strings keep their quotes), or "n" for "# CONFIG_X is not set".
func ParseKconfig(text string) map[string]string {
	opts := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(l, "# "); ok {
			if name, ok = strings.CutSuffix(name, " is not set"); ok && strings.HasPrefix(name, "CONFIG_") {
				opts[name] = "n"
			}
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			opts[k] = v
		}
	}
	return opts
}

// ConfigMismatches lists the options of want whose value in have differs
// (an option absent from have counts as "n").
func ConfigMismatches(want, have map[string]string) []string {
	var out []string
	for k, v := range want {
		h, ok := have[k]
		if !ok {
			h = "n"
		}
		if h != v {
			out = append(out, fmt.Sprintf("%s=%s (got %s)", k, v, h))
		}
	}
	sort.Strings(out)
	return out
}

// saveSmallKernel copies the build's results into the key's cache
// directory (atomically: a temp directory renamed).
func saveSmallKernel(p Paths, ver, bdir, release string, secs float64) error {
	key := SmallKernelKey(ver, SmallKernelConfig)
	if err := os.MkdirAll(p.SmallKernelCacheDir(), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(p.SmallKernelCacheDir(), ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for src, dst := range map[string]string{
		filepath.Join(bdir, "vmlinux"):                        "vmlinux",
		filepath.Join(bdir, "arch", "x86", "boot", "bzImage"): "bzImage",
		filepath.Join(bdir, ".config"):                        "config",
	} {
		if err := copyFileAtomic(src, filepath.Join(tmp, dst), 0o644); err != nil {
			return fmt.Errorf("save %s: %w", dst, err)
		}
	}
	for name, content := range map[string]string{
		"release":       release + "\n",
		"source":        LinuxSourcePackage + " " + ver + "\n",
		"build-seconds": strconv.FormatFloat(secs, 'f', 1, 64) + "\n",
	} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	final := filepath.Join(p.SmallKernelCacheDir(), key)
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("save small kernel: %w", err)
	}
	return nil
}

// unpackKernelSource unpacks /usr/src/linux-source-<v>.tar.xz under
// KernelSrcDir (once per package version) and returns the tree.
func unpackKernelSource(ctx context.Context, p Paths, ver string, log io.Writer) (string, error) {
	name := strings.TrimPrefix(LinuxSourcePackage, "linux-source-")
	tarball := filepath.Join("/usr/src", "linux-source-"+name+".tar.xz")
	tree := filepath.Join(p.KernelSrcDir(), "linux-source-"+name)
	stamp := filepath.Join(p.KernelSrcDir(), ".version")
	if b, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(b)) == ver && exists(filepath.Join(tree, "Makefile")) {
		return tree, nil
	}
	if err := os.MkdirAll(p.KernelSrcDir(), 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "unpacking %s\n", tarball)
	tmp, err := os.MkdirTemp(p.KernelSrcDir(), ".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := run(ctx, tmp, "tar", "-xf", tarball); err != nil {
		return "", fmt.Errorf("unpack %s: %w: %s", tarball, err, out)
	}
	os.Remove(stamp)
	os.RemoveAll(tree)
	if err := os.Rename(filepath.Join(tmp, "linux-source-"+name), tree); err != nil {
		return "", fmt.Errorf("unpack %s: %w", tarball, err)
	}
	// A different source invalidates the objects of the old one.
	os.RemoveAll(p.KernelBuildDir())
	if err := os.WriteFile(stamp, []byte(ver+"\n"), 0o644); err != nil {
		return "", err
	}
	return tree, nil
}

// ensurePackages apt-installs whichever of pkgs is missing (running
// apt-get update first if apt cannot find them) and returns the version of
// the first one.
func ensurePackages(ctx context.Context, log io.Writer, pkgs []string) (string, error) {
	var missing []string
	for _, pkg := range pkgs {
		if _, err := installedVersion(ctx, pkg); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(log, "apt-get install %s\n", strings.Join(missing, " "))
		args := append([]string{"install", "-y", "--no-install-recommends"}, missing...)
		install := func() error {
			cmd := exec.CommandContext(ctx, "apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("apt-get install %s: %w: %s", strings.Join(missing, " "), err, lastLine(string(out)))
			}
			return nil
		}
		if err := install(); err != nil {
			if out, uerr := run(ctx, "", "apt-get", "update"); uerr != nil {
				return "", fmt.Errorf("%w (apt-get update: %v: %s)", err, uerr, lastLine(out))
			}
			if err := install(); err != nil {
				return "", err
			}
		}
	}
	return installedVersion(ctx, pkgs[0])
}

// installedVersion is dpkg's version of an installed package, or an error.
func installedVersion(ctx context.Context, pkg string) (string, error) {
	out, err := run(ctx, "", "dpkg-query", "-W", "-f=${Status}\t${Version}", pkg)
	if err != nil {
		return "", fmt.Errorf("%s is not installed", pkg)
	}
	status, ver, _ := strings.Cut(strings.TrimSpace(out), "\t")
	if !strings.HasSuffix(status, " installed") || ver == "" {
		return "", fmt.Errorf("%s is not installed (%s)", pkg, status)
	}
	return ver, nil
}

// runLogged runs a command in dir with its output on w, in its own process
// group so that ending ctx stops make's children too.
func runLogged(ctx context.Context, w io.Writer, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		return err
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// SmallGuest is where BuildSmallGuest puts the small kernel's guest (its
// vmlinux, vmlinuz, initramfs.cpio and guest manifest): a directory of its
// own inside the image directory, so that the cloud kernel's guest stays
// beside it and each vm runtime boots the one its scenario names.
func (p Paths) SmallGuest() Paths { return Paths{Dir: filepath.Join(p.Dir, "guest-small")} }

// BuildSmallGuest is BuildGuest with the small kernel: it builds (or finds
// cached) the small kernel under p's cache, then installs it as the guest
// of p.SmallGuest() with InstallSmallGuest. Kernel build output goes to log.
func BuildSmallGuest(ctx context.Context, p Paths, agent, busybox string, log io.Writer) (built bool, err error) {
	k, kbuilt, err := BuildSmallKernel(ctx, p, log)
	if err != nil {
		return false, fmt.Errorf("guest image: %w", err)
	}
	gbuilt, err := InstallSmallGuest(p.SmallGuest(), k, agent, busybox)
	return kbuilt || gbuilt, err
}

// GuestKernel returns the flavor of the guest kernel installed in p: what
// its guest manifest says, KernelCloud for a manifest that predates the
// key, an error when p has no guest.
func (p Paths) GuestKernel() (KernelFlavor, error) {
	m, err := p.ReadManifest("guest")
	if err != nil {
		return "", fmt.Errorf("no guest image in %s: %w", p.Dir, err)
	}
	if f := KernelFlavor(m.Info["kernel"]); f != "" {
		return ParseKernelFlavor(string(f))
	}
	return KernelCloud, nil
}

// GuestFor returns the image directory whose guest has the kernel flavor
// f: for the small kernel p.SmallGuest(), or p itself when its own guest
// is the small one (an image dir made by InstallSmallGuest); for the cloud
// kernel p itself. The error says which build command makes what is
// missing.
func (p Paths) GuestFor(f KernelFlavor) (Paths, error) {
	var try []Paths
	switch f {
	case KernelSmall:
		try = []Paths{p.SmallGuest(), p}
	case KernelCloud:
		try = []Paths{p}
	default:
		return Paths{}, fmt.Errorf("kernel %q: want %s or %s", f, KernelCloud, KernelSmall)
	}
	var found []string
	for _, g := range try {
		have, err := g.GuestKernel()
		if err != nil {
			continue
		}
		if have == f && exists(g.Kernel()) && exists(g.Initramfs()) {
			return g, nil
		}
		found = append(found, fmt.Sprintf("%s holds the %s kernel", g.Dir, have))
	}
	cmd := "vcbench images build --image-dir " + p.Dir
	if f == KernelSmall {
		cmd = "vcbench images build --kernel small --image-dir " + p.Dir + " (minutes the first time)"
	}
	why := "no guest image"
	if len(found) > 0 {
		why = strings.Join(found, "; ")
	}
	return Paths{}, fmt.Errorf("no %s-kernel guest under %s (%s): run %s", f, p.Dir, why, cmd)
}

// ManifestKernelACPI is the guest manifest's key that says whether the
// kernel has ACPI ("y") or not ("n"); absent means yes (the cloud kernel).
const ManifestKernelACPI = "kernel_acpi"

// GuestWithoutACPI reports whether the image's guest kernel was built
// without ACPI (the small kernel). QEMU's microvm then has to describe its
// virtio-mmio devices on the kernel command line, which it does with acpi=off.
func (p Paths) GuestWithoutACPI() bool {
	m, err := p.ReadManifest("guest")
	return err == nil && m.Info[ManifestKernelACPI] == "n"
}

// InstallSmallGuest makes k the image's guest kernel: p.KernelELF() and
// p.Kernel() become its vmlinux and bzImage, p.Initramfs() gets
// Files(agent, busybox) and an empty module list (everything is built in),
// and the "guest" manifest records kernel=small with k's release, so that
// the vm runtime boots it and says so. It does nothing when the manifest
// already says so, and reports whether it wrote anything.
func InstallSmallGuest(p Paths, k SmallKernel, agent, busybox string) (built bool, err error) {
	files := Files(agent, busybox)
	digest, err := Digest(files, guestFormat, "kernel="+string(KernelSmall), "small="+k.Key)
	if err != nil {
		return false, fmt.Errorf("guest image: %w", err)
	}
	if p.UpToDate("guest", digest) && exists(p.Kernel()) && exists(p.KernelELF()) && exists(p.Initramfs()) {
		return false, nil
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return false, fmt.Errorf("guest image: %w", err)
	}
	if err := copyFileAtomic(k.BzImage(), p.Kernel(), 0o644); err != nil {
		return false, fmt.Errorf("guest image: kernel: %w", err)
	}
	if err := copyFileAtomic(k.Vmlinux(), p.KernelELF(), 0o644); err != nil {
		return false, fmt.Errorf("guest image: vmlinux: %w", err)
	}
	if err := writeInitramfs(p.Initramfs(), files, nil); err != nil {
		return false, fmt.Errorf("guest image: initramfs: %w", err)
	}
	acpi := ParseKconfig(SmallKernelConfig)["CONFIG_ACPI"]
	if cfg, err := os.ReadFile(k.Config()); err == nil {
		acpi = ParseKconfig(string(cfg))["CONFIG_ACPI"]
	}
	if acpi != "y" {
		acpi = "n"
	}
	err = p.WriteManifest("guest", Manifest{Digest: digest, Info: map[string]string{
		"kernel":           string(KernelSmall),
		ManifestKernelACPI: acpi,
		"kernel_flavor":    SmallKernelFlavorName,
		"kernel_release":   k.Release,
		"kernel_source":    LinuxSourcePackage + " " + k.SourceVersion,
		"kernel_key":       k.Key,
		"modules":          "",
	}})
	if err != nil {
		return false, fmt.Errorf("guest image: manifest: %w", err)
	}
	return true, nil
}
