package notice

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// Limits of a notice (DESIGN.md, "Notice" and "Delivery").
const (
	// MaxNoticeBytes is the largest serialised notice accepted.
	MaxNoticeBytes = 48 << 10
	// MaxIdentifiers bounds the identifiers in all entities of a notice
	// (subject, sighting host, relations), which bounds matching work.
	MaxIdentifiers = 1000
	// MaxIPv4Addresses bounds the IPv4 addresses all prefixes of a notice
	// cover together, so no notice can name a whole provider's space.
	MaxIPv4Addresses = 65536
	// DefaultExpiry is the life of a CUSTOMER_SIGHTED or
	// RESELLER_IDENTIFIED notice whose issuer gives no expires_at: sightings
	// and reseller links go stale, suspensions do not.
	DefaultExpiry = 30 * 24 * time.Hour
)

const (
	saltLen             = 32
	maxSummaryBytes     = 4096
	maxEntityLabelBytes = 256
	maxReferenceBytes   = 1024 // legal_basis.reference
	maxDescriptionBytes = 1024 // evidence.description
	maxURLBytes         = 2048
	minTimeSeconds      = 946684800    // 2000-01-01T00:00:00Z
	maxTimeSeconds      = 253402300799 // 9999-12-31T23:59:59Z
)

// entityRole says where an entity sits in a notice; some rules depend on it.
type entityRole int

const (
	roleSubject entityRole = iota
	roleSightingHost
	roleRelation
)

// Validate checks every rule of a notice (notice.proto and DESIGN.md) and
// returns the first violation, in a fixed order: the notice's own fields,
// then the identifier count, then the entities (subject, sighting,
// relations), then the IPv4 total. Identifiers must already be in normal
// form; Validate never rewrites (use [Normalize] before signing).
func Validate(n *headsupv1.Notice, opts Options) error {
	if n == nil {
		return fieldErr("", "", "notice is missing")
	}
	v := &validator{opts: opts, n: n}
	return v.notice()
}

type validator struct {
	opts Options
	n    *headsupv1.Notice
	ipv4 uint64 // IPv4 addresses covered so far
}

func (v *validator) notice() error {
	n := v.n
	if !ValidNoticeID(n.Id) {
		return fieldErr("id", n.Id, "is not a canonical lower-case UUIDv7")
	}
	if !ValidMemberID(n.Issuer) {
		return fieldErr("issuer", n.Issuer, "is not a member id")
	}
	if err := checkEnum("kind", n.Kind, true); err != nil {
		return err
	}
	if len(n.Salt) != saltLen {
		return fieldErrf("salt", "", "is %d bytes; it must be exactly %d random bytes", len(n.Salt), saltLen)
	}
	if err := checkEnum("tlp", n.Tlp, true); err != nil {
		return err
	}
	if err := v.times(); err != nil {
		return err
	}
	if err := v.supersedes(); err != nil {
		return err
	}
	if err := v.audience(); err != nil {
		return err
	}
	if err := v.reason(); err != nil {
		return err
	}
	if len(n.Summary) > maxSummaryBytes {
		return fieldErrf("summary", n.Summary, "is %d bytes; at most %d", len(n.Summary), maxSummaryBytes)
	}
	if !utf8.ValidString(n.Summary) {
		return fieldErr("summary", n.Summary, "is not valid UTF-8")
	}
	if err := v.legalBasis(); err != nil {
		return err
	}
	for i, e := range n.Evidence {
		if err := checkEvidence(e); err != nil {
			return atIndex(err, "evidence", i)
		}
	}
	if err := v.structure(); err != nil {
		return err
	}
	if c := countIdentifiers(n); c > MaxIdentifiers {
		return fieldErrf("", "", "notice carries %d identifiers; at most %d", c, MaxIdentifiers)
	}
	if err := v.entities(); err != nil {
		return err
	}
	if v.ipv4 > MaxIPv4Addresses {
		return fieldErrf("", "", "notice covers %d IPv4 addresses; at most %d", v.ipv4, MaxIPv4Addresses)
	}
	return nil
}

// kindName is the kind without its enum prefix, for messages.
func kindName(k headsupv1.NoticeKind) string {
	return strings.TrimPrefix(k.String(), "NOTICE_KIND_")
}

func (v *validator) times() error {
	n := v.n
	if n.IssuedAt == nil {
		return fieldErr("issued_at", "", "is required")
	}
	if err := checkTime("issued_at", n.IssuedAt); err != nil {
		return err
	}
	if n.EffectiveAt != nil {
		// effective_at may precede issued_at: a suspension often takes
		// effect before the issuer publishes it.
		if err := checkTime("effective_at", n.EffectiveAt); err != nil {
			return err
		}
	}
	switch n.Kind {
	case headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED, headsupv1.NoticeKind_NOTICE_KIND_RESELLER_IDENTIFIED:
		if n.ExpiresAt == nil {
			return fieldErr("expires_at", "", "is required in a "+kindName(n.Kind)+" notice")
		}
	case headsupv1.NoticeKind_NOTICE_KIND_RETRACTION:
		// A retraction that expired would revive what it withdrew.
		if n.ExpiresAt != nil {
			return fieldErr("expires_at", formatTime(n.ExpiresAt), "is not allowed in a RETRACTION notice")
		}
	}
	if n.ExpiresAt != nil {
		if err := checkTime("expires_at", n.ExpiresAt); err != nil {
			return err
		}
		if n.ExpiresAt.Seconds <= n.IssuedAt.Seconds {
			return fieldErr("expires_at", formatTime(n.ExpiresAt), "is not after issued_at")
		}
		if n.EffectiveAt != nil && n.ExpiresAt.Seconds <= n.EffectiveAt.Seconds {
			return fieldErr("expires_at", formatTime(n.ExpiresAt), "is not after effective_at")
		}
	}
	return nil
}

func (v *validator) supersedes() error {
	n := v.n
	if n.Supersedes == "" {
		if n.Kind == headsupv1.NoticeKind_NOTICE_KIND_RETRACTION {
			return fieldErr("supersedes", "", "is required in a RETRACTION notice: it names the notice withdrawn")
		}
		return nil
	}
	if !ValidNoticeID(n.Supersedes) {
		return fieldErr("supersedes", n.Supersedes, "is not a canonical lower-case UUIDv7")
	}
	if n.Supersedes == n.Id {
		return fieldErr("supersedes", n.Supersedes, "is the notice's own id")
	}
	return nil
}

func (v *validator) audience() error {
	n := v.n
	if len(n.Audience) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(n.Audience))
	for i, m := range n.Audience {
		if !ValidMemberID(m) {
			return atIndex(fieldErr("", m, "is not a member id"), "audience", i)
		}
		if seen[m] {
			return atIndex(fieldErr("", m, "is listed twice"), "audience", i)
		}
		seen[m] = true
	}
	if !seen[n.Issuer] {
		return fieldErr("audience", "", "does not contain the issuer "+strconv.Quote(n.Issuer))
	}
	return nil
}

func (v *validator) reason() error {
	n := v.n
	if n.Reason == "" {
		if n.Kind == headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED {
			return fieldErr("reason", "", "is required in a CUSTOMER_SUSPENDED notice")
		}
		return nil
	}
	if !ValidReason(n.Reason) {
		return fieldErr("reason", n.Reason, "is not an RSIT taxonomy class:type pair")
	}
	return nil
}

func (v *validator) legalBasis() error {
	lb := v.n.LegalBasis
	if lb == nil {
		if v.n.Kind == headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED {
			return fieldErr("legal_basis", "", "is required in a CUSTOMER_SUSPENDED notice")
		}
		return nil
	}
	if err := checkEnum("legal_basis.kind", lb.Kind, true); err != nil {
		return err
	}
	if err := checkText("legal_basis.reference", lb.Reference, maxReferenceBytes); err != nil {
		return err
	}
	if lb.Url != "" {
		if err := checkHTTPS("legal_basis.url", lb.Url); err != nil {
			return err
		}
	}
	return nil
}

// structure checks which of subject, sighting and relations the kind
// requires and which it forbids.
func (v *validator) structure() error {
	n := v.n
	kind := kindName(n.Kind)
	switch n.Kind {
	case headsupv1.NoticeKind_NOTICE_KIND_RETRACTION:
		if n.Subject != nil {
			return fieldErr("subject", "", "is not allowed in a RETRACTION notice")
		}
	default:
		if n.Subject == nil {
			return fieldErr("subject", "", "is required in a "+kind+" notice")
		}
	}
	if n.Kind == headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED {
		if n.Sighting == nil {
			return fieldErr("sighting", "", "is required in a CUSTOMER_SIGHTED notice")
		}
	} else if n.Sighting != nil {
		return fieldErr("sighting", "", "is not allowed in a "+kind+" notice")
	}
	if n.Kind == headsupv1.NoticeKind_NOTICE_KIND_RESELLER_IDENTIFIED {
		if len(n.Relations) == 0 {
			return fieldErr("relations", "", "needs at least one relation in a RESELLER_IDENTIFIED notice")
		}
	} else if len(n.Relations) != 0 {
		return fieldErr("relations", "", "are not allowed in a "+kind+" notice")
	}
	return nil
}

// countIdentifiers counts the identifiers of every entity of n.
func countIdentifiers(n *headsupv1.Notice) int {
	c := len(n.GetSubject().GetIdentifiers()) + len(n.GetSighting().GetHost().GetIdentifiers())
	for _, r := range n.Relations {
		c += len(r.GetEntity().GetIdentifiers())
	}
	return c
}

// Below, entities, identifiers and their parts report errors with paths
// relative to themselves, and each caller places them (withPath, atIndex).
// So a path is written only for the error returned, not for every field of
// every valid notice verified.

func (v *validator) entities() error {
	n := v.n
	if n.Subject != nil {
		if err := v.entity(n.Subject, roleSubject); err != nil {
			return withPath(err, "subject")
		}
	}
	if s := n.Sighting; s != nil {
		if s.Host == nil {
			return fieldErr("sighting.host", "", "is required")
		}
		if err := v.entity(s.Host, roleSightingHost); err != nil {
			return withPath(err, "sighting.host")
		}
		if len(s.About) == 0 {
			return fieldErr("sighting.about", "", "needs at least one CUSTOMER_SUSPENDED notice")
		}
		seen := make(map[[2]string]bool, len(s.About))
		for i, ref := range s.About {
			if err := v.noticeRef(ref, seen); err != nil {
				return atIndex(err, "sighting.about", i)
			}
		}
	}
	for i, r := range n.Relations {
		if err := v.relation(r); err != nil {
			return atIndex(err, "relations", i)
		}
	}
	return nil
}

// noticeRef checks one notice of sighting.about, not listed before (seen).
func (v *validator) noticeRef(ref *headsupv1.NoticeRef, seen map[[2]string]bool) error {
	if ref == nil {
		return fieldErr("", "", "is empty")
	}
	if !ValidMemberID(ref.Issuer) {
		return fieldErr("issuer", ref.Issuer, "is not a member id")
	}
	if !ValidNoticeID(ref.Id) {
		return fieldErr("id", ref.Id, "is not a canonical lower-case UUIDv7")
	}
	if ref.Issuer == v.n.Issuer && ref.Id == v.n.Id {
		return fieldErr("", ref.Issuer+"/"+ref.Id, "is this notice itself")
	}
	k := [2]string{ref.Issuer, ref.Id}
	if seen[k] {
		return fieldErr("", ref.Issuer+"/"+ref.Id, "is listed twice")
	}
	seen[k] = true
	return nil
}

func (v *validator) relation(r *headsupv1.Relation) error {
	if r == nil {
		return fieldErr("", "", "is empty")
	}
	if err := checkEnum("kind", r.Kind, true); err != nil {
		return err
	}
	if r.Entity == nil {
		return fieldErr("entity", "", "is required")
	}
	if err := v.entity(r.Entity, roleRelation); err != nil {
		return withPath(err, "entity")
	}
	return nil
}

func (v *validator) entity(e *headsupv1.Entity, role entityRole) error {
	if e.Member != "" && !ValidMemberID(e.Member) {
		return fieldErr("member", e.Member, "is not a member id")
	}
	if err := checkText("label", e.Label, maxEntityLabelBytes); err != nil {
		return err
	}
	if len(e.Identifiers) == 0 && e.Member == "" {
		return fieldErr("", "", "needs at least one identifier or a member id")
	}
	for i, id := range e.Identifiers {
		if err := v.identifier(id, role); err != nil {
			return atIndex(err, "identifiers", i)
		}
	}
	return nil
}

func (v *validator) identifier(id *headsupv1.Identifier, role entityRole) error {
	if id == nil {
		return fieldErr("", "", "is empty")
	}
	observable := false // a host or an address: needs an observation on a sighting host
	switch x := id.Value.(type) {
	case nil:
		return fieldErr("", "", "has no value: one of host, address, asn, email, organisation, registration, hashed is required")
	case *headsupv1.Identifier_Host:
		observable = true
		h, err := Host(x.Host)
		if err != nil {
			return withPath(err, "host")
		}
		if h != x.Host {
			return notNormal("host", x.Host, h)
		}
		if role == roleSubject && IsPublicSuffix(h) {
			return fieldErr("host", h, "is a public suffix; a subject must name one customer, not everyone under it")
		}
	case *headsupv1.Identifier_Address:
		observable = true
		if err := v.address(x.Address, role); err != nil {
			return withPath(err, "address")
		}
	case *headsupv1.Identifier_Asn:
		if x.Asn == nil {
			return fieldErr("asn", "", "is empty")
		}
		if err := CheckASN(x.Asn.Number, v.opts); err != nil {
			return withPath(err, "asn.number")
		}
		if err := checkEnum("asn.role", x.Asn.Role, true); err != nil {
			return err
		}
	case *headsupv1.Identifier_Email:
		local, host, err := emailParts(x.Email)
		if err != nil {
			return withPath(err, "email")
		}
		if !isEmail(x.Email, local, host) {
			return notNormal("email", x.Email, local+"@"+host)
		}
	case *headsupv1.Identifier_Organisation:
		o, err := organisationName(x.Organisation)
		if err != nil {
			return withPath(err, "organisation")
		}
		if o != x.Organisation {
			return notNormal("organisation", x.Organisation, o)
		}
	case *headsupv1.Identifier_Registration:
		const p = "registration"
		r := x.Registration
		if r == nil {
			return fieldErr(p, "", "is empty")
		}
		if err := checkEnum(p+".scheme", r.Scheme, true); err != nil {
			return err
		}
		val, country, err := Registration(r.Scheme, r.Value, r.Country)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && fe.Path == "" {
				return withPath(err, p+".value")
			}
			return withPath(err, p)
		}
		if val != r.Value {
			return notNormal(p+".value", r.Value, val)
		}
		if country != r.Country {
			return notNormal(p+".country", r.Country, country)
		}
	case *headsupv1.Identifier_Hashed:
		h, err := Hashed(x.Hashed)
		if err != nil {
			return withPath(err, "hashed")
		}
		if h != x.Hashed {
			return notNormal("hashed", x.Hashed, h)
		}
	default:
		return fieldErrf("", "", "has an unsupported value type %T", x)
	}
	if id.Observation != nil {
		if err := v.observation(id.Observation); err != nil {
			return withPath(err, "observation")
		}
	} else if role == roleSightingHost && observable {
		return fieldErr("observation", "", "is required on a sighting host's hosts and addresses")
	}
	return nil
}

func (v *validator) address(a *headsupv1.Address, role entityRole) error {
	if a == nil {
		return fieldErr("", "", "is empty")
	}
	p, err := Prefix(a.Prefix, v.opts)
	if err != nil {
		return withPath(err, "prefix")
	}
	// Unmasked or unmapped text is a second spelling of the same prefix;
	// the signed bytes must carry the one normal form.
	// Compared as bytes on the stack: PrefixString would allocate twice
	// for every address of every notice verified. AppendTo writes what
	// PrefixString returns (FuzzPrefix checks).
	var buf [64]byte // the longest text, IPv6 with "/128", is 43 bytes
	if string(p.AppendTo(buf[:0])) != a.Prefix {
		return notNormal("prefix", a.Prefix, PrefixString(p))
	}
	v.ipv4 += ipv4Addresses(p)

	if err := checkEnum("role", a.Role, false); err != nil {
		return err
	}
	suspendedSubject := role == roleSubject && v.n.Kind == headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED
	switch {
	case suspendedSubject && a.Role == headsupv1.AddressRole_ADDRESS_ROLE_UNSPECIFIED:
		return fieldErr("role", "", "is required on the addresses of a CUSTOMER_SUSPENDED subject")
	case !suspendedSubject && a.Role != headsupv1.AddressRole_ADDRESS_ROLE_UNSPECIFIED:
		return fieldErr("role", a.Role.String(), "is only allowed on the addresses of a CUSTOMER_SUSPENDED subject")
	}
	if a.Role == headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED {
		if a.AssignedUntil == nil {
			return fieldErr("assigned_until", "", "is required with ADDRESS_ROLE_ASSIGNED")
		}
		if err := checkTime("assigned_until", a.AssignedUntil); err != nil {
			return err
		}
	} else if a.AssignedUntil != nil {
		return fieldErr("assigned_until", formatTime(a.AssignedUntil), "is only allowed with ADDRESS_ROLE_ASSIGNED")
	}
	return nil
}

func (v *validator) observation(o *headsupv1.Observation) error {
	if o.ObservedAt == nil {
		return fieldErr("observed_at", "", "is required")
	}
	if err := checkTime("observed_at", o.ObservedAt); err != nil {
		return err
	}
	// Times were checked before entities, so issued_at is present.
	if o.ObservedAt.Seconds > v.n.IssuedAt.Seconds {
		return fieldErr("observed_at", formatTime(o.ObservedAt), "is after issued_at")
	}
	if err := checkEnum("method", o.Method, true); err != nil {
		return err
	}
	for i, e := range o.Evidence {
		if err := checkEvidence(e); err != nil {
			return atIndex(err, "evidence", i)
		}
	}
	return nil
}

// checkEvidence checks one evidence entry; error paths are relative to it.
func checkEvidence(e *headsupv1.Evidence) error {
	if e == nil {
		return fieldErr("", "", "is empty")
	}
	if e.Url == "" && e.Sha256 == "" && e.Description == "" {
		return fieldErr("", "", "needs a url, a sha256 or a description")
	}
	if e.Url != "" {
		if err := checkHTTPS("url", e.Url); err != nil {
			return err
		}
	}
	if e.Sha256 != "" && !isSHA256Hex(e.Sha256) {
		return fieldErr("sha256", e.Sha256, "is not 64 lower-case hex digits")
	}
	if err := checkText("description", e.Description, maxDescriptionBytes); err != nil {
		return err
	}
	return checkEnum("tlp", e.Tlp, true)
}

// atIndex places err, whose path is relative to element i of the list at
// path, in the notice.
func atIndex(err error, path string, i int) error {
	return withPath(err, path+"["+strconv.Itoa(i)+"]")
}

// checkHTTPS accepts an absolute https URL with a host and no user
// information (credentials in a notice would leak to every member).
func checkHTTPS(path, s string) error {
	if len(s) > maxURLBytes {
		return fieldErrf(path, s, "is longer than %d bytes", maxURLBytes)
	}
	if !utf8.ValidString(s) {
		return fieldErr(path, s, "is not valid UTF-8")
	}
	u, err := url.Parse(s)
	if err != nil || !strings.HasPrefix(s, "https://") || u.Host == "" {
		return fieldErr(path, s, "is not an https URL")
	}
	if u.User != nil {
		return fieldErr(path, s, "carries user information")
	}
	return nil
}

// checkText checks a free-text field: valid UTF-8, at most max bytes.
func checkText(path, s string, max int) error {
	if len(s) > max {
		return fieldErrf(path, s, "is %d bytes; at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return fieldErr(path, s, "is not valid UTF-8")
	}
	return nil
}

// checkEnum refuses values outside the enum (proto3 enums are open, so an
// unknown number survives unmarshalling) and, when required, the zero value.
func checkEnum(path string, e protoreflect.Enum, required bool) error {
	num := e.Number()
	if e.Descriptor().Values().ByNumber(num) == nil {
		return fieldErr(path, strconv.Itoa(int(num)), "is not a known value")
	}
	if required && num == 0 {
		return fieldErr(path, "", "is required")
	}
	return nil
}

// checkTime enforces whole seconds (JWT NumericDate carries no fraction, so
// a fraction would make the notice and its JWS disagree) and a sane range.
func checkTime(path string, t *timestamppb.Timestamp) error {
	if t.Nanos != 0 {
		return fieldErr(path, formatTime(t), "is not whole seconds: fractional seconds are not allowed")
	}
	if t.Seconds < minTimeSeconds || t.Seconds > maxTimeSeconds {
		return fieldErr(path, formatTime(t), "is outside the years 2000 to 9999")
	}
	return nil
}

func formatTime(t *timestamppb.Timestamp) string {
	if t.Seconds >= minTimeSeconds && t.Seconds <= maxTimeSeconds && t.Nanos >= 0 && t.Nanos < 1e9 {
		return time.Unix(t.Seconds, int64(t.Nanos)).UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("seconds:%d nanos:%d", t.Seconds, t.Nanos)
}

func notNormal(path, got, want string) error {
	return fieldErrf(path, got, "is not in normal form (want %q)", want)
}
