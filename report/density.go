package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"vcbench/bench"
)

// DensityWorkload is the workload name of every sample a density sweep
// records (see bench/density.go).
const DensityWorkload = "density"

// FirecrackerVMMOverhead is Firecracker's published VMM memory overhead
// (≤ 5 MiB per microVM), the figure a VM's own cost is compared with.
const FirecrackerVMMOverhead = 5 << 20

// DensityHostSizes are the host memory sizes, besides the run's own host,
// that the "fits in" rows are computed for.
var DensityHostSizes = []float64{16 << 30, 64 << 30, 256 << 30}

// DensitySweep is one runtime's density sweep: how startup, memory and
// host CPU change as instances are added.
type DensitySweep struct {
	Label   string
	Runtime string
	Kind    string
	Accel   string // "tcg", "kvm", or "" when run.json does not say
	// HostMemBytes is the memory of the host the sweep ran on (0: unknown).
	HostMemBytes float64
	// Info is how the sweep ended, from run.json (nil for older runs).
	Info *bench.DensityInfo
	// Ready is the startup time of the k-th instance, by position.
	Ready []DensityPoint
	// Steps are the per-step figures in increasing k.
	Steps []DensityStep
	// KSM is the mean per-instance memory after KSM settled at the last
	// step; NaN when KSM was not measured.
	KSM float64
}

// DensityPoint is one (x, y) point of a sweep.
type DensityPoint struct {
	X, Y float64
}

// DensityStep is what was measured with K instances running.
type DensityStep struct {
	K int
	// MemMean is the mean per-instance memory (MemSource says which
	// figure); NaN when missing.
	MemMean   float64
	MemSource string
	// HostUsed is the growth of the host's unreclaimable memory since the sweep
	// began; NaN when missing.
	HostUsed float64
	// CPUBusy is the fraction of all host CPUs busy during the step; NaN
	// when missing.
	CPUBusy float64
	// VMM is the median over instances of the VMM's own memory (VMMSource:
	// host_vmm_pss, else host_overhead); NaN for non-VMs.
	VMM       float64
	VMMSource string
}

// Series is the name the sweep is drawn under.
func (d *DensitySweep) Series() string { return Key{Label: d.Label, Runtime: d.Runtime}.Series() }

// Last is the step with the most instances, or nil.
func (d *DensitySweep) Last() *DensityStep {
	if len(d.Steps) == 0 {
		return nil
	}
	return &d.Steps[len(d.Steps)-1]
}

// UsedPerInstance is HostUsed ÷ K: the host's measured increase shared
// out over the instances.
func (s DensityStep) UsedPerInstance() float64 {
	if s.K <= 0 {
		return math.NaN()
	}
	return s.HostUsed / float64(s.K)
}

// MarginalCost is the slope of the host's used memory between the last
// two steps that measured it (from and to instances): what one more
// instance cost the host at the end of the sweep. NaN with fewer than two
// such steps.
func (d *DensitySweep) MarginalCost() (cost float64, from, to int) {
	var ks, used []float64
	for _, s := range d.Steps {
		if !math.IsNaN(s.HostUsed) {
			ks = append(ks, float64(s.K))
			used = append(used, s.HostUsed)
		}
	}
	cost = marginalCost(ks, used)
	if n := len(ks); n >= 2 {
		from, to = int(ks[n-2]), int(ks[n-1])
	}
	return cost, from, to
}

// marginalCost is (used[n]-used[n-1]) / (k[n]-k[n-1]) of the last two points.
func marginalCost(k, used []float64) float64 {
	n := len(k)
	if n < 2 || len(used) != n || k[n-1] == k[n-2] {
		return math.NaN()
	}
	return (used[n-1] - used[n-2]) / (k[n-1] - k[n-2])
}

// PerInstanceCost is the memory one instance is assumed to cost in the
// "fits in" rows: the measured mean per instance at the last step, or the
// host's increase ÷ k where the mean is missing.
func (d *DensitySweep) PerInstanceCost() float64 {
	last := d.Last()
	if last == nil {
		return math.NaN()
	}
	if last.MemMean > 0 {
		return last.MemMean
	}
	if u := last.UsedPerInstance(); u > 0 {
		return u
	}
	return math.NaN()
}

// fitsIn is floor(host / perInstance); ok is false when the cost is not a
// positive number (no figure, or one lost in measurement noise).
func fitsIn(host, perInstance float64) (n int64, ok bool) {
	if !(perInstance > 0) || math.IsInf(perInstance, 0) || !(host > 0) {
		return 0, false
	}
	return int64(math.Floor(host / perInstance)), true
}

// densitySweeps collects the density sweeps of one run, one per runtime
// with density samples, in report order.
func densitySweeps(label string, r *bench.Run) []DensitySweep {
	byRT := map[string]*DensitySweep{}
	var order []string
	type vmmKey struct {
		rt     string
		k      int
		metric string
	}
	vmm := map[vmmKey][]float64{}
	get := func(rt string) *DensitySweep {
		d := byRT[rt]
		if d == nil {
			d = &DensitySweep{Label: label, Runtime: rt, Kind: rt, HostMemBytes: float64(r.Info.Host.MemBytes), KSM: math.NaN()}
			for _, ri := range r.Info.Runtimes {
				if ri.Name == rt {
					d.Kind, d.Accel, d.Info = ri.Kind, ri.Settings["accel"], ri.Density
				}
			}
			byRT[rt] = d
			order = append(order, rt)
		}
		return d
	}
	steps := map[string]map[int]*DensityStep{}
	step := func(rt string, k int) *DensityStep {
		if steps[rt] == nil {
			steps[rt] = map[int]*DensityStep{}
		}
		s := steps[rt][k]
		if s == nil {
			nan := math.NaN()
			s = &DensityStep{K: k, MemMean: nan, HostUsed: nan, CPUBusy: nan, VMM: nan}
			steps[rt][k] = s
		}
		return s
	}
	for _, s := range r.Samples {
		if s.Workload != DensityWorkload || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			continue
		}
		d := get(s.Runtime)
		k, err := strconv.Atoi(s.Labels["k"])
		if err != nil {
			k = s.Trial
		}
		ksm := s.Labels["ksm"] == "on"
		switch s.Metric {
		case "ready":
			d.Ready = append(d.Ready, DensityPoint{X: float64(s.Trial), Y: s.Value})
		case "instance_memory_mean":
			if ksm {
				d.KSM = s.Value
				continue
			}
			st := step(s.Runtime, k)
			st.MemMean, st.MemSource = s.Value, s.Labels["source"]
		case "host_used":
			step(s.Runtime, k).HostUsed = s.Value
		case "host_cpu_busy":
			step(s.Runtime, k).CPUBusy = s.Value
		case "host_vmm_pss", "host_overhead":
			if !ksm {
				step(s.Runtime, k)
				vmm[vmmKey{s.Runtime, k, s.Metric}] = append(vmm[vmmKey{s.Runtime, k, s.Metric}], s.Value)
			}
		}
	}
	var out []DensitySweep
	sort.SliceStable(order, func(i, j int) bool { return runtimeRank(order[i], nil) < runtimeRank(order[j], nil) })
	for _, rt := range order {
		d := byRT[rt]
		sort.SliceStable(d.Ready, func(i, j int) bool { return d.Ready[i].X < d.Ready[j].X })
		for _, st := range steps[rt] {
			for _, metric := range []string{"host_vmm_pss", "host_overhead"} {
				if v := vmm[vmmKey{rt, st.K, metric}]; len(v) > 0 {
					st.VMM, st.VMMSource = median(v), metric
					break
				}
			}
			d.Steps = append(d.Steps, *st)
		}
		sort.Slice(d.Steps, func(i, j int) bool { return d.Steps[i].K < d.Steps[j].K })
		out = append(out, *d)
	}
	return out
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// withoutDensity drops the density samples, which the summary, ratio and
// chart sections would otherwise pool across steps into meaningless medians.
func withoutDensity(samples []bench.Sample) []bench.Sample {
	out := make([]bench.Sample, 0, len(samples))
	for _, s := range samples {
		if s.Workload != DensityWorkload {
			out = append(out, s)
		}
	}
	return out
}

// formatCount prints n with thousands separators: 12,345.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatHostSize names a host size: "16 GiB", or "23.5 GiB (this host)".
func formatHostSize(lang string, bytes float64, this bool) string {
	s := formatValue("bytes", bytes)
	if g := bytes / (1 << 30); g >= 1 && g == math.Trunc(g) {
		s = strconv.FormatFloat(g, 'f', -1, 64) + " GiB"
	}
	if this {
		s += " (" + t(lang, "d_thishost") + ")"
	}
	return s
}

// densityTable is one sweep's key figures and the "fits in" rows.
func (m *Model) densityTable(d *DensitySweep) table {
	L := m.Lang
	tb := table{Head: []string{d.Series(), ""}}
	add := func(k, v string) { tb.Rows = append(tb.Rows, []string{k, v}) }
	last := d.Last()
	reached := "—"
	stop := "—"
	if d.Info != nil {
		reached = strconv.Itoa(d.Info.Reached)
		stop = d.Info.Stop
	} else if last != nil {
		reached = strconv.Itoa(last.K)
	}
	var ks []string
	for _, s := range d.Steps {
		ks = append(ks, strconv.Itoa(s.K))
	}
	if len(ks) > 0 {
		reached += " (" + t(L, "d_steps") + " " + strings.Join(ks, ", ") + ")"
	}
	add(t(L, "d_reached"), reached)
	add(t(L, "d_stop"), stop)
	if len(d.Ready) > 0 {
		add(t(L, "d_ready"), fmt.Sprintf("%s → %s", formatValue("seconds", d.Ready[0].Y), formatValue("seconds", d.Ready[len(d.Ready)-1].Y)))
	}
	if last == nil {
		return tb
	}
	kN := strconv.Itoa(last.K)
	src := last.MemSource
	if src == "" && d.Info != nil {
		src = d.Info.MemoryMetric
	}
	add(fmt.Sprintf(t(L, "d_mean"), kN, src), formatValue("bytes", last.MemMean))
	add(fmt.Sprintf(t(L, "d_usedk"), kN), formatValue("bytes", last.UsedPerInstance()))
	if mc, from, to := d.MarginalCost(); !math.IsNaN(mc) {
		v := formatValue("bytes", mc)
		if mc <= 0 {
			v += " (" + t(L, "d_noise") + ")"
		}
		add(fmt.Sprintf(t(L, "d_marginal"), from, to), v)
	}
	if !math.IsNaN(last.VMM) {
		add(fmt.Sprintf(t(L, "d_vmm"), kN, last.VMMSource), fmt.Sprintf("%s (%s)", formatValue("bytes", last.VMM),
			fmt.Sprintf(t(L, "d_vsfc"), formatRatio(last.VMM/FirecrackerVMMOverhead))))
	}
	if !math.IsNaN(last.CPUBusy) {
		add(fmt.Sprintf(t(L, "d_cpu"), kN), fmt.Sprintf("%.0f %%", 100*last.CPUBusy))
	}
	if !math.IsNaN(d.KSM) {
		add(fmt.Sprintf(t(L, "d_ksm"), kN), formatValue("bytes", d.KSM))
	}
	if d.Info != nil {
		yes := t(L, "d_no")
		if d.Info.PageCacheDropped {
			yes = t(L, "d_yes")
		}
		add(t(L, "d_dropped"), yes)
		if d.Info.KSM != "" {
			add("KSM", d.Info.KSM)
		}
	}
	cost := d.PerInstanceCost()
	for i, size := range m.hostSizes(d) {
		v := "—"
		if n, ok := fitsIn(size, cost); ok {
			v = formatCount(n)
		}
		add(fmt.Sprintf(t(L, "d_fits"), formatHostSize(L, size, i == 0 && d.HostMemBytes > 0)), v)
	}
	return tb
}

// hostSizes are the host sizes of the "fits in" rows: the run's own host
// first (when known), then DensityHostSizes.
func (m *Model) hostSizes(d *DensitySweep) []float64 {
	var out []float64
	if d.HostMemBytes > 0 {
		out = append(out, d.HostMemBytes)
	}
	return append(out, DensityHostSizes...)
}

// densityFitsNote states the assumption behind the "fits in" rows.
func (m *Model) densityFitsNote(d *DensitySweep) string {
	last := d.Last()
	if last == nil {
		return ""
	}
	cost := d.PerInstanceCost()
	return fmt.Sprintf(t(m.Lang, "d_fitsnote"), formatValue("bytes", cost), last.K)
}

// densityVMNote compares a VM's own memory with Firecracker's published
// overhead and with a container's whole per-instance cost, in words.
func (m *Model) densityVMNote(d *DensitySweep) string {
	L := m.Lang
	last := d.Last()
	if last == nil || d.Kind != "vm" || math.IsNaN(last.VMM) {
		return ""
	}
	s := fmt.Sprintf(t(L, "d_vmnote"), d.Series(), last.K, formatValue("bytes", last.VMM), formatRatio(last.VMM/FirecrackerVMMOverhead))
	for _, c := range m.Density {
		if c.Label != d.Label || c.Kind == "vm" || c.Kind == "native" {
			continue
		}
		if cost := c.PerInstanceCost(); cost > 0 {
			s += " " + fmt.Sprintf(t(L, "d_vmvsct"), c.Series(), formatValue("bytes", cost), formatValue("bytes", d.PerInstanceCost()),
				formatCount(int64(math.Round(d.PerInstanceCost()/cost))))
			break
		}
	}
	switch d.Accel {
	case "tcg":
		s += " " + t(L, "d_vmtcg")
	case "":
		s += " " + t(L, "d_vmaccel")
	}
	return s
}
