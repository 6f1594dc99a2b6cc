package workload

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"

	"vcbench/agent/proto"
)

// The raw data protocol. On accepting a TCP connection the server writes its
// token (tokenBytes), so that the harness can tell that it reached this
// agent and not whatever else listens on that port of the host (an
// unforwarded VM port); then the client writes one operation byte:
//
//	opEcho + uint32 n: the server echoes n-byte messages until EOF
//	opSink: the server reads until EOF, then writes the count as uint64
//	opSource + uint64 n: the server writes n zero bytes and closes
//
// Over UDP every datagram is echoed, except udpHello, answered with the token.
// Integers are big-endian.
const (
	opEcho   = 'e'
	opSink   = 's'
	opSource = 'g'

	tokenBytes    = 16
	maxEchoBytes  = 64 << 10
	udpHello      = "VCBH"
	streamBufSize = 256 << 10
)

// DataServer is the agent's side of the raw network workload: a TCP echo,
// sink and source, and a UDP echo, on one port number. It owns its
// listeners, connections and goroutines; Close ends them all.
type DataServer struct {
	tcp   net.Listener
	udp   net.PacketConn
	token [tokenBytes]byte

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// DataListenFor is the data server's address for an agent whose HTTP
// server listens on listen: same host, port + proto.DataPortOffset (0 stays 0).
func DataListenFor(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("data address for %q: %w", listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", fmt.Errorf("data address for %q: port: %w", listen, err)
	}
	if p != 0 {
		p += proto.DataPortOffset
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// ListenData binds TCP and UDP on addr (port 0: a port free for both) and
// starts serving.
func ListenData(addr string) (*DataServer, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("data server %q: %w", addr, err)
	}
	s := &DataServer{conns: map[net.Conn]struct{}{}}
	// The token only tells this agent from whatever else answers on the
	// port; math/rand's seed comes from the kernel's AT_RANDOM at exec,
	// while crypto/rand blocks until the kernel's CRNG is ready, which a
	// TCG guest without RDRAND reaches a second after boot.
	for i := 0; i < tokenBytes; i += 8 {
		binary.LittleEndian.PutUint64(s.token[i:], rand.Uint64())
	}
	tries := 1
	if port == "0" {
		tries = 20 // the kernel's free TCP port may be taken for UDP
	}
	for i := 0; ; i++ {
		s.tcp, err = net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("data server: listen tcp %s: %w", addr, err)
		}
		p := s.tcp.Addr().(*net.TCPAddr).Port
		s.udp, err = net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			break
		}
		s.tcp.Close()
		if i+1 >= tries {
			return nil, fmt.Errorf("data server: listen udp on the tcp port %d: %w", p, err)
		}
	}
	s.wg.Add(2)
	go s.acceptLoop()
	go s.udpLoop()
	return s, nil
}

// Ports returns what GET /net/ports answers.
func (s *DataServer) Ports() proto.DataPorts {
	return proto.DataPorts{
		TCP:   s.tcp.Addr().(*net.TCPAddr).Port,
		UDP:   s.udp.LocalAddr().(*net.UDPAddr).Port,
		Token: hex.EncodeToString(s.token[:]),
	}
}

// ServeHTTP answers GET /net/ports.
func (s *DataServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.Ports())
}

// Close stops the listeners, ends open connections and waits for the
// server's goroutines. It is idempotent.
func (s *DataServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := errors.Join(s.tcp.Close(), s.udp.Close())
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *DataServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

func (s *DataServer) serveConn(c net.Conn) {
	if _, err := c.Write(s.token[:]); err != nil {
		return
	}
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:1]); err != nil {
		return
	}
	switch hdr[0] {
	case opEcho:
		if _, err := io.ReadFull(c, hdr[1:5]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[1:5])
		if n == 0 || n > maxEchoBytes {
			return
		}
		buf := make([]byte, n)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	case opSink:
		n, err := io.CopyBuffer(io.Discard, c, make([]byte, streamBufSize))
		if err != nil {
			return
		}
		binary.BigEndian.PutUint64(hdr[1:], uint64(n))
		c.Write(hdr[1:])
	case opSource:
		if _, err := io.ReadFull(c, hdr[1:9]); err != nil {
			return
		}
		n := binary.BigEndian.Uint64(hdr[1:9])
		if n > maxStreamBytes {
			return
		}
		buf := make([]byte, streamBufSize)
		for n > 0 {
			k := min(n, uint64(len(buf)))
			if _, err := c.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	}
}

func (s *DataServer) udpLoop() {
	defer s.wg.Done()
	buf := make([]byte, maxEchoBytes)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (ICMP-induced) ends nothing
		}
		reply := buf[:n]
		if string(reply) == udpHello {
			reply = s.token[:]
		}
		s.udp.WriteTo(reply, from)
	}
}
