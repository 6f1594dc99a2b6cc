package vm

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vcbench/state"
)

// User-mode networking: QEMU's slirp gives the guest this address and
// gateway by convention.
const (
	userGuestIP = "10.0.2.15/24"
	userGateway = "10.0.2.2"
)

// TapPrefix names vcbench's tap devices; the number is the /30's index.
const TapPrefix = "vcbt"

// tapBase is the tap subnets' range, apart from the containers' 10.213.0.0/16.
var tapBase = net.IPv4(10, 214, 0, 0).To4()

// maxTaps is the number of /30 subnets in 10.214.0.0/16.
const maxTaps = 1 << 14

// handedOut remembers the ports freePort gave recently, so that instances
// started at the same time never get the same one (the kernel may hand a
// just-closed port out again before QEMU has bound it).
var (
	portMu    sync.Mutex
	handedOut = map[int]time.Time{}
)

// freePort asks the kernel for a 127.0.0.1 port free for both TCP and UDP
// for a hostfwd (the data and tool servers' forwards take both). Another
// process could take it before QEMU binds it; QEMU then fails to start
// and says so.
func freePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for p, at := range handedOut {
		if time.Since(at) > time.Minute {
			delete(handedOut, p)
		}
	}
	for try := 0; try < 100; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, uerr := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if uerr != nil {
			continue // taken for UDP
		}
		u.Close()
		if _, dup := handedOut[port]; !dup {
			handedOut[port] = time.Now()
			return port, nil
		}
	}
	return 0, fmt.Errorf("free port: the kernel keeps offering ports already handed out")
}

// tapMu serialises createTap within the process.
var tapMu sync.Mutex

// lostTapRace tells whether creating a tap failed because another process
// made one of that name first: EEXIST, or EBUSY from IFF_TUN_EXCL. The
// netlink package reports TUNSETIFF's errno only in its message.
func lostTapRace(err error) bool {
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, unix.EBUSY.Error()) || strings.Contains(msg, unix.EEXIST.Error())
}

// guestMAC is the MAC of the guest NIC on the index-th tap: QEMU's own
// prefix (52:54:00, locally administered) and the index, unique among
// vcbench's taps.
func guestMAC(index int) net.HardwareAddr {
	return net.HardwareAddr{0x52, 0x54, 0x00, 0xd6, byte(index >> 8), byte(index)}
}

// tapSubnet returns the host and guest addresses of the index-th /30.
func tapSubnet(index int) (host, guest net.IP) {
	base := uint32(tapBase[0])<<24 | uint32(tapBase[1])<<16 | uint32(index*4)
	ip := func(v uint32) net.IP { return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4() }
	return ip(base + 1), ip(base + 2)
}

// createTap makes a persistent tap vcbt<N> on the first free /30, records
// it with own before creating it, gives the host end .1/30 and brings it up.
// QEMU attaches to it by name. The guest gets .2/30 with .1 as gateway.
func createTap(own *state.Owner) (NetSetup, error) {
	// Instances started at once (a density batch) would otherwise all try
	// the same first free name.
	tapMu.Lock()
	defer tapMu.Unlock()
	for i := 0; i < maxTaps; i++ {
		name := fmt.Sprintf("%s%d", TapPrefix, i)
		if _, err := netlink.LinkByName(name); err == nil {
			continue
		}
		host, guest := tapSubnet(i)
		if err := own.Add(nil, state.Link(name)); err != nil {
			return NetSetup{}, err
		}
		tap := &netlink.Tuntap{
			LinkAttrs: netlink.LinkAttrs{Name: name},
			Mode:      netlink.TUNTAP_MODE_TAP,
			// IFF_TUN_EXCL: fail rather than share a tap another run just made.
			Flags: netlink.TUNTAP_DEFAULTS | netlink.TUNTAP_NO_PI,
		}
		if err := netlink.LinkAdd(tap); err != nil {
			// Not made, so not ours to delete (it may be another run's).
			if ferr := own.Forget(state.Link(name)); ferr != nil {
				return NetSetup{}, ferr
			}
			if lostTapRace(err) {
				continue // lost a race for this name (to another process)
			}
			return NetSetup{}, fmt.Errorf("create tap %s: %w", name, err)
		}
		link, err := netlink.LinkByName(name)
		if err != nil {
			return NetSetup{}, fmt.Errorf("find tap %s: %w", name, err)
		}
		if err := netlink.LinkSetAlias(link, state.LinkAlias()); err != nil {
			return NetSetup{}, fmt.Errorf("name the owner of tap %s: %w", name, err)
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: host, Mask: net.CIDRMask(30, 32)}}
		if err := netlink.AddrAdd(link, addr); err != nil {
			return NetSetup{}, fmt.Errorf("address %s on %s: %w", addr, name, err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return NetSetup{}, fmt.Errorf("bring up %s: %w", name, err)
		}
		// The guest's NIC gets a MAC of ours, and the host knows it from
		// the start: no ARP before the first packet. Without the entry,
		// a packet to a guest that is still booting (the FIN of the
		// harness's kept-alive connection to the previous instance on
		// this /30) leaves the neighbour unresolved, and the next
		// instance's first SYN waits for the 1 s ARP retry: 0.4-0.8 s of
		// "ready" measured under TCG, tcpdump on the tap.
		mac := guestMAC(i)
		neigh := &netlink.Neigh{LinkIndex: link.Attrs().Index, State: netlink.NUD_PERMANENT, IP: guest, HardwareAddr: mac}
		if err := netlink.NeighSet(neigh); err != nil {
			return NetSetup{}, fmt.Errorf("neighbour %s on %s: %w", guest, name, err)
		}
		return NetSetup{Mode: NetworkTap, Tap: name, GuestIP: guest.String() + "/30", Gateway: host.String(), GuestMAC: mac.String()}, nil
	}
	return NetSetup{}, fmt.Errorf("no free tap name %s0..%s%d", TapPrefix, TapPrefix, maxTaps-1)
}

var (
	vhostOnce   sync.Once
	vhostOK     bool
	vhostReason string
)

// VhostNet reports whether tap networking can use vhost-net, and why: it
// opens /dev/vhost-net read-write (QEMU's vhost=on does the same). When the
// device is missing, root has modprobe and the host kernel has the module,
// `modprobe vhost_net` loads it once; a kernel built without
// CONFIG_VHOST_NET has neither, and QEMU's own I/O thread then moves the
// packets (vhost off). The answer is kept for the process's life.
func VhostNet() (ok bool, reason string) {
	vhostOnce.Do(func() { vhostOK, vhostReason = probeVhostNet() })
	return vhostOK, vhostReason
}

func probeVhostNet() (bool, string) {
	const dev = "/dev/vhost-net"
	try := func() error {
		fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	err := try()
	if err == nil {
		return true, "on: " + dev + " opened"
	}
	if errors.Is(err, unix.ENOENT) && os.Geteuid() == 0 {
		if path, lerr := exec.LookPath("modprobe"); lerr == nil {
			out, merr := exec.Command(path, "vhost_net").CombinedOutput()
			if merr == nil && try() == nil {
				return true, "on: " + dev + " after modprobe vhost_net"
			}
			return false, fmt.Sprintf("off: %s missing and modprobe vhost_net failed (%v: %s)", dev, merr, strings.TrimSpace(string(out)))
		}
		return false, fmt.Sprintf("off: %s missing and no modprobe (host kernel without CONFIG_VHOST_NET?); QEMU's I/O thread moves the packets", dev)
	}
	return false, fmt.Sprintf("off: %s: %v; QEMU's I/O thread moves the packets", dev, err)
}
