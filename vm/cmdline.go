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

func (l Launch) accelArgs() []string {
	if l.Accel == AccelKVM {
		return []string{"-accel", "kvm", "-cpu", kvmCPU}
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
	case NetworkTap:
		// No vhost: /dev/vhost-net is not there on the machines we know.
		netdev = fmt.Sprintf("tap,id=net0,ifname=%s,script=no,downscript=no,vhost=off", l.Net.Tap)
	default:
		return nil
	}
	dev := l.device("virtio-net") + ",netdev=net0"
	if l.Config.Machine == MachineQ35 {
		dev += ",romfile=" // no iPXE option ROM: we boot the kernel directly
	}
	return []string{"-netdev", netdev, "-device", dev}
}

func (l Launch) diskArgs() []string {
	if l.Disk.Path == "" {
		return nil
	}
	drive := fmt.Sprintf("file=%s,format=raw,if=none,id=disk0,cache=%s,aio=%s", l.Disk.Path, l.Disk.Cache, l.Disk.AIO)
	return []string{"-drive", drive, "-device", l.device("virtio-blk") + ",drive=disk0"}
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
// address, eth0 address and gateway, scratch disk).
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

// Script renders a command as a shell script a person can rerun by hand;
// the setup lines (already quoted) recreate what the command expects.
func Script(binary string, args []string, setup ...string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# QEMU command line saved by vcbench; rerun by hand with: sh THIS_FILE\nset -e\n")
	for _, s := range setup {
		b.WriteString(s + "\n")
	}
	b.WriteString("exec ")
	b.WriteString(ShellQuote(binary))
	for _, a := range args {
		b.WriteString(" \\\n  ")
		b.WriteString(ShellQuote(a))
	}
	b.WriteString("\n")
	return b.String()
}
