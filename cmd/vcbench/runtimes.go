package main

import (
	"context"

	"vcbench/bench"
	"vcbench/container"
	"vcbench/image"
	"vcbench/scenarios"
	"vcbench/vm"
)

// factories registers every runtime backend explicitly (no init() side effects).
var factories = map[scenarios.RuntimeKind]bench.Factory{
	scenarios.Native:    bench.NewNative,
	scenarios.Container: container.New,
	scenarios.OCICrun:   container.NewCrun,
	scenarios.OCIRunc:   container.NewRunc,
	scenarios.VM:        vm.New,
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

// imageBuilders are run in order by `vcbench images build`.
// The rootfs and the initramfs are written from the same file list.
var imageBuilders = []imageBuilder{
	{"rootfs", func(_ context.Context, p image.Paths, agent, busybox string) (bool, error) {
		return image.BuildRootfs(p, agent, busybox)
	}},
	{"guest (kernel + initramfs)", image.BuildGuest},
}
