// Command headsupd is the headsup hub: a gRPC server through which members
// publish signed notices to a NATS JetStream log and subscribe to it.
//
// With no flags it serves on 127.0.0.1:7443 with an embedded NATS server
// whose store lives in ./headsup-data, and reads the member directory from
// ./directory.yaml (starting without one). Access control is on: every
// call carries a token minted from a member's call key, or comes over mTLS
// with a pinned client key; --open turns it off on loopback. Every flag
// also reads a HEADSUP_* environment variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	cli "github.com/urfave/cli/v3"

	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/transport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := command().Run(ctx, os.Args); err != nil {
		// The hub's own failures are already in the log, as one line.
		if !errors.Is(err, errLogged) {
			fmt.Fprintln(os.Stderr, "headsupd:", err)
		}
		os.Exit(1)
	}
}

// errLogged marks an error the logger has already reported.
var errLogged = errors.New("logged")

func command() *cli.Command {
	d := hub.DefaultConfig()
	return &cli.Command{
		Name:  "headsupd",
		Usage: "the headsup hub: verify, log and deliver signed abuse notices",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: d.Listen, Usage: "gRPC listen address", Sources: cli.EnvVars("HEADSUP_LISTEN")},
			&cli.StringFlag{Name: "data", Value: d.DataDir, Usage: "data directory (embedded NATS store, lock, log state)", Sources: cli.EnvVars("HEADSUP_DATA")},
			&cli.StringFlag{Name: "nats-url", Usage: "use this NATS server or cluster instead of the embedded one", Sources: cli.EnvVars("HEADSUP_NATS_URL")},
			&cli.StringFlag{Name: "directory", Value: d.DirectoryPath, Usage: "member directory (YAML), reloaded on change", Sources: cli.EnvVars("HEADSUP_DIRECTORY")},
			&cli.StringFlag{Name: "origin", Usage: "this hub's name in call tokens (their aud): every call proves its member with a token or a pinned mTLS client key (default: the --listen address)", Sources: cli.EnvVars("HEADSUP_ORIGIN")},
			&cli.BoolFlag{Name: "open", Usage: "no access control: anyone who reaches the hub publishes verified notices and reads everything; loopback only, warned at every start", Sources: cli.EnvVars("HEADSUP_OPEN")},
			&cli.FloatFlag{Name: "publish-rate", Value: d.PublishRate, Usage: "notices per second each member may publish (with --origin)", Sources: cli.EnvVars("HEADSUP_PUBLISH_RATE")},
			&cli.IntFlag{Name: "publish-burst", Value: d.PublishBurst, Usage: "burst above the publish rate", Sources: cli.EnvVars("HEADSUP_PUBLISH_BURST")},
			&cli.IntFlag{Name: "max-streams-per-member", Value: d.MaxStreamsPerMember, Usage: "open subscriptions per member (with --origin)", Sources: cli.EnvVars("HEADSUP_MAX_STREAMS_PER_MEMBER")},
			&cli.StringFlag{Name: "directory-verifier", Usage: "governance verifier key (or a file holding it) every directory version must be signed with", Sources: cli.EnvVars("HEADSUP_DIRECTORY_VERIFIER")},
			&cli.StringFlag{Name: "log-key", Usage: "the hub's log key file (headsup log keygen): keep the Merkle log, sign checkpoints, serve LogService; needs --directory-verifier and a directory whose log.verifier_key is this key's", Sources: cli.EnvVars("HEADSUP_LOG_KEY"), TakesFile: true},
			&cli.IntFlag{Name: "checkpoint-every", Value: d.CheckpointEvery, Usage: "sign a checkpoint once the log grew by this many entries (with --log-key)", Sources: cli.EnvVars("HEADSUP_CHECKPOINT_EVERY")},
			&cli.DurationFlag{Name: "checkpoint-interval", Value: d.CheckpointInterval, Usage: "sign a checkpoint this long after the last one when the log grew (with --log-key)", Sources: cli.EnvVars("HEADSUP_CHECKPOINT_INTERVAL")},
			&cli.DurationFlag{Name: "max-connection-age", Value: d.Keepalive.MaxConnectionAge, Usage: "close each client connection after about this long (open streams get a minute, then resume from their cursor), so clients spread over hub replicas; 0 never", Sources: cli.EnvVars("HEADSUP_MAX_CONNECTION_AGE")},
			&cli.DurationFlag{Name: "slow-subscriber-grace", Value: d.SlowSubscriberGrace, Usage: "cut a subscriber off (RESOURCE_EXHAUSTED, resume from the last sequence) once its buffer stayed full this long", Sources: cli.EnvVars("HEADSUP_SLOW_SUBSCRIBER_GRACE")},
			&cli.StringFlag{Name: "fsync", Value: "always", Usage: "embedded NATS disk sync: always (every write) or interval (faster; a power failure loses the last seconds)", Sources: cli.EnvVars("HEADSUP_FSYNC")},
			&cli.DurationFlag{Name: "issued-at-window", Value: d.IssuedAtWindow, Usage: "largest accepted distance between a notice's issued_at and the hub's clock", Sources: cli.EnvVars("HEADSUP_ISSUED_AT_WINDOW")},
			&cli.StringFlag{Name: "tls-cert", Usage: "TLS certificate chain (PEM); required off loopback", Sources: cli.EnvVars("HEADSUP_TLS_CERT"), TakesFile: true},
			&cli.StringFlag{Name: "tls-key", Usage: "TLS private key (PEM)", Sources: cli.EnvVars("HEADSUP_TLS_KEY"), TakesFile: true},
			&cli.BoolFlag{Name: "insecure", Usage: "allow plaintext off loopback (behind a TLS-terminating proxy only); warned at every start", Sources: cli.EnvVars("HEADSUP_INSECURE")},
			&cli.StringFlag{Name: "log-format", Value: "auto", Usage: "log format: json, text, or auto (text on a terminal)", Sources: cli.EnvVars("HEADSUP_LOG_FORMAT")},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", Sources: cli.EnvVars("HEADSUP_LOG_LEVEL")},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			logger, err := newLogger(cmd.String("log-format"), cmd.String("log-level"))
			if err != nil {
				return err
			}
			cfg := d
			cfg.Listen = cmd.String("listen")
			cfg.DataDir = cmd.String("data")
			cfg.NATSURL = cmd.String("nats-url")
			cfg.DirectoryPath = cmd.String("directory")
			if cfg.Origin, err = origin(cfg.Listen, cmd.String("origin"), cmd.Bool("open")); err != nil {
				return err
			}
			if cfg.Origin == "" {
				logger.Warn("OPEN: no access control (--open): every local process may publish and read everything")
			}
			cfg.PublishRate, cfg.PublishBurst, cfg.MaxStreamsPerMember = cmd.Float("publish-rate"), cmd.Int("publish-burst"), cmd.Int("max-streams-per-member")
			if cfg.DirectoryVerifier, err = directory.ReadVerifierKey(cmd.String("directory-verifier")); err != nil {
				return fmt.Errorf("--directory-verifier: %w", err)
			}
			cfg.LogKeyFile = cmd.String("log-key")
			if cfg.CheckpointEvery = cmd.Int("checkpoint-every"); cfg.CheckpointEvery < 1 {
				return fmt.Errorf("--checkpoint-every: %d, want at least 1", cfg.CheckpointEvery)
			}
			if cfg.CheckpointInterval = cmd.Duration("checkpoint-interval"); cfg.CheckpointInterval <= 0 {
				return fmt.Errorf("--checkpoint-interval: %v, want a positive duration", cfg.CheckpointInterval)
			}
			cfg.IssuedAtWindow = cmd.Duration("issued-at-window")
			if cfg.SlowSubscriberGrace = cmd.Duration("slow-subscriber-grace"); cfg.SlowSubscriberGrace <= 0 {
				return fmt.Errorf("--slow-subscriber-grace: %v, want a positive duration", cfg.SlowSubscriberGrace)
			}
			if cfg.Keepalive.MaxConnectionAge = cmd.Duration("max-connection-age"); cfg.Keepalive.MaxConnectionAge < 0 {
				return fmt.Errorf("--max-connection-age: %v, want 0 (never) or a positive duration", cfg.Keepalive.MaxConnectionAge)
			}
			cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.Insecure = cmd.String("tls-cert"), cmd.String("tls-key"), cmd.Bool("insecure")
			cfg.Logger = logger
			switch cmd.String("fsync") {
			case "always":
				cfg.Fsync = bus.FsyncAlways
			case "interval":
				cfg.Fsync = bus.FsyncInterval
			default:
				return fmt.Errorf("--fsync: %q is not one of always, interval", cmd.String("fsync"))
			}
			if err := hub.Run(ctx, cfg); err != nil {
				// One line a person can act on, in the log and on stderr.
				logger.Error("hub stopped", "err", err)
				return errLogged
			}
			logger.Info("hub stopped")
			return nil
		},
	}
}

// origin decides access control: on, named by --origin or else by the
// listen address (clients name the hub by the address they dial unless
// told otherwise); off ("") only with --open on loopback.
func origin(listen, flag string, open bool) (string, error) {
	switch {
	case open && flag != "":
		return "", errors.New("--open and --origin: choose one (--origin names the hub in call tokens, --open turns access control off)")
	case open && !transport.IsLoopback(listen):
		return "", fmt.Errorf("--open: refusing to serve %s without access control; --open is for a hub on loopback", listen)
	case open:
		return "", nil
	case flag != "":
		return flag, nil
	}
	return listen, nil
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "auto" {
		format = "json"
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not one of json, text, auto", format)
}
