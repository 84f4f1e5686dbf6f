package alert

import (
	"encoding/json"
	"time"
)

// SchemaV1 is the value of [Event.Schema] for this version of the wire
// format, and the name of the JSON Schema in schema/.
const SchemaV1 = "headsup.alert.v1"

// What happened to the alert ([Event.Event]).
const (
	// EventRaised: the alert is new, or comes back after a withdrawal.
	EventRaised = "raised"
	// EventUpdated: its set of paths, its best strength or its content
	// changed.
	EventUpdated = "updated"
	// EventWithdrawn: no path supports it any more.
	EventWithdrawn = "withdrawn"
	// EventAcked: a person at the desk acknowledged the alert
	// ([Desk.Acked] says who, when and why).
	EventAcked = "acked"
	// EventSuppressed: a suppression rule silenced the alert: its later
	// raised, updated and withdrawn revisions are kept by the agent but
	// not sent to sinks until it is unsuppressed ([Desk.Suppressed]).
	EventSuppressed = "suppressed"
	// EventUnsuppressed: the alert is no longer suppressed, by a person or
	// by itself (a new root notice, a higher severity, a stronger path,
	// the suppression's end); the event carries the alert's current
	// content, so a receiver catches up on what it missed
	// ([Desk.Unsuppressed] says why).
	EventUnsuppressed = "unsuppressed"
)

// Lifecycle states of an alert ([Event.State]), separate from the desk's
// triage ([Event.Desk]).
const (
	StateActive    = "active"
	StateWithdrawn = "withdrawn"
)

// What the alert is about ([Event.Type]).
const (
	// TypeMatch: a path leads from an active CUSTOMER_SUSPENDED notice to a
	// customer of the receiving member.
	TypeMatch = "match"
	// TypeOwnSpace: a path reaches the member's own space (member id, own
	// ASNs, prefixes or domains) and no customer row matches: "unknown
	// customer in your own space".
	TypeOwnSpace = "own_space"
	// TypeRootNotVisible: a CUSTOMER_SIGHTED notice leads to the member but
	// the suspension it is about is outside the member's audience. Always
	// weak; the reason is never shown as verified.
	TypeRootNotVisible = "root_not_visible"
	// TypeIntegrity: an envelope failed verification against a key the
	// member's directory knows (a forgery, or a compromised or misused
	// key). The notice is never matched.
	TypeIntegrity = "integrity"
	// TypeDirectoryStale: an envelope names a kid the member's directory
	// does not know; the notice is parked until the next reload.
	TypeDirectoryStale = "directory_stale"
	// TypeDigest: one sink's flood control folded alerts into one event
	// ([Event.Digest]): a customer's alerts of one window, or the
	// integrity alerts of one (issuer, kid, error). It is raised once, at
	// revision 1, and never updated; the store keeps every alert it
	// stands for, and the agent's GetAlert lists them under its id.
	TypeDigest = "digest"
	// TypeAlarm: the agent itself needs attention ([Event.Alarm]): it has
	// been disconnected from the hub, its customer list is stale, or a
	// sink's outbox is full. Raised when the alarm fires, withdrawn (reason
	// [WithdrawResolved]) when it clears.
	TypeAlarm = "alarm"
)

// Strengths of a match, a link and a path (a path is as strong as its
// weakest link).
const (
	StrengthStrong = "strong"
	StrengthWeak   = "weak"
)

// Severities, from most to least urgent. See [Severity] for the rule.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityMedium   = "medium"
	SeverityLow      = "low"
)

// Roles of a link: which entity of its notice the chain passes through.
const (
	// RoleSubject: the root's suspended subject.
	RoleSubject = "subject"
	// RoleSighting: a CUSTOMER_SIGHTED notice; the chain goes on from its
	// host.
	RoleSighting = "sighting"
	// RoleReseller: a RESELLER_IDENTIFIED notice's subject, reached from
	// the previous link's host or upstream.
	RoleReseller = "reseller"
	// RoleOperator: the entity a reseller is operated_by (costs no hop).
	RoleOperator = "operator"
	// RoleUpstream: the entity a reseller resells (one hop).
	RoleUpstream = "upstream"
)

// Why an alert was withdrawn ([Withdrawal.Reason]): why its last path
// went.
const (
	WithdrawRetracted       = "retracted"
	WithdrawSuperseded      = "superseded"
	WithdrawExpired         = "expired"
	WithdrawNotYetEffective = "not_yet_effective"
	WithdrawCustomerRemoved = "customer_removed"
	WithdrawKeyRevoked      = "key_revoked"
	// WithdrawResolved: an alarm cleared (the hub is back, the list is
	// current, the outbox drained).
	WithdrawResolved = "resolved"
)

// Alarm kinds ([Alarm.Kind]).
const (
	// AlarmHubDisconnected: no stream from the hub for longer than the
	// agent's alarm_after: nothing new can be matched.
	AlarmHubDisconnected = "hub_disconnected"
	// AlarmCustomerListStale: a customer source failed or has not
	// refreshed for longer than alarm_after: matching runs on an old list.
	AlarmCustomerListStale = "customer_list_stale"
	// AlarmOutboxFull: a sink's backlog reached the outbox bound; its
	// oldest events were skipped for that sink (the store keeps them).
	AlarmOutboxFull = "outbox_full"
)

// Notice kinds as they appear in alerts (the proto enum names, lower case,
// without the prefix). [KindFromProto] converts.
const (
	KindCustomerSuspended  = "customer_suspended"
	KindCustomerSighted    = "customer_sighted"
	KindResellerIdentified = "reseller_identified"
	KindRetraction         = "retraction"
)

// ActionSuspended is what the root's issuer did to its customer
// ([NoticeRef.Action]); the only action of this version.
const ActionSuspended = "suspended"

// Legal basis kinds ([LegalBasis.Kind]). [LegalBasisKindFromProto] converts.
const (
	LegalTermsOfService   = "terms_of_service"
	LegalCourtOrder       = "court_order"
	LegalAuthorityRequest = "authority_request"
)

// Event is one headsup.alert.v1 event: the state of one alert at one
// revision. (AlertID, Revision) is the idempotency key: a receiver that has
// seen a revision drops it, and a receiver that sees an "updated" for an
// alert it does not know treats it as raised (a sink filter may have held
// back earlier revisions).
type Event struct {
	// Schema is always [SchemaV1].
	Schema string `json:"schema"`
	// Event is what happened at this revision: a lifecycle event
	// ([EventRaised], [EventUpdated], [EventWithdrawn]) or a desk event
	// ([EventAcked], [EventSuppressed], [EventUnsuppressed]). Desk events
	// carry the alert's content as of that revision, unchanged.
	Event string `json:"event"`
	// State is the alert's lifecycle state after this revision:
	// [StateActive] or [StateWithdrawn]. The agent always sets it; desk
	// events require it, because their Event does not say it.
	State string `json:"state,omitempty"`
	// AlertID is [ID] of (member, customer id, root issuer, root id): one
	// alert per customer and suspension, whatever the paths.
	AlertID string `json:"alert_id"`
	// Revision counts the alert's events from 1 and never goes back, even
	// across a withdrawal and a new raise.
	Revision uint64 `json:"revision"`
	// GroupKey is [GroupKey] of (member, customer id, subject): alerts
	// about one subject for one customer (several issuers suspended it)
	// share it, so a desk can open one case.
	GroupKey string `json:"group_key"`
	// Type is one of the Type… constants.
	Type string `json:"type"`
	// At is when the agent decided this revision.
	At time.Time `json:"at"`
	// Member is the receiving member (the provider whose desk acts).
	Member string `json:"member"`
	// Headline is one sentence that says what to do about whom, e.g. "your
	// customer epiq (operator of mitigatr) serves chanboard.example,
	// suspended by edgeshield for abusive-content:violence".
	Headline string `json:"headline"`
	// Severity is the alert's severity under the agent's
	// [SeverityTable] (critical, high, medium, low).
	Severity string `json:"severity"`
	// PeakSeverity is the highest severity the alert has had in any
	// revision, this one included. Sink filters use it, as PeakStrength,
	// so that a desk that received an alert also receives its calming
	// down and its withdrawal.
	PeakSeverity string `json:"peak_severity,omitempty"`
	// Strength is the best path's strength; empty for integrity and
	// directory_stale alerts and for withdrawals.
	Strength string `json:"strength,omitempty"`
	// PeakStrength is the best strength the alert has had in any revision,
	// this one included. Sink filters use it, so that a desk that received
	// an alert also receives its weakening and its withdrawal.
	PeakStrength string `json:"peak_strength,omitempty"`
	// TLP is the highest TLP of anything the event carries (root, every
	// link's notice, every piece of evidence); set it with [MaxTLP]. Sinks
	// refuse events above their limit.
	TLP string `json:"tlp,omitempty"`
	// Customer is the matched customer; absent for own_space, integrity and
	// directory_stale alerts.
	Customer *Customer `json:"customer,omitempty"`
	// Subject is what the root suspended (the sighted subject for
	// root_not_visible).
	Subject *Entity `json:"subject,omitempty"`
	// Root is the CUSTOMER_SUSPENDED notice the alert is rooted in.
	Root *NoticeRef `json:"root,omitempty"`
	// Paths is the set of paths that support the alert, best first. Empty
	// (never null) in a withdrawal and in integrity and directory_stale
	// alerts.
	Paths []Path `json:"paths"`
	// Corroboration is how many distinct issuers the paths' notices have.
	Corroboration int `json:"corroborating_issuers"`
	// Evidence is the material of every notice on the paths, each piece
	// with whether it may be forwarded to the customer.
	Evidence []Evidence `json:"evidence,omitempty"`
	// Withdrawn says why, in a withdrawal.
	Withdrawn *Withdrawal `json:"withdrawn,omitempty"`
	// Integrity describes the envelope, in integrity and directory_stale
	// alerts.
	Integrity *Integrity `json:"integrity,omitempty"`
	// Desk is the abuse desk's triage of the alert as of this revision:
	// acknowledged, suppressed, or just unsuppressed. Absent when none
	// applies.
	Desk *Desk `json:"desk,omitempty"`
	// Digest is what a digest event stands for (TypeDigest only).
	Digest *Digest `json:"digest,omitempty"`
	// Alarm describes an alarm (TypeAlarm only).
	Alarm *Alarm `json:"alarm,omitempty"`
}

// Digest is one sink's flood control folding alerts into one event: the
// alerts of one customer in one window ([Event.Customer] names it), or,
// with Integrity set, the integrity alerts of one (issuer, kid, error).
type Digest struct {
	// Sink is the sink that emitted it: each sink shapes on its own.
	Sink string `json:"sink"`
	// Count is how many distinct alerts the window had; Withheld how many
	// of them (or, for integrity, of their events) the sink did not emit
	// one by one.
	Count    int `json:"count"`
	Withheld int `json:"withheld"`
	// AlertIDs lists every alert of the window, sorted. The agent's
	// GetAlert on the digest's alert_id lists them too.
	AlertIDs []string `json:"alert_ids"`
	// WindowStart and WindowEnd bound the window.
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Integrity is set for a summary of integrity alerts.
	Integrity *IntegritySummary `json:"integrity,omitempty"`
}

// IntegritySummary counts the integrity alerts of one (issuer, kid,
// error) in one window.
type IntegritySummary struct {
	Issuer string    `json:"issuer"`
	KID    string    `json:"kid"`
	Error  string    `json:"error"`
	Count  int       `json:"count"`
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
}

// Alarm says what about the agent itself needs attention.
type Alarm struct {
	// Kind is one of the Alarm… constants.
	Kind string `json:"kind"`
	// Since is when the condition began.
	Since time.Time `json:"since"`
	// Sink names the sink, for AlarmOutboxFull.
	Sink string `json:"sink,omitempty"`
	// Detail says, for a person, what is wrong and what it means.
	Detail string `json:"detail"`
}

// Desk is the abuse desk's triage state of an alert. It is kept apart
// from the lifecycle (active, withdrawn): acknowledging or suppressing an
// alert never changes what the agent knows about it.
type Desk struct {
	// Acked is set once a person acknowledged the alert.
	Acked *DeskAction `json:"acked,omitempty"`
	// Suppressed is set while a suppression holds the alert.
	Suppressed *Suppression `json:"suppressed,omitempty"`
	// Unsuppressed says why, in an [EventUnsuppressed] event only.
	Unsuppressed *Unsuppression `json:"unsuppressed,omitempty"`
}

// DeskAction is who did something at the desk, when and why.
type DeskAction struct {
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

// Suppression is a stored rule that silences alerts. It names at least
// one of AlertID, CustomerID, Subject, Root; ReasonPrefix narrows it
// further. It holds the alerts that match it when it is made and their
// later revisions, never an alert rooted in a notice it has not seen.
type Suppression struct {
	// ID is the rule's number in the agent.
	ID uint64 `json:"id"`
	// AlertID, CustomerID, Subject (the subject's label, or one of its
	// "type:value" identifiers) and Root ("issuer/notice id") select
	// alerts; empty ones do not filter.
	AlertID    string `json:"alert_id,omitempty"`
	CustomerID string `json:"customer_id,omitempty"`
	Subject    string `json:"subject,omitempty"`
	Root       string `json:"root,omitempty"`
	// ReasonPrefix is an RSIT class or class:type the root's reason must
	// have.
	ReasonPrefix string `json:"reason_prefix,omitempty"`
	// Until is when the rule ends by itself; absent: until lifted.
	Until *time.Time `json:"until,omitempty"`
	By    string     `json:"by"`
	At    time.Time  `json:"at"`
	Note  string     `json:"note,omitempty"`
}

// Unsuppression says why an alert is no longer suppressed.
type Unsuppression struct {
	// By is the person who lifted it, or "headsup-agent" when it came back
	// by itself (Automatic).
	By        string    `json:"by"`
	At        time.Time `json:"at"`
	Automatic bool      `json:"automatic"`
	// Why is, for a person: "lifted by hand", "suppression 3 ended at …",
	// "new root notice researcher/…", "severity rose from medium to
	// high", "path strengthened from weak to strong".
	Why  string `json:"why"`
	Note string `json:"note,omitempty"`
	// Suppression is the rule that held the alert.
	Suppression uint64 `json:"suppression,omitempty"`
}

// AgentActor is [Unsuppression.By] when the agent lifted a suppression
// by itself.
const AgentActor = "headsup-agent"

// MarshalJSON writes the event with Paths as [] when nil, because the
// schema requires the array.
func (e Event) MarshalJSON() ([]byte, error) { return Marshal(&e) }

// Marshal is json.Marshal(e), byte for byte, without encoding/json
// reading back what MarshalJSON wrote (it validates and compacts a
// marshaller's output, a second pass over every event): the agent
// marshals each revision it stores twice.
func Marshal(e *Event) ([]byte, error) {
	type plain Event // no methods: no recursion
	p := (*plain)(e)
	if p.Paths == nil {
		c := *p
		c.Paths = []Path{}
		p = &c
	}
	return json.Marshal(p)
}

// Customer is a customer of the receiving member, as its customer list
// names it.
type Customer struct {
	// ID is the customer id in the member's own systems.
	ID string `json:"id"`
	// Name is its display name.
	Name string `json:"name"`
	// Link is the desk's page for the customer (the source's link template,
	// filled in).
	Link string `json:"link,omitempty"`
	// Member is the customer's headsup member id, when it is a member.
	Member string `json:"member,omitempty"`
}

// Entity is a subject, host, reseller or upstream.
type Entity struct {
	// Label is a short name for a person: the first host, or the
	// organisation name, or the first identifier.
	Label string `json:"label"`
	// Member is the entity's headsup member id, when it is a member.
	Member string `json:"member,omitempty"`
	// Identifiers are "type:value" strings in normal form
	// ("host:chanboard.example", "prefix:198.51.100.0/24",
	// "asn:holder:64500").
	Identifiers []string `json:"identifiers"`
}

// Issuer is the member that issued a notice, as the directory names it.
type Issuer struct {
	ID           string `json:"id"`
	Name         string `json:"name,omitempty"`
	AbuseContact string `json:"abuse_contact,omitempty"`
}

// LegalBasis is on what grounds the root's issuer acted.
type LegalBasis struct {
	// Kind is one of the Legal… constants.
	Kind      string `json:"kind"`
	Reference string `json:"reference,omitempty"`
	URL       string `json:"url,omitempty"`
}

// NoticeRef is the alert's root: the CUSTOMER_SUSPENDED notice, with what
// the desk needs to judge and to contact its issuer.
type NoticeRef struct {
	Issuer Issuer `json:"issuer"`
	// ID is the notice id.
	ID string `json:"id"`
	// Sequence is the notice's position in the log (0 when unknown: a root
	// that is not visible to the member and was never seen redacted).
	Sequence uint64 `json:"sequence,omitempty"`
	// IncludedIn is the size of a checkpoint the agent verified (log
	// signature, consistency with the last one) whose tree the agent
	// proved the notice to be in; absent until a checkpoint covers it.
	IncludedIn uint64 `json:"included_in,omitempty"`
	// KID is the key that signed it, SignedBy the member holding the key.
	KID      string `json:"kid,omitempty"`
	SignedBy string `json:"signed_by,omitempty"`
	// Verified is true when this agent verified the envelope's signature
	// itself.
	Verified bool `json:"verified"`
	// Action is [ActionSuspended].
	Action string `json:"action"`
	// Reason is the RSIT reason. ReasonVerified is false when it was not
	// read from the verified root itself (root_not_visible: it comes from
	// the sighting).
	Reason         string      `json:"reason,omitempty"`
	ReasonVerified bool        `json:"reason_verified"`
	LegalBasis     *LegalBasis `json:"legal_basis,omitempty"`
	Summary        string      `json:"summary,omitempty"`
	// TLP is the notice's marking (CLEAR, GREEN, AMBER, AMBER+STRICT, RED).
	TLP         string     `json:"tlp,omitempty"`
	IssuedAt    *time.Time `json:"issued_at,omitempty"`
	EffectiveAt *time.Time `json:"effective_at,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// Path is one chain of notices from the root to the customer (or to the
// member's own space).
type Path struct {
	// Strength is the weakest link's.
	Strength string `json:"strength"`
	// Hops counts resells edges (operated_by edges cost none).
	Hops int `json:"hops"`
	// Links run from the root to the customer.
	Links []Link `json:"links"`
}

// Link is one notice on a path and how the chain passes through it.
type Link struct {
	Notice LinkNotice `json:"notice"`
	// Role is which entity of the notice the chain passes through (one of
	// the Role… constants).
	Role string `json:"role"`
	// Matched is how that entity meets the next link's entity or, on the
	// last link, the customer row (or the member's own space).
	Matched *Match `json:"matched,omitempty"`
	// Rechecks are the agent's live re-checks of a sighting (role
	// sighting, opt-in verify_sightings): the sighted subject's host name
	// at the matched addresses, one per address.
	Rechecks []Recheck `json:"rechecks,omitempty"`
}

// Recheck is one live re-check of a sighting: a TLS handshake with SNI
// Host to Address.
type Recheck struct {
	Host    string    `json:"host"`
	Address string    `json:"address"`
	At      time.Time `json:"at"`
	// Confirmed: the address presented a certificate valid for Host, now.
	// Trusted: and its chain verifies against the agent's roots.
	Confirmed bool `json:"confirmed"`
	Trusted   bool `json:"trusted"`
	// Resolves: Host resolved to Address at the time.
	Resolves bool `json:"resolves"`
	// CertSHA256 is the hex SHA-256 of the leaf certificate, when a
	// handshake completed.
	CertSHA256 string `json:"cert_sha256,omitempty"`
	// Summary is "confirmed at T (certificate SHA-256 …)" or "not
	// confirmed at T: why".
	Summary string `json:"summary"`
}

// LinkNotice names a notice on a path, with its place in the log and who
// signed it.
type LinkNotice struct {
	Issuer   string `json:"issuer"`
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Sequence uint64 `json:"sequence,omitempty"`
	// IncludedIn is as [NoticeRef.IncludedIn].
	IncludedIn uint64 `json:"included_in,omitempty"`
	KID        string `json:"kid,omitempty"`
	SignedBy   string `json:"signed_by,omitempty"`
	Verified   bool   `json:"verified"`
	TLP        string `json:"tlp,omitempty"`
}

// Match is one identifier meeting one row.
type Match struct {
	// Identifier is the notice side's identifier, "type:value".
	Identifier string `json:"identifier"`
	// Row is the other side: a customer row, or an entity of the next
	// notice (Source names the notice). Empty when no single row stands
	// for the match: a broad prefix over many customers (Note says how
	// many), or the member's own space.
	Row Row `json:"row"`
	// Rule names the matching rule ("same-host", "under-notice-domain",
	// "customer-prefix-contains", …).
	Rule string `json:"rule"`
	// Strength is the rule's strength for this pair.
	Strength string `json:"strength"`
	// Method is how the identifier was observed (dns, http, tls, bgp), when
	// the notice says.
	Method string `json:"method,omitempty"`
	// ObservedAt is when the identifier was observed; AgeSeconds is
	// Event.At minus ObservedAt.
	ObservedAt *time.Time `json:"observed_at,omitempty"`
	AgeSeconds *int64     `json:"age_seconds,omitempty"`
	// Note is context a person needs: "broad prefix, 214 customers",
	// shorter covering prefixes.
	Note string `json:"note,omitempty"`
}

// Row is where the matched value came from.
type Row struct {
	// Source is the customer source ("customers.csv", "postgres") or the
	// notice ("notice:<issuer>/<id>").
	Source string `json:"source,omitempty"`
	// Line is the row's line in a file source; 0 when it has none.
	Line  int    `json:"line,omitempty"`
	Type  string `json:"type,omitempty"`
	Value string `json:"value,omitempty"`
	// Owner is the row's customer id or entity reference.
	Owner string `json:"owner,omitempty"`
}

// Evidence is one piece of supporting material from a notice on the paths.
type Evidence struct {
	URL         string `json:"url,omitempty"`
	SHA256      string `json:"sha256,omitempty"`
	Description string `json:"description,omitempty"`
	TLP         string `json:"tlp"`
	// Forwardable is [Forwardable] of TLP: whether the desk may pass it to
	// the customer concerned.
	Forwardable bool `json:"forwardable"`
	// Issuer and NoticeID name the notice that carries it.
	Issuer   string `json:"issuer,omitempty"`
	NoticeID string `json:"notice_id,omitempty"`
}

// Withdrawal says why an alert went.
type Withdrawal struct {
	// Reason is one of the Withdraw… constants.
	Reason string `json:"reason"`
	// By is the notice that caused it (the RETRACTION, the superseding
	// notice), when one did.
	By *LinkNotice `json:"by,omitempty"`
	// Detail is free text for a person ("key <kid> of edgeshield revoked
	// at …").
	Detail string `json:"detail,omitempty"`
}

// Integrity describes an envelope that failed verification
// (TypeIntegrity) or names an unknown key (TypeDirectoryStale), or, with
// Log set, a failure of the log's verifiable history.
type Integrity struct {
	// Sequence is the entry concerned; 0 (absent) only for a log alert
	// about a checkpoint rather than an entry.
	Sequence uint64 `json:"sequence,omitempty"`
	Issuer   string `json:"issuer"`
	KID      string `json:"kid"`
	NoticeID string `json:"notice_id,omitempty"`
	// Error is the verifier's error, for a person.
	Error string `json:"error"`
	// Log is set when the alert is about the log itself (a checkpoint,
	// a proof, a fork, the witnesses' quorum) rather than an envelope.
	Log *LogIntegrity `json:"log,omitempty"`
}

// Kinds of log integrity alerts ([LogIntegrity.Kind]).
const (
	// LogCheckpointSignature: the hub served a checkpoint that does not
	// verify under the log key of the member's own directory.
	LogCheckpointSignature = "checkpoint_signature"
	// LogInconsistent: a checkpoint is not an append-only extension of
	// one the member verified or cosigned before (a consistency proof
	// that fails, a smaller tree that is not a prefix).
	LogInconsistent = "inconsistent"
	// LogFork: two checkpoints signed by the log key with one size and
	// two roots: the hub showed two different histories. Proof holds
	// both (anyone can check it against the directory alone).
	LogFork = "fork"
	// LogInclusion: an entry on an alert's chain is not in the tree of a
	// checkpoint the member verified (its inclusion proof fails).
	LogInclusion = "inclusion"
	// LogQuorumStale: no checkpoint reached the directory's witness
	// quorum for longer than the agent's quorum_freshness. Withdrawn
	// (resolved) when one does again.
	LogQuorumStale = "quorum_stale"
	// LogDirectory: a directory version in the log does not verify
	// under the pinned governance key, or reuses a serial with other
	// content.
	LogDirectory = "directory"
)

// LogIntegrity is what a log integrity alert is about.
type LogIntegrity struct {
	// Kind is one of the Log… constants.
	Kind string `json:"kind"`
	// Size is the checkpoint size concerned: the fork's, the inconsistent
	// checkpoint's, the one an inclusion proof failed against.
	Size uint64 `json:"size,omitempty"`
	// Since is, for quorum_stale, when a checkpoint last reached its
	// quorum (the agent's start if none has).
	Since *time.Time `json:"since,omitempty"`
	// Proof is evidence a third party can check against the directory
	// alone: for a fork, the fork proof ("headsup fork proof v1"); for a
	// checkpoint refused, the signed notes as the hub served them.
	Proof string `json:"proof,omitempty"`
	// ProofFile is where the agent stored the proof durably.
	ProofFile string `json:"proof_file,omitempty"`
}
