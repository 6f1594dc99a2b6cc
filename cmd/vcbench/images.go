package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"vcbench/image"
)

func newImagesCmd() *cobra.Command {
	var dir, agent, kernel string
	var tools bool
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Build the container rootfs and the VM guest (kernel + initramfs)",
	}
	build := &cobra.Command{
		Use:   "build",
		Short: "Build (or confirm up to date) the rootfs and guest images from the same files",
		Long: `Builds, under --image-dir, the container root filesystem and the VM guest:
Debian's cloud kernel (fetched with apt-get download, unpacked, not installed)
and an initramfs with the same files as the rootfs plus the guest's kernel
modules. Each is rebuilt only when its inputs changed.

--kernel small also builds a small guest kernel from Debian's
linux-source-6.1 (apt-installed with its build dependencies when missing)
with image/kconfig/vcbench-guest.config: virtio built in, no modules. The
build takes minutes and is cached under <image-dir>/cache/kernel-small by
source version and config; its guest (vmlinux, vmlinuz, initramfs.cpio
without modules) goes to <image-dir>/guest-small, beside the cloud
kernel's. A vm runtime boots the one its scenario's kernel key names
(cloud unless it says kernel: small) and names it in run.json.

--tools also builds the tools image: a Debian bookworm tree from
debootstrap --variant=minbase with fio, iperf3, sockperf, sysbench,
stress-ng, redis, mariadb and hpcc (from the mirror of this machine's apt
sources; about two minutes and 850 MB the first time), with the agent
copied in, and its ext4 image for VMs. It serves runtimes with
` + "`image: tools`" + `; its package versions go to run.json.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if agent == "" {
				self, err := os.Executable()
				if err != nil {
					return err
				}
				agent = filepath.Join(filepath.Dir(self), "vcbench-agent")
			}
			flavor, err := image.ParseKernelFlavor(kernel)
			if err != nil {
				return err
			}
			// The small kernel's make runs in the source tree with O=<dir>/...:
			// a relative --image-dir would name a directory under the tree.
			if dir, err = filepath.Abs(dir); err != nil {
				return fmt.Errorf("image dir: %w", err)
			}
			if err := buildImages(ctx, cmd.OutOrStdout(), image.Paths{Dir: dir}, agent, flavor); err != nil {
				return err
			}
			if tools {
				return buildToolsImage(ctx, cmd.OutOrStdout(), image.Paths{Dir: dir}, agent)
			}
			return nil
		},
	}
	build.Flags().StringVar(&dir, "image-dir", image.DefaultDir(), "where to put the images")
	build.Flags().StringVar(&kernel, "kernel", string(image.KernelCloud), "guest kernel: cloud (Debian's linux-image-cloud-amd64) or small (built from linux-source-6.1; minutes, cached)")
	build.Flags().StringVar(&agent, "agent", "", "static agent binary to put in the images (default: vcbench-agent beside vcbench)")
	build.Flags().BoolVar(&tools, "tools", false, "also build the tools image (Debian tree with fio, sysbench, stress-ng, iperf3, redis, ...; needs root and debootstrap)")
	cmd.AddCommand(build)
	return cmd
}

func buildImages(ctx context.Context, out io.Writer, p image.Paths, agent string, kernel image.KernelFlavor) error {
	if _, err := os.Stat(agent); err != nil {
		return fmt.Errorf("agent binary: %w (build it with `make build`)", err)
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return err
	}
	busybox := image.BusyboxPath()
	say := func(what string, built bool) {
		if built {
			fmt.Fprintf(out, "%s: built\n", what)
		} else {
			fmt.Fprintf(out, "%s: up to date\n", what)
		}
	}
	builders := imageBuilders(kernel, out)
	for _, b := range builders {
		built, err := b.build(ctx, p, agent, busybox)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		say(b.name, built)
	}
	return nil
}

// buildToolsImage builds (or confirms) the tools image, with debootstrap's
// output in <image-dir>/tools-build.log.
func buildToolsImage(ctx context.Context, out io.Writer, p image.Paths, agent string) error {
	logPath := filepath.Join(p.Dir, "tools-build.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("tools image: %w", err)
	}
	defer logf.Close()
	start := time.Now()
	built, err := image.BuildTools(ctx, p, agent, image.ToolsOptions{Log: logf, Init: image.InitBeside(agent)})
	if err != nil {
		return fmt.Errorf("tools image: %w (log: %s)", err, logPath)
	}
	if !built {
		fmt.Fprintln(out, "tools image: up to date")
		return nil
	}
	fmt.Fprintf(out, "tools image: built in %.0f s\n", time.Since(start).Seconds())
	return nil
}
