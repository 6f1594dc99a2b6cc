package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"vcbench/bench"
	"vcbench/metrics/promrun"
)

// metricsOptions are the Prometheus flags of `vcbench run`.
type metricsOptions struct {
	addr        string
	allowRemote bool
	pushURL     string
	host        string
}

// registerMetricsFlags adds the metrics flags of `vcbench run` (--metrics-addr,
// --metrics-allow-remote, --push-gateway, --host-label) and their observers
// to o.hooks. The flags are checked before the run directory is created.
func registerMetricsFlags(cmd *cobra.Command, o *runOptions) {
	m := &metricsOptions{}
	hostname, _ := os.Hostname()
	f := cmd.Flags()
	f.StringVar(&m.addr, "metrics-addr", "", "serve the run's live metrics at http://ADDR/metrics while it runs, e.g. 127.0.0.1:9464 (loopback only unless --metrics-allow-remote)")
	f.BoolVar(&m.allowRemote, "metrics-allow-remote", false, "allow --metrics-addr to listen on a non-loopback address")
	f.StringVar(&m.pushURL, "push-gateway", "", "push every trial's samples to this Prometheus Pushgateway, e.g. http://127.0.0.1:9091 (grouped by run_id and host)")
	f.StringVar(&m.host, "host-label", hostname, "value of the host label on exported and pushed series")
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if prev != nil {
			if err := prev(cmd, args); err != nil {
				return err
			}
		}
		return m.validate()
	}
	o.hooks.observers = append(o.hooks.observers, func(ctx context.Context, info bench.RunInfo) (bench.Observer, func() error, error) {
		return m.observers(ctx, cmd, o, info)
	})
}

func (m *metricsOptions) validate() error {
	if m.host == "" {
		return errors.New("--host-label: empty (and the hostname is unknown)")
	}
	if m.addr != "" {
		if err := promrun.CheckListenAddr(m.addr, m.allowRemote); err != nil {
			return fmt.Errorf("--metrics-addr: %w (pass --metrics-allow-remote to serve beyond this host)", err)
		}
	}
	if m.pushURL != "" {
		cfg := promrun.PushConfig{URL: m.pushURL, Host: m.host}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("--push-gateway: %w", err)
		}
	}
	return nil
}

// observers starts the live exporter and the pusher that the flags ask for.
// The finish func pushes the final status, then stops the exporter, so
// that nothing is left listening when the run ends.
func (m *metricsOptions) observers(runCtx context.Context, cmd *cobra.Command, o *runOptions, info bench.RunInfo) (bench.Observer, func() error, error) {
	var obs promrun.Observers
	var exporter *promrun.Exporter
	var pusher *promrun.Pusher
	if m.addr != "" {
		e, err := promrun.NewExporter(info, m.host)
		if err != nil {
			return nil, nil, err
		}
		if err := e.Serve(m.addr, m.allowRemote); err != nil {
			return nil, nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		exporter = e
		obs = append(obs, e)
		fmt.Fprintf(cmd.ErrOrStderr(), "vcbench: live metrics at http://%s/metrics until the run ends\n", e.Addr())
	}
	if m.pushURL != "" {
		cfg := promrun.PushConfig{URL: m.pushURL, Host: m.host, Warn: cmd.ErrOrStderr(), Context: runCtx}
		if exporter != nil {
			cfg.Health = exporter.Registry()
		}
		p, err := promrun.NewPusher(cfg, info)
		if err != nil {
			if exporter != nil {
				exporter.Close()
			}
			return nil, nil, fmt.Errorf("--push-gateway: %w", err)
		}
		pusher = p
		obs = append(obs, p)
	}
	finish := func() error {
		var errs []error
		if pusher != nil {
			// The final status is pushed once, with one try's budget after
			// Ctrl-C: the user asked to stop.
			limit := 10 * time.Second
			if runCtx.Err() != nil {
				limit = 2 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			errs = append(errs, pusher.Finish(ctx, finalStatus(filepath.Join(o.out, info.RunID))))
			cancel()
		}
		if exporter != nil {
			errs = append(errs, exporter.Close())
		}
		return errors.Join(errs...)
	}
	return obs, finish, nil
}

// finalStatus reads the status that run.json ended with.
func finalStatus(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		return "unknown"
	}
	var info bench.RunInfo
	if json.Unmarshal(b, &info) != nil || info.Status == "" {
		return "unknown"
	}
	return string(info.Status)
}
