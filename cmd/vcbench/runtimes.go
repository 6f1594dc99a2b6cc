package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"vcbench/bench"
	"vcbench/container"
	"vcbench/docker"
	"vcbench/image"
	"vcbench/native"
	"vcbench/podman"
	"vcbench/scenarios"
	"vcbench/state"
	"vcbench/vm"
)

// factories registers every runtime backend explicitly (no init() side effects).
var factories = map[scenarios.RuntimeKind]bench.Factory{
	scenarios.Native:    native.New,
	scenarios.Container: container.New,
	scenarios.OCICrun:   container.NewCrun,
	scenarios.OCIRunc:   container.NewRunc,
	scenarios.OCIRunsc:  container.NewRunsc,
	scenarios.VM:        vm.New,
	scenarios.Docker:    docker.New,
	scenarios.Podman:    podman.New,
}

// engineCleaners remove, per runtime kind, what a killed run left inside a
// container engine (containers found by vcbench's labels, a private
// dockerd) before `vcbench cleanup` tears the record itself down.
var engineCleaners = map[string]func(ctx context.Context, stateDir string, r *state.Record) error{
	string(scenarios.Docker): docker.Cleanup,
	string(scenarios.Podman): podman.Cleanup,
}

// daemonRecord reports whether r is an engine daemon's record, which
// cleanup removes after the instances that ran in it.
func daemonRecord(r *state.Record) bool {
	return r.Runtime == string(scenarios.Docker) && r.Instance == docker.DaemonInstance
}

// containerInit is the hidden `vcbench init` entry point of the container
// runtime (the re-executed vcbench inside the new namespaces).
var containerInit = container.RunInit

// imageBuilder builds one image under the image directory; built is false
// when it was already up to date.
type imageBuilder struct {
	name  string
	build func(ctx context.Context, p image.Paths, agent, busybox string) (built bool, err error)
}

// imageBuilders are run in order by `vcbench images build`: the rootfs and
// the guest with Debian's cloud kernel, written from the same file list;
// with kernel small also the guest of the small kernel built from
// linux-source-6.1 (image.Paths.SmallGuest, beside the cloud one).
func imageBuilders(kernel image.KernelFlavor, out io.Writer) []imageBuilder {
	b := []imageBuilder{
		{"rootfs", func(_ context.Context, p image.Paths, agent, busybox string) (bool, error) {
			return image.BuildRootfs(p, agent, image.InitBeside(agent), busybox)
		}},
		{"guest (kernel + initramfs)", image.BuildGuest},
	}
	if kernel == image.KernelSmall {
		b = append(b, imageBuilder{"guest (small kernel + initramfs)", func(ctx context.Context, p image.Paths, agent, busybox string) (bool, error) {
			if _, err := image.FindSmallKernel(p); err != nil {
				fmt.Fprintf(out, "small kernel: building from %s (minutes; log: %s)\n",
					image.LinuxSourcePackage, filepath.Join(p.KernelBuildDir(), "build.log"))
			}
			return image.BuildSmallGuest(ctx, p, agent, busybox, nil)
		}})
	}
	return b
}
