package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"vcbench/internal/engine"
	"vcbench/state"
)

// Cleanup removes what a killed run left in Docker, before `vcbench
// cleanup` tears the record itself down. For an instance's record it
// removes the container labelled with its run and instance on the host's
// daemon and on every private daemon still answering; for a private
// daemon's record it stops that dockerd (SIGTERM, which also stops its
// containers, then SIGKILL) and removes what it leaves: processes in its
// cgroups, mounts under its directories, its bridge, its directories.
func Cleanup(ctx context.Context, stateDir string, r *state.Record) error {
	if r.Instance == DaemonInstance {
		dir := ""
		if len(r.Paths) > 0 {
			dir = r.Paths[0]
		}
		for _, p := range r.Procs {
			state.Kill(p, 20*time.Second)
		}
		return teardownPrivate(r, dir)
	}
	hosts := []string{"unix://" + SystemSocket}
	socks, _ := filepath.Glob(filepath.Join(stateDir, "docker", "*", "docker.sock"))
	for _, s := range socks {
		hosts = append(hosts, "unix://"+s)
	}
	var errs []error
	for _, h := range hosts {
		if strings.HasSuffix(h, SystemSocket) {
			if _, err := os.Stat(SystemSocket); err != nil {
				continue
			}
		}
		cli, err := ping(ctx, h)
		if err != nil {
			continue
		}
		errs = append(errs, removeLabelled(ctx, cli, r.RunID, r.Instance))
		cli.Close()
	}
	return errors.Join(errs...)
}

// removeLabelled force-removes the containers of one run (and instance,
// when given), with their anonymous volumes.
func removeLabelled(ctx context.Context, cli *client.Client, runID, instance string) error {
	f := filters.NewArgs(filters.Arg("label", engine.LabelRun+"="+runID))
	if instance != "" {
		f.Add("label", engine.LabelInstance+"="+instance)
	}
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers of run %s: %w", runID, err)
	}
	var errs []error
	for _, c := range cs {
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", c.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Probe says whether the docker runtime can run here, for `vcbench
// doctor`: the host's daemon and its version, or whether a private dockerd
// could be started (root, dockerd installed), with the reason when not.
func Probe(ctx context.Context) (ok bool, detail string) {
	if _, err := os.Stat(SystemSocket); err == nil {
		if cli, err := ping(ctx, "unix://"+SystemSocket); err == nil {
			defer cli.Close()
			v, err := cli.ServerVersion(ctx)
			if err != nil {
				return false, fmt.Sprintf("daemon at %s: version: %v", SystemSocket, err)
			}
			return true, fmt.Sprintf("daemon at %s: Docker %s, API %s (negotiated %s)", SystemSocket, v.Version, v.APIVersion, cli.ClientVersion())
		}
	}
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return false, "no daemon answers on " + SystemSocket + " and dockerd is not installed: apt-get install docker.io"
	}
	if os.Geteuid() != 0 {
		return false, "no daemon answers on " + SystemSocket + "; a private dockerd needs root"
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(vctx, bin, "--version").Output()
	if err != nil {
		return false, fmt.Sprintf("dockerd --version: %v", err)
	}
	return true, "no daemon on " + SystemSocket + "; vcbench starts a private one per run: " + strings.TrimSpace(string(out))
}
