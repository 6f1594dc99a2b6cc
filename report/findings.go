package report

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"vcbench/agent/proto"
	"vcbench/bench"
	"vcbench/workload"
)

// Finding is one sentence of a report's answer to "what does isolation
// cost here?": a measured figure with its 95% interval and the ratio that
// matters. Only what the run measured becomes a finding.
type Finding struct {
	// Topic is what the finding is about: failures, startup, memory,
	// throughput, density, kernel or isolation.
	Topic string `json:"topic"`
	Text  string `json:"text"`
	// Anchor is the id of the chart, table or section of index.html that
	// shows the figures (without '#').
	Anchor string `json:"anchor,omitempty"`
}

// Finding topics.
const (
	TopicFailures   = "failures"
	TopicStartup    = "startup"
	TopicMemory     = "memory"
	TopicThroughput = "throughput"
	TopicDensity    = "density"
	TopicKernel     = "kernel"
	TopicIsolation  = "isolation"
)

// Findings returns the findings of one run in lang (LangEnglish or
// LangKorean; "" is English), in the order a report shows them.
func Findings(run *bench.Run, lang string) ([]Finding, error) {
	if lang == "" {
		lang = LangEnglish
	}
	m, err := Build([]Input{{Run: run}}, lang)
	if err != nil {
		return nil, fmt.Errorf("findings: %w", err)
	}
	return m.Findings, nil
}

// Runtime classes: what a runtime is, for the sentences that compare them.
const (
	classNative    = "native"
	classContainer = "container"
	classVM        = "vm"
)

// runtimeClass sorts a runtime kind into native, VM or container (every
// namespace or OCI runtime, Docker and Podman).
func runtimeClass(kind string) string {
	switch {
	case kind == "native":
		return classNative
	case kind == "vm" || strings.HasPrefix(kind, "vm-") || kind == "qemu" || kind == "firecracker":
		return classVM
	}
	return classContainer
}

// findingCtx is one run's view of the model for writing its findings.
type findingCtx struct {
	m     *Model
	label string
	env   RunEnv
	kind  map[string]string // runtime → kind
	stats map[Key]Stat      // Label left empty
}

func (m *Model) findings() []Finding {
	var out []Finding
	for _, e := range m.Runs {
		c := &findingCtx{m: m, label: e.Label, env: e, kind: map[string]string{}, stats: map[Key]Stat{}}
		for _, rt := range e.Runtimes {
			c.kind[rt.Name] = rt.Kind
		}
		for _, s := range m.Stats {
			if s.Label == e.Label && s.N > 0 {
				k := s.Key
				k.Label = ""
				c.stats[k] = s
				if _, ok := c.kind[s.Runtime]; !ok {
					c.kind[s.Runtime] = s.Runtime
				}
			}
		}
		var fs []Finding
		fs = append(fs, c.failures()...)
		fs = append(fs, c.startup()...)
		fs = append(fs, c.memory()...)
		fs = append(fs, c.throughput()...)
		fs = append(fs, c.density()...)
		fs = append(fs, c.kernel()...)
		fs = append(fs, c.isolation()...)
		for i := range fs {
			fs[i].Text = labelPrefix(e.Label) + fs[i].Text
		}
		out = append(out, fs...)
	}
	return out
}

func (c *findingCtx) tr(key string) string { return t(c.m.Lang, key) }

func (c *findingCtx) class(runtime string) string { return runtimeClass(c.kind[runtime]) }

// runtimesOf lists the runtimes of a class with a stat for (workload,
// metric), in report order.
func (c *findingCtx) runtimesOf(class, workload, metric string) []string {
	var out []string
	for k := range c.stats {
		if k.Workload == workload && k.Metric == metric && c.class(k.Runtime) == class {
			out = append(out, k.Runtime)
		}
	}
	sortRuntimes(out)
	return out
}

func sortRuntimes(rs []string) {
	sort.Slice(rs, func(i, j int) bool {
		ri, rj := runtimeRank(rs[i], nil), runtimeRank(rs[j], nil)
		return ri < rj || ri == rj && rs[i] < rs[j]
	})
}

func (c *findingCtx) stat(runtime, workload, metric string) (Stat, bool) {
	s, ok := c.stats[Key{Runtime: runtime, Workload: workload, Metric: metric}]
	return s, ok
}

// least is the runtime of rs with the smallest median of (workload, metric).
func (c *findingCtx) least(rs []string, workload, metric string) string {
	best := ""
	for _, r := range rs {
		s, _ := c.stat(r, workload, metric)
		if b, ok := c.stat(best, workload, metric); best == "" || ok && s.Median < b.Median {
			best = r
		}
	}
	return best
}

func (c *findingCtx) series(runtime string) string {
	return Key{Label: c.label, Runtime: runtime}.Series()
}

// tcg is " (TCG software emulation)" for a VM that ran under TCG.
func (c *findingCtx) tcg(runtime string) string {
	if contains(c.m.TCG, c.series(runtime)) {
		return c.tr("f_tcg")
	}
	return ""
}

// figure prints a median with its 95% interval in the median's unit:
// "15.2 ms [14.8, 15.6]", or "4.71 s (n=3, no 95% interval)" when n is
// too small for an interval (the Warnings section says what n needs).
func figure(lang string, s Stat) string {
	v := formatValue(s.Unit, s.Median)
	if !s.HasCI() {
		return v + fmt.Sprintf(t(lang, "f_noci"), s.N)
	}
	div, _ := scale(s.Unit, s.Median)
	return fmt.Sprintf("%s [%s, %s]", v, sig3(s.Lo/div), sig3(s.Hi/div))
}

func (c *findingCtx) fig(s Stat) string { return figure(c.m.Lang, s) }

// failures sums up, per runtime, its failed trials, its failed workloads
// (and how often the instance had to be replaced) and the workloads it
// has no figure of at all.
func (c *findingCtx) failures() []Finding {
	type tally struct {
		trials, workloads, replaced int
		firstTrial, firstWL         *Failure
		missing                     []string
	}
	var parts []string
	by := map[string]*tally{}
	var order []string
	for i, f := range c.m.Failures {
		if f.Label != c.label {
			continue
		}
		if f.Skipped {
			parts = append(parts, fmt.Sprintf(c.tr("f_fail_skip"), f.Runtime, f.Cause))
			continue
		}
		tl := by[f.Runtime]
		if tl == nil {
			tl = &tally{}
			by[f.Runtime] = tl
			order = append(order, f.Runtime)
		}
		switch {
		case f.Missing:
			tl.missing = append(tl.missing, f.Workload)
		case f.Workload == "" || f.Workload == "startup":
			tl.trials++
			if tl.firstTrial == nil {
				tl.firstTrial = &c.m.Failures[i]
			}
		default:
			tl.workloads++
			if f.Replaced {
				tl.replaced++
			}
			if tl.firstWL == nil {
				tl.firstWL = &c.m.Failures[i]
			}
		}
	}
	what := func(f *Failure) string {
		s := f.Cause
		if f.Workload != "" && f.Workload != "startup" && !strings.HasPrefix(s, "workload ") {
			s = f.Workload + ": " + s
		}
		if f.Trial != "" {
			s = c.tr("trialword") + " " + f.Trial + ", " + s
		}
		return s
	}
	for _, rt := range order {
		tl := by[rt]
		if tl.trials > 0 {
			parts = append(parts, fmt.Sprintf(c.tr("f_fail_trials"), rt, tl.trials, what(tl.firstTrial)))
		}
		if tl.workloads > 0 {
			p := what(tl.firstWL)
			if tl.replaced > 0 {
				p += fmt.Sprintf(c.tr("f_fail_repl"), tl.replaced)
			}
			parts = append(parts, fmt.Sprintf(c.tr("f_fail_wl"), rt, tl.workloads, p))
		}
		if len(tl.missing) > 0 {
			parts = append(parts, fmt.Sprintf(c.tr("f_fail_missing"), rt, strings.Join(tl.missing, ", ")))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return []Finding{{Topic: TopicFailures, Anchor: "failures", Text: fmt.Sprintf(c.tr("f_failures"), strings.Join(parts, c.tr("f_join")))}}
}

// startupMetric is the start-up figure that compares runtimes fairly:
// runtime_ready (the runtime's own invocation → agent answering) when
// every runtime with a start-up time has it, else ready (launch →
// answering, vcbench's own preparation of netns, veth, cgroups, bundle
// and disks included).
func (c *findingCtx) startupMetric() string {
	has := false
	for k := range c.stats {
		if k.Workload != "startup" || k.Metric != "ready" {
			continue
		}
		if _, ok := c.stat(k.Runtime, "startup", bench.MetricRuntimeReady); !ok {
			return "ready"
		}
		has = true
	}
	if has {
		return bench.MetricRuntimeReady
	}
	return "ready"
}

// startup compares start-up times, leading with startupMetric and, when
// that is runtime_ready, giving ready beside each figure.
func (c *findingCtx) startup() []Finding {
	const w = "startup"
	metric := c.startupMetric()
	cts := c.runtimesOf(classContainer, w, metric)
	vms := c.runtimesOf(classVM, w, metric)
	nat, hasNative := c.stat(Native, w, metric)
	anchor := "chart-startup-ready"
	var out []Finding
	// sfig is a runtime's figure with, under runtime_ready, its ready.
	sfig := func(rt string) string {
		s, _ := c.stat(rt, w, metric)
		f := c.fig(s)
		if metric != "ready" {
			if r, ok := c.stat(rt, w, "ready"); ok {
				rf := formatValue(r.Unit, r.Median) // the n is the same as the lead figure's
				if r.HasCI() {
					rf = c.fig(r)
				}
				f += fmt.Sprintf(c.tr("f_startup_withprep"), rf)
			}
		}
		return f
	}
	intro := c.tr("f_startup_how_ready")
	if metric != "ready" {
		intro = c.tr("f_startup_how_rt")
	}
	shown := map[string]bool{}
	if len(cts) > 0 {
		ct := c.least(cts, w, metric)
		cs, _ := c.stat(ct, w, metric)
		shown[ct] = true
		switch {
		case len(vms) > 0:
			var parts []string
			for _, vm := range vms {
				vs, _ := c.stat(vm, w, metric)
				parts = append(parts, fmt.Sprintf(c.tr("f_startup_vm"), vm, sfig(vm), formatRatio(vs.Median/cs.Median), c.tcg(vm)))
				shown[vm] = true
			}
			out = append(out, Finding{Topic: TopicStartup, Anchor: anchor,
				Text: fmt.Sprintf(c.tr("f_startup_ct"), ct, sfig(ct)) + c.tr("f_join") + strings.Join(parts, c.tr("f_join")) + "."})
		case hasNative:
			shown[Native] = true
			out = append(out, Finding{Topic: TopicStartup, Anchor: anchor,
				Text: fmt.Sprintf(c.tr("f_startup_ctnat"), ct, sfig(ct), formatRatio(cs.Median/nat.Median), sfig(Native))})
		default:
			out = append(out, Finding{Topic: TopicStartup, Anchor: anchor, Text: fmt.Sprintf(c.tr("f_startup_ct"), ct, sfig(ct)) + "."})
		}
		var rest []string
		all := append(append([]string{}, cts...), vms...)
		if hasNative && !shown[Native] {
			all = append([]string{Native}, all...)
		}
		for _, r := range all {
			if shown[r] {
				continue
			}
			s, _ := c.stat(r, w, metric)
			rest = append(rest, fmt.Sprintf("%s %s (%s %s)", r, sfig(r), formatRatio(s.Median/cs.Median), ct))
		}
		if len(rest) > 0 {
			out = append(out, Finding{Topic: TopicStartup, Anchor: anchor, Text: c.tr("f_startup_rest") + strings.Join(rest, "; ") + "."})
		}
		out[0].Text = intro + out[0].Text
		return out
	}
	if len(vms) > 0 && hasNative {
		for _, vm := range vms {
			vs, _ := c.stat(vm, w, metric)
			out = append(out, Finding{Topic: TopicStartup, Anchor: anchor,
				Text: fmt.Sprintf(c.tr("f_startup_vmnat"), vm, sfig(vm), formatRatio(vs.Median/nat.Median), sfig(Native), c.tcg(vm))})
		}
		out[0].Text = intro + out[0].Text
	}
	return out
}

// memoryMetrics are the per-instance host memory figures a finding may
// use, in order of preference: PSS shares shared pages out fairly.
var memoryMetrics = []string{"host_pss", "cgroup_usage", "host_rss"}

func (c *findingCtx) memory() []Finding {
	const w = "idle"
	anchor := "chart-idle-bytes"
	// A metric speaks for the containers only when most of them have it:
	// gVisor alone has host_pss (its sentry and gofer are processes), and
	// the VM compared with it would be compared with the heaviest
	// container as if it were "a container".
	all := map[string]bool{}
	for _, metric := range memoryMetrics {
		for _, r := range c.runtimesOf(classContainer, w, metric) {
			all[r] = true
		}
	}
	containersOf := func(metric string) []string {
		cts := c.runtimesOf(classContainer, w, metric)
		if 2*len(cts) < len(all) {
			return nil
		}
		return cts
	}
	for _, metric := range memoryMetrics {
		cts := containersOf(metric)
		vms := c.runtimesOf(classVM, w, metric)
		nat, hasNative := c.stat(Native, w, metric)
		switch {
		case len(cts) > 0 && len(vms) > 0:
			ct := c.least(cts, w, metric)
			cs, _ := c.stat(ct, w, metric)
			var parts []string
			for _, vm := range vms {
				vs, _ := c.stat(vm, w, metric)
				p := fmt.Sprintf(c.tr("f_mem_vm"), vm, c.fig(vs), formatRatio(vs.Median/cs.Median), c.tcg(vm))
				p += c.vmmPart(vm)
				parts = append(parts, p)
			}
			return []Finding{{Topic: TopicMemory, Anchor: anchor,
				Text: fmt.Sprintf(c.tr("f_mem_ct"), ct, c.fig(cs), metric) + c.tr("f_join") + strings.Join(parts, c.tr("f_join")) + "."}}
		case len(cts) > 0 && hasNative:
			ct := c.least(cts, w, metric)
			cs, _ := c.stat(ct, w, metric)
			return []Finding{{Topic: TopicMemory, Anchor: anchor,
				Text: fmt.Sprintf(c.tr("f_mem_ctnat"), ct, c.fig(cs), metric, formatRatio(cs.Median/nat.Median), c.fig(nat))}}
		case len(vms) > 0 && hasNative:
			vs, _ := c.stat(vms[0], w, metric)
			out := []Finding{{Topic: TopicMemory, Anchor: anchor,
				Text: strings.TrimSuffix(fmt.Sprintf(c.tr("f_mem_vmnat"), vms[0], c.fig(vs), metric, formatRatio(vs.Median/nat.Median), c.fig(nat), c.tcg(vms[0])), ".") + c.vmmPart(vms[0]) + "."}}
			// The containers, by the figure most of them have (the
			// memory their cgroup was charged), which neither native
			// nor the VM has: no ratio.
			for _, cm := range memoryMetrics {
				if cts := containersOf(cm); len(cts) > 0 {
					lo, hi := c.least(cts, w, cm), cts[0]
					for _, r := range cts {
						if a, b := c.statOK(r, w, cm), c.statOK(hi, w, cm); a.Median > b.Median {
							hi = r
						}
					}
					out = append(out, Finding{Topic: TopicMemory, Anchor: anchor,
						Text: fmt.Sprintf(c.tr("f_mem_ctonly"), lo, c.fig(c.statOK(lo, w, cm)), cm, hi, c.fig(c.statOK(hi, w, cm)))})
					break
				}
			}
			return out
		}
	}
	return nil
}

// statOK is stat for a key known to be there.
func (c *findingCtx) statOK(runtime, workload, metric string) Stat {
	s, _ := c.stat(runtime, workload, metric)
	return s
}

// vmmPart is ", of which QEMU itself … (metric)" for a VM that has
// host_vmm_pss (or host_overhead), else "".
func (c *findingCtx) vmmPart(vm string) string {
	if o, ok := c.stat(vm, "idle", "host_vmm_pss"); ok {
		return fmt.Sprintf(c.tr("f_mem_vmm"), c.fig(o), "host_vmm_pss")
	}
	if o, ok := c.stat(vm, "idle", "host_overhead"); ok {
		return fmt.Sprintf(c.tr("f_mem_vmm"), c.fig(o), "host_overhead")
	}
	return ""
}

// throughput writes one finding per workload family: each runtime's
// performance relative to native (geometric mean over the workload's
// metrics, > 1 better), "no significant difference" where no metric's
// Mann–Whitney test says otherwise.
func (c *findingCtx) throughput() []Finding {
	type acc struct {
		logSum float64
		n      int
		sig    bool
		// untestable: too few trials for the test to ever reach Alpha.
		untestable bool
		metrics    map[string]bool
	}
	byW := map[string]map[string]*acc{}
	var workloads []string
	for _, r := range c.m.Ratios {
		if r.Label != c.label || r.Workload == "startup" || r.Workload == "idle" || r.Workload == "guest" ||
			r.Metric == "host_cpu_seconds" || isHostMemory(r.Metric) || !(r.Relative > 0) || math.IsInf(r.Relative, 0) {
			continue
		}
		if byW[r.Workload] == nil {
			byW[r.Workload] = map[string]*acc{}
			workloads = append(workloads, r.Workload)
		}
		a := byW[r.Workload][r.Runtime]
		if a == nil {
			a = &acc{metrics: map[string]bool{}}
			byW[r.Workload][r.Runtime] = a
		}
		a.logSum += math.Log(r.Relative)
		a.n++
		a.sig = a.sig || r.Cmp.Significant
		a.untestable = a.untestable || !r.Cmp.Significant && minUTestP(r.Cmp.N1, r.Cmp.N2) > Alpha
		a.metrics[r.Metric] = true
	}
	var out []Finding
	for _, w := range workloads {
		var rts []string
		nMetrics := 0
		for rt, a := range byW[w] {
			rts = append(rts, rt)
			nMetrics = max(nMetrics, len(a.metrics))
		}
		sortRuntimes(rts)
		var parts []string
		for _, rt := range rts {
			a := byW[w][rt]
			p := fmt.Sprintf("%s %s", rt, formatRatio(math.Exp(a.logSum/float64(a.n))))
			switch {
			case a.sig:
			case a.untestable:
				p += c.tr("f_untestable")
			default:
				p += c.tr("f_nodiff")
			}
			parts = append(parts, p+c.tcg(rt))
		}
		head := ""
		var unit workload.Unit
		for _, s := range c.m.Stats {
			if s.Label == c.label && s.Runtime == Native && s.Workload == w && s.N > 0 && s.Metric != "host_cpu_seconds" && !isHostMemory(s.Metric) {
				head = fmt.Sprintf(c.tr("f_tp_native"), s.Metric, c.fig(s))
				unit = s.Unit
				break
			}
		}
		how := fmt.Sprintf(c.tr("f_tp_geo"), nMetrics)
		if nMetrics == 1 {
			how = c.tr("f_tp_one")
		}
		out = append(out, Finding{Topic: TopicThroughput, Anchor: c.chartAnchor(w, unit),
			Text: fmt.Sprintf(c.tr("f_tp"), w, how, strings.Join(parts, "; ")) + head})
	}
	return out
}

// minUTestP is the smallest two-sided p-value a Mann–Whitney U test of
// samples of n1 and n2 values can reach (no ties): 2 / C(n1+n2, n1).
// Above Alpha, "no significant difference" would only mean "too few trials".
func minUTestP(n1, n2 int) float64 {
	if n1 <= 0 || n2 <= 0 {
		return 1
	}
	c := 1.0
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return math.Min(1, 2/c)
}

// chartAnchor is the id of the workload's chart of unit, or of the
// workload's section when it has no such chart.
func (c *findingCtx) chartAnchor(wl string, unit workload.Unit) string {
	id := wl + "-" + shortUnit(unit)
	for _, f := range c.m.Families {
		if f.ID == id {
			return "chart-" + id
		}
	}
	return "wl-" + shortUnit(workload.Unit(wl))
}

func (c *findingCtx) density() []Finding {
	var parts []string
	var host float64
	for i := range c.m.Density {
		d := &c.m.Density[i]
		if d.Label != c.label {
			continue
		}
		last := d.Last()
		cost := d.PerInstanceCost()
		if last == nil || !(cost > 0) {
			continue
		}
		if host == 0 {
			host = d.HostMemBytes
			if host == 0 {
				host = DensityHostSizes[0]
			}
		}
		n, ok := fitsIn(host, cost)
		if !ok {
			continue
		}
		src := last.MemSource
		if src == "" && d.Info != nil {
			src = d.Info.MemoryMetric
		}
		parts = append(parts, fmt.Sprintf(c.tr("f_density_part"), formatCount(n), d.Runtime, formatValue("bytes", cost), last.K, src, c.tcg(d.Runtime)))
	}
	if len(parts) == 0 {
		return nil
	}
	return []Finding{{Topic: TopicDensity, Anchor: "density",
		Text: fmt.Sprintf(c.tr("f_density"), strings.Join(parts, c.tr("f_or")), formatHostSize(c.m.Lang, host, host == float64(c.env.Info.Host.MemBytes)))}}
}

// views returns the first /info of each runtime of this run by class.
func (c *findingCtx) views() (native *proto.Info, byClass map[string][]InstanceView) {
	byClass = map[string][]InstanceView{}
	for i := range c.m.Views {
		v := c.m.Views[i]
		if v.Label != c.label || strings.HasPrefix(v.Info.Hostname, "(unreadable") {
			continue
		}
		cl := c.class(v.Runtime)
		if _, ok := c.kind[v.Runtime]; !ok {
			cl = runtimeClass(v.Runtime)
		}
		if cl == classNative && native == nil {
			native = &c.m.Views[i].Info
		}
		byClass[cl] = append(byClass[cl], v)
	}
	return native, byClass
}

// hostRelease is the host's kernel release: what a native agent saw, else
// run.json's host kernel without the machine name vcbench appends.
func (c *findingCtx) hostRelease(native *proto.Info) string {
	if native != nil && native.KernelRelease != "" {
		return native.KernelRelease
	}
	return hostKernelRelease(c.env.Info.Host.Kernel)
}

// hostKernelRelease is the release part of run.json's host kernel
// ("6.18.44-fc x86_64" → "6.18.44-fc").
func hostKernelRelease(k string) string {
	if f := strings.Fields(k); len(f) > 0 {
		return f[0]
	}
	return ""
}

func firstPerRuntime(vs []InstanceView) []InstanceView {
	var out []InstanceView
	seen := map[string]bool{}
	for _, v := range vs {
		if !seen[v.Runtime] {
			seen[v.Runtime] = true
			out = append(out, v)
		}
	}
	return out
}

func (c *findingCtx) kernel() []Finding {
	native, by := c.views()
	host := c.hostRelease(native)
	if host == "" {
		return nil
	}
	var parts []string
	var own, shared, other []string
	ownRel := ""
	for _, v := range firstPerRuntime(by[classVM]) {
		if v.Info.KernelRelease != "" && v.Info.KernelRelease != host {
			own = append(own, v.Runtime)
			if ownRel == "" {
				ownRel = v.Info.KernelRelease
			}
		}
	}
	if len(own) > 0 {
		parts = append(parts, fmt.Sprintf(c.tr("f_kernel_vm"), strings.Join(own, ", "), ownRel, host))
	}
	for _, v := range firstPerRuntime(by[classContainer]) {
		switch v.Info.KernelRelease {
		case "":
		case host:
			shared = append(shared, v.Runtime)
		default:
			other = append(other, fmt.Sprintf(c.tr("f_kernel_ctown"), v.Runtime, v.Info.KernelRelease))
		}
	}
	if len(shared) > 0 {
		parts = append(parts, fmt.Sprintf(c.tr("f_kernel_ct"), strings.Join(shared, ", "), host))
	}
	parts = append(parts, other...)
	if len(parts) == 0 {
		return nil
	}
	return []Finding{{Topic: TopicKernel, Anchor: "views", Text: strings.Join(parts, " ")}}
}

func (c *findingCtx) isolation() []Finding {
	native, by := c.views()
	cts := by[classContainer]
	if len(cts) == 0 {
		return nil
	}
	var parts []string
	// PIDs: every container saw fewer processes than the host has.
	lo, hi := math.MaxInt, 0
	ownPIDs := true
	for _, v := range cts {
		n := v.Info.VisiblePIDs
		lo, hi = min(lo, n), max(hi, n)
		if n <= 0 || native != nil && n >= native.VisiblePIDs {
			ownPIDs = false
		}
	}
	if ownPIDs {
		r := fmt.Sprint(lo)
		if hi != lo {
			r = fmt.Sprintf("%d–%d", lo, hi)
		}
		p := fmt.Sprintf(c.tr("f_iso_pids"), r)
		if native != nil {
			p = fmt.Sprintf(c.tr("f_iso_pidsnat"), r, native.VisiblePIDs)
		}
		parts = append(parts, p)
	}
	hostName := c.env.Info.Host.Hostname
	if native != nil && native.Hostname != "" {
		hostName = native.Hostname
	}
	if hostName != "" {
		var names []string
		own := true
		for _, v := range cts {
			if v.Info.Hostname == "" || v.Info.Hostname == hostName {
				own = false
			}
			if !contains(names, v.Info.Hostname) {
				names = append(names, v.Info.Hostname)
			}
		}
		if own {
			parts = append(parts, fmt.Sprintf(c.tr("f_iso_host"), shortList(names, 3), hostName))
		}
	}
	if native != nil && len(native.Interfaces) > 0 {
		hostIfs := ifaceNames(native.Interfaces)
		own := true
		var seen []string
		for _, v := range cts {
			ifs := ifaceNames(v.Info.Interfaces)
			if len(v.Info.Interfaces) == 0 || ifs == hostIfs {
				own = false
			}
			if !contains(seen, ifs) {
				seen = append(seen, ifs)
			}
		}
		if own {
			parts = append(parts, fmt.Sprintf(c.tr("f_iso_ifs"), strings.Join(seen, "; "), hostIfs))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	var rts []string
	for _, v := range firstPerRuntime(cts) {
		rts = append(rts, v.Runtime)
	}
	return []Finding{{Topic: TopicIsolation, Anchor: "views",
		Text: fmt.Sprintf(c.tr("f_iso"), strings.Join(rts, ", "), len(cts)) + strings.Join(parts, c.tr("f_join")) + "."}}
}

func ifaceNames(ifs []proto.Interface) string {
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return strings.Join(names, ", ")
}

// shortList joins the first n items and says how many more there are.
func shortList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", … (%d)", len(items))
}
