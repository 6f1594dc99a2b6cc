// Package podman is the "podman" runtime: the agent in a rootful Podman
// container made through the podman CLI (machine-readable output: `podman
// run -d` prints the id, `podman inspect --format json`), from the same
// image as the docker runtime, imported from the rootfs tree and never
// pulled. Networking is Podman's default network (its backend is recorded)
// with the agent's port published on 127.0.0.1, or the host's.
package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/engine"
	"vcbench/scenarios"
	"vcbench/state"
)

// Runtime starts agents in Podman containers.
type Runtime struct {
	cfg scenarios.RuntimeConfig
	env bench.Env

	mu      sync.Mutex
	bin     string
	tag     string
	runtime string // --runtime, where Podman's default cannot run here
	desc    map[string]string
}

var (
	_ bench.Runtime   = (*Runtime)(nil)
	_ bench.Preparer  = (*Runtime)(nil)
	_ bench.Describer = (*Runtime)(nil)
	_ bench.Instance  = (*Instance)(nil)
	_ bench.Phaser    = (*Instance)(nil)
	_ bench.CPUTimer  = (*Instance)(nil)
	_ bench.Exiter    = (*Instance)(nil)
)

// New is the bench.Factory of the "podman" runtime.
func New(cfg scenarios.RuntimeConfig, env bench.Env) (bench.Runtime, error) {
	if cfg.Kind != scenarios.Podman {
		return nil, fmt.Errorf("runtime kind %q given to the podman backend", cfg.Kind)
	}
	return &Runtime{cfg: cfg, env: env}, nil
}

// Kind implements bench.Runtime.
func (r *Runtime) Kind() scenarios.RuntimeKind { return scenarios.Podman }

func (r *Runtime) hostNet() bool { return r.cfg.Network == scenarios.NetworkHost }

// podman runs the podman CLI and returns its stdout; the error carries
// its stderr.
func podman(ctx context.Context, bin string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 600 {
			msg = msg[len(msg)-600:]
		}
		return stdout.Bytes(), fmt.Errorf("podman %s: %w: %s", args[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// Info is the part of `podman info --format json` that vcbench records.
type Info struct {
	Host struct {
		NetworkBackend string `json:"networkBackend"`
		CgroupManager  string `json:"cgroupManager"`
		CgroupVersion  string `json:"cgroupVersion"`
		OCIRuntime     struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"ociRuntime"`
		Conmon struct {
			Version string `json:"version"`
		} `json:"conmon"`
	} `json:"host"`
	Store struct {
		GraphDriverName string `json:"graphDriverName"`
	} `json:"store"`
	Version struct {
		Version    string `json:"Version"`
		APIVersion string `json:"APIVersion"`
	} `json:"version"`
}

// probe finds podman and reads its info.
func probe(ctx context.Context) (string, *Info, error) {
	if os.Geteuid() != 0 {
		return "", nil, errors.New("needs root (vcbench runs rootful podman)")
	}
	bin, err := exec.LookPath("podman")
	if err != nil {
		return "", nil, fmt.Errorf("podman not installed (apt-get install podman): %w", err)
	}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := podman(ictx, bin, nil, "info", "--format", "json")
	if err != nil {
		return "", nil, err
	}
	var info Info
	if err := json.Unmarshal(out, &info); err != nil {
		return "", nil, fmt.Errorf("decode podman info: %w", err)
	}
	return bin, &info, nil
}

// ociRuntime is the --runtime to give podman, or "": crun refuses a
// hybrid cgroup host (v1 controllers beside an empty cgroup2), runc runs.
func ociRuntime(info *Info) (string, error) {
	if info.Host.OCIRuntime.Name != "crun" || !engine.Hybrid() {
		return "", nil
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return "", errors.New("podman's crun refuses this hybrid cgroup host and runc is not installed (apt-get install runc)")
	}
	return "runc", nil
}

// Prepare implements bench.Preparer: podman present, the image imported.
func (r *Runtime) Prepare(ctx context.Context) error {
	rootfs := image.Paths{Dir: r.env.ImageDir}.Rootfs()
	if _, err := os.Stat(filepath.Join(rootfs, image.AgentPathInImage)); err != nil {
		return fmt.Errorf("rootfs not built (run `vcbench images`): %w", err)
	}
	bin, info, err := probe(ctx)
	if err != nil {
		return err
	}
	rt, err := ociRuntime(info)
	if err != nil {
		return err
	}
	tag, imported, err := importImage(ctx, bin, rootfs)
	if err != nil {
		return err
	}
	desc := map[string]string{
		"engine_version":  info.Version.Version,
		"api_version":     info.Version.APIVersion,
		"network_backend": info.Host.NetworkBackend,
		"network":         string(scenarios.NetworkBridge),
		"published":       "127.0.0.1 (" + info.Host.NetworkBackend + " port mapping)",
		"cgroup_manager":  info.Host.CgroupManager,
		"cgroup_version":  info.Host.CgroupVersion,
		"storage_driver":  info.Store.GraphDriverName,
		"conmon_version":  info.Host.Conmon.Version,
		"oci_runtime":     info.Host.OCIRuntime.Name + " " + info.Host.OCIRuntime.Version,
		"image":           tag,
		"image_imported":  strconv.FormatBool(imported),
		"security":        "Podman defaults (default seccomp profile and capabilities), read-only root",
		"seccomp":         "podman-default (containers-common's seccomp.json)",
		"capabilities":    "podman-default (containers.conf default_capabilities)",
		"ulimits":         "the host's (nofile, nproc bounded by kernel.pid_max)",
	}
	if rt != "" {
		desc["oci_runtime"] = rt + " (crun refuses hybrid cgroups)"
	}
	if r.hostNet() {
		desc["network"] = string(scenarios.NetworkHost)
		desc["published"] = "none: the agent listens on a free 127.0.0.1 port of the host's network namespace"
	}
	r.mu.Lock()
	r.bin, r.tag, r.runtime, r.desc = bin, tag, rt, desc
	r.mu.Unlock()
	return nil
}

// importImage imports the rootfs tree as vcbench/minimal:<digest> unless
// podman has it, and removes vcbench/minimal images of other digests that
// no container uses.
func importImage(ctx context.Context, bin, rootfs string) (tag string, imported bool, err error) {
	data, digest, err := image.RootfsTar(rootfs)
	if err != nil {
		return "", false, err
	}
	tag = image.EngineTag(digest)
	ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := podman(ictx, bin, nil, "image", "exists", tag); err != nil {
		if _, err := podman(ictx, bin, data, "import", "--quiet", "--message", "vcbench rootfs "+digest, "-", tag); err != nil {
			return "", false, fmt.Errorf("import image %s: %w", tag, err)
		}
		imported = true
	}
	out, err := podman(ictx, bin, nil, "images", "--format", "json", "--filter", "reference="+image.EngineRepo)
	if err == nil {
		var ims []struct{ Names []string }
		json.Unmarshal(out, &ims)
		for _, im := range ims {
			for _, n := range im.Names {
				if !strings.HasSuffix(n, "/"+tag) && n != tag && strings.Contains(n, image.EngineRepo+":") {
					podman(ictx, bin, nil, "rmi", n) // in use: kept
				}
			}
		}
	}
	return tag, imported, nil
}

// Describe implements bench.Describer.
func (r *Runtime) Describe() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.desc))
	for k, v := range r.desc {
		out[k] = v
	}
	return out
}

// Instance is one agent in a Podman container. Its phases are
// engine_started (the container's start time as Podman recorded it) and
// engine_run (`podman run -d` returned); beside the container's cgroup
// figures its host memory counts host_conmon_pss, what Podman keeps per
// instance (conmon, the container init's parent).
type Instance struct {
	base     *engine.Instance
	r        *Runtime
	bin      string
	id       string
	addr     string
	cgParent string
}

// inspect is the part of `podman inspect --format json` vcbench reads.
type inspect struct {
	ID    string `json:"Id"`
	State struct {
		Status    string    `json:"Status"`
		Pid       int       `json:"Pid"`
		ExitCode  int       `json:"ExitCode"`
		OOMKilled bool      `json:"OOMKilled"`
		Error     string    `json:"Error"`
		StartedAt time.Time `json:"StartedAt"`
	} `json:"State"`
	NetworkSettings struct {
		Ports map[string][]struct {
			HostIP   string `json:"HostIp"`
			HostPort string `json:"HostPort"`
		} `json:"Ports"`
	} `json:"NetworkSettings"`
}

func (in *Instance) inspect(ctx context.Context) (*inspect, error) {
	out, err := podman(ctx, in.bin, nil, "inspect", "--type", "container", "--format", "json", in.id)
	if err != nil {
		return nil, err
	}
	var cs []inspect
	if err := json.Unmarshal(out, &cs); err != nil || len(cs) != 1 {
		return nil, fmt.Errorf("decode podman inspect (%d containers): %v", len(cs), err)
	}
	return &cs[0], nil
}

// Start implements bench.Runtime: `podman run -d`, then inspect for the
// init's pid, its conmon, its cgroup and the published port.
func (r *Runtime) Start(ctx context.Context, spec bench.InstanceSpec) (_ bench.Instance, err error) {
	r.mu.Lock()
	bin, tag := r.bin, r.tag
	r.mu.Unlock()
	if bin == "" {
		return nil, errors.New("podman runtime not prepared")
	}
	in := &Instance{r: r, bin: bin,
		base: engine.NewInstance(string(scenarios.Podman), r.env.StateDir, spec, "host_conmon_pss", "conmon")}
	defer func() { err = in.base.StartFailed(err, in.Stop) }()
	if in.cgParent, err = engine.ParentPath(spec.RunID, spec.Name); err != nil {
		return nil, err
	}
	cgDirs, err := engine.ParentDirs(in.cgParent)
	if err != nil {
		return nil, err
	}
	in.base.Rec.Cgroups = cgDirs
	if err := in.base.MakeScratch(); err != nil {
		return nil, err
	}
	args, port, err := r.runArgs(spec, tag, in.base.Scratch, in.cgParent)
	if err != nil {
		return nil, err
	}
	out, err := podman(ctx, bin, nil, args...)
	in.base.Phase("engine_run", time.Now())
	if id := strings.TrimSpace(string(out)); id != "" {
		lines := strings.Split(id, "\n")
		in.id = lines[len(lines)-1]
	}
	if in.id == "" {
		// A failed run may still have created the container.
		in.id = engine.ContainerName(spec.RunID, spec.Name)
	}
	if err != nil {
		return nil, err
	}
	ci, err := in.inspect(ctx)
	if err != nil {
		return nil, err
	}
	if !ci.State.StartedAt.IsZero() {
		in.base.Phase("engine_started", ci.State.StartedAt)
	}
	if ci.State.Pid == 0 {
		return nil, fmt.Errorf("container is not running (status %s, exit code %d %s)", ci.State.Status, ci.State.ExitCode, ci.State.Error)
	}
	if in.base.Init, err = state.ProcOf(ci.State.Pid); err != nil {
		return nil, fmt.Errorf("container init: %w", err)
	}
	if in.base.Parent, err = engine.Parent(in.base.Init.Pid); err != nil {
		return nil, fmt.Errorf("conmon: %w", err)
	}
	in.base.Rec.Procs = append(in.base.Rec.Procs, in.base.Init, in.base.Parent)
	if err := in.base.Rec.Save(); err != nil {
		return nil, fmt.Errorf("save state record: %w", err)
	}
	if in.base.Cgroup, err = engine.CgroupOf(in.base.Init.Pid); err != nil {
		return nil, err
	}
	if r.hostNet() {
		in.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		return in, nil
	}
	for _, b := range ci.NetworkSettings.Ports[fmt.Sprintf("%d/tcp", engine.AgentPort)] {
		if b.HostPort != "" {
			in.addr = net.JoinHostPort("127.0.0.1", b.HostPort)
		}
	}
	if in.addr == "" {
		return nil, errors.New("the agent's port was not published")
	}
	return in, nil
}

// runArgs is the `podman run -d` command line: the agent as PID 1, the
// same limits and pinning as the other runtimes, read-only root, scratch
// at /scratch, vcbench's cgroup parent, labels for cleanup.
func (r *Runtime) runArgs(spec bench.InstanceSpec, tag, scratch, cgParent string) ([]string, int, error) {
	args := []string{"run", "-d", "--name", engine.ContainerName(spec.RunID, spec.Name),
		"--label", engine.LabelRun + "=" + spec.RunID, "--label", engine.LabelInstance + "=" + spec.Name,
		"--read-only", "--volume", scratch + ":/scratch:rw",
		"--cgroup-parent", cgParent, "--env", "PATH=/bin", "--env", "HOME=/",
	}
	r.mu.Lock()
	rt := r.runtime
	r.mu.Unlock()
	if rt != "" {
		args = append(args, "--runtime", rt)
	}
	for _, l := range engine.HostRlimits() {
		args = append(args, "--ulimit", fmt.Sprintf("%s=%d:%d", l.Name, l.Soft, l.Hard))
	}
	if m := r.cfg.MemoryMiB; m > 0 {
		args = append(args, "--memory", fmt.Sprintf("%dm", m), "--memory-swap", fmt.Sprintf("%dm", m))
	}
	if v := r.cfg.VCPUs; v > 0 {
		args = append(args, "--cpus", strconv.Itoa(v))
		if set := engine.CPURange(v); set != "" {
			args = append(args, "--cpuset-cpus", set)
		}
	}
	host := r.cfg.Hostname
	if host == "" {
		host = spec.Name
	}
	port := 0
	if r.hostNet() {
		p, err := engine.FreePort()
		if err != nil {
			return nil, 0, err
		}
		port = p
		args = append(args, "--network", "host", "--hostname", host, tag)
		args = append(args, engine.AgentArgs(image.Paths{Dir: r.env.ImageDir}.Rootfs(), fmt.Sprintf("127.0.0.1:%d", port))...)
		return args, port, nil
	}
	args = append(args, "--hostname", host, "--publish", fmt.Sprintf("127.0.0.1::%d/tcp", engine.AgentPort), tag)
	args = append(args, engine.AgentArgs(image.Paths{Dir: r.env.ImageDir}.Rootfs(), fmt.Sprintf("0.0.0.0:%d", engine.AgentPort))...)
	return args, 0, nil
}

// Addr implements bench.Instance.
func (in *Instance) Addr() string { return in.addr }

// Phases implements bench.Phaser.
func (in *Instance) Phases() []bench.Phase { return in.base.Phases() }

// HostMemory implements bench.Instance.
func (in *Instance) HostMemory() (map[string]float64, error) { return in.base.HostMemory() }

// HostCPUSeconds implements bench.CPUTimer: the container's cgroup CPU time.
func (in *Instance) HostCPUSeconds() (float64, error) { return in.base.HostCPUSeconds() }

// Exited implements bench.Exiter.
func (in *Instance) Exited() (bool, string) { return in.base.Exited(in.exitReason) }

// exitReason words how the container ended: from its cgroup's OOM kills,
// else as podman inspect tells.
func (in *Instance) exitReason() string {
	if in.base.Cgroup != nil && in.base.Cgroup.OOMKills() > 0 {
		return engine.ExitReason(true, in.r.cfg.MemoryMiB, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ci, err := in.inspect(ctx)
	if err != nil {
		return "exited"
	}
	return engine.ExitReason(ci.State.OOMKilled, in.r.cfg.MemoryMiB, fmt.Sprintf("status %s, exit code %d", ci.State.Status, ci.State.ExitCode))
}

// Stop implements bench.Instance: `podman rm -f` (SIGTERM, SIGKILL after
// the stop time-out), then the cgroup parent and the scratch dir go.
// Idempotent.
func (in *Instance) Stop(ctx context.Context) error {
	return in.base.Stop(func(grace int) []error {
		var errs []error
		if in.id != "" {
			if err := rmContainers(ctx, in.bin, grace, in.id); err != nil {
				errs = append(errs, err)
			}
		}
		rec := in.base.Rec
		for _, p := range rec.Procs {
			if err := state.Kill(p, time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		for i := len(rec.Cgroups) - 1; i >= 0; i-- {
			if err := state.RemoveCgroupDir(rec.Cgroups[i]); err != nil {
				errs = append(errs, err)
			} else {
				os.Remove(filepath.Dir(rec.Cgroups[i])) // the run's group, once empty
			}
		}
		return errs
	})
}

// rmContainers force-removes containers (SIGTERM, SIGKILL after grace
// seconds) with their anonymous volumes; a container already gone is not
// an error.
func rmContainers(ctx context.Context, bin string, grace int, ids ...string) error {
	args := append([]string{"rm", "--force", "--volumes", "--ignore", "--time", strconv.Itoa(grace)}, ids...)
	if _, err := podman(ctx, bin, nil, args...); err != nil {
		return fmt.Errorf("remove container: %w", err)
	}
	return nil
}
