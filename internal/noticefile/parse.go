package noticefile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// MaxSize bounds a notice document. A signed notice is at most 48 KiB; the
// document spelling of it, with comments, fits well under this.
const MaxSize = 1 << 20

// Error is a problem with one field of a notice document.
type Error struct {
	// Path names the field in the document's terms, for example
	// "subject.addresses[1].role"; empty for the document as a whole.
	Path string
	// Line is the 1-based line of the field; 0 when unknown.
	Line int
	// Msg says what is wrong, quoting the bad value.
	Msg string
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.Line > 0 {
		s += fmt.Sprintf(" (line %d)", e.Line)
	}
	return s
}

func errAt(n *yaml.Node, path, format string, args ...any) *Error {
	return &Error{Path: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads a notice document. A relative expires_in needs issued_at in
// the document; use ParseAt to resolve it against the current time.
func Parse(data []byte) (*headsupv1.Notice, error) {
	return ParseAt(data, time.Time{})
}

// ParseAt reads a notice document. When the document gives expires_in but
// no issued_at, issued_at is set to now (whole seconds) and expires_at to
// issued_at + expires_in, so the signed lifetime is exactly the one asked
// for. A zero now makes that case an error.
func ParseAt(data []byte, now time.Time) (*headsupv1.Notice, error) {
	if len(data) > MaxSize {
		return nil, &Error{Msg: fmt.Sprintf("document is %d bytes, more than %d", len(data), MaxSize)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Msg: "empty document"}
		}
		return nil, &Error{Msg: err.Error()}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, &Error{Msg: err.Error()}
	default:
		return nil, &Error{Line: extra.Line, Msg: "more than one YAML document; a file holds one notice"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{Msg: "empty document"}
	}
	if err := refuseAliases(&doc); err != nil {
		return nil, err
	}
	p := parser{now: now}
	return p.notice(doc.Content[0])
}

// refuseAliases rejects anchors and aliases before anything reads the tree:
// an alias re-walks its target, and nested aliases make that exponential.
func refuseAliases(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return &Error{Line: n.Line, Msg: "YAML anchors and aliases are not supported in a notice"}
	}
	for _, c := range n.Content {
		if err := refuseAliases(c); err != nil {
			return err
		}
	}
	return nil
}

type parser struct {
	now time.Time
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// fields is a mapping whose keys have been checked against the known ones.
type fields struct {
	path string
	node *yaml.Node
	m    map[string]*yaml.Node
}

func mapping(n *yaml.Node, path string, known ...string) (*fields, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errAt(n, path, "must be a mapping, not %s", describe(n))
	}
	f := &fields{path: path, node: n, m: make(map[string]*yaml.Node, len(n.Content)/2)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(k, path, "a key must be a plain word, not %s", describe(k))
		}
		if !slices.Contains(known, k.Value) {
			return nil, errAt(k, join(path, k.Value), "unknown field; known fields are %s", strings.Join(known, ", "))
		}
		if _, dup := f.m[k.Value]; dup {
			return nil, errAt(k, join(path, k.Value), "given twice")
		}
		f.m[k.Value] = v
	}
	return f, nil
}

// get returns the value of key, or nil when it is absent or null.
func (f *fields) get(key string) *yaml.Node {
	if v := f.m[key]; !isNull(v) {
		return v
	}
	return nil
}

func (f *fields) str(key string) (string, error) {
	v := f.get(key)
	if v == nil {
		return "", nil
	}
	return scalar(v, join(f.path, key))
}

func (f *fields) required(key string) (*yaml.Node, error) {
	v := f.get(key)
	if v == nil {
		return nil, errAt(f.node, join(f.path, key), "required")
	}
	return v, nil
}

func (f *fields) timestamp(key string) (*timestamppb.Timestamp, error) {
	v := f.get(key)
	if v == nil {
		return nil, nil
	}
	return timestamp(v, join(f.path, key))
}

func (f *fields) list(key string) ([]*yaml.Node, error) {
	v := f.get(key)
	if v == nil {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, errAt(v, join(f.path, key), "must be a list, not %s", describe(v))
	}
	return v.Content, nil
}

func scalar(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", errAt(n, path, "must be a single value, not %s", describe(n))
	}
	if isNull(n) {
		return "", nil
	}
	if !utf8.ValidString(n.Value) {
		return "", errAt(n, path, "%q is not valid UTF-8", n.Value)
	}
	return n.Value, nil
}

// nonEmpty reads an identifier's value: an empty one is always a mistake.
func nonEmpty(n *yaml.Node, path string) (string, error) {
	s, err := scalar(n, path)
	if err == nil && strings.TrimSpace(s) == "" {
		err = errAt(n, path, "empty")
	}
	return s, err
}

func timestamp(n *yaml.Node, path string) (*timestamppb.Timestamp, error) {
	s, err := scalar(n, path)
	if err != nil {
		return nil, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, errAt(n, path, "%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
	}
	if t.Nanosecond() != 0 {
		// Times are JWT NumericDates: a fraction would not survive signing.
		return nil, errAt(n, path, "%q has fractional seconds; times are whole seconds", s)
	}
	ts := timestamppb.New(t)
	if err := ts.CheckValid(); err != nil {
		return nil, errAt(n, path, "%q is out of range", s)
	}
	return ts, nil
}

var daysPattern = regexp.MustCompile(`^([0-9]{1,5})d$`)

// duration reads a Go duration ("720h") or a number of days ("30d").
func duration(n *yaml.Node, path string) (time.Duration, error) {
	s, err := scalar(n, path)
	if err != nil {
		return 0, err
	}
	var d time.Duration
	if m := daysPattern.FindStringSubmatch(s); m != nil {
		days, _ := strconv.Atoi(m[1])
		d = time.Duration(days) * 24 * time.Hour
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, errAt(n, path, "%q is not a duration such as 30d or 720h", s)
	}
	if d <= 0 || d%time.Second != 0 {
		return 0, errAt(n, path, "%q must be a positive whole number of seconds", s)
	}
	return d, nil
}

type enumName[T comparable] struct {
	name  string
	value T
}

func names[T comparable](table []enumName[T]) string {
	var s []string
	for _, e := range table {
		s = append(s, e.name)
	}
	return strings.Join(s, ", ")
}

// enum reads a named value, ignoring case and accepting '-' for '_', so
// that a name copied from `headsup tail` output ("CUSTOMER_SUSPENDED")
// works too.
func enum[T comparable](n *yaml.Node, path string, table []enumName[T]) (T, error) {
	var zero T
	s, err := scalar(n, path)
	if err != nil {
		return zero, err
	}
	key := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	for _, e := range table {
		if e.name == key {
			return e.value, nil
		}
	}
	return zero, errAt(n, path, "%q is not one of %s", s, names(table))
}

func (f *fields) enumField(key string, set func(*yaml.Node, string) error) error {
	v := f.get(key)
	if v == nil {
		return nil
	}
	return set(v, join(f.path, key))
}

var noticeFields = []string{
	"kind", "issuer", "id", "subject", "sighting", "relations", "reason", "summary",
	"tlp", "legal_basis", "evidence", "audience", "issued_at", "effective_at",
	"expires_at", "expires_in", "supersedes", "salt",
}

func (p *parser) notice(root *yaml.Node) (*headsupv1.Notice, error) {
	f, err := mapping(root, "", noticeFields...)
	if err != nil {
		if e := (*Error)(nil); errors.As(err, &e) && e.Path == "" && strings.HasPrefix(e.Msg, "must be") {
			e.Msg = "a notice document " + e.Msg
		}
		return nil, err
	}
	n := &headsupv1.Notice{}
	if v := f.get("kind"); v != nil {
		if n.Kind, err = enum(v, "kind", kinds); err != nil {
			return nil, err
		}
	}
	for _, s := range []struct {
		key string
		dst *string
	}{
		{"issuer", &n.Issuer}, {"id", &n.Id}, {"reason", &n.Reason},
		{"summary", &n.Summary}, {"supersedes", &n.Supersedes},
	} {
		if *s.dst, err = f.str(s.key); err != nil {
			return nil, err
		}
	}
	if v := f.get("salt"); v != nil {
		s, err := scalar(v, "salt")
		if err != nil {
			return nil, err
		}
		if n.Salt, err = hex.DecodeString(s); err != nil {
			return nil, errAt(v, "salt", "%q is not hexadecimal", s)
		}
	}
	if v := f.get("subject"); v != nil {
		if n.Subject, err = entity(v, "subject"); err != nil {
			return nil, err
		}
	}
	if v := f.get("sighting"); v != nil {
		if n.Sighting, err = sighting(v, "sighting"); err != nil {
			return nil, err
		}
	}
	rels, err := f.list("relations")
	if err != nil {
		return nil, err
	}
	for i, v := range rels {
		r, err := relation(v, index("relations", i))
		if err != nil {
			return nil, err
		}
		n.Relations = append(n.Relations, r)
	}
	if v := f.get("tlp"); v != nil {
		if n.Tlp, err = tlp(v, "tlp"); err != nil {
			return nil, err
		}
	}
	if v := f.get("legal_basis"); v != nil {
		if n.LegalBasis, err = legalBasis(v, "legal_basis"); err != nil {
			return nil, err
		}
	}
	if n.Evidence, err = evidenceList(f, "evidence"); err != nil {
		return nil, err
	}
	aud, err := f.list("audience")
	if err != nil {
		return nil, err
	}
	for i, v := range aud {
		s, err := nonEmpty(v, index("audience", i))
		if err != nil {
			return nil, err
		}
		n.Audience = append(n.Audience, s)
	}
	if n.IssuedAt, err = f.timestamp("issued_at"); err != nil {
		return nil, err
	}
	if n.EffectiveAt, err = f.timestamp("effective_at"); err != nil {
		return nil, err
	}
	if n.ExpiresAt, err = f.timestamp("expires_at"); err != nil {
		return nil, err
	}
	if v := f.get("expires_in"); v != nil {
		if n.ExpiresAt != nil {
			return nil, errAt(v, "expires_in", "give expires_at or expires_in, not both")
		}
		d, err := duration(v, "expires_in")
		if err != nil {
			return nil, err
		}
		if n.IssuedAt == nil {
			if p.now.IsZero() {
				return nil, errAt(v, "expires_in", "needs issued_at")
			}
			n.IssuedAt = timestamppb.New(p.now.Truncate(time.Second))
		}
		exp := timestamppb.New(n.IssuedAt.AsTime().Add(d))
		if exp.CheckValid() != nil {
			return nil, errAt(v, "expires_in", "expires out of range")
		}
		n.ExpiresAt = exp
	}
	return n, nil
}

var entityFields = []string{
	"label", "member", "hosts", "addresses", "asns", "emails", "organisations",
	"registrations", "hashed",
}

// entity reads an entity; its identifiers come out grouped in the order of
// entityFields, which is the order Format writes them in.
func entity(n *yaml.Node, path string) (*headsupv1.Entity, error) {
	f, err := mapping(n, path, entityFields...)
	if err != nil {
		return nil, err
	}
	e := &headsupv1.Entity{}
	if e.Label, err = f.str("label"); err != nil {
		return nil, err
	}
	if e.Member, err = f.str("member"); err != nil {
		return nil, err
	}
	groups := []struct {
		key      string
		value    string   // the key of the value in the mapping form
		extra    []string // further keys of the mapping form
		scalarOK bool
		build    func(v *yaml.Node, vpath string, f *fields) (*headsupv1.Identifier, error)
	}{
		{"hosts", "host", nil, true, hostID},
		{"addresses", "prefix", []string{"role", "assigned_until"}, true, addressID},
		{"asns", "number", []string{"role"}, true, asnID},
		{"emails", "email", nil, true, emailID},
		{"organisations", "name", nil, true, organisationID},
		{"registrations", "value", []string{"scheme", "country"}, false, registrationID},
		{"hashed", "hash", nil, true, hashedID},
	}
	for _, g := range groups {
		items, err := f.list(g.key)
		if err != nil {
			return nil, err
		}
		for i, item := range items {
			ipath := index(join(path, g.key), i)
			var id *headsupv1.Identifier
			if item.Kind == yaml.ScalarNode && g.scalarOK {
				id, err = g.build(item, ipath, nil)
			} else {
				id, err = identifierMapping(item, ipath, g.value, g.extra, g.build)
			}
			if err != nil {
				return nil, err
			}
			e.Identifiers = append(e.Identifiers, id)
		}
	}
	return e, nil
}

var observationFields = []string{"observed_at", "method", "evidence"}

func identifierMapping(n *yaml.Node, path, valueKey string, extra []string,
	build func(*yaml.Node, string, *fields) (*headsupv1.Identifier, error)) (*headsupv1.Identifier, error) {
	known := append(append([]string{valueKey}, extra...), observationFields...)
	f, err := mapping(n, path, known...)
	if err != nil {
		return nil, err
	}
	v, err := f.required(valueKey)
	if err != nil {
		return nil, err
	}
	id, err := build(v, join(path, valueKey), f)
	if err != nil {
		return nil, err
	}
	obs := &headsupv1.Observation{}
	if obs.ObservedAt, err = f.timestamp("observed_at"); err != nil {
		return nil, err
	}
	if v := f.get("method"); v != nil {
		if obs.Method, err = enum(v, join(path, "method"), methods); err != nil {
			return nil, err
		}
	}
	if obs.Evidence, err = evidenceList(f, "evidence"); err != nil {
		return nil, err
	}
	if f.get("observed_at") != nil || f.get("method") != nil || f.get("evidence") != nil {
		id.Observation = obs
	}
	return id, nil
}

func hostID(v *yaml.Node, path string, _ *fields) (*headsupv1.Identifier, error) {
	s, err := nonEmpty(v, path)
	if err != nil {
		return nil, err
	}
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Host{Host: s}}, nil
}

func emailID(v *yaml.Node, path string, _ *fields) (*headsupv1.Identifier, error) {
	s, err := nonEmpty(v, path)
	if err != nil {
		return nil, err
	}
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Email{Email: s}}, nil
}

func organisationID(v *yaml.Node, path string, _ *fields) (*headsupv1.Identifier, error) {
	s, err := nonEmpty(v, path)
	if err != nil {
		return nil, err
	}
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Organisation{Organisation: s}}, nil
}

func hashedID(v *yaml.Node, path string, _ *fields) (*headsupv1.Identifier, error) {
	s, err := nonEmpty(v, path)
	if err != nil {
		return nil, err
	}
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Hashed{Hashed: s}}, nil
}

func addressID(v *yaml.Node, path string, f *fields) (*headsupv1.Identifier, error) {
	s, err := nonEmpty(v, path)
	if err != nil {
		return nil, err
	}
	a := &headsupv1.Address{Prefix: s}
	if f != nil {
		if err := f.enumField("role", func(v *yaml.Node, p string) (err error) {
			a.Role, err = enum(v, p, addressRoles)
			return err
		}); err != nil {
			return nil, err
		}
		if a.AssignedUntil, err = f.timestamp("assigned_until"); err != nil {
			return nil, err
		}
	}
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: a}}, nil
}

// asnID reads "AS64500", "as64500" or 64500. A bare number means the holder:
// that is what a person listing a customer's ASNs means.
func asnID(v *yaml.Node, path string, f *fields) (*headsupv1.Identifier, error) {
	s, err := nonEmpty(v, path)
	if err != nil {
		return nil, err
	}
	digits := s
	if len(digits) > 2 && strings.EqualFold(digits[:2], "AS") {
		digits = digits[2:]
	}
	num, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || digits[0] == '+' {
		return nil, errAt(v, path, "%q is not an AS number such as AS64500", s)
	}
	a := &headsupv1.Asn{Number: uint32(num), Role: headsupv1.AsnRole_ASN_ROLE_HOLDER}
	if f != nil {
		if err := f.enumField("role", func(v *yaml.Node, p string) (err error) {
			a.Role, err = enum(v, p, asnRoles)
			return err
		}); err != nil {
			return nil, err
		}
	}
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Asn{Asn: a}}, nil
}

func registrationID(v *yaml.Node, path string, f *fields) (*headsupv1.Identifier, error) {
	s, err := nonEmpty(v, path)
	if err != nil {
		return nil, err
	}
	r := &headsupv1.Registration{Value: s}
	sv, err := f.required("scheme")
	if err != nil {
		return nil, err
	}
	if r.Scheme, err = enum(sv, join(f.path, "scheme"), schemes); err != nil {
		return nil, err
	}
	if r.Country, err = f.str("country"); err != nil {
		return nil, err
	}
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Registration{Registration: r}}, nil
}

func sighting(n *yaml.Node, path string) (*headsupv1.Sighting, error) {
	f, err := mapping(n, path, "host", "about")
	if err != nil {
		return nil, err
	}
	s := &headsupv1.Sighting{}
	if v := f.get("host"); v != nil {
		if s.Host, err = entity(v, join(path, "host")); err != nil {
			return nil, err
		}
	}
	about, err := f.list("about")
	if err != nil {
		return nil, err
	}
	for i, v := range about {
		ref, err := noticeRef(v, index(join(path, "about"), i))
		if err != nil {
			return nil, err
		}
		s.About = append(s.About, ref)
	}
	return s, nil
}

// noticeRef reads {issuer, id} or "issuer/id", the spelling `headsup tail`
// prints.
func noticeRef(n *yaml.Node, path string) (*headsupv1.NoticeRef, error) {
	if n.Kind == yaml.ScalarNode {
		s, err := nonEmpty(n, path)
		if err != nil {
			return nil, err
		}
		issuer, id, ok := strings.Cut(s, "/")
		if !ok || issuer == "" || id == "" {
			return nil, errAt(n, path, "%q is not issuer/id", s)
		}
		return &headsupv1.NoticeRef{Issuer: issuer, Id: id}, nil
	}
	f, err := mapping(n, path, "issuer", "id")
	if err != nil {
		return nil, err
	}
	ref := &headsupv1.NoticeRef{}
	if ref.Issuer, err = f.str("issuer"); err != nil {
		return nil, err
	}
	if ref.Id, err = f.str("id"); err != nil {
		return nil, err
	}
	return ref, nil
}

func relation(n *yaml.Node, path string) (*headsupv1.Relation, error) {
	f, err := mapping(n, path, "kind", "entity")
	if err != nil {
		return nil, err
	}
	r := &headsupv1.Relation{}
	if err := f.enumField("kind", func(v *yaml.Node, p string) (err error) {
		r.Kind, err = enum(v, p, relationKinds)
		return err
	}); err != nil {
		return nil, err
	}
	if v := f.get("entity"); v != nil {
		if r.Entity, err = entity(v, join(path, "entity")); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func legalBasis(n *yaml.Node, path string) (*headsupv1.LegalBasis, error) {
	f, err := mapping(n, path, "kind", "reference", "url")
	if err != nil {
		return nil, err
	}
	lb := &headsupv1.LegalBasis{}
	if err := f.enumField("kind", func(v *yaml.Node, p string) (err error) {
		lb.Kind, err = enum(v, p, legalBasisKinds)
		return err
	}); err != nil {
		return nil, err
	}
	if lb.Reference, err = f.str("reference"); err != nil {
		return nil, err
	}
	if lb.Url, err = f.str("url"); err != nil {
		return nil, err
	}
	return lb, nil
}

func evidenceList(f *fields, key string) ([]*headsupv1.Evidence, error) {
	items, err := f.list(key)
	if err != nil {
		return nil, err
	}
	var out []*headsupv1.Evidence
	for i, v := range items {
		path := index(join(f.path, key), i)
		ef, err := mapping(v, path, "url", "sha256", "description", "tlp")
		if err != nil {
			return nil, err
		}
		e := &headsupv1.Evidence{}
		if e.Url, err = ef.str("url"); err != nil {
			return nil, err
		}
		if e.Sha256, err = ef.str("sha256"); err != nil {
			return nil, err
		}
		if e.Description, err = ef.str("description"); err != nil {
			return nil, err
		}
		if t := ef.get("tlp"); t != nil {
			if e.Tlp, err = tlp(t, join(path, "tlp")); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// tlp reads a TLP 2.0 colour, with or without the "TLP:" prefix.
func tlp(n *yaml.Node, path string) (headsupv1.Tlp, error) {
	if n.Kind == yaml.ScalarNode && len(n.Value) > 4 && strings.EqualFold(n.Value[:4], "tlp:") {
		c := *n
		c.Value = n.Value[4:]
		n = &c
	}
	return enum(n, path, tlps)
}

var kinds = []enumName[headsupv1.NoticeKind]{
	{"customer_suspended", headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED},
	{"customer_sighted", headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED},
	{"reseller_identified", headsupv1.NoticeKind_NOTICE_KIND_RESELLER_IDENTIFIED},
	{"retraction", headsupv1.NoticeKind_NOTICE_KIND_RETRACTION},
}

var tlps = []enumName[headsupv1.Tlp]{
	{"clear", headsupv1.Tlp_TLP_CLEAR},
	{"green", headsupv1.Tlp_TLP_GREEN},
	{"amber", headsupv1.Tlp_TLP_AMBER},
	{"amber+strict", headsupv1.Tlp_TLP_AMBER_STRICT},
	{"red", headsupv1.Tlp_TLP_RED},
}

var addressRoles = []enumName[headsupv1.AddressRole]{
	{"origin", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN},
	{"assigned", headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED},
}

var asnRoles = []enumName[headsupv1.AsnRole]{
	{"holder", headsupv1.AsnRole_ASN_ROLE_HOLDER},
	{"origin", headsupv1.AsnRole_ASN_ROLE_ORIGIN},
}

var schemes = []enumName[headsupv1.RegistrationScheme]{
	{"lei", headsupv1.RegistrationScheme_REGISTRATION_SCHEME_LEI},
	{"company_number", headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER},
	{"vat", headsupv1.RegistrationScheme_REGISTRATION_SCHEME_VAT},
	{"rir_org", headsupv1.RegistrationScheme_REGISTRATION_SCHEME_RIR_ORG},
}

var methods = []enumName[headsupv1.ObservationMethod]{
	{"dns", headsupv1.ObservationMethod_OBSERVATION_METHOD_DNS},
	{"http", headsupv1.ObservationMethod_OBSERVATION_METHOD_HTTP},
	{"tls", headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS},
	{"bgp", headsupv1.ObservationMethod_OBSERVATION_METHOD_BGP},
}

var relationKinds = []enumName[headsupv1.RelationKind]{
	{"resells", headsupv1.RelationKind_RELATION_KIND_RESELLS},
	{"operated_by", headsupv1.RelationKind_RELATION_KIND_OPERATED_BY},
}

var legalBasisKinds = []enumName[headsupv1.LegalBasisKind]{
	{"terms_of_service", headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE},
	{"court_order", headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_COURT_ORDER},
	{"authority_request", headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_AUTHORITY_REQUEST},
}
