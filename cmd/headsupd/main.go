// Command headsupd is the headsup hub: a gRPC server through which members
// publish signed notices to a NATS JetStream log and subscribe to it.
//
// With no flags it serves on 127.0.0.1:7443 with an embedded NATS server
// whose store lives in ./headsup-data, and reads the member directory from
// ./directory.yaml (starting without one). Access control is on: every
// call carries a token minted from a member's call key, or comes over mTLS
// with a pinned client key; --open turns it off on loopback. Every flag
// also reads a HEADSUP_* environment variable and a key of the YAML file
// named by --config; the command line wins over the environment, and both
// over the file.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
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

// command is headsupd: its flags, and an action that runs the hub.
func command() *cli.Command { return newCommand(hub.Run) }

// newCommand is command with run in place of hub.Run, so tests see the
// Config that flags, environment and file make.
func newCommand(run func(context.Context, hub.Config) error) *cli.Command {
	d := hub.DefaultConfig()
	return &cli.Command{
		Name:  "headsupd",
		Usage: "the headsup hub: verify, log and deliver signed abuse notices",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "YAML file of settings: each key a flag name (without the dashes); flags and HEADSUP_* variables win over it", Sources: cli.EnvVars("HEADSUP_CONFIG"), TakesFile: true},
			&cli.StringFlag{Name: "listen", Value: d.Listen, Usage: "gRPC listen address", Sources: cli.EnvVars("HEADSUP_LISTEN")},
			&cli.StringFlag{Name: "data", Value: d.DataDir, Usage: "data directory (embedded NATS store, lock, log state)", Sources: cli.EnvVars("HEADSUP_DATA")},
			&cli.StringFlag{Name: "nats-url", Usage: "use this NATS server or cluster instead of the embedded one: one or more URLs, comma-separated (no credentials in them: see --nats-creds, --nats-nkey, --nats-user)", Sources: cli.EnvVars("HEADSUP_NATS_URL")},
			&cli.StringFlag{Name: "nats-creds", Usage: "NATS credentials file (user JWT and nkey seed)", Sources: cli.EnvVars("HEADSUP_NATS_CREDS"), TakesFile: true},
			&cli.StringFlag{Name: "nats-nkey", Usage: "file holding the hub's NATS nkey user seed (SU...)", Sources: cli.EnvVars("HEADSUP_NATS_NKEY"), TakesFile: true},
			&cli.StringFlag{Name: "nats-user", Usage: "NATS user; its password comes from --nats-password-file or $" + passwordEnv + ", never from the command line", Sources: cli.EnvVars("HEADSUP_NATS_USER")},
			&cli.StringFlag{Name: "nats-password-file", Usage: "file holding the NATS user's password", Sources: cli.EnvVars("HEADSUP_NATS_PASSWORD_FILE"), TakesFile: true},
			&cli.StringFlag{Name: "nats-ca", Usage: "CA bundle (PEM) the NATS servers' certificates must chain to; requires TLS", Sources: cli.EnvVars("HEADSUP_NATS_CA"), TakesFile: true},
			&cli.StringFlag{Name: "nats-cert", Usage: "TLS client certificate (PEM) for NATS servers that verify clients", Sources: cli.EnvVars("HEADSUP_NATS_CERT"), TakesFile: true},
			&cli.StringFlag{Name: "nats-key", Usage: "TLS client key (PEM) for --nats-cert", Sources: cli.EnvVars("HEADSUP_NATS_KEY"), TakesFile: true},
			&cli.IntFlag{Name: "replicas", Value: d.Replicas, Usage: "replicas of the stream when the hub creates it: 3 on a NATS cluster (every hub of one stream must say the same; an existing stream with another count is refused)", Sources: cli.EnvVars("HEADSUP_REPLICAS")},
			&cli.StringFlag{Name: "metrics-listen", Value: hub.DefaultMetricsListen, Usage: "Prometheus metrics address (/metrics), apart from gRPC; empty turns it off", Sources: cli.EnvVars("HEADSUP_METRICS_LISTEN")},
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
			if path := cmd.String("config"); path != "" {
				if err := applyConfigFile(cmd, path); err != nil {
					return err
				}
			}
			logger, err := newLogger(cmd.String("log-format"), cmd.String("log-level"))
			if err != nil {
				return err
			}
			cfg := d
			cfg.Listen = cmd.String("listen")
			cfg.DataDir = cmd.String("data")
			if cfg.NATSURL, err = natsURLs(cmd.String("nats-url")); err != nil {
				return err
			}
			if cfg.NATS, err = natsClient(cmd); err != nil {
				return err
			}
			if cfg.Replicas = cmd.Int("replicas"); cfg.Replicas < 1 || cfg.Replicas > 5 {
				return fmt.Errorf("--replicas: %d, want 1 to 5 (NATS's limit)", cfg.Replicas)
			}
			if cfg.Replicas > 1 && cfg.NATSURL == "" {
				return fmt.Errorf("--replicas: %d needs a NATS cluster (--nats-url); the embedded server is one node", cfg.Replicas)
			}
			cfg.MetricsListen = cmd.String("metrics-listen")
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
			if err := run(ctx, cfg); err != nil {
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

// passwordEnv holds the NATS user's password when no file does: the
// environment of a process is private to its user, its arguments are not.
const passwordEnv = "HEADSUP_NATS_PASSWORD"

// natsURLs checks a comma-separated list of NATS URLs and returns it
// normalised. Credentials in a URL are refused: the command line is
// visible to every local user.
func natsURLs(list string) (string, error) {
	if strings.TrimSpace(list) == "" {
		return "", nil
	}
	var out []string
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("--nats-url: %q is not a URL like nats://host:4222", raw)
		}
		if u.User != nil {
			return "", fmt.Errorf("--nats-url: %s carries credentials; use --nats-creds, --nats-nkey or --nats-user with --nats-password-file or $%s", u.Redacted(), passwordEnv)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return "", fmt.Errorf("--nats-url: %s: scheme %q is not one of nats, tls, ws, wss", raw, u.Scheme)
		}
		out = append(out, u.String())
	}
	return strings.Join(out, ","), nil
}

// natsClient is the hub's identity and TLS towards an external NATS.
func natsClient(cmd *cli.Command) (hub.NATSClient, error) {
	c := hub.NATSClient{
		CredsFile:    cmd.String("nats-creds"),
		NKeySeedFile: cmd.String("nats-nkey"),
		User:         cmd.String("nats-user"),
		CAFile:       cmd.String("nats-ca"),
		CertFile:     cmd.String("nats-cert"),
		KeyFile:      cmd.String("nats-key"),
	}
	file, env := cmd.String("nats-password-file"), os.Getenv(passwordEnv)
	switch {
	case file != "" && env != "":
		return c, fmt.Errorf("--nats-password-file and $%s: choose one", passwordEnv)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return c, fmt.Errorf("--nats-password-file: %w", err)
		}
		c.Password = strings.TrimRight(string(b), "\r\n")
		if c.Password == "" {
			return c, fmt.Errorf("--nats-password-file: %s is empty", file)
		}
	default:
		c.Password = env
	}
	n := 0
	for _, f := range []string{"nats-creds", "nats-nkey", "nats-user"} {
		if cmd.String(f) != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return c, errors.New("--nats-creds, --nats-nkey, --nats-user: choose one way for the hub to prove itself to NATS")
	case c.User != "" && c.Password == "":
		return c, fmt.Errorf("--nats-user: %q needs a password in --nats-password-file or $%s", c.User, passwordEnv)
	case c.User == "" && c.Password != "":
		return c, fmt.Errorf("a NATS password (--nats-password-file or $%s) needs --nats-user", passwordEnv)
	case (c.CertFile == "") != (c.KeyFile == ""):
		return c, errors.New("--nats-cert and --nats-key: give both or neither")
	}
	if c != (hub.NATSClient{}) && cmd.String("nats-url") == "" {
		return c, errors.New("--nats-creds, --nats-nkey, --nats-user, --nats-ca, --nats-cert: only with --nats-url (the embedded server needs none)")
	}
	return c, nil
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
