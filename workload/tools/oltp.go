package tools

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sysbench OLTP defaults: small enough to prepare in seconds under TCG.
const (
	DefaultOLTPTables    = 1
	DefaultOLTPTableSize = 10000
	// OLTPBufferPool is the InnoDB buffer pool of the MariaDB server the
	// OLTP tests run against: small, so that the server fits a 512 MiB
	// instance beside sysbench and the agent (the data of the default
	// sizes fits in it many times over).
	OLTPBufferPool = 64 << 20
	// oltpRedoLog is InnoDB's redo log (10.11's default is 96 MiB): in a
	// VM the scratch directory is the guest's tmpfs, in its memory.
	oltpRedoLog = 16 << 20
	oltpDB      = "sbtest"
)

// Bounds of the server's life: under TCG its start takes seconds.
const (
	mariadbReadyWait = 120 * time.Second // from start to "ready for connections"
	mariadbStopWait  = 30 * time.Second  // from SIGTERM to SIGKILL
	mariadbLogKeep   = 8 << 10
)

// mariadbReady is what mariadbd logs once it accepts connections.
const mariadbReady = "ready for connections"

// MariaDBArgs is mariadbd's command line for a server whose every file
// lives under dir (as the tools see it): datadir, unix socket, pid file and
// temporary files. It reads no option file (--no-defaults: the tools
// image's /etc/mysql is not ours), listens on no TCP port
// (--skip-networking: the socket only) and runs as root (--user=root: the
// agent is root in every runtime). It starts from an empty datadir with
// --skip-grant-tables rather than from mariadb-install-db's system
// tables: the bootstrap costs tens of seconds under TCG and the tables
// hold only accounts, which a server reachable by no network and thrown
// away after one run does not need; InnoDB creates its own files.
func MariaDBArgs(dir string, threads int) []string {
	return []string{"mariadbd", "--no-defaults", "--user=root",
		"--datadir=" + filepath.Join(dir, "data"),
		"--socket=" + filepath.Join(dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--tmpdir=" + filepath.Join(dir, "tmp"),
		"--skip-networking", "--skip-grant-tables",
		"--innodb-buffer-pool-size=" + strconv.Itoa(OLTPBufferPool),
		"--innodb-log-file-size=" + strconv.Itoa(oltpRedoLog),
		"--innodb-buffer-pool-load-at-startup=OFF",
		"--innodb-buffer-pool-dump-at-shutdown=OFF",
		"--max-connections=" + strconv.Itoa(max(threads, 1)+16),
	}
}

// sysbenchOLTPCommon are the options of both prepare and run: the test,
// the server's socket and the data set's size.
func sysbenchOLTPCommon(p Params, socket string) []string {
	return []string{"sysbench", p.Test,
		"--db-driver=mysql",
		"--mysql-socket=" + socket,
		"--mysql-user=root",
		"--mysql-db=" + oltpDB,
		"--tables=" + strconv.Itoa(orInt(p.Tables, DefaultOLTPTables)),
		"--table-size=" + strconv.Itoa(orInt(p.TableSize, DefaultOLTPTableSize)),
	}
}

// SysbenchOLTPArgs is sysbench's `run` command line of an OLTP test (p.Test)
// against the server on socket, with threads (at least 1), its own 99th
// percentile and a latency histogram (for the median), as SysbenchArgs.
func SysbenchOLTPArgs(p Params, threads int, socket string) []string {
	return append(sysbenchOLTPCommon(p, socket),
		"--threads="+strconv.Itoa(max(threads, 1)),
		"--time="+strconv.Itoa(p.Runtime.seconds(DefaultSysbenchRuntime)),
		"--events=0",
		"--percentile="+strconv.Itoa(sysbenchPercentile),
		"--histogram=on",
		"run")
}

// RunSysbenchOLTP runs one OLTP test: it starts a MariaDB server on a unix
// socket in a directory of its own under the scratch directory, creates
// the database, fills it (`sysbench prepare`, not measured), measures
// `sysbench run`, and whatever happened stops the server and removes its
// directory.
func RunSysbenchOLTP(ctx context.Context, r Runner, p Params, threads int) (out *Output, err error) {
	threads = max(threads, 1)
	dir := filepath.Join(r.ScratchDir(), "vcbench-mariadb-"+strconv.FormatUint(rand.Uint64(), 36))
	host := r.HostPath(dir)
	for _, d := range []string{"data", "tmp"} {
		if err := os.MkdirAll(filepath.Join(host, d), 0o755); err != nil {
			removeAll(host)
			return nil, fmt.Errorf("mariadb directory: %w", err)
		}
	}
	srv, err := startMariaDB(ctx, r, dir, threads)
	if err != nil {
		removeAll(host)
		return nil, err
	}
	defer func() {
		// A workload that timed out or was cancelled needs no clean shutdown.
		if stopErr := srv.stop(ctx.Err() != nil); stopErr != nil && err == nil {
			out, err = nil, stopErr
		}
		removeAll(host)
	}()
	// A failure while the server was dying (killed for memory) says so.
	withLog := func(what string, err error) error {
		if srv.exited() {
			return fmt.Errorf("%s: %w; mariadbd exited (%v); its log: %s", what, err, srv.err, srv.log.String())
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	socket := srv.socket
	if _, _, err := run(ctx, r, dir, "mariadb", "--no-defaults", "--socket="+socket, "--user=root",
		"--execute=CREATE DATABASE "+oltpDB); err != nil {
		return nil, withLog("create database "+oltpDB, err)
	}
	prep := append(sysbenchOLTPCommon(p, socket), "--threads="+strconv.Itoa(min(threads, orInt(p.Tables, DefaultOLTPTables))), "prepare")
	if _, _, err := run(ctx, r, dir, prep...); err != nil {
		return nil, withLog("prepare", err)
	}
	argv := SysbenchOLTPArgs(p, threads, socket)
	stdout, stderr, err := run(ctx, r, dir, argv...)
	if err != nil {
		return nil, withLog("run", err)
	}
	figs, err := ParseSysbenchOLTP(bytesReader(stdout))
	if err != nil {
		return nil, parseFailed("sysbench", argv[1:], stderr, err)
	}
	notes := map[string]string{
		"threads":          strconv.Itoa(threads),
		"tables":           strconv.Itoa(orInt(p.Tables, DefaultOLTPTables)),
		"table_size":       strconv.Itoa(orInt(p.TableSize, DefaultOLTPTableSize)),
		"mariadbd_command": strings.Join(srv.argv, " "),
		"mariadbd_log":     srv.log.String(),
		"innodb_aio":       innodbAIO(srv.log.String()),
	}
	return &Output{Figures: figs, Raw: stdout, Command: argv, Notes: notes}, nil
}

// innodbAIO says which asynchronous I/O InnoDB logged that it uses:
// io_uring, or Linux native AIO where io_uring is refused (a seccomp
// filter), else its simulated AIO; runtimes compare only where they agree.
func innodbAIO(log string) string {
	switch {
	case strings.Contains(log, "InnoDB: Using io_uring"):
		return "io_uring"
	case strings.Contains(log, "InnoDB: Using Linux native AIO"):
		return "libaio"
	default:
		return "none logged (simulated AIO)"
	}
}

// mariadb is one running mariadbd; stop ends it.
type mariadb struct {
	argv   []string
	socket string // as the tools see it
	cmd    *exec.Cmd
	log    *TailBuffer
	done   chan struct{} // closed once the process has been waited for
	err    error         // Wait's result, once done
	once   sync.Once
}

// startMariaDB starts mariadbd with its files under dir and waits until it
// logs that it accepts connections, it exits, or ctx ends (then it is
// stopped). Its process lives until stop, not ctx: ctx only bounds the wait.
func startMariaDB(ctx context.Context, r Runner, dir string, threads int) (*mariadb, error) {
	argv := MariaDBArgs(dir, threads)
	// The server's own lifetime: stop ends it (a cancelled ctx too, through
	// the deferred stop of the caller), not ctx's cancellation.
	cmd := r.Command(context.WithoutCancel(ctx), dir, argv...)
	log := &TailBuffer{Max: mariadbLogKeep}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("mariadbd log pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	start := cmd.Start
	if s, ok := r.(Starter); ok {
		start = func() error { return s.Start(cmd) }
	}
	err = start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("start mariadbd: %w", err)
	}
	m := &mariadb{argv: argv, socket: filepath.Join(dir, "mysqld.sock"), cmd: cmd, log: log, done: make(chan struct{})}
	ready := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer pr.Close()
		br := bufio.NewReader(pr)
		seen := false
		for {
			line, err := br.ReadString('\n')
			log.Write([]byte(line))
			if !seen && strings.Contains(line, mariadbReady) {
				seen = true
				close(ready)
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		m.err = cmd.Wait()
		<-copied
		close(m.done)
	}()
	timer := time.NewTimer(mariadbReadyWait)
	defer timer.Stop()
	select {
	case <-ready:
		return m, nil
	case <-m.done:
		return nil, fmt.Errorf("mariadbd exited before it was ready (%v); its log: %s", m.err, log.String())
	case <-ctx.Done():
		m.stop(true)
		return nil, fmt.Errorf("mariadbd not ready: %w; its log: %s", ctx.Err(), log.String())
	case <-timer.C:
		m.stop(true)
		return nil, fmt.Errorf("mariadbd was not ready within %s; its log: %s", mariadbReadyWait, log.String())
	}
}

// exited reports whether the server has exited.
func (m *mariadb) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// stop shuts the server down (SIGTERM: InnoDB's clean shutdown), kills it
// after mariadbStopWait or at once when kill is set, and waits for it;
// idempotent. It is an error when the server had died before it was asked
// to stop, or did not stop in time.
func (m *mariadb) stop(kill bool) error {
	var err error
	m.once.Do(func() {
		if m.exited() {
			err = fmt.Errorf("mariadbd exited during the workload (%v); its log: %s", m.err, m.log.String())
			return
		}
		if kill {
			killGroup(m.cmd)
			<-m.done
			return
		}
		m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(mariadbStopWait):
			killGroup(m.cmd)
			<-m.done
			err = fmt.Errorf("mariadbd did not stop within %s of SIGTERM and was killed; its log: %s", mariadbStopWait, m.log.String())
		}
	})
	return err
}

// killGroup kills cmd's process group when it has one of its own (the
// agent's tools do), else the process.
func killGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr != nil && cmd.SysProcAttr.Setpgid {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.Process.Kill()
}

// TailBuffer keeps the last Max bytes written to it (a server's log for an
// error message); safe for concurrent use.
type TailBuffer struct {
	mu  sync.Mutex
	Max int
	b   []byte
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.Max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.Max:]...)
	}
	return len(p), nil
}

func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
