package proto

import "strings"

// KernelParamPrefix begins the keys of the kernel command line that are
// meant for the agent (vcbench.listen=0.0.0.0:8080); the kernel leaves
// such dotted keys of no module alone, and the agent reads them from
// /proc/cmdline.
const KernelParamPrefix = "vcbench."

// The keys (after KernelParamPrefix) of the agent's kernel parameters.
const (
	ParamListen  = "listen" // host:port the agent serves on (as FlagListen)
	ParamIP      = "ip"     // CIDR address of the guest's eth0
	ParamGateway = "gw"     // the guest's default route
	ParamDisk    = "disk"   // block device for the disk workload (as FlagDisk)
	// ParamTools is the block device of the tools image (ext4, read-only)
	// that the agent mounts at ToolsMountPoint and chroots into.
	ParamTools = "tools"
)

// KernelParams are the agent's settings on a VM's kernel command line; an
// empty field is left off.
type KernelParams struct {
	Listen  string // ParamListen
	IP      string // ParamIP
	Gateway string // ParamGateway
	Disk    string // ParamDisk
	Tools   string // ParamTools
}

// KernelParam is one kernel command-line word: vcbench.key=value.
func KernelParam(key, value string) string { return KernelParamPrefix + key + "=" + value }

// Words returns the parameters as kernel command-line words, in a fixed
// order (listen, ip, gw, disk, tools), leaving off empty ones.
func (p KernelParams) Words() []string {
	var w []string
	for _, kv := range [...][2]string{{ParamListen, p.Listen}, {ParamIP, p.IP}, {ParamGateway, p.Gateway}, {ParamDisk, p.Disk}, {ParamTools, p.Tools}} {
		if kv[1] != "" {
			w = append(w, KernelParam(kv[0], kv[1]))
		}
	}
	return w
}

// ParseKernelParams reads the agent's parameters from a kernel command
// line (the text of /proc/cmdline); other words and unknown vcbench.* keys
// are ignored, and a key given twice keeps its last value, as the kernel
// does.
func ParseKernelParams(cmdline string) KernelParams {
	var p KernelParams
	for _, f := range strings.Fields(cmdline) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		key, ok := strings.CutPrefix(k, KernelParamPrefix)
		if !ok {
			continue
		}
		switch key {
		case ParamListen:
			p.Listen = v
		case ParamIP:
			p.IP = v
		case ParamGateway:
			p.Gateway = v
		case ParamDisk:
			p.Disk = v
		case ParamTools:
			p.Tools = v
		}
	}
	return p
}
