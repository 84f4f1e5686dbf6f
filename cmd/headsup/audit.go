package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/atomicfile"
	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/witness"
)

func auditCommand() *cli.Command {
	c := &cli.Command{
		Name:  "audit",
		Usage: "verify the log's whole history, or export it for an offline audit",
		Description: "The auditor trusts nothing but the governance key it pins: the log key\n" +
			"comes from the signed directory found in the log itself. See DESIGN.md,\n" +
			"\"Audit\", for what verify proves.",
		Commands: []*cli.Command{
			{
				Name:  "verify",
				Usage: "replay the history and prove nothing was altered, dropped, reordered, rolled back or forked",
				UsageText: "headsup audit verify [--hub ADDR | --archive FILE] --governance-key VKEY\n" +
					"       [--state FILE] [--previous FILE] [--peers URL,...] [--require-quorum] [--json]",
				Description: "Replays the log from the hub (--hub and the common connection flags;\n" +
					"replaying every envelope needs the audit role) or from an archive made\n" +
					"by `headsup audit export` (--archive; --hub is then ignored). It\n" +
					"re-verifies every directory version under the governance key, every\n" +
					"notice with the key state logged before it, every sequence, every\n" +
					"checkpoint's signature and root, and the supersede references.\n" +
					"--state keeps the largest checkpoint verified between runs: a later\n" +
					"history that does not extend it fails. --previous compares the leaves\n" +
					"with an earlier export. --peers fetches members' witness URLs and\n" +
					"compares their checkpoints with the history.\n" +
					"Prints a summary on stdout (progress on stderr when it is a terminal).\n" +
					"Exit status 1 names the first offending sequence, or the range between\n" +
					"the last good and the first bad checkpoint, and what is wrong.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "archive", Usage: "audit this export file instead of the hub", TakesFile: true},
					&cli.StringFlag{Name: "governance-key", Usage: "the governance verifier key, or a file (NAME.vkey) holding it", Required: true},
					&cli.StringFlag{Name: "state", Usage: "the auditor's state file (created on the first run)", TakesFile: true},
					&cli.StringFlag{Name: "previous", Usage: "an earlier export of the same log", TakesFile: true},
					&cli.StringFlag{Name: "peers", Usage: "comma-separated witness URLs of members to compare checkpoints with"},
					&cli.BoolFlag{Name: "require-quorum", Usage: "fail when the latest checkpoint lacks its witness quorum"},
					&cli.StringFlag{Name: "log-id", Usage: "the log expected (replay from the hub only)"},
					&cli.BoolFlag{Name: "json", Usage: "print the report as one JSON object"},
				},
				Action: named("audit verify", auditVerify),
			},
			{
				Name:      "export",
				Usage:     "write the hub's history to an archive for offline audit",
				UsageText: "headsup audit export --out FILE [--log-id ID]",
				Description: "Replays the whole log from the hub (every envelope needs the audit\n" +
					"role) with its latest checkpoint, and writes them to FILE as JSON lines\n" +
					"(format headsup.audit.export.v1). The file appears complete or not at\n" +
					"all. Export copies without judging: run audit verify on the archive.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "the archive file to write", Required: true, TakesFile: true},
					&cli.StringFlag{Name: "log-id", Usage: "the log expected"},
				},
				Action: named("audit export", auditExport),
			},
		},
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return usagef("audit: unknown command %q (verify or export)", cmd.Args().First())
			}
			return usagef("audit: missing command (verify or export)")
		},
	}
	for _, sub := range c.Commands {
		sub.OnUsageError = func(_ context.Context, cmd *cli.Command, err error, _ bool) error {
			return &usageError{fmt.Errorf("audit %s: %w", cmd.Name, err)}
		}
	}
	return c
}

func auditVerify(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return usagef("unexpected argument %q", cmd.Args().First())
	}
	gov, err := directory.ReadVerifierKey(cmd.String("governance-key"))
	if err != nil {
		return usagef("--governance-key: %v", err)
	}
	cfg := audit.Config{
		GovernanceVerifierKey: gov,
		StatePath:             cmd.String("state"),
		PreviousExport:        cmd.String("previous"),
		RequireQuorum:         cmd.Bool("require-quorum"),
		Quorum:                witnessQuorum,
	}
	for _, p := range strings.Split(cmd.String("peers"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			if !strings.HasPrefix(p, "https://") && !strings.HasPrefix(p, "http://") {
				return usagef("--peers: %q is not an http(s) URL", p)
			}
			cfg.Peers = append(cfg.Peers, p)
		}
	}
	stderr := cmd.Root().ErrWriter
	if isTerminal(stderr) {
		cfg.Progress = func(done, last uint64) {
			fmt.Fprintf(stderr, "\rverified %d of %d entries", done, last)
		}
		defer fmt.Fprintln(stderr)
	}

	var src audit.Source
	if path := cmd.String("archive"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("--archive: %w", err)
		}
		defer f.Close()
		src = audit.NewArchiveSource(f)
	} else {
		conn, err := dial(cmd)
		if err != nil {
			return err
		}
		defer conn.Close()
		src = audit.NewHubSource(headsupv1.NewLogServiceClient(conn), cmd.String("log-id"))
	}
	rep, err := audit.Verify(ctx, cfg, src)
	var failure *audit.Failure
	if err != nil && !errors.As(err, &failure) {
		return err
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		if err := printAuditJSON(w, rep, failure); err != nil {
			return err
		}
	} else {
		printAudit(w, rep, failure)
	}
	if failure != nil {
		return failure
	}
	return nil
}

// printAudit writes the report for a person.
func printAudit(w io.Writer, rep *audit.Report, failure *audit.Failure) {
	if rep == nil {
		return
	}
	fmt.Fprintf(w, "log        %s (origin %s), sequences %d..%d\n", rep.LogID, orNone(rep.Origin), rep.First, rep.Last)
	fmt.Fprintf(w, "entries    %d: %d notices, %d redacted, %d directory versions (last serial %d)",
		rep.Entries, rep.Notices, rep.Redacted, rep.Directories, rep.DirectorySerial)
	if rep.FromPreviousExport > 0 {
		fmt.Fprintf(w, "; %d from the previous export", rep.FromPreviousExport)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "tree       size %d, root %s\n", rep.TreeSize, rep.Root)
	fmt.Fprintf(w, "checkpoints %d verified, largest at size %d\n", rep.Checkpoints, rep.LargestCheckpoint)
	if rep.QuorumChecked {
		fmt.Fprintf(w, "witnesses  %d checkpoints with quorum, up to %d cosigners (%s)\n", rep.Witnessed, rep.MaxCosigners, orNone(strings.Join(rep.Witnesses, ", ")))
	} else {
		fmt.Fprintf(w, "witnesses  quorum not checked\n")
	}
	fmt.Fprintf(w, "issuers    %d: %s\n", len(rep.Issuers), orNone(strings.Join(rep.Issuers, ", ")))
	if !rep.FirstTime.IsZero() {
		fmt.Fprintf(w, "time       %s .. %s\n", rep.FirstTime.UTC().Format(time.RFC3339), rep.LastTime.UTC().Format(time.RFC3339))
	}
	for _, p := range rep.Peers {
		fmt.Fprintf(w, "peer       %s: %s (size %d)\n", p.URL, p.Status, p.Size)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "warning    %s\n", warn)
	}
	if failure == nil {
		fmt.Fprintln(w, "OK")
		return
	}
	fmt.Fprintf(w, "FAILED     %v\n", failure)
	for i, n := range failure.Notes {
		fmt.Fprintf(w, "evidence %d:\n", i+1)
		for line := range strings.Lines(string(n)) {
			fmt.Fprintf(w, "  %s", line)
		}
	}
}

// auditJSON is the --json output.
type auditJSON struct {
	OK      bool          `json:"ok"`
	Report  *audit.Report `json:"report"`
	Failure *failureJSON  `json:"failure,omitempty"`
}

type failureJSON struct {
	Sequence uint64    `json:"sequence,omitempty"`
	Range    [2]uint64 `json:"range"`
	Error    string    `json:"error"`
	Reason   string    `json:"reason"`
	// Notes are the evidence, base64 (signed notes are byte-exact).
	Notes []string `json:"notes,omitempty"`
}

func printAuditJSON(w io.Writer, rep *audit.Report, failure *audit.Failure) error {
	out := auditJSON{OK: failure == nil, Report: rep}
	if failure != nil {
		f := &failureJSON{Sequence: failure.Sequence, Range: failure.Range, Error: failure.Error(), Reason: failure.Reason}
		for _, n := range failure.Notes {
			f.Notes = append(f.Notes, base64.StdEncoding.EncodeToString(n))
		}
		out.Failure = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func auditExport(ctx context.Context, cmd *cli.Command) (err error) {
	if cmd.NArg() > 0 {
		return usagef("unexpected argument %q", cmd.Args().First())
	}
	path := cmd.String("out")
	conn, err := dial(cmd)
	if err != nil {
		return err
	}
	defer conn.Close()
	src := audit.NewHubSource(headsupv1.NewLogServiceClient(conn), cmd.String("log-id"))

	// Written beside the target and renamed over it once synced: a
	// half-written archive never carries the final name.
	var out audit.Exported
	err = atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		out, err = audit.Export(ctx, src, w)
		return err
	})
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(cmd.Root().Writer, "exported %d entries (sequences %d..%d) and %d checkpoints of log %s to %s\n",
		out.Entries, out.First, out.Last, out.Checkpoints, out.LogID, path)
	return nil
}

// isTerminal reports whether w is a terminal (progress is for people).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// witnessQuorum counts the members other than the log's operator whose
// witness keys, valid at at, cosigned the checkpoint no later than at.
func witnessQuorum(dir *directory.Directory, signed []byte, at time.Time) (int, error) {
	q, err := witness.CheckQuorum(dir, signed, at)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range q.Cosigners {
		if !c.Time.After(at) {
			n++
		}
	}
	return n, nil
}
