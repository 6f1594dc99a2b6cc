package vm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
	"vcbench/scenarios"
)

func TestLaunchArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Launch
		want []string
	}{
		{
			name: "microvm-user-tcg",
			l: Launch{
				Name: "vcbench-vm-1", Config: Config{VCPUs: 1, MemoryMiB: 256, Machine: MachineMicrovm, TBSizeMiB: 32},
				Accel: AccelTCG, Kernel: "/img/vmlinux", Initrd: "/img/initramfs.cpio", Cmdline: "console=ttyS0",
				QMP: "/tmp/d/qmp.sock", Net: NetSetup{Mode: NetworkUser, HostPort: 40000},
				Disk: DiskSetup{Path: "/s/d.raw", Cache: "none", AIO: "native"},
			},
			want: []string{
				"-name", "vcbench-vm-1", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
				"-accel", "tcg,tb-size=32",
				"-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on",
				"-smp", "1", "-m", "256",
				"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
				"-qmp", "unix:/tmp/d/qmp.sock,server=on,wait=off",
				"-kernel", "/img/vmlinux", "-initrd", "/img/initramfs.cpio", "-append", "console=ttyS0",
				"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:40000-:8080", "-device", "virtio-net-device,netdev=net0",
				"-drive", "file=/s/d.raw,format=raw,if=none,id=disk0,cache=none,aio=native,werror=report,rerror=report", "-device", "virtio-blk-device,drive=disk0",
				"-device", "virtio-rng-device",
			},
		},
		{
			name: "q35-tap-kvm",
			l: Launch{
				Name: "vcbench-vm-2", Config: Config{VCPUs: 2, MemoryMiB: 512, Machine: MachineQ35, TBSizeMiB: 32},
				Accel: AccelKVM, Kernel: "/img/vmlinuz", Cmdline: "x",
				Net:  NetSetup{Mode: NetworkTap, Tap: "vcbt3", GuestMAC: guestMAC(3).String()},
				Disk: DiskSetup{Path: "/s/d.raw", Cache: "writeback", AIO: "threads"},
			},
			want: []string{
				"-name", "vcbench-vm-2", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
				"-accel", "kvm", "-cpu", "host",
				"-M", "q35",
				"-smp", "2", "-m", "512",
				"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
				"-kernel", "/img/vmlinuz", "-append", "x",
				"-netdev", "tap,id=net0,ifname=vcbt3,script=no,downscript=no,vhost=off", "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:d6:00:03,romfile=",
				"-drive", "file=/s/d.raw,format=raw,if=none,id=disk0,cache=writeback,aio=threads,werror=report,rerror=report", "-device", "virtio-blk-pci,drive=disk0",
				"-device", "virtio-rng-pci",
			},
		},
		{
			// The tools disk comes after the scratch disk, read-only.
			name: "microvm-tools",
			l: Launch{
				Name: "vcbench-vm-3", Config: Config{VCPUs: 1, MemoryMiB: 256, Machine: MachineMicrovm},
				Accel: AccelTCG, Kernel: "/img/vmlinux", Cmdline: "x",
				Disk:  DiskSetup{Path: "/s/d.raw", Cache: "none", AIO: "native"},
				Tools: "/img/tools.ext4",
			},
			want: []string{
				"-name", "vcbench-vm-3", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
				"-accel", "tcg",
				"-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on",
				"-smp", "1", "-m", "256",
				"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
				"-kernel", "/img/vmlinux", "-append", "x",
				"-drive", "file=/s/d.raw,format=raw,if=none,id=disk0,cache=none,aio=native,werror=report,rerror=report", "-device", "virtio-blk-device,drive=disk0",
				"-drive", "file=/img/tools.ext4,format=raw,if=none,id=tools0,readonly=on", "-device", "virtio-blk-device,drive=tools0",
				"-device", "virtio-rng-device",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.l.Args(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("args\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestKernelCmdline(t *testing.T) {
	base := "console=ttyS0 earlyprintk=ttyS0 loglevel=6 panic=-1 reboot=t tsc=reliable no_timer_check noreplace-smp cryptomgr.notests rcupdate.rcu_expedited=1 i8042.noaux i8042.nokbd i8042.nopnp 8250.nr_uarts=1 random.trust_cpu=on audit=0 lsm=capability initcall_blacklist=init_kprobe_trace,crypto_kdf108_init,init_trace_printk_function_export,init_ima,nvme_core_init,snapshot_device_init"
	for _, tc := range []struct {
		name string
		l    Launch
		tsc  uint64
		want string
	}{
		{"microvm-user-tcg", Launch{Config: Config{Machine: MachineMicrovm}, Accel: AccelTCG,
			Net: NetSetup{GuestIP: "10.0.2.15/24", Gateway: "10.0.2.2"}, Disk: DiskSetup{Path: "/d"}}, 2596000,
			base + " tsc_early_khz=2596000 pci=off " + strings.Join(proto.KernelParams{Listen: "0.0.0.0:8080", IP: "10.0.2.15/24", Gateway: "10.0.2.2", Disk: "/dev/vda"}.Words(), " ")},
		{"q35-kvm-no-net", Launch{Config: Config{Machine: MachineQ35}, Accel: AccelKVM}, 2596000,
			base + " " + proto.KernelParam(proto.ParamListen, "0.0.0.0:8080")},
		{"tools", Launch{Config: Config{Machine: MachineQ35}, Accel: AccelKVM, Disk: DiskSetup{Path: "/d"}, Tools: "/img/tools.ext4"}, 0,
			base + " " + strings.Join(proto.KernelParams{Listen: "0.0.0.0:8080", Disk: "/dev/vda", Tools: "LABEL=vcbench-tools"}.Words(), " ")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := KernelCmdline(tc.l, tc.tsc); got != tc.want {
				t.Errorf("cmdline\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"-m":                         "-m",
		"file=/a/b.raw,cache=none":   "file=/a/b.raw,cache=none",
		"console=ttyS0 quiet":        "'console=ttyS0 quiet'",
		"it's":                       `'it'\''s'`,
		"":                           "''",
		"virtio-net-pci,romfile=":    "virtio-net-pci,romfile=",
		"user,hostfwd=tcp:1.2:3-:80": "user,hostfwd=tcp:1.2:3-:80",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"":                                 "''",
		dirToken:                           `"$dir"`,
		"unix:" + dirToken + "/qmp.sock,x": `unix:"$dir"/qmp.sock,x`,
		"file=" + dirToken + "/d.raw,cache=" + cacheToken + ",aio=" + aioToken + ",werror=report": `file="$dir"/d.raw,cache="$cache",aio="$aio",werror=report`,
		"a b": "'a b'",
	} {
		if got := quoteVars(in); got != want {
			t.Errorf("quoteVars(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestScript: the saved command line names none of the run's paths but
// the images, makes its own scratch disk and QMP directory, removes them
// (and a tap it made) on exit, and is valid shell.
func TestScript(t *testing.T) {
	for _, l := range []Launch{
		{
			Binary: "qemu-system-x86_64", Name: "vcbench-vm-1", Config: Config{VCPUs: 1, MemoryMiB: 256, Machine: MachineMicrovm, DiskMiB: 64},
			Accel: AccelTCG, Kernel: "/img/vmlinux", Initrd: "/img/initramfs.cpio", Cmdline: "console=ttyS0 a='b c'",
			QMP: "/tmp/vcbench-vm-1234/qmp.sock", Net: NetSetup{Mode: NetworkUser, HostPort: 40000},
			Disk: DiskSetup{Path: "/results/r1/scratch/vm-1.raw", Cache: "none", AIO: "native"},
		},
		{
			Binary: "qemu-system-x86_64", Name: "vcbench-vm-2", Config: Config{VCPUs: 2, MemoryMiB: 512, Machine: MachineQ35, DiskMiB: 128},
			Accel: AccelKVM, Kernel: "/img/vmlinuz", Cmdline: "x", QMP: "/tmp/vcbench-vm-5678/qmp.sock",
			Net:  NetSetup{Mode: NetworkTap, Tap: "vcbt3", GuestIP: "10.214.0.14/30", Gateway: "10.214.0.13"},
			Disk: DiskSetup{Path: "/dev/shm/s/vm-2.raw", Cache: "writeback", AIO: "threads"},
		},
	} {
		t.Run(l.Name, func(t *testing.T) {
			s := l.Script()
			for _, gone := range []string{l.QMP, filepath.Dir(l.QMP), l.Disk.Path, "\x00"} {
				if strings.Contains(s, gone) {
					t.Errorf("script names %q:\n%s", gone, s)
				}
			}
			want := []string{
				"#!/bin/sh\n", "set -eu\n", `dir=$(mktemp -d "${TMPDIR:-/var/tmp}/vcbench-rerun-XXXXXX")`,
				"trap cleanup EXIT\n", "trap 'exit 143' TERM\n", `rm -rf "$dir"`,
				fmt.Sprintf(`truncate -s %dM "$dir/disk.raw"`, l.Config.DiskMiB),
				"cache=" + l.Disk.Cache + " aio=" + l.Disk.AIO + "\n",
				`  unix:"$dir"/qmp.sock,server=on,wait=off \`,
				`  file="$dir"/disk.raw,format=raw,if=none,id=disk0,cache="$cache",aio="$aio",werror=report,rerror=report \`,
				"  -kernel \\\n  " + l.Kernel + " \\\n",
				" <&3 3<&- &\nqemu=$!\n", `wait "$qemu"`,
			}
			if l.Net.Mode == NetworkTap {
				want = append(want, "ip tuntap add dev vcbt3 mode tap\n", "\ttap=vcbt3\n", "ip addr add 10.214.0.13/30 dev vcbt3\n", `ip link del "$tap"`)
			} else if strings.Contains(s, "tuntap") {
				t.Errorf("user networking makes a tap:\n%s", s)
			}
			if l.Disk.Cache == "none" {
				want = append(want, "oflag=direct", "cache=writeback aio=threads\n")
			} else if strings.Contains(s, "oflag=direct") {
				t.Errorf("a writeback disk probes O_DIRECT:\n%s", s)
			}
			for _, w := range want {
				if !strings.Contains(s, w) {
					t.Errorf("script lacks %q:\n%s", w, s)
				}
			}
			if out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput(); err != nil {
				t.Errorf("sh -n: %v: %s\n%s", err, out, s)
			}
		})
	}
}

func TestConfigFrom(t *testing.T) {
	c, err := ConfigFrom(scenarios.RuntimeConfig{Kind: scenarios.VM})
	if err != nil {
		t.Fatal(err)
	}
	net, _ := DefaultNetwork()
	want := Config{VCPUs: 1, MemoryMiB: 256, Accel: AccelAuto, Machine: MachineMicrovm, Network: net, Kernel: KernelAuto, TBSizeMiB: DefaultTBSizeMiB, DiskMiB: DefaultDiskMiB, Image: scenarios.ImageMinimal}
	if c != want {
		t.Errorf("defaults %+v, want %+v", c, want)
	}
	if c, err := ConfigFrom(scenarios.RuntimeConfig{Kind: scenarios.VM, Image: scenarios.ImageTools}); err != nil || c.Image != scenarios.ImageTools {
		t.Errorf("image tools: %+v, %v", c, err)
	}
	vm := scenarios.VM
	for _, bad := range []scenarios.RuntimeConfig{
		{Kind: vm, Accel: "hvf"}, {Kind: vm, Machine: "pc"}, {Kind: vm, Network: "veth"}, {Kind: vm, MemoryMiB: 16},
		{Kind: vm, MemoryMiB: 40}, {Kind: vm, VCPUs: -1}, {Kind: vm, VCPUs: 100}, {Kind: vm, Hostname: "h"},
		{Kind: scenarios.Container}, {Kind: vm, Kernel: "tiny"}, {Kind: vm, TBSizeMiB: 2}, {Kind: vm, TBSizeMiB: 1 << 20},
	} {
		if _, err := ConfigFrom(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestTapSubnet(t *testing.T) {
	for i, want := range map[int][2]string{0: {"10.214.0.1", "10.214.0.2"}, 1: {"10.214.0.5", "10.214.0.6"}, 64: {"10.214.1.1", "10.214.1.2"}, maxTaps - 1: {"10.214.255.253", "10.214.255.254"}} {
		h, g := tapSubnet(i)
		if h.String() != want[0] || g.String() != want[1] {
			t.Errorf("tapSubnet(%d) = %s %s, want %v", i, h, g, want)
		}
	}
}

// TestMachineArgsNoACPI: a kernel without ACPI gets microvm with acpi=off
// (so QEMU puts its virtio-mmio devices on the command line); q35 and the
// default microvm are unchanged.
func TestMachineArgsNoACPI(t *testing.T) {
	for _, tc := range []struct {
		l    Launch
		want string
	}{
		{Launch{Config: Config{Machine: MachineMicrovm}}, "microvm,x-option-roms=off,isa-serial=on,rtc=on"},
		{Launch{Config: Config{Machine: MachineMicrovm}, NoACPI: true}, "microvm,x-option-roms=off,isa-serial=on,rtc=on,acpi=off"},
		{Launch{Config: Config{Machine: MachineQ35}, NoACPI: true}, "q35"},
	} {
		if got := tc.l.machineArgs(); len(got) != 2 || got[1] != tc.want {
			t.Errorf("machineArgs(%s, NoACPI=%v) = %v, want -M %s", tc.l.Config.Machine, tc.l.NoACPI, got, tc.want)
		}
	}
}

func TestNetArgsForwardsDataPort(t *testing.T) {
	l := Launch{Net: NetSetup{Mode: NetworkUser, HostPort: 40000, DataHostPort: 40001}, Config: Config{Machine: MachineMicrovm}}
	want := []string{"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:40000-:8080,hostfwd=tcp:127.0.0.1:40001-:8081,hostfwd=udp:127.0.0.1:40001-:8081", "-device", "virtio-net-device,netdev=net0"}
	if got := l.netArgs(); !reflect.DeepEqual(got, want) {
		t.Errorf("netArgs\n got %q\nwant %q", got, want)
	}
}

// TestNetArgsForwardsToolPorts: in user mode each tool server's guest
// port (the agent's HTTP port + proto.ToolPortOffset) has a 127.0.0.1
// forward of its own, TCP and UDP (redis: TCP), in a fixed order.
func TestNetArgsForwardsToolPorts(t *testing.T) {
	l := Launch{Net: NetSetup{Mode: NetworkUser, HostPort: 40000, DataHostPort: 40001,
		ToolHostPorts: map[string]int{proto.ServerRedis: 40004, proto.ServerIperf3: 40002, proto.ServerSockperf: 40003}},
		Config: Config{Machine: MachineMicrovm}}
	want := "user,id=net0,hostfwd=tcp:127.0.0.1:40000-:8080,hostfwd=tcp:127.0.0.1:40001-:8081,hostfwd=udp:127.0.0.1:40001-:8081" +
		",hostfwd=tcp:127.0.0.1:40002-:8082,hostfwd=udp:127.0.0.1:40002-:8082" +
		",hostfwd=tcp:127.0.0.1:40003-:8083,hostfwd=udp:127.0.0.1:40003-:8083" +
		",hostfwd=tcp:127.0.0.1:40004-:8084"
	if got := l.netArgs(); len(got) != 4 || got[1] != want {
		t.Errorf("netArgs\n got %q\nwant -netdev %q", got, want)
	}
	for _, tool := range ToolServers {
		if GuestToolPort(tool) != GuestPort+proto.ToolPortOffset(tool) || proto.ToolPortOffset(tool) == 0 {
			t.Errorf("GuestToolPort(%s) = %d", tool, GuestToolPort(tool))
		}
	}
	// A tap (and user mode without the tools image) forwards nothing.
	tap := Launch{Net: NetSetup{Mode: NetworkTap, Tap: "vcbt0", ToolHostPorts: map[string]int{proto.ServerIperf3: 1}}}
	if got := strings.Join(tap.netArgs(), " "); strings.Contains(got, "hostfwd") {
		t.Errorf("tap netArgs forward: %s", got)
	}
}

// TestDefaultNetwork: as root (with /dev/net/tun) a vm gets a tap, like a
// container's veth; without root, user-mode networking.
func TestDefaultNetwork(t *testing.T) {
	n, why := DefaultNetwork()
	want := NetworkUser
	if os.Geteuid() == 0 {
		if _, err := os.Stat("/dev/net/tun"); err == nil {
			want = NetworkTap
		}
	}
	if n != want || why == "" {
		t.Errorf("DefaultNetwork() = %s (%q), want %s with a reason", n, why, want)
	}
}

// TestAccelArgsTBSize: TCG gets tb-size when the config caps it, KVM never.
func TestAccelArgsTBSize(t *testing.T) {
	for _, tc := range []struct {
		accel Accel
		tb    int
		want  []string
	}{
		{AccelTCG, 32, []string{"-accel", "tcg,tb-size=32"}},
		{AccelTCG, 0, []string{"-accel", "tcg"}},
		{AccelKVM, 32, []string{"-accel", "kvm", "-cpu", "host"}},
	} {
		l := Launch{Accel: tc.accel, Config: Config{TBSizeMiB: tc.tb}}
		if got := l.accelArgs(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("accelArgs(%s, tb %d) = %q, want %q", tc.accel, tc.tb, got, tc.want)
		}
	}
}

func TestNetArgsVhost(t *testing.T) {
	l := Launch{Net: NetSetup{Mode: NetworkTap, Tap: "vcbt0", Vhost: true}, Config: Config{Machine: MachineMicrovm}}
	want := []string{"-netdev", "tap,id=net0,ifname=vcbt0,script=no,downscript=no,vhost=on", "-device", "virtio-net-device,netdev=net0"}
	if got := l.netArgs(); !reflect.DeepEqual(got, want) {
		t.Errorf("netArgs\n got %q\nwant %q", got, want)
	}
}

// TestLostTapRace: the netlink package's TUNSETIFF error carries its errno
// only in the message; EBUSY and EEXIST there are a lost race for a name.
func TestLostTapRace(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("Tuntap IOCTL TUNSETIFF failed [0], errno %v", unix.EBUSY): true,
		fmt.Errorf("wrapped: %w", unix.EEXIST):                                true,
		fmt.Errorf("Tuntap IOCTL TUNSETIFF failed [0], errno %v", unix.EPERM): false,
	} {
		if got := lostTapRace(err); got != want {
			t.Errorf("lostTapRace(%v) = %v, want %v", err, got, want)
		}
	}
}
