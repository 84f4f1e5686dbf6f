package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
)

// alertsCommand is the desk's triage: list, show, acknowledge, suppress
// and unsuppress the alerts of the agent at --agent (its local API).
func alertsCommand() *cli.Command {
	common := func() []cli.Flag {
		return []cli.Flag{
			&cli.StringFlag{Name: "agent", Usage: "the agent's local API address", Value: agent.DefaultCheckListen, Sources: cli.EnvVars("HEADSUP_AGENT")},
			&cli.DurationFlag{Name: "timeout", Usage: "deadline of the call", Value: 10 * time.Second},
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"},
		}
	}
	who := func() []cli.Flag {
		return []cli.Flag{
			&cli.StringFlag{Name: "by", Usage: "who does it (default $USER)"},
			&cli.StringFlag{Name: "note", Usage: "why, or the ticket"},
		}
	}
	c := &cli.Command{
		Name:  "alerts",
		Usage: "triage your agent's alerts: list, show, ack, suppress, unsuppress",
		Description: "Talks to the agent's local API (headsup-agent --check-listen). Acknowledging,\n" +
			"suppressing and unsuppressing are stored by the agent, survive its restarts,\n" +
			"and each is sent to its sinks as a headsup.alert.v1 event (acked, suppressed,\n" +
			"unsuppressed). A suppressed alert stays up to date in the agent but its sinks\n" +
			"stay silent until it comes back: lifted by hand, its --until passed, a new\n" +
			"root notice about the same subject for the same customer, a higher severity\n" +
			"or a stronger path. ALERT is an alert id or its first 8 or more hex digits.",
		Commands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list alerts, active first, most severe first",
				Flags: append(common(),
					&cli.StringFlag{Name: "state", Usage: "active or withdrawn"},
					&cli.StringFlag{Name: "triage", Usage: "open (neither acked nor suppressed), acked or suppressed"},
					&cli.StringFlag{Name: "min-severity", Usage: "low, medium, high or critical: the least severe alert listed"},
					&cli.StringFlag{Name: "customer", Usage: "a customer id"},
					&cli.StringFlag{Name: "type", Usage: "match, own_space, root_not_visible, integrity or directory_stale"},
					&cli.IntFlag{Name: "limit", Usage: "at most this many alerts (1 to 1000)", Value: 100},
					&cli.StringFlag{Name: "page-token", Usage: "the next page, as the previous page said"},
				),
				Action: named("alerts list", alertsList),
			},
			{
				Name:      "show",
				Usage:     "show one alert: its latest event, its history and its suppressions",
				ArgsUsage: "ALERT",
				Flags:     common(),
				Action:    named("alerts show", alertsShow),
			},
			{
				Name:      "ack",
				Usage:     "acknowledge an alert",
				ArgsUsage: "ALERT",
				Flags:     append(common(), who()...),
				Action:    named("alerts ack", alertsAck),
			},
			{
				Name:      "suppress",
				Usage:     "silence the alerts a rule selects (and ALERT, if given)",
				ArgsUsage: "[ALERT]",
				Flags: append(append(common(), who()...),
					&cli.StringFlag{Name: "customer", Usage: "select a customer's alerts (its id)"},
					&cli.StringFlag{Name: "subject", Usage: "select the alerts about a subject (its label or an identifier, e.g. chanboard.example)"},
					&cli.StringFlag{Name: "root", Usage: "select the alerts rooted in a notice (ISSUER/NOTICE-ID)"},
					&cli.StringFlag{Name: "reason-prefix", Usage: "narrow to a reason: an RSIT class or class:type"},
					&cli.StringFlag{Name: "until", Usage: "end the suppression by itself after a duration (24h) or at a time (RFC 3339)"},
				),
				Action: named("alerts suppress", alertsSuppress),
			},
			{
				Name:      "unsuppress",
				Usage:     "lift the suppressions of ALERT, or one suppression (--suppression)",
				ArgsUsage: "[ALERT]",
				Flags: append(append(common(), who()...),
					&cli.Uint64Flag{Name: "suppression", Usage: "lift this suppression with every alert it holds"},
				),
				Action: named("alerts unsuppress", alertsUnsuppress),
			},
		},
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return usagef("alerts: unknown command %q (list, show, ack, suppress or unsuppress)", cmd.Args().First())
			}
			return usagef("alerts: missing command (list, show, ack, suppress or unsuppress)")
		},
	}
	for _, sub := range c.Commands {
		// Flag errors name the whole command, as action errors do.
		sub.OnUsageError = func(_ context.Context, cmd *cli.Command, err error, _ bool) error {
			return &usageError{fmt.Errorf("alerts %s: %w", cmd.Name, err)}
		}
	}
	return c
}

// agentClient dials --agent (loopback and plaintext by design: the local
// API never leaves the agent's machine) and returns a client and a
// context bounded by --timeout.
func agentClient(ctx context.Context, cmd *cli.Command) (headsupv1.AgentServiceClient, context.Context, func(), error) {
	addr := cmd.String("agent")
	if addr == "" {
		return nil, nil, nil, usagef("--agent: empty address")
	}
	if cmd.Duration("timeout") <= 0 {
		return nil, nil, nil, usagef("--timeout: must be positive")
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, nil, usagef("--agent %q: %v", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cmd.Duration("timeout"))
	return headsupv1.NewAgentServiceClient(conn), ctx, func() { cancel(); conn.Close() }, nil
}

func agentError(cmd *cli.Command, err error) error {
	return fmt.Errorf("agent %s: %w", cmd.String("agent"), rpcError(err))
}

// oneAlert is the ALERT argument.
func oneAlert(cmd *cli.Command, optional bool) (string, error) {
	switch {
	case cmd.NArg() == 0 && optional:
		return "", nil
	case cmd.NArg() == 0:
		return "", usagef("give the ALERT (its id, or its first 8 or more hex digits)")
	case cmd.NArg() > 1:
		return "", usagef("takes one ALERT, got %d arguments", cmd.NArg())
	}
	id := strings.ToLower(cmd.Args().First())
	if !regexp.MustCompile(`^[0-9a-f]{8,64}$`).MatchString(id) {
		return "", usagef("ALERT: %q is not an alert id (8 to 64 hex digits)", cmd.Args().First())
	}
	return id, nil
}

// actor is --by, or $USER.
func actor(cmd *cli.Command) (string, error) {
	by := strings.TrimSpace(cmd.String("by"))
	if by == "" {
		by = os.Getenv("USER")
	}
	if by == "" {
		return "", usagef("--by: empty, and $USER is not set: say who you are")
	}
	return by, nil
}

func oneOf(flag, v string, allowed ...string) error {
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return usagef("--%s: %q is not one of %s", flag, v, strings.Join(allowed, ", "))
}

func alertsList(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return usagef("unexpected argument %q", cmd.Args().First())
	}
	for _, c := range []struct {
		flag    string
		allowed []string
	}{
		{"state", []string{"active", "withdrawn"}},
		{"triage", []string{"open", "acked", "suppressed"}},
		{"min-severity", []string{"low", "medium", "high", "critical"}},
		{"type", []string{alert.TypeMatch, alert.TypeOwnSpace, alert.TypeRootNotVisible, alert.TypeIntegrity, alert.TypeDirectoryStale}},
	} {
		if err := oneOf(c.flag, cmd.String(c.flag), c.allowed...); err != nil {
			return err
		}
	}
	limit := cmd.Int("limit")
	if limit < 1 || limit > 1000 {
		return usagef("--limit: %d is not between 1 and 1000", limit)
	}
	client, ctx, done, err := agentClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := client.ListAlerts(ctx, &headsupv1.ListAlertsRequest{State: cmd.String("state"), Triage: cmd.String("triage"),
		MinSeverity: cmd.String("min-severity"), CustomerId: cmd.String("customer"), Type: cmd.String("type"),
		PageSize: uint32(limit), PageToken: cmd.String("page-token")})
	if err != nil {
		return agentError(cmd, err)
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(w)
		for _, a := range resp.Alerts {
			if err := enc.Encode(summaryJSON(a)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, a := range resp.Alerts {
		fmt.Fprintf(w, "%-8s %-9s %-10s %s rev %d  %s\n", strings.ToUpper(a.Severity), a.State, triageWord(a.Triage), a.AlertId[:12], a.Revision, printableLine(a.Headline))
	}
	fmt.Fprintf(w, "%d of %d alerts\n", len(resp.Alerts), resp.Total)
	if resp.NextPageToken != "" {
		fmt.Fprintf(w, "more: --page-token %s\n", resp.NextPageToken)
	}
	return nil
}

// printableLine keeps text from notices and customer lists on one line
// and away from the terminal's control sequences.
func printableLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func triageWord(t *headsupv1.AlertTriage) string {
	switch {
	case t.GetAcked() && t.GetSuppressed():
		return "acked,sup"
	case t.GetSuppressed():
		return "suppressed"
	case t.GetAcked():
		return "acked"
	}
	return "open"
}

// summaryJSON is an AlertSummary for scripts, in the alert schema's
// vocabulary.
func summaryJSON(a *headsupv1.AlertSummary) map[string]any {
	m := map[string]any{"alert_id": a.AlertId, "revision": a.Revision, "event": a.Event, "state": a.State, "type": a.Type,
		"severity": a.Severity, "strength": a.Strength, "customer_id": a.CustomerId, "customer_name": a.CustomerName,
		"subject": a.Subject, "root": a.Root, "reason": a.Reason, "headline": a.Headline, "group_key": a.GroupKey,
		"updated_at": a.UpdatedAt.AsTime().UTC().Format(time.RFC3339)}
	t := map[string]any{"acked": a.Triage.GetAcked(), "suppressed": a.Triage.GetSuppressed()}
	if a.Triage.GetAcked() {
		t["acked_by"], t["acked_at"], t["ack_note"] = a.Triage.AckedBy, a.Triage.AckedAt.AsTime().UTC().Format(time.RFC3339), a.Triage.AckNote
	}
	if ids := a.Triage.GetSuppressionIds(); len(ids) > 0 {
		t["suppression_ids"] = ids
	}
	m["triage"] = t
	return m
}

func stamp(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func alertsShow(ctx context.Context, cmd *cli.Command) error {
	id, err := oneAlert(cmd, false)
	if err != nil {
		return err
	}
	client, ctx, done, err := agentClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := client.GetAlert(ctx, &headsupv1.GetAlertRequest{AlertId: id})
	if err != nil {
		return agentError(cmd, err)
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		var hist []map[string]any
		for _, h := range resp.History {
			hist = append(hist, map[string]any{"revision": h.Revision, "event": h.Event, "at": stamp(h.At), "state": h.State,
				"severity": h.Severity, "strength": h.Strength, "by": h.By, "note": h.Note, "silenced": h.Silenced})
		}
		var sups []map[string]any
		for _, s := range resp.Suppressions {
			sups = append(sups, suppressionJSON(s))
		}
		return json.NewEncoder(w).Encode(map[string]any{"alert": summaryJSON(resp.Alert), "event": json.RawMessage(resp.EventJson),
			"history": hist, "suppressions": sups})
	}
	var ev alert.Event
	if err := json.Unmarshal([]byte(resp.EventJson), &ev); err != nil {
		return fmt.Errorf("the agent's event for %s: %w", id, err)
	}
	fmt.Fprintf(w, "%s", alert.Render(&ev))
	fmt.Fprintf(w, "%-9s %s, %s\n", "state", resp.Alert.State, triageWord(resp.Alert.Triage))
	fmt.Fprintln(w, "history")
	for _, h := range resp.History {
		line := fmt.Sprintf("  %d. %s %s (%s, %s", h.Revision, stamp(h.At), h.Event, h.State, h.Severity)
		if h.Strength != "" {
			line += ", " + h.Strength
		}
		line += ")"
		if h.By != "" {
			line += " by " + printableLine(h.By)
		}
		if h.Note != "" {
			line += ": " + printableLine(h.Note)
		}
		if h.Silenced {
			line += " [not sent: suppressed]"
		}
		fmt.Fprintln(w, line)
	}
	for _, s := range resp.Suppressions {
		fmt.Fprintln(w, suppressionLine(s))
	}
	return nil
}

func suppressionLine(s *headsupv1.Suppression) string {
	sel := alert.SelectorString(&alert.Suppression{AlertID: s.AlertId, CustomerID: s.CustomerId, Subject: s.Subject, Root: s.Root, ReasonPrefix: s.ReasonPrefix})
	line := fmt.Sprintf("suppression %d (%s) by %s at %s", s.Id, printableLine(sel), printableLine(s.By), stamp(s.CreatedAt))
	if s.Until != nil {
		line += ", until " + stamp(s.Until)
	}
	if s.Note != "" {
		line += ": " + printableLine(s.Note)
	}
	if s.LiftedAt != nil {
		line += fmt.Sprintf("; lifted by %s at %s (%s)", printableLine(s.LiftedBy), stamp(s.LiftedAt), printableLine(s.LiftedWhy))
	}
	return line
}

func suppressionJSON(s *headsupv1.Suppression) map[string]any {
	m := map[string]any{"id": s.Id, "by": s.By, "created_at": stamp(s.CreatedAt)}
	for k, v := range map[string]string{"alert_id": s.AlertId, "customer_id": s.CustomerId, "subject": s.Subject, "root": s.Root,
		"reason_prefix": s.ReasonPrefix, "note": s.Note, "until": stamp(s.Until), "lifted_at": stamp(s.LiftedAt), "lifted_by": s.LiftedBy, "lifted_why": s.LiftedWhy} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

func alertsAck(ctx context.Context, cmd *cli.Command) error {
	id, err := oneAlert(cmd, false)
	if err != nil {
		return err
	}
	by, err := actor(cmd)
	if err != nil {
		return err
	}
	client, ctx, done, err := agentClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := client.AckAlert(ctx, &headsupv1.AckAlertRequest{AlertId: id, By: by, Note: cmd.String("note")})
	if err != nil {
		return agentError(cmd, err)
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		return json.NewEncoder(w).Encode(map[string]any{"changed": resp.Changed, "alert": summaryJSON(resp.Alert)})
	}
	t := resp.Alert.Triage
	if !resp.Changed {
		fmt.Fprintf(w, "%s was acked already, by %s at %s\n", resp.Alert.AlertId, printableLine(t.AckedBy), stamp(t.AckedAt))
		return nil
	}
	fmt.Fprintf(w, "acked %s (revision %d) as %s\n", resp.Alert.AlertId, resp.Alert.Revision, printableLine(by))
	return nil
}

var (
	rootFlagRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reasonFlagRE = regexp.MustCompile(`^[a-z-]+(:[a-z0-9-]+)?$`)
)

// parseUntil reads --until: a positive duration from now, or an RFC 3339
// time in the future.
func parseUntil(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, usagef("--until: %q is not in the future", v)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef("--until: %q is neither a duration (24h, 90m) nor an RFC 3339 time (2026-03-15T09:00:00Z)", v)
	}
	if !t.After(now) {
		return time.Time{}, usagef("--until: %q is not in the future", v)
	}
	return t, nil
}

func alertsSuppress(ctx context.Context, cmd *cli.Command) error {
	id, err := oneAlert(cmd, true)
	if err != nil {
		return err
	}
	s := &headsupv1.Suppression{AlertId: id, CustomerId: cmd.String("customer"), Subject: cmd.String("subject"),
		Root: strings.ToLower(cmd.String("root")), ReasonPrefix: cmd.String("reason-prefix"), Note: cmd.String("note")}
	if s.AlertId == "" && s.CustomerId == "" && s.Subject == "" && s.Root == "" {
		return usagef("say what to suppress: ALERT, --customer, --subject or --root")
	}
	if s.Root != "" && !rootFlagRE.MatchString(s.Root) {
		return usagef("--root: %q is not ISSUER/NOTICE-ID", cmd.String("root"))
	}
	if s.ReasonPrefix != "" && !reasonFlagRE.MatchString(s.ReasonPrefix) {
		return usagef("--reason-prefix: %q is not an RSIT class or class:type (abusive-content, fraud:phishing)", s.ReasonPrefix)
	}
	if v := cmd.String("until"); v != "" {
		t, err := parseUntil(v, time.Now())
		if err != nil {
			return err
		}
		s.Until = timestamppb.New(t)
	}
	if s.By, err = actor(cmd); err != nil {
		return err
	}
	client, ctx, done, err := agentClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := client.SuppressAlert(ctx, &headsupv1.SuppressAlertRequest{Suppression: s})
	if err != nil {
		return agentError(cmd, err)
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		return json.NewEncoder(w).Encode(map[string]any{"suppression": suppressionJSON(resp.Suppression), "alert_ids": resp.AlertIds})
	}
	fmt.Fprintf(w, "suppression %d holds %s\n", resp.Suppression.Id, plural(len(resp.AlertIds), "alert"))
	printIDs(w, resp.AlertIds)
	return nil
}

func printIDs(w io.Writer, ids []string) {
	for _, id := range ids {
		fmt.Fprintf(w, "  %s\n", id)
	}
}

func alertsUnsuppress(ctx context.Context, cmd *cli.Command) error {
	id, err := oneAlert(cmd, true)
	if err != nil {
		return err
	}
	req := &headsupv1.UnsuppressAlertRequest{Note: cmd.String("note")}
	switch {
	case id != "" && cmd.IsSet("suppression"):
		return usagef("--suppression: give either ALERT or --suppression, not both")
	case id != "":
		req.Target = &headsupv1.UnsuppressAlertRequest_AlertId{AlertId: id}
	case cmd.IsSet("suppression"):
		if cmd.Uint64("suppression") == 0 {
			return usagef("--suppression: 0 is not a suppression id")
		}
		req.Target = &headsupv1.UnsuppressAlertRequest_SuppressionId{SuppressionId: cmd.Uint64("suppression")}
	default:
		return usagef("say what to lift: ALERT or --suppression")
	}
	if req.By, err = actor(cmd); err != nil {
		return err
	}
	client, ctx, done, err := agentClient(ctx, cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := client.UnsuppressAlert(ctx, req)
	if err != nil {
		return agentError(cmd, err)
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		return json.NewEncoder(w).Encode(map[string]any{"alert_ids": resp.AlertIds})
	}
	fmt.Fprintf(w, "%s back\n", plural(len(resp.AlertIds), "alert"))
	printIDs(w, resp.AlertIds)
	return nil
}
