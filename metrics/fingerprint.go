package metrics

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Fingerprint is the host's settings that move performance figures without
// changing the hardware or the kernel: a comparison of two runs whose
// fingerprints differ compares the settings, not the isolation.
type Fingerprint struct {
	Governor    string `json:"governor,omitempty"`    // cpufreq scaling governor(s) of the CPUs, e.g. "performance"; "none" without cpufreq
	THP         string `json:"thp,omitempty"`         // transparent huge pages mode: always|madvise|never
	KSM         string `json:"ksm,omitempty"`         // kernel same-page merging: run=0|1|2
	Mitigations string `json:"mitigations,omitempty"` // CPU vulnerability mitigations, "name: state" joined by "; "
	SMT         string `json:"smt,omitempty"`         // simultaneous multithreading control: on|off|notsupported|...
}

// ReadFingerprint reads the fingerprint under sysRoot (normally "/sys";
// tests pass a fixture tree). A setting the host does not expose is left
// empty, except the governor, which is "none" when no CPU has cpufreq.
func ReadFingerprint(sysRoot string) Fingerprint {
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(sysRoot, rel))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	var fp Fingerprint
	govs := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(sysRoot, "devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			govs[strings.TrimSpace(string(b))] = true
		}
	}
	fp.Governor = "none"
	if len(govs) > 0 {
		fp.Governor = strings.Join(sortedKeys(govs), ",")
	}
	fp.THP = bracketed(read("kernel/mm/transparent_hugepage/enabled"))
	if v := read("kernel/mm/ksm/run"); v != "" {
		fp.KSM = "run=" + v
	}
	vulns, _ := filepath.Glob(filepath.Join(sysRoot, "devices/system/cpu/vulnerabilities/*"))
	sort.Strings(vulns)
	var mit []string
	for _, f := range vulns {
		if b, err := os.ReadFile(f); err == nil {
			mit = append(mit, filepath.Base(f)+": "+strings.TrimSpace(string(b)))
		}
	}
	fp.Mitigations = strings.Join(mit, "; ")
	fp.SMT = read("devices/system/cpu/smt/control")
	return fp
}

// bracketed picks the selected value of a sysfs choice list such as
// "always [madvise] never"; a plain value is returned as is.
func bracketed(s string) string {
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return s
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
