package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	promprocfs "github.com/prometheus/procfs"

	"vcbench/agent/proto"
	"vcbench/workload"
	"vcbench/workload/tools"
)

// Bounds of a tool server's life.
const (
	toolListenWait = 10 * time.Second // from start to listening
	toolStopWait   = 2 * time.Second  // from SIGTERM to SIGKILL
	toolOutputKeep = 8 << 10
)

// toolServers owns the tool server the host-client workloads talk to
// (one at a time) from its start to its end: DELETE, a new POST, or the
// agent's exit (close) stops it; its process group dies with it.
type toolServers struct {
	ctx    context.Context // the servers' lifetime, not a request's
	cancel context.CancelFunc

	mu     sync.Mutex
	cur    *toolServer
	closed bool
}

type toolServer struct {
	port int
	cmd  *exec.Cmd
	out  *tools.TailBuffer
	done chan struct{} // closed when the process has been waited for
	err  error         // Wait's result, once done
}

func newToolServers() *toolServers {
	ctx, cancel := context.WithCancel(context.Background())
	return &toolServers{ctx: ctx, cancel: cancel}
}

// handleToolServe answers POST PathToolsServe: start a server, answer
// once it listens.
func (s *Server) handleToolServe(w http.ResponseWriter, r *http.Request) {
	var req proto.ToolServeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, proto.RunError{Error: fmt.Sprintf("decode request: %v", err)})
		return
	}
	if s.tools == nil {
		msg := workload.ErrNoTools.Error()
		if s.toolsWhy != "" {
			msg += ": " + s.toolsWhy
		}
		writeJSON(w, http.StatusConflict, proto.RunError{Error: msg})
		return
	}
	port, err := s.toolPort(req.Tool)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, proto.RunError{Error: err.Error()})
		return
	}
	argv, err := tools.ServerArgs(req.Tool, req.Protocol, port, s.tools.ScratchDir())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, proto.RunError{Error: err.Error()})
		return
	}
	udp := req.Tool == proto.ServerSockperf && req.Protocol == "udp"
	if err := s.toolSrv.start(r.Context(), s.tools, argv, port, udp); err != nil {
		writeJSON(w, http.StatusInternalServerError, proto.RunError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, proto.ToolServer{Tool: req.Tool, Port: port, Command: argv})
}

// handleToolStop answers DELETE PathToolsServe/{port}.
func (s *Server) handleToolStop(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, proto.RunError{Error: "port: " + err.Error()})
		return
	}
	st, ok := s.toolSrv.stop(port)
	if !ok {
		writeJSON(w, http.StatusNotFound, proto.RunError{Error: fmt.Sprintf("no tool server on port %d", port)})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// toolPort is tool's server port: the HTTP port + ToolPortOffset (what a
// VM's hostfwd forwards), or one free for TCP and UDP when the HTTP port
// was picked by the kernel.
func (s *Server) toolPort(tool string) (int, error) {
	off := proto.ToolPortOffset(tool)
	if off == 0 {
		return 0, fmt.Errorf("%q is not a tool server (allowed: %s, %s, %s)", tool, proto.ServerIperf3, proto.ServerSockperf, proto.ServerRedis)
	}
	_, p, err := net.SplitHostPort(s.cfg.Listen)
	if err != nil {
		return 0, fmt.Errorf("tool port from %q: %w", s.cfg.Listen, err)
	}
	if n, err := strconv.Atoi(p); err == nil && n != 0 {
		return n + off, nil
	}
	return freePort()
}

// freePort finds a port that is free for both TCP and UDP now.
func freePort() (int, error) {
	var last error
	for try := 0; try < 20; try++ {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", ":"+strconv.Itoa(port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
		last = err
	}
	return 0, fmt.Errorf("no port free for TCP and UDP: %w", last)
}

// start stops the running server, if any, starts argv and waits until it
// listens on port (UDP when udp), it exits, or reqCtx ends.
func (ts *toolServers) start(reqCtx context.Context, t *Tools, argv []string, port int, udp bool) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return errors.New("the agent is stopping")
	}
	if ts.cur != nil {
		ts.cur.stop()
		ts.cur = nil
	}
	out := &tools.TailBuffer{Max: toolOutputKeep}
	cmd := t.Command(ts.ctx, t.ScratchDir(), argv...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	srv := &toolServer{port: port, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { srv.err = cmd.Wait(); close(srv.done) }()
	ts.cur = srv
	deadline := time.Now().Add(toolListenWait)
	for !listening(port, udp) {
		select {
		case <-srv.done:
			ts.cur = nil
			return fmt.Errorf("%s exited before it listened on port %d: %v; output: %s", argv[0], port, srv.err, out.String())
		case <-reqCtx.Done():
			srv.stop()
			ts.cur = nil
			return fmt.Errorf("%s on port %d: %w", argv[0], port, reqCtx.Err())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			srv.stop()
			ts.cur = nil
			return fmt.Errorf("%s did not listen on port %d within %s; output: %s", argv[0], port, toolListenWait, out.String())
		}
	}
	return nil
}

// stop ends the server on port; ok is false when none runs there.
func (ts *toolServers) stop(port int) (proto.ToolServerStopped, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.cur == nil || ts.cur.port != port {
		return proto.ToolServerStopped{}, false
	}
	st := ts.cur.stop()
	ts.cur = nil
	return st, true
}

// close stops the server, if any, and refuses new ones (the agent exits).
func (ts *toolServers) close() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.closed = true
	if ts.cur != nil {
		ts.cur.stop()
		ts.cur = nil
	}
	ts.cancel()
}

// stop ends the server's process group: SIGTERM, then SIGKILL after
// toolStopWait (iperf3 -1 has usually ended by itself).
func (srv *toolServer) stop() proto.ToolServerStopped {
	select {
	case <-srv.done:
	default:
		syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-srv.done:
		case <-time.After(toolStopWait):
			syscall.Kill(-srv.cmd.Process.Pid, syscall.SIGKILL)
			<-srv.done
		}
	}
	exit := "exit status 0"
	if srv.err != nil {
		exit = srv.err.Error()
	}
	return proto.ToolServerStopped{Exit: exit, Output: srv.out.String()}
}

// listening reports whether a socket listens on port (TCP) or is bound to
// it (UDP), IPv4 or IPv6, in the agent's network namespace (the tools
// share it).
func listening(port int, udp bool) bool {
	fs, err := promprocfs.NewFS("/proc")
	if err != nil {
		return false
	}
	const tcpListen = 0x0A
	if udp {
		for _, read := range []func() (promprocfs.NetUDP, error){fs.NetUDP, fs.NetUDP6} {
			socks, _ := read()
			for _, l := range socks {
				if l.LocalPort == uint64(port) {
					return true
				}
			}
		}
		return false
	}
	for _, read := range []func() (promprocfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		socks, _ := read()
		for _, l := range socks {
			if l.LocalPort == uint64(port) && l.St == tcpListen {
				return true
			}
		}
	}
	return false
}
