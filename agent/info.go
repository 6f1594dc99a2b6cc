package agent

import (
	"bufio"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"vcbench/agent/proto"
	"vcbench/internal/procfs"
)

// Describe gathers the agent's proto.Info now.
func Describe() proto.Info {
	var u unix.Utsname
	unix.Uname(&u)
	in := proto.Info{
		KernelRelease: unix.ByteSliceToString(u.Release[:]),
		KernelVersion: unix.ByteSliceToString(u.Version[:]),
		PID:           os.Getpid(),
		UID:           os.Getuid(),
		GoVersion:     runtime.Version(),
		Time:          time.Now().UTC(),
	}
	in.Hostname, _ = os.Hostname()
	in.VisiblePIDs = countPIDs()
	in.CPUsOnline = cpusOnline()
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		in.CPUsUsable = set.Count()
	}
	in.CPUModel = cpuModel()
	mem := meminfo()
	in.MemTotalBytes, in.MemAvailBytes = mem["MemTotal"], mem["MemAvailable"]
	in.UptimeSeconds = uptime()
	in.Interfaces = interfaces()
	in.Cgroup = cgroupView()
	in.RootFSType, in.RootReadOnly = rootFS()
	in.CapEff, in.CapBnd, in.CapAmb, in.NoNewPrivs = capsAndNNP()
	return in
}

func countPIDs() int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			n++
		}
	}
	return n
}

func cpusOnline() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, found := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		if !found {
			n++
			continue
		}
		b, _ := strconv.Atoi(hi)
		n += b - a + 1
	}
	return n
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// meminfo returns /proc/meminfo in bytes (empty when unreadable).
func meminfo() map[string]uint64 {
	m, err := procfs.Meminfo()
	if err != nil {
		return map[string]uint64{}
	}
	return m
}

// Uptime is the system's uptime in seconds (the guest's clock in a VM).
func Uptime() float64 { return uptime() }

// It reads CLOCK_BOOTTIME (what /proc/uptime shows) with nanosecond
// resolution; on the host and in containers that clock is shared, so the
// harness can place the agent's start on its own timeline.
func uptime() float64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) == nil {
		return float64(ts.Sec) + float64(ts.Nsec)/1e9
	}
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func interfaces() []proto.Interface {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	out := make([]proto.Interface, 0, len(ifs))
	for _, i := range ifs {
		it := proto.Interface{Name: i.Name, MTU: i.MTU, Up: i.Flags&net.FlagUp != 0, Addrs: []string{}}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			it.Addrs = append(it.Addrs, a.String())
		}
		out = append(out, it)
	}
	return out
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// cgroupView reads the agent's own cgroup and whichever limit files are
// visible (v2 names first, then v1). Inside a cgroup namespace the group
// appears as "/" and its files are at /sys/fs/cgroup directly.
func cgroupView() proto.CgroupView {
	v := proto.CgroupView{}
	var v1mem, v1cpu, v1pids, v2 string
	for _, line := range strings.Split(readTrim("/proc/self/cgroup"), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case strings.Contains(parts[1], "memory"):
			v1mem = parts[2]
		case parts[1] == "cpu,cpuacct" || parts[1] == "cpu":
			v1cpu = parts[2]
		case parts[1] == "pids":
			v1pids = parts[2]
		}
	}
	first := func(paths ...string) string {
		for _, p := range paths {
			if s := readTrim(p); s != "" {
				return s
			}
		}
		return ""
	}
	if v1mem != "" {
		v.Path = v1mem
		v.MemoryLimit = first("/sys/fs/cgroup/memory"+v1mem+"/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
		q := first("/sys/fs/cgroup/cpu"+v1cpu+"/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
		p := first("/sys/fs/cgroup/cpu"+v1cpu+"/cpu.cfs_period_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")
		if q != "" {
			v.CPULimit = q + " " + p
		}
		v.PidsLimit = first("/sys/fs/cgroup/pids"+v1pids+"/pids.max", "/sys/fs/cgroup/pids/pids.max")
		return v
	}
	v.Path = v2
	v.MemoryLimit = first("/sys/fs/cgroup"+v2+"/memory.max", "/sys/fs/cgroup/memory.max")
	v.CPULimit = first("/sys/fs/cgroup"+v2+"/cpu.max", "/sys/fs/cgroup/cpu.max")
	v.PidsLimit = first("/sys/fs/cgroup"+v2+"/pids.max", "/sys/fs/cgroup/pids.max")
	return v
}

var fsMagic = map[int64]string{
	0x01021994: "tmpfs", 0x858458f6: "ramfs", 0xef53: "ext4", 0x9123683e: "btrfs",
	0x58465342: "xfs", 0x794c7630: "overlay", 0x01021997: "9p", 0x65735546: "fuse",
	0x6969: "nfs", 0x73717368: "squashfs",
}

func rootFS() (string, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return "", false
	}
	name, ok := fsMagic[int64(st.Type)]
	if !ok {
		name = "0x" + strconv.FormatInt(int64(st.Type), 16)
	}
	return name, st.Flags&unix.ST_RDONLY != 0
}

// capsAndNNP reads the effective, bounding and ambient capability sets
// and no_new_privs from /proc/self/status.
func capsAndNNP() (capEff, capBnd, capAmb string, nnp bool) {
	for _, line := range strings.Split(readTrim("/proc/self/status"), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "CapEff":
			capEff = strings.TrimSpace(v)
		case "CapBnd":
			capBnd = strings.TrimSpace(v)
		case "CapAmb":
			capAmb = strings.TrimSpace(v)
		case "NoNewPrivs":
			nnp = strings.TrimSpace(v) == "1"
		}
	}
	return capEff, capBnd, capAmb, nnp
}

// guestCollector exports the machine's memory and CPU time as the agent
// sees them: inside a VM that is the guest's own view.
type guestCollector struct {
	memTotal, memAvail, cpu *prometheus.Desc
}

func newGuestCollector() *guestCollector {
	return &guestCollector{
		memTotal: prometheus.NewDesc(proto.MetricGuestMemTotal, "MemTotal from /proc/meminfo as the agent sees it.", nil, nil),
		memAvail: prometheus.NewDesc(proto.MetricGuestMemAvailable, "MemAvailable from /proc/meminfo as the agent sees it.", nil, nil),
		cpu:      prometheus.NewDesc(proto.MetricGuestCPU, "CPU time of the whole (guest) machine from /proc/stat, by mode.", []string{"mode"}, nil),
	}
}

func (c *guestCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.memTotal
	ch <- c.memAvail
	ch <- c.cpu
}

func (c *guestCollector) Collect(ch chan<- prometheus.Metric) {
	mem := meminfo()
	if v, ok := mem["MemTotal"]; ok {
		ch <- prometheus.MustNewConstMetric(c.memTotal, prometheus.GaugeValue, float64(v))
	}
	if v, ok := mem["MemAvailable"]; ok {
		ch <- prometheus.MustNewConstMetric(c.memAvail, prometheus.GaugeValue, float64(v))
	}
	times, err := procfs.CPUTimes()
	if err != nil {
		return
	}
	for i, m := range procfs.CPUModes {
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, times[i], m)
	}
}
