package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/noticefile"
)

func tailCommand() *cli.Command {
	return &cli.Command{
		Name:      "tail",
		Usage:     "follow the log, verifying every notice with your copy of the directory",
		UsageText: "headsup tail [--after N | --since RFC3339 | --new] [--json] [--log-id ID] [--count N]",
		Description: "Prints one line per entry:\n" +
			"  <sequence> <stored_at> <issuer>/<id> <KIND> <subject> <reason> verified kid=<kid>\n" +
			"An entry that fails verification is printed as INVALID with the reason, and\n" +
			"tail goes on. A redacted entry (a notice outside your audience) is verified\n" +
			"from its signature alone. With --json, one JSON object per entry.",
		Flags: []cli.Flag{
			&cli.Uint64Flag{Name: "after", Usage: "start after this sequence (0: from the beginning)"},
			&cli.StringFlag{Name: "since", Usage: "start at entries stored at or after this RFC 3339 time"},
			&cli.BoolFlag{Name: "new", Usage: "only entries appended from now on"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per entry"},
			&cli.StringFlag{Name: "log-id", Usage: "the log your cursor belongs to; another log is refused"},
			&cli.Uint64Flag{Name: "count", Usage: "exit after this many entries (0: follow until interrupted)"},
		},
		Action: named("tail", tail),
	}
}

func tail(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return usagef("unexpected argument %q", cmd.Args().First())
	}
	req := &headsupv1.SubscribeRequest{LogId: cmd.String("log-id")}
	var starts []string
	if cmd.IsSet("after") {
		starts = append(starts, "--after")
		req.Start = &headsupv1.SubscribeRequest_AfterSequence{AfterSequence: cmd.Uint64("after")}
	}
	if s := cmd.String("since"); cmd.IsSet("since") {
		starts = append(starts, "--since")
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return usagef("--since: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
		}
		req.Start = &headsupv1.SubscribeRequest_Since{Since: timestamppb.New(t)}
	}
	if cmd.Bool("new") {
		starts = append(starts, "--new")
		req.Start = &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}
	}
	if len(starts) > 1 {
		return usagef("%s: give at most one starting point", strings.Join(starts, ", "))
	}
	if cmd.String("directory") == "" {
		return usagef("--directory is required: tail verifies every notice with your own copy of the directory")
	}
	dir, err := loadDirectory(cmd)
	if err != nil {
		return err
	}
	conn, err := dial(cmd)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when --count is reached
	client := headsupv1.NewHubServiceClient(conn)
	p := &printer{w: cmd.Root().Writer, json: cmd.Bool("json"), dir: dir, member: cmd.String("member")}
	t := &tailer{p: p, count: cmd.Uint64("count")}
	// A tail that follows survives the hub and NATS restarting, a hub
	// replica going away and being cut off as too slow: it resumes after
	// the last sequence it printed, on the same log, after a jittered
	// pause. Anything else (a refused credential, another log, a cursor
	// out of range) ends it.
	pause := jitteredBackoff{base: 250 * time.Millisecond, max: 15 * time.Second}
	for {
		err := t.follow(ctx, client, req)
		switch {
		case err == nil || ctx.Err() != nil:
			return nil
		case !resumable(err) || !t.started():
			if t.p.logID == "" {
				return rpcError(err)
			}
			return fmt.Errorf("%w (resume with --after %d --log-id %s)", rpcError(err), t.last, t.p.logID)
		}
		if t.progressed {
			pause.reset()
		}
		wait := pause.next()
		fmt.Fprintf(cmd.Root().ErrWriter, "headsup: tail: %v; resuming after %d in %s\n", rpcError(err), t.last, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		req = &headsupv1.SubscribeRequest{LogId: t.p.logID, Start: &headsupv1.SubscribeRequest_AfterSequence{AfterSequence: t.last}}
	}
}

// tailer follows one subscription at a time and remembers where it is.
type tailer struct {
	p     *printer
	count uint64
	seen  uint64
	last  uint64
	// progressed says the last subscription delivered something.
	progressed bool
}

func (t *tailer) started() bool { return t.p.logID != "" }

// follow prints one subscription's entries; nil when --count is reached
// or the hub ended the stream cleanly.
func (t *tailer) follow(ctx context.Context, client headsupv1.HubServiceClient, req *headsupv1.SubscribeRequest) error {
	t.progressed = false
	stream, err := client.Subscribe(ctx, req)
	if err != nil {
		return err
	}
	for t.count == 0 || t.seen < t.count {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch ev := resp.Event.(type) {
		case *headsupv1.SubscribeResponse_Start:
			t.p.logID = ev.Start.GetLogId()
			t.last = ev.Start.GetAfterSequence()
		case *headsupv1.SubscribeResponse_Entry:
			t.last, t.progressed = ev.Entry.GetSequence(), true
			t.seen++
			if err := t.p.entry(ev.Entry, time.Now()); err != nil {
				return err
			}
		case *headsupv1.SubscribeResponse_Redacted:
			t.last, t.progressed = ev.Redacted.GetSequence(), true
			t.seen++
			if err := t.p.redacted(ev.Redacted); err != nil {
				return err
			}
		case *headsupv1.SubscribeResponse_Directory:
			t.last, t.progressed = ev.Directory.GetSequence(), true
			t.seen++
			if err := t.p.directory(ev.Directory); err != nil {
				return err
			}
		case *headsupv1.SubscribeResponse_Heartbeat:
		}
	}
	return nil
}

// resumable reports whether a subscription that ended with err may be
// resumed from its cursor: the hub or NATS went away or restarts, or the
// hub cut a slow reader off.
func resumable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted, codes.Internal:
		return true
	}
	return false
}

// jitteredBackoff is a jittered exponential pause: each next is drawn from the
// upper half of a step that doubles up to max, so that many clients
// cut off at once do not come back at once.
type jitteredBackoff struct {
	base, max, step time.Duration
}

func (b *jitteredBackoff) next() time.Duration {
	if b.step == 0 {
		b.step = b.base
	}
	d := b.step/2 + rand.N(b.step/2+1)
	b.step = min(2*b.step, b.max)
	return d
}

func (b *jitteredBackoff) reset() { b.step = 0 }

// printer writes entries as text lines or JSON objects.
type printer struct {
	w      io.Writer
	json   bool
	dir    *directory.Directory
	member string // when set, a redacted entry addressed to it is flagged
	logID  string
}

// entryJSON is one line of `tail --json`.
type entryJSON struct {
	Sequence uint64          `json:"sequence"`
	StoredAt string          `json:"stored_at"`
	LogID    string          `json:"log_id"`
	Issuer   string          `json:"issuer,omitempty"`
	ID       string          `json:"id,omitempty"`
	Kind     string          `json:"kind,omitempty"`
	Verified bool            `json:"verified"`
	Kid      string          `json:"kid,omitempty"`
	Expired  bool            `json:"expired,omitempty"`
	Redacted bool            `json:"redacted,omitempty"`
	Audience []string        `json:"audience,omitempty"`
	Error    string          `json:"error,omitempty"`
	Notice   json.RawMessage `json:"notice,omitempty"`
	// DirectorySerial is set on a directory version's line.
	DirectorySerial uint64 `json:"directory_serial,omitempty"`
}

func (p *printer) entry(e *headsupv1.Entry, now time.Time) error {
	stored := e.GetStoredAt().AsTime()
	out := entryJSON{Sequence: e.GetSequence(), StoredAt: formatTime(stored), LogID: p.logID}
	// Key validity is judged at the time the log stored the entry.
	v, err := envelope.Verify(e.GetEnvelope(), p.dir, stored)
	if err != nil {
		out.Error = err.Error()
		return p.print(out, fmt.Sprintf("%d %s INVALID %v", out.Sequence, out.StoredAt, err))
	}
	n := v.Notice
	out.Issuer, out.ID, out.Kind = n.Issuer, n.Id, kindName(n.Kind)
	out.Verified, out.Kid, out.Expired = true, v.Key.ID, v.Expired(now)
	if p.json {
		if out.Notice, err = noticeJSON(n); err != nil {
			return err
		}
	}
	line := fmt.Sprintf("%d %s %s/%s %s %s %s verified kid=%s",
		out.Sequence, out.StoredAt, n.Issuer, n.Id, out.Kind, subjectSummary(n), orDash(n.Reason), v.Key.ID)
	if out.Expired {
		line += " expired"
	}
	return p.print(out, line)
}

func (p *printer) redacted(r *headsupv1.RedactedEntry) error {
	stored := r.GetStoredAt().AsTime()
	out := entryJSON{Sequence: r.GetSequence(), StoredAt: formatTime(stored), LogID: p.logID, Redacted: true}
	c, _, k, err := envelope.VerifyJWS(r.GetJws(), p.dir, stored)
	if err == nil && p.member != "" && (len(c.Audience) == 0 || slices.Contains(c.Audience, p.member)) {
		// The signed audience includes us: the hub withheld a notice it
		// owed us and called it redacted.
		err = fmt.Errorf("redacted, but its signed audience %q includes %s", c.Audience, p.member)
	}
	if err != nil {
		out.Error = err.Error()
		return p.print(out, fmt.Sprintf("%d %s INVALID redacted: %v", out.Sequence, out.StoredAt, err))
	}
	out.Issuer, out.ID, out.Audience = c.Issuer, c.ID, c.Audience
	out.Verified, out.Kid = true, k.ID
	return p.print(out, fmt.Sprintf("%d %s %s/%s REDACTED audience=%s verified kid=%s",
		out.Sequence, out.StoredAt, c.Issuer, c.ID, strings.Join(c.Audience, ","), k.ID))
}

// directory prints a directory version the hub appended to the log. Its
// governance signature is checked by agents and `headsup audit verify`,
// which pin the governance key; tail shows where it is.
func (p *printer) directory(d *headsupv1.DirectoryEntry) error {
	stored := d.GetStoredAt().AsTime()
	out := entryJSON{Sequence: d.GetSequence(), StoredAt: formatTime(stored), LogID: p.logID, Kind: "DIRECTORY", DirectorySerial: d.GetSerial()}
	return p.print(out, fmt.Sprintf("%d %s DIRECTORY serial=%d", out.Sequence, out.StoredAt, d.GetSerial()))
}

func (p *printer) print(out entryJSON, line string) error {
	if p.json {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		line = string(b)
	}
	_, err := fmt.Fprintln(p.w, line)
	return err
}

// noticeJSON is the notice in document form, as `publish` reads it; a
// notice the document cannot spell (it passed verification, so this should
// not happen) falls back to protojson rather than being hidden.
func noticeJSON(n *headsupv1.Notice) (json.RawMessage, error) {
	if b, err := noticefile.FormatJSON(n); err == nil {
		return b, nil
	}
	return protojson.Marshal(n)
}

func kindName(k headsupv1.NoticeKind) string {
	return strings.TrimPrefix(k.String(), "NOTICE_KIND_")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// subjectSummary names the subject in one space-free word for the line:
// its label and first identifiers, "chanboard[chanboard.example,192.0.2.10/32,+3]".
func subjectSummary(n *headsupv1.Notice) string {
	if n.Kind == headsupv1.NoticeKind_NOTICE_KIND_RETRACTION {
		return "retracts=" + orDash(n.Supersedes)
	}
	s := entitySummary(n.GetSubject())
	if h := n.GetSighting().GetHost(); h != nil {
		s += "@" + entitySummary(h)
	}
	for _, r := range n.GetRelations() {
		s += fmt.Sprintf(">%s:%s", strings.ToLower(strings.TrimPrefix(r.Kind.String(), "RELATION_KIND_")), entitySummary(r.GetEntity()))
	}
	return s
}

func entitySummary(e *headsupv1.Entity) string {
	if e == nil {
		return "-"
	}
	const shown = 2
	label := e.Label
	if label == "" {
		label = e.Member
	}
	if strings.ContainsAny(label, " \t\n[],") {
		label = strconv.Quote(label)
	}
	var ids []string
	for i, id := range e.Identifiers {
		if i == shown {
			ids = append(ids, fmt.Sprintf("+%d", len(e.Identifiers)-shown))
			break
		}
		ids = append(ids, identifierText(id))
	}
	switch {
	case len(ids) == 0:
		return orDash(label)
	case label == "":
		return strings.Join(ids, ",")
	}
	return label + "[" + strings.Join(ids, ",") + "]"
}

func identifierText(id *headsupv1.Identifier) string {
	switch v := id.GetValue().(type) {
	case *headsupv1.Identifier_Host:
		return v.Host
	case *headsupv1.Identifier_Address:
		return v.Address.GetPrefix()
	case *headsupv1.Identifier_Asn:
		return fmt.Sprintf("AS%d", v.Asn.GetNumber())
	case *headsupv1.Identifier_Email:
		return v.Email
	case *headsupv1.Identifier_Organisation:
		return strconv.Quote(v.Organisation)
	case *headsupv1.Identifier_Registration:
		return strings.ToLower(strings.TrimPrefix(v.Registration.GetScheme().String(), "REGISTRATION_SCHEME_")) + ":" + v.Registration.GetValue()
	case *headsupv1.Identifier_Hashed:
		return v.Hashed
	}
	return "?"
}
