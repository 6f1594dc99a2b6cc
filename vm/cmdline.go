package vm

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"vcbench/agent/proto"
)

// GuestPort is where the agent listens inside the guest.
const GuestPort = 8080

// guestDisk is the scratch disk's device inside the guest: the first (and
// only) virtio-blk disk.
const guestDisk = "/dev/vda"

// GuestDataPort is where the agent's raw TCP/UDP data server (the network
// workload) listens inside the guest: next to GuestPort, as the agent
// derives it from its listen address.
const GuestDataPort = GuestPort + proto.DataPortOffset

// ToolServers are the tool servers a host-client workload (iperf3,
// sockperf, redis) asks the agent for; in user mode each has a forward of
// its own to GuestToolPort(tool). The order fixes the command line's.
var ToolServers = []string{proto.ServerIperf3, proto.ServerSockperf, proto.ServerRedis}

// GuestToolPort is where the agent in the guest starts tool's server: its
// HTTP port + proto.ToolPortOffset, as the agent derives it.
func GuestToolPort(tool string) int { return GuestPort + proto.ToolPortOffset(tool) }

// toolUDP reports whether tool's server takes UDP as well as TCP (iperf3's
// -u, sockperf's udp); redis-server speaks TCP only.
func toolUDP(tool string) bool { return tool != proto.ServerRedis }

// Launch is everything one QEMU command line is made of. Each piece of the
// command line is a small function of it (the way u-root's pkg/qemu devices
// each return their arguments), and Args joins them in a fixed order.
type Launch struct {
	Binary  string // qemu-system-x86_64
	Name    string // -name, for ps and QMP
	Config  Config
	Accel   Accel  // resolved: kvm or tcg
	Kernel  string // vmlinux (PVH entry) or bzImage
	Initrd  string
	Cmdline string // kernel command line
	// NoACPI: the guest kernel has no ACPI (the small kernel). Microvm then
	// runs with acpi=off, and QEMU adds virtio_mmio.device= entries to the
	// kernel command line for its devices instead of ACPI tables.
	NoACPI bool
	QMP    string // unix socket path
	Net    NetSetup
	Disk   DiskSetup
	// Tools is the tools image's ext4 file (image.Paths.ToolsDisk), attached
	// read-only after the scratch disk; "" attaches none.
	Tools string
}

// NetSetup is the resolved network of one instance.
type NetSetup struct {
	Mode     Network
	HostPort int    // user: the 127.0.0.1 port forwarded to the guest's GuestPort
	Tap      string // tap: the host's tap device
	GuestIP  string // CIDR given to the guest's eth0
	Gateway  string // the guest's default route
	// DataHostPort (user mode) is the 127.0.0.1 port forwarded, for TCP and
	// UDP, to the guest's GuestDataPort (the network workload's data
	// server); 0 forwards none.
	DataHostPort int
	// ToolHostPorts (user mode) maps each of ToolServers to the 127.0.0.1
	// port forwarded to its GuestToolPort (TCP, and UDP where the tool
	// speaks it); nil forwards none (an instance without the tools image).
	ToolHostPorts map[string]int
	// Vhost (tap): the tap's packets go through the host kernel's vhost-net
	// rather than QEMU's own thread.
	Vhost bool
	// GuestMAC (tap) is the guest NIC's MAC, which the host's neighbour
	// table has from the start; "" lets QEMU pick.
	GuestMAC string
}

// DiskSetup is the scratch disk of one instance.
type DiskSetup struct {
	Path  string // raw file; "" for no disk
	Cache string // QEMU cache mode: none (O_DIRECT), directsync or writeback
	AIO   string // native (needs O_DIRECT) or threads
}

// Args returns QEMU's arguments (without the binary).
func (l Launch) Args() []string {
	var a []string
	for _, part := range [][]string{
		l.baseArgs(), l.accelArgs(), l.machineArgs(), l.cpuMemArgs(),
		l.consoleArgs(), l.qmpArgs(), l.kernelArgs(), l.netArgs(), l.diskArgs(),
		l.rngArgs(),
	} {
		a = append(a, part...)
	}
	return a
}

// baseArgs: nothing QEMU would add by itself (no VGA, no NIC, no config
// file), no window, and exit instead of rebooting, so that a guest panic
// (panic=-1) or poweroff ends the process.
func (l Launch) baseArgs() []string {
	return []string{"-name", l.Name, "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"}
}

// kvmCPU is the CPU model under KVM: the host's, as every KVM deployment
// does for performance. (Tests change it to provoke a hanging guest on
// hosts whose nested KVM cannot run one.)
var kvmCPU = "host"

// accelArgs: KVM with the host's CPU, or TCG with its translation cache
// capped at Config.TBSizeMiB (QEMU's default is 1 GiB, which a guest fills
// with every block it ever translated; 0 leaves QEMU's default).
func (l Launch) accelArgs() []string {
	if l.Accel == AccelKVM {
		return []string{"-accel", "kvm", "-cpu", kvmCPU}
	}
	if l.Config.TBSizeMiB > 0 {
		return []string{"-accel", "tcg,tb-size=" + strconv.Itoa(l.Config.TBSizeMiB)}
	}
	return []string{"-accel", "tcg"}
}

// machineArgs: microvm without option ROMs, with the ISA serial port for
// the console and its RTC left on (rtc=off makes the kernel stall about a
// second twice, reading a clock that is not there); the PIT stays too, as
// the kernel's timer calibration needs it. A kernel without ACPI gets
// acpi=off (see NoACPI). Q35 is a plain PC.
func (l Launch) machineArgs() []string {
	if l.Config.Machine == MachineQ35 {
		return []string{"-M", "q35"}
	}
	if l.NoACPI {
		return []string{"-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off"}
	}
	return []string{"-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on"}
}

func (l Launch) cpuMemArgs() []string {
	return []string{"-smp", strconv.Itoa(l.Config.VCPUs), "-m", strconv.Itoa(l.Config.MemoryMiB)}
}

// consoleArgs: the serial console on QEMU's stdout, where the backend reads
// it line by line (and a person rerunning the command sees it).
func (l Launch) consoleArgs() []string {
	return []string{"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0"}
}

func (l Launch) qmpArgs() []string {
	if l.QMP == "" {
		return nil
	}
	return []string{"-qmp", "unix:" + l.QMP + ",server=on,wait=off"}
}

func (l Launch) kernelArgs() []string {
	a := []string{"-kernel", l.Kernel}
	if l.Initrd != "" {
		a = append(a, "-initrd", l.Initrd)
	}
	return append(a, "-append", l.Cmdline)
}

// device names the virtio transport of the machine: virtio-mmio on
// microvm, PCI on q35.
func (l Launch) device(kind string) string {
	if l.Config.Machine == MachineQ35 {
		return kind + "-pci"
	}
	return kind + "-device"
}

func (l Launch) netArgs() []string {
	var netdev string
	switch l.Net.Mode {
	case NetworkUser:
		netdev = fmt.Sprintf("user,id=net0,hostfwd=tcp:127.0.0.1:%d-:%d", l.Net.HostPort, GuestPort)
		if p := l.Net.DataHostPort; p != 0 {
			netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d,hostfwd=udp:127.0.0.1:%d-:%d", p, GuestDataPort, p, GuestDataPort)
		}
		for _, tool := range ToolServers {
			p, ok := l.Net.ToolHostPorts[tool]
			if !ok || p == 0 {
				continue
			}
			g := GuestToolPort(tool)
			netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", p, g)
			if toolUDP(tool) {
				netdev += fmt.Sprintf(",hostfwd=udp:127.0.0.1:%d-:%d", p, g)
			}
		}
	case NetworkTap:
		// vhost-net moves the host side of virtio-net into the host kernel
		// (it works under TCG too); it needs /dev/vhost-net (see VhostNet).
		vhost := "off"
		if l.Net.Vhost {
			vhost = "on"
		}
		netdev = fmt.Sprintf("tap,id=net0,ifname=%s,script=no,downscript=no,vhost=%s", l.Net.Tap, vhost)
	default:
		return nil
	}
	dev := l.device("virtio-net") + ",netdev=net0"
	if l.Net.Mode == NetworkTap && l.Net.GuestMAC != "" {
		dev += ",mac=" + l.Net.GuestMAC
	}
	if l.Config.Machine == MachineQ35 {
		dev += ",romfile=" // no iPXE option ROM: we boot the kernel directly
	}
	return []string{"-netdev", netdev, "-device", dev}
}

// rngArgs: a virtio entropy source (QEMU's built-in backend, the host's
// getrandom). Under TCG the guest CPU has no RDRAND, and without it the
// guest kernel's random pool is ready only after a second or more of
// emulated boot, which the agent's first getrandom (the data server's
// token) waits for: measured on a TCG microvm with the cloud kernel, QEMU's
// CPU time to ready fell from 2.2 s to 1.4 s. It is the last device, so
// that the other virtio-mmio devices keep their slots. A kernel without
// the driver ignores it.
func (l Launch) rngArgs() []string {
	return []string{"-device", l.device("virtio-rng")}
}

// diskArgs: the scratch disk, whose host-side write and read errors are
// reported to the guest (werror=report,rerror=report). QEMU's default
// (werror=enospc) pauses the guest when the host's file system is full, and
// the workload then hangs until its time-out; reported, the guest's I/O
// fails at once, and QEMU's BLOCK_IO_ERROR event tells vcbench the cause.
func (l Launch) diskArgs() []string {
	var a []string
	if l.Disk.Path != "" {
		drive := fmt.Sprintf("file=%s,format=raw,if=none,id=disk0,cache=%s,aio=%s,werror=report,rerror=report", l.Disk.Path, l.Disk.Cache, l.Disk.AIO)
		a = append(a, "-drive", drive, "-device", l.device("virtio-blk")+",drive=disk0")
	}
	return append(a, l.toolsArgs()...)
}

// toolsArgs: the tools image's ext4 disk, read-only (readonly=on makes
// QEMU open the file O_RDONLY and the guest see a read-only device), so
// that any number of guests share the one file. The guest finds it by its
// label (proto.ToolsLabel), whatever order the disks probe in. Its pages
// are the host's page cache, shared by every guest.
func (l Launch) toolsArgs() []string {
	if l.Tools == "" {
		return nil
	}
	drive := fmt.Sprintf("file=%s,format=raw,if=none,id=tools0,readonly=on", l.Tools)
	return []string{"-drive", drive, "-device", l.device("virtio-blk") + ",drive=tools0"}
}

// Kernel command line pieces.
var (
	// consoleParams: console on the first UART; earlyprintk writes from the
	// kernel's first instructions, so the first console line marks
	// kernel_start on the host clock; loglevel=6 keeps the banner (a
	// KERN_NOTICE line) while the informational chatter, which costs time
	// on an emulated UART, stays off.
	consoleParams = []string{"console=ttyS0", "earlyprintk=ttyS0", "loglevel=6"}
	// failParams: a panic reboots at once, and -no-reboot turns that into
	// QEMU's exit, which the backend notices.
	failParams = []string{"panic=-1", "reboot=t"}
	// fastBootParams were each measured under TCG: no clocksource watchdog
	// or timer check, no SMP alternatives patching, no crypto self-tests,
	// expedited RCU grace periods, no PS/2 probing, one UART, no audit and
	// only the capability LSM (AppArmor/IMA/EVM init cost time and the
	// guest has no policy).
	fastBootParams = []string{
		"tsc=reliable", "no_timer_check", "noreplace-smp", "cryptomgr.notests",
		"rcupdate.rcu_expedited=1", "i8042.noaux", "i8042.nokbd", "i8042.nopnp",
		"8250.nr_uarts=1", "random.trust_cpu=on", "audit=0", "lsm=capability",
		// Initcalls a benchmark guest does not need, the slowest under TCG
		// by initcall_debug (kprobe events, a KDF self-test, trace_printk,
		// IMA, NVMe, hibernation): about 50 ms.
		"initcall_blacklist=init_kprobe_trace,crypto_kdf108_init,init_trace_printk_function_export,init_ima,nvme_core_init,snapshot_device_init",
	}
)

// KernelCmdline composes the guest kernel's command line: console, failure
// handling, fast-boot tuning, and the agent's proto.KernelParams (listen
// address, eth0 address and gateway, scratch disk, tools disk).
func KernelCmdline(l Launch, tscKHz uint64) string {
	p := append([]string{}, consoleParams...)
	p = append(p, failParams...)
	p = append(p, fastBootParams...)
	if tscKHz > 0 && l.Accel == AccelTCG {
		// Under TCG the guest's TSC is the host's: give its rate.
		p = append(p, fmt.Sprintf("tsc_early_khz=%d", tscKHz))
	}
	if l.Config.Machine == MachineMicrovm {
		p = append(p, "pci=off")
	}
	kp := proto.KernelParams{
		Listen:  net.JoinHostPort("0.0.0.0", strconv.Itoa(GuestPort)),
		IP:      l.Net.GuestIP,
		Gateway: l.Net.Gateway,
	}
	if l.Disk.Path != "" {
		kp.Disk = guestDisk
	}
	if l.Tools != "" {
		kp.Tools = "LABEL=" + proto.ToolsLabel
	}
	p = append(p, kp.Words()...)
	return strings.Join(p, " ")
}

// ShellQuote quotes one word for a POSIX shell.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Placeholders in the arguments that Script renders as shell variables:
// NUL cannot occur in a real argument.
const (
	dirToken   = "\x00dir\x00"
	cacheToken = "\x00cache\x00"
	aioToken   = "\x00aio\x00"
)

// quoteVars quotes s for a POSIX shell, with every placeholder in it
// expanded from its shell variable: 'unix:'"$dir"'/qmp.sock,server=on'.
func quoteVars(s string) string {
	vars := map[string]string{dirToken: `"$dir"`, cacheToken: `"$cache"`, aioToken: `"$aio"`}
	var b strings.Builder
	for s != "" {
		at, tok := len(s), ""
		for t := range vars {
			if i := strings.Index(s, t); i >= 0 && i < at {
				at, tok = i, t
			}
		}
		if at > 0 {
			b.WriteString(ShellQuote(s[:at]))
		}
		if tok == "" {
			break
		}
		b.WriteString(vars[tok])
		s = s[at+len(tok):]
	}
	if b.Len() == 0 {
		return "''"
	}
	return b.String()
}

// Script renders the launch as a shell script that a person can rerun by
// hand (sh THIS_FILE) once the run has ended and removed what it made. The
// script makes its own: a temporary directory (under $TMPDIR, else
// /var/tmp) with the QMP socket and a sparse scratch disk of the same
// size (with the run's cache mode, or writeback where that directory has
// no O_DIRECT), and the tap device with the host's address when the
// launch used one that is gone. QEMU runs as the script's child, and the
// script removes all of it when QEMU exits or the script is stopped by
// SIGINT, SIGTERM or SIGHUP (it stops QEMU first).
func (l Launch) Script() string {
	r := l
	if r.QMP != "" {
		r.QMP = dirToken + "/qmp.sock"
	}
	if r.Disk.Path != "" {
		r.Disk.Path = dirToken + "/disk.raw"
		r.Disk.Cache, r.Disk.AIO = cacheToken, aioToken
	}
	var b strings.Builder
	w := func(lines ...string) {
		for _, s := range lines {
			b.WriteString(s + "\n")
		}
	}
	w("#!/bin/sh",
		"# QEMU command line saved by vcbench; rerun by hand with: sh THIS_FILE",
		"# It makes what QEMU needs in a temporary directory of its own (and the",
		"# tap, if gone), and removes them when QEMU exits or the script is stopped.",
		"set -eu",
		`dir=$(mktemp -d "${TMPDIR:-/var/tmp}/vcbench-rerun-XXXXXX")`,
		"qemu=",
		"tap=",
		"cleanup() {",
		`	if [ -n "$qemu" ]; then kill "$qemu" 2>/dev/null || :; wait "$qemu" 2>/dev/null || :; fi`,
		`	if [ -n "$tap" ]; then ip link del "$tap" || :; fi`,
		`	rm -rf "$dir"`,
		"}",
		"trap cleanup EXIT",
		"trap 'exit 129' HUP",
		"trap 'exit 130' INT",
		"trap 'exit 143' TERM")
	if l.Disk.Path != "" {
		w(fmt.Sprintf(`truncate -s %dM "$dir/disk.raw"`, l.Config.DiskMiB),
			"cache="+ShellQuote(l.Disk.Cache)+" aio="+ShellQuote(l.Disk.AIO))
		if l.Disk.Cache == "none" {
			w(`if ! dd if=/dev/zero of="$dir/disk.raw" bs=4096 count=1 oflag=direct conv=notrunc 2>/dev/null; then`,
				`	echo "$0: $dir has no O_DIRECT: the scratch disk runs with cache=writeback,aio=threads, not the run's cache=none" >&2`,
				"	cache=writeback aio=threads",
				"fi")
		}
	}
	if l.Net.Mode == NetworkTap && l.Net.Tap != "" {
		tap := ShellQuote(l.Net.Tap)
		host := l.Net.Gateway
		if _, n, err := net.ParseCIDR(l.Net.GuestIP); err == nil {
			ones, _ := n.Mask.Size()
			host += "/" + strconv.Itoa(ones)
		}
		w("if [ ! -e /sys/class/net/"+tap+" ]; then",
			"	ip tuntap add dev "+tap+" mode tap",
			"	tap="+tap,
			"	ip addr add "+ShellQuote(host)+" dev "+tap,
			"	ip link set "+tap+" up",
			"fi")
	}
	// A background job's stdin is /dev/null unless redirected: keep the
	// script's (the guest's console input) through fd 3.
	w("exec 3<&0")
	b.WriteString(ShellQuote(r.Binary))
	for _, a := range r.Args() {
		b.WriteString(" \\\n  ")
		b.WriteString(quoteVars(a))
	}
	w(" <&3 3<&- &",
		"qemu=$!",
		`status=0; wait "$qemu" || status=$?`,
		"qemu=",
		`exit "$status"`)
	return b.String()
}
