package proto

import "time"

// Info is what the agent sees of its machine, the JSON body of PathInfo:
// the report's "what each instance sees" table comes from here, and each
// run keeps every instance's as raw/info-<runtime>-<n>.json.
type Info struct {
	KernelRelease string      `json:"kernel_release"`
	KernelVersion string      `json:"kernel_version"`
	Hostname      string      `json:"hostname"`
	PID           int         `json:"pid"`
	VisiblePIDs   int         `json:"visible_pids"`
	CPUsOnline    int         `json:"cpus_online"`
	CPUsUsable    int         `json:"cpus_usable"` // affinity mask
	CPUModel      string      `json:"cpu_model"`
	MemTotalBytes uint64      `json:"mem_total_bytes"`
	MemAvailBytes uint64      `json:"mem_available_bytes"`
	UptimeSeconds float64     `json:"uptime_seconds"`
	Interfaces    []Interface `json:"interfaces"`
	Cgroup        CgroupView  `json:"cgroup"`
	RootFSType    string      `json:"rootfs_type"`
	RootReadOnly  bool        `json:"rootfs_read_only"`
	UID           int         `json:"uid"`
	CapEff        string      `json:"cap_eff"` // effective capabilities, hex as in /proc/self/status
	// CapBnd and CapAmb are the bounding and ambient sets (CapBnd, CapAmb
	// of /proc/self/status): what a program the agent runs can still gain.
	CapBnd     string    `json:"cap_bnd"`
	CapAmb     string    `json:"cap_amb"`
	NoNewPrivs bool      `json:"no_new_privs"`
	GoVersion  string    `json:"go_version"`
	Time       time.Time `json:"time"`
}

// Interface is a network interface and its addresses.
type Interface struct {
	Name  string   `json:"name"`
	MTU   int      `json:"mtu"`
	Up    bool     `json:"up"`
	Addrs []string `json:"addrs"`
}

// CgroupView is the cgroup membership and the limits the agent can read.
type CgroupView struct {
	Path        string `json:"path"` // from /proc/self/cgroup
	MemoryLimit string `json:"memory_limit,omitempty"`
	CPULimit    string `json:"cpu_limit,omitempty"`
	PidsLimit   string `json:"pids_limit,omitempty"`
}
