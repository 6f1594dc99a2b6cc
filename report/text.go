package report

// Languages a report can be written in.
const (
	LangEnglish = "en"
	LangKorean  = "ko"
)

// msg holds one piece of report text in every language.
type msg struct{ en, ko string }

func (m msg) in(lang string) string {
	if lang == LangKorean && m.ko != "" {
		return m.ko
	}
	return m.en
}

// ui is the fixed wording of the report.
var ui = map[string]msg{
	"findings":    {"Findings", "핵심 결과"},
	"nofindings":  {"This run measured nothing a finding can be drawn from.", "이 실행에는 결과를 끌어낼 측정값이 없습니다."},
	"failuressec": {"Failures", "실패"},
	"failureshow": {
		"Each failed trial, failed workload and skipped runtime, from run.json, and the workloads a runtime has no figure of at all: their figures are missing from the tables and charts below.",
		"run.json에 기록된 실패한 시행, 실패한 워크로드, 건너뛴 런타임, 그리고 수치가 하나도 없는 워크로드입니다. 이들의 수치는 아래 표와 차트에 없습니다.",
	},
	"trial":      {"Trial", "시행"},
	"trialword":  {"trial", "시행"},
	"cause":      {"Cause", "원인"},
	"alltrials":  {"all", "전체"},
	"nofont":     {"Charts are in English: %v (install Debian's fonts-nanum).", "차트는 영어로 그렸습니다: %v (데비안 fonts-nanum 패키지를 설치하세요)."},
	"hist_title": {"vcbench history", "vcbench 추이"},
	"hist_intro": {
		"Every run under this directory, grouped by scenario and host setup (runs whose scenario text or host fingerprint differ are not comparable and form groups of their own). Each chart follows one figure over the runs: the median of each run with its 95% interval. A ring marks a change that vcbench compare calls between a run and the one before it (p < α and beyond the noise floor); the table lists them.",
		"이 디렉터리 아래의 모든 실행을 시나리오와 호스트 설정별로 묶었습니다(시나리오 내용이나 호스트 지문이 다른 실행은 비교할 수 없어 따로 묶임). 각 차트는 한 수치를 실행에 따라 보여 줍니다: 실행마다 중앙값과 95% 신뢰구간. 고리는 vcbench compare가 직전 실행 대비 변화로 판정하는 곳(p < α이고 잡음 하한을 넘음)이며, 표에 모아 두었습니다.",
	},
	"hist_group":          {"%s: %d run(s) on %s", "%s: %[3]s에서 실행 %[2]d회"},
	"hist_before":         {"Previous run", "직전 실행"},
	"hist_after":          {"This run", "이 실행"},
	"hist_delta":          {"Change (compare)", "변화 (compare)"},
	"hist_worse":          {"worse", "나빠짐"},
	"hist_better":         {"better", "좋아짐"},
	"hist_nochange":       {"No change between consecutive runs is called.", "연속한 실행 사이에 판정된 변화가 없습니다."},
	"missingcause":        {"no figure of this workload in any trial", "어느 시행에서도 이 워크로드의 수치가 없음"},
	"firstword":           {"first", "첫 번째"},
	"replaced":            {"%s was replaced by a fresh instance for the trial's remaining workloads", "시행의 남은 워크로드는 %s 대신 새 인스턴스에서 실행됨"},
	"rtwarning":           {"%s on %s: %s", "%[2]s의 %[1]s: %[3]s"},
	"f_fail_repl":         {"; %d time(s) the instance was replaced by a fresh one", "; 인스턴스를 새것으로 %d번 교체"},
	"f_fail_missing":      {"%s has no figure at all of %s (every trial failed)", "%s에는 %s의 수치가 하나도 없습니다(모든 시행 실패)"},
	"allworkloads":        {"all", "전체"},
	"skippedby":           {"skipped", "건너뜀"},
	"failedby":            {"failed", "실패"},
	"notmeasured":         {"not measured: %s reports no such figure", "측정 안 됨: %s에는 이 수치가 없음"},
	"wlwarning":           {"%s on %s (trial %s): %s", "%[2]s의 %[1]s (시행 %[3]s): %[4]s"},
	"details":             {"Details by workload", "워크로드별 세부 결과"},
	"dashnote":            {"— : no figure; hover over a cell (or see the notes under the table) for why.", "— : 수치 없음. 칸 위에 마우스를 올리면(또는 표 아래 주석에서) 이유가 보입니다."},
	"tip_accel":           {"no accelerator: not a VM", "가속기 없음: VM이 아님"},
	"tip_vcpus":           {"no vCPU count: it runs on the host's CPUs", "vCPU 수 없음: 호스트 CPU에서 그대로 실행"},
	"tip_mem":             {"no memory size or limit set", "메모리 크기나 한도를 정하지 않음"},
	"tip_settings":        {"no settings recorded in run.json", "run.json에 기록된 설정 없음"},
	"tip_noerr":           {"none: nothing was skipped and no trial failed", "없음: 건너뛴 것도 실패한 시행도 없음"},
	"tip_unrecorded":      {"not recorded in run.json", "run.json에 기록되지 않음"},
	"hostcpu":             {"Host CPU time across workloads", "워크로드별 호스트 CPU 시간"},
	"f_join":              {"; ", ", "},
	"f_or":                {" or ", " 또는 "},
	"f_tcg":               {" (TCG software emulation)", " (TCG 소프트웨어 에뮬레이션)"},
	"f_noci":              {" (n=%d, no 95%% interval)", " (n=%d, 95%% 구간 없음)"},
	"f_failures":          {"%s. The figures below leave them out (see Failures).", "%s. 아래 수치에는 빠져 있습니다(실패 절 참고)."},
	"f_fail_skip":         {"%s was skipped (%s)", "%s는 건너뛰었습니다(%s)"},
	"f_fail_trials":       {"%[2]d trial(s) of %[1]s failed (first: %[3]s)", "%[1]s의 시행 %[2]d회가 실패했습니다(첫 번째: %[3]s)"},
	"f_fail_wl":           {"%[2]d workload run(s) of %[1]s failed (first: %[3]s)", "%[1]s의 워크로드 실행 %[2]d건이 실패했습니다(첫 번째: %[3]s)"},
	"f_startup_ct":        {"A container (%s) was ready in %s", "컨테이너(%s)는 %s 만에 준비되었고"},
	"f_startup_vm":        {"the VM (%s) in %s, %s longer%s", "VM(%s)은 %s로 %s 더 오래 걸렸습니다%s"},
	"f_startup_ctnat":     {"A container (%s) was ready in %s, %s as long as a native process (%s).", "컨테이너(%s)는 %s 만에 준비되어 네이티브 프로세스(%[4]s)의 %[3]s였습니다."},
	"f_startup_vmnat":     {"The VM (%s) was ready in %s, %s longer than a native process (%s)%s.", "VM(%s)은 %s 만에 준비되어 네이티브 프로세스(%[4]s)보다 %[3]s 오래 걸렸습니다%[5]s."},
	"f_startup_how_rt":    {"Start-up from the runtime's own invocation to the agent answering (runtime_ready: vcbench's preparation of network, cgroups and disks excluded, so every runtime is timed alike; ready, launch → answering with that preparation, in brackets): ", "런타임 자체 호출부터 에이전트 응답까지의 시작 시간(runtime_ready: vcbench의 네트워크·cgroup·디스크 준비를 빼서 모든 런타임을 같은 기준으로 잼. 괄호 안은 그 준비를 포함한 실행 → 응답 시간 ready): "},
	"f_startup_how_ready": {"Start-up from launch to the agent answering (ready, vcbench's own preparation included: not every runtime reports runtime_ready): ", "실행부터 에이전트 응답까지의 시작 시간(ready, vcbench의 준비 포함: runtime_ready가 없는 런타임이 있음): "},
	"f_startup_withprep":  {" (ready %s)", " (ready %s)"},
	"f_startup_rest":      {"Start-up of the other runtimes: ", "다른 런타임의 시작 시간: "},
	"f_mem_ct":            {"At idle, a container (%s) cost the host %s of memory (%s)", "유휴 상태에서 컨테이너(%s)는 호스트 메모리 %s를 썼고(%s)"},
	"f_mem_vm":            {"the VM (%s) %s, %s as much%s", "VM(%s)은 %s로 %s였습니다%s"},
	"f_mem_vmm":           {", of which QEMU itself, beyond the guest's RAM, %s (%s)", " (게스트 RAM을 뺀 QEMU 자체: %s, %s)"},
	"f_mem_ctonly":        {"The containers' own memory at idle (%[3]s, which native and the VM do not have): from %[2]s (%[1]s) to %[5]s (%[4]s).", "유휴 상태 컨테이너 자체 메모리(%[3]s, 네이티브와 VM에는 없는 값): %[2]s(%[1]s)부터 %[5]s(%[4]s)까지입니다."},
	"f_mem_ctnat":         {"At idle, a container (%s) cost the host %s of memory (%s), %s as much as a native process (%s).", "유휴 상태에서 컨테이너(%s)는 호스트 메모리 %s를 썼습니다(%s). 네이티브 프로세스(%[5]s)의 %[4]s입니다."},
	"f_mem_vmnat":         {"At idle, the VM (%s) cost the host %s of memory (%s), %s as much as a native process (%s)%s.", "유휴 상태에서 VM(%s)은 호스트 메모리 %s를 썼습니다(%s). 네이티브 프로세스(%[5]s)의 %[4]s입니다%[6]s."},
	"f_untestable":        {" (n too small to test)", " (검정하기엔 n이 작음)"},
	"f_nodiff":            {" (no significant difference)", " (유의한 차이 없음)"},
	"f_tp_native":         {" Native %s: %s.", " 네이티브 %s: %s."},
	"f_tp_geo":            {"geometric mean of %d metrics", "지표 %d개의 기하 평균"},
	"f_tp_one":            {"one metric", "지표 1개"},
	"f_tp":                {"%s relative to native (%s; > 1 is better than native): %s.", "%s, 네이티브 대비 (%s, 1보다 크면 네이티브보다 좋음): %s."},
	"f_density_part":      {"%s instances of %s (%s each at k=%d, %s)%s", "%[2]s 인스턴스 %[1]s개 (k=%[4]d에서 하나당 %[3]s, %[5]s)%[6]s"},
	"f_density":           {"By memory alone, %s fit in %s.", "메모리만 따지면 %[2]s에 %[1]s가 들어갑니다."},
	"f_kernel_vm":         {"The VM (%s) booted its own kernel, %s, while the host runs %s.", "VM(%s)은 자기 커널 %s를 부팅했고, 호스트는 %s를 돌립니다."},
	"f_kernel_ct":         {"The containers (%s) reported the host's release, %s: they share the host's kernel.", "컨테이너(%s)는 호스트와 같은 릴리스 %s를 보고했습니다. 호스트 커널을 공유하기 때문입니다."},
	"f_kernel_ctown":      {"%s reported a kernel of its own, %s, not the host's.", "%s는 호스트의 것이 아닌 자기 커널 %s를 보고했습니다."},
	"f_iso":               {"Each container (%s; %d instances seen) had its own view of the machine: ", "컨테이너(%s, 인스턴스 %d개)는 저마다 자기 시야를 가졌습니다: "},
	"f_iso_pids":          {"its own PIDs (it saw %s process(es))", "자기 PID 공간(보이는 프로세스 %s개)"},
	"f_iso_pidsnat":       {"its own PIDs (it saw %s process(es); natively %d are visible)", "자기 PID 공간(보이는 프로세스 %s개, 네이티브에서는 %d개)"},
	"f_iso_host":          {"its own hostname (%s; the host is %s)", "자기 호스트 이름(%s, 호스트는 %s)"},
	"f_iso_ifs":           {"its own network interfaces (%s; natively %s)", "자기 네트워크 인터페이스(%s, 네이티브는 %s)"},
	"title":               {"vcbench report", "vcbench 보고서"},
	"env":                 {"Environment", "실행 환경"},
	"summary":             {"Summary: median and 95% confidence interval", "요약: 중앙값과 95% 신뢰구간"},
	"ratios":              {"Relative to native", "네이티브 대비 성능"},
	"charts":              {"Charts", "차트"},
	"views":               {"What each instance sees", "각 인스턴스가 보는 세계"},
	"warnings":            {"Warnings", "경고"},
	"run":                 {"Run", "실행"},
	"status":              {"Status", "상태"},
	"scenario":            {"Scenario", "시나리오"},
	"version":             {"vcbench version", "vcbench 버전"},
	"host":                {"Host", "호스트"},
	"cpu":                 {"CPU", "CPU"},
	"cores":               {"Cores", "코어 수"},
	"memory":              {"Memory", "메모리"},
	"kernel":              {"Kernel", "커널"},
	"qemu":                {"QEMU", "QEMU"},
	"started":             {"Started", "시작 시각"},
	"trials":              {"Trials (warm-up)", "시행 횟수 (워밍업)"},
	"densitysweep":        {"none: a density sweep (one measurement per step)", "없음: 밀도 측정 (단계마다 한 번 측정)"},
	"samples":             {"Samples", "샘플 수"},
	"runtime":             {"Runtime", "런타임"},
	"kind":                {"Kind", "종류"},
	"accel":               {"Accelerator", "가속기"},
	"vcpus":               {"vCPUs", "vCPU"},
	"settings":            {"Settings", "설정"},
	"skipped":             {"Skipped / errors", "건너뜀 / 오류"},
	"workload":            {"Workload", "워크로드"},
	"metric":              {"Metric", "지표"},
	"better":              {"Better", "좋은 방향"},
	"median":              {"Median", "중앙값"},
	"ci":                  {"95% CI", "95% 신뢰구간"},
	"n":                   {"n", "n"},
	"native":              {"Native", "네이티브"},
	"raw":                 {"Raw ratio (runtime ÷ native)", "원래 비율 (런타임 ÷ 네이티브)"},
	"relative":            {"Relative performance (>1 = better than native)", "상대 성능 (>1 = 네이티브보다 좋음)"},
	"signif":              {"Significance (Mann–Whitney U)", "유의성 (Mann–Whitney U)"},
	"instance":            {"Instance", "인스턴스"},
	"hostname":            {"Hostname", "호스트 이름"},
	"pids":                {"Visible PIDs", "보이는 PID 수"},
	"ifaces":              {"Network interfaces", "네트워크 인터페이스"},
	"memtotal":            {"Memory (MemTotal)", "메모리 (MemTotal)"},
	"cpus":                {"CPUs", "CPU 수"},
	"rootfs":              {"Root filesystem", "루트 파일시스템"},
	"uptime":              {"Uptime", "가동 시간"},
	"higher":              {"↑ higher", "↑ 클수록"},
	"lower":               {"↓ lower", "↓ 작을수록"},
	"sig":                 {"significant", "유의함"},
	"notsig":              {"~ not significant", "~ 유의하지 않음"},
	"noviews":             {"No raw/info-*.json files in this run: nothing to show.", "이 실행에는 raw/info-*.json 파일이 없어 보여줄 것이 없습니다."},
	"nonative":            {"No ratios: this run needs both native samples and samples of another runtime for the same metrics.", "비율 없음: 같은 지표에 대해 네이티브 샘플과 다른 런타임의 샘플이 모두 있어야 합니다."},
	"nosamples":           {"This run has no samples.", "이 실행에는 샘플이 없습니다."},
	"nodata":              {"no samples", "샘플 없음"},
	"instances":           {"instances recorded", "기록된 인스턴스"},
	"generated":           {"Generated by vcbench from", "vcbench가 다음 실행에서 생성함:"},
	"torn":                {"torn last line(s) of samples.jsonl skipped", "samples.jsonl의 잘린 마지막 줄 건너뜀"},
	"notcomplete":         {"This run did not complete", "이 실행은 정상적으로 끝나지 않았습니다"},
	"notcomplete2":        {"Figures below cover only the trials that finished before it stopped.", "아래 수치는 멈추기 전에 끝난 시행만 포함합니다."},
	"tcg": {
		"Software emulation: the VM figures of %s were measured under QEMU TCG, which translates every guest instruction in software. They are not representative of a VM with hardware virtualisation (KVM): expect KVM to boot in a fraction of the time and to run CPU and memory work near native speed.",
		"소프트웨어 에뮬레이션: %s 의 VM 수치는 QEMU TCG에서 측정되었습니다. TCG는 게스트의 모든 명령어를 소프트웨어로 번역하므로, 하드웨어 가상화(KVM)를 쓰는 VM을 대표하지 않습니다. KVM이라면 부팅은 훨씬 빠르고 CPU·메모리 작업은 네이티브에 가깝습니다.",
	},
	"ratiohow": {
		"Each cell divides the runtime's median by native's median for the same metric. \"Relative performance\" turns that around where lower is better, so that above 1 always means better than native and below 1 worse (Felter et al. 2015 report containers ≈ 1 and KVM well below 1 on random I/O). ✱ marks a difference that is significant at α = 0.05 (Mann–Whitney U); ~ means the samples cannot tell the two apart.",
		"각 칸은 같은 지표에서 런타임의 중앙값을 네이티브의 중앙값으로 나눈 값입니다. \"상대 성능\"은 작을수록 좋은 지표에서는 역수를 취해, 1보다 크면 항상 네이티브보다 좋고 1보다 작으면 나쁘다는 뜻이 되게 했습니다 (Felter 외 2015: 컨테이너 ≈ 1, KVM은 랜덤 I/O에서 1보다 훨씬 작음). ✱는 α = 0.05에서 유의한 차이(Mann–Whitney U), ~는 두 표본을 구별할 수 없다는 뜻입니다.",
	},
	"summaryhow": {
		"Median of the trials with a distribution-free 95% confidence interval (benchmath). \"∞\" means too few trials for an interval at that level: at least 6 are needed.",
		"시행들의 중앙값과 분포 가정 없는 95% 신뢰구간(benchmath)입니다. \"∞\"는 그 수준의 구간을 내기에 시행이 너무 적다는 뜻입니다(최소 6회 필요).",
	},
	"viewshow": {
		"Each row is the agent's own /info answer from inside one instance. Containers report the host's kernel release because they share the host kernel and only get their own view (namespaces) of processes, hostname, network and disk; a VM reports the release of the kernel it booted itself, on its own emulated hardware.",
		"각 행은 인스턴스 안의 에이전트가 직접 답한 /info 결과입니다. 컨테이너는 호스트 커널을 공유하므로 호스트와 같은 커널 릴리스를 보고하고, 프로세스·호스트 이름·네트워크·디스크에 대해서만 자기만의 시야(네임스페이스)를 가집니다. VM은 에뮬레이션된 자기 하드웨어 위에서 스스로 부팅한 커널의 릴리스를 보고합니다.",
	},
	"density": {"Density: how many instances fit on a host", "밀도: 한 호스트에 인스턴스가 몇 개 들어가는가"},
	"d_nostats": {
		"This run is a density sweep: its samples belong to different instance counts, so they are shown step by step in the density section below instead of as medians here.",
		"이 실행은 밀도 측정입니다. 샘플마다 인스턴스 수가 달라 여기서 중앙값으로 묶지 않고, 아래 밀도 절에서 단계별로 보여 줍니다.",
	},
	"d_noratios": {"A density sweep runs no workload to compare with native: nothing to show here.", "밀도 측정은 네이티브와 비교할 워크로드를 돌리지 않으므로 여기에는 보여 줄 것이 없습니다."},
	"d_intro": {
		"A density sweep starts instances step by step (k = 1, 2, 4, …) and keeps them all running, measuring how long the k-th instance takes to be ready, how much memory each instance costs the host and how busy the host's CPUs are. Containers are cheap because they share the host's kernel: each one adds only its own processes plus a few page tables, its namespaces and a cgroup. A VM is expensive because it carries a whole machine: its guest RAM becomes host memory as soon as the guest touches it, it boots and keeps its own kernel (with its own page cache), and QEMU emulates its devices.",
		"밀도 측정은 인스턴스를 단계별로(k = 1, 2, 4, …) 늘려 가며 모두 켜 둔 채, k번째 인스턴스가 준비되기까지 걸린 시간, 인스턴스 하나가 호스트에 드는 메모리, 호스트 CPU가 얼마나 바쁜지를 잽니다. 컨테이너가 싼 이유는 호스트 커널을 공유하기 때문입니다. 컨테이너 하나가 더하는 것은 자기 프로세스와 약간의 페이지 테이블, 네임스페이스, cgroup 정도입니다. VM이 비싼 이유는 기계 한 대를 통째로 지니기 때문입니다. 게스트 RAM은 게스트가 건드리는 순간 호스트 메모리가 되고, 자기 커널(과 자기 페이지 캐시)을 부팅해 유지하며, QEMU가 장치를 에뮬레이션합니다.",
	},
	"d_ksmexpl": {
		"KSM (kernel same-page merging) is a Linux feature that scans memory for pages with identical contents — the same guest kernel loaded in many VMs, for example — and keeps one copy-on-write copy of each. It can shrink the memory of many similar VMs a lot, at the price of CPU time for scanning and of a timing side channel between tenants, which is why many clouds leave it off.",
		"KSM(커널 동일 페이지 병합)은 내용이 똑같은 메모리 페이지(예: 여러 VM에 올라간 같은 게스트 커널)를 찾아 하나의 쓰기 시 복사(copy-on-write) 사본으로 합치는 리눅스 기능입니다. 비슷한 VM이 많으면 메모리를 크게 줄일 수 있지만, 스캔에 CPU 시간이 들고 테넌트 사이에 타이밍 부채널이 생길 수 있어 많은 클라우드가 꺼 둡니다.",
	},
	"d_thishost": {"this host", "이 호스트"},
	"d_steps":    {"steps", "단계"},
	"d_reached":  {"Instances reached", "도달한 인스턴스 수"},
	"d_stop":     {"Why the sweep stopped", "측정이 멈춘 이유"},
	"d_ready":    {"Startup of the first → last instance", "첫 인스턴스 → 마지막 인스턴스의 시작 시간"},
	"d_mean":     {"Memory per instance at k=%s (mean %s)", "k=%s에서 인스턴스당 메모리 (%s 평균)"},
	"d_usedk":    {"Host memory used ÷ k at k=%s", "k=%s에서 호스트 사용 메모리 ÷ k"},
	"d_marginal": {"Marginal cost (slope of host memory used, k=%d → %d)", "한계 비용 (호스트 사용 메모리의 기울기, k=%d → %d)"},
	"d_noise":    {"within measurement noise", "측정 잡음 범위 안"},
	"d_vmm":      {"VMM's own memory at k=%s (median %s)", "k=%s에서 VMM 자체 메모리 (%s 중앙값)"},
	"d_vsfc":     {"%s Firecracker's ≤ 5 MiB", "Firecracker의 ≤ 5 MiB의 %s"},
	"d_cpu":      {"Host CPU busy at k=%s", "k=%s에서 호스트 CPU 사용률"},
	"d_ksm":      {"Memory per instance at k=%s with KSM on", "k=%s에서 KSM을 켠 뒤 인스턴스당 메모리"},
	"d_dropped":  {"Page cache dropped before each reading", "측정마다 페이지 캐시 비움"},
	"d_yes":      {"yes", "예"},
	"d_no":       {"no (host memory used includes page cache changes)", "아니요 (호스트 사용 메모리에 페이지 캐시 변화가 섞임)"},
	"d_fits":     {"Fits in %s", "%s에 들어가는 수"},
	"d_fitsnote": {
		"\"Fits in B\" is floor(B ÷ %[1]s), the mean memory per instance at k=%[2]d. It assumes memory is the only limit and each instance costs what it cost at k=%[2]d here; CPU, under TCG especially, runs out sooner, and so may PIDs, disk or ports.",
		"\"B에 들어가는 수\"는 floor(B ÷ %[1]s)이며, %[1]s는 k=%[2]d에서 잰 인스턴스당 평균 메모리입니다. 메모리만이 한계이고 인스턴스 하나가 여기 k=%[2]d에서 든 만큼 든다고 가정합니다. 실제로는 CPU가(특히 TCG에서) 훨씬 먼저 바닥나고, PID·디스크·포트가 먼저 모자랄 수도 있습니다.",
	},
	"d_vmnote": {
		"%[1]s at k=%[2]d: the memory QEMU uses for itself, besides the guest's RAM, is %[3]s per VM — %[4]s Firecracker's published VMM overhead of at most 5 MiB. Firecracker stays that small by emulating only a handful of devices; QEMU brings a general-purpose machine model, firmware and many more devices.",
		"%[1]s, k=%[2]d: 게스트 RAM을 뺀 QEMU 자체 메모리는 VM 하나당 %[3]s로, Firecracker가 공개한 VMM 오버헤드(최대 5 MiB)의 %[4]s입니다. Firecracker는 장치를 몇 개만 에뮬레이션해서 그만큼 작고, QEMU는 범용 기계 모델과 펌웨어, 훨씬 많은 장치를 함께 지닙니다.",
	},
	"d_vmvsct": {
		"A whole %[1]s instance cost %[2]s here, so the memory of one VM (%[3]s) would hold about %[4]s containers.",
		"여기서 %[1]s 인스턴스 하나는 통째로 %[2]s였으니, VM 하나의 메모리(%[3]s)면 컨테이너 약 %[4]s개가 들어갑니다.",
	},
	"d_vmtcg": {
		"These VMs ran under TCG, so their figures include TCG's translated-code cache (host code QEMU generates from guest instructions), which a KVM VM does not have.",
		"이 VM들은 TCG에서 돌았으므로, 수치에 TCG의 번역 코드 캐시(QEMU가 게스트 명령어로부터 만든 호스트 코드)가 들어 있습니다. KVM VM에는 이 캐시가 없습니다.",
	},
	"d_vmaccel": {
		"run.json does not say which accelerator these VMs used; under TCG the figures include TCG's translated-code cache.",
		"run.json에는 이 VM들이 어떤 가속기를 썼는지 기록되어 있지 않습니다. TCG였다면 수치에 TCG의 번역 코드 캐시가 들어 있습니다.",
	},
	"sharedkernel": {"shares the host kernel", "호스트 커널 공유"},
	"ownkernel":    {"own kernel", "자체 커널"},
	"samekernel":   {"same as host", "호스트와 같음"},
}

// t returns the fixed text key in lang.
func t(lang, key string) string { return ui[key].in(lang) }

// explanations are the learner's notes under each chart, keyed by chart
// kind or workload.
var explanations = map[string]msg{
	overviewID: {
		"What isolation costs on this host, per runtime, at a glance: how long an instance takes to start (log scale), how much host memory one idle instance takes (log scale), and how fast the workloads ran relative to native (geometric mean of every workload metric; 1× is native speed, bars to the left are slower). Whiskers are 95% confidence intervals where there are enough trials; \"not measured\" marks a figure the runtime has not got (see Failures).",
		"이 호스트에서 격리가 치르는 비용을 런타임별로 한눈에 보여 줍니다: 인스턴스가 시작하는 데 걸리는 시간(로그 눈금), 유휴 인스턴스 하나가 쓰는 호스트 메모리(로그 눈금), 워크로드가 네이티브 대비 얼마나 빨랐는지(모든 워크로드 지표의 기하 평균, 1×가 네이티브 속도이고 왼쪽 막대는 더 느림). 수염은 시행이 충분할 때의 95% 신뢰구간이며, \"측정 안 됨\"은 그 런타임에 없는 수치입니다(실패 절 참고).",
	},
	"startup-box": {
		"Time from launch until the agent answers /healthz. Native only starts a process. A container also creates namespaces (its own PID, network, mount and hostname view) and pivots into its own root filesystem, but it reuses the host's running kernel, so it is ready in milliseconds; an OCI runtime (crun, runc) adds its own setup. A VM must start QEMU, emulate firmware and devices, and boot a whole kernel of its own before the agent runs: that boot work is why it is heavier by orders of magnitude (note the log scale).",
		"실행 시작부터 에이전트가 /healthz에 답할 때까지의 시간입니다. 네이티브는 프로세스 하나만 시작합니다. 컨테이너는 네임스페이스(자기만의 PID·네트워크·마운트·호스트 이름 시야)를 만들고 자기 루트 파일시스템으로 들어가지만, 이미 돌고 있는 호스트 커널을 그대로 쓰므로 수 밀리초면 준비됩니다. OCI 런타임(crun, runc)은 자체 준비 작업이 더해집니다. VM은 QEMU를 띄우고 펌웨어와 장치를 에뮬레이션하고 자기 커널 전체를 부팅한 뒤에야 에이전트가 뜹니다. 이 부팅 작업 때문에 몇 자릿수나 더 무겁습니다(로그 눈금에 주의).",
	},
	"startup-phases": {
		"Where startup time goes. For a VM: spawning QEMU, the monitor (QMP) answering, firmware and kernel decompression before the kernel starts, the kernel's own boot, then our agent. For a container: namespaces, then executing init and the agent — there is no kernel to boot. Each bar has its own time axis so that the short container phases stay visible.",
		"시작 시간이 어디에 쓰이는지 보여줍니다. VM은 QEMU 실행, 모니터(QMP) 응답, 커널이 시작되기 전의 펌웨어와 커널 압축 해제, 커널 자체의 부팅, 그다음 에이전트 순서입니다. 컨테이너는 네임스페이스 생성, init과 에이전트 실행뿐이며 부팅할 커널이 없습니다. 짧은 컨테이너 단계가 보이도록 막대마다 시간 축이 따로 있습니다.",
	},
	"host-cpu": {
		"CPU time the host spent on each instance. A container's processes are ordinary host processes, so the host pays only for the work itself. A VM's figure is the whole QEMU process: the guest kernel, device emulation and, under TCG, translating every guest instruction.",
		"호스트가 각 인스턴스에 쓴 CPU 시간입니다. 컨테이너의 프로세스는 평범한 호스트 프로세스라서 호스트는 작업 자체만큼만 부담합니다. VM의 수치는 QEMU 프로세스 전체로, 게스트 커널, 장치 에뮬레이션, 그리고 TCG에서는 모든 게스트 명령어의 번역까지 포함합니다.",
	},
	"host-memory": {
		"Memory the host spends per instance (PSS counts shared pages fairly). A container shares the host kernel and page cache, so it costs little more than its processes. A VM carries its own kernel, its own page cache and QEMU's device emulation: its guest RAM is host memory once touched, which is why VMs are heavy and fewer fit on a host.",
		"인스턴스 하나에 호스트가 쓰는 메모리입니다(PSS는 공유 페이지를 공평하게 나누어 셉니다). 컨테이너는 호스트 커널과 페이지 캐시를 공유하므로 자기 프로세스보다 조금 더 드는 정도입니다. VM은 자기 커널, 자기 페이지 캐시, QEMU의 장치 에뮬레이션을 함께 지니며, 게스트 RAM은 한 번 쓰이면 그대로 호스트 메모리가 됩니다. 그래서 VM은 무겁고 한 호스트에 더 적게 들어갑니다.",
	},
	"cpu": {
		"Pure computation (SHA-256) rarely leaves user mode, so the kernel is not involved: native and containers run the same instructions on the same CPU and should match. A VM with KVM runs guest code directly on the CPU and should be close too; under TCG every instruction is translated in software, which costs many times more.",
		"순수한 계산(SHA-256)은 사용자 모드를 거의 벗어나지 않아 커널이 끼어들 일이 없습니다. 네이티브와 컨테이너는 같은 CPU에서 같은 명령어를 실행하므로 같아야 합니다. KVM을 쓰는 VM도 게스트 코드를 CPU에서 직접 실행하므로 비슷해야 하지만, TCG에서는 모든 명령어를 소프트웨어로 번역하므로 몇 배나 느립니다.",
	},
	"memory": {
		"Memory bandwidth (STREAM copy/scale/add/triad). A container uses the host's page tables like any process. A VM translates addresses twice — guest virtual to guest physical to host physical (nested paging, EPT/NPT) — so TLB misses cost longer page-table walks; under TCG the software MMU costs far more.",
		"메모리 대역폭(STREAM copy/scale/add/triad)입니다. 컨테이너는 여느 프로세스처럼 호스트의 페이지 테이블을 씁니다. VM은 주소를 두 번 변환합니다 — 게스트 가상 주소 → 게스트 물리 주소 → 호스트 물리 주소(중첩 페이징, EPT/NPT). 그래서 TLB 미스 때 페이지 테이블 탐색이 길어지고, TCG에서는 소프트웨어 MMU 때문에 훨씬 더 비쌉니다.",
	},
	"syscall": {
		"A cheap system call (getppid) measures the trap into the kernel. In a container the trap goes straight into the shared host kernel, exactly as natively (seccomp filters can add a little). In a VM the call is handled by the guest's own kernel; it usually needs no exit to the hypervisor under KVM, but under TCG the trap itself is emulated.",
		"가벼운 시스템 콜(getppid)로 커널로 들어가는 트랩 비용을 잽니다. 컨테이너에서는 트랩이 공유된 호스트 커널로 곧장 들어가 네이티브와 똑같습니다(seccomp 필터가 조금 더할 수 있음). VM에서는 게스트 자기 커널이 처리합니다. KVM에서는 보통 하이퍼바이저로 나갈 필요가 없지만, TCG에서는 트랩 자체가 에뮬레이션됩니다.",
	},
	"fork": {
		"Creating processes exercises the kernel's memory management (copying page tables, faults). Containers use the host kernel, so they match native unless cgroup accounting adds cost. In a VM every new page table and page fault also goes through the second translation layer or, under TCG, the software MMU.",
		"프로세스 생성은 커널의 메모리 관리(페이지 테이블 복사, 페이지 폴트)를 많이 씁니다. 컨테이너는 호스트 커널을 쓰므로 cgroup 회계 비용이 더해지지 않는 한 네이티브와 같습니다. VM에서는 새 페이지 테이블과 페이지 폴트가 모두 두 번째 변환 계층, TCG라면 소프트웨어 MMU를 거칩니다.",
	},
	"disk": {
		"Each container has its own disk view (its own root filesystem), but its reads and writes go through the host kernel's file system and page cache directly. A VM's disk is an emulated device (virtio-blk): every request crosses from the guest kernel to QEMU and back, which is why Felter et al. measured KVM at about half the random IOPS of native.",
		"컨테이너마다 자기 디스크 시야(자기 루트 파일시스템)를 가지지만, 읽기와 쓰기는 호스트 커널의 파일시스템과 페이지 캐시를 곧바로 거칩니다. VM의 디스크는 에뮬레이션된 장치(virtio-blk)라서 요청마다 게스트 커널에서 QEMU로 갔다가 돌아와야 합니다. Felter 외 연구에서 KVM의 랜덤 IOPS가 네이티브의 절반쯤이었던 이유입니다.",
	},
	"network": {
		"Each container has its own network view (its own interfaces and IP in a network namespace), connected to the host through a veth pair: packets stay inside one kernel. A VM's network card is emulated (virtio-net through QEMU user networking or a tap): every packet crosses the guest kernel, QEMU and the host kernel, which adds latency (Felter et al.: NAT adds latency too).",
		"컨테이너마다 자기 네트워크 시야(네트워크 네임스페이스 안의 자기 인터페이스와 IP)를 가지며 veth 쌍으로 호스트와 연결됩니다. 패킷은 커널 하나 안에 머뭅니다. VM의 네트워크 카드는 에뮬레이션된 장치(QEMU 사용자 네트워킹이나 tap을 통한 virtio-net)라서 패킷마다 게스트 커널, QEMU, 호스트 커널을 모두 지나며 지연이 늘어납니다(Felter 외: NAT도 지연을 더함).",
	},
	densityStartup: {
		"Startup time of the k-th instance while the k−1 before it keep running. A flat line means instances do not slow each other down; a rising one means they compete for CPU (an idle TCG VM still burns CPU), memory or kernel locks. The Y axis is logarithmic when containers (milliseconds) and VMs (seconds) share it.",
		"앞선 k−1개가 계속 도는 동안 k번째 인스턴스가 시작하는 데 걸린 시간입니다. 선이 평평하면 인스턴스끼리 서로 느리게 하지 않는다는 뜻이고, 올라가면 CPU(TCG VM은 쉬는 동안에도 CPU를 씀), 메모리, 커널 잠금을 두고 다툰다는 뜻입니다. 컨테이너(밀리초)와 VM(초)이 한 축을 쓸 때는 Y축이 로그 눈금입니다.",
	},
	densityMemory: {
		"Solid: the mean memory per instance that vcbench reads from each instance's process (PSS) or cgroup. Dashed: how much the host's unreclaimable memory (the kernel's own counters: anonymous and shmem pages, page tables, kernel stacks, unreclaimable slab) grew since the sweep began, divided by k. Where the two agree, the per-instance accounting covers what the host pays; where the dashed line is lower, instances share pages that each per-instance figure counts in full; where it is higher, the host pays for things no instance is charged with (kernel structures, page tables). At small k the growth is within the host's background noise of a few MiB and can even be negative; on a log scale such points are left out (the tables give every number).",
		"실선은 vcbench가 인스턴스마다 프로세스(PSS)나 cgroup에서 읽은 인스턴스당 평균 메모리이고, 점선은 측정을 시작한 뒤 호스트에서 회수할 수 없는 메모리(커널 카운터: 익명·공유 메모리 페이지, 페이지 테이블, 커널 스택, 회수 불가 slab)가 늘어난 양을 k로 나눈 값입니다. 둘이 맞으면 인스턴스별 회계가 호스트가 치르는 비용을 다 담는다는 뜻입니다. 점선이 낮으면 인스턴스들이 페이지를 공유하는데 인스턴스별 수치는 그것을 통째로 센다는 뜻이고, 높으면 어느 인스턴스에도 매겨지지 않는 비용(커널 구조체, 페이지 테이블)을 호스트가 치른다는 뜻입니다. k가 작을 때는 늘어난 양이 호스트의 배경 잡음(몇 MiB) 안이라 음수가 되기도 하며, 로그 눈금에서는 그런 점을 그리지 않습니다(표에 모든 수치가 있음).",
	},
	densityCPU: {
		"Share of all host CPUs that was busy while the step's instances started and settled. Near 100 % the host is out of CPU, whatever the memory figures say; TCG VMs get there first because the host translates every guest instruction.",
		"각 단계의 인스턴스가 시작하고 자리 잡는 동안 호스트의 전체 CPU 중 바빴던 비율입니다. 100 %에 가까우면 메모리 수치가 어떻든 CPU가 바닥난 것입니다. 호스트가 게스트의 모든 명령어를 번역해야 하는 TCG VM이 가장 먼저 그렇게 됩니다.",
	},
	"other": {
		"Differences here come from the same sources as above: containers share the host kernel and only get their own view of processes, disk and network; VMs run their own kernel on emulated hardware.",
		"여기의 차이도 위와 같은 원인에서 옵니다. 컨테이너는 호스트 커널을 공유하고 프로세스·디스크·네트워크에 대한 자기 시야만 가지며, VM은 에뮬레이션된 하드웨어 위에서 자기 커널을 돌립니다.",
	},
}

// explain returns the learner's note for a chart.
func explain(lang string, f *Family) string {
	key := f.Kind
	if f.Kind == "bars" {
		key = f.Workload
		if f.hostMemory() {
			key = "host-memory"
		}
	}
	if m, ok := explanations[key]; ok {
		return m.in(lang)
	}
	return explanations["other"].in(lang)
}

// chartText is the wording inside charts: titles, axes and legends.
// Korean needs a Hangul font (see chartLookOf); without one, charts fall
// back to the English text.
var chartText = map[string]msg{
	"t_startup":      {"Startup: launch → agent ready, each runtime on its own scale", "시작 시간: 실행 → 에이전트 준비, 런타임마다 자기 눈금"},
	"t_startup_both": {"Startup: runtime_ready (runtime alone) and ready (with preparation)", "시작 시간: runtime_ready(런타임 자체 시작)와 ready(vcbench 준비 포함)"},
	"t_phases":       {"Startup phases (median time since launch)", "시작 단계 (실행 후 중앙값 시간)"},
	"t_hostcpu":      {"Host CPU time per instance, by workload", "워크로드별 인스턴스당 호스트 CPU 시간"},
	"t_hostmem_idle": {"Host memory per instance (idle, after ready)", "인스턴스당 호스트 메모리 (준비 후 유휴)"},
	"t_hostmem":      {"Host memory per instance (%s)", "인스턴스당 호스트 메모리 (%s)"},
	"t_memory":       {"%s: memory", "%s: 메모리"},
	"u_latency":      {"latency (lower is better)", "지연 시간 (작을수록 좋음)"},
	"u_throughput":   {"throughput (higher is better)", "처리량 (클수록 좋음)"},
	"u_rate":         {"rate (higher is better)", "속도 (클수록 좋음)"},
	"x_bars":         {" (bar: median, whisker: 95% CI; none where n < 6)", " (막대: 중앙값, 수염: 95% 신뢰구간, n < 6이면 없음)"},
	"x_startup":      {"%s (median %s, n=%d)", "%s (중앙값 %s, n=%d)"},
	"x_startup_both": {"%s (median: runtime_ready %s, ready %s; n=%d)", "%s (중앙값: runtime_ready %s, ready %s, n=%d)"},
	"x_phases":       {"%s since launch (ready at %s)", "실행 후 %s (%s에 준비)"},
	"logscale":       {" (log scale)", " (로그 눈금)"},
	"d_t_startup":    {"Startup time of the k-th instance (the others keep running)", "k번째 인스턴스의 시작 시간 (나머지는 계속 실행 중)"},
	"d_t_memory":     {"Memory per instance as instances are added", "인스턴스를 늘릴 때 인스턴스당 메모리"},
	"d_t_cpu":        {"Host CPU busy during each step", "단계별 호스트 CPU 사용률"},
	"d_x_kth":        {"k-th instance started (log scale)", "k번째로 시작한 인스턴스 (로그 눈금)"},
	"d_x_k":          {"k = instances running (log scale)", "k = 실행 중인 인스턴스 수 (로그 눈금)"},
	"d_y_cpu":        {"% of all host CPUs", "전체 호스트 CPU 중 %"},
	"d_l_mean":       {": mean", ": 평균"},
	"d_l_used":       {": host used ÷ k", ": 호스트 사용량 ÷ k"},
	"ov_title":       {"The cost of isolation, per runtime", "격리의 비용, 런타임별"},
	"ov_startup":     {"Start-up\n%s, log scale", "시작 시간\n%s, 로그 눈금"},
	"ov_memory":      {"Host memory per instance\n%s, log scale", "인스턴스당 호스트 메모리\n%s, 로그 눈금"},
	"ov_tp":          {"Throughput ÷ native\ngeometric mean, log scale", "처리량 ÷ 네이티브\n기하 평균, 로그 눈금"},
	"ov_tp_x":        {"×native, log scale; 1 = native", "네이티브 대비 배수, 로그 눈금, 1 = 네이티브"},
	"ov_none":        {"not measured", "측정 안 됨"},
	"h_title":        {"%s over time", "시간에 따른 %s"},
	"h_x":            {"run start (UTC)", "실행 시작 시각 (UTC)"},
	"h_called":       {"called change vs the previous run", "이전 실행 대비 판정된 변화"},
}
