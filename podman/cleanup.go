package podman

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"vcbench/internal/engine"
	"vcbench/state"
)

// Cleanup removes the container of a killed run's instance, found by the
// labels vcbench sets, before `vcbench cleanup` tears the record down
// (conmon, the init, the cgroup parent, the scratch dir).
func Cleanup(ctx context.Context, stateDir string, r *state.Record) error {
	bin, err := exec.LookPath("podman")
	if err != nil {
		return nil // no podman: nothing of it can be left
	}
	args := []string{"ps", "--all", "--quiet", "--no-trunc", "--filter", "label=" + engine.LabelRun + "=" + r.RunID}
	if r.Instance != "" {
		args = append(args, "--filter", "label="+engine.LabelInstance+"="+r.Instance)
	}
	out, err := podman(ctx, bin, nil, args...)
	if err != nil {
		return fmt.Errorf("list containers of run %s: %w", r.RunID, err)
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		return nil
	}
	return rmContainers(ctx, bin, 2, ids...)
}

// Probe says whether the podman runtime can run here, for `vcbench
// doctor`: version, network backend and OCI runtime, or why not.
func Probe(ctx context.Context) (ok bool, detail string) {
	_, info, err := probe(ctx)
	if err != nil {
		return false, err.Error()
	}
	rt, err := ociRuntime(info)
	if err != nil {
		return false, err.Error()
	}
	oci := info.Host.OCIRuntime.Name
	if rt != "" {
		oci = rt + " (crun refuses hybrid cgroups)"
	}
	return true, fmt.Sprintf("podman %s, network backend %s, OCI runtime %s, cgroup manager %s",
		info.Version.Version, info.Host.NetworkBackend, oci, info.Host.CgroupManager)
}
