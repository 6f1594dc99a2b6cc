package report

import "testing"

// TestOverviewMemoryPerSeries: the overview's memory panel shows each
// runtime's own best idle figure (PSS for native, gVisor and the VM, the
// cgroup's charge for the other containers) instead of one metric that
// leaves native and the VM "not measured".
func TestOverviewMemoryPerSeries(t *testing.T) {
	m, err := Build([]Input{{Run: readRun(t, "run-eight")}}, LangEnglish)
	if err != nil {
		t.Fatal(err)
	}
	rows, _, title := m.overviewRows()
	want := map[string]string{
		"native": "host_pss", "container": "cgroup_usage", "oci-crun": "cgroup_usage", "oci-runc": "cgroup_usage",
		"oci-runsc": "host_pss", "docker": "cgroup_usage", "podman": "cgroup_usage", "vm": "host_pss",
	}
	seen := 0
	for _, r := range rows {
		w, ok := want[r.series]
		if !ok {
			continue
		}
		seen++
		if !r.hasMemory || r.memMetric != w || !(r.memory.Median > 0) {
			t.Errorf("%s: memory %v %q %v, want %s", r.series, r.hasMemory, r.memMetric, r.memory.Median, w)
		}
	}
	if seen != len(want) {
		t.Errorf("%d of the %d runtimes have a row: %+v", seen, len(want), rows)
	}
	if title != "host_pss / cgroup_usage" {
		t.Errorf("panel metrics %q, want \"host_pss / cgroup_usage\"", title)
	}
}
