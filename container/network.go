package container

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"vcbench/state"
)

// DefaultSubnet is the range the point-to-point /30s of containers are
// taken from, unless VCBENCH_CONTAINER_SUBNET or Options.Subnet says otherwise.
const DefaultSubnet = "10.213.0.0/16"

// SubnetEnv overrides DefaultSubnet for every container runtime.
const SubnetEnv = "VCBENCH_CONTAINER_SUBNET"

// AgentPort is where the agent listens inside every container.
const AgentPort = 8080

// LinkPrefix starts the host-side name of every veth vcbench creates, so
// that `vcbench cleanup` can find strays.
const LinkPrefix = "vcbe"

// peerName is the container side of the veth, inside its namespace.
const peerName = "eth0"

// slot is one /30 of the range: network, host, container, broadcast.
type slot struct {
	Index int
	Host  netip.Addr // host side of the veth
	Peer  netip.Addr // container side
	Link  string     // host-side link name
}

// Prefix is the /30 both sides are in.
func (s slot) Prefix() netip.Prefix { return netip.PrefixFrom(s.Host, 30).Masked() }

// slots counts the /30s of an IPv4 range.
func slots(base netip.Prefix) (int, error) {
	if !base.Addr().Is4() {
		return 0, fmt.Errorf("subnet %s: not IPv4", base)
	}
	if base.Bits() > 30 {
		return 0, fmt.Errorf("subnet %s: smaller than a /30", base)
	}
	if base.Bits() < 8 {
		return 0, fmt.Errorf("subnet %s: larger than a /8", base)
	}
	return 1 << (30 - base.Bits()), nil
}

// slotAt returns the index-th /30 of base.
func slotAt(base netip.Prefix, index int) (slot, error) {
	n, err := slots(base)
	if err != nil {
		return slot{}, err
	}
	if index < 0 || index >= n {
		return slot{}, fmt.Errorf("subnet %s: slot %d out of range (%d slots)", base, index, n)
	}
	b := base.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(index) * 4
	addr := func(x uint32) netip.Addr {
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	return slot{Index: index, Host: addr(v + 1), Peer: addr(v + 2), Link: fmt.Sprintf("%s%d", LinkPrefix, index)}, nil
}

// errSlotBusy tells the allocator to try the next slot.
var errSlotBusy = errors.New("slot in use")

// allocator hands out /30 slots of one range. Within the process it keeps
// the slots in use; across processes the host-side link name is the lock:
// creating it fails with EEXIST when another vcbench holds the slot.
type allocator struct {
	mu    sync.Mutex
	base  netip.Prefix
	inUse map[int]bool
}

var (
	allocMu    sync.Mutex
	allocators = map[netip.Prefix]*allocator{}
)

// allocatorFor returns the process-wide allocator of a range, so that every
// runtime (container, oci-crun, oci-runc) of a run shares it.
func allocatorFor(subnet string) (*allocator, error) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		return nil, fmt.Errorf("container subnet %q: %w", subnet, err)
	}
	p = p.Masked()
	if _, err := slots(p); err != nil {
		return nil, err
	}
	allocMu.Lock()
	defer allocMu.Unlock()
	a, ok := allocators[p]
	if !ok {
		a = &allocator{base: p, inUse: map[int]bool{}}
		allocators[p] = a
	}
	return a, nil
}

// alloc reserves the lowest free slot for which claim succeeds; claim
// returns errSlotBusy to skip a slot held elsewhere. skip names slots to
// pass over without trying (addresses the host already uses).
func (a *allocator) alloc(claim func(slot) error, skip func(slot) bool) (slot, error) {
	n, _ := slots(a.base)
	for i := 0; i < n; i++ {
		a.mu.Lock()
		if a.inUse[i] {
			a.mu.Unlock()
			continue
		}
		a.inUse[i] = true
		a.mu.Unlock()
		s, err := slotAt(a.base, i)
		if err == nil && skip != nil && skip(s) {
			err = errSlotBusy
		}
		if err == nil {
			err = claim(s)
		}
		if err == nil {
			return s, nil
		}
		a.release(i)
		if !errors.Is(err, errSlotBusy) {
			return slot{}, err
		}
	}
	return slot{}, fmt.Errorf("subnet %s: all %d slots in use", a.base, n)
}

// release frees a slot for reuse in this process.
func (a *allocator) release(i int) {
	a.mu.Lock()
	delete(a.inUse, i)
	a.mu.Unlock()
}

// hostPrefixes lists IPv4 networks on host links that vcbench did not
// create, so that a slot never shadows a real network.
func hostPrefixes() []netip.Prefix {
	links, err := netlink.LinkList()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "vcb") {
			continue
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ones, _ := a.Mask.Size()
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
				out = append(out, netip.PrefixFrom(ip, ones).Masked())
			}
		}
	}
	return out
}

func overlaps(s slot, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Overlaps(s.Prefix()) {
			return true
		}
	}
	return false
}

// createVeth creates the pair with its container side already in the
// network namespace ns (a pid or an open namespace file), addresses both
// sides and brings them, and the namespace's loopback, up. It returns
// errSlotBusy if the host-side name exists (another vcbench holds it).
func createVeth(s slot, ns any) error {
	la := netlink.NewLinkAttrs()
	la.Name = s.Link
	veth := &netlink.Veth{LinkAttrs: la, PeerName: peerName, PeerNamespace: ns}
	if err := netlink.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return errSlotBusy
		}
		return fmt.Errorf("create veth %s: %w", s.Link, err)
	}
	var nsh netns.NsHandle
	switch v := ns.(type) {
	case netlink.NsPid:
		h, err := netns.GetFromPid(int(v))
		if err != nil {
			return fmt.Errorf("open network namespace of pid %d: %w", v, err)
		}
		defer h.Close()
		nsh = h
	case netlink.NsFd:
		nsh = netns.NsHandle(v)
	default:
		return fmt.Errorf("unknown namespace reference %T", ns)
	}
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return fmt.Errorf("netlink in container namespace: %w", err)
	}
	defer h.Close()
	peer, err := h.LinkByName(peerName)
	if err != nil {
		return fmt.Errorf("find %s in container: %w", peerName, err)
	}
	if err := h.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(s.Peer)}); err != nil {
		return fmt.Errorf("address %s in container: %w", peerName, err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		return fmt.Errorf("bring %s up in container: %w", peerName, err)
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo in container: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring lo up in container: %w", err)
	}
	host, err := netlink.LinkByName(s.Link)
	if err != nil {
		return fmt.Errorf("find veth %s: %w", s.Link, err)
	}
	if err := netlink.LinkSetAlias(host, state.LinkAlias()); err != nil {
		return fmt.Errorf("name the owner of veth %s: %w", s.Link, err)
	}
	if err := netlink.AddrAdd(host, &netlink.Addr{IPNet: ipNet(s.Host)}); err != nil {
		return fmt.Errorf("address veth %s: %w", s.Link, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("bring veth %s up: %w", s.Link, err)
	}
	// The kernel's link watch activates a side's queueing discipline
	// asynchronously, right after it sets its operational state; until
	// then the side drops packets, and a dropped SYN costs the harness a
	// 1 s retransmission. Wait for both sides to be operationally up.
	end := time.Now().Add(2 * time.Second)
	for {
		p, perr := h.LinkByName(peerName)
		l, lerr := netlink.LinkByName(s.Link)
		if perr != nil || lerr != nil {
			return fmt.Errorf("veth %s vanished: %w", s.Link, errors.Join(perr, lerr))
		}
		if p.Attrs().OperState == netlink.OperUp && l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("veth %s not operationally up after 2 s (host side %s, container side %s)", s.Link, l.Attrs().OperState, p.Attrs().OperState)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func ipNet(a netip.Addr) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(30, 32)}
}

// newNetnsFile creates a network namespace and keeps it alive by bind
// mounting it on path (as `ip netns add` does under /run/netns). The
// unshare happens on a throw-away OS thread: the goroutine ends locked, so
// the Go runtime retires the thread instead of reusing its namespace. The
// caller records path as a state.Path and then a state.Mount, whose undo in
// reverse (unmount, remove) takes it away.
func newNetnsFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("netns dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("netns file: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind network namespace to %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}
