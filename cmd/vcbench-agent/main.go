// Command vcbench-agent is the guest agent: the same static binary runs as a
// host process (native), as a container's PID 1 and as a VM's /init.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"vcbench/agent"
	"vcbench/agent/proto"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "noop" {
		return // the fork workload's fallback target
	}
	if len(os.Args) > 1 && os.Args[1] == proto.ToolsExecCommand {
		agent.ToolsExecMain(os.Args[2:]) // the chroot helper of tool workloads
	}
	// As a VM's /init, the agent loads the guest's modules and sets up its
	// network before serving.
	agent.GuestSetup = agent.SetupGuest
	if agent.IsInit() {
		fmt.Println(proto.StartLine(agent.Uptime()))
		agent.RunInit(os.Args)
	}
	if os.Getenv(agent.ChildEnv) == "" {
		fmt.Println(proto.StartLine(agent.Uptime()))
	}
	listen := flag.String(proto.FlagListen, "127.0.0.1:0", "address to serve on (port 0 picks a free port)")
	scratch := flag.String(proto.FlagScratch, os.TempDir(), "directory for the disk workload's scratch file")
	disk := flag.String(proto.FlagDisk, "", "block device for the disk workload instead of a file in -"+proto.FlagScratch)
	data := flag.String(proto.FlagDataListen, "", "address of the network workload's raw TCP/UDP server (default: -listen's host, its port + 1; port 0 stays 0)")
	tools := flag.String(proto.FlagTools, "", "tools image tree to chroot into for tool workloads (default: none, or / when this root is the tools image)")
	flag.Parse()
	// In a VM, the kernel command line carries the settings.
	kp := agent.KernelParams()
	if kp.Listen != "" {
		*listen = kp.Listen
	}
	if kp.Disk != "" {
		*disk = kp.Disk
	}
	if kp.Tools != "" {
		// A VM's tools image is a read-only disk: mount it, chroot into it.
		if err := agent.MountTools(kp.Tools, proto.ToolsMountPoint); err != nil {
			fmt.Fprintf(os.Stderr, "%s%v\n", proto.LogPrefix, err)
		} else {
			*tools = proto.ToolsMountPoint
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg := agent.Config{Listen: *listen, ScratchDir: *scratch, DiskPath: *disk, DataListen: *data, ToolsRoot: *tools}
	if err := agent.Serve(ctx, cfg, agent.ReadyWriter(os.Stdout)); err != nil {
		fmt.Fprintf(os.Stderr, "%s%v\n", proto.LogPrefix, err)
		os.Exit(1)
	}
}
