package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/headsup-dev/headsup/internal/transport"
)

func certsCommand() *cli.Command {
	return &cli.Command{
		Name:  "certs",
		Usage: "make a development CA and a hub certificate",
		UsageText: "headsup certs --out DIR --host NAME [--host NAME]...\n" +
			"headsup certs --out DIR --client MEMBER\n" +
			"headsup certs --pin CERT.pem",
		Description: "Writes DIR/ca.pem, DIR/ca.key, DIR/hub.pem and DIR/hub.key (keys 0600, never\n" +
			"overwritten). Start the hub with --tls-cert DIR/hub.pem --tls-key DIR/hub.key\n" +
			"and point clients at it with --ca DIR/ca.pem. For development and tests: in\n" +
			"production the hub's certificate comes from your own CA.\n\n" +
			"With --client MEMBER it writes a self-signed mTLS client certificate and key\n" +
			"(DIR/MEMBER.client.pem, .key) and prints the pin to put in the member's\n" +
			"directory entry (tls_spki_sha256). --pin prints the pin of any certificate.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "directory to write into", TakesFile: true},
			&cli.StringSliceFlag{Name: "host", Usage: "a DNS name or IP address clients use to reach the hub (repeat)"},
			&cli.StringFlag{Name: "client", Usage: "make an mTLS client certificate for this member instead"},
			&cli.StringFlag{Name: "pin", Usage: "print the SPKI pin (tls_spki_sha256) of this certificate file", TakesFile: true},
			&cli.DurationFlag{Name: "valid-for", Usage: "validity of both certificates", Value: 90 * 24 * time.Hour},
		},
		Action: named("certs", func(_ context.Context, cmd *cli.Command) error {
			out := cmd.String("out")
			if p := cmd.String("pin"); p != "" {
				pin, err := transport.PinOfFile(p)
				if err != nil {
					return fmt.Errorf("--pin: %w", err)
				}
				_, err = fmt.Fprintln(cmd.Root().Writer, hex.EncodeToString(pin[:]))
				return err
			}
			if out == "" {
				return usagef("--out: required")
			}
			if member := cmd.String("client"); member != "" {
				pin, err := transport.DevClientCertificate(out, member, cmd.Duration("valid-for"))
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.Root().Writer, "wrote %s, %s\nadd to %s's directory entry:  tls_spki_sha256: [%s]\nclients: --tls-client-cert %s --tls-client-key %s\n",
					filepath.Join(out, member+".client.pem"), filepath.Join(out, member+".client.key"), member, hex.EncodeToString(pin[:]),
					filepath.Join(out, member+".client.pem"), filepath.Join(out, member+".client.key"))
				return err
			}
			if len(cmd.StringSlice("host")) == 0 {
				return usagef("--host: at least one name or address of the hub (or --client MEMBER)")
			}
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
