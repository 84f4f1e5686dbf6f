package directory_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/directory"
	"golang.org/x/mod/sumdb/note"
)

// seedKey returns a deterministic Ed25519 key so that test files are stable.
func seedKey(t testing.TB, b byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// pinHex is the pin of voxhost's mTLS client key in validYAML.
var pinHex = strings.Repeat("ab", 32)

// logVerifierKey is the log key of validYAML, named for its origin.
func logVerifierKey(t testing.TB) string {
	t.Helper()
	vkey, err := note.NewEd25519VerifierKey("headsup.example/log", mustPub(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

// validYAML is a directory of two members; edit it with strings.Replace to
// make each bad case.
func validYAML(t testing.TB) string {
	t.Helper()
	pub1, _ := seedKey(t, 1)
	pub2, _ := seedKey(t, 2)
	pub3, _ := seedKey(t, 3)
	return `serial: 7
test_network: true
log:
  origin: headsup.example/log
  verifier_key: ` + logVerifierKey(t) + `
  operator: edgeshield
  quorum: 1
members:
  - id: voxhost
    name: VoxHost
    abuse_contact: https://voxhost.example/abuse
    asns: [64501]
    prefixes: [198.51.100.0/24, "2001:db8:100::/48"]
    domains: [voxhost.example]
    roles: [subscribe, audit]
    witness_url: https://witness.voxhost.example/
    tls_spki_sha256: [` + pinHex + `]
    keys:
      - kid: ` + directory.Thumbprint(pub3) + `
        use: witness
        public_key: ` + b64(pub3) + `
  - id: edgeshield
    name: EdgeShield CDN
    abuse_contact: abuse@edgeshield.example
    asns: [64500]
    prefixes: [192.0.2.0/24]
    domains: [edgeshield.example]
    roles: [publish, subscribe]
    witness_url: ""
    keys:
      - kid: ` + directory.Thumbprint(pub1) + `
        use: notice
        public_key: ` + b64(pub1) + `
        not_before: 2026-01-01T00:00:00Z
        not_after:  2027-01-01T00:00:00Z
        revoked_at: 2026-06-01T00:00:00Z
      - kid: ` + directory.Thumbprint(pub2) + `
        use: call
        public_key: ` + b64(pub2) + `
`
}

func TestParseValid(t *testing.T) {
	d, err := directory.Parse([]byte(validYAML(t)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Serial != 7 || !d.TestNetwork || len(d.Members) != 2 {
		t.Fatalf("got serial %d test_network %v %d members", d.Serial, d.TestNetwork, len(d.Members))
	}
	if d.Members[0].ID != "edgeshield" || d.Members[1].ID != "voxhost" {
		t.Errorf("members not sorted by id: %s, %s", d.Members[0].ID, d.Members[1].ID)
	}
	m, ok := d.Member("edgeshield")
	if !ok || m.Name != "EdgeShield CDN" || m.AbuseContact != "abuse@edgeshield.example" {
		t.Fatalf("Member(edgeshield) = %+v, %v", m, ok)
	}
	if !m.HasRole(directory.RolePublish) || m.HasRole(directory.RoleAudit) {
		t.Errorf("roles = %v", m.Roles)
	}
	if want := []uint32{64500}; !reflect.DeepEqual(m.ASNs, want) {
		t.Errorf("asns = %v, want %v", m.ASNs, want)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}; !reflect.DeepEqual(m.Prefixes, want) {
		t.Errorf("prefixes = %v, want %v", m.Prefixes, want)
	}
	pub1, _ := seedKey(t, 1)
	km, k, ok := d.Key(directory.Thumbprint(pub1))
	if !ok || km != m || k.Use != directory.UseNotice || !k.Public.Equal(pub1) {
		t.Fatalf("Key(kid1) = %v, %+v, %v", km, k, ok)
	}
	if want := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC); !k.RevokedAt.Equal(want) {
		t.Errorf("revoked_at = %v, want %v", k.RevokedAt, want)
	}
	if _, ok := d.Member("nobody"); ok {
		t.Error("Member(nobody) found")
	}
	if _, _, ok := d.Key("nokid"); ok {
		t.Error("Key(nokid) found")
	}
	v, _ := d.Member("voxhost")
	if v.WitnessURL != "https://witness.voxhost.example/" || len(v.Prefixes) != 2 {
		t.Errorf("voxhost = %+v", v)
	}
	var pin [32]byte
	copy(pin[:], bytes.Repeat([]byte{0xab}, 32))
	if pm, ok := d.MemberByTLSPin(pin); !ok || pm != v || m.HasTLSPin(pin) {
		t.Errorf("MemberByTLSPin = %v, %v; edgeshield has it: %v", pm, ok, m.HasTLSPin(pin))
	}
	if _, ok := d.MemberByTLSPin([32]byte{}); ok {
		t.Error("MemberByTLSPin(zero) found")
	}
	if l := d.Log; l == nil || l.Origin != "headsup.example/log" || l.Operator != "edgeshield" || l.Quorum != 1 || l.VerifierKey != logVerifierKey(t) {
		t.Errorf("log = %+v", l)
	}
}

func TestParseErrors(t *testing.T) {
	pub1, _ := seedKey(t, 1)
	pub2, _ := seedKey(t, 2)
	kid1 := directory.Thumbprint(pub1)
	valid := validYAML(t)
	for _, tc := range []struct {
		name      string
		old, new  string // replaced once in validYAML
		whole     string // instead of old/new: the whole document
		wantError string
	}{
		{name: "empty", whole: "", wantError: "empty document"},
		{name: "two documents", whole: valid + "---\nserial: 8\n", wantError: "more than one YAML document"},
		{name: "no serial", old: "serial: 7\n", new: "", wantError: "serial: missing or 0"},
		{name: "negative serial", old: "serial: 7", new: "serial: -1", wantError: "cannot unmarshal"},
		{name: "unknown top-level key", old: "test_network: true", new: "test_network: true\nlogo: x", wantError: "field logo not found"},
		{name: "unknown member key", old: "    name: VoxHost", new: "    name: VoxHost\n    colour: red", wantError: "field colour not found"},
		{name: "unknown key field", old: "        use: witness", new: "        use: witness\n        alg: EdDSA", wantError: "field alg not found"},
		{name: "duplicate yaml key", old: "    name: VoxHost", new: "    name: VoxHost\n    name: Vox", wantError: "already defined"},
		{name: "bad member id", old: "id: voxhost", new: "id: Voxhost", wantError: `members[0] (Voxhost): id: "Voxhost" does not match`},
		{name: "member id too long", old: "id: voxhost", new: "id: " + strings.Repeat("a", 64), wantError: "does not match"},
		{name: "member id leading hyphen", old: "id: voxhost", new: "id: -vox", wantError: "does not match"},
		{name: "duplicate member", old: "id: voxhost", new: "id: edgeshield", wantError: "members[1] (edgeshield): id: duplicate of members[0]"},
		{name: "name missing", old: "    name: VoxHost\n", new: "", wantError: "members[0] (voxhost): name: missing"},
		{name: "name blank", old: "name: VoxHost", new: `name: "  "`, wantError: "name: missing"},
		{name: "abuse contact missing", old: "    abuse_contact: https://voxhost.example/abuse\n", new: "", wantError: "members[0] (voxhost): abuse_contact: missing"},
		{name: "abuse contact http", old: "https://voxhost.example/abuse", new: "http://voxhost.example/abuse", wantError: "abuse_contact:"},
		{name: "abuse contact display name", old: "abuse_contact: abuse@edgeshield.example", new: `abuse_contact: "Abuse <abuse@edgeshield.example>"`, wantError: "neither a bare e-mail address"},
		{name: "abuse contact not email", old: "abuse_contact: abuse@edgeshield.example", new: "abuse_contact: call us", wantError: "abuse_contact"},
		{name: "asn zero", old: "asns: [64500]", new: "asns: [0]", wantError: "members[1] (edgeshield): asns[0]: 0 is not an AS number"},
		{name: "asn too big", old: "asns: [64500]", new: "asns: [4294967296]", wantError: "asns[0]: 4294967296 is not an AS number"},
		{name: "asn negative", old: "asns: [64500]", new: "asns: [64500, -5]", wantError: "asns[1]: -5"},
		{name: "asn not a number", old: "asns: [64500]", new: "asns: [AS64500]", wantError: "cannot unmarshal"},
		{name: "asn twice", old: "asns: [64500]", new: "asns: [64500, 64500]", wantError: "asns[1]: 64500 listed twice"},
		{name: "prefix unparsable", old: "[192.0.2.0/24]", new: "[192.0.2.0/33]", wantError: `prefixes[0]: "192.0.2.0/33" is not a prefix`},
		{name: "prefix bare address", old: "[192.0.2.0/24]", new: "[192.0.2.1]", wantError: "is not a prefix"},
		{name: "prefix not masked", old: "[192.0.2.0/24]", new: "[192.0.2.1/24]", wantError: `prefixes[0]: "192.0.2.1/24" has host bits set (want 192.0.2.0/24)`},
		{name: "prefix 4in6", old: "[192.0.2.0/24]", new: `["::ffff:192.0.2.0/120"]`, wantError: "IPv4-mapped"},
		{name: "domain upper case", old: "[edgeshield.example]", new: "[EdgeShield.example]", wantError: `domains[0]: "EdgeShield.example": not lower case`},
		{name: "domain trailing dot", old: "[edgeshield.example]", new: "[edgeshield.example.]", wantError: "trailing dot"},
		{name: "domain single label", old: "[edgeshield.example]", new: "[edgeshield]", wantError: "single label"},
		{name: "domain empty label", old: "[edgeshield.example]", new: "[edgeshield..example]", wantError: "empty"},
		{name: "domain ip", old: "[edgeshield.example]", new: "[192.0.2.1]", wantError: "an IP address"},
		{name: "domain underscore", old: "[edgeshield.example]", new: "[edge_shield.example]", wantError: "not a letter"},
		{name: "domain unicode", old: "[edgeshield.example]", new: "[bücher.example]", wantError: "A-labels"},
		{name: "role unknown", old: "[publish, subscribe]", new: "[publish, admin]", wantError: `roles[1]: "admin" is not a role`},
		{name: "role twice", old: "[publish, subscribe]", new: "[publish, publish]", wantError: `roles[1]: "publish" listed twice`},
		{name: "witness url http", old: "https://witness.voxhost.example/", new: "http://witness.voxhost.example/", wantError: "witness_url:"},
		{name: "witness url no host", old: "https://witness.voxhost.example/", new: "https:///x", wantError: "witness_url:"},
		{name: "kid wrong", old: "kid: " + kid1, new: "kid: abc", wantError: `members[1] (edgeshield): keys[0].kid: "abc" is not the RFC 7638 thumbprint of public_key (want "` + kid1 + `")`},
		{name: "kid missing", old: "kid: " + kid1, new: `kid: ""`, wantError: "keys[0].kid: missing"},
		{name: "kid of another key", old: "kid: " + kid1, new: "kid: " + directory.Thumbprint(pub2), wantError: "is not the RFC 7638 thumbprint"},
		{name: "use unknown", old: "use: notice", new: "use: sign", wantError: `keys[0].use: "sign" is not a key use`},
		{name: "use missing", old: "        use: notice\n", new: "", wantError: `keys[0].use: "" is not a key use`},
		{name: "public key missing", old: "        public_key: " + b64(pub1) + "\n", new: "", wantError: "keys[0].public_key: missing"},
		{name: "public key padded", old: "public_key: " + b64(pub1), new: "public_key: " + base64.URLEncoding.EncodeToString(pub1), wantError: "not unpadded base64url"},
		{name: "public key std alphabet", old: "public_key: " + b64(pub1), new: "public_key: " + base64.RawStdEncoding.EncodeToString(pub1) + "+/", wantError: "not unpadded base64url"},
		{name: "public key short", old: "public_key: " + b64(pub1), new: "public_key: " + b64(pub1[:31]), wantError: "31 bytes"},
		{name: "not_before bad", old: "not_before: 2026-01-01T00:00:00Z", new: "not_before: 2026-01-01", wantError: `keys[0].not_before: "2026-01-01" is not an RFC 3339 time`},
		{name: "not_after before not_before", old: "not_after:  2027-01-01T00:00:00Z", new: "not_after:  2025-01-01T00:00:00Z", wantError: "keys[0].not_after: 2025-01-01T00:00:00Z is not after not_before"},
		{name: "not_after equals not_before", old: "not_after:  2027-01-01T00:00:00Z", new: "not_after:  2026-01-01T00:00:00Z", wantError: "not after not_before"},
		{name: "revoked_at bad", old: "revoked_at: 2026-06-01T00:00:00Z", new: "revoked_at: soon", wantError: "keys[0].revoked_at"},
		{name: "pin upper case", old: "[" + pinHex + "]", new: "[" + strings.ToUpper(pinHex) + "]", wantError: `members[0] (voxhost): tls_spki_sha256[0]: "` + strings.ToUpper(pinHex) + `" is not a SHA-256 in lower-case hex`},
		{name: "pin short", old: "[" + pinHex + "]", new: "[abcd]", wantError: "tls_spki_sha256[0]: \"abcd\" is not a SHA-256"},
		{name: "pin twice", old: "[" + pinHex + "]", new: "[" + pinHex + ", " + pinHex + "]", wantError: "tls_spki_sha256[1]: " + `"` + pinHex + `" listed twice`},
		{name: "pin of two members", old: "    witness_url: \"\"", new: "    witness_url: \"\"\n    tls_spki_sha256: [" + pinHex + "]", wantError: "members[1] (edgeshield): tls_spki_sha256[0]: already pinned at members[0] (voxhost): tls_spki_sha256[0]"},
		{name: "log origin missing", old: "  origin: headsup.example/log\n", new: "", wantError: "log.origin: missing"},
		{name: "log origin with space", old: "origin: headsup.example/log", new: "origin: headsup example", wantError: "log.origin: \"headsup example\" holds a space"},
		{name: "log key of another name", old: "origin: headsup.example/log", new: "origin: other.example/log", wantError: `log.verifier_key: names "headsup.example/log", not the origin "other.example/log"`},
		{name: "log key garbage", old: "verifier_key: " + logVerifierKey(t), new: "verifier_key: nope", wantError: `log.verifier_key: "nope" is not a note verifier key`},
		{name: "log operator unknown", old: "operator: edgeshield", new: "operator: nobody", wantError: `log.operator: "nobody" is not a member`},
		{name: "log quorum unreachable", old: "quorum: 1", new: "quorum: 2", wantError: "log.quorum: 2, but 1 members other than the operator hold a witness key"},
		{name: "log quorum counts no operator", old: "operator: edgeshield", new: "operator: voxhost", wantError: "log.quorum: 1, but 0 members"},
		{name: "log quorum negative", old: "quorum: 1", new: "quorum: -1", wantError: "log.quorum: -1"},
		{name: "duplicate kid across members", old: "kid: " + directory.Thumbprint(mustPub(t, 3)) + "\n        use: witness\n        public_key: " + b64(mustPub(t, 3)),
			new: "kid: " + kid1 + "\n        use: witness\n        public_key: " + b64(pub1), wantError: "already used at members[0] (voxhost): keys[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.whole
			if doc == "" && tc.old != "" {
				if !strings.Contains(valid, tc.old) {
					t.Fatalf("test bug: %q not in the valid document", tc.old)
				}
				doc = strings.Replace(valid, tc.old, tc.new, 1)
			}
			_, err := directory.Parse([]byte(doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tc.wantError)
			}
			if !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("Parse error\n  %v\nwant it to contain\n  %s", err, tc.wantError)
			}
		})
	}
}

func mustPub(t testing.TB, b byte) ed25519.PublicKey {
	t.Helper()
	pub, _ := seedKey(t, b)
	return pub
}

func TestMarshalRoundTrip(t *testing.T) {
	d, err := directory.Parse([]byte(validYAML(t)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := directory.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := directory.Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal(d)): %v\n%s", err, b)
	}
	if !reflect.DeepEqual(d, d2) {
		t.Errorf("Parse(Marshal(d)) differs from d; marshalled:\n%s", b)
	}
	b2, err := directory.Marshal(d2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Errorf("Marshal is not stable:\n%s\n----\n%s", b, b2)
	}
}

func TestHandBuiltDirectory(t *testing.T) {
	k, _, err := directory.NewKey(directory.UseNotice)
	if err != nil {
		t.Fatal(err)
	}
	d := &directory.Directory{Serial: 1, Members: []*directory.Member{
		{ID: "zeta", Name: "Zeta", AbuseContact: "abuse@zeta.example", Keys: []*directory.Key{k}},
		{ID: "alpha", Name: "Alpha", AbuseContact: "abuse@alpha.example"},
	}}
	if m, ok := d.Member("alpha"); !ok || m.ID != "alpha" {
		t.Errorf("Member(alpha) on an unsorted hand-built directory = %v, %v", m, ok)
	}
	if m, got, ok := d.Key(k.ID); !ok || m.ID != "zeta" || got != k {
		t.Errorf("Key on a hand-built directory = %v, %v, %v", m, got, ok)
	}
	b, err := directory.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := directory.Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal(hand-built)): %v\n%s", err, b)
	}
	if m, got, ok := d2.Key(k.ID); !ok || m.ID != "zeta" || !got.Public.Equal(k.Public) {
		t.Errorf("Key after round trip = %v, %v, %v", m, got, ok)
	}
}

// TestThumbprintKAT checks RFC 8037 Appendix A.3.
func TestThumbprintKAT(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	const want = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
	if got := directory.Thumbprint(ed25519.PublicKey(x)); got != want {
		t.Errorf("Thumbprint = %s, want %s", got, want)
	}
}

func TestKeyValidAt(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	rv := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	k := &directory.Key{ID: "k", NotBefore: nb, NotAfter: na, RevokedAt: rv}
	open := &directory.Key{ID: "open"}
	for _, tc := range []struct {
		key  *directory.Key
		at   time.Time
		want error
	}{
		{k, nb.Add(-time.Second), directory.ErrKeyNotYetValid},
		{k, nb, nil}, // not_before is inclusive
		{k, rv.Add(-time.Second), nil},
		{k, rv, directory.ErrKeyRevoked}, // revoked_at is exclusive
		{k, na.Add(time.Hour), directory.ErrKeyRevoked},
		{&directory.Key{ID: "k", NotAfter: na}, na, directory.ErrKeyExpired}, // not_after is exclusive
		{&directory.Key{ID: "k", NotAfter: na}, na.Add(-time.Second), nil},
		{&directory.Key{ID: "k", NotBefore: nb, RevokedAt: rv}, nb.Add(-time.Hour), directory.ErrKeyNotYetValid},
		{open, time.Unix(0, 0), nil},
		{open, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), nil},
	} {
		err := tc.key.ValidAt(tc.at)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("key %s ValidAt(%s) = %v, want %v", tc.key.ID, tc.at.Format(time.RFC3339), err, tc.want)
		}
	}
}

func TestNewKey(t *testing.T) {
	k, priv, err := directory.NewKey(directory.UseCall)
	if err != nil {
		t.Fatal(err)
	}
	if k.Use != directory.UseCall || !k.Public.Equal(priv.Public()) || k.ID != directory.Thumbprint(k.Public) {
		t.Errorf("NewKey = %+v", k)
	}
	if _, _, err := directory.NewKey("sign"); err == nil {
		t.Error("NewKey(sign) succeeded")
	}
}

func TestPrivateKeyRoundTrip(t *testing.T) {
	_, priv := seedKey(t, 9)
	p, err := directory.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(p, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("PEM = %s", p)
	}
	got, err := directory.ParsePrivateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(priv) {
		t.Error("ParsePrivateKey(MarshalPrivateKey(k)) != k")
	}
	path := filepath.Join(t.TempDir(), "notice.key")
	if err := os.WriteFile(path, p, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = directory.LoadPrivateKey(path)
	if err != nil || !got.Equal(priv) {
		t.Errorf("LoadPrivateKey = %v, %v", got, err)
	}
	if _, err := directory.LoadPrivateKey(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadPrivateKey(missing) succeeded")
	}
}

func TestParsePrivateKeyErrors(t *testing.T) {
	_, priv := seedKey(t, 9)
	good, err := directory.MarshalPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(good)
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"not PEM", []byte("hello"), "no PEM block"},
		{"empty", nil, "no PEM block"},
		{"ECDSA", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), "a ECDSA key, want Ed25519"},
		{"wrong block type", pem.EncodeToMemory(&pem.Block{Type: "ED25519 PRIVATE KEY", Bytes: block.Bytes}), `PEM block type "ED25519 PRIVATE KEY"`},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: block.Bytes}), "PEM block type"},
		{"headers", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: block.Bytes}), "headers"},
		{"trailing data", append(append([]byte{}, good...), good...), "data after the PEM block"},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "private key:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := directory.ParsePrivateKey(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParsePrivateKey error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
