package noticefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func host(h string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Host{Host: h}}
}

func addr(p string, role headsupv1.AddressRole) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: p, Role: role}}}
}

func asn(n uint32, role headsupv1.AsnRole) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Asn{Asn: &headsupv1.Asn{Number: n, Role: role}}}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseSuspended(t *testing.T) {
	got, err := Parse(readTestdata(t, "suspended.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	reg := func(s headsupv1.RegistrationScheme, v, c string) *headsupv1.Identifier {
		return &headsupv1.Identifier{Value: &headsupv1.Identifier_Registration{Registration: &headsupv1.Registration{Scheme: s, Value: v, Country: c}}}
	}
	assigned := addr("198.51.100.0/24", headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED)
	assigned.GetAddress().AssignedUntil = ts("2026-03-01T00:00:00Z")
	origin := asn(64501, headsupv1.AsnRole_ASN_ROLE_ORIGIN)
	origin.Observation = &headsupv1.Observation{ObservedAt: ts("2026-02-27T10:00:00Z"), Method: headsupv1.ObservationMethod_OBSERVATION_METHOD_BGP}
	want := &headsupv1.Notice{
		Kind:   headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Issuer: "edgeshield",
		Subject: &headsupv1.Entity{
			Label: "chanboard",
			Identifiers: []*headsupv1.Identifier{
				host("chanboard.example"), host("www.chanboard.example"),
				addr("192.0.2.10", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN),
				assigned,
				addr("2001:db8:42::/48", headsupv1.AddressRole_ADDRESS_ROLE_UNSPECIFIED),
				asn(64500, headsupv1.AsnRole_ASN_ROLE_HOLDER),
				origin,
				{Value: &headsupv1.Identifier_Email{Email: "admin@chanboard.example"}},
				{Value: &headsupv1.Identifier_Organisation{Organisation: "Chanboard Media LLC"}},
				reg(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER, "12345678", "GB"),
				reg(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_LEI, "5493001KJTIIGC8Y1R12", ""),
				{Value: &headsupv1.Identifier_Hashed{Hashed: "hmac-sha256:k1:phone:" + strings.Repeat("0", 64)}},
			},
		},
		Reason:  "abusive-content:violence",
		Summary: "Terminated for inciting violence against a named group.\nRepeated after two warnings.\n",
		Tlp:     headsupv1.Tlp_TLP_AMBER,
		LegalBasis: &headsupv1.LegalBasis{
			Kind:      headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE,
			Reference: "AUP 4.2",
			Url:       "https://edgeshield.example/aup",
		},
		Evidence: []*headsupv1.Evidence{{
			Url:         "https://evidence.edgeshield.example/case/1",
			Sha256:      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			Description: "archived page",
			Tlp:         headsupv1.Tlp_TLP_RED,
		}},
		Audience:    []string{"voxhost", "edgeshield"},
		IssuedAt:    ts("2026-02-28T12:00:00Z"),
		EffectiveAt: ts("2026-02-28T11:00:00Z"),
	}
	if !proto.Equal(got, want) {
		t.Errorf("Parse:\n got %v\nwant %v", prototext.Format(got), prototext.Format(want))
	}
}

func TestParseExamples(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, n *headsupv1.Notice)
	}{
		{"sighted.yaml", func(t *testing.T, n *headsupv1.Notice) {
			if !proto.Equal(n.ExpiresAt, ts("2026-03-30T12:00:00Z")) {
				t.Errorf("expires_at = %v, want issued_at + 30 days", n.ExpiresAt.AsTime())
			}
			if n.Tlp != headsupv1.Tlp_TLP_GREEN {
				t.Errorf("tlp = %v, want GREEN (from TLP:GREEN)", n.Tlp)
			}
			about := n.GetSighting().GetAbout()
			if len(about) != 2 || about[1].Issuer != "edgeshield" || about[1].Id != "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c" {
				t.Errorf("about = %v, want the issuer/id spelling read too", about)
			}
			h := n.GetSighting().GetHost().GetIdentifiers()
			if len(h) != 2 || h[0].GetObservation().GetMethod() != headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS ||
				len(h[0].GetObservation().GetEvidence()) != 1 {
				t.Errorf("sighting.host identifiers = %v, want observations", h)
			}
		}},
		{"reseller.yaml", func(t *testing.T, n *headsupv1.Notice) {
			if len(n.Relations) != 2 || n.Relations[1].Kind != headsupv1.RelationKind_RELATION_KIND_OPERATED_BY {
				t.Errorf("relations = %v, want operated_by (from operated-by) second", n.Relations)
			}
			if n.Relations[0].Entity.Member != "voxhost" {
				t.Errorf("relations[0].entity.member = %q", n.Relations[0].Entity.Member)
			}
		}},
		{"retraction.json", func(t *testing.T, n *headsupv1.Notice) {
			if n.Kind != headsupv1.NoticeKind_NOTICE_KIND_RETRACTION || n.Supersedes == "" || len(n.Salt) != 32 {
				t.Errorf("notice = %v", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			n, err := Parse(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, n)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "empty document"},
		{"comment only", "# nothing\n", "empty document"},
		{"not a mapping", "- a\n", "a notice document must be a mapping, not a list (line 1)"},
		{"unknown key", "kind: retraction\nsubjet: {}\n",
			"subjet: unknown field; known fields are kind, issuer, id, subject, sighting, relations, reason, summary, tlp, legal_basis, evidence, audience, issued_at, effective_at, expires_at, expires_in, supersedes, salt (line 2)"},
		{"nested unknown key", "subject:\n  hosts: [a.example]\n  ips: [192.0.2.1]\n",
			"subject.ips: unknown field; known fields are label, member, hosts, addresses, asns, emails, organisations, registrations, hashed (line 3)"},
		{"duplicate key", "kind: retraction\nkind: retraction\n", "kind: given twice (line 2)"},
		{"bad kind", "kind: suspended\n",
			`kind: "suspended" is not one of customer_suspended, customer_sighted, reseller_identified, retraction (line 1)`},
		{"bad role", "subject:\n  addresses: [192.0.2.1, {prefix: 192.0.2.2, role: owner}]\n",
			`subject.addresses[1].role: "owner" is not one of origin, assigned (line 2)`},
		{"address without prefix", "subject:\n  addresses:\n    - role: origin\n",
			"subject.addresses[0].prefix: required (line 3)"},
		{"empty host", "subject:\n  hosts: [\"\"]\n", "subject.hosts[0]: empty (line 2)"},
		{"host as list", "subject:\n  hosts: [[a.example]]\n", "subject.hosts[0]: must be a mapping, not a list (line 2)"},
		{"hosts not a list", "subject:\n  hosts: a.example\n", `subject.hosts: must be a list, not "a.example" (line 2)`},
		{"bad asn", "subject:\n  asns: [ASX1]\n", `subject.asns[0]: "ASX1" is not an AS number such as AS64500 (line 2)`},
		{"asn too big", "subject:\n  asns: [4294967296]\n", `subject.asns[0]: "4294967296" is not an AS number such as AS64500 (line 2)`},
		{"registration as string", "subject:\n  registrations: [ORG-X-RIPE]\n",
			`subject.registrations[0]: must be a mapping, not "ORG-X-RIPE" (line 2)`},
		{"registration without scheme", "subject:\n  registrations: [{value: X}]\n", "subject.registrations[0].scheme: required (line 2)"},
		{"bad method", "sighting:\n  host:\n    hosts: [{host: a.example, method: ping}]\n",
			`sighting.host.hosts[0].method: "ping" is not one of dns, http, tls, bgp (line 3)`},
		{"bad about", "sighting:\n  about: [edgeshield]\n", `sighting.about[0]: "edgeshield" is not issuer/id (line 2)`},
		{"bad relation", "relations: [{kind: rents}]\n", `relations[0].kind: "rents" is not one of resells, operated_by (line 1)`},
		{"bad tlp", "tlp: white\n", `tlp: "white" is not one of clear, green, amber, amber+strict, red (line 1)`},
		{"bad evidence tlp", "evidence: [{tlp: pink}]\n", `evidence[0].tlp: "pink" is not one of clear, green, amber, amber+strict, red (line 1)`},
		{"bad legal basis", "legal_basis: {kind: hunch}\n",
			`legal_basis.kind: "hunch" is not one of terms_of_service, court_order, authority_request (line 1)`},
		{"bad time", "issued_at: 2026-02-28\n", `issued_at: "2026-02-28" is not an RFC 3339 time such as 2026-01-02T15:04:05Z (line 1)`},
		{"fractional time", "issued_at: 2026-02-28T12:00:00.5Z\n",
			`issued_at: "2026-02-28T12:00:00.5Z" has fractional seconds; times are whole seconds (line 1)`},
		{"expires twice", "issued_at: 2026-02-28T12:00:00Z\nexpires_at: 2026-03-28T12:00:00Z\nexpires_in: 30d\n",
			"expires_in: give expires_at or expires_in, not both (line 3)"},
		{"expires_in without issued_at", "expires_in: 30d\n", "expires_in: needs issued_at (line 1)"},
		{"bad duration", "issued_at: 2026-02-28T12:00:00Z\nexpires_in: a month\n",
			`expires_in: "a month" is not a duration such as 30d or 720h (line 2)`},
		{"negative duration", "issued_at: 2026-02-28T12:00:00Z\nexpires_in: -1h\n",
			`expires_in: "-1h" must be a positive whole number of seconds (line 2)`},
		{"bad salt", "salt: xyz\n", `salt: "xyz" is not hexadecimal (line 1)`},
		{"summary as mapping", "summary: {a: b}\n", "summary: must be a single value, not a mapping (line 1)"},
		{"audience entry empty", "audience: [voxhost, \"\"]\n", "audience[1]: empty (line 1)"},
		{"alias", "subject: &s {hosts: [a.example]}\nsighting: {host: *s}\n", "YAML anchors and aliases are not supported in a notice (line 1)"},
		{"two documents", "kind: retraction\n---\nkind: retraction\n", "more than one YAML document; a file holds one notice (line 2)"},
		{"syntax", "kind: [\n", "yaml: line 1: did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse = %v, want error %q", n, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse error\n got %s\nwant %s", got, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %T is not *Error", err)
			}
		})
	}
}

func TestParseAtExpiresIn(t *testing.T) {
	now := time.Date(2026, 2, 28, 12, 0, 0, 700_000_000, time.UTC)
	n, err := ParseAt([]byte("kind: customer_sighted\nexpires_in: 720h\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(n.IssuedAt, ts("2026-02-28T12:00:00Z")) || !proto.Equal(n.ExpiresAt, ts("2026-03-30T12:00:00Z")) {
		t.Errorf("issued_at %v, expires_at %v: want now in whole seconds and 30 days later", n.IssuedAt.AsTime(), n.ExpiresAt.AsTime())
	}
	// Without expires_in, issued_at stays for notice.Fill to set.
	n, err = ParseAt([]byte("kind: customer_sighted\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	if n.IssuedAt != nil {
		t.Errorf("issued_at = %v, want unset", n.IssuedAt)
	}
}

func checkRoundTrip(t *testing.T, n *headsupv1.Notice) {
	t.Helper()
	for _, f := range []struct {
		name   string
		format func(*headsupv1.Notice) ([]byte, error)
	}{{"Format", Format}, {"FormatJSON", FormatJSON}} {
		out, err := f.format(n)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%s(n)): %v\n%s", f.name, err, out)
		}
		if !proto.Equal(back, n) {
			t.Fatalf("Parse(%s(n)) != n\n got %v\nwant %v\ndocument:\n%s", f.name, prototext.Format(back), prototext.Format(n), out)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, file := range []string{"suspended.yaml", "sighted.yaml", "reseller.yaml", "retraction.json"} {
		t.Run(file, func(t *testing.T) {
			n, err := Parse(readTestdata(t, file))
			if err != nil {
				t.Fatal(err)
			}
			checkRoundTrip(t, n)
		})
	}
	t.Run("awkward strings", func(t *testing.T) {
		checkRoundTrip(t, &headsupv1.Notice{
			Issuer:   "null",
			Id:       "123",
			Reason:   "true",
			Summary:  "line one\n  indented: yes\n\ttab # not a comment\n",
			Audience: []string{"~", "- x", "[a]"},
			Subject:  &headsupv1.Entity{Label: "*alias", Identifiers: []*headsupv1.Identifier{host("&anchor"), host("a: b")}},
		})
	})
}

func TestFormatGroupsIdentifiers(t *testing.T) {
	n := &headsupv1.Notice{
		Kind: headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Subject: &headsupv1.Entity{Identifiers: []*headsupv1.Identifier{
			asn(64500, headsupv1.AsnRole_ASN_ROLE_HOLDER),
			host("a.example"),
			addr("192.0.2.1/32", headsupv1.AddressRole_ADDRESS_ROLE_UNSPECIFIED),
		}},
	}
	out, err := Format(n)
	if err != nil {
		t.Fatal(err)
	}
	want := `kind: customer_suspended
subject:
  hosts:
    - a.example
  addresses:
    - 192.0.2.1/32
  asns:
    - AS64500
`
	if string(out) != want {
		t.Errorf("Format:\n%s\nwant\n%s", out, want)
	}
}

func TestFormatErrors(t *testing.T) {
	tests := []struct {
		name string
		n    *headsupv1.Notice
		want string
	}{
		{"nil", nil, "no notice"},
		{"identifier without value", &headsupv1.Notice{Subject: &headsupv1.Entity{Identifiers: []*headsupv1.Identifier{{}}}},
			"subject.identifiers[0]: no value"},
		{"unnamed kind", &headsupv1.Notice{Kind: 99}, "kind: 99 has no name in a notice document"},
		{"asn without role", &headsupv1.Notice{Subject: &headsupv1.Entity{Identifiers: []*headsupv1.Identifier{asn(1, 0)}}},
			"subject.identifiers[0].asn.role: unspecified has no name in a notice document"},
		{"invalid time", &headsupv1.Notice{IssuedAt: &timestamppb.Timestamp{Seconds: 1, Nanos: -1}},
			"issued_at: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Format(tt.n)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Format error = %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzParse checks that Parse never panics, that whatever it accepts can be
// marshalled (valid UTF-8), and that it round-trips through Format and
// FormatJSON.
func FuzzParse(f *testing.F) {
	for _, file := range []string{"suspended.yaml", "sighted.yaml", "reseller.yaml", "retraction.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Parse(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			return
		}
		if _, err := proto.Marshal(n); err != nil {
			t.Fatalf("proto.Marshal(Parse(data)): %v", err)
		}
		checkRoundTrip(t, n)
	})
}

func TestDocumentPath(t *testing.T) {
	n, err := Parse(readTestdata(t, "suspended.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(readTestdata(t, "reseller.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n          *headsupv1.Notice
		path, want string
	}{
		{n, "subject.identifiers[0].host", "subject.hosts[0]"},
		{n, "subject.identifiers[3].address.prefix", "subject.addresses[1]"},
		{n, "subject.identifiers[3].address.assigned_until", "subject.addresses[1].assigned_until"},
		{n, "subject.identifiers[6].asn.role", "subject.asns[1].role"},
		{n, "subject.identifiers[6].observation.observed_at", "subject.asns[1].observed_at"},
		{n, "subject.identifiers[10].registration.value", "subject.registrations[1].value"},
		{n, "subject.identifiers[99].host", "subject.identifiers[99].host"},
		{n, "legal_basis.kind", "legal_basis.kind"},
		{r, "relations[1].entity.identifiers[1].registration.country", "relations[1].entity.registrations[0].country"},
		{r, "relations[5].entity.identifiers[0]", "relations[5].entity.identifiers[0]"},
	}
	for _, tt := range tests {
		if got := DocumentPath(tt.n, tt.path); got != tt.want {
			t.Errorf("DocumentPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
