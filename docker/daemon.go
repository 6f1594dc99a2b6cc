package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker/docker/client"
	"github.com/vishvananda/netlink"

	"vcbench/internal/engine"
	"vcbench/state"
)

// SystemSocket is where the host's Docker daemon answers, if it runs.
const SystemSocket = "/var/run/docker.sock"

// DaemonInstance is the instance name of a private dockerd's state record.
const DaemonInstance = "dockerd"

// privateSubnet is where a private dockerd's bridge takes its /24 from.
var privateSubnet = netip.MustParsePrefix("10.214.0.0/16")

var daemonSeq atomic.Int32

// daemon is the Docker daemon vcbench talks to: the host's own, used as it
// is, or a dockerd that vcbench started with private directories under
// its state directory and stops at the end of the run.
type daemon struct {
	host    string // unix:///path/to/docker.sock
	private bool

	// A private daemon's resources, all in rec.
	dir      string // state dir: data-root, exec-root, pid file, socket, log
	bridge   string // its default bridge, made by vcbench
	subnet   netip.Prefix
	cgParent string // --cgroup-parent of its containers
	rec      *state.Record
	proc     state.Proc
	done     chan struct{} // closed when dockerd has exited
}

// newClient makes an API client for host that negotiates the API version.
func newClient(host string) (*client.Client, error) {
	c, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", host, err)
	}
	return c, nil
}

// ping asks the daemon at host whether it answers, within 3 s.
func ping(ctx context.Context, host string) (*client.Client, error) {
	c, err := newClient(host)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// connect uses the host's daemon when one answers on SystemSocket, else
// starts a private dockerd.
func connect(ctx context.Context, stateDir string) (*daemon, *client.Client, error) {
	if _, err := os.Stat(SystemSocket); err == nil {
		host := "unix://" + SystemSocket
		if c, err := ping(ctx, host); err == nil {
			return &daemon{host: host}, c, nil
		}
	}
	d, err := startPrivate(ctx, stateDir)
	if err != nil {
		return nil, nil, err
	}
	c, err := newClient(d.host)
	if err != nil {
		return nil, nil, errors.Join(err, d.close(context.Background()))
	}
	return d, c, nil
}

// privateFlags is a private dockerd's command line. Its bridge is one
// vcbench made; iptables and IP forwarding are left alone so that the
// host's firewall and sysctls are not changed: the harness reaches the
// published port on 127.0.0.1 through docker-proxy, as with any daemon
// (Docker's NAT rules skip loopback), and the agent needs no way out.
func (d *daemon) privateFlags() []string {
	return []string{
		"--data-root", filepath.Join(d.dir, "data"),
		"--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "dockerd.pid"),
		"--host", d.host,
		"--config-file", filepath.Join(d.dir, "daemon.json"),
		"--bridge", d.bridge,
		"--iptables=false",
		"--ip-forward=false",
		"--exec-opt", "native.cgroupdriver=cgroupfs",
		"--cgroup-parent", d.cgParent,
	}
}

// startPrivate starts dockerd with every path under stateDir/docker/<id>,
// recording the process, its bridge, its cgroup parent and its directory
// first, and waits until it answers.
func startPrivate(ctx context.Context, stateDir string) (_ *daemon, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("no Docker daemon answers on " + SystemSocket + ", and starting a private dockerd needs root")
	}
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, fmt.Errorf("no Docker daemon answers on %s and dockerd is not installed (apt-get install docker.io): %w", SystemSocket, err)
	}
	seq := daemonSeq.Add(1)
	id := fmt.Sprintf("dockerd-%d-%d", os.Getpid(), seq)
	d := &daemon{private: true, dir: filepath.Join(stateDir, "docker", id), done: make(chan struct{})}
	d.host = "unix://" + filepath.Join(d.dir, "docker.sock")
	d.bridge = fmt.Sprintf("vcbd%x-%d", os.Getpid(), seq)
	if len(d.bridge) > 15 {
		d.bridge = d.bridge[:15]
	}
	if d.cgParent, err = engine.ParentPath(id); err != nil {
		return nil, err
	}
	cgDirs, err := engine.ParentDirs(d.cgParent)
	if err != nil {
		return nil, err
	}
	d.rec = state.New(stateDir, id, DaemonInstance, "docker")
	d.rec.Links = []string{d.bridge}
	d.rec.Cgroups = cgDirs
	d.rec.Paths = []string{d.dir}
	if err := d.rec.Save(); err != nil {
		return nil, fmt.Errorf("save state record of private dockerd: %w", err)
	}
	defer func() {
		if err != nil {
			if cerr := d.teardown(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("clean up after failed dockerd start: %w", cerr))
			}
		}
	}()
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", d.dir, err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "daemon.json"), []byte("{}\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write daemon.json: %w", err)
	}
	if err := d.makeBridge(); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(d.dir, "dockerd.log"))
	if err != nil {
		return nil, fmt.Errorf("create dockerd log: %w", err)
	}
	defer logf.Close()
	// Its own process group: a Ctrl-C on the terminal is vcbench's to
	// handle, and the daemon must outlive it until every container is gone.
	cmd := exec.Command(bin, d.privateFlags()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	if d.proc, err = state.ProcOf(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		<-done
		return nil, fmt.Errorf("identify dockerd: %w", err)
	}
	d.done = done
	d.rec.Procs = []state.Proc{d.proc}
	if err := d.rec.Save(); err != nil {
		cmd.Process.Kill()
		<-done
		return nil, fmt.Errorf("save state record of private dockerd: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, perr := ping(ctx, d.host); perr == nil {
			c.Close()
			return d, nil
		}
		select {
		case <-done:
			return nil, fmt.Errorf("dockerd exited at start: %s", d.logTail())
		case <-ctx.Done():
			d.stopProcess(0)
			return nil, fmt.Errorf("wait for dockerd: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stopProcess(0)
			return nil, fmt.Errorf("dockerd did not answer within 60 s: %s", d.logTail())
		}
	}
}

// makeBridge creates the private daemon's bridge with the first free /24
// of privateSubnet (starting from one that depends on the pid, so that two
// vcbench processes rarely try the same).
func (d *daemon) makeBridge() error {
	busy := hostPrefixes()
	start := os.Getpid()
	for i := 0; i < 256; i++ {
		n := (start + i) % 256
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 214, byte(n), 0}), 24)
		if !privateSubnet.Contains(p.Addr()) || overlaps(p, busy) {
			continue
		}
		la := netlink.NewLinkAttrs()
		la.Name = d.bridge
		br := &netlink.Bridge{LinkAttrs: la}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", d.bridge, err)
		}
		if err := netlink.LinkSetAlias(br, state.LinkAlias()); err != nil {
			return fmt.Errorf("name the owner of bridge %s: %w", d.bridge, err)
		}
		gw := p.Addr().Next()
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(24, 32)}}
		if err := netlink.AddrAdd(br, addr); err != nil {
			return fmt.Errorf("address bridge %s: %w", d.bridge, err)
		}
		if err := netlink.LinkSetUp(br); err != nil {
			return fmt.Errorf("bring bridge %s up: %w", d.bridge, err)
		}
		d.subnet = p
		return nil
	}
	return fmt.Errorf("no free /24 in %s for the private dockerd's bridge", privateSubnet)
}

func hostPrefixes() []netip.Prefix {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ones, _ := a.Mask.Size()
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			out = append(out, netip.PrefixFrom(ip, ones).Masked())
		}
	}
	return out
}

func overlaps(p netip.Prefix, ps []netip.Prefix) bool {
	for _, q := range ps {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

func (d *daemon) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
	if len(b) > 800 {
		b = b[len(b)-800:]
	}
	return strings.TrimSpace(string(b))
}

// stopProcess sends SIGTERM (dockerd then stops its containers and its
// containerd), waits up to grace, then SIGKILLs.
func (d *daemon) stopProcess(grace time.Duration) {
	if d.proc.Pid == 0 {
		return
	}
	if d.proc.Alive() {
		syscall.Kill(d.proc.Pid, syscall.SIGTERM)
	}
	select {
	case <-d.done:
	case <-time.After(grace):
		state.Kill(d.proc, 0)
		<-d.done
	}
}

// close stops a private daemon and removes everything it had; the host's
// daemon is left as it is.
func (d *daemon) close(ctx context.Context) error {
	if !d.private {
		return nil
	}
	grace := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < grace {
		grace = max(time.Until(dl)-5*time.Second, time.Second)
	}
	d.stopProcess(grace)
	return d.teardown()
}

// teardown removes what a stopped private daemon leaves: processes still in
// its cgroups or naming its directory (containerd, shims, containers after
// a SIGKILL), mounts under its directory, then the record's bridge,
// cgroups and directory.
func (d *daemon) teardown() error {
	return teardownPrivate(d.rec, d.dir)
}

func teardownPrivate(rec *state.Record, dir string) error {
	engine.KillCgroupTree(rec.Cgroups)
	engine.KillMentioning(filepath.Join(dir, "exec"))
	var errs []error
	if err := engine.UnmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	if err := rec.Teardown(time.Second); err != nil {
		errs = append(errs, err)
	}
	if dir != "" {
		os.Remove(filepath.Dir(dir)) // <state>/docker, once no daemon is left
	}
	return errors.Join(errs...)
}
