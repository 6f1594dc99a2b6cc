package bench

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"vcbench/scenarios"
	"vcbench/workload"
)

// ToolAddresser is implemented by instances whose agent's tool ports
// (proto.ToolPortOffset(tool) above its HTTP port, TCP and UDP) the
// harness reaches at another address than the control address's host:
// QEMU user-mode networking forwards a host port to each. tool is
// proto.ServerIperf3, ServerSockperf or ServerRedis; an empty answer means
// "the control address's host, the port the agent reports".
type ToolAddresser interface {
	ToolAddr(tool string) string
}

// SettingHostClientCPUs is the runtime setting (run.json) that says which
// host CPUs the host-client workloads' clients ran on.
const SettingHostClientCPUs = "host_client_cpus"

// runHostClient runs a host-client workload (workload.Kind.RunsOnHost):
// the server in the instance, the client on the host from the tools tree,
// pinned to the CPUs the instance does not use.
func (r *Runner) runHostClient(ctx context.Context, inst Instance, rc scenarios.RuntimeConfig, p workload.Params) (*workload.Result, error) {
	root := r.Env.ToolsRootfs
	if _, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("%s runs its client on the host from the tools tree: %w (run `vcbench images build --tools`)", p.Kind, err)
	}
	scratch, err := os.MkdirTemp(r.Env.scratch(r.Store.Dir), "host-client-")
	if err != nil {
		return nil, fmt.Errorf("%s client scratch: %w", p.Kind, err)
	}
	defer os.RemoveAll(scratch)
	cpus, why := clientCPUs(rc.VCPUs)
	target := workload.HostTarget{Control: inst.Addr(),
		Tools: &workload.HostTools{Helper: r.Env.AgentPath, Root: root, Scratch: scratch, CPUs: cpus}}
	if t, ok := inst.(ToolAddresser); ok {
		target.ToolAddr = t.ToolAddr
	}
	res, err := workload.RunHostClient(ctx, target, p)
	if err != nil {
		return nil, err
	}
	setting := "unpinned: " + why
	if len(cpus) > 0 {
		setting = workload.CPUList(cpus) + " (" + why + ")"
	}
	res.Notes["client_cpus"] = setting
	if len(cpus) == 0 {
		res.Warnings = append(res.Warnings, "the host client shares CPUs with the instance: "+why)
	}
	if err := r.setRuntime(rc.RuntimeName(), func(ri *RuntimeInfo) {
		if ri.Settings == nil {
			ri.Settings = map[string]string{}
		}
		ri.Settings[SettingHostClientCPUs] = setting
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// clientCPUs are the CPUs vcbench may use less those of an instance of
// vcpus: native and container instances run on CPUs 0..vcpus-1 when vcpus
// is below the host's count (native.startPinned, the containers'
// cpuset), so the client gets the rest; none left means unpinned. A VM's
// QEMU threads are not pinned today: the client keeps off 0..vcpus-1 all
// the same, and shares the host with QEMU's threads. why says which.
func clientCPUs(vcpus int) (cpus []int, why string) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Sprintf("cannot read vcbench's CPU mask: %v", err)
	}
	var allowed []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			allowed = append(allowed, c)
		}
	}
	if vcpus <= 0 || vcpus >= len(allowed) {
		return nil, fmt.Sprintf("the instance's %d vcpus cover all %d host CPUs vcbench may use", vcpus, len(allowed))
	}
	for _, c := range allowed {
		if c >= vcpus {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Sprintf("vcbench may use only CPUs %s, all the instance's", workload.CPUList(allowed))
	}
	return cpus, fmt.Sprintf("the instance has CPUs %s", workload.CPUList(instanceCPUs(vcpus)))
}

func instanceCPUs(vcpus int) []int {
	c := make([]int, vcpus)
	for i := range c {
		c[i] = i
	}
	return c
}
