package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v3"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/noticefile"
)

func matchCommand() *cli.Command {
	return &cli.Command{
		Name:      "match",
		Usage:     "run the agent's matching on notice documents against a customer list, offline",
		ArgsUsage: "NOTICE_FILE...",
		Description: "Reads notice documents (the YAML or JSON that publish reads), fills in\n" +
			"and normalises them as publish would, and runs the agent's own evaluation\n" +
			"(the same rules, chains, max-hops and alert contents) against the customer\n" +
			"list (CSV or JSON lines) of --member, with --directory supplying test_network,\n" +
			"the members' own domains, ASNs and prefixes, and the issuers' contacts. It\n" +
			"prints each alert an agent would raise, or \"no alert\". Nothing is signed and\n" +
			"no hub is contacted: the alerts show the notices as not verified. A sighting\n" +
			"finds its suspension by issuer and id, so give the suspension's document an\n" +
			"id. The exit status is 0 with or without alerts.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "customers", Usage: "the customer list (.csv, .jsonl or .ndjson)", Required: true, TakesFile: true},
			&cli.IntFlag{Name: "max-hops", Usage: "most reseller edges in a chain", Value: 3},
			&cli.StringFlag{Name: "at", Usage: "evaluate at this time (RFC 3339; default now)"},
			&cli.BoolFlag{Name: "json", Usage: "print one headsup.alert.v1 event per line"},
		},
		Action: named("match", matchNotices),
	}
}

func matchNotices(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() == 0 {
		return usagef("give at least one NOTICE_FILE")
	}
	member := cmd.String("member")
	if member == "" {
		return usagef("--member is required: whose customers these are")
	}
	if cmd.String("directory") == "" {
		return usagef("--directory is required: it says test_network, every member's own space and the issuers' contacts")
	}
	if cmd.Int("max-hops") < 1 {
		return usagef("--max-hops must be at least 1")
	}
	now := time.Now()
	if at := cmd.String("at"); at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return usagef("--at: %q is not an RFC 3339 time", at)
		}
		now = t
	}
	dir, err := loadDirectory(cmd)
	if err != nil {
		return err
	}
	if _, ok := dir.Member(member); !ok {
		return fmt.Errorf("--member: %q is not in the directory", member)
	}
	opts := notice.Options{TestNetwork: dir.TestNetwork}
	var notices []*headsupv1.Notice
	for _, name := range cmd.Args().Slice() {
		data, err := readInput(cmd.Root().Reader, name)
		if err != nil {
			return err
		}
		if name == "-" {
			name = "<stdin>"
		}
		n, err := noticefile.ParseAt(data, now)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if n.Issuer == "" {
			return fmt.Errorf("%s: issuer: missing: an offline notice names its issuer", name)
		}
		if err := notice.Fill(n, now); err != nil {
			return err
		}
		if err := notice.Normalize(n, opts); err != nil {
			return fmt.Errorf("%s: %w", name, documentError(n, err))
		}
		notices = append(notices, n)
	}
	snap, err := customers.NewFile(cmd.String("customers"), "", nil).Load(ctx)
	if err != nil {
		return fmt.Errorf("--customers: %w", err)
	}
	events, bad, err := agent.MatchNotices(notices, agent.Offline{Member: member, Directory: dir, Customers: snap.Rows,
		MaxHops: int(cmd.Int("max-hops")), Now: now})
	if err != nil {
		return err
	}
	for _, e := range bad {
		fmt.Fprintf(cmd.Root().ErrWriter, "headsup: match: customer row left out: %v\n", e)
	}
	w := cmd.Root().Writer
	if len(events) == 0 && !cmd.Bool("json") {
		_, err := fmt.Fprintf(w, "no alert: none of %d notices reaches a customer of %s (%d rows) or its own space\n", len(notices), member, len(snap.Rows))
		return err
	}
	for i, ev := range events {
		if cmd.Bool("json") {
			b, err := ev.MarshalJSON()
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		if _, err := fmt.Fprint(w, alert.Render(&ev)); err != nil {
			return err
		}
	}
	return nil
}
