// Command headsup-agent is the subscriber a provider runs at its own
// premises: it follows the hub, verifies every notice itself, matches it
// against the provider's own customer list (which never leaves it), and
// raises, updates and withdraws alerts.
//
// Configuration comes from a YAML file (--config; see agent.File) and/or
// flags, each also read from a HEADSUP_* environment variable; flags win.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	cli "github.com/urfave/cli/v3"

	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/sink"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := command().Run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "headsup-agent:", err)
		os.Exit(1)
	}
}

func command() *cli.Command {
	d := agent.DefaultConfig()
	return &cli.Command{
		Name:  "headsup-agent",
		Usage: "follow the hub, verify every notice, match it against your own customers, raise alerts",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "configuration file (YAML)", Sources: cli.EnvVars("HEADSUP_AGENT_CONFIG"), TakesFile: true},
			&cli.StringFlag{Name: "hub", Usage: "hub gRPC address (default " + d.Hub + ")", Sources: cli.EnvVars("HEADSUP_HUB")},
			&cli.StringFlag{Name: "ca", Usage: "CA certificate (PEM) to verify the hub with; the system roots when absent", Sources: cli.EnvVars("HEADSUP_CA"), TakesFile: true},
			&cli.StringFlag{Name: "member", Usage: "your member id", Sources: cli.EnvVars("HEADSUP_MEMBER")},
			&cli.StringFlag{Name: "directory", Usage: "your own copy of the member directory", Sources: cli.EnvVars("HEADSUP_DIRECTORY"), TakesFile: true},
			&cli.StringFlag{Name: "tls-client-cert", Usage: "mTLS client certificate (PEM) whose key your directory entry pins; instead of --call-key", Sources: cli.EnvVars("HEADSUP_TLS_CLIENT_CERT"), TakesFile: true},
			&cli.StringFlag{Name: "tls-client-key", Usage: "the key of --tls-client-cert (PEM)", Sources: cli.EnvVars("HEADSUP_TLS_CLIENT_KEY"), TakesFile: true},
			&cli.StringFlag{Name: "call-key", Usage: "your call key (PEM): every call to the hub carries a token signed with it", Sources: cli.EnvVars("HEADSUP_CALL_KEY"), TakesFile: true},
			&cli.StringFlag{Name: "origin", Usage: "the hub's name in call tokens (default: the --hub address)", Sources: cli.EnvVars("HEADSUP_ORIGIN")},
			&cli.StringFlag{Name: "directory-verifier", Usage: "governance verifier key (or a file holding it) every directory version must be signed with", Sources: cli.EnvVars("HEADSUP_DIRECTORY_VERIFIER")},
			&cli.StringFlag{Name: "state", Usage: "state directory (SQLite: notices, alerts, outbox, cursor; default " + d.StateDir + ")", Sources: cli.EnvVars("HEADSUP_STATE")},
			&cli.StringSliceFlag{Name: "customers", Usage: "customer file (CSV or JSON lines), reloaded on change; repeat for several", Sources: cli.EnvVars("HEADSUP_CUSTOMERS")},
			&cli.StringFlag{Name: "jsonl", Usage: "write alert events as JSON lines to this file (- for stdout)", Sources: cli.EnvVars("HEADSUP_JSONL")},
			&cli.StringFlag{Name: "text", Usage: "write alerts for people to this file (- for stdout)", Sources: cli.EnvVars("HEADSUP_TEXT")},
			&cli.IntFlag{Name: "max-hops", Usage: "most reseller edges in a chain (default 3)", Sources: cli.EnvVars("HEADSUP_MAX_HOPS")},
			&cli.StringFlag{Name: "check-listen", Usage: "loopback address of the local API for signup and support tools (headsup check); empty turns it off (default " + agent.DefaultCheckListen + ")", Sources: cli.EnvVars("HEADSUP_CHECK_LISTEN")},
			&cli.StringFlag{Name: "metrics-listen", Usage: "loopback address of the Prometheus metrics and /healthz; empty turns it off (default " + agent.DefaultMetricsListen + ")", Sources: cli.EnvVars("HEADSUP_METRICS_LISTEN")},
			&cli.DurationFlag{Name: "alarm-after", Usage: "raise an alarm after this long disconnected from the hub or with a stale customer list (default 5m)", Sources: cli.EnvVars("HEADSUP_ALARM_AFTER")},
			&cli.StringFlag{Name: "witness-key", Usage: "your member's witness key (PEM, headsup keygen --use witness): witness the hub's log", Sources: cli.EnvVars("HEADSUP_WITNESS_KEY"), TakesFile: true},
			&cli.StringFlag{Name: "witness-state", Usage: "the witness's own state directory, never rebuilt from the hub (default: witness under --state)", Sources: cli.EnvVars("HEADSUP_WITNESS_STATE"), TakesFile: true},
			&cli.StringFlag{Name: "witness-listen", Usage: "address to serve the latest cosigned checkpoint on, at your witness_url's path", Sources: cli.EnvVars("HEADSUP_WITNESS_LISTEN")},
			&cli.DurationFlag{Name: "log-check", Usage: "how often the hub's latest checkpoint is verified, counted and cosigned (default 1m)", Sources: cli.EnvVars("HEADSUP_LOG_CHECK")},
			&cli.StringFlag{Name: "quorum-freshness", Usage: "integrity alert when no checkpoint reached the witness quorum for this long; 0 turns it off (default 10m)", Sources: cli.EnvVars("HEADSUP_QUORUM_FRESHNESS")},
			&cli.BoolFlag{Name: "verify-sightings", Usage: "re-check sightings on alerts' paths live (TLS handshake with SNI at the sighted addresses)", Sources: cli.EnvVars("HEADSUP_VERIFY_SIGHTINGS")},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", Sources: cli.EnvVars("HEADSUP_LOG_LEVEL")},
		},
		Action: run,
	}
}

func run(ctx context.Context, cmd *cli.Command) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cmd.String("log-level"))); err != nil {
		return fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", cmd.String("log-level"))
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	cfg := agent.DefaultConfig()
	cfg.Logger = logger
	cfg.CheckListen = agent.DefaultCheckListen
	cfg.MetricsListen = agent.DefaultMetricsListen
	var closer io.Closer
	if path := cmd.String("config"); path != "" {
		f, err := agent.ReadFile(path)
		if err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		if closer, err = f.Apply(&cfg, os.Stdout, logger); err != nil {
			return fmt.Errorf("--config %s: %w", path, err)
		}
		defer closer.Close()
	}
	for flag, dst := range map[string]*string{"ca": &cfg.CAFile, "tls-client-cert": &cfg.TLSClientCert, "tls-client-key": &cfg.TLSClientKey, "hub": &cfg.Hub, "member": &cfg.Member, "directory": &cfg.DirectoryPath, "state": &cfg.StateDir} {
		if v := cmd.String(flag); v != "" {
			*dst = v
		}
	}
	if cmd.IsSet("check-listen") {
		cfg.CheckListen = cmd.String("check-listen")
	}
	if cmd.IsSet("metrics-listen") {
		cfg.MetricsListen = cmd.String("metrics-listen")
	}
	if d := cmd.Duration("alarm-after"); d != 0 {
		if d < 0 {
			return fmt.Errorf("--alarm-after: %v must not be negative", d)
		}
		cfg.AlarmAfter = d
	}
	if v := cmd.String("witness-key"); v != "" {
		key, err := directory.LoadPrivateKey(v)
		if err != nil {
			return fmt.Errorf("--witness-key: %w", err)
		}
		cfg.WitnessKey = key
	}
	if v := cmd.String("witness-state"); v != "" {
		cfg.WitnessState = v
	}
	if v := cmd.String("witness-listen"); v != "" {
		cfg.WitnessListen = v
	}
	if d := cmd.Duration("log-check"); d != 0 {
		if d < 0 {
			return fmt.Errorf("--log-check: %v must not be negative", d)
		}
		cfg.LogCheck = d
	}
	if v := cmd.String("quorum-freshness"); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil || d < 0:
			return fmt.Errorf("--quorum-freshness: %q is not a duration of 0 or more", v)
		case d == 0:
			cfg.QuorumFreshness = -1 // off
		default:
			cfg.QuorumFreshness = d
		}
	}
	if cmd.Bool("verify-sightings") {
		cfg.VerifySightings = true
	}
	if v := cmd.String("call-key"); v != "" {
		key, err := directory.LoadPrivateKey(v)
		if err != nil {
			return fmt.Errorf("--call-key: %w", err)
		}
		cfg.CallKey = key
	}
	if v := cmd.String("origin"); v != "" {
		cfg.Origin = v
	}
	if v := cmd.String("directory-verifier"); v != "" {
		vkey, err := directory.ReadVerifierKey(v)
		if err != nil {
			return fmt.Errorf("--directory-verifier: %w", err)
		}
		cfg.DirectoryVerifier = vkey
	}
	if n := cmd.Int("max-hops"); n != 0 {
		cfg.MaxHops = int(n)
	}
	for _, path := range cmd.StringSlice("customers") {
		cfg.Customers = append(cfg.Customers, customers.NewFile(path, "", logger))
	}
	switch v := cmd.String("jsonl"); v {
	case "":
	case "-":
		cfg.Outputs = append(cfg.Outputs, agent.Output{Sink: sink.NewJSONLines(os.Stdout, "jsonl:stdout")})
	default:
		s, c, err := sink.OpenJSONLinesFile(v)
		if err != nil {
			return fmt.Errorf("--jsonl: %w", err)
		}
		defer c.Close()
		cfg.Outputs = append(cfg.Outputs, agent.Output{Sink: s})
	}
	switch v := cmd.String("text"); v {
	case "":
	case "-":
		cfg.Outputs = append(cfg.Outputs, agent.Output{Sink: sink.NewText(os.Stdout, "text:stdout")})
	default:
		f, err := os.OpenFile(v, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("--text: %w", err)
		}
		defer f.Close()
		cfg.Outputs = append(cfg.Outputs, agent.Output{Sink: sink.NewText(f, "text:"+v)})
	}
	switch {
	case cfg.Member == "":
		return errors.New("--member: missing (your member id in the directory)")
	case cfg.DirectoryPath == "":
		return errors.New("--directory: missing (your own copy of the member directory)")
	case len(cfg.Customers) == 0:
		return errors.New("--customers: missing (at least one customer source: a file, or postgres in --config)")
	case len(cfg.Outputs) == 0:
		return errors.New("--jsonl or --text: missing (where alerts go), or sinks in --config")
	}
	logger.Info("agent starting", "hub", cfg.Hub, "member", cfg.Member, "state", cfg.StateDir, "customer_sources", len(cfg.Customers), "sinks", len(cfg.Outputs), "metrics", cfg.MetricsListen, "verify_sightings", cfg.VerifySightings, "witnessing", cfg.WitnessKey != nil)
	return agent.Run(ctx, cfg)
}
