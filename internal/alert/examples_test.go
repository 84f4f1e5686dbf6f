package alert_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
)

// The story of DESIGN.md, as the upstream provider voxhost's agent sees it.
const (
	member     = "voxhost"
	customerID = "c-1042"
	rootID     = "01957a3c-8e2b-7c41-9a6d-3f2e1b0c4d5e" // edgeshield's CUSTOMER_SUSPENDED
	sightID    = "01957a41-02c4-7d10-8b3e-5a6f7c8d9e0f" // researchorg's CUSTOMER_SIGHTED (tls)
	dnsSightID = "01957a42-77aa-7e21-a1b2-c3d4e5f60718" // edgeshield's CUSTOMER_SIGHTED (dns)
	resellerID = "01957a45-1d2e-7f30-9c4b-6d7e8f90a1b2" // edgeshield's RESELLER_IDENTIFIED
	retractID  = "01957b10-5e6f-7a81-8d9c-0b1a2c3d4e5f" // researchorg's RETRACTION
	forgedID   = "01957b20-0000-7000-8000-000000000001"
	staleID    = "01957b21-0000-7000-8000-000000000002"
)

var at = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// kid makes a key id of the right shape (an RFC 7638 thumbprint is 43
// base64url characters).
func kid(seed string) string {
	h := sha256.Sum256([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func sha(seed string) string {
	h := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(h[:])
}

func tp(t time.Time) *time.Time { return &t }
func ip(n int64) *int64         { return &n }

func notice(issuer, id, kind string, seq uint64, tlp string) alert.LinkNotice {
	return alert.LinkNotice{Issuer: issuer, ID: id, Kind: kind, Sequence: seq, KID: kid(issuer), SignedBy: issuer, Verified: true, TLP: tlp}
}

func root() *alert.NoticeRef {
	return &alert.NoticeRef{
		Issuer:   alert.Issuer{ID: "edgeshield", Name: "EdgeShield CDN", AbuseContact: "abuse@edgeshield.example"},
		ID:       rootID,
		Sequence: 1, KID: kid("edgeshield"), SignedBy: "edgeshield", Verified: true,
		Action: alert.ActionSuspended, Reason: "abusive-content:violence", ReasonVerified: true,
		LegalBasis:  &alert.LegalBasis{Kind: alert.LegalTermsOfService, Reference: "AUP §4.2 (incitement to violence)", URL: "https://edgeshield.example/legal/aup#4.2"},
		Summary:     "Terminated chanboard.example: repeated calls to violence against named people after two warnings.",
		TLP:         alert.TLPAmber,
		IssuedAt:    tp(at.Add(-72 * time.Hour)),
		EffectiveAt: tp(at.Add(-73 * time.Hour)),
	}
}

func subject() *alert.Entity {
	return &alert.Entity{Label: "chanboard.example", Identifiers: []string{"host:chanboard.example", "prefix:192.0.2.0/24", "asn:holder:64500"}}
}

func customer() *alert.Customer {
	return &alert.Customer{ID: customerID, Name: "epiq", Link: "https://desk.voxhost.example/customers/c-1042", Member: "epiq"}
}

// tlsPath: root → researchorg's tls sighting (host mitigatr) → edgeshield's
// RESELLER_IDENTIFIED (mitigatr operated_by epiq) → customer row.
func tlsPath() alert.Path {
	return alert.Path{Strength: alert.StrengthStrong, Hops: 0, Links: []alert.Link{
		{Notice: notice("edgeshield", rootID, alert.KindCustomerSuspended, 1, alert.TLPAmber), Role: alert.RoleSubject,
			Matched: &alert.Match{Identifier: "host:chanboard.example", Row: alert.Row{Source: "notice:researchorg/" + sightID, Type: "host", Value: "chanboard.example", Owner: "subject"}, Rule: "same-host", Strength: alert.StrengthStrong}},
		{Notice: notice("researchorg", sightID, alert.KindCustomerSighted, 7, alert.TLPGreen), Role: alert.RoleSighting,
			Matched: &alert.Match{Identifier: "prefix:198.51.100.7/32", Row: alert.Row{Source: "notice:edgeshield/" + resellerID, Type: "prefix", Value: "198.51.100.0/24", Owner: "subject"}, Rule: "notice-prefix-contains", Strength: alert.StrengthStrong,
				Method: "tls", ObservedAt: tp(at.Add(-3*time.Hour - 5*time.Minute)), AgeSeconds: ip(int64((3*time.Hour + 5*time.Minute) / time.Second))}},
		{Notice: notice("edgeshield", resellerID, alert.KindResellerIdentified, 9, alert.TLPGreen), Role: alert.RoleReseller},
		{Notice: notice("edgeshield", resellerID, alert.KindResellerIdentified, 9, alert.TLPGreen), Role: alert.RoleOperator,
			Matched: &alert.Match{Identifier: "host:epiq.example", Row: alert.Row{Source: "customers.csv", Line: 12, Type: "host", Value: "epiq.example", Owner: customerID}, Rule: "same-host", Strength: alert.StrengthStrong, Note: "operated_by: no hop"}},
	}}
}

// dnsPath: root → edgeshield's own dns-only sighting → customer prefix.
func dnsPath() alert.Path {
	return alert.Path{Strength: alert.StrengthWeak, Hops: 0, Links: []alert.Link{
		{Notice: notice("edgeshield", rootID, alert.KindCustomerSuspended, 1, alert.TLPAmber), Role: alert.RoleSubject,
			Matched: &alert.Match{Identifier: "host:chanboard.example", Row: alert.Row{Source: "notice:edgeshield/" + dnsSightID, Type: "host", Value: "chanboard.example"}, Rule: "same-host", Strength: alert.StrengthStrong}},
		{Notice: notice("edgeshield", dnsSightID, alert.KindCustomerSighted, 8, alert.TLPAmber), Role: alert.RoleSighting,
			Matched: &alert.Match{Identifier: "prefix:198.51.100.9/32", Row: alert.Row{Source: "customers.csv", Line: 14, Type: "prefix", Value: "198.51.100.0/22", Owner: customerID}, Rule: "customer-prefix-contains", Strength: alert.StrengthWeak,
				Method: "dns", ObservedAt: tp(at.Add(-26 * time.Hour)), AgeSeconds: ip(26 * 3600), Note: "dns-only sighting; shorter covering prefix 198.51.96.0/19 (context)"}},
	}}
}

func evidence() []alert.Evidence {
	return []alert.Evidence{
		{URL: "https://edgeshield.example/cases/8812/summary", Description: "case summary with archived posts", TLP: alert.TLPGreen, Forwardable: true, Issuer: "edgeshield", NoticeID: rootID},
		{SHA256: sha("cert"), Description: "certificate presented for chanboard.example at 198.51.100.7:443", TLP: alert.TLPClear, Forwardable: true, Issuer: "researchorg", NoticeID: sightID},
		{URL: "https://edgeshield.example/cases/8812/reporter", SHA256: sha("reporter"), Description: "reporter statement", TLP: alert.TLPAmberStrict, Forwardable: false, Issuer: "edgeshield", NoticeID: rootID},
	}
}

const storyHeadline = "your customer epiq (operator of mitigatr) serves chanboard.example, suspended by edgeshield for abusive-content:violence"

type example struct {
	name  string
	event *alert.Event
}

// examples returns one realistic event of every type and lifecycle step.
// Fresh values on every call, so tests may mutate them.
func examples() []example {
	group := alert.GroupKey(member, customerID, "host:chanboard.example")
	matchRaised := &alert.Event{
		Schema: alert.SchemaV1, Event: alert.EventRaised, State: alert.StateActive,
		AlertID: alert.ID(member, customerID, "edgeshield", rootID), Revision: 1, GroupKey: group,
		Type: alert.TypeMatch, At: at, Member: member,
		Headline: storyHeadline,
		Strength: alert.StrengthStrong, PeakStrength: alert.StrengthStrong,
		Customer: customer(), Subject: subject(), Root: root(),
		Paths:         []alert.Path{tlsPath(), dnsPath()},
		Corroboration: 2,
		Evidence:      evidence(),
	}
	matchRaised.Severity = alert.Severity(alert.Rating{Type: matchRaised.Type, Strength: matchRaised.Strength, Reason: matchRaised.Root.Reason, LegalBasis: matchRaised.Root.LegalBasis.Kind, Corroboration: matchRaised.Corroboration})
	matchRaised.PeakSeverity = matchRaised.Severity
	matchRaised.TLP = alert.MaxTLP(matchRaised)

	matchUpdated := *matchRaised
	matchUpdated.Event, matchUpdated.Revision, matchUpdated.At = alert.EventUpdated, 2, at.Add(20*time.Minute)
	matchUpdated.Paths = []alert.Path{tlsPath()} // the dns sighting expired
	matchUpdated.Corroboration = 2
	matchUpdated.Evidence = evidence()[:2]
	matchUpdated.Severity = alert.Severity(alert.Rating{Type: matchUpdated.Type, Strength: matchUpdated.Strength, Reason: matchUpdated.Root.Reason, LegalBasis: matchUpdated.Root.LegalBasis.Kind, Corroboration: matchUpdated.Corroboration})
	matchUpdated.TLP = ""
	matchUpdated.TLP = alert.MaxTLP(&matchUpdated)

	matchWithdrawn := matchUpdated
	matchWithdrawn.Event, matchWithdrawn.State, matchWithdrawn.Revision, matchWithdrawn.At = alert.EventWithdrawn, alert.StateWithdrawn, 3, at.Add(2*time.Hour)
	matchWithdrawn.Paths, matchWithdrawn.Strength, matchWithdrawn.Evidence, matchWithdrawn.Corroboration = nil, "", nil, 0
	matchWithdrawn.Headline = "withdrawn: epiq no longer linked to chanboard.example (researchorg retracted its sighting)"
	by := notice("researchorg", retractID, alert.KindRetraction, 15, alert.TLPGreen)
	matchWithdrawn.Withdrawn = &alert.Withdrawal{Reason: alert.WithdrawRetracted, By: &by, Detail: "the only remaining path ran through sighting " + sightID}

	ownPath := alert.Path{Strength: alert.StrengthStrong, Hops: 0, Links: []alert.Link{
		{Notice: notice("edgeshield", rootID, alert.KindCustomerSuspended, 1, alert.TLPAmber), Role: alert.RoleSubject,
			Matched: &alert.Match{Identifier: "prefix:192.0.2.0/24", Rule: "own-space", Strength: alert.StrengthStrong, Note: "within your 192.0.2.0/23; no customer row covers it"}},
	}}
	ownSpace := &alert.Event{
		Schema: alert.SchemaV1, Event: alert.EventRaised, State: alert.StateActive,
		AlertID: alert.ID(member, "own_space", "edgeshield", rootID), Revision: 1,
		GroupKey: alert.GroupKey(member, "own_space", "host:chanboard.example"),
		Type:     alert.TypeOwnSpace, At: at, Member: member,
		Headline: "unknown customer in your own space: 192.0.2.0/24 (yours: 192.0.2.0/23) serves chanboard.example, suspended by edgeshield for abusive-content:violence",
		Strength: alert.StrengthStrong, PeakStrength: alert.StrengthStrong,
		Subject: subject(), Root: root(), Paths: []alert.Path{ownPath}, Corroboration: 1,
	}
	ownSpace.Severity = alert.Severity(alert.Rating{Type: ownSpace.Type, Strength: ownSpace.Strength, Reason: ownSpace.Root.Reason, Corroboration: ownSpace.Corroboration})
	ownSpace.TLP = alert.MaxTLP(ownSpace)

	hidden := &alert.NoticeRef{
		Issuer: alert.Issuer{ID: "edgeshield", Name: "EdgeShield CDN", AbuseContact: "abuse@edgeshield.example"},
		ID:     rootID, Action: alert.ActionSuspended,
		Reason: "abusive-content:violence", ReasonVerified: false,
	}
	notVisible := &alert.Event{
		Schema: alert.SchemaV1, Event: alert.EventRaised, State: alert.StateActive,
		AlertID: alert.ID(member, customerID, "edgeshield", rootID), Revision: 1, GroupKey: group,
		Type: alert.TypeRootNotVisible, At: at, Member: member,
		Headline: "your customer epiq is named by researchorg as the new home of a subject suspended by edgeshield; that suspension is not visible to you: ask abuse@edgeshield.example",
		Strength: alert.StrengthWeak, PeakStrength: alert.StrengthWeak,
		Customer: customer(), Subject: &alert.Entity{Label: "chanboard.example", Identifiers: []string{"host:chanboard.example"}},
		Root: hidden,
		Paths: []alert.Path{{Strength: alert.StrengthWeak, Hops: 0, Links: []alert.Link{
			{Notice: notice("researchorg", sightID, alert.KindCustomerSighted, 7, alert.TLPGreen), Role: alert.RoleSighting,
				Matched: &alert.Match{Identifier: "host:epiq.example", Row: alert.Row{Source: "customers.csv", Line: 12, Type: "host", Value: "epiq.example", Owner: customerID}, Rule: "same-host", Strength: alert.StrengthStrong, Method: "tls", ObservedAt: tp(at.Add(-40 * time.Second)), AgeSeconds: ip(40)}},
		}}},
		Corroboration: 1,
	}
	notVisible.Severity = alert.Severity(alert.Rating{Type: notVisible.Type, Strength: notVisible.Strength, Corroboration: notVisible.Corroboration})
	notVisible.TLP = alert.MaxTLP(notVisible)

	integrity := &alert.Event{
		Schema: alert.SchemaV1, Event: alert.EventRaised, State: alert.StateActive,
		AlertID: alert.ID(member, alert.TypeIntegrity, "edgeshield", forgedID), Revision: 1,
		GroupKey: alert.GroupKey(member, alert.TypeIntegrity, "edgeshield"),
		Type:     alert.TypeIntegrity, At: at, Member: member,
		Headline: "the entry at sequence 42 claims to be signed by edgeshield but its signature does not verify: possible forgery, nothing was matched",
		Severity: alert.Severity(alert.Rating{Type: alert.TypeIntegrity}),
		Integrity: &alert.Integrity{Sequence: 42, Issuer: "edgeshield", KID: kid("edgeshield"), NoticeID: forgedID,
			Error: "envelope: signature does not verify under kid " + kid("edgeshield")},
	}
	stale := &alert.Event{
		Schema: alert.SchemaV1, Event: alert.EventRaised, State: alert.StateActive,
		AlertID: alert.ID(member, alert.TypeDirectoryStale, "newcdn", staleID), Revision: 1,
		GroupKey: alert.GroupKey(member, alert.TypeDirectoryStale, "newcdn"),
		Type:     alert.TypeDirectoryStale, At: at, Member: member,
		Headline: "the entry at sequence 43 is signed with a key your directory does not know; it is parked until the directory is reloaded",
		Severity: alert.Severity(alert.Rating{Type: alert.TypeDirectoryStale}),
		Integrity: &alert.Integrity{Sequence: 43, Issuer: "newcdn", KID: kid("newcdn-2026"), NoticeID: staleID,
			Error: "envelope: unknown kid " + kid("newcdn-2026")},
	}
	// The desk's day: acknowledged, suppressed for a day, and back by
	// itself when a court order made it more urgent.
	acked := matchUpdated
	acked.Event, acked.Revision, acked.At = alert.EventAcked, 3, at.Add(25*time.Minute)
	acked.Desk = &alert.Desk{Acked: &alert.DeskAction{By: "alice", At: at.Add(25 * time.Minute), Note: "ticket ABUSE-4711"}}
	suppressed := acked
	until := at.Add(24 * time.Hour)
	suppressed.Event, suppressed.Revision, suppressed.At = alert.EventSuppressed, 4, at.Add(30*time.Minute)
	suppressed.Desk = &alert.Desk{Acked: acked.Desk.Acked, Suppressed: &alert.Suppression{ID: 1, CustomerID: customerID,
		ReasonPrefix: "abusive-content", Until: &until, By: "alice", At: at.Add(30 * time.Minute), Note: "customer contacted; waiting for their answer"}}
	unsuppressed := suppressed
	unsuppressed.Event, unsuppressed.Revision, unsuppressed.At = alert.EventUnsuppressed, 6, at.Add(90*time.Minute)
	unsuppressed.Desk = &alert.Desk{Acked: acked.Desk.Acked, Unsuppressed: &alert.Unsuppression{By: alert.AgentActor, At: at.Add(90 * time.Minute),
		Automatic: true, Why: "path strengthened from weak to strong", Suppression: 1}}
	withdrawnAcked := matchWithdrawn
	withdrawnAcked.Event, withdrawnAcked.Revision, withdrawnAcked.At = alert.EventAcked, 4, at.Add(3*time.Hour)
	withdrawnAcked.Desk = &alert.Desk{Acked: &alert.DeskAction{By: "bob", At: at.Add(3 * time.Hour)}}

	// Flood control: one sink folded 23 alerts of customer epiq into a
	// digest, and 5 forgeries under one key into an integrity summary.
	var digestIDs []string
	for i := range 23 {
		digestIDs = append(digestIDs, alert.ID(member, customerID, "edgeshield", fmt.Sprintf("01957a3c-8e2b-7c41-9a6d-%012d", i)))
	}
	slices.Sort(digestIDs)
	wStart, wEnd := at, at.Add(10*time.Minute)
	customerDigest := &alert.Event{
		Schema: alert.SchemaV1, Event: alert.EventRaised, State: alert.StateActive,
		AlertID: alert.DigestID(member, "webhook:desk", alert.DigestSubject(customerID, nil), wStart), Revision: 1,
		GroupKey: alert.DigestGroupKey(member, alert.DigestSubject(customerID, nil)),
		Type:     alert.TypeDigest, At: wEnd, Member: member,
		Headline: "customer epiq: 23 alerts in 10m0s, 3 sent one by one; the list: headsup alerts show",
		Severity: alert.SeverityHigh, PeakSeverity: alert.SeverityHigh, Customer: customer(),
		Digest: &alert.Digest{Sink: "webhook:desk", Count: 23, Withheld: 20, AlertIDs: digestIDs, WindowStart: wStart, WindowEnd: wEnd},
	}
	var forgedIDs []string
	for i := range 5 {
		forgedIDs = append(forgedIDs, alert.ID(member, "", alert.TypeIntegrity, fmt.Sprint(42+i)))
	}
	slices.Sort(forgedIDs)
	summary := &alert.IntegritySummary{Issuer: "edgeshield", KID: kid("edgeshield"), Error: "envelope: signature does not verify", Count: 5, First: at, Last: at.Add(7 * time.Minute)}
	integrityDigest := &alert.Event{
		Schema: alert.SchemaV1, Event: alert.EventRaised, State: alert.StateActive,
		AlertID: alert.DigestID(member, "webhook:desk", alert.DigestSubject("", summary), at), Revision: 1,
		GroupKey: alert.DigestGroupKey(member, alert.DigestSubject("", summary)),
		Type:     alert.TypeDigest, At: at.Add(time.Hour), Member: member,
		Headline: "5 entries from edgeshield failed verification under one key (envelope: signature does not verify)",
		Severity: alert.SeverityHigh, PeakSeverity: alert.SeverityHigh,
		Digest: &alert.Digest{Sink: "webhook:desk", Count: 5, Withheld: 4, AlertIDs: forgedIDs, WindowStart: at, WindowEnd: at.Add(time.Hour), Integrity: summary},
	}
	// An agent that lost its hub, and found it again.
	alarmRaised := &alert.Event{
		Schema: alert.SchemaV1, Event: alert.EventRaised, State: alert.StateActive,
		AlertID: alert.ID(member, "", alert.TypeAlarm, alert.AlarmHubDisconnected), Revision: 1,
		GroupKey: alert.GroupKey(member, "", alert.TypeAlarm),
		Type:     alert.TypeAlarm, At: at.Add(5 * time.Minute), Member: member,
		Headline: "the agent has been disconnected from the hub for 5m0s: no new notice is matched",
		Severity: alert.SeverityHigh, PeakSeverity: alert.SeverityHigh,
		Alarm: &alert.Alarm{Kind: alert.AlarmHubDisconnected, Since: at, Detail: "subscription ended: rpc error: code = Unavailable desc = connection refused"},
	}
	alarmResolved := *alarmRaised
	alarmResolved.Event, alarmResolved.State, alarmResolved.Revision, alarmResolved.At = alert.EventWithdrawn, alert.StateWithdrawn, 2, at.Add(9*time.Minute)
	alarmResolved.Withdrawn = &alert.Withdrawal{Reason: alert.WithdrawResolved, Detail: "connected to the hub again"}
	// verify_sightings: the agent re-checked researchorg's sighting live.
	rechecked := *matchRaised
	rechecked.Event, rechecked.Revision, rechecked.At = alert.EventUpdated, 2, at.Add(2*time.Minute)
	rechecked.Paths = []alert.Path{tlsPath(), dnsPath()}
	rechecked.Paths[0].Links[1].Rechecks = []alert.Recheck{{Host: "chanboard.example", Address: "198.51.100.7", At: at.Add(time.Minute),
		Confirmed: true, Trusted: false, Resolves: true, CertSHA256: sha("cert"),
		Summary: "confirmed at 2026-03-14T09:31:00Z (certificate SHA-256 " + sha("cert") + ", not trusted)"}}
	rechecked.Paths[1].Links[1].Rechecks = []alert.Recheck{{Host: "chanboard.example", Address: "198.51.100.9", At: at.Add(time.Minute),
		Summary: "not confirmed at 2026-03-14T09:31:00Z: connection failed: connection refused"}}

	return []example{
		{"match-raised", matchRaised},
		{"match-updated", &matchUpdated},
		{"match-withdrawn", &matchWithdrawn},
		{"own-space", ownSpace},
		{"root-not-visible", notVisible},
		{"integrity", integrity},
		{"directory-stale", stale},
		{"match-acked", &acked},
		{"match-suppressed", &suppressed},
		{"match-unsuppressed", &unsuppressed},
		{"match-withdrawn-acked", &withdrawnAcked},
		{"digest-customer", customerDigest},
		{"digest-integrity", integrityDigest},
		{"alarm-raised", alarmRaised},
		{"alarm-resolved", &alarmResolved},
		{"match-rechecked", &rechecked},
	}
}
