package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
	"vcbench/workload/tools"
)

// HostTools runs the tools image's programs on the host, for the clients
// of the host-client workloads: through the agent binary's chroot helper
// (proto.ToolsExecCommand) into Root, in a mount namespace of its own, as
// the native agent runs tools. The chroot, rather than the tree's binaries
// with its loader and LD_LIBRARY_PATH, gives the client exactly the
// instance's environment (the tree's /etc, its libraries, its PATH), and
// the helper is the code the agent already runs; it needs root, which
// every runtime with `image: tools` needs anyway. The host has no iperf3
// of its own, and should not need one. Commands start pinned to CPUs.
type HostTools struct {
	Helper  string // the agent binary (its tools-exec helper)
	Root    string // the tools tree on the host
	Scratch string // host directory bound at /scratch (empty, the clients write nothing)
	CPUs    []int  // CPUs the clients run on; empty: unpinned
}

var (
	_ tools.Runner  = (*HostTools)(nil)
	_ tools.Starter = (*HostTools)(nil)
)

// hostToolsPATH is Debian's default PATH, as the agent's tools get it.
const hostToolsPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Command returns the chroot helper's command running argv in dir (as the
// tools see it), in a process group of its own that a cancelled ctx kills
// whole, and that dies with vcbench.
func (h *HostTools) Command(ctx context.Context, dir string, argv ...string) *exec.Cmd {
	args := append([]string{proto.ToolsExecCommand, h.Root, h.Scratch, dir, "--"}, argv...)
	cmd := exec.CommandContext(ctx, h.Helper, args...)
	cmd.Env = []string{"PATH=" + hostToolsPATH, "LC_ALL=C", "HOME=/root", "TERM=dumb"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Unshareflags: syscall.CLONE_NEWNS}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Start starts cmd pinned to h.CPUs: the mask is set on a locked thread
// around the fork, so that the client inherits it from its first
// instruction (and every thread it makes), and the harness's thread gets
// its own mask back.
func (h *HostTools) Start(cmd *exec.Cmd) error {
	if len(h.CPUs) == 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fmt.Errorf("read the harness's CPU mask: %w", err)
	}
	for _, c := range h.CPUs {
		set.Set(c)
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin the client to CPUs %s: %w", CPUList(h.CPUs), err)
	}
	defer unix.SchedSetaffinity(0, &old)
	return cmd.Start()
}

// ScratchDir is /scratch, as the chroot helper binds it.
func (h *HostTools) ScratchDir() string { return "/scratch" }

// HostPath maps a path under /scratch to the host's view.
func (h *HostTools) HostPath(toolPath string) string {
	if rest, ok := strings.CutPrefix(toolPath, "/scratch"); ok {
		return h.Scratch + rest
	}
	return h.Root + toolPath
}

// DiskPath is empty: the clients use no disk.
func (h *HostTools) DiskPath() string { return "" }

// CPUList writes CPUs as a cpuset list ("1", "2-3,5").
func CPUList(cpus []int) string {
	c := slices.Clone(cpus)
	slices.Sort(c)
	var parts []string
	for i := 0; i < len(c); {
		j := i
		for j+1 < len(c) && c[j+1] == c[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(c[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", c[i], c[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// HostTarget is where and how the harness runs a host-client workload.
type HostTarget struct {
	// Control is the agent's HTTP address (the instance's Addr).
	Control string
	// ToolAddr, when set, is host:port where the harness reaches the
	// agent's port of a tool (proto.ServerIperf3, ...; TCP and UDP). Nil
	// or "" means Control's host and the port the agent answers, right
	// wherever the harness reaches the instance's own address (native
	// loopback, a container's veth); QEMU user-mode networking forwards
	// other host ports.
	ToolAddr func(tool string) string
	// Tools runs the clients (a *HostTools).
	Tools tools.Runner
}

// hostRun is one client run against one server.
type hostRun struct {
	label  string // figure prefix ("tcp_to_agent"); "" for none
	server proto.ToolServeRequest
	client func(ctx context.Context, host string, port int) (*tools.Output, error)
}

func hostRuns(p Params, r tools.Runner) ([]hostRun, error) {
	var runs []hostRun
	switch p.Kind {
	case Iperf3:
		for _, pr := range []string{"tcp", "udp"} {
			for _, dir := range []string{"to_agent", "from_agent"} {
				if !tools.Wants(p.Protocol, pr) || !tools.Wants(p.Direction, dir) {
					continue
				}
				udp, reverse := pr == "udp", dir == "from_agent"
				runs = append(runs, hostRun{label: pr + "_" + dir, server: proto.ToolServeRequest{Tool: proto.ServerIperf3, Protocol: pr},
					client: func(ctx context.Context, host string, port int) (*tools.Output, error) {
						return tools.RunIperf3(ctx, r, p.Params, host, port, udp, reverse)
					}})
			}
		}
	case Sockperf:
		for _, pr := range []string{"tcp", "udp"} {
			if !tools.Wants(p.Protocol, pr) {
				continue
			}
			udp := pr == "udp"
			runs = append(runs, hostRun{label: pr, server: proto.ToolServeRequest{Tool: proto.ServerSockperf, Protocol: pr},
				client: func(ctx context.Context, host string, port int) (*tools.Output, error) {
					return tools.RunSockperf(ctx, r, p.Params, host, port, udp)
				}})
		}
	case Redis:
		runs = append(runs, hostRun{server: proto.ToolServeRequest{Tool: proto.ServerRedis, Protocol: "tcp"},
			client: func(ctx context.Context, host string, port int) (*tools.Output, error) {
				return tools.RunRedisBenchmark(ctx, r, p.Params, host, port)
			}})
	default:
		return nil, fmt.Errorf("%s is not a host-client workload", p.Kind)
	}
	return runs, nil
}

// RunHostClient runs a host-client workload (iperf3, sockperf, redis):
// for each of its runs (iperf3: protocol × direction; sockperf: per
// protocol; redis: one) the agent starts the tool's server in the
// instance, the client runs on the host through target.Tools, and the
// server is stopped, whatever happened. Figures carry the run's label as
// a prefix (tcp_to_agent_received_bw, udp_rr_p50, get_requests_per_second);
// the notes keep each run's command lines and the raw outputs.
func RunHostClient(ctx context.Context, target HostTarget, p Params) (*Result, error) {
	if target.Tools == nil {
		return nil, fmt.Errorf("%s: no tools tree on the host to run the client from", p.Kind)
	}
	runs, err := hostRuns(p, target.Tools)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}
	defer client.CloseIdleConnections()
	start := time.Now()
	res := &Result{Workload: p.Kind, Notes: map[string]string{}}
	var raw strings.Builder
	for _, run := range runs {
		host, fwdPort, err := toolHost(target, run.server.Tool)
		if err != nil {
			return nil, err
		}
		res.Notes["addr"] = host
		srv, err := serveTool(ctx, client, target.Control, run.server)
		if err != nil {
			return nil, fmt.Errorf("%s server for %s: %w", run.server.Tool, orLabel(run.label), err)
		}
		port := srv.Port
		if fwdPort != 0 {
			port = fwdPort
		}
		out, cerr := run.client(ctx, host, port)
		st, serr := stopTool(client, target.Control, srv.Port)
		if cerr != nil {
			msg := fmt.Errorf("%s client (%s) against %s: %w", run.server.Tool, orLabel(run.label), net.JoinHostPort(host, strconv.Itoa(port)), cerr)
			if s := strings.TrimSpace(st.Output); s != "" {
				msg = fmt.Errorf("%w; the server said: %s", msg, lastLines(s, 5))
			}
			return nil, errors.Join(msg, serr)
		}
		if serr != nil {
			return nil, fmt.Errorf("stop the %s server: %w", run.server.Tool, serr)
		}
		prefix := ""
		if run.label != "" {
			prefix = run.label + "_"
		}
		for _, f := range out.Figures {
			m := lower(prefix+f.Name, Unit(f.Unit), f.Value)
			if f.Higher {
				m.Better = BetterHigher
			}
			res.Metrics = append(res.Metrics, m)
		}
		key := orLabel(run.label)
		res.Notes["command."+key] = strings.Join(out.Command, " ")
		res.Notes["server."+key] = strings.Join(srv.Command, " ")
		// Where the client went: the instance's port, or the host port
		// forwarded to it (QEMU user mode).
		res.Notes["client_addr."+key] = net.JoinHostPort(host, strconv.Itoa(port))
		res.Notes["server_exit."+key] = st.Exit
		for _, w := range out.Warnings {
			if !slices.Contains(res.Warnings, w) {
				res.Warnings = append(res.Warnings, w)
			}
		}
		fmt.Fprintf(&raw, "==> %s: %s <==\n%s\n", key, strings.Join(out.Command, " "), out.Raw)
	}
	res.Notes[ToolRawNote] = raw.String()
	if len(res.Warnings) > 0 {
		res.Notes["warning"] = strings.Join(res.Warnings, "; ")
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func orLabel(l string) string {
	if l == "" {
		return "run"
	}
	return l
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// toolHost is the host the clients connect to and, when the tool port is
// forwarded (target.ToolAddr), the forwarded port.
func toolHost(t HostTarget, tool string) (string, int, error) {
	if t.ToolAddr != nil {
		if a := t.ToolAddr(tool); a != "" {
			h, p, err := net.SplitHostPort(a)
			if err != nil {
				return "", 0, fmt.Errorf("%s address %q: %w", tool, a, err)
			}
			port, err := strconv.Atoi(p)
			if err != nil || port <= 0 {
				return "", 0, fmt.Errorf("%s address %q: bad port", tool, a)
			}
			return h, port, nil
		}
	}
	h, _, err := net.SplitHostPort(t.Control)
	if err != nil {
		return "", 0, fmt.Errorf("agent address %q: %w", t.Control, err)
	}
	return h, 0, nil
}

// serveTool asks the agent at control to start a tool server.
func serveTool(ctx context.Context, c *http.Client, control string, req proto.ToolServeRequest) (*proto.ToolServer, error) {
	body, _ := json.Marshal(req)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(rctx, http.MethodPost, "http://"+control+proto.PathToolsServe, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	var srv proto.ToolServer
	if err := doJSON(c, hr, &srv); err != nil {
		return nil, err
	}
	if srv.Port <= 0 {
		return nil, fmt.Errorf("agent answered port %d", srv.Port)
	}
	return &srv, nil
}

// stopTool asks the agent to stop the server on port. It has its own
// time-out: a cancelled workload must still stop the server.
func stopTool(c *http.Client, control string, port int) (proto.ToolServerStopped, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodDelete, fmt.Sprintf("http://%s%s/%d", control, proto.PathToolsServe, port), nil)
	if err != nil {
		return proto.ToolServerStopped{}, err
	}
	var st proto.ToolServerStopped
	err = doJSON(c, hr, &st)
	return st, err
}

func doJSON(c *http.Client, req *http.Request, v any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e proto.RunError
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("agent: %s", e.Error)
		}
		return fmt.Errorf("agent answered %s", resp.Status)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode agent answer: %w", err)
	}
	return nil
}
