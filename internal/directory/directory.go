package directory

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/sumdb/note"
)

// MaxFileBytes bounds a directory file, so a runaway file cannot exhaust
// memory. A federation of thousands of members fits well under it.
const MaxFileBytes = 16 << 20

// Role is what a member may do at the hub.
type Role string

// The roles.
const (
	// RolePublish: the member may publish notices.
	RolePublish Role = "publish"
	// RoleSubscribe: the member may subscribe to the notices addressed to it.
	RoleSubscribe Role = "subscribe"
	// RoleAudit: the member may replay the full history.
	RoleAudit Role = "audit"
)

func (r Role) valid() bool {
	switch r {
	case RolePublish, RoleSubscribe, RoleAudit:
		return true
	}
	return false
}

// Member is one provider of the federation.
type Member struct {
	// ID is the member id, ^[a-z0-9][a-z0-9-]{0,62}$.
	ID string
	// Name is the display name.
	Name string
	// AbuseContact is an e-mail address or an https URL.
	AbuseContact string
	// ASNs are the member's own autonomous systems.
	ASNs []uint32
	// Prefixes are the member's own address space, masked.
	Prefixes []netip.Prefix
	// Domains are the member's own domains, lower case, no trailing dot.
	Domains []string
	// Roles are what the member may do.
	Roles []Role
	// WitnessURL, when set, is the https URL where the member serves its
	// latest cosigned checkpoint.
	WitnessURL string
	// Keys are the member's public keys, in file order.
	Keys []*Key
	// TLSPins are the SHA-256 digests of the SubjectPublicKeyInfo of the
	// member's mTLS client keys. A client certificate authenticates a call
	// only while its key's digest is listed here: removing a pin revokes
	// the key at once, whatever the certificate's own validity says.
	TLSPins [][sha256.Size]byte
}

// HasTLSPin reports whether spki (a SHA-256 of a DER SubjectPublicKeyInfo)
// is pinned for the member.
func (m *Member) HasTLSPin(spki [sha256.Size]byte) bool {
	return slices.Contains(m.TLSPins, spki)
}

// MemberByTLSPin returns the member that pins spki. Pins are unique across
// a parsed directory.
func (d *Directory) MemberByTLSPin(spki [sha256.Size]byte) (*Member, bool) {
	for _, m := range d.Members {
		if m.HasTLSPin(spki) {
			return m, true
		}
	}
	return nil, false
}

// Log is what the federation says about its Merkle log: the name and key
// the hub signs checkpoints under, whose hub it is, and how many witnesses
// a checkpoint needs before members and auditors trust it.
type Log struct {
	// Origin is the checkpoint's first line and the log key's name.
	Origin string
	// VerifierKey is the log key's note verifier key, as written; Parse
	// checked that it is one, named Origin.
	VerifierKey string
	// Operator is the id of the member that runs the hub. Its own witness
	// never counts toward a quorum: a hub must not vouch for itself.
	Operator string
	// Quorum is how many distinct members other than Operator must have
	// cosigned a checkpoint. 0 means checkpoints are not witnessed (a
	// single-member test network).
	Quorum int
}

// HasRole reports whether the member has role r.
func (m *Member) HasRole(r Role) bool {
	return slices.Contains(m.Roles, r)
}

// Directory is one version of the directory of members. Treat it as
// read-only once parsed: it is shared between goroutines, and its lookup
// index is built by Parse.
type Directory struct {
	// Serial orders the versions; a newer version has a higher serial.
	Serial uint64
	// TestNetwork allows documentation addresses and ASNs (demos, tests).
	TestNetwork bool
	// Members, sorted by id.
	Members []*Member
	// Log describes the federation's Merkle log; nil when the directory
	// names none (then nobody can check checkpoints against it).
	Log *Log

	// byKid indexes every key by kid. Nil for a Directory built by hand,
	// in which case Key scans.
	byKid map[string]keyRef

	// signed is the signed note Open verified, and text its signed YAML
	// (a prefix of signed); both nil when parsed from unsigned YAML.
	signed, text []byte
}

type keyRef struct {
	member *Member
	key    *Key
}

// Member returns the member with the given id.
func (d *Directory) Member(id string) (*Member, bool) {
	i, ok := slices.BinarySearchFunc(d.Members, id, func(m *Member, id string) int {
		return strings.Compare(m.ID, id)
	})
	if ok {
		return d.Members[i], true
	}
	// A hand-built directory may not be sorted.
	for _, m := range d.Members {
		if m.ID == id {
			return m, true
		}
	}
	return nil, false
}

// Key returns the key with the given kid and the member that holds it.
// Kids are unique across a parsed directory.
func (d *Directory) Key(kid string) (*Member, *Key, bool) {
	if d.byKid != nil {
		r, ok := d.byKid[kid]
		return r.member, r.key, ok
	}
	for _, m := range d.Members {
		for _, k := range m.Keys {
			if k.ID == kid {
				return m, k, true
			}
		}
	}
	return nil, nil, false
}

// The YAML shape. Times and keys are strings so that Parse, not the YAML
// library, decides what is valid and says so with the field's path.
type fileDirectory struct {
	Serial      uint64       `yaml:"serial"`
	TestNetwork bool         `yaml:"test_network,omitempty"`
	Log         *fileLog     `yaml:"log,omitempty"`
	Members     []fileMember `yaml:"members"`
}

type fileLog struct {
	Origin      string `yaml:"origin"`
	VerifierKey string `yaml:"verifier_key"`
	Operator    string `yaml:"operator"`
	Quorum      int    `yaml:"quorum"`
}

type fileMember struct {
	ID           string    `yaml:"id"`
	Name         string    `yaml:"name"`
	AbuseContact string    `yaml:"abuse_contact"`
	ASNs         []int64   `yaml:"asns,omitempty,flow"`
	Prefixes     []string  `yaml:"prefixes,omitempty,flow"`
	Domains      []string  `yaml:"domains,omitempty,flow"`
	Roles        []string  `yaml:"roles,omitempty,flow"`
	WitnessURL   string    `yaml:"witness_url,omitempty"`
	Keys         []fileKey `yaml:"keys,omitempty"`
	TLSPins      []string  `yaml:"tls_spki_sha256,omitempty"`
}

type fileKey struct {
	Kid       string `yaml:"kid"`
	Use       string `yaml:"use"`
	PublicKey string `yaml:"public_key"`
	NotBefore string `yaml:"not_before,omitempty"`
	NotAfter  string `yaml:"not_after,omitempty"`
	RevokedAt string `yaml:"revoked_at,omitempty"`
}

var memberIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Load reads and parses a directory file.
func Load(path string) (*Directory, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	d, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", path, err)
	}
	return d, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("directory %s: larger than %d bytes", path, MaxFileBytes)
	}
	return b, nil
}

// Parse decodes and validates a directory document. Unknown keys,
// duplicate keys and a second YAML document are refused; every error names
// the member and field at fault.
func Parse(data []byte) (*Directory, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f fileDirectory
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if f.Serial == 0 {
		return nil, errors.New("serial: missing or 0 (serials start at 1)")
	}
	d := &Directory{
		Serial:      f.Serial,
		TestNetwork: f.TestNetwork,
		byKid:       map[string]keyRef{},
	}
	memberAt := map[string]int{}
	kidAt := map[string]string{}
	pinAt := map[[sha256.Size]byte]string{}
	for i, fm := range f.Members {
		m, err := parseMember(fm)
		if err != nil {
			return nil, fmt.Errorf("members[%d]%s: %w", i, idSuffix(fm.ID), err)
		}
		if j, dup := memberAt[m.ID]; dup {
			return nil, fmt.Errorf("members[%d] (%s): id: duplicate of members[%d]", i, m.ID, j)
		}
		memberAt[m.ID] = i
		for j, k := range m.Keys {
			where := fmt.Sprintf("members[%d] (%s): keys[%d]", i, m.ID, j)
			if prev, dup := kidAt[k.ID]; dup {
				return nil, fmt.Errorf("%s.kid: %q already used at %s (a key may appear once in the directory)", where, k.ID, prev)
			}
			kidAt[k.ID] = where
			d.byKid[k.ID] = keyRef{member: m, key: k}
		}
		for j, pin := range m.TLSPins {
			where := fmt.Sprintf("members[%d] (%s): tls_spki_sha256[%d]", i, m.ID, j)
			if prev, dup := pinAt[pin]; dup {
				return nil, fmt.Errorf("%s: already pinned at %s (a client key belongs to one member)", where, prev)
			}
			pinAt[pin] = where
		}
		d.Members = append(d.Members, m)
	}
	slices.SortFunc(d.Members, func(a, b *Member) int { return strings.Compare(a.ID, b.ID) })
	if f.Log != nil {
		l, err := parseLog(*f.Log, d)
		if err != nil {
			return nil, fmt.Errorf("log.%w", err)
		}
		d.Log = l
	}
	return d, nil
}

// parseLog's errors start with the field name, so the caller prefixes
// "log.".
func parseLog(fl fileLog, d *Directory) (*Log, error) {
	if fl.Origin == "" {
		return nil, errors.New("origin: missing")
	}
	if !utf8.ValidString(fl.Origin) || strings.IndexFunc(fl.Origin, unicode.IsSpace) >= 0 ||
		strings.IndexFunc(fl.Origin, unicode.IsControl) >= 0 || strings.Contains(fl.Origin, "+") {
		return nil, fmt.Errorf("origin: %q holds a space, a control character, a '+' or invalid UTF-8", fl.Origin)
	}
	v, err := note.NewVerifier(fl.VerifierKey)
	if err != nil {
		return nil, fmt.Errorf("verifier_key: %q is not a note verifier key: %v", fl.VerifierKey, err)
	}
	if v.Name() != fl.Origin {
		return nil, fmt.Errorf("verifier_key: names %q, not the origin %q", v.Name(), fl.Origin)
	}
	if _, ok := d.Member(fl.Operator); !ok {
		return nil, fmt.Errorf("operator: %q is not a member", fl.Operator)
	}
	witnesses := 0
	for _, m := range d.Members {
		if m.ID == fl.Operator {
			continue
		}
		if slices.ContainsFunc(m.Keys, func(k *Key) bool { return k.Use == UseWitness }) {
			witnesses++
		}
	}
	if fl.Quorum < 0 || fl.Quorum > witnesses {
		return nil, fmt.Errorf("quorum: %d, but %d members other than the operator hold a witness key", fl.Quorum, witnesses)
	}
	return &Log{Origin: fl.Origin, VerifierKey: fl.VerifierKey, Operator: fl.Operator, Quorum: fl.Quorum}, nil
}

// Verifier checks the log's signature on a checkpoint. It is made on each
// call (cheaply) so that a Log stays a plain value.
func (l *Log) Verifier() (note.Verifier, error) {
	return note.NewVerifier(l.VerifierKey)
}

func idSuffix(id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf(" (%s)", id)
}

func parseMember(fm fileMember) (*Member, error) {
	if !memberIDPattern.MatchString(fm.ID) {
		return nil, fmt.Errorf("id: %q does not match %s", fm.ID, memberIDPattern)
	}
	m := &Member{ID: fm.ID, WitnessURL: fm.WitnessURL}
	if m.Name = strings.TrimSpace(fm.Name); m.Name == "" {
		return nil, errors.New("name: missing")
	}
	if err := checkAbuseContact(fm.AbuseContact); err != nil {
		return nil, fmt.Errorf("abuse_contact: %w", err)
	}
	m.AbuseContact = fm.AbuseContact
	for i, a := range fm.ASNs {
		if a <= 0 || a > 1<<32-1 {
			return nil, fmt.Errorf("asns[%d]: %d is not an AS number (1 to 4294967295)", i, a)
		}
		if slices.Contains(m.ASNs, uint32(a)) {
			return nil, fmt.Errorf("asns[%d]: %d listed twice", i, a)
		}
		m.ASNs = append(m.ASNs, uint32(a))
	}
	for i, s := range fm.Prefixes {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("prefixes[%d]: %w", i, err)
		}
		if slices.Contains(m.Prefixes, p) {
			return nil, fmt.Errorf("prefixes[%d]: %s listed twice", i, p)
		}
		m.Prefixes = append(m.Prefixes, p)
	}
	for i, s := range fm.Domains {
		if err := checkDomain(s); err != nil {
			return nil, fmt.Errorf("domains[%d]: %q: %w", i, s, err)
		}
		if slices.Contains(m.Domains, s) {
			return nil, fmt.Errorf("domains[%d]: %q listed twice", i, s)
		}
		m.Domains = append(m.Domains, s)
	}
	for i, s := range fm.Roles {
		r := Role(s)
		if !r.valid() {
			return nil, fmt.Errorf("roles[%d]: %q is not a role (want %s, %s or %s)", i, s, RolePublish, RoleSubscribe, RoleAudit)
		}
		if m.HasRole(r) {
			return nil, fmt.Errorf("roles[%d]: %q listed twice", i, s)
		}
		m.Roles = append(m.Roles, r)
	}
	if fm.WitnessURL != "" {
		if err := checkHTTPSURL(fm.WitnessURL); err != nil {
			return nil, fmt.Errorf("witness_url: %w", err)
		}
	}
	for i, fk := range fm.Keys {
		k, err := parseKey(fk)
		if err != nil {
			return nil, fmt.Errorf("keys[%d].%w", i, err)
		}
		m.Keys = append(m.Keys, k)
	}
	for i, s := range fm.TLSPins {
		// Lower-case hex only: one spelling per pin, as openssl prints it
		// with `openssl pkey -pubin -outform DER | sha256sum`.
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != sha256.Size || strings.ToLower(s) != s {
			return nil, fmt.Errorf("tls_spki_sha256[%d]: %q is not a SHA-256 in lower-case hex (64 digits)", i, s)
		}
		pin := [sha256.Size]byte(b)
		if m.HasTLSPin(pin) {
			return nil, fmt.Errorf("tls_spki_sha256[%d]: %q listed twice", i, s)
		}
		m.TLSPins = append(m.TLSPins, pin)
	}
	return m, nil
}

// parseKey's errors start with the field name, so the caller prefixes
// "keys[i].".
func parseKey(fk fileKey) (*Key, error) {
	if fk.Kid == "" {
		return nil, errors.New("kid: missing")
	}
	k := &Key{ID: fk.Kid, Use: Use(fk.Use)}
	if !k.Use.valid() {
		return nil, fmt.Errorf("use: %q is not a key use (want %s, %s or %s)", fk.Use, UseNotice, UseCall, UseWitness)
	}
	if fk.PublicKey == "" {
		return nil, errors.New("public_key: missing")
	}
	// Strict: one spelling per key, so the thumbprint and the key agree.
	pub, err := base64.RawURLEncoding.Strict().DecodeString(fk.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("public_key: %q is not unpadded base64url: %v", fk.PublicKey, err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public_key: %d bytes, an Ed25519 key has %d", len(pub), ed25519.PublicKeySize)
	}
	k.Public = ed25519.PublicKey(pub)
	if want := Thumbprint(k.Public); fk.Kid != want {
		return nil, fmt.Errorf("kid: %q is not the RFC 7638 thumbprint of public_key (want %q)", fk.Kid, want)
	}
	for _, t := range []struct {
		name string
		in   string
		out  *time.Time
	}{
		{"not_before", fk.NotBefore, &k.NotBefore},
		{"not_after", fk.NotAfter, &k.NotAfter},
		{"revoked_at", fk.RevokedAt, &k.RevokedAt},
	} {
		if t.in == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.in)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an RFC 3339 time such as 2026-01-01T00:00:00Z", t.name, t.in)
		}
		*t.out = v.UTC()
	}
	if !k.NotBefore.IsZero() && !k.NotAfter.IsZero() && !k.NotAfter.After(k.NotBefore) {
		return nil, fmt.Errorf("not_after: %s is not after not_before %s", fk.NotAfter, fk.NotBefore)
	}
	return k, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a prefix: %v", s, err)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q is an IPv4-mapped IPv6 prefix: write the IPv4 prefix", s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (want %s)", s, p.Masked())
	}
	return p, nil
}

func checkDomain(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case strings.HasSuffix(s, "."):
		return errors.New("trailing dot: write the name without it")
	case strings.ToLower(s) != s:
		return errors.New("not lower case")
	case len(s) > 253:
		return errors.New("longer than 253 octets")
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return errors.New("an IP address, not a domain")
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return errors.New("a single label, not a domain")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q: empty or longer than 63 octets", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q: starts or ends with a hyphen", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("label %q: %q is not a letter, digit or hyphen (write IDNs as A-labels, xn--…)", l, c)
			}
		}
	}
	return nil
}

func checkAbuseContact(s string) error {
	if s == "" {
		return errors.New("missing (an e-mail address or an https URL)")
	}
	if strings.HasPrefix(s, "https://") {
		return checkHTTPSURL(s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return fmt.Errorf("%q is neither a bare e-mail address nor an https URL", s)
	}
	at := strings.LastIndexByte(s, '@')
	if err := checkDomain(strings.ToLower(s[at+1:])); err != nil {
		return fmt.Errorf("%q: domain: %w", s, err)
	}
	return nil
}

func checkHTTPSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return fmt.Errorf("%q is not an https URL with a host and no user info", s)
	}
	return nil
}

// Marshal encodes d in the directory's YAML format; Parse(Marshal(d))
// yields a directory equal to d. Marshal does not validate: Parse does.
func Marshal(d *Directory) ([]byte, error) {
	f := fileDirectory{Serial: d.Serial, TestNetwork: d.TestNetwork}
	if d.Log != nil {
		f.Log = &fileLog{Origin: d.Log.Origin, VerifierKey: d.Log.VerifierKey, Operator: d.Log.Operator, Quorum: d.Log.Quorum}
	}
	for _, m := range d.Members {
		fm := fileMember{
			ID:           m.ID,
			Name:         m.Name,
			AbuseContact: m.AbuseContact,
			Domains:      m.Domains,
			WitnessURL:   m.WitnessURL,
		}
		for _, a := range m.ASNs {
			fm.ASNs = append(fm.ASNs, int64(a))
		}
		for _, p := range m.Prefixes {
			fm.Prefixes = append(fm.Prefixes, p.String())
		}
		for _, r := range m.Roles {
			fm.Roles = append(fm.Roles, string(r))
		}
		for _, p := range m.TLSPins {
			fm.TLSPins = append(fm.TLSPins, hex.EncodeToString(p[:]))
		}
		for _, k := range m.Keys {
			fm.Keys = append(fm.Keys, fileKey{
				Kid:       k.ID,
				Use:       string(k.Use),
				PublicKey: base64.RawURLEncoding.EncodeToString(k.Public),
				NotBefore: formatTime(k.NotBefore),
				NotAfter:  formatTime(k.NotAfter),
				RevokedAt: formatTime(k.RevokedAt),
			})
		}
		f.Members = append(f.Members, fm)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&f); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
