package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/spf13/cobra"

	"vcbench/container"
	"vcbench/docker"
	"vcbench/image"
	"vcbench/podman"
	"vcbench/scenarios"
)

// check is one line of `vcbench doctor`.
type check struct {
	Name   string
	OK     bool
	Detail string
}

func newDoctorCmd() *cobra.Command {
	var paths pathFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Say what this host can run: KVM, TCG, namespaces, cgroups, tap, crun, runc, runsc, Docker, Podman, images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			checks := doctorChecks(ctx, paths)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			for _, c := range checks {
				mark := "ok"
				if !c.OK {
					mark = "NO"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, mark, c.Detail)
			}
			return tw.Flush()
		},
	}
	paths.register(cmd)
	return cmd
}

func doctorChecks(ctx context.Context, paths pathFlags) []check {
	var cs []check
	root := os.Geteuid() == 0
	cs = append(cs, check{"root", root, map[bool]string{true: "running as root", false: "not root: containers, cgroups and tap need root (native and user-mode VMs work)"}[root]})
	cs = append(cs, namespaceCheck())
	cs = append(cs, check{"cgroups", true, cgroupMode()})
	_, err := os.Stat("/dev/net/tun")
	cs = append(cs, check{"tap", err == nil, errOr(err, "/dev/net/tun present")})
	if v := qemuVersion(); v != "" {
		cs = append(cs, check{"qemu (tcg)", true, v})
	} else {
		cs = append(cs, check{"qemu (tcg)", false, "qemu-system-x86_64 not found: apt-get install qemu-system-x86"})
	}
	cs = append(cs, accelChecks(ctx, paths)...)
	for _, bin := range []string{"crun", "runc"} {
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			cs = append(cs, check{bin, false, bin + " not found: apt-get install " + bin})
			continue
		}
		line, _, _ := strings.Cut(string(out), "\n")
		cs = append(cs, check{bin, true, strings.TrimSpace(line)})
	}
	runsc := func(ctx context.Context) (bool, string) { return container.ProbeRunsc(ctx, scenarios.DefaultPlatform) }
	for _, e := range []struct {
		name  string
		probe func(context.Context) (bool, string)
	}{{"runsc (gVisor)", runsc}, {"docker", docker.Probe}, {"podman", podman.Probe}} {
		ok, detail := e.probe(ctx)
		cs = append(cs, check{e.name, ok, detail})
	}
	p := image.Paths{Dir: paths.imageDir}
	for _, img := range []struct{ name, path string }{
		{"agent", p.Agent()}, {"rootfs", p.Rootfs()}, {"kernel", p.Kernel()}, {"initramfs", p.Initramfs()},
	} {
		_, err := os.Stat(img.path)
		cs = append(cs, check{"image " + img.name, err == nil, errOr(err, img.path)})
	}
	for _, bin := range []string{"prometheus", "prometheus-pushgateway", "chromium"} {
		path, err := exec.LookPath(bin)
		cs = append(cs, check{bin, err == nil, errOr(err, path)})
	}
	return cs
}

func errOr(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}

// namespaceCheck really creates the namespaces a container uses, running
// `true` inside them.
func namespaceCheck() check {
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
		syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC}
	if err := cmd.Run(); err != nil {
		return check{"namespaces", false, fmt.Sprintf("cannot create mount/pid/net/uts/ipc namespaces: %v", err)}
	}
	return check{"namespaces", true, "mount, pid, net, uts, ipc created and removed"}
}

// cgroupMode says which cgroup layout the host has, as containerd/cgroups sees it.
func cgroupMode() string {
	switch cgroups.Mode() {
	case cgroups.Legacy:
		return "v1 (legacy)"
	case cgroups.Hybrid:
		return "hybrid: v1 controllers, cgroup2 mounted without controllers (vcbench uses v1)"
	case cgroups.Unified:
		return "v2 (unified)"
	}
	return "unavailable"
}
