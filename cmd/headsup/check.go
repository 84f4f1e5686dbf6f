package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/match"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "ask your agent whether values name the subject, host or reseller of any active notice",
		ArgsUsage: "VALUE...",
		Description: "Asks the agent's local API (headsup-agent --check-listen) about each VALUE:\n" +
			"a domain, IP address or prefix, AS number, e-mail address, organisation name\n" +
			"or registration (lei:…, company:CC:…, vat:…, rir:…). Without --type each\n" +
			"value's type is guessed. Each value is normalised as a customer row is and\n" +
			"matched as the agent matches customers, against the notices the agent has\n" +
			"verified and holds active. Per value it prints the hits (strength, role, notice,\n" +
			"rule, matched identifier) or \"no active notice\". A notice marked TLP:RED or\n" +
			"AMBER+STRICT is shown without its reason: ask its issuer's abuse contact.\n" +
			"The exit status is 0 with or without hits, 1 when a value is refused or the\n" +
			"agent cannot be asked.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "agent", Usage: "the agent's local API address", Value: agent.DefaultCheckListen, Sources: cli.EnvVars("HEADSUP_AGENT")},
			&cli.StringFlag{Name: "type", Usage: "read every VALUE as host, prefix, asn, email, organisation or registration (default: guess each)"},
			&cli.DurationFlag{Name: "timeout", Usage: "deadline of the call", Value: 10 * time.Second},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per value"},
		},
		Action: named("check", check),
	}
}

// checkTypes maps the row vocabulary (and its aliases) to the API's types.
var checkTypes = map[match.Type]headsupv1.IdentifierType{
	match.TypeHost:         headsupv1.IdentifierType_IDENTIFIER_TYPE_HOST,
	match.TypePrefix:       headsupv1.IdentifierType_IDENTIFIER_TYPE_PREFIX,
	match.TypeASN:          headsupv1.IdentifierType_IDENTIFIER_TYPE_ASN,
	match.TypeEmail:        headsupv1.IdentifierType_IDENTIFIER_TYPE_EMAIL,
	match.TypeOrganisation: headsupv1.IdentifierType_IDENTIFIER_TYPE_ORGANISATION,
	match.TypeRegistration: headsupv1.IdentifierType_IDENTIFIER_TYPE_REGISTRATION,
}

func check(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() == 0 {
		return usagef("give at least one VALUE")
	}
	typ := headsupv1.IdentifierType_IDENTIFIER_TYPE_UNSPECIFIED
	if s := cmd.String("type"); s != "" {
		t, err := match.ParseType(s)
		if err == nil {
			typ = checkTypes[t]
		}
		if typ == headsupv1.IdentifierType_IDENTIFIER_TYPE_UNSPECIFIED {
			return usagef("--type: %q is not one of host, prefix, asn, email, organisation, registration", s)
		}
	}
	addr := cmd.String("agent")
	if addr == "" {
		return usagef("--agent: empty address")
	}
	if cmd.Duration("timeout") <= 0 {
		return usagef("--timeout must be positive")
	}
	req := &headsupv1.CheckRequest{}
	for _, v := range cmd.Args().Slice() {
		req.Values = append(req.Values, &headsupv1.CheckValue{Value: v, Type: typ})
	}
	// The local API is on loopback and plaintext by design: it never
	// leaves the agent's machine.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("--agent %q: %w", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, cmd.Duration("timeout"))
	defer cancel()
	resp, err := headsupv1.NewAgentServiceClient(conn).Check(ctx, req)
	if err != nil {
		return fmt.Errorf("agent %s: %w", addr, rpcError(err))
	}
	w := cmd.Root().Writer
	refused := 0
	for _, r := range resp.Results {
		if r.Error != "" {
			refused++
		}
		if cmd.Bool("json") {
			if err := json.NewEncoder(w).Encode(checkJSON(r)); err != nil {
				return err
			}
			continue
		}
		printCheckResult(w, r)
	}
	if refused > 0 {
		return fmt.Errorf("%d of %d values refused", refused, len(resp.Results))
	}
	return nil
}

// typeName is an IdentifierType in the row vocabulary.
func typeName(t headsupv1.IdentifierType) string {
	for name, v := range checkTypes {
		if v == t {
			return string(name)
		}
	}
	return "unknown"
}

func printCheckResult(w io.Writer, r *headsupv1.CheckResult) {
	guessed := ""
	if r.Guessed {
		guessed = ", guessed"
	}
	if r.Error != "" {
		fmt.Fprintf(w, "%s: refused: %s\n", r.Value, r.Error)
		return
	}
	if len(r.Hits) == 0 {
		fmt.Fprintf(w, "%s (%s %s%s): no active notice\n", r.Value, typeName(r.Type), r.Normal, guessed)
		return
	}
	hits := "hits"
	if n := len(r.Hits) + int(r.OmittedHits); n == 1 {
		hits = "hit"
	}
	fmt.Fprintf(w, "%s (%s %s%s): %d %s\n", r.Value, typeName(r.Type), r.Normal, guessed, len(r.Hits)+int(r.OmittedHits), hits)
	for _, h := range r.Hits {
		n := h.GetNotice()
		var b strings.Builder
		fmt.Fprintf(&b, "  %s %s of %s %s/%s (seq %d", strength(h.Strength), roleName(h.Role), alert.KindFromProto(n.Kind), n.Issuer, n.Id, n.Sequence)
		if tlp := alert.TLPFromProto(n.Tlp); tlp != "" {
			fmt.Fprintf(&b, ", TLP:%s", tlp)
		}
		fmt.Fprintf(&b, ") by %s on %s", h.Rule, h.Identifier)
		if h.Note != "" {
			fmt.Fprintf(&b, " (%s)", h.Note)
		}
		switch {
		case n.Withheld:
			b.WriteString(" — reason withheld under its TLP")
		case n.Reason != "":
			fmt.Fprintf(&b, " — %s", n.Reason)
		}
		if n.IssuerAbuseContact != "" {
			fmt.Fprintf(&b, "; ask %s", n.IssuerAbuseContact)
		}
		fmt.Fprintln(w, b.String())
	}
	if r.OmittedHits > 0 {
		fmt.Fprintf(w, "  … and %d more\n", r.OmittedHits)
	}
}

func strength(s headsupv1.MatchStrength) string {
	if s == headsupv1.MatchStrength_MATCH_STRENGTH_STRONG {
		return alert.StrengthStrong
	}
	return alert.StrengthWeak
}

// roleName is an EntityRole without its prefix, in lower case:
// subject, sighting_host, reseller, upstream, operator.
func roleName(r headsupv1.EntityRole) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "ENTITY_ROLE_"))
}

// checkResultJSON is one value's answer for scripts.
type checkResultJSON struct {
	Value       string         `json:"value"`
	Type        string         `json:"type"`
	Guessed     bool           `json:"guessed"`
	Normal      string         `json:"normal,omitempty"`
	Error       string         `json:"error,omitempty"`
	Hits        []checkHitJSON `json:"hits"`
	OmittedHits uint32         `json:"omitted_hits,omitempty"`
}

type checkHitJSON struct {
	Strength    string          `json:"strength"`
	Role        string          `json:"role"`
	Rule        string          `json:"rule"`
	Identifier  string          `json:"identifier"`
	Note        string          `json:"note,omitempty"`
	EntityLabel string          `json:"entity_label,omitempty"`
	Notice      checkNoticeJSON `json:"notice"`
}

type checkNoticeJSON struct {
	Issuer             string     `json:"issuer"`
	IssuerName         string     `json:"issuer_name,omitempty"`
	IssuerAbuseContact string     `json:"issuer_abuse_contact,omitempty"`
	ID                 string     `json:"id"`
	Sequence           uint64     `json:"sequence"`
	Kind               string     `json:"kind"`
	TLP                string     `json:"tlp,omitempty"`
	Withheld           bool       `json:"withheld"`
	Reason             string     `json:"reason,omitempty"`
	Summary            string     `json:"summary,omitempty"`
	IssuedAt           *time.Time `json:"issued_at,omitempty"`
	EffectiveAt        *time.Time `json:"effective_at,omitempty"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
}

func checkJSON(r *headsupv1.CheckResult) checkResultJSON {
	out := checkResultJSON{Value: r.Value, Type: typeName(r.Type), Guessed: r.Guessed, Normal: r.Normal, Error: r.Error,
		Hits: []checkHitJSON{}, OmittedHits: r.OmittedHits}
	for _, h := range r.Hits {
		n := h.GetNotice()
		out.Hits = append(out.Hits, checkHitJSON{Strength: strength(h.Strength), Role: roleName(h.Role), Rule: h.Rule, Identifier: h.Identifier,
			Note: h.Note, EntityLabel: h.EntityLabel, Notice: checkNoticeJSON{
				Issuer: n.Issuer, IssuerName: n.IssuerName, IssuerAbuseContact: n.IssuerAbuseContact, ID: n.Id, Sequence: n.Sequence,
				Kind: alert.KindFromProto(n.Kind), TLP: alert.TLPFromProto(n.Tlp), Withheld: n.Withheld, Reason: n.Reason, Summary: n.Summary,
				IssuedAt: jsonTime(n.IssuedAt), EffectiveAt: jsonTime(n.EffectiveAt), ExpiresAt: jsonTime(n.ExpiresAt)}})
	}
	return out
}

func jsonTime(ts *timestamppb.Timestamp) *time.Time {
	if ts == nil {
		return nil
	}
	t := ts.AsTime().UTC()
	return &t
}
