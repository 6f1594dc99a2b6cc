package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"vcbench/bench"
	"vcbench/internal/hostcg"
	"vcbench/metrics"
	"vcbench/scenarios"
	"vcbench/state"
)

// gVisor's runsc goes through the same bundle as crun and runc, with these
// differences:
//
//   - `runsc create` starts two host processes, the sandbox (the sentry,
//     gVisor's user-space kernel, with its ptrace stubs) and the gofer (a
//     file proxy); `runsc start` then runs the agent inside the sentry.
//     Both processes, and the stubs, are in the container's cgroup.
//   - --network=sandbox hands the netns's veth to gVisor's own network
//     stack. runsc refuses networking in the root netns, which it detects
//     by /proc/sys/net/core/rmem_default existing; kernels that made that
//     sysctl per network namespace (this host's 6.18) show it in every
//     netns, so runsc 2022-12 refuses every netns. runsc therefore runs
//     in a private mount namespace with an empty tmpfs over /proc/sys/net
//     (runscWrap); the sentry never reads the host's sysctls.
//   - seccomp in the spec is applied by the sentry to the agent only with
//     --oci-seccomp; the sentry runs under gVisor's own host filter anyway.

// runscHidden is what runsc's wrapper hides (see above).
const runscHidden = "/proc/sys/net"

// runscWrap is the mount-namespace change runsc runs with.
func runscWrap() *wrapConfig { return &wrapConfig{Hide: []string{runscHidden}} }

// platform is the runtime's gVisor platform.
func (r *OCIRuntime) platform() scenarios.Platform {
	if r.cfg.Platform != "" {
		return r.cfg.Platform
	}
	return scenarios.DefaultPlatform
}

// globalFlags are the runtime's flags before its subcommand (after --root).
func (r *OCIRuntime) globalFlags() []string {
	if r.kind != scenarios.OCIRunsc {
		return nil
	}
	f := []string{"--platform=" + string(r.platform()), "--network=sandbox"}
	if r.harden.Seccomp != nil {
		f = append(f, "--oci-seccomp")
	}
	return f
}

// runscPlatforms lists the platforms this runsc has (`runsc help platforms`).
func runscPlatforms(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "runsc", "help", "platforms").Output()
	if err != nil {
		return nil, fmt.Errorf("runsc help platforms: %w", err)
	}
	return strings.Fields(string(out)), nil
}

// probeRunsc says why runsc cannot run the platform here, or nil.
func probeRunsc(ctx context.Context, p scenarios.Platform) error {
	have, err := runscPlatforms(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, h := range have {
		found = found || h == string(p)
	}
	if !found {
		return fmt.Errorf("this runsc (%s) has no platform %s (it has: %s)", runscVersion(ctx), p, strings.Join(have, ", "))
	}
	if p == scenarios.PlatformKVM {
		f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("runsc --platform=kvm needs /dev/kvm: %w", err)
		}
		f.Close()
	}
	return nil
}

// runscVersion is the first line of `runsc --version`.
func runscVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "runsc", "--version").Output()
	if err != nil {
		return "version unknown: " + err.Error()
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// ProbeRunsc is `vcbench doctor`'s line for runsc: whether it can run
// here with platform p, its version and the reason when it cannot.
func ProbeRunsc(ctx context.Context, p scenarios.Platform) (bool, string) {
	if _, err := exec.LookPath("runsc"); err != nil {
		return false, "runsc not found: apt-get install runsc"
	}
	v := runscVersion(ctx)
	if os.Geteuid() != 0 {
		return false, v + "; needs root"
	}
	if err := probeRunsc(ctx, p); err != nil {
		return false, err.Error()
	}
	have, _ := runscPlatforms(ctx)
	return true, fmt.Sprintf("%s, platform %s (has: %s)", v, p, strings.Join(have, ", "))
}

// describeRunsc fills the settings of an oci-runsc runtime.
func (r *OCIRuntime) describeRunsc(d map[string]string) {
	d["platform"] = string(r.platform())
	d["runsc_flags"] = strings.Join(r.globalFlags(), " ")
	d["network"] = "veth in a vcbench-made netns, one /30 per instance from " + r.alloc.base.String() +
		", handed to gVisor's netstack (--network=sandbox), no default route"
	d["wrapper"] = "vcbench init oci-exec: private mount namespace with an empty tmpfs over " + runscHidden +
		" (runsc 2022-12 takes any netns whose rmem_default sysctl it sees for the root one)"
	d["kernel"] = "gVisor's sentry (reports its own release to the agent)"
	d["host_processes"] = "sandbox (sentry, with its ptrace stubs) and gofer, all in the instance's cgroup"
	r.harden.describe(d, "in the spec: applied by the sentry to the agent (--oci-seccomp); the sentry runs under gVisor's own host filter")
	if len(r.harden.Caps) == 0 {
		d["capabilities"] = "none (inside the sentry), no_new_privs"
	} else {
		d["capabilities"] += "; runsc removes NET_RAW (no --net-raw), as it does under Docker"
	}
}

// stateFiles are the runtime's records of the container under --root.
func (in *OCIInstance) stateFiles() []state.Resource {
	if in.r.kind != scenarios.OCIRunsc {
		return []state.Resource{state.Path(filepath.Join(in.root, in.id))}
	}
	base := filepath.Join(in.root, in.id+"_sandbox:"+in.id)
	return []state.Resource{state.Path(base + ".state"), state.Path(base + ".lock")}
}

// hasState reports whether the runtime holds state of the container.
func (in *OCIInstance) hasState() bool {
	_, err := os.Stat(in.stateFiles()[0].Name)
	return err == nil
}

// runscState is the part of runsc's state file that vcbench reads.
type runscState struct {
	GoferPid int `json:"goferPid"`
	Sandbox  struct {
		Pid int `json:"pid"`
	} `json:"sandbox"`
}

func (in *OCIInstance) readRunscState() (runscState, error) {
	var st runscState
	b, err := os.ReadFile(in.stateFiles()[0].Name)
	if err != nil {
		return st, fmt.Errorf("read runsc state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("decode runsc state %s: %w", in.stateFiles()[0].Name, err)
	}
	return st, nil
}

// startRunsc runs `runsc create` (the sandbox boots: gofer and sentry
// start) and `runsc start` (the agent starts inside the sentry), and
// records the sandbox's two host processes in between.
func (in *OCIInstance) startRunsc(ctx context.Context, binPath, pidFile string) error {
	if err := in.cg.prepareCpusetParents(); err != nil {
		return err
	}
	create := in.command(ctx, binPath, false, "create", "--pid-file", pidFile, "--bundle", in.bundle, in.id)
	create.Stdout, create.Stderr = in.log, in.log
	if err := create.Start(); err != nil {
		return fmt.Errorf("exec runsc: %w", err)
	}
	in.phase(bench.PhaseRuntimeExec, monoNow())
	err := create.Wait()
	in.phase("sandbox_created", monoNow())
	var procs []state.Resource
	if pid, perr := readPidFile(pidFile); perr == nil {
		if pr, perr := state.ProcOf(pid); perr == nil {
			in.pid = pr
			procs = append(procs, state.Process(pr))
		}
	}
	if st, serr := in.readRunscState(); serr == nil && st.GoferPid > 0 {
		if pr, perr := state.ProcOf(st.GoferPid); perr == nil {
			in.gofer = pr
			procs = append(procs, state.Process(pr))
		}
	}
	if len(procs) > 0 {
		// `runsc delete -force` first, then the recorded SIGTERM, SIGKILL.
		if aerr := in.own.Add(in.deleteContainer, procs...); aerr != nil {
			err = errors.Join(err, aerr)
		}
	}
	if err != nil {
		return fmt.Errorf("runsc create: %w (output: %s)", err, in.logTail())
	}
	if in.pid.Pid == 0 || in.gofer.Pid == 0 {
		return fmt.Errorf("runsc create left no sandbox or gofer pid (sandbox %d, gofer %d; output: %s)", in.pid.Pid, in.gofer.Pid, in.logTail())
	}
	start := in.command(ctx, binPath, false, "start", in.id)
	start.Stdout, start.Stderr = in.log, in.log
	err = start.Run()
	in.phase("runtime_returned", monoNow())
	if err != nil {
		return fmt.Errorf("runsc start: %w (output: %s)", err, in.logTail())
	}
	return nil
}

// HostMemory implements bench.Instance: the cgroup's usage and peak; for
// runsc also the PSS of the sandbox's host processes, which are the
// instance's real cost: host_sentry_pss (the sentry and its stubs, where
// the agent's memory lives), host_gofer_pss, and their sums host_pss,
// host_pss_anon and host_rss.
func (in *OCIInstance) HostMemory() (map[string]float64, error) {
	m, err := in.base.HostMemory()
	if err != nil || in.r.kind != scenarios.OCIRunsc {
		return m, err
	}
	pids, err := in.cg.procs()
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"host_pss", "host_rss", "host_pss_anon", "host_sentry_pss", "host_gofer_pss"} {
		m[k] = 0
	}
	n := 0
	for _, pid := range pids {
		pm, err := metrics.ProcMemory(pid)
		if err != nil {
			continue // exited since the list was read
		}
		n++
		part := "host_sentry_pss"
		if pid == in.gofer.Pid {
			part = "host_gofer_pss"
		}
		m[part] += pm["host_pss"]
		m["host_pss"] += pm["host_pss"]
		m["host_rss"] += pm["host_rss"]
		m["host_pss_anon"] += pm["host_pss_anon"]
	}
	if n == 0 {
		return nil, fmt.Errorf("no process of the runsc sandbox %s could be read", in.id)
	}
	return m, nil
}

// procs lists the processes in the group's memory (or unified) directory.
func (cg *cgroup) procs() ([]int, error) {
	if cg.memDir == "" {
		return nil, errors.New("no memory controller")
	}
	b, err := os.ReadFile(filepath.Join(cg.memDir, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("list cgroup processes: %w", err)
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// prepareCpusetParents creates the v1 cpuset groups above the instance's
// (<own>/vcbench/<run>) with their parent's cpus and mems, as runc does
// before it writes a child's cpuset.cpus: runsc 2022-12 creates them
// empty, and the kernel then refuses any CPU in the child (EACCES). The
// group's own removal takes them away again once the run's last
// instance is gone.
func (cg *cgroup) prepareCpusetParents() error {
	if cg.v2 {
		return nil
	}
	hostcg.Mu.Lock()
	defer hostcg.Mu.Unlock()
	for _, h := range cg.hs {
		if h.V2 || !h.Has("cpuset") {
			continue
		}
		parent := h.OwnDir()
		for _, part := range strings.Split(filepath.Dir(cg.rel), "/") {
			dir := filepath.Join(parent, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("create cpuset group %s: %w", dir, err)
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				cur, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					return fmt.Errorf("read %s: %w", filepath.Join(dir, f), err)
				}
				if strings.TrimSpace(string(cur)) != "" {
					continue
				}
				v, err := os.ReadFile(filepath.Join(parent, f))
				if err != nil {
					return fmt.Errorf("read %s: %w", filepath.Join(parent, f), err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return fmt.Errorf("write %s: %w", filepath.Join(dir, f), err)
				}
			}
			parent = dir
		}
	}
	return nil
}
