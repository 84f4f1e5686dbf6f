package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"
)

// defaultHub is the hub's default listen address (hub.DefaultListen); the
// CLI does not import the hub package, which would link a NATS server in.
const defaultHub = "127.0.0.1:7443"

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.Command {
	app := &cli.Command{
		Name:  "headsup",
		Usage: "publish and follow abuse notices of a headsup federation",
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "hub",
				Usage:   "hub gRPC address (TLS off loopback; see --ca)",
				Value:   defaultHub,
				Sources: cli.EnvVars("HEADSUP_HUB"),
			},
			&cli.StringFlag{
				Name:      "ca",
				Usage:     "CA certificate (PEM) to verify the hub with; the system roots when absent",
				TakesFile: true,
				Sources:   cli.EnvVars("HEADSUP_CA"),
			},
			&cli.StringFlag{
				Name:      "tls-client-cert",
				Usage:     "your mTLS client certificate (PEM), whose key your directory entry pins; instead of --call-key",
				TakesFile: true,
				Sources:   cli.EnvVars("HEADSUP_TLS_CLIENT_CERT"),
			},
			&cli.StringFlag{
				Name:      "tls-client-key",
				Usage:     "the key of --tls-client-cert (PEM)",
				TakesFile: true,
				Sources:   cli.EnvVars("HEADSUP_TLS_CLIENT_KEY"),
			},
			&cli.StringFlag{
				Name:      "call-key",
				Usage:     "your call key (PEM, from keygen --use call): every call carries a token signed with it",
				TakesFile: true,
				Sources:   cli.EnvVars("HEADSUP_CALL_KEY"),
			},
			&cli.StringFlag{
				Name:    "origin",
				Usage:   "the hub's name in call tokens (default: the --hub address)",
				Sources: cli.EnvVars("HEADSUP_ORIGIN"),
			},
			&cli.StringFlag{
				Name:    "member",
				Usage:   "your member id in the directory",
				Sources: cli.EnvVars("HEADSUP_MEMBER"),
			},
			&cli.StringFlag{
				Name:      "key",
				Usage:     "your private notice key (PEM), as written by keygen",
				TakesFile: true,
				Sources:   cli.EnvVars("HEADSUP_KEY"),
			},
			&cli.StringFlag{
				Name:      "directory",
				Usage:     "your copy of the member directory (YAML)",
				TakesFile: true,
				Sources:   cli.EnvVars("HEADSUP_DIRECTORY"),
			},
		},
		Commands: []*cli.Command{
			keygenCommand(),
			publishCommand(),
			tailCommand(),
			demoCommand(),
			certsCommand(),
			checkCommand(),
			matchCommand(),
			hashCommand(),
			directoryCommand(),
			alertsCommand(),
			auditCommand(),
			logCommand(),
			benchCommand(),
			loadCommand(),
		},
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return usagef("unknown command %q (see headsup --help)", cmd.Args().First())
			}
			return usagef("missing command (see headsup --help)")
		},
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideVersion:     true,
		HideHelpCommand: true,
		// run prints the error and chooses the exit status.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		OnUsageError:   onUsageError,
	}
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError
	}
	return app
}

// named prefixes a subcommand's errors with its name, so that every error
// line says which command failed ("headsup: publish: ...").
func named(name string, action cli.ActionFunc) cli.ActionFunc {
	return func(ctx context.Context, cmd *cli.Command) error {
		err := action(ctx, cmd)
		if err == nil {
			return nil
		}
		if ue, ok := err.(*usageError); ok {
			return &usageError{fmt.Errorf("%s: %w", name, ue.err)}
		}
		return fmt.Errorf("%s: %w", name, err)
	}
}
