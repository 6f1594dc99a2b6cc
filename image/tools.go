package image

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
)

// ToolsSuite is the Debian release the tools image is bootstrapped from.
const ToolsSuite = "bookworm"

// ToolsPackages are the packages debootstrap includes in the tools image:
// the third-party benchmarks the field trusts (DESIGN.md, "Anchors").
var ToolsPackages = []string{
	"fio", "iperf3", "sockperf", "sysbench", "stress-ng",
	"redis-server", "redis-tools", "mariadb-server", "hpcc",
}

// toolsFormat changes whenever the layout BuildTools writes changes.
const toolsFormat = "tools-v1"

// toolsManifest and toolsBaseManifest name the manifests of the finished
// tools image (agent and ext4 included) and of its debootstrapped tree.
const (
	toolsManifest     = "tools"
	toolsBaseManifest = "tools-base"
)

// ToolsRootfs is the tools image as a directory tree: the container and
// OCI root filesystem of runtimes with `image: tools`, and the tree the
// native agent chroots into.
func (p Paths) ToolsRootfs() string { return filepath.Join(p.Dir, "tools-rootfs") }

// ToolsDisk is the tools image as an ext4 file system image (read-only
// virtio-blk in VMs), written from ToolsRootfs without mounting.
func (p Paths) ToolsDisk() string { return filepath.Join(p.Dir, "tools.ext4") }

// RootfsFor is the container root filesystem of the named image:
// ToolsRootfs for "tools", Rootfs for "minimal" or "".
func (p Paths) RootfsFor(image string) string {
	if image == proto.ImageTools {
		return p.ToolsRootfs()
	}
	return p.Rootfs()
}

// ToolsOptions are the inputs of the tools image besides the agent.
type ToolsOptions struct {
	// Mirror is the Debian archive URL; empty: the one this machine's apt
	// sources use for ToolsSuite (AptMirror).
	Mirror string
	// Packages default to ToolsPackages.
	Packages []string
	// Log receives debootstrap's output (default: discarded).
	Log io.Writer
	// Init is the vcbench-init binary copied to InitPathInImage; "": none.
	Init string
}

// ToolsInfo is what the tools image's manifest records and what the agent
// finds in the tree at proto.ToolsManifestPath: the packages' versions
// (dpkg-query inside the tree) and how it was built.
type ToolsInfo struct {
	Suite    string            `json:"suite"`
	Mirror   string            `json:"mirror"`
	Packages []string          `json:"packages"`
	Versions map[string]string `json:"versions"`
	Built    time.Time         `json:"built"`
	// BuildSeconds is debootstrap's wall time of the last full build.
	BuildSeconds float64 `json:"build_seconds"`
}

// BuildTools builds the tools image under p: a Debian tree from
// `debootstrap --variant=minbase --include=<packages>` at p.ToolsRootfs()
// with the agent at AgentPathInImage, /scratch and the manifest at
// proto.ToolsManifestPath, and its ext4 image at p.ToolsDisk(). The tree
// is bootstrapped again only when the suite, mirror or package list
// changed (manifest "tools-base"); a new agent is copied into the tree and
// the ext4 image rewritten (manifest "tools"). It needs root (debootstrap,
// chroot) and reports whether it built anything.
func BuildTools(ctx context.Context, p Paths, agent string, o ToolsOptions) (built bool, err error) {
	if len(o.Packages) == 0 {
		o.Packages = ToolsPackages
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Mirror == "" {
		if o.Mirror, err = AptMirror(ToolsSuite); err != nil {
			return false, fmt.Errorf("tools image: %w", err)
		}
	}
	pkgs := append([]string(nil), o.Packages...)
	sort.Strings(pkgs)
	base := sha256.Sum256([]byte(strings.Join([]string{toolsFormat, ToolsSuite, "minbase", o.Mirror, strings.Join(pkgs, ",")}, "\x00")))
	baseDigest := hex.EncodeToString(base[:])
	digest, err := Digest(append([]File{{Path: AgentPathInImage, Mode: 0o755, Source: agent}}, initFile(o.Init)...), toolsFormat, "base="+baseDigest, "etc="+toolsEtcFormat)
	if err != nil {
		return false, fmt.Errorf("tools image: %w", err)
	}
	if p.UpToDate(toolsManifest, digest) && isDir(p.ToolsRootfs()) && isFile(p.ToolsDisk()) {
		return false, nil
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return false, fmt.Errorf("tools image: %w", err)
	}
	info, err := readToolsInfo(p.ToolsRootfs())
	if !p.UpToDate(toolsBaseManifest, baseDigest) || err != nil {
		if info, err = bootstrapTools(ctx, p, o.Mirror, pkgs, o.Log); err != nil {
			return false, fmt.Errorf("tools image: %w", err)
		}
		if err := p.WriteManifest(toolsBaseManifest, Manifest{Digest: baseDigest}); err != nil {
			return false, fmt.Errorf("tools image: manifest: %w", err)
		}
	}
	root := p.ToolsRootfs()
	if err := copyAtomic(agent, filepath.Join(root, AgentPathInImage), 0o755); err != nil {
		return false, fmt.Errorf("tools image: agent: %w", err)
	}
	if o.Init != "" {
		if err := copyAtomic(o.Init, filepath.Join(root, InitPathInImage), 0o755); err != nil {
			return false, fmt.Errorf("tools image: init: %w", err)
		}
	} else if err := os.Remove(filepath.Join(root, InitPathInImage)); err != nil && !os.IsNotExist(err) {
		return false, fmt.Errorf("tools image: init: %w", err)
	}
	if err := writeToolsEtc(root); err != nil {
		return false, fmt.Errorf("tools image: %w", err)
	}
	if err := WriteExt4(ctx, root, p.ToolsDisk()); err != nil {
		return false, fmt.Errorf("tools image: %w", err)
	}
	m := Manifest{Digest: digest, Info: map[string]string{
		"suite": info.Suite, "mirror": info.Mirror, "agent": agent, "init": o.Init,
		"build_seconds": fmt.Sprintf("%.1f", info.BuildSeconds),
	}}
	for k, v := range info.Versions {
		m.Info["version."+k] = v
	}
	if err := p.WriteManifest(toolsManifest, m); err != nil {
		return false, fmt.Errorf("tools image: manifest: %w", err)
	}
	return true, nil
}

// ToolVersions returns the versions of the tools image's packages from its
// manifest (package → Debian version); nil when it was never built.
func (p Paths) ToolVersions() map[string]string {
	m, err := p.ReadManifest(toolsManifest)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range m.Info {
		if name, ok := strings.CutPrefix(k, "version."); ok {
			out[name] = v
		}
	}
	return out
}

// bootstrapTools runs debootstrap into a temporary tree beside the old
// one, trims it (apt lists and caches), adds /scratch, records the package
// versions inside it and swaps it in.
func bootstrapTools(ctx context.Context, p Paths, mirror string, pkgs []string, log io.Writer) (ToolsInfo, error) {
	info := ToolsInfo{Suite: ToolsSuite, Mirror: mirror, Packages: pkgs}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return info, fmt.Errorf("debootstrap not found (apt-get install debootstrap): %w", err)
	}
	tmp, err := os.MkdirTemp(p.Dir, ".tools-")
	if err != nil {
		return info, err
	}
	// After a swap tmp holds the old tree. Nothing may stay mounted in a
	// tree that is removed or shipped: debootstrap mounts /proc (and more)
	// in its target and, when a package's script leaves a process or the
	// machine is busy, does not always unmount it.
	defer func() {
		unmountUnder(tmp)
		os.RemoveAll(tmp)
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return info, err
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(pkgs, ","), ToolsSuite, tmp, mirror)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Run()
	if uerr := unmountUnder(tmp); uerr != nil {
		return info, fmt.Errorf("debootstrap left mounts in %s: %w", tmp, uerr)
	}
	if err != nil {
		return info, fmt.Errorf("debootstrap %s into %s: %w (see its log in %s)", ToolsSuite, tmp, err, filepath.Join(tmp, "debootstrap", "debootstrap.log"))
	}
	info.BuildSeconds = time.Since(start).Seconds()
	info.Built = time.Now().UTC()
	if info.Versions, err = PackageVersions(ctx, tmp, pkgs); err != nil {
		return info, err
	}
	// What only apt needs: the tree is never upgraded in place.
	for _, g := range []string{"var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_Packages", "var/lib/apt/lists/*_InRelease"} {
		matches, _ := filepath.Glob(filepath.Join(tmp, g))
		for _, m := range matches {
			os.Remove(m)
		}
	}
	if err := os.MkdirAll(filepath.Join(tmp, "scratch"), 0o755); err != nil {
		return info, err
	}
	b, _ := json.MarshalIndent(info, "", "  ")
	mf := filepath.Join(tmp, proto.ToolsManifestPath)
	if err := os.MkdirAll(filepath.Dir(mf), 0o755); err != nil {
		return info, err
	}
	if err := os.WriteFile(mf, append(b, '\n'), 0o644); err != nil {
		return info, err
	}
	if err := swapIn(tmp, p.ToolsRootfs()); err != nil {
		return info, fmt.Errorf("install tools tree: %w", err)
	}
	return info, nil
}

func readToolsInfo(root string) (ToolsInfo, error) {
	var info ToolsInfo
	b, err := os.ReadFile(filepath.Join(root, proto.ToolsManifestPath))
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

// PackageVersions asks dpkg inside the tree at root (`chroot root
// dpkg-query -W`) for the versions of pkgs; a package that is not
// installed is an error.
func PackageVersions(ctx context.Context, root string, pkgs []string) (map[string]string, error) {
	args := append([]string{root, "dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n"}, pkgs...)
	out, err := exec.CommandContext(ctx, "chroot", args...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("chroot %s dpkg-query -W: %w: %s", root, err, msg)
	}
	v, err := ParseDpkgQuery(strings.NewReader(string(out)))
	if err != nil {
		return nil, err
	}
	for _, p := range pkgs {
		if _, ok := v[p]; !ok {
			return nil, fmt.Errorf("package %s is not installed in %s", p, root)
		}
	}
	return v, nil
}

// ParseDpkgQuery reads `dpkg-query -W -f '${Package}\t${Version}\t${db:Status-Abbrev}\n'`
// lines; packages not fully installed ("ii") are left out.
func ParseDpkgQuery(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 2 || f[0] == "" {
			continue
		}
		if len(f) >= 3 && strings.TrimSpace(f[2]) != "ii" {
			continue
		}
		out[f[0]] = f[1]
	}
	return out, sc.Err()
}

// WriteExt4 writes the tree at dir as an ext4 image at img without
// mounting anything (mke2fs -d, e2fsprogs ≥ 1.43), owned by root whoever
// owns dir, with no journal (it is attached read-only) and a quarter of
// the tree's size free for the file system's own blocks.
func WriteExt4(ctx context.Context, dir, img string) error {
	used, err := treeBytes(dir)
	if err != nil {
		return fmt.Errorf("size %s: %w", dir, err)
	}
	sizeMiB := (used*5/4)>>20 + 64
	tmp := img + ".tmp"
	os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-m", "0",
		"-L", proto.ToolsLabel, "-d", dir, "-E", "root_owner=0:0", tmp, fmt.Sprintf("%dM", sizeMiB))
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mke2fs -d %s: %w: %s", dir, err, strings.TrimSpace(string(out)))
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, img)
}

// treeBytes sums the sizes of the regular files and symlinks under dir
// (rounded up to 4 KiB blocks, as the file system will store them).
func treeBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		n += (st.Size() + 4095) &^ 4095
		if d.IsDir() {
			n += 4096
		}
		return nil
	})
	return n, err
}

// AptMirror returns the URL of the first Debian archive in this machine's
// apt sources (/etc/apt/sources.list and sources.list.d, one-line and
// deb822 forms) that serves suite with component main.
func AptMirror(suite string) (string, error) {
	files := []string{"/etc/apt/sources.list"}
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	files = append(files, more...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var srcs []AptSource
		if strings.HasSuffix(f, ".sources") {
			srcs = ParseDeb822Sources(string(b))
		} else if strings.HasSuffix(f, ".list") {
			srcs = ParseSourcesList(string(b))
		}
		for _, s := range srcs {
			if s.Serves(suite, "main") {
				return s.URI, nil
			}
		}
	}
	return "", fmt.Errorf("no apt source serves %s main (read /etc/apt/sources.list*)", suite)
}

// AptSource is one binary ("deb") source of apt.
type AptSource struct {
	URI        string
	Suites     []string
	Components []string
}

// Serves reports whether s has suite and component.
func (s AptSource) Serves(suite, component string) bool {
	return contains(s.Suites, suite) && contains(s.Components, component)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ParseSourcesList reads the one-line form ("deb [opts] uri suite comp...").
func ParseSourcesList(text string) []AptSource {
	var out []AptSource
	for _, l := range strings.Split(text, "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, AptSource{URI: f[0], Suites: []string{f[1]}, Components: f[2:]})
	}
	return out
}

// ParseDeb822Sources reads the deb822 form (stanzas of Types, URIs,
// Suites, Components), one AptSource per URI of each "deb" stanza that is
// not disabled.
func ParseDeb822Sources(text string) []AptSource {
	var out []AptSource
	for _, stanza := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		fields := map[string][]string{}
		for _, l := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(l, "#") || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
				continue
			}
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			fields[strings.ToLower(strings.TrimSpace(k))] = strings.Fields(v)
		}
		if !contains(fields["types"], "deb") || contains(fields["enabled"], "no") {
			continue
		}
		for _, u := range fields["uris"] {
			out = append(out, AptSource{URI: u, Suites: fields["suites"], Components: fields["components"]})
		}
	}
	return out
}

// unmountUnder detaches every mount at or below dir, deepest first, and
// says which it could not.
func unmountUnder(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	mounts, err := procfs.GetMounts()
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	var under []string
	for _, m := range mounts {
		if m.MountPoint == abs || strings.HasPrefix(m.MountPoint, abs+"/") {
			under = append(under, m.MountPoint)
		}
	}
	sort.Slice(under, func(i, j int) bool { return len(under[i]) > len(under[j]) })
	var errs []error
	for _, mp := range under {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// toolsEtcFormat changes with what writeToolsEtc writes, so that cached
// trees get it.
const toolsEtcFormat = "etc-v1"

// ToolsHostname is the tools tree's /etc/hostname, which a VM guest takes
// as its own (Open MPI refuses the kernel's "(none)").
const ToolsHostname = "vcbench"

// writeToolsEtc replaces what debootstrap copied from the build host's /etc
// that names the build host: its hostname and its DNS server. An instance
// has no DNS (benchmarks resolve nothing but their own names): a lookup of
// an unknown name must fail at once, not wait out a resolver that a tap
// or veth cannot reach — Open MPI looks its host's name up at start, which
// cost hpcc minutes in a VM on a tap.
func writeToolsEtc(root string) error {
	files := map[string]string{
		"etc/hostname":    ToolsHostname + "\n",
		"etc/hosts":       "127.0.0.1\tlocalhost\n127.0.1.1\t" + ToolsHostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		"etc/resolv.conf": "# vcbench: no DNS inside instances; names come from /etc/hosts.\noptions timeout:1 attempts:1\n",
	}
	for rel, text := range files {
		path := filepath.Join(root, rel)
		os.Remove(path) // a symlink (resolv.conf) must not be followed
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
