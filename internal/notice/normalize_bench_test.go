package notice_test

import (
	"net/netip"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/notice"
)

// benchNotice is a suspension with one identifier of each common type,
// as a publisher writes it (not yet in normal form).
func benchNotice() *headsupv1.Notice {
	return &headsupv1.Notice{
		Issuer: "edgeshield",
		Kind:   headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Subject: &headsupv1.Entity{Label: "chanboard", Identifiers: []*headsupv1.Identifier{
			{Value: &headsupv1.Identifier_Host{Host: "WWW.Chanboard.Example."}},
			{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: "::ffff:203.0.113.80", Role: headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN}}},
			{Value: &headsupv1.Identifier_Email{Email: "Admin@Chanboard.Example"}},
			{Value: &headsupv1.Identifier_Organisation{Organisation: "Chanboard Media Ltd."}},
			{Value: &headsupv1.Identifier_Asn{Asn: &headsupv1.Asn{Number: 64500, Role: headsupv1.AsnRole_ASN_ROLE_HOLDER}}},
		}},
		Reason:     "abusive-content:violence",
		Summary:    "Terminated for inciting violence.",
		Tlp:        headsupv1.Tlp_TLP_GREEN,
		LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE, Reference: "AUP 4.2"},
	}
}

// BenchmarkNormalize is the publisher's and the hub's normalisation of a
// whole notice (five identifiers).
func BenchmarkNormalize(b *testing.B) {
	tmpl := benchNotice()
	if err := notice.Fill(tmpl, time.Now()); err != nil {
		b.Fatal(err)
	}
	opts := notice.Options{TestNetwork: true}
	b.ReportAllocs()
	for b.Loop() {
		n := proto.Clone(tmpl).(*headsupv1.Notice)
		if err := notice.Normalize(n, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate is what every verifier runs on a notice already in
// normal form.
func BenchmarkValidate(b *testing.B) {
	n, opts := normalBenchNotice(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := notice.Validate(n, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshal is what every verifier runs on the notice bytes of an
// envelope: decode, look for unknown fields, validate.
func BenchmarkUnmarshal(b *testing.B) {
	n, opts := normalBenchNotice(b)
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(n)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := notice.Unmarshal(raw, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormalizeIdentifier is each normaliser alone, on the values a
// customer row or a notice carries.
func BenchmarkNormalizeIdentifier(b *testing.B) {
	opts := notice.Options{TestNetwork: true}
	for _, bc := range []struct {
		name string
		f    func() error
	}{
		{"host", func() error { _, err := notice.Host("WWW.Chanboard.Example."); return err }},
		{"host-idna", func() error { _, err := notice.Host("Bücher.Example"); return err }},
		{"prefix", func() error { _, err := notice.Prefix("::ffff:203.0.113.80", opts); return err }},
		{"email", func() error { _, err := notice.Email("Admin@Chanboard.Example"); return err }},
		{"organisation", func() error { _, _, err := notice.Organisation("Chanboard Media Ltd."); return err }},
		{"registrable-domain", func() error { _, err := notice.RegistrableDomain("www.chanboard.co.uk"); return err }},
		{"prefix-string", func() error { _ = notice.PrefixString(netip.MustParsePrefix("203.0.113.0/24")); return nil }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// normalBenchNotice is benchNotice filled in and in normal form, with the
// options it was normalised under.
func normalBenchNotice(b *testing.B) (*headsupv1.Notice, notice.Options) {
	b.Helper()
	n := benchNotice()
	if err := notice.Fill(n, time.Now()); err != nil {
		b.Fatal(err)
	}
	opts := notice.Options{TestNetwork: true}
	if err := notice.Normalize(n, opts); err != nil {
		b.Fatal(err)
	}
	return n, opts
}
