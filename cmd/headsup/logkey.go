package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/headsup-dev/headsup/internal/auditlog"
)

func logCommand() *cli.Command {
	c := &cli.Command{
		Name:  "log",
		Usage: "the hub's signed log",
		Commands: []*cli.Command{
			{
				Name:      "keygen",
				Usage:     "generate the hub's log key, which signs its checkpoints",
				UsageText: "headsup log keygen --origin ORIGIN --out FILE",
				Description: "Writes the log's signing key to FILE (readable by its owner only, never\n" +
					"over an existing file) and prints its verifier key. Give FILE to the hub\n" +
					"(headsupd --log-key FILE) and put ORIGIN and the verifier key in the\n" +
					"signed directory as log.origin and log.verifier_key: members check every\n" +
					"checkpoint against it, and the hub refuses to start when they differ.\n" +
					"ORIGIN names the log (the first line of every checkpoint), such as\n" +
					"hub.example.net/headsup; it holds no space and no '+'.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "origin", Usage: "the log's name, the first line of every checkpoint", Required: true},
					&cli.StringFlag{Name: "out", Usage: "file to write the signing key to", Required: true, TakesFile: true},
				},
				Action: named("log keygen", logKeygen),
			},
		},
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return usagef("log: unknown command %q (keygen)", cmd.Args().First())
			}
			return usagef("log: missing command (keygen)")
		},
	}
	for _, sub := range c.Commands {
		// Flag errors name the whole command, as action errors do.
		sub.OnUsageError = func(_ context.Context, cmd *cli.Command, err error, _ bool) error {
			return &usageError{fmt.Errorf("log %s: %w", cmd.Name, err)}
		}
	}
	return c
}

func logKeygen(_ context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return usagef("unexpected argument %q", cmd.Args().First())
	}
	skey, vkey, err := auditlog.GenerateLogKey(cmd.String("origin"))
	if err != nil {
		return usagef("--origin: %v", err)
	}
	out := cmd.String("out")
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite a key", out)
	}
	if err := writeNew(out, []byte(skey+"\n")); err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.Root().Writer, vkey)
	return err
}
