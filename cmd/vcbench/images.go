package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"vcbench/image"
)

func newImagesCmd() *cobra.Command {
	var dir, agent string
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
modules. Each is rebuilt only when its inputs changed.`,
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
			return buildImages(ctx, cmd.OutOrStdout(), image.Paths{Dir: dir}, agent)
		},
	}
	build.Flags().StringVar(&dir, "image-dir", image.DefaultDir(), "where to put the images")
	build.Flags().StringVar(&agent, "agent", "", "static agent binary to put in the images (default: vcbench-agent beside vcbench)")
	cmd.AddCommand(build)
	return cmd
}

func buildImages(ctx context.Context, out io.Writer, p image.Paths, agent string) error {
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
	if len(imageBuilders) == 0 {
		return fmt.Errorf("no image builder is built into this vcbench")
	}
	for _, b := range imageBuilders {
		built, err := b.build(ctx, p, agent, busybox)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		say(b.name, built)
	}
	return nil
}
