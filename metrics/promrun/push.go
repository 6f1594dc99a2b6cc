package promrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"vcbench/bench"
)

// PushConfig configures a Pusher. Zero values take the defaults.
type PushConfig struct {
	URL  string // Pushgateway base URL, e.g. http://127.0.0.1:9091
	Host string // the host label (grouping key with run_id)
	// Tries is how many times one push is tried (default 3).
	Tries int
	// Budget bounds one push with all its tries and waits (default 5 s).
	Budget time.Duration
	// Backoff is the wait after the first failed try; it doubles (default 250 ms).
	Backoff time.Duration
	// Warn receives one line per push that failed every try (default io.Discard).
	Warn io.Writer
	// Health, when set, gets vcbench_push_success and vcbench_pushes_total
	// (the live exporter's registry, so a failing push shows there).
	Health prometheus.Registerer
	// Client is the HTTP client (default: one with no keep-alives).
	Client *http.Client
	// Context is the run's: the pushes after each trial end when it does
	// (Ctrl-C), instead of finishing their tries (default: never ends).
	Context context.Context
	// GiveUpAfter is how many pushes in a row may fail every try before the
	// pusher stops pushing after trials for the rest of the run, warning
	// once, so that a dead or hung gateway costs a bounded total of
	// GiveUpAfter × Budget (default 3).
	GiveUpAfter int
}

// Validate checks the URL and host and fills the defaults.
func (c *PushConfig) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("push gateway URL %q: %w", c.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("push gateway URL %q: want http://host:port", c.URL)
	}
	if c.Host == "" {
		return errors.New("push gateway: empty host label")
	}
	if c.Tries <= 0 {
		c.Tries = 3
	}
	if c.Budget <= 0 {
		c.Budget = 5 * time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = 250 * time.Millisecond
	}
	if c.Warn == nil {
		c.Warn = io.Discard
	}
	if c.Client == nil {
		c.Client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	if c.Context == nil {
		c.Context = context.Background()
	}
	if c.GiveUpAfter <= 0 {
		c.GiveUpAfter = 3
	}
	return nil
}

// Pusher pushes a run's samples to a Pushgateway, grouped by run_id and
// host: after every measured trial it replaces the group with every sample
// of the run so far, one vcbench_trial_value series per (runtime, workload,
// metric, trial), so a failed push is made good by the next one. A push that
// fails every try warns and the run goes on. It is a bench.Observer.
type Pusher struct {
	cfg     PushConfig
	runID   string
	reg     *prometheus.Registry
	pusher  *push.Pusher
	values  *prometheus.GaugeVec
	end     *prometheus.GaugeVec
	ok      prometheus.Gauge
	pushes  *prometheus.CounterVec
	mu      sync.Mutex
	seen    map[string]bool
	dupWarn bool
	failed  int  // pushes in a row that failed every try
	gaveUp  bool // GiveUpAfter reached: no more pushes after trials
}

var _ bench.Observer = (*Pusher)(nil)

// NewPusher builds the registry of the run described by info.
func NewPusher(cfg PushConfig, info bench.RunInfo) (*Pusher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Pusher{cfg: cfg, runID: info.RunID, reg: prometheus.NewRegistry(), seen: map[string]bool{}}
	// run_id and host come from the grouping key; the pushed series must not carry them.
	run := prometheus.WrapRegistererWith(prometheus.Labels{"scenario": info.Scenario}, p.reg)
	p.values = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: TrialValueName,
		Help: "One figure of one trial, exactly as in samples.jsonl, in the base unit named by the unit label.",
	}, append([]string{"runtime", "workload", "metric", "unit", "better", "trial"}, carriedLabels...))
	p.end = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: RunEndName,
		Help: "When the run ended, in seconds since the Unix epoch; the status label is run.json's final status.",
	}, []string{"status"})
	if err := run.Register(p.values); err != nil {
		return nil, fmt.Errorf("pusher: %w", err)
	}
	if err := run.Register(p.end); err != nil {
		return nil, fmt.Errorf("pusher: %w", err)
	}
	if err := registerRunInfo(run, info); err != nil {
		return nil, fmt.Errorf("pusher: %w", err)
	}
	if cfg.Health != nil {
		p.ok = prometheus.NewGauge(prometheus.GaugeOpts{Name: PushSuccessName, Help: "1 if the last push to the Pushgateway succeeded (after retries), else 0."})
		p.pushes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: PushesTotalName, Help: "Pushes to the Pushgateway by outcome (after retries)."}, []string{"outcome"})
		p.pushes.WithLabelValues("ok")
		p.pushes.WithLabelValues("failed")
		if err := cfg.Health.Register(p.ok); err != nil {
			return nil, fmt.Errorf("pusher health: %w", err)
		}
		if err := cfg.Health.Register(p.pushes); err != nil {
			return nil, fmt.Errorf("pusher health: %w", err)
		}
	}
	p.pusher = push.New(cfg.URL, Job).Gatherer(p.reg).Client(cfg.Client).
		Grouping("run_id", info.RunID).Grouping("host", cfg.Host)
	return p, nil
}

// Registry is the registry that is pushed (tests gather from it).
func (p *Pusher) Registry() *prometheus.Registry { return p.reg }

// Samples stores each sample's value under its trial.
func (p *Pusher) Samples(s []bench.Sample) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, smp := range s {
		lv := []string{smp.Runtime, smp.Workload, smp.Metric, string(smp.Unit), string(smp.Better), strconv.Itoa(smp.Trial)}
		for _, k := range carriedLabels {
			lv = append(lv, smp.Labels[k])
		}
		key := fmt.Sprint(lv)
		if p.seen[key] && !p.dupWarn {
			// A scenario may list one workload twice; samples.jsonl keeps both
			// lines but one series can hold one value.
			p.dupWarn = true
			fmt.Fprintf(p.cfg.Warn, "vcbench: warning: push: %s/%s/%s trial %d recorded twice; the gateway keeps the last value\n",
				smp.Runtime, smp.Workload, smp.Metric, smp.Trial)
		}
		p.seen[key] = true
		p.values.WithLabelValues(lv...).Set(smp.Value)
	}
}

// TrialDone pushes after every measured trial (failed ones too: their
// samples so far were written). Warm-ups write no samples.
func (p *Pusher) TrialDone(runtime string, warmup bool, err error) {
	if warmup || p.cfg.Context.Err() != nil {
		return
	}
	p.mu.Lock()
	gaveUp := p.gaveUp
	p.mu.Unlock()
	if gaveUp {
		return
	}
	if perr := p.Push(p.cfg.Context); perr != nil {
		fmt.Fprintf(p.cfg.Warn, "vcbench: warning: %v; the run goes on\n", perr)
		p.mu.Lock()
		if p.failed >= p.cfg.GiveUpAfter && !p.gaveUp {
			p.gaveUp = true
			fmt.Fprintf(p.cfg.Warn, "vcbench: warning: %d pushes in a row failed: no more pushes after trials in this run (the final status is still pushed once)\n", p.failed)
		}
		p.mu.Unlock()
	}
}

// Scraped does nothing: scrape health is the live exporter's.
func (p *Pusher) Scraped(runtime string, err error) {}

// Finish records the run's end and final status and pushes once more.
func (p *Pusher) Finish(ctx context.Context, status string) error {
	p.end.Reset()
	p.end.WithLabelValues(status).Set(float64(time.Now().UnixNano()) / 1e9)
	return p.Push(ctx)
}

// Push replaces the run's group on the gateway with everything recorded so
// far, trying up to Tries times with doubling waits within Budget.
func (p *Pusher) Push(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Budget)
	defer cancel()
	wait := p.cfg.Backoff
	var err error
	tries := 0
	for tries < p.cfg.Tries {
		tries++
		if err = p.pusher.PushContext(ctx); err == nil {
			break
		}
		if tries == p.cfg.Tries {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			err = errors.Join(err, ctx.Err())
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		wait *= 2
	}
	if err == nil {
		p.failed = 0
	} else {
		p.failed++
	}
	if p.ok != nil {
		if err == nil {
			p.ok.Set(1)
			p.pushes.WithLabelValues("ok").Inc()
		} else {
			p.ok.Set(0)
			p.pushes.WithLabelValues("failed").Inc()
		}
	}
	if err != nil {
		return fmt.Errorf("push run %s to %s failed after %d tries: %w", p.runID, p.cfg.URL, tries, err)
	}
	return nil
}
