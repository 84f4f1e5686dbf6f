package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/headsup-dev/headsup/internal/bench"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure every hot path against its unavoidable cost, in one run on this machine",
		Description: "Starts an embedded NATS server, a hub and agents on loopback in a temporary\n" +
			"directory and measures, for each scenario, a figure and its baseline (the\n" +
			"unavoidable cost: Ed25519 verification, raw JetStream, a bare gRPC call, a\n" +
			"bare map) interleaved in three rounds, and prints the median ratio, higher\n" +
			"being better, against its target. Progress goes to stderr. Absolute numbers\n" +
			"vary with the machine's load; the ratios much less.\n" +
			"\n" +
			"Scenarios: " + strings.Join(bench.Scenarios, ", ") + ".",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print a JSON array of {scenario, figure, unit, value, baseline, ratio, target, met}"},
			&cli.BoolFlag{Name: "quick", Usage: "every scenario at a small size (no 10M matching): a smoke test, well under a minute"},
			&cli.StringFlag{Name: "fsync", Value: "always,interval", Usage: "embedded NATS disk sync for publish and end-to-end: always, interval, or both (the other scenarios use the first)"},
			&cli.StringSliceFlag{Name: "only", Usage: "run only these scenarios (repeatable)"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the whole run (go tool pprof) to this file", TakesFile: true},
		},
		Action: named("bench", runBench),
	}
}

func runBench(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return usagef("takes no arguments, got %q", cmd.Args().First())
	}
	modes, err := bench.ParseFsync(cmd.String("fsync"))
	if err != nil {
		return usagef("%v", err)
	}
	o := bench.Options{Sizes: bench.Full(), Fsync: modes, Only: cmd.StringSlice("only")}
	for _, s := range o.Only {
		if !slices.Contains(bench.Scenarios, s) {
			return usagef("--only: %q is not one of %s", s, strings.Join(bench.Scenarios, ", "))
		}
	}
	if cmd.Bool("quick") {
		o.Sizes = bench.Quick()
	}
	if path := cmd.String("cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rows, err := bench.Run(ctx, o, cmd.Root().ErrWriter)
	if err != nil {
		return err
	}
	out := cmd.Root().Writer
	if cmd.Bool("json") {
		return bench.WriteJSON(out, rows)
	}
	if err := bench.WriteTable(out, rows); err != nil {
		return err
	}
	_, err = fmt.Fprint(out, bench.Legend)
	return err
}
