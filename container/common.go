package container

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/hostcg"
	"vcbench/scenarios"
	"vcbench/state"
)

// Options are settings of the container runtimes that scenario files do
// not carry.
type Options struct {
	// Subnet is the IPv4 range the per-instance /30s come from; empty
	// means $VCBENCH_CONTAINER_SUBNET, else DefaultSubnet.
	Subnet string
}

func (o Options) subnet() string {
	if o.Subnet != "" {
		return o.Subnet
	}
	if s := os.Getenv(SubnetEnv); s != "" {
		return s
	}
	return DefaultSubnet
}

// userNSBase is the first host uid/gid that a user namespace maps its root to.
const userNSBase, userNSSize = 100000, 65536

// validate checks a runtime entry with the scenario loader's limits
// (scenarios.RuntimeConfig.Validate: vcpus, memory_mib, hostname, network).
func validate(cfg scenarios.RuntimeConfig, want scenarios.RuntimeKind) error {
	if cfg.Kind != want {
		return fmt.Errorf("runtime kind %q given to the %s backend", cfg.Kind, want)
	}
	if key, err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %s: %w", cfg.RuntimeName(), key, err)
	}
	return nil
}

// prepare checks what every container kind needs on the host: root, and
// the root filesystem of the runtime's image with the agent in it.
func prepare(env bench.Env, cfg scenarios.RuntimeConfig) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (namespaces, cgroups, veth)")
	}
	img := cfg.ImageName()
	rootfs := image.Paths{Dir: env.ImageDir}.RootfsFor(string(img))
	if _, err := os.Stat(filepath.Join(rootfs, image.AgentPathInImage)); err != nil {
		build := "`vcbench images build`"
		if img == scenarios.ImageTools {
			build = "`vcbench images build --tools`"
		}
		return fmt.Errorf("%s image's rootfs not built (run %s): %w", img, build, err)
	}
	return nil
}

// safeName makes a string usable in file, cgroup and container names.
func safeName(s string) string { return hostcg.SafeName(s) }

// base is what the container and OCI instances share: the owner of their
// resources, the veth, the cgroup, the scratch directory, phases.
type base struct {
	kind   scenarios.RuntimeKind
	cfg    scenarios.RuntimeConfig
	spec   bench.InstanceSpec
	own    *state.Owner // records each resource before it is made; Stop closes it
	launch time.Time
	t0     int64 // CLOCK_MONOTONIC at launch, ns
	alloc  *allocator

	mu      sync.Mutex
	slot    *slot
	cg      *cgroup
	scratch string
	netns   string // bind-mounted network namespace file, if vcbench made one
	log     *os.File
	phases  []bench.Phase
}

func newBase(kind scenarios.RuntimeKind, cfg scenarios.RuntimeConfig, env bench.Env, spec bench.InstanceSpec, alloc *allocator) *base {
	return &base{
		kind: kind, cfg: cfg, spec: spec, alloc: alloc,
		own:    state.NewOwner(env.StateDir, spec.RunID, spec.Name, string(kind)),
		launch: time.Now(), t0: monoNow(),
	}
}

// phase records a milestone given on CLOCK_MONOTONIC.
func (b *base) phase(name string, mono int64) {
	b.mu.Lock()
	b.phases = append(b.phases, bench.Phase{Name: name, Since: time.Duration(mono - b.t0)})
	b.mu.Unlock()
}

// Phases implements bench.Phaser.
func (b *base) Phases() []bench.Phase {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]bench.Phase(nil), b.phases...)
	// Parent and child stamps arrive in no particular order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Since < out[j].Since })
	return out
}

// Addr implements bench.Instance.
func (b *base) Addr() string {
	if b.slot == nil {
		return ""
	}
	return net.JoinHostPort(b.slot.Peer.String(), strconv.Itoa(AgentPort))
}

// HostMemory implements bench.Instance: the cgroup's usage and peak.
func (b *base) HostMemory() (map[string]float64, error) {
	if b.cg == nil {
		return nil, errors.New("no cgroup")
	}
	return b.cg.memory()
}

// HostCPUSeconds implements bench.CPUTimer: the cgroup's CPU time.
func (b *base) HostCPUSeconds() (float64, error) {
	if b.cg == nil {
		return 0, errors.New("no cgroup")
	}
	return b.cg.cpuSeconds()
}

// grace is how long the instance's init gets between SIGTERM and SIGKILL.
func (b *base) grace() time.Duration {
	if b.spec.StopTimeout > 0 {
		return b.spec.StopTimeout
	}
	return scenarios.DefaultStopTimeout
}

// close undoes everything the instance's owner recorded (see state.Owner.Close).
func (b *base) close(ctx context.Context) error { return b.own.Close(ctx, b.grace()) }

// openLog opens the instance's console log in the raw directory.
func (b *base) openLog() error {
	dir := b.spec.RawDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.OpenFile(filepath.Join(dir, "console-"+safeName(b.spec.Name)+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open console log: %w", err)
	}
	b.log = f
	b.own.OnClose(func(context.Context) error { return f.Close() })
	return nil
}

// logTail returns the end of the console log, for error messages.
func (b *base) logTail() string {
	if b.log == nil {
		return ""
	}
	data, err := os.ReadFile(b.log.Name())
	if err != nil || len(data) == 0 {
		return ""
	}
	if len(data) > 600 {
		data = data[len(data)-600:]
	}
	return strings.TrimSpace(string(data))
}

// makeScratch creates the per-instance scratch directory, owned by the
// container's root (which a user namespace maps elsewhere).
func (b *base) makeScratch(prefix string) error {
	dir := b.spec.ScratchDir
	if dir == "" {
		dir = os.TempDir()
	}
	b.scratch = filepath.Join(dir, prefix+"-"+safeName(b.spec.RunID)+"-"+safeName(b.spec.Name))
	if err := b.own.Add(nil, state.Path(b.scratch)); err != nil {
		return err
	}
	if err := os.MkdirAll(b.scratch, 0o755); err != nil {
		return fmt.Errorf("create scratch dir: %w", err)
	}
	if b.cfg.UserNS {
		if err := os.Chown(b.scratch, userNSBase, userNSBase); err != nil {
			return fmt.Errorf("chown scratch dir: %w", err)
		}
	}
	return nil
}

// recordCgroup plans the instance's group and records its directories,
// all: every hierarchy (what an OCI runtime creates), else the controllers
// of vcbench's own container; cgroup.create (or the OCI runtime) makes it.
// In this process the group goes through cgroup.remove, which keeps the
// run's parent groups while other instances of the run live.
func (b *base) recordCgroup(all bool) error {
	cg, err := planCgroup(b.spec.RunID, b.spec.Name, all)
	if err != nil {
		return fmt.Errorf("plan cgroup: %w", err)
	}
	b.cg = cg
	return b.own.Add(func(context.Context) error { return cg.remove() }, state.Cgroups(cg.dirs...)...)
}

// makeVeth allocates a /30, records its link and creates the pair with the
// container side in the namespace ns. The link's undo gives the slot back
// once the link is gone.
func (b *base) makeVeth(ns any) error {
	busy := hostPrefixes()
	s, err := b.alloc.alloc(func(s slot) error {
		link := state.Link(s.Link)
		undo := func(context.Context) error {
			if err := state.DeleteLink(s.Link); err != nil {
				return err
			}
			if b.slot != nil && b.slot.Index == s.Index {
				b.alloc.release(s.Index)
			}
			return nil
		}
		if err := b.own.Add(undo, link); err != nil {
			return err
		}
		err := createVeth(s, ns)
		if errors.Is(err, errSlotBusy) {
			if err := b.own.Forget(link); err != nil { // another vcbench's link
				return err
			}
			return errSlotBusy
		}
		return err
	}, func(s slot) bool { return overlaps(s, busy) })
	if err != nil {
		return err
	}
	b.slot = &s
	return nil
}

// makeNetns creates the instance's network namespace as a file under the
// state directory (recorded first, as a path and a mount) and wires its
// veth into it: the network is ready before the runtime starts.
func (b *base) makeNetns(stateDir string) error {
	b.netns = filepath.Join(stateDir, "netns", safeName(b.spec.RunID)+"--"+safeName(b.spec.Name))
	if err := b.own.Add(nil, state.EmptyDir(filepath.Dir(b.netns)), state.Path(b.netns), state.Mount(b.netns)); err != nil {
		return err
	}
	if err := newNetnsFile(b.netns); err != nil {
		return err
	}
	nsf, err := os.Open(b.netns)
	if err != nil {
		return fmt.Errorf("open netns: %w", err)
	}
	defer nsf.Close()
	return b.makeVeth(netlink.NsFd(int(nsf.Fd())))
}

// deadline is now+d, or now+def when d is not set.
func deadline(d time.Duration, def time.Duration) time.Time {
	if d <= 0 {
		d = def
	}
	return time.Now().Add(d)
}

func sleepMs(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }

// exitReason words how an instance's init ended for the runner's report.
func exitReason(oomKills uint64, memoryMiB int, status string) string {
	if oomKills > 0 {
		if memoryMiB > 0 {
			return fmt.Sprintf("killed by the kernel's OOM killer (memory limit %d MiB)", memoryMiB)
		}
		return "killed by the kernel's OOM killer"
	}
	return status
}

var probed sync.Map // vcbench binary path → error of its init probe

// probeSelf checks once per binary that `vcbench init` reaches RunInit, so
// that a build without the hook fails in Prepare with a clear reason
// rather than in every Start.
func probeSelf(self string) error {
	if self == "" {
		return errors.New("path of the vcbench binary unknown (needed to re-exec as init)")
	}
	if v, ok := probed.Load(self); ok {
		err, _ := v.(error)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, self, "init", modeProbe).Output()
	if err == nil && strings.TrimSpace(string(out)) != probeAnswer {
		err = fmt.Errorf("answered %q", strings.TrimSpace(string(out)))
	}
	if err != nil {
		err = fmt.Errorf("%s init does not reach container.RunInit: %w", self, err)
	}
	probed.Store(self, err)
	return err
}

// agentArgv is the agent's command line inside every container: the
// image's agent, serving on AgentPort, with the scratch bind at /scratch.
func agentArgv() []string {
	listen := net.JoinHostPort("0.0.0.0", strconv.Itoa(AgentPort))
	return append([]string{image.AgentPathInImage}, proto.ServeArgs(listen, "/scratch")...)
}

// readiness says in run.json how the container runtimes learn that the
// agent listens (the runner then asks /healthz once, as for every runtime).
const readiness = "the agent's ready line on an inherited pipe (" + proto.ReadyFDEnv + "), then /healthz"

// agentEnv is the agent's environment in every container: fd 3 is the
// ready pipe.
func agentEnv() []string {
	return []string{"PATH=/bin", "HOME=/", proto.ReadyFDEnv + "=3"}
}

// initBinary is the program the container runtimes start as their init
// and as crun's wrapper: the small vcbench-init, else vcbench itself.
func initBinary(env bench.Env) string {
	if env.InitPath != "" {
		return env.InitPath
	}
	return env.SelfPath
}

// initName describes initBinary for run.json.
func initName(env bench.Env) string {
	if env.InitPath != "" {
		return "vcbench-init (" + env.InitPath + ")"
	}
	return "vcbench init (re-exec of " + env.SelfPath + ")"
}

// cpuTimeSource says where the container runtimes' CPU time comes from.
func cpuTimeSource() string {
	v2, _ := cgroupMode()
	return "instance cgroup: " + hostcg.CPUTimeSource(v2)
}

// pipeResult is what a child said on a report or ready pipe.
type pipeResult struct {
	execd    bool   // an agent_exec stamp came
	ready    bool   // the agent's ready line came
	childErr string // an "E" line
}

// readPipe reads phase stamps ("T name ns"), errors ("E text") and the
// agent's ready line from r, until the ready line or EOF; the ready line's
// arrival is the phase agent_listening.
func (b *base) readPipe(r *os.File, end time.Time) (pipeResult, error) {
	var res pipeResult
	r.SetReadDeadline(end)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if _, ok := proto.ParseReady(line); ok {
			b.phase("agent_listening", monoNow())
			res.ready = true
			return res, nil
		}
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "T":
			name, v, _ := strings.Cut(rest, " ")
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				b.phase(name, ns)
			}
			res.execd = res.execd || name == "agent_exec"
		case "E":
			res.childErr = rest
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return res, fmt.Errorf("the agent did not report listening within the start time-out (console: %s)", b.logTail())
		}
		return res, fmt.Errorf("read from the container: %w", err)
	}
	return res, nil
}

// readStamps reads a wrapper's stamps until its exec closes the pipe.
func (b *base) readStamps(r *os.File) error {
	res, err := b.readPipe(r, time.Now().Add(10*time.Second))
	if err == nil && res.childErr != "" {
		err = errors.New(res.childErr)
	}
	return err
}

// readReady waits for the agent's ready line on r.
func (b *base) readReady(r *os.File, end time.Time) error {
	res, err := b.readPipe(r, end)
	if err != nil {
		return err
	}
	if !res.ready {
		return errors.New("the agent ended before it listened")
	}
	return nil
}
