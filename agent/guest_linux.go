package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
)

// guestLinkWait bounds the wait for eth0 after virtio_net is loaded.
const guestLinkWait = 5 * time.Second

// SetupGuest is the VM's GuestSetup: it sets the hostname (the image's
// /etc/hostname), loads the guest's modules in the order the image lists,
// brings up lo and eth0 and gives eth0 the address of the kernel parameters proto.ParamIP (CIDR) and proto.ParamGateway
// (default route). It does the least it can: it runs on the boot's
// critical path.
func SetupGuest(params proto.KernelParams) error {
	// A kernel booted without one has the hostname "(none)", which Open
	// MPI (hpcc's mpirun) refuses as a node name; containers get theirs
	// from their runtime.
	if err := unix.Sethostname([]byte(guestHostname())); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	if err := loadModules(proto.ModuleOrderPath); err != nil {
		return err
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	ip := params.IP
	if ip == "" {
		return nil // no network asked for
	}
	addr, err := netlink.ParseAddr(ip)
	if err != nil {
		return fmt.Errorf("%s: %w", proto.KernelParam(proto.ParamIP, ip), err)
	}
	eth, err := waitLink("eth0", guestLinkWait)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(eth, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("address %s on eth0: %w", ip, err)
	}
	if err := netlink.LinkSetUp(eth); err != nil {
		return fmt.Errorf("bring up eth0: %w", err)
	}
	if gw := params.Gateway; gw != "" {
		g := net.ParseIP(gw)
		if g == nil {
			return fmt.Errorf("%s: not an IP address", proto.KernelParam(proto.ParamGateway, gw))
		}
		err := netlink.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: g})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}

// transportModules are the modules of one virtio transport: the image
// carries both, the guest loads the one its machine has (each costs tens of
// milliseconds under TCG).
var transportModules = map[string]func() bool{
	"virtio_pci":            hasPCI,
	"virtio_pci_legacy_dev": hasPCI,
	"virtio_pci_modern_dev": hasPCI,
	"virtio_mmio":           hasMMIO,
}

// hasPCI reports whether the guest has PCI devices (q35: yes; microvm: no).
func hasPCI() bool {
	d, err := os.ReadDir("/sys/bus/pci/devices")
	return err != nil || len(d) > 0 // unsure: load
}

// hasMMIO reports whether the firmware described virtio-mmio devices
// (ACPI LNRO0005 on microvm, or virtio-mmio platform devices).
func hasMMIO() bool {
	d, err := os.ReadDir("/sys/bus/platform/devices")
	if err != nil {
		return true // unsure: load
	}
	for _, e := range d {
		if strings.HasPrefix(e.Name(), "LNRO0005") || strings.HasPrefix(e.Name(), "virtio-mmio") {
			return true
		}
	}
	return false
}

// loadModules loads each module file listed in order with finit_module,
// but a virtio transport's that the machine lacks; one already loaded (or
// built in) is fine. A missing list means a kernel with everything built in.
func loadModules(order string) error {
	b, err := os.ReadFile(order)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read module list: %w", err)
	}
	for _, path := range strings.Fields(string(b)) {
		name := strings.TrimSuffix(path[strings.LastIndexByte(path, '/')+1:], ".ko")
		if present, ok := transportModules[name]; ok && !present() {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("load module: %w", err)
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("load module %s: %w", path, err)
		}
	}
	return nil
}

// waitLink polls for a network link: the driver usually creates it while
// its module loads, but a device may probe asynchronously.
func waitLink(name string, limit time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(limit)
	for {
		l, err := netlink.LinkByName(name)
		if err == nil {
			return l, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no %s after %v: %w", name, limit, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// defaultGuestHostname names a guest whose image has no /etc/hostname.
const defaultGuestHostname = "vcbench"

// guestHostname is the image's /etc/hostname, else defaultGuestHostname.
func guestHostname() string {
	b, err := os.ReadFile("/etc/hostname")
	if h := strings.TrimSpace(string(b)); err == nil && h != "" && len(h) <= 64 {
		return h
	}
	return defaultGuestHostname
}
