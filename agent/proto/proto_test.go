package proto

import (
	"encoding/json"
	"go/build"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestWire pins the protocol's spelling: agents inside images built by an
// earlier vcbench speak it, so a change here is a change of protocol. This
// is the one place that spells the strings out.
func TestWire(t *testing.T) {
	for got, want := range map[string]string{
		StartLine(0.912345):                       "vcbench-agent: start uptime=0.912345",
		ReadyLine("[::]:8080"):                    "vcbench-agent: listening on [::]:8080",
		InitGuestSetupFailed:                      "vcbench-agent: init: guest setup:",
		InitStartServerFailed:                     "vcbench-agent: init: start server:",
		strings.Join(ServeArgs("a:0", "/s"), " "): "-listen a:0 -scratch /s",
		"-" + FlagDisk:                            "-disk",
		strings.Join(KernelParams{Listen: "0.0.0.0:8080", IP: "10.0.2.15/24", Gateway: "10.0.2.2", Disk: "/dev/vda"}.Words(), " "): "vcbench.listen=0.0.0.0:8080 vcbench.ip=10.0.2.15/24 vcbench.gw=10.0.2.2 vcbench.disk=/dev/vda",
		strings.Join([]string{PathHealthz, PathInfo, PathRun, PathMetrics, PathNetSink, PathNetSource, PathNetPing}, " "):          "/healthz /info /run /metrics /net/sink /net/source /net/ping",
		NetSourceBytes:          "bytes",
		ModuleOrderPath:         "/lib/modules/vcbench.order",
		MetricGuestMemTotal:     "vcbench_guest_memory_total_bytes",
		MetricGuestMemAvailable: "vcbench_guest_memory_available_bytes",
		MetricGuestCPU:          "vcbench_guest_cpu_seconds_total",
		MetricWorkloadValue:     "vcbench_workload_value",
		MetricWorkloadRuns:      "vcbench_workload_runs_total",
		MetricWorkloadDuration:  "vcbench_workload_duration_seconds",
		MetricWorkloadLatency:   "vcbench_workload_latency_seconds",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// TestInfoJSON pins /info's field names: reports read runs saved earlier.
func TestInfoJSON(t *testing.T) {
	in := Info{KernelRelease: "6.1", KernelVersion: "#1", Hostname: "h", PID: 1, VisiblePIDs: 2, CPUsOnline: 3, CPUsUsable: 4,
		CPUModel: "m", MemTotalBytes: 5, MemAvailBytes: 6, UptimeSeconds: 7.5,
		Interfaces: []Interface{{Name: "lo", MTU: 65536, Up: true, Addrs: []string{"127.0.0.1/8"}}},
		Cgroup:     CgroupView{Path: "/", MemoryLimit: "max", CPULimit: "max 100000", PidsLimit: "1024"},
		RootFSType: "tmpfs", RootReadOnly: true, UID: 0, CapEff: "000001ffffffffff",
		CapBnd: "000001ffffffffff", CapAmb: "0000000000000000", NoNewPrivs: true, GoVersion: "go1.26",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kernel_release":"6.1","kernel_version":"#1","hostname":"h","pid":1,"visible_pids":2,"cpus_online":3,"cpus_usable":4,` +
		`"cpu_model":"m","mem_total_bytes":5,"mem_available_bytes":6,"uptime_seconds":7.5,` +
		`"interfaces":[{"name":"lo","mtu":65536,"up":true,"addrs":["127.0.0.1/8"]}],` +
		`"cgroup":{"path":"/","memory_limit":"max","cpu_limit":"max 100000","pids_limit":"1024"},` +
		`"rootfs_type":"tmpfs","rootfs_read_only":true,"uid":0,"cap_eff":"000001ffffffffff","cap_bnd":"000001ffffffffff","cap_amb":"0000000000000000","no_new_privs":true,"go_version":"go1.26",` +
		`"time":"2026-01-02T03:04:05Z"}`
	if string(b) != want {
		t.Errorf("Info JSON\n got %s\nwant %s", b, want)
	}
	var back Info
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, in) {
		t.Errorf("round trip: %v\n got %+v\nwant %+v", err, back, in)
	}
}

// TestKernelParamsRoundTrip builds each parameter alone and all together,
// puts them among the kernel's own words and parses them back.
func TestKernelParamsRoundTrip(t *testing.T) {
	all := KernelParams{Listen: "0.0.0.0:8080", IP: "10.201.0.2/30", Gateway: "10.201.0.1", Disk: "/dev/vda"}
	for _, tc := range []struct {
		name string
		p    KernelParams
		key  string // the one key set, if one
	}{
		{"listen", KernelParams{Listen: all.Listen}, ParamListen},
		{"ip", KernelParams{IP: all.IP}, ParamIP},
		{"gw", KernelParams{Gateway: all.Gateway}, ParamGateway},
		{"disk", KernelParams{Disk: all.Disk}, ParamDisk},
		{"all", all, ""},
		{"none", KernelParams{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.p.Words()
			if tc.key != "" {
				if len(w) != 1 || !strings.HasPrefix(w[0], KernelParamPrefix+tc.key+"=") {
					t.Fatalf("Words() = %q, want one %s%s= word", w, KernelParamPrefix, tc.key)
				}
			}
			cmdline := "console=ttyS0 panic=-1 " + strings.Join(w, " ") + " vcbench.unknown=x quiet\n"
			if got := ParseKernelParams(cmdline); got != tc.p {
				t.Errorf("ParseKernelParams(%q) = %+v, want %+v", cmdline, got, tc.p)
			}
		})
	}
	if got := ParseKernelParams("vcbench.ip=1.2.3.4/8 vcbench.ip=5.6.7.8/8 vcbench.gw vcbench.disk=a=b"); got != (KernelParams{IP: "5.6.7.8/8", Disk: "a=b"}) {
		t.Errorf("last value, no '=', '=' in value: %+v", got)
	}
}

// FuzzParseKernelParams checks that what ParseKernelParams reads from any
// command line survives Words and a second parse unchanged.
func FuzzParseKernelParams(f *testing.F) {
	f.Add("console=ttyS0 vcbench.listen=0.0.0.0:8080 vcbench.ip=10.0.2.15/24 vcbench.gw=10.0.2.2 vcbench.disk=/dev/vda")
	f.Add("vcbench.ip= vcbench.gw==x vcbench.=y vcbench.disk")
	f.Fuzz(func(t *testing.T, cmdline string) {
		p := ParseKernelParams(cmdline)
		if back := ParseKernelParams(strings.Join(p.Words(), " ")); back != p {
			t.Errorf("%q: parsed %+v, after Words %+v", cmdline, p, back)
		}
	})
}

func TestMarkers(t *testing.T) {
	if up, ok := ParseStart("noise" + StartLine(1.5) + "\r"); !ok || up != 1.5 {
		t.Errorf("ParseStart: %v %v", up, ok)
	}
	for _, l := range []string{"", "[ 0.1] hello", StartMarker + "x", ReadyLine("a:1")} {
		if _, ok := ParseStart(l); ok {
			t.Errorf("ParseStart(%q) ok", l)
		}
	}
	if a, ok := ParseReady(ReadyLine("127.0.0.1:4321") + "\r"); !ok || a != "127.0.0.1:4321" {
		t.Errorf("ParseReady: %q %v", a, ok)
	}
	for _, l := range []string{"", ReadyMarker, StartLine(1)} {
		if _, ok := ParseReady(l); ok {
			t.Errorf("ParseReady(%q) ok", l)
		}
	}
	for l, want := range map[string]bool{
		InitGuestSetupFailed + " no eth0 after 5s":   true,
		InitStartServerFailed + " fork/exec: ENOENT": true,
		InitPrefix + "mount sysfs on /sys: busy":     false,
		ReadyLine("a:1"):                             false,
	} {
		if got := IsInitFailure(l); got != want {
			t.Errorf("IsInitFailure(%q) = %v", l, got)
		}
	}
}

// TestStandardLibraryOnly keeps proto free to import from both sides: its
// non-test files import only the standard library.
func TestStandardLibraryOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports found: is this the package's directory?")
	}
	for _, imp := range pkg.Imports {
		p, err := build.Import(imp, ".", build.FindOnly)
		if err != nil || !p.Goroot {
			t.Errorf("proto imports %s, which is not in the standard library (%v)", imp, err)
		}
	}
}
