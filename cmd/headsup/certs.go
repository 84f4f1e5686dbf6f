package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/headsup-dev/headsup/internal/transport"
)

func certsCommand() *cli.Command {
	return &cli.Command{
		Name:      "certs",
		Usage:     "make a development CA and a hub certificate",
		UsageText: "headsup certs --out DIR --host NAME [--host NAME]...",
		Description: "Writes DIR/ca.pem, DIR/ca.key, DIR/hub.pem and DIR/hub.key (keys 0600, never\n" +
			"overwritten). Start the hub with --tls-cert DIR/hub.pem --tls-key DIR/hub.key\n" +
			"and point clients at it with --ca DIR/ca.pem. For development and tests: in\n" +
			"production the hub's certificate comes from your own CA.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "directory to write into", Required: true, TakesFile: true},
			&cli.StringSliceFlag{Name: "host", Usage: "a DNS name or IP address clients use to reach the hub (repeat)", Required: true},
			&cli.DurationFlag{Name: "valid-for", Usage: "validity of both certificates", Value: 90 * 24 * time.Hour},
		},
		Action: named("certs", func(_ context.Context, cmd *cli.Command) error {
			out := cmd.String("out")
			if err := transport.DevCertificates(out, cmd.StringSlice("host"), cmd.Duration("valid-for")); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.Root().Writer, "wrote %s, %s, %s, %s\nhub:     headsupd --tls-cert %s --tls-key %s\nclients: --ca %s\n",
				filepath.Join(out, "ca.pem"), filepath.Join(out, "ca.key"), filepath.Join(out, "hub.pem"), filepath.Join(out, "hub.key"),
				filepath.Join(out, "hub.pem"), filepath.Join(out, "hub.key"), filepath.Join(out, "ca.pem"))
			return err
		}),
	}
}
