package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v3"
	"google.golang.org/grpc"

	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/loadtest"
)

func loadCommand() *cli.Command {
	d := loadtest.DefaultConfig()
	return &cli.Command{
		Name:  "load",
		Usage: "drive N publishers and M subscribers against a hub and report throughput, latency and memory",
		Description: "Without --hub, starts its own hub on loopback (embedded NATS in a temporary\n" +
			"directory, no access control) and also reports the memory of this process,\n" +
			"which hosts the hub and the load generator. With --hub, publishes as --member\n" +
			"signed with --key (and --call-key, or mTLS, when the hub requires it); that\n" +
			"hub's per-member publish rate and stream limits apply. Publishers run a\n" +
			"closed loop for --duration; subscribers follow the log from its end;\n" +
			"latency runs from the start of each Publish to each subscriber's receipt.\n" +
			"Progress goes to stderr.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "publishers", Value: d.Publishers, Usage: "concurrent publishers (N)"},
			&cli.IntFlag{Name: "subscribers", Value: d.Subscribers, Usage: "concurrent subscribers (M)"},
			&cli.DurationFlag{Name: "duration", Value: d.Duration, Usage: "how long publishers publish"},
			&cli.StringFlag{Name: "fsync", Value: "always", Usage: "the in-process hub's disk sync: always or interval"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as one JSON object"},
		},
		Action: named("load", runLoad),
	}
}

func runLoad(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return usagef("takes no arguments, got %q", cmd.Args().First())
	}
	cfg := loadtest.Config{
		Publishers:  int(cmd.Int("publishers")),
		Subscribers: int(cmd.Int("subscribers")),
		Duration:    cmd.Duration("duration"),
		Progress:    cmd.Root().ErrWriter,
	}
	switch {
	case cfg.Publishers < 1:
		return usagef("--publishers: %d, want at least 1", cfg.Publishers)
	case cfg.Subscribers < 0:
		return usagef("--subscribers: %d, want at least 0", cfg.Subscribers)
	case cfg.Duration <= 0:
		return usagef("--duration: %v, want a positive duration", cfg.Duration)
	}
	switch f := cmd.String("fsync"); f {
	case "always":
		cfg.Fsync = bus.FsyncAlways
	case "interval":
		cfg.Fsync = bus.FsyncInterval
	default:
		return usagef("--fsync: %q is not one of always, interval", f)
	}
	if cmd.IsSet("hub") {
		cfg.Hub = cmd.String("hub")
		cfg.Member = cmd.String("member")
		if cfg.Member == "" || cmd.String("key") == "" {
			return usagef("--hub: --member and --key (a notice key of a member with the publish role) are required")
		}
		key, err := directory.LoadPrivateKey(cmd.String("key"))
		if err != nil {
			return fmt.Errorf("--key: %w", err)
		}
		cfg.Key = key
		cfg.Dial = func() (*grpc.ClientConn, error) { return dial(cmd) }
	}
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	out := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return writeLoadReport(out, rep)
}

func writeLoadReport(w io.Writer, r *loadtest.Report) error {
	target := r.Hub
	if r.Hub == loadtest.InProcess {
		target = "an in-process hub (embedded NATS, fsync " + r.Fsync + ")"
	}
	secs := time.Duration(r.Seconds * float64(time.Second)).Round(10 * time.Millisecond)
	_, err := fmt.Fprintf(w, "%d publishers, %d subscribers, %v against %s\n"+
		"throughput   %.0f notices/s acknowledged (%d in %v, %d publish errors)\n"+
		"delivered    %d of %d (%d undelivered, %d resumed subscriptions)\n"+
		"latency      p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (publish to each receipt)\n",
		r.Publishers, r.Subscribers, secs, target,
		r.Throughput, r.Acknowledged, secs, r.PublishErrors,
		r.Deliveries, r.Acknowledged*int64(r.Subscribers), r.Undelivered, r.Cutoffs,
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	if err != nil {
		return err
	}
	if r.Memory == nil {
		_, err = fmt.Fprintln(w, "memory       not measured (remote hub: see its own metrics)")
		return err
	}
	_, err = fmt.Fprintf(w, "memory       heap in use %s max, %s after; RSS %s max (hub and load generator in one process)\n",
		mib(r.Memory.HeapMax), mib(r.Memory.HeapEnd), mib(r.Memory.RSSMax))
	return err
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
