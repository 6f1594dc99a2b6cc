// Package docker is the "docker" runtime: the agent in a container made
// through the Docker Engine API (the official Go client, API version
// negotiated with the daemon) from the minimal image imported from the
// rootfs tree, never pulled. It uses the host's daemon when one answers on
// /var/run/docker.sock and touches none of its other containers; otherwise
// it starts a private dockerd for the run and stops it at the end.
package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dimage "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"vcbench/bench"
	"vcbench/image"
	"vcbench/internal/engine"
	"vcbench/scenarios"
	"vcbench/state"
)

// Runtime starts agents in Docker containers.
type Runtime struct {
	cfg scenarios.RuntimeConfig
	env bench.Env

	mu   sync.Mutex
	d    *daemon
	cli  *client.Client
	tag  string
	desc map[string]string
}

var (
	_ bench.Runtime   = (*Runtime)(nil)
	_ bench.Preparer  = (*Runtime)(nil)
	_ bench.Describer = (*Runtime)(nil)
	_ bench.Closer    = (*Runtime)(nil)
	_ bench.Instance  = (*Instance)(nil)
	_ bench.Phaser    = (*Instance)(nil)
	_ bench.CPUTimer  = (*Instance)(nil)
	_ bench.Exiter    = (*Instance)(nil)
)

// New is the bench.Factory of the "docker" runtime.
func New(cfg scenarios.RuntimeConfig, env bench.Env) (bench.Runtime, error) {
	if cfg.Kind != scenarios.Docker {
		return nil, fmt.Errorf("runtime kind %q given to the docker backend", cfg.Kind)
	}
	return &Runtime{cfg: cfg, env: env}, nil
}

// Kind implements bench.Runtime.
func (r *Runtime) Kind() scenarios.RuntimeKind { return scenarios.Docker }

func (r *Runtime) hostNet() bool { return r.cfg.Network == scenarios.NetworkHost }

// Prepare implements bench.Preparer: it finds or starts a daemon and
// imports the image if the daemon lacks it.
func (r *Runtime) Prepare(ctx context.Context) (err error) {
	rootfs := image.Paths{Dir: r.env.ImageDir}.Rootfs()
	if _, err := os.Stat(filepath.Join(rootfs, image.AgentPathInImage)); err != nil {
		return fmt.Errorf("rootfs not built (run `vcbench images`): %w", err)
	}
	d, cli, err := connect(ctx, r.env.StateDir)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			cli.Close()
			err = errors.Join(err, d.close(context.Background()))
		}
	}()
	ver, err := cli.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker version: %w", err)
	}
	tag, imported, err := importImage(ctx, cli, rootfs)
	if err != nil {
		return err
	}
	desc := map[string]string{
		"engine_version":      ver.Version,
		"api_version":         cli.ClientVersion(),
		"server_api_version":  ver.APIVersion,
		"client_library":      "github.com/docker/docker/client v28.5.2",
		"image":               tag,
		"image_imported":      strconv.FormatBool(imported),
		"network":             string(scenarios.NetworkBridge),
		"published":           "127.0.0.1 (docker-proxy)",
		"security":            "Docker defaults (default seccomp profile and capabilities), read-only root",
		"seccomp":             "docker-default (the engine's built-in profile)",
		"capabilities":        "docker-default (the engine's 14)",
		"daemon":              "host daemon at " + SystemSocket,
		"daemon_socket":       d.host,
		"agent_port_in_image": strconv.Itoa(engine.AgentPort),
	}
	if r.hostNet() {
		desc["network"] = string(scenarios.NetworkHost)
		desc["published"] = "none: the agent listens on a free 127.0.0.1 port of the host's network namespace"
	}
	if d.private {
		desc["daemon"] = "private dockerd started by vcbench: " + strings.Join(d.privateFlags(), " ")
		desc["bridge"] = fmt.Sprintf("%s %s, no NAT (--iptables=false)", d.bridge, d.subnet)
	}
	if info, err := cli.Info(ctx); err == nil {
		desc["storage_driver"] = info.Driver
		desc["cgroup_driver"] = info.CgroupDriver
		desc["cgroup_version"] = info.CgroupVersion
		desc["oci_runtime"] = info.DefaultRuntime
	}
	r.mu.Lock()
	r.d, r.cli, r.tag, r.desc = d, cli, tag, desc
	r.mu.Unlock()
	return nil
}

// importImage imports the rootfs tree as vcbench/minimal:<digest> unless
// the daemon has it, and removes vcbench/minimal images of other digests
// that no container uses.
func importImage(ctx context.Context, cli *client.Client, rootfs string) (tag string, imported bool, err error) {
	data, digest, err := image.RootfsTar(rootfs)
	if err != nil {
		return "", false, err
	}
	tag = image.EngineTag(digest)
	if _, err := cli.ImageInspect(ctx, tag); err != nil {
		if !client.IsErrNotFound(err) {
			return "", false, fmt.Errorf("inspect image %s: %w", tag, err)
		}
		rc, err := cli.ImageImport(ctx, dimage.ImportSource{Source: bytes.NewReader(data), SourceName: "-"}, tag, dimage.ImportOptions{Message: "vcbench rootfs " + digest})
		if err != nil {
			return "", false, fmt.Errorf("import image %s: %w", tag, err)
		}
		out, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return "", false, fmt.Errorf("import image %s: %w", tag, err)
		}
		if msg := streamError(out); msg != "" {
			return "", false, fmt.Errorf("import image %s: %s", tag, msg)
		}
		imported = true
	}
	old, err := cli.ImageList(ctx, dimage.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", image.EngineRepo))})
	if err == nil {
		for _, im := range old {
			for _, t := range im.RepoTags {
				if t != tag && strings.HasPrefix(t, image.EngineRepo+":") {
					cli.ImageRemove(ctx, t, dimage.RemoveOptions{}) // in use: kept
				}
			}
		}
	}
	return tag, imported, nil
}

// streamError finds an error in the daemon's JSON message stream.
func streamError(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err != nil {
			return ""
		}
		if m.Error != "" {
			return m.Error
		}
	}
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

// Close implements bench.Closer: it stops a private dockerd.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	d, cli := r.d, r.cli
	r.d, r.cli = nil, nil
	r.mu.Unlock()
	if cli != nil {
		cli.Close()
	}
	if d == nil {
		return nil
	}
	if err := d.close(ctx); err != nil {
		return fmt.Errorf("stop private dockerd: %w", err)
	}
	return nil
}

// Instance is one agent in a Docker container. Its phases are
// engine_create (the API's create returned) and engine_start (its start
// returned); beside the container's cgroup figures its host memory counts
// host_shim_pss, what the engine keeps per instance (the containerd shim,
// the container init's parent).
type Instance struct {
	base *engine.Instance
	r    *Runtime
	cli  *client.Client
	id   string
	addr string
}

// Start implements bench.Runtime: create and start the container, then
// find its init, its shim, its cgroup and its published port.
func (r *Runtime) Start(ctx context.Context, spec bench.InstanceSpec) (_ bench.Instance, err error) {
	r.mu.Lock()
	cli, tag := r.cli, r.tag
	r.mu.Unlock()
	if cli == nil {
		return nil, errors.New("docker runtime not prepared")
	}
	in := &Instance{r: r, cli: cli,
		base: engine.NewInstance(string(scenarios.Docker), r.env.StateDir, spec, "host_shim_pss", "containerd shim")}
	defer func() { err = in.base.StartFailed(err, in.Stop) }()
	if err := in.base.MakeScratch(); err != nil {
		return nil, err
	}
	cfg, hc, port, err := r.containerConfig(spec, tag, in.base.Scratch)
	if err != nil {
		return nil, err
	}
	created, err := cli.ContainerCreate(ctx, cfg, hc, nil, nil, engine.ContainerName(spec.RunID, spec.Name))
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	in.id = created.ID
	in.base.Phase("engine_create", time.Now())
	if err := cli.ContainerStart(ctx, in.id, container.StartOptions{}); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	in.base.Phase("engine_start", time.Now())
	ci, err := cli.ContainerInspect(ctx, in.id)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if ci.State == nil || ci.State.Pid == 0 {
		return nil, fmt.Errorf("container is not running (%s)", containerStatus(ci))
	}
	if in.base.Init, err = state.ProcOf(ci.State.Pid); err != nil {
		return nil, fmt.Errorf("container init: %w", err)
	}
	in.base.Rec.Procs = append(in.base.Rec.Procs, in.base.Init)
	if err := in.base.Rec.Save(); err != nil {
		return nil, fmt.Errorf("save state record: %w", err)
	}
	if in.base.Parent, err = engine.Parent(in.base.Init.Pid); err != nil {
		return nil, fmt.Errorf("containerd shim: %w", err)
	}
	if in.base.Cgroup, err = engine.CgroupOf(in.base.Init.Pid); err != nil {
		return nil, err
	}
	if r.hostNet() {
		in.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	} else {
		hp, err := publishedPort(ci)
		if err != nil {
			return nil, err
		}
		in.addr = net.JoinHostPort("127.0.0.1", hp)
	}
	return in, nil
}

// containerConfig is the container's settings: the agent as PID 1, the
// same limits and pinning as the other runtimes, read-only root, scratch
// bound at /scratch, labels for cleanup.
func (r *Runtime) containerConfig(spec bench.InstanceSpec, tag, scratch string) (*container.Config, *container.HostConfig, int, error) {
	agentPort := nat.Port(fmt.Sprintf("%d/tcp", engine.AgentPort))
	cfg := &container.Config{
		Image:    tag,
		Hostname: r.cfg.Hostname,
		Env:      []string{"PATH=/bin", "HOME=/"},
		Labels:   map[string]string{engine.LabelRun: spec.RunID, engine.LabelInstance: spec.Name},
	}
	if cfg.Hostname == "" {
		cfg.Hostname = spec.Name
	}
	hc := &container.HostConfig{
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": "rw,nosuid,nodev"},
		Binds:          []string{scratch + ":/scratch:rw"},
	}
	if m := r.cfg.MemoryMiB; m > 0 {
		hc.Memory = int64(m) << 20
		hc.MemorySwap = hc.Memory // no swapping out of the limit
	}
	if v := r.cfg.VCPUs; v > 0 {
		hc.NanoCPUs = int64(v) * 1e9
		hc.CpusetCpus = engine.CPURange(v)
	}
	port := 0
	if r.hostNet() {
		p, err := engine.FreePort()
		if err != nil {
			return nil, nil, 0, err
		}
		port = p
		hc.NetworkMode = "host"
		cfg.Hostname = "" // the engine refuses a hostname with the host's network
		cfg.Cmd = engine.AgentArgs(image.Paths{Dir: r.env.ImageDir}.Rootfs(), fmt.Sprintf("127.0.0.1:%d", port))
	} else {
		hc.NetworkMode = "bridge"
		cfg.ExposedPorts = nat.PortSet{agentPort: {}}
		hc.PortBindings = nat.PortMap{agentPort: {{HostIP: "127.0.0.1", HostPort: ""}}}
		cfg.Cmd = engine.AgentArgs(image.Paths{Dir: r.env.ImageDir}.Rootfs(), fmt.Sprintf("0.0.0.0:%d", engine.AgentPort))
	}
	return cfg, hc, port, nil
}

func publishedPort(ci container.InspectResponse) (string, error) {
	if ci.NetworkSettings != nil {
		for _, b := range ci.NetworkSettings.Ports[nat.Port(fmt.Sprintf("%d/tcp", engine.AgentPort))] {
			if b.HostPort != "" {
				return b.HostPort, nil
			}
		}
	}
	return "", errors.New("the agent's port was not published")
}

func containerStatus(ci container.InspectResponse) string {
	if ci.State == nil {
		return "no state"
	}
	s := fmt.Sprintf("status %s, exit code %d", ci.State.Status, ci.State.ExitCode)
	if ci.State.Error != "" {
		s += ": " + ci.State.Error
	}
	return s
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

// exitReason asks the daemon how the container ended.
func (in *Instance) exitReason() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ci, err := in.cli.ContainerInspect(ctx, in.id)
	if err != nil || ci.State == nil {
		return "exited"
	}
	return engine.ExitReason(ci.State.OOMKilled, in.r.cfg.MemoryMiB, containerStatus(ci))
}

// Stop implements bench.Instance: stop (SIGTERM, then SIGKILL after the
// stop time-out), remove with its anonymous volumes, remove the scratch
// dir. Idempotent.
func (in *Instance) Stop(ctx context.Context) error {
	return in.base.Stop(func(grace int) []error {
		if in.id == "" {
			return nil
		}
		var errs []error
		if err := in.cli.ContainerStop(ctx, in.id, container.StopOptions{Timeout: &grace}); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("stop container: %w", err))
		}
		rctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := in.cli.ContainerRemove(rctx, in.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		cancel()
		if err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container: %w", err))
		}
		return errs
	})
}
