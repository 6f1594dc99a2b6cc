// Package proto is what the vcbench harness and its guest agent agree on:
// the agent's flags and kernel parameters, the lines it prints on its
// stdout (a VM's serial console), the HTTP paths it serves, the type of
// /info, the names of the metrics it exports and the files the image
// builder leaves for it. Both sides import it, so that each string of the
// protocol is spelled once. It uses only the standard library, so that
// importing it costs neither side a dependency.
package proto

import (
	"fmt"
	"strconv"
	"strings"
)

// LogPrefix begins every line the agent prints about itself.
const LogPrefix = "vcbench-agent: "

// StartMarker is printed first thing, followed by the system's uptime in
// seconds (CLOCK_BOOTTIME), so that a backend can place "agent_start" on
// its own clock: the guest's uptime in a VM, the shared boot clock
// elsewhere. See StartLine and ParseStart.
const StartMarker = LogPrefix + "start uptime="

// ReadyMarker is printed, followed by the listening address, once the
// agent's server accepts connections. See ReadyLine and ParseReady.
const ReadyMarker = LogPrefix + "listening on "

// ChildEnv (=1) marks an agent that its init started as its child to
// serve: it does not act as init itself (and prints no start line, which
// its init printed or has no use for). A VM's /init (the agent) and every
// container's PID 1 (vcbench-init) set it.
const ChildEnv = "VCBENCH_AGENT_CHILD"

// StartLine is the agent's start line (without the newline) at uptime.
func StartLine(uptime float64) string { return fmt.Sprintf("%s%.6f", StartMarker, uptime) }

// ParseStart finds StartMarker in a line (a console may prefix it with
// noise, and end it with \r) and returns the uptime after it.
func ParseStart(line string) (uptime float64, ok bool) {
	rest, ok := after(line, StartMarker)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(rest, 64)
	return v, err == nil
}

// ReadyFDEnv names the environment variable that gives the agent a file
// descriptor (a pipe to the harness) on which it also writes its ready line
// and which it then closes: the container runtimes learn that the agent
// listens from the agent itself, as the native runtime does from its
// stdout and the vm runtime from its console, instead of polling.
const ReadyFDEnv = "VCBENCH_READY_FD"

// ReadyLine is the agent's ready line (without the newline) for addr.
func ReadyLine(addr string) string { return ReadyMarker + addr }

// ParseReady finds ReadyMarker in a line and returns the address after it.
func ParseReady(line string) (addr string, ok bool) {
	addr, ok = after(line, ReadyMarker)
	return addr, ok && addr != ""
}

// after returns the trimmed text that follows marker in line.
func after(line, marker string) (string, bool) {
	i := strings.Index(line, marker)
	if i < 0 {
		return "", false
	}
	return strings.TrimSpace(line[i+len(marker):]), true
}

// InitPrefix begins every line the agent prints as PID 1 (init).
const InitPrefix = LogPrefix + "init: "

// The lines the agent's init prints, each followed by a space and the
// error, when it cannot go on; in a VM it then powers off, and the backend
// reports the line instead of waiting for its time-out. See IsInitFailure.
const (
	InitGuestSetupFailed  = InitPrefix + "guest setup:"  // modules or network of the VM guest
	InitStartServerFailed = InitPrefix + "start server:" // the serving child did not start
)

// IsInitFailure reports whether a (console) line is one of the agent
// init's failure lines.
func IsInitFailure(line string) bool {
	return strings.Contains(line, InitGuestSetupFailed) || strings.Contains(line, InitStartServerFailed)
}

// The agent's command-line flags (Go flag syntax: -name value).
const (
	FlagListen  = "listen"  // host:port to serve on; port 0 picks one
	FlagScratch = "scratch" // directory for the disk workload's scratch file
	FlagDisk    = "disk"    // block device for the disk workload instead
	// FlagDataListen is the raw TCP/UDP data server's host:port; empty:
	// FlagListen's host and port + DataPortOffset.
	FlagDataListen = "data-listen"
)

// ServeArgs are the agent's arguments (after its path) to serve on listen
// with its scratch directory.
func ServeArgs(listen, scratch string) []string {
	return []string{"-" + FlagListen, listen, "-" + FlagScratch, scratch}
}

// The HTTP paths the agent serves; the harness is the client of all of them.
const (
	PathHealthz = "/healthz" // GET: 200 "ok" once serving; the runner's readiness poll
	PathInfo    = "/info"    // GET: Info as JSON
	PathRun     = "/run"     // POST: run a built-in workload (workload.Params → workload.Result), RunError on failure
	PathMetrics = "/metrics" // GET: Prometheus text exposition
	// The network workload's endpoints, driven from the harness.
	PathNetSink   = "/net/sink"   // POST: swallows the body, answers its length
	PathNetSource = "/net/source" // GET ?NetSourceBytes=N: sends N zero bytes
	PathNetPing   = "/net/ping"   // GET: answers a few bytes
	PathNetPorts  = "/net/ports"  // GET: DataPorts of the raw TCP/UDP data server
)

// NetSourceBytes is PathNetSource's query parameter: how many bytes to send.
const NetSourceBytes = "bytes"

// RunError is the JSON body of a failed PathRun.
type RunError struct {
	Error string `json:"error"`
}

// ModuleOrderPath is the file in the VM's initramfs that lists, one a
// line, the kernel module files the guest loads, in that order: the image
// builder writes it, the agent's init reads it. Its absence means a kernel
// with everything built in.
const ModuleOrderPath = "/lib/modules/vcbench.order"

// The metrics the agent exports on PathMetrics.
const (
	// MetricWorkloadValue (gauge; labels workload, metric, unit) is the last
	// figure of each built-in workload.
	MetricWorkloadValue = "vcbench_workload_value"
	// MetricWorkloadRuns (counter; labels workload, outcome) counts runs.
	MetricWorkloadRuns = "vcbench_workload_runs_total"
	// MetricWorkloadDuration (gauge; label workload) is the wall time of
	// each workload's last run.
	MetricWorkloadDuration = "vcbench_workload_duration_seconds"
	// MetricWorkloadLatency (histogram; labels workload, op) holds the
	// per-operation latencies of workloads that time single operations.
	MetricWorkloadLatency = "vcbench_workload_latency_seconds"
	// MetricGuestMemTotal (gauge) is MemTotal as the agent sees it: the
	// guest's own in a VM. The runner turns it into a sample.
	MetricGuestMemTotal = "vcbench_guest_memory_total_bytes"
	// MetricGuestMemAvailable (gauge) is MemAvailable as the agent sees it.
	// The runner turns it into a sample.
	MetricGuestMemAvailable = "vcbench_guest_memory_available_bytes"
	// MetricGuestCPU (counter; label mode) is the CPU time of the whole
	// machine the agent sees, from /proc/stat.
	MetricGuestCPU = "vcbench_guest_cpu_seconds_total"
)

// DataPortOffset places the raw data server's port (TCP and UDP, one
// number) next to the agent's HTTP port: the agent at 0.0.0.0:8080 serves
// data on 8081. An HTTP port of 0 (native) gives a data port picked by the
// kernel, which the harness learns from PathNetPorts. Fixed ports are what
// a VM's user-mode networking needs: each guest port is one hostfwd.
const DataPortOffset = 1

// DataPorts is PathNetPorts' answer: the data server's ports as the agent
// bound them, and the token its connections start with.
type DataPorts struct {
	TCP   int    `json:"tcp"`
	UDP   int    `json:"udp"`
	Token string `json:"token"`
}

// The images a runtime can run (scenario key `image`): the minimal one
// (agent + busybox) and the tools image (a Debian tree with the
// third-party benchmarks).
const (
	ImageMinimal = "minimal"
	ImageTools   = "tools"
)

// ToolsManifestPath is the file in the tools image that describes it (JSON:
// suite, mirror, package versions). The image builder writes it; the agent
// reads it, and an agent whose own root holds it runs tools without chroot
// (a container whose rootfs is the tools image).
const ToolsManifestPath = "/etc/vcbench/tools.json"

// ToolsMountPoint is where the agent of a VM mounts the tools image's
// read-only disk (ParamTools).
const ToolsMountPoint = "/tools"

// ToolsLabel is the ext4 volume label of the tools image's disk. ParamTools
// may name the disk as "LABEL=" + ToolsLabel, so that the guest finds it
// whatever order its virtio disks probe in.
const ToolsLabel = "vcbench-tools"

// FlagTools is the agent's flag naming the tools tree to chroot into (the
// native runtime with `image: tools`); empty: none, unless the agent's own
// root is the tools image.
const FlagTools = "tools"

// ToolsExecCommand is the agent's hidden first argument that makes it the
// chroot helper: `vcbench-agent tools-exec ROOT SCRATCH DIR -- ARGV...`
// (see agent.ToolsExecMain).
const ToolsExecCommand = "tools-exec"

// PathToolsServe starts (POST ToolServeRequest → ToolServer) the server
// of a host-client tool (iperf3, sockperf, redis) in the instance; DELETE
// PathToolsServe + "/{port}" stops it (→ ToolServerStopped). The agent
// owns the process: it runs one at a time (a new POST stops the last),
// and none outlives the agent.
const PathToolsServe = "/tools/serve"

// The tool servers the agent starts (ToolServeRequest.Tool).
const (
	ServerIperf3   = "iperf3"
	ServerSockperf = "sockperf"
	ServerRedis    = "redis"
)

// ToolPortOffset places each tool server's port (TCP and UDP, one number)
// next to the agent's HTTP port, as DataPortOffset does the data server's:
// the agent at 0.0.0.0:8080 serves iperf3 on 8082, sockperf on 8083 and
// redis on 8084, the ports a VM's user-mode networking must forward (TCP
// and UDP; redis TCP only). One port per tool, because sockperf's TCP
// server binds without SO_REUSEADDR and fails while the previous server's
// connections sit in TIME_WAIT on a shared port. An HTTP port of 0
// (native) gives a port picked free for both protocols at each start.
func ToolPortOffset(tool string) int {
	switch tool {
	case ServerIperf3:
		return 2
	case ServerSockperf:
		return 3
	case ServerRedis:
		return 4
	}
	return 0
}

// ToolServeRequest is PathToolsServe's POST body.
type ToolServeRequest struct {
	Tool     string `json:"tool"`     // ServerIperf3, ServerSockperf or ServerRedis
	Protocol string `json:"protocol"` // tcp or udp (sockperf's server serves one)
}

// ToolServer is a started tool server: its port (TCP and UDP) in the
// instance and its command line; it listens when the answer comes.
type ToolServer struct {
	Tool    string   `json:"tool"`
	Port    int      `json:"port"`
	Command []string `json:"command"`
}

// ToolServerStopped is the answer of a DELETE: how the server ended and
// the tail of its output.
type ToolServerStopped struct {
	Exit   string `json:"exit"`
	Output string `json:"output,omitempty"`
}
