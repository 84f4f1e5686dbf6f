package match

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/notice"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// row builds a customer row; owner "c1" is named "Customer c1".
func row(owner string, t Type, value string) Row {
	return Row{Owner: owner, Name: "Customer " + owner, Type: t, Value: value, Source: "customers.csv", Line: 1}
}

func memberRow(owner, member string, t Type, value string) Row {
	r := row(owner, t, value)
	r.Member = member
	return r
}

func host(h string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Host{Host: h}}
}

func addr(p string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: p}}}
}

func observed(id *headsupv1.Identifier, at time.Time, m headsupv1.ObservationMethod) *headsupv1.Identifier {
	id.Observation = &headsupv1.Observation{ObservedAt: timestamppb.New(at), Method: m}
	return id
}

func asn(n uint32, role headsupv1.AsnRole) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Asn{Asn: &headsupv1.Asn{Number: n, Role: role}}}
}

const (
	holder = headsupv1.AsnRole_ASN_ROLE_HOLDER
	origin = headsupv1.AsnRole_ASN_ROLE_ORIGIN
	tls    = headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS
	dns    = headsupv1.ObservationMethod_OBSERVATION_METHOD_DNS
)

func email(e string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Email{Email: e}}
}

func org(t *testing.T, name string) *headsupv1.Identifier {
	t.Helper()
	n, _, err := notice.Organisation(name)
	if err != nil {
		t.Fatal(err)
	}
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Organisation{Organisation: n}}
}

func reg(s headsupv1.RegistrationScheme, v, c string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Registration{Registration: &headsupv1.Registration{Scheme: s, Value: v, Country: c}}}
}

func hashed(s string) *headsupv1.Identifier {
	return &headsupv1.Identifier{Value: &headsupv1.Identifier_Hashed{Hashed: s}}
}

// hashOf computes a notice's hashed identifier as an issuer would.
func hashOf(kid string, key []byte, typ, normal string) string {
	m := hmac.New(sha256.New, key)
	m.Write(notice.HashInput(typ, normal))
	return "hmac-sha256:" + kid + ":" + typ + ":" + hex.EncodeToString(m.Sum(nil))
}

func entity(ids ...*headsupv1.Identifier) *headsupv1.Entity {
	return &headsupv1.Entity{Identifiers: ids}
}

// got is what a test compares of a Match.
type got struct {
	Owner     string
	Rule      Rule
	Strength  Strength
	Customers int
}

func summarise(ms []Match) []got {
	var out []got
	for _, m := range ms {
		out = append(out, got{m.Owner, m.Rule, m.Strength, m.Customers})
	}
	return out
}

func build(t testing.TB, rows []Row, cfg Config) *Index {
	t.Helper()
	ix, errs := Build(rows, cfg)
	for _, e := range errs {
		t.Fatalf("row error: %v", e)
	}
	return ix
}

var (
	hashKey1 = []byte("0123456789abcdef0123456789abcdef")
	testCfg  = Config{
		TestNetwork:   true,
		OwnMember:     "voxhost",
		OwnASNs:       []uint32{64496},
		OwnPrefixes:   []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		OwnDomains:    []string{"voxhost.net"},
		MemberDomains: []string{"edgeshield.example", "mitigatr.example"},
		MemberASNs:    []uint32{64497},
		SharedDomains: []string{"freehost.example"},
		TransitASNs:   []uint32{64499},
		HashKeys:      map[string][]byte{"k1": hashKey1},
	}
)

func TestMatchEntity(t *testing.T) {
	lei := "5493001KJTIIGC8Y1R12"
	phone := "+442079460958"
	tests := []struct {
		name  string
		rows  []Row
		cfg   func(*Config)
		e     *headsupv1.Entity
		q     Query
		want  []got
		check func(t *testing.T, ms []Match)
	}{
		// host
		{name: "same host", rows: []Row{row("c1", TypeHost, "cdn.chanboard.example")},
			e: entity(host("cdn.chanboard.example")), want: []got{{"c1", RuleSameHost, Strong, 0}}},
		{name: "same host, input spelled differently", rows: []Row{row("c1", "domain", "CDN.Chanboard.Example.")},
			e: entity(host("cdn.chanboard.example")), want: []got{{"c1", RuleSameHost, Strong, 0}}},
		{name: "notice names D, customer under D", rows: []Row{row("c1", TypeHost, "www.chanboard.example")},
			e: entity(host("chanboard.example")), want: []got{{"c1", RuleUnderNoticeDomain, Strong, 0}}},
		{name: "customer is D, notice host under D", rows: []Row{row("c1", TypeHost, "chanboard.example")},
			e: entity(host("cdn.chanboard.example")), want: []got{{"c1", RuleUnderCustomerDomain, Weak, 0}}},
		{name: "customer is a parent below D", rows: []Row{row("c1", TypeHost, "shop.chanboard.example")},
			e: entity(host("img.shop.chanboard.example")), want: []got{{"c1", RuleUnderCustomerDomain, Weak, 0}}},
		{name: "siblings under D", rows: []Row{row("c1", TypeHost, "www.chanboard.example")},
			e: entity(host("cdn.chanboard.example")), want: []got{{"c1", RuleSibling, Weak, 0}}},
		{name: "registrable domain under a PSL suffix", rows: []Row{row("c1", TypeHost, "www.evil.co.uk")},
			e: entity(host("evil.co.uk")), want: []got{{"c1", RuleUnderNoticeDomain, Strong, 0}}},
		{name: "near miss: not a label boundary", rows: []Row{row("c1", TypeHost, "evilchanboard.example")},
			e: entity(host("chanboard.example"))},
		{name: "near miss: siblings on a shared platform", rows: []Row{row("c1", TypeHost, "b.wordpress.com")},
			e: entity(host("a.wordpress.com"))},
		{name: "shared platform: customer is the platform", rows: []Row{row("c1", TypeHost, "wordpress.com")},
			e: entity(host("a.wordpress.com"))},
		{name: "shared platform: exact host matches", rows: []Row{row("c1", TypeHost, "a.wordpress.com")},
			e: entity(host("a.wordpress.com")), want: []got{{"c1", RuleSameHost, Strong, 0}}},
		{name: "near miss: two hosts under this provider's own domain", rows: []Row{row("c1", TypeHost, "cust1.voxhost.net")},
			e: entity(host("cust2.voxhost.net"))},
		{name: "near miss: under own domain, notice names the domain", rows: []Row{row("c1", TypeHost, "cust1.voxhost.net")},
			e: entity(host("voxhost.net"))},
		{name: "near miss: a member's domain", rows: []Row{row("c1", TypeHost, "mitigatr.example")},
			e: entity(host("edge.mitigatr.example"))},
		{name: "near miss: configured shared domain", rows: []Row{row("c1", TypeHost, "x.freehost.example")},
			e: entity(host("y.freehost.example"))},
		{name: "one match per owner, other rows as context",
			rows: []Row{row("c1", TypeHost, "www.chanboard.example"), row("c1", TypeHost, "mail.chanboard.example")},
			e:    entity(host("chanboard.example")), want: []got{{"c1", RuleUnderNoticeDomain, Strong, 0}},
			check: func(t *testing.T, ms []Match) {
				if ms[0].Row.Value != "mail.chanboard.example" || len(ms[0].Context) != 1 || !strings.Contains(ms[0].Context[0], "www.chanboard.example") {
					t.Errorf("match %+v: want row mail.chanboard.example with www in context", ms[0])
				}
			}},
		{name: "exact beats the domain rules for one owner, other owners still match",
			rows: []Row{row("c1", TypeHost, "chanboard.example"), row("c1", TypeHost, "cdn.chanboard.example"), row("c2", TypeHost, "www.chanboard.example")},
			e:    entity(host("cdn.chanboard.example")),
			want: []got{{"c1", RuleSameHost, Strong, 0}, {"c2", RuleSibling, Weak, 0}}},
		{name: "broad domain: more than 16 customers under D", rows: manyHostRows(17, "platform.example"),
			e:    entity(host("platform.example")),
			want: []got{{"", RuleBroadDomain, Weak, 17}}},

		// address
		{name: "customer prefix covers, longest only, shorter as context",
			rows: []Row{row("c1", TypePrefix, "203.0.113.0/24"), row("c2", TypePrefix, "203.0.112.0/22")},
			e:    entity(addr("203.0.113.10/32")), want: []got{{"c1", RulePrefixCovers, Strong, 0}},
			check: func(t *testing.T, ms []Match) {
				if len(ms[0].Context) != 1 || !strings.Contains(ms[0].Context[0], "203.0.112.0/22") || !strings.Contains(ms[0].Context[0], "c2") {
					t.Errorf("context %q: want the /22 of c2", ms[0].Context)
				}
			}},
		{name: "customer address equals the notice's", rows: []Row{row("c1", "ip", "203.0.113.10")},
			e: entity(addr("203.0.113.10/32")), want: []got{{"c1", RulePrefixCovers, Strong, 0}}},
		{name: "near miss: adjacent prefix", rows: []Row{row("c1", TypePrefix, "203.0.113.0/25")},
			e: entity(addr("203.0.113.128/25"))},
		{name: "two customers with the same prefix", rows: []Row{row("c1", TypePrefix, "198.51.100.0/24"), row("c2", TypePrefix, "198.51.100.0/24")},
			e: entity(addr("198.51.100.77/32")), want: []got{{"c1", RulePrefixCovers, Strong, 0}, {"c2", RulePrefixCovers, Strong, 0}}},
		{name: "shared prefix: more than 16 customers on one address", rows: manyPrefixRows(17, "198.51.100.7/32"),
			e: entity(addr("198.51.100.7/32")), want: []got{{"", RuleSharedPrefix, Weak, 17}}},
		{name: "notice /24 contains two customers", rows: []Row{row("c1", TypePrefix, "198.51.100.7"), row("c2", TypePrefix, "198.51.100.128/26")},
			e: entity(addr("198.51.100.0/24")), want: []got{{"c1", RulePrefixWithin, Strong, 0}, {"c2", RulePrefixWithin, Strong, 0}}},
		{name: "notice /24 contains 17 customers: broad", rows: manyAddrRows(17, "198.51.100.%d"),
			e: entity(addr("198.51.100.0/24")), want: []got{{"", RuleBroadPrefix, Weak, 17}}},
		{name: "near miss: customer just outside the notice prefix", rows: []Row{row("c1", TypePrefix, "45.12.2.0")},
			e: entity(addr("45.12.0.0/23"))},
		{name: "notice /22 contains one customer: broad, weak", rows: []Row{row("c1", TypePrefix, "45.12.1.7")},
			e: entity(addr("45.12.0.0/22")), want: []got{{"", RuleBroadPrefix, Weak, 1}},
			check: func(t *testing.T, ms []Match) {
				if !strings.Contains(strings.Join(ms[0].Context, " "), "customer c1") {
					t.Errorf("context %q: want the customer named", ms[0].Context)
				}
			}},
		{name: "IPv6 /48 contains two customers", rows: []Row{row("c1", TypePrefix, "2001:db8:1:1::/64"), row("c2", TypePrefix, "2001:db8:1:2::/64")},
			e: entity(addr("2001:db8:1::/48")), want: []got{{"c1", RulePrefixWithin, Strong, 0}, {"c2", RulePrefixWithin, Strong, 0}}},
		{name: "IPv6 /40 is broad", rows: []Row{row("c1", TypePrefix, "2001:db8:1:1::/64")},
			e: entity(addr("2001:db8::/40")), want: []got{{"", RuleBroadPrefix, Weak, 1}}},
		{name: "IPv6 covering", rows: []Row{row("c1", TypePrefix, "2001:db8:1::/48")},
			e: entity(addr("2001:db8:1:2::7/128")), want: []got{{"c1", RulePrefixCovers, Strong, 0}}},
		{name: "near miss: IPv4 never meets IPv6", rows: []Row{row("c1", TypePrefix, "2001:db8::/32")},
			e: entity(addr("203.0.113.1/32"))},
		{name: "old observation is weak", rows: []Row{row("c1", TypePrefix, "203.0.113.0/24")},
			e: entity(observed(addr("203.0.113.10/32"), now.Add(-8*24*time.Hour), tls)), want: []got{{"c1", RulePrefixCovers, Weak, 0}},
			check: func(t *testing.T, ms []Match) {
				if !strings.Contains(ms[0].Weakened, "8 days") || !ms[0].ObservedAt.Equal(now.Add(-8*24*time.Hour)) {
					t.Errorf("weakened %q, observed %v", ms[0].Weakened, ms[0].ObservedAt)
				}
			}},
		{name: "recent tls observation is strong", rows: []Row{row("c1", TypePrefix, "203.0.113.0/24")},
			e: entity(observed(addr("203.0.113.10/32"), now.Add(-6*24*time.Hour), tls)), want: []got{{"c1", RulePrefixCovers, Strong, 0}}},
		{name: "dns-only observation is weak", rows: []Row{row("c1", TypePrefix, "203.0.113.0/24")},
			e: entity(observed(addr("203.0.113.10/32"), now.Add(-time.Hour), dns)), want: []got{{"c1", RulePrefixCovers, Weak, 0}}},
		{name: "address assigned to the subject until a past time is weak", rows: []Row{row("c1", TypePrefix, "203.0.113.0/24")},
			e: entity(&headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: "203.0.113.10/32",
				Role: headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED, AssignedUntil: timestamppb.New(now.Add(-time.Hour))}}}),
			want: []got{{"c1", RulePrefixCovers, Weak, 0}}},
		{name: "address still assigned to the subject is strong", rows: []Row{row("c1", TypePrefix, "203.0.113.0/24")},
			e: entity(&headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: "203.0.113.10/32",
				Role: headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED, AssignedUntil: timestamppb.New(now.Add(time.Hour))}}}),
			want: []got{{"c1", RulePrefixCovers, Strong, 0}}},
		{name: "configured observation age", rows: []Row{row("c1", TypePrefix, "203.0.113.0/24")},
			cfg: func(c *Config) { c.ObservationMaxAge = time.Hour },
			e:   entity(observed(addr("203.0.113.10/32"), now.Add(-2*time.Hour), tls)), want: []got{{"c1", RulePrefixCovers, Weak, 0}}},
		{name: "customer got the address after the observation: weak",
			rows: []Row{func() Row { r := row("c1", TypePrefix, "203.0.113.0/24"); r.ValidFrom = now.Add(-time.Hour); return r }()},
			e:    entity(observed(addr("203.0.113.10/32"), now.Add(-2*time.Hour), tls)), want: []got{{"c1", RulePrefixCovers, Weak, 0}}},

		// ASN
		{name: "holder ASN", rows: []Row{row("c1", TypeASN, "AS64500")},
			e: entity(asn(64500, holder)), want: []got{{"c1", RuleASNHolder, Strong, 0}}},
		{name: "holder ASN of a member still matches", rows: []Row{row("c1", TypeASN, "64497")},
			e: entity(asn(64497, holder)), want: []got{{"c1", RuleASNHolder, Strong, 0}}},
		{name: "origin ASN alone is weak", rows: []Row{row("c1", TypeASN, "AS64500")},
			e: entity(asn(64500, origin)), want: []got{{"c1", RuleASNOrigin, Weak, 0}}},
		{name: "origin ASN corroborated by an address of the entity is strong",
			rows: []Row{row("c1", TypeASN, "AS64500"), row("c1", TypePrefix, "203.0.113.0/24")},
			e:    entity(addr("203.0.113.10/32"), asn(64500, origin)),
			want: []got{{"c1", RulePrefixCovers, Strong, 0}, {"c1", RuleASNOrigin, Strong, 0}}},
		{name: "origin ASN with an address of another customer stays weak",
			rows: []Row{row("c1", TypeASN, "AS64500"), row("c2", TypePrefix, "203.0.113.0/24")},
			e:    entity(addr("203.0.113.10/32"), asn(64500, origin)),
			want: []got{{"c2", RulePrefixCovers, Strong, 0}, {"c1", RuleASNOrigin, Weak, 0}}},
		{name: "origin ASN with a weakly matched address stays weak",
			rows: []Row{row("c1", TypeASN, "AS64500"), row("c1", TypePrefix, "203.0.113.0/24")},
			e:    entity(observed(addr("203.0.113.10/32"), now.Add(-time.Hour), dns), asn(64500, origin)),
			want: []got{{"c1", RulePrefixCovers, Weak, 0}, {"c1", RuleASNOrigin, Weak, 0}}},
		{name: "near miss: origin ASN of a transit provider", rows: []Row{row("c1", TypeASN, "AS64499")},
			e: entity(asn(64499, origin))},
		{name: "near miss: origin ASN of a member", rows: []Row{row("c1", TypeASN, "AS64497")},
			e: entity(asn(64497, origin))},
		{name: "near miss: origin ASN of this provider", rows: []Row{row("c1", TypeASN, "AS64496")},
			e: entity(asn(64496, origin))},
		{name: "near miss: another ASN", rows: []Row{row("c1", TypeASN, "AS64500")},
			e: entity(asn(64501, holder))},

		// email
		{name: "same address", rows: []Row{row("c1", TypeEmail, "Admin@Chanboard.Example")},
			e: entity(email("admin@chanboard.example")), want: []got{{"c1", RuleEmailAddress, Strong, 0}}},
		{name: "same domain is weak", rows: []Row{row("c1", TypeEmail, "billing@chanboard.example")},
			e: entity(email("admin@chanboard.example")), want: []got{{"c1", RuleEmailDomain, Weak, 0}}},
		{name: "near miss: x@gmail.com vs y@gmail.com", rows: []Row{row("c1", TypeEmail, "y@gmail.com")},
			e: entity(email("x@gmail.com"))},
		{name: "near miss: configured mailbox provider", rows: []Row{row("c1", TypeEmail, "y@mailbox.example")},
			cfg: func(c *Config) { c.MailboxProviders = []string{"mailbox.example"} },
			e:   entity(email("x@mailbox.example"))},
		{name: "near miss: own domain", rows: []Row{row("c1", TypeEmail, "y@voxhost.net")},
			e: entity(email("x@voxhost.net"))},
		{name: "same address at a mailbox provider is strong", rows: []Row{row("c1", TypeEmail, "x@gmail.com")},
			e: entity(email("x@gmail.com")), want: []got{{"c1", RuleEmailAddress, Strong, 0}}},

		// organisation
		{name: "Apple Inc. vs Apple Ltd: weak", rows: []Row{row("c1", TypeOrganisation, "Apple Inc.")},
			e: entity(org(t, "Apple Ltd")), want: []got{{"c1", RuleOrganisation, Weak, 0}}},
		{name: "organisation key ignores spaces", rows: []Row{row("c1", "org", "Epiq-Hosting GmbH")},
			e: entity(org(t, "Epiq Hosting")), want: []got{{"c1", RuleOrganisation, Weak, 0}}},
		{name: "near miss: another organisation", rows: []Row{row("c1", TypeOrganisation, "Apple Inc.")},
			e: entity(org(t, "Applied Ltd"))},

		// registration
		{name: "LEI", rows: []Row{row("c1", TypeRegistration, "LEI: 5493 001K JTII GC8Y 1R12")},
			e: entity(reg(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_LEI, lei, "")), want: []got{{"c1", RuleRegistration, Strong, 0}}},
		{name: "company number with country", rows: []Row{row("c1", TypeRegistration, "company:uk:01234567")},
			e: entity(reg(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER, "01234567", "GB")), want: []got{{"c1", RuleRegistration, Strong, 0}}},
		{name: "near miss: company number of another country", rows: []Row{row("c1", TypeRegistration, "company:DE:01234567")},
			e: entity(reg(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER, "01234567", "GB"))},
		{name: "RIR handle", rows: []Row{row("c1", TypeRegistration, "rir:org-eh1-ripe")},
			e: entity(reg(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_RIR_ORG, "ORG-EH1-RIPE", "")), want: []got{{"c1", RuleRegistration, Strong, 0}}},

		// hashed
		{name: "hashed email under a configured key", rows: []Row{row("c1", TypeEmail, "owner@chanboard.example")},
			e: entity(hashed(hashOf("k1", hashKey1, "email", "owner@chanboard.example"))), want: []got{{"c1", RuleHashed, Strong, 0}}},
		{name: "near miss: hashed email under an unknown key", rows: []Row{row("c1", TypeEmail, "owner@chanboard.example")},
			e: entity(hashed(hashOf("k2", hashKey1, "email", "owner@chanboard.example")))},
		{name: "near miss: hashed email under a retired key", rows: []Row{row("c1", TypeEmail, "owner@chanboard.example")},
			cfg: func(c *Config) { c.HashKeys = nil },
			e:   entity(hashed(hashOf("k1", hashKey1, "email", "owner@chanboard.example")))},
		{name: "hashed phone is weak", rows: []Row{row("c1", TypePhone, "+44 20 7946 0958")},
			e: entity(hashed(hashOf("k1", hashKey1, "phone", phone))), want: []got{{"c1", RuleHashed, Weak, 0}}},
		{name: "hashed host", rows: []Row{row("c1", TypeHost, "chanboard.example")},
			e: entity(hashed(hashOf("k1", hashKey1, "host", "chanboard.example"))), want: []got{{"c1", RuleHashed, Strong, 0}}},
		{name: "hashed address", rows: []Row{row("c1", TypePrefix, "203.0.113.10")},
			e: entity(hashed(hashOf("k1", hashKey1, "address", "203.0.113.10/32"))), want: []got{{"c1", RuleHashed, Strong, 0}}},
		{name: "a hashed row meets the same hash", rows: []Row{row("c1", TypeHashed, strings.ToUpper(hashOf("k1", hashKey1, "email", "owner@chanboard.example")))},
			e: entity(hashed(hashOf("k1", hashKey1, "email", "owner@chanboard.example"))), want: []got{{"c1", RuleHashed, Strong, 0}}},
		{name: "a hashed row meets a plain value", rows: []Row{row("c1", TypeHashed, hashOf("k1", hashKey1, "email", "owner@chanboard.example"))},
			e: entity(email("owner@chanboard.example")), want: []got{{"c1", RuleHashed, Strong, 0}}},
		{name: "hashed organisation is weak, as in the clear", rows: []Row{row("c1", TypeOrganisation, "Epiq Hosting Ltd")},
			e: entity(hashed(hashOf("k1", hashKey1, "organisation", "epiq hosting"))), want: []got{{"c1", RuleHashed, Weak, 0}}},
		{name: "near miss: another hashed value", rows: []Row{row("c1", TypeEmail, "owner@chanboard.example")},
			e: entity(hashed(hashOf("k1", hashKey1, "email", "other@chanboard.example")))},

		// member
		{name: "member id of a member row", rows: []Row{row("c1", TypeMember, "Epiq")},
			e: &headsupv1.Entity{Member: "epiq"}, want: []got{{"c1", RuleMember, Strong, 0}}},
		{name: "member id of an owner", rows: []Row{memberRow("c1", "epiq", TypeHost, "epiq.example"), memberRow("c1", "epiq", TypeASN, "AS64500")},
			e: &headsupv1.Entity{Member: "epiq"}, want: []got{{"c1", RuleMember, Strong, 0}}},
		{name: "near miss: another member", rows: []Row{row("c1", TypeMember, "epiq")},
			e: &headsupv1.Entity{Member: "mitigatr"}},

		// issuer
		{name: "the issuer as the matched customer is dropped",
			rows: []Row{memberRow("c1", "edgeshield", TypePrefix, "203.0.113.0/24"), row("c2", TypePrefix, "203.0.113.0/24")},
			e:    entity(addr("203.0.113.10/32")), q: Query{Issuer: "edgeshield"},
			want: []got{{"c2", RulePrefixCovers, Strong, 0}}},
		{name: "the issuer's member row is dropped", rows: []Row{memberRow("c1", "edgeshield", TypeMember, "edgeshield")},
			e: &headsupv1.Entity{Member: "edgeshield"}, q: Query{Issuer: "edgeshield"}},

		// cap
		{name: "matches over the cap are summarised",
			rows: []Row{row("c1", TypeEmail, "a@corp.example"), row("c2", TypeEmail, "b@corp.example"), row("c3", TypeEmail, "c@corp.example")},
			cfg:  func(c *Config) { c.MaxMatchesPerIdentifier = 2 },
			e:    entity(email("x@corp.example")),
			want: []got{{"c1", RuleEmailDomain, Weak, 0}, {"c2", RuleEmailDomain, Weak, 0}, {"", RuleTooMany, Weak, 1}}},
		{name: "strong matches come before weak ones under the cap",
			rows: []Row{row("a", TypeEmail, "a@corp.example"), row("b", TypeEmail, "b@corp.example"), row("z", TypeEmail, "x@corp.example")},
			cfg:  func(c *Config) { c.MaxMatchesPerIdentifier = 1 },
			e:    entity(email("x@corp.example")),
			want: []got{{"z", RuleEmailAddress, Strong, 0}, {"", RuleTooMany, Weak, 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testCfg
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			ix := build(t, tc.rows, cfg)
			q := tc.q
			q.Now = now
			ms := ix.MatchEntity(tc.e, q)
			if g := summarise(ms); !reflect.DeepEqual(g, tc.want) {
				t.Fatalf("matches:\n got %+v\nwant %+v\n%s", g, tc.want, dump(ms))
			}
			for _, m := range ms {
				if m.Identifier == "" || m.Owner != "" && (m.Row.Source != "customers.csv" || m.Row.Owner != m.Owner) {
					t.Errorf("match without its identifier or source row: %+v", m)
				}
				if m.Rule == RuleOrganisation && m.Strength != Weak {
					t.Errorf("organisation match is %v: it must always be weak", m.Strength)
				}
			}
			if tc.check != nil {
				tc.check(t, ms)
			}
		})
	}
}

func dump(ms []Match) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "  %s %s %s %s row=%s:%s ctx=%q weak=%q\n", m.Owner, m.Identifier, m.Rule, m.Strength, m.Row.Type, m.Row.Value, m.Context, m.Weakened)
	}
	return b.String()
}

func manyHostRows(n int, d string) []Row {
	var rows []Row
	for i := range n {
		rows = append(rows, row(fmt.Sprintf("c%02d", i), TypeHost, fmt.Sprintf("h%d.%s", i, d)))
	}
	return rows
}

func manyPrefixRows(n int, p string) []Row {
	var rows []Row
	for i := range n {
		rows = append(rows, row(fmt.Sprintf("c%02d", i), TypePrefix, p))
	}
	return rows
}

func manyAddrRows(n int, format string) []Row {
	var rows []Row
	for i := range n {
		rows = append(rows, row(fmt.Sprintf("c%02d", i), TypePrefix, fmt.Sprintf(format, i+1)))
	}
	return rows
}

// TestBroadPrefix40000 is DESIGN.md's example: a /16 in a notice over a
// provider with 40,000 customer addresses gives exactly one weak match that
// names the count.
func TestBroadPrefix40000(t *testing.T) {
	rows := make([]Row, 0, 40000)
	for i := range 40000 {
		rows = append(rows, row(fmt.Sprintf("c%05d", i), TypePrefix, fmt.Sprintf("45.12.%d.%d", i/250, i%250+1)))
	}
	ix := build(t, rows, testCfg)
	ms := ix.MatchIdentifier(addr("45.12.0.0/16"), Query{Now: now})
	want := []got{{"", RuleBroadPrefix, Weak, 40000}}
	if g := summarise(ms); !reflect.DeepEqual(g, want) {
		t.Fatalf("got %+v, want %+v", g, want)
	}
	if !strings.Contains(ms[0].Context[0], "40000 customers") {
		t.Errorf("context %q: want the count", ms[0].Context)
	}
	// Inside it, a /24 of 250 customers is broad too; one address is one
	// customer.
	if g := summarise(ix.MatchIdentifier(addr("45.12.3.0/24"), Query{Now: now})); !reflect.DeepEqual(g, []got{{"", RuleBroadPrefix, Weak, 250}}) {
		t.Errorf("/24: got %+v", g)
	}
	if g := summarise(ix.MatchIdentifier(addr("45.12.3.7/32"), Query{Now: now})); !reflect.DeepEqual(g, []got{{"c00756", RulePrefixCovers, Strong, 0}}) {
		t.Errorf("/32: got %+v", g)
	}
}

func TestMatchIdentifierOriginIsWeak(t *testing.T) {
	ix := build(t, []Row{row("c1", TypeASN, "AS64500"), row("c1", TypePrefix, "203.0.113.0/24")}, testCfg)
	if g := summarise(ix.MatchIdentifier(asn(64500, origin), Query{Now: now})); !reflect.DeepEqual(g, []got{{"c1", RuleASNOrigin, Weak, 0}}) {
		t.Errorf("got %+v", g)
	}
}

// TestOrderIndependent: the same rows in any order give the same index
// answers.
func TestOrderIndependent(t *testing.T) {
	rows := []Row{
		row("c1", TypeHost, "www.chanboard.example"), row("c2", TypeHost, "chanboard.example"),
		row("c3", TypeHost, "img.chanboard.example"), row("c1", TypePrefix, "203.0.113.0/24"),
		row("c2", TypePrefix, "203.0.113.0/24"), row("c3", TypePrefix, "203.0.112.0/22"),
		row("c1", TypeASN, "AS64500"), row("c2", TypeEmail, "a@chanboard.example"),
	}
	e := entity(host("cdn.chanboard.example"), addr("203.0.113.9/32"), asn(64500, origin), email("b@chanboard.example"))
	want := build(t, rows, testCfg).MatchEntity(e, Query{Now: now})
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		if g := build(t, rows, testCfg).MatchEntity(e, Query{Now: now}); !reflect.DeepEqual(g, want) {
			t.Fatalf("order changed the answer:\n%s\nvs\n%s", dump(g), dump(want))
		}
	}
}

func TestBuildReportsBadRows(t *testing.T) {
	rows := []Row{
		row("c1", TypeHost, "chanboard.example"),
		{Owner: "c2", Type: "fax", Value: "123", Source: "a.csv", Line: 7},
		{Owner: "c3", Type: TypeHost, Value: "localhost", Source: "a.csv", Line: 8},
		{Owner: "", Type: TypeHost, Value: "x.example", Source: "a.csv", Line: 9},
		{Owner: "c4", Type: TypePrefix, Value: "10.0.0.1", Source: "a.csv", Line: 10},
		{Owner: "c5", Type: TypeHashed, Value: hashOf("k9", hashKey1, "email", "a@b.example"), Source: "a.csv", Line: 11},
	}
	ix, errs := Build(rows, testCfg)
	if ix.Len() != 1 {
		t.Errorf("Len = %d, want 1", ix.Len())
	}
	want := []string{"a.csv:7: type", "a.csv:8: value", "a.csv:9: owner", "a.csv:10: value", "a.csv:11: value"}
	if len(errs) != len(want) {
		t.Fatalf("errors %v, want %d", errs, len(want))
	}
	for i, e := range errs {
		if !strings.HasPrefix(e.Error(), want[i]) {
			t.Errorf("error %q, want prefix %q", e, want[i])
		}
	}
	if !errors.Is(errs[0], ErrUnknownType) || !errors.Is(errs[1], ErrInvalidValue) || !errors.Is(errs[4], ErrUnknownKey) {
		t.Errorf("errors do not wrap their sentinels: %v", errs)
	}
}

func TestIsOwn(t *testing.T) {
	tests := []struct {
		name string
		e    *headsupv1.Entity
		want []got
	}{
		{"own member", &headsupv1.Entity{Member: "voxhost"}, []got{{"", RuleOwnSpace, Strong, 0}}},
		{"own domain", entity(host("voxhost.net")), []got{{"", RuleOwnSpace, Strong, 0}}},
		{"under own domain", entity(host("cust7.voxhost.net")), []got{{"", RuleOwnSpace, Strong, 0}}},
		{"own prefix", entity(addr("192.0.2.77/32")), []got{{"", RuleOwnSpace, Strong, 0}}},
		{"own prefix, dns only", entity(observed(addr("192.0.2.77/32"), now, dns)), []got{{"", RuleOwnSpace, Weak, 0}}},
		{"prefix containing an own prefix", entity(addr("192.0.0.0/22")), []got{{"", RuleOwnSpace, Weak, 0}}},
		{"own ASN as holder", entity(asn(64496, holder)), []got{{"", RuleOwnSpace, Strong, 0}}},
		{"own ASN as origin alone", entity(asn(64496, origin)), []got{{"", RuleOwnSpace, Weak, 0}}},
		{"own ASN as origin with an own address", entity(asn(64496, origin), addr("192.0.2.1/32")),
			[]got{{"", RuleOwnSpace, Strong, 0}, {"", RuleOwnSpace, Strong, 0}}},
		{"near miss: another member", &headsupv1.Entity{Member: "edgeshield"}, nil},
		{"near miss: a look-alike domain", entity(host("voxhost.net.example"), host("myvoxhost.net")), nil},
		{"near miss: adjacent prefix", entity(addr("192.0.3.0/24")), nil},
		{"near miss: another ASN", entity(asn(64500, holder)), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if g := summarise(testCfg.IsOwn(tc.e)); !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got %+v, want %+v", g, tc.want)
			}
		})
	}
}

func TestStrengthString(t *testing.T) {
	if Weak.String() != "weak" || Strong.String() != "strong" || Strong <= Weak {
		t.Errorf("strengths: %v %v", Weak, Strong)
	}
}

// TestConcurrentReaders runs matches from several goroutines (meaningful
// under -race).
func TestConcurrentReaders(t *testing.T) {
	ix := build(t, []Row{row("c1", TypeHost, "www.chanboard.example"), row("c1", TypePrefix, "203.0.113.0/24")}, testCfg)
	e := entity(host("chanboard.example"), addr("203.0.113.1/32"))
	done := make(chan []Match)
	for range 4 {
		go func() { done <- ix.MatchEntity(e, Query{Now: now}) }()
	}
	first := <-done
	for range 3 {
		if g := <-done; !reflect.DeepEqual(g, first) {
			t.Errorf("concurrent answers differ")
		}
	}
}
