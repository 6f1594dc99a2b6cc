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
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "noop" {
		return // the fork workload's fallback target
	}
	// As a VM's /init, the agent loads the guest's modules and sets up its
	// network before serving.
	agent.GuestSetup = agent.SetupGuest
	if agent.IsInit() {
		fmt.Printf("%s%.6f\n", agent.StartMarker, agent.Uptime())
		agent.RunInit(os.Args)
	}
	if os.Getenv(agent.ChildEnv) == "" {
		fmt.Printf("%s%.6f\n", agent.StartMarker, agent.Uptime())
	}
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on (port 0 picks a free port)")
	scratch := flag.String("scratch", os.TempDir(), "directory for the disk workload's scratch file")
	disk := flag.String("disk", "", "block device for the disk workload instead of a file in -scratch")
	data := flag.String("data-listen", "", "address of the network workload's raw TCP/UDP server (default: -listen's host, its port + 1; port 0 stays 0)")
	flag.Parse()
	// In a VM, the kernel command line carries the settings.
	kp := agent.KernelParams()
	if v, ok := kp["listen"]; ok {
		*listen = v
	}
	if v, ok := kp["disk"]; ok {
		*disk = v
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg := agent.Config{Listen: *listen, ScratchDir: *scratch, DiskPath: *disk, DataListen: *data}
	if err := agent.Serve(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vcbench-agent:", err)
		os.Exit(1)
	}
}
