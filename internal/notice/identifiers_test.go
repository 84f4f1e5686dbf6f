package notice

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

var testNet = Options{TestNetwork: true}

// checkRefused asserts err is a refusal that wraps ErrInvalid.
func checkRefused(t *testing.T, in string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%q: accepted, want refused", in)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("%q: error %v does not wrap ErrInvalid", in, err)
	}
}

func TestHost(t *testing.T) {
	tests := []struct {
		in, want string // want "" means refused
	}{
		{"A.EVIL.CO.UK", "a.evil.co.uk"},
		{"evil.公司.cn", "evil.xn--55qx5d.cn"},
		{"example.com.", "example.com"},
		{"  example.com \n", "example.com"},
		{"ｅｘａｍｐｌｅ.com", "example.com"},
		{"ａｂｃ．ｃｏｍ", "abc.com"},
		{"example。com", "example.com"},
		{"BÜCHER.de", "xn--bcher-kva.de"},
		{"XN--BCHER-KVA.DE", "xn--bcher-kva.de"},
		{"faß.de", "xn--fa-hia.de"}, // non-transitional: ß stays ß
		{"chanboard.example", "chanboard.example"},
		{"co.uk", "co.uk"},         // valid host; refused only as a subject
		{"github.io", "github.io"}, // likewise
		{"a-b.example.com", "a-b.example.com"},
		{strings.Repeat("a", 63) + ".com", strings.Repeat("a", 63) + ".com"},
		// Refused.
		{"_dmarc.x.com", ""}, // underscore labels: see the package comment
		{"_sip._tcp.example.com", ""},
		{"", ""},
		{"   ", ""},
		{".", ""},
		{"com", ""},            // single label
		{"localhost", ""},      // single label
		{"example.com..", ""},  // empty label after the one dropped dot
		{".example.com", ""},   // empty label
		{"a..example.com", ""}, // empty label
		{"exa mple.com", ""},
		{"-a.example.com", ""},
		{"a-.example.com", ""},
		{"ab--c.example.com", ""},
		{"xn--zz.example.com", ""}, // bad punycode
		{"a/b.example.com", ""},
		{"x\u200d.com", ""}, // joiner outside its context
		{"1.2.3.4", ""},
		{"1.2.3.4.", ""},
		{"[::1]", ""},
		{"::1", ""},
		{"example.123", ""}, // numeric last label reads as IPv4
		{"foo.0x7f", ""},
		{"\xff.example.com", ""},
		{strings.Repeat("a", 64) + ".com", ""},
		{strings.Repeat("abcdefghi.", 26) + "com", ""}, // 263 octets
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Host(tt.in)
			if tt.want == "" {
				checkRefused(t, tt.in, err)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Host(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if again, err := Host(got); err != nil || again != got {
				t.Fatalf("Host(%q) = %q, %v; normal form is not a fixed point", got, again, err)
			}
		})
	}
}

func TestHostErrorNamesValue(t *testing.T) {
	_, err := Host("exa mple.com")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Value != "exa mple.com" || !strings.HasPrefix(fe.Reason, "is not a valid host name") {
		t.Fatalf("Host error = %#v", err)
	}
}

func TestIsPublicSuffix(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"com", true},
		{"co.uk", true},
		{"github.io", true}, // private section of the PSL
		{"xn--55qx5d.cn", true},
		{"example.com", false},
		{"a.github.io", false},
		{"evil.co.uk", false},
		{"chanboard.example", false}, // unknown TLD: the name itself is not the suffix
		{"foo.unknowntld", false},
	}
	for _, tt := range tests {
		if got := IsPublicSuffix(tt.host); got != tt.want {
			t.Errorf("IsPublicSuffix(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestRegistrableDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a.evil.co.uk", "evil.co.uk"},
		{"evil.co.uk", "evil.co.uk"},
		{"x.y.github.io", "y.github.io"},
		{"www.chanboard.example", "chanboard.example"},
		{"co.uk", ""},
		{"github.io", ""},
	}
	for _, tt := range tests {
		got, err := RegistrableDomain(tt.in)
		if tt.want == "" {
			checkRefused(t, tt.in, err)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("RegistrableDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestPrefix(t *testing.T) {
	tests := []struct {
		in   string
		opts Options
		want string // "" means refused
	}{
		{"::ffff:203.0.113.10", testNet, "203.0.113.10/32"},
		{"::ffff:203.0.113.0/120", testNet, "203.0.113.0/24"},
		{"192.0.2.5/24", testNet, "192.0.2.0/24"},
		{"203.0.113.10", testNet, "203.0.113.10/32"},
		{" 203.0.113.10/32 ", testNet, "203.0.113.10/32"},
		{"2001:DB8::1", testNet, "2001:db8::1/128"},
		{"2001:db8:0:0::/48", testNet, "2001:db8::/48"},
		{"2001:db8::/32", testNet, "2001:db8::/32"},
		{"3fff:0:1::/48", testNet, "3fff:0:1::/48"},
		{"11.1.0.0/16", Options{}, "11.1.0.0/16"},
		{"8.8.8.8", Options{}, "8.8.8.8/32"},
		{"2a00:1450:4001::/48", Options{}, "2a00:1450:4001::/48"},
		{"2a00::/29", Options{}, "2a00::/29"},
		{"203.0.0.0/16", testNet, "203.0.0.0/16"}, // contains TEST-NET-3, allowed on a test network
		// Refused.
		{"", Options{}, ""},
		{"garbage", Options{}, ""},
		{"203.0.113.10/33", testNet, ""},
		{"fe80::1%eth0", Options{}, ""},
		{"010.1.2.3", Options{}, ""}, // leading zeros are ambiguous (octal)
		{"11.0.0.0/8", Options{}, ""},
		{"11.0.0.0/15", Options{}, ""},
		{"0.0.0.0/0", Options{}, ""},
		{"::/0", Options{}, ""},
		{"2a00::/28", Options{}, ""},
		{"192.0.2.5/24", Options{}, ""}, // documentation without TestNetwork
		{"198.51.100.1", Options{}, ""},
		{"203.0.113.10", Options{}, ""},
		{"2001:db8::1", Options{}, ""},
		{"3fff::1", Options{}, ""},
		{"203.0.0.0/16", Options{}, ""}, // merely contains a documentation range
		{"10.1.2.3", testNet, ""},
		{"100.64.0.1", testNet, ""},
		{"127.0.0.1", testNet, ""},
		{"169.254.1.1", testNet, ""},
		{"172.16.0.0/16", testNet, ""},
		{"172.31.255.255", testNet, ""},
		{"192.0.0.9", testNet, ""},
		{"192.0.0.0/16", testNet, ""}, // contains 192.0.0.0/24
		{"192.168.1.1", testNet, ""},
		{"198.18.0.0/16", testNet, ""},
		{"224.0.0.1", testNet, ""},
		{"239.255.255.250", testNet, ""},
		{"240.0.0.1", testNet, ""},
		{"255.255.255.255", testNet, ""},
		{"0.1.2.3", testNet, ""},
		{"::1", testNet, ""},
		{"::", testNet, ""},
		{"::ffff:10.0.0.1", testNet, ""},
		{"::ffff:0:0/95", testNet, ""},
		{"64:ff9b::1.2.3.4", testNet, ""},
		{"64:ff9b:1::1", testNet, ""},
		{"100::1", testNet, ""},
		{"2001::1", testNet, ""},          // Teredo, inside 2001::/23
		{"2001:2::1", testNet, ""},        // benchmarking
		{"2001:0:8000::/33", testNet, ""}, // inside 2001::/23
		{"2002:c000:0204::1", testNet, ""},
		{"2620:4f:8000::1", testNet, ""},
		{"5f00::1", testNet, ""},
		{"fc00::1", testNet, ""},
		{"fd12:3456::1", testNet, ""},
		{"fe80::1", testNet, ""},
		{"ff02::1", testNet, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := Prefix(tt.in, tt.opts)
			if tt.want == "" {
				checkRefused(t, tt.in, err)
				return
			}
			if err != nil {
				t.Fatalf("Prefix(%q) = %v", tt.in, err)
			}
			if got := PrefixString(p); got != tt.want {
				t.Fatalf("Prefix(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again, err := Prefix(PrefixString(p), tt.opts); err != nil || again != p {
				t.Fatalf("Prefix(%q) = %v, %v; normal form is not a fixed point", PrefixString(p), again, err)
			}
		})
	}
}

func TestPrefixString(t *testing.T) {
	if got := PrefixString(netip.MustParsePrefix("203.0.113.10/32")); got != "203.0.113.10/32" {
		t.Errorf("PrefixString = %q", got)
	}
}

func TestASN(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"AS64500", 64500, true},
		{"as64500", 64500, true},
		{"64500", 64500, true},
		{" AS 64500 ", 64500, true},
		{"AS1.10", 65546, true},
		{"4294967295", 4294967295, true},
		{"", 0, false},
		{"AS", 0, false},
		{"ASN64500", 0, false},
		{"AS-1", 0, false},
		{"+64500", 0, false},
		{"64_500", 0, false},
		{"4294967296", 0, false},
		{"AS1.65536", 0, false},
		{"AS.1", 0, false},
		{"0x10", 0, false},
	}
	for _, tt := range tests {
		got, err := ASN(tt.in)
		if !tt.ok {
			checkRefused(t, tt.in, err)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ASN(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	a, _ := ASN("AS64500")
	b, _ := ASN("64500")
	if a != b {
		t.Errorf("AS64500 and 64500 differ: %d, %d", a, b)
	}
}

func TestCheckASN(t *testing.T) {
	tests := []struct {
		n    uint32
		opts Options
		ok   bool
	}{
		{13335, Options{}, true},
		{64500, testNet, true},
		{64496, testNet, true},
		{65551, testNet, true},
		{131072, Options{}, true},
		{4199999999, Options{}, true},
		{0, testNet, false},
		{23456, testNet, false},
		{64500, Options{}, false}, // documentation needs TestNetwork
		{64511, Options{}, false},
		{65536, Options{}, false},
		{64512, testNet, false},
		{65534, testNet, false},
		{65535, testNet, false},
		{65552, testNet, false},
		{131071, testNet, false},
		{4200000000, testNet, false},
		{4294967294, testNet, false},
		{4294967295, testNet, false},
	}
	for _, tt := range tests {
		err := CheckASN(tt.n, tt.opts)
		if tt.ok != (err == nil) {
			t.Errorf("CheckASN(%d, %+v) = %v, want ok=%v", tt.n, tt.opts, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckASN(%d) error does not wrap ErrInvalid", tt.n)
		}
	}
}

func TestEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Abuse@Chanboard.Example", "abuse@chanboard.example"},
		{" abuse@example.com. ", "abuse@example.com"},
		{"Jürgen@BÜCHER.de", "jürgen@xn--bcher-kva.de"},
		{"Ju\u0308rgen@example.com", "jürgen@example.com"}, // NFC
		{"a+tag@ｅｘａｍｐｌｅ.com", "a+tag@example.com"},
		{"", ""},
		{"abuse", ""},
		{"@example.com", ""},
		{"a@b@example.com", ""},
		{"abuse@", ""},
		{"abuse@[192.0.2.1]", ""},
		{"abuse@192.0.2.1", ""},
		{"abuse@localhost", ""},
		{"ab use@example.com", ""},
		{`"ab"@example.com`, ""},
		{"a<b@example.com", ""},
		{"a\x00b@example.com", ""},
		{strings.Repeat("a", 65) + "@example.com", ""},
		{"abuse@exa mple.com", ""},
		{"\xffabuse@example.com", ""},
	}
	for _, tt := range tests {
		got, err := Email(tt.in)
		if tt.want == "" {
			checkRefused(t, tt.in, err)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Email(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			continue
		}
		if again, err := Email(got); err != nil || again != got {
			t.Errorf("Email(%q) = %q, %v; not a fixed point", got, again, err)
		}
	}
}

func TestOrganisation(t *testing.T) {
	tests := []struct{ in, name, key string }{
		{"Epiq Hosting Ltd.", "epiq hosting", "epiqhosting"},
		{"Limited Edition Ltd", "limited edition", "limitededition"},
		{"EPIQ-Hosting", "epiqhosting", "epiqhosting"},
		{"  Epiq   Hosting\tLimited ", "epiq hosting", "epiqhosting"},
		{"Voxhost GmbH & Co. KG", "voxhost", "voxhost"},
		{"Mitigatr S.A. de C.V.", "mitigatr", "mitigatr"},
		{"Mitigatr S.A.", "mitigatr", "mitigatr"},
		{"Chanboard Sp. z o.o.", "chanboard", "chanboard"},
		{"Straße Networks AG", "strasse networks", "strassenetworks"}, // case folding: ß -> ss
		{"ＡＣＭＥ Cloud Inc", "acme cloud", "acmecloud"},
		{"Ltd Holdings", "ltd holdings", "ltdholdings"}, // legal forms only trailing
		{"AT&T Services", "att services", "attservices"},
		{"Hetzner Online", "hetzner online", "hetzneronline"},
		{"Société Anonyme Foo", "société anonyme foo", "sociétéanonymefoo"},
		// Refused.
		{"", "", ""},
		{"AB Ltd", "", ""},  // fewer than 4 letters
		{"X-1 Inc", "", ""}, // one letter
		{"Hosting", "", ""}, // generic only
		{"Cloud Hosting Services Ltd", "", ""},
		{"The Internet Group", "", ""},
		{"Data Center GmbH", "", ""},
		{"Web Hosting Company Limited", "", ""},
		{"Limited Ltd", "", ""}, // only legal forms
		{"!!!", "", ""},
		{"\xffoo bar", "", ""},
	}
	for _, tt := range tests {
		name, key, err := Organisation(tt.in)
		if tt.name == "" {
			checkRefused(t, tt.in, err)
			continue
		}
		if err != nil || name != tt.name || key != tt.key {
			t.Errorf("Organisation(%q) = %q, %q, %v; want %q, %q", tt.in, name, key, err, tt.name, tt.key)
			continue
		}
		if again, againKey, err := Organisation(name); err != nil || again != name || againKey != key {
			t.Errorf("Organisation(%q) = %q, %q, %v; not a fixed point", name, again, againKey, err)
		}
	}
}

func TestRegistration(t *testing.T) {
	const (
		lei     = headsupv1.RegistrationScheme_REGISTRATION_SCHEME_LEI
		company = headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER
		vat     = headsupv1.RegistrationScheme_REGISTRATION_SCHEME_VAT
		rir     = headsupv1.RegistrationScheme_REGISTRATION_SCHEME_RIR_ORG
		none    = headsupv1.RegistrationScheme_REGISTRATION_SCHEME_UNSPECIFIED
	)
	tests := []struct {
		name                 string
		scheme               headsupv1.RegistrationScheme
		value, country       string
		wantValue, wantCntry string // wantValue "" means refused
	}{
		{"lei", lei, "5493001KJTIIGC8Y1R12", "", "5493001KJTIIGC8Y1R12", ""},
		{"lei lower spaced", lei, "5493 001k jtii gc8y 1r12", "", "5493001KJTIIGC8Y1R12", ""},
		{"lei other", lei, "529900T8BM49AURSDO55", "", "529900T8BM49AURSDO55", ""},
		{"lei bad check digit", lei, "5493001KJTIIGC8Y1R13", "", "", ""},
		{"lei transposed", lei, "4593001KJTIIGC8Y1R12", "", "", ""},
		{"lei short", lei, "5493001KJTIIGC8Y1R1", "", "", ""},
		{"lei punctuation", lei, "5493001KJTIIGC8Y1R1-", "", "", ""},
		{"lei with country", lei, "5493001KJTIIGC8Y1R12", "DE", "", ""},
		{"company", company, "01234567", "gb", "01234567", "GB"},
		{"company spaced", company, "HRB 12345 B", "DE", "HRB12345B", "DE"},
		{"company uk", company, "SC123456", "UK", "SC123456", "GB"},
		{"company no country", company, "01234567", "", "", ""},
		{"company bad country", company, "01234567", "XX", "", ""},
		{"company region not country", company, "01234567", "EU", "", ""},
		{"company bad chars", company, "12#34", "GB", "", ""},
		{"vat", vat, "DE123456789", "", "DE123456789", ""},
		{"vat messy", vat, "de 123.456.789", "", "DE123456789", ""},
		{"vat greece", vat, "EL123456789", "", "EL123456789", ""},
		{"vat no prefix", vat, "123456789", "", "", ""},
		{"vat too long", vat, "DE12345678901234", "", "", ""},
		{"vat too short", vat, "DE1", "", "", ""},
		{"rir ripe", rir, "ORG-EH1-RIPE", "", "ORG-EH1-RIPE", ""},
		{"rir lower", rir, "org-eh1-ripe", "", "ORG-EH1-RIPE", ""},
		{"rir arin", rir, "EPIQ-1", "", "EPIQ-1", ""},
		{"rir double hyphen", rir, "ORG--X", "", "", ""},
		{"rir trailing hyphen", rir, "ORG-X-", "", "", ""},
		{"rir bad chars", rir, "ORG_X", "", "", ""},
		{"unspecified", none, "X", "", "", ""},
		{"empty", vat, " ", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, c, err := Registration(tt.scheme, tt.value, tt.country)
			if tt.wantValue == "" {
				checkRefused(t, tt.value, err)
				return
			}
			if err != nil || v != tt.wantValue || c != tt.wantCntry {
				t.Fatalf("Registration(%v, %q, %q) = %q, %q, %v; want %q, %q", tt.scheme, tt.value, tt.country, v, c, err, tt.wantValue, tt.wantCntry)
			}
			if v2, c2, err := Registration(tt.scheme, v, c); err != nil || v2 != v || c2 != c {
				t.Fatalf("not a fixed point: %q, %q, %v", v2, c2, err)
			}
		})
	}
}

func TestHashed(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	tests := []struct{ in, want string }{
		{"hmac-sha256:fed-2026:phone:" + hex, "hmac-sha256:fed-2026:phone:" + hex},
		{" HMAC-SHA256:Fed-2026:EMAIL:" + strings.ToUpper(hex) + " ", "hmac-sha256:fed-2026:email:" + hex},
		{"hmac-sha256:k:host:" + hex, "hmac-sha256:k:host:" + hex},
		{"hmac-sha256:k:organisation:" + hex, "hmac-sha256:k:organisation:" + hex},
		{"hmac-sha256:k:registration:" + hex, "hmac-sha256:k:registration:" + hex},
		{"hmac-sha256:k:address:" + hex, "hmac-sha256:k:address:" + hex},
		{"hmac-sha256:k:name:" + hex, ""}, // unknown type
		{"hmac-sha256:k:" + hex, ""},
		{"hmac-sha1:k:phone:" + hex, ""},
		{"hmac-sha256:-k:phone:" + hex, ""},
		{"hmac-sha256::phone:" + hex, ""},
		{"hmac-sha256:k:phone:" + hex[:63], ""},
		{"hmac-sha256:k:phone:" + hex + "00", ""},
		{"hmac-sha256:k:phone:" + hex[:63] + "g", ""},
		{"hmac-sha256:k:phone:" + hex + ":x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := Hashed(tt.in)
		if tt.want == "" {
			checkRefused(t, tt.in, err)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Hashed(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestHashInput(t *testing.T) {
	got := string(HashInput("email", "abuse@example.com"))
	if want := "headsup-v1\x00email\x00abuse@example.com"; got != want {
		t.Errorf("HashInput = %q, want %q", got, want)
	}
}

func TestValidMemberID(t *testing.T) {
	for _, s := range []string{"a", "0", "edgeshield", "edge-shield", "a-", strings.Repeat("a", 63)} {
		if !ValidMemberID(s) {
			t.Errorf("ValidMemberID(%q) = false", s)
		}
	}
	for _, s := range []string{"", "-a", "Edge", "edge_shield", "edge.shield", "edge shield", "é", strings.Repeat("a", 64), "a>"} {
		if ValidMemberID(s) {
			t.Errorf("ValidMemberID(%q) = true", s)
		}
	}
}

func TestValidNoticeID(t *testing.T) {
	for _, s := range []string{"017f22e2-79b0-7cc3-98c4-dc0c0c07398f", "0198c3a0-0000-7000-bfff-000000000001"} {
		if !ValidNoticeID(s) {
			t.Errorf("ValidNoticeID(%q) = false", s)
		}
	}
	for _, s := range []string{
		"",
		"017F22E2-79B0-7CC3-98C4-DC0C0C07398F",     // upper case
		"017f22e2-79b0-4cc3-98c4-dc0c0c07398f",     // version 4
		"017f22e2-79b0-7cc3-c8c4-dc0c0c07398f",     // variant 110x
		"017f22e2-79b0-7cc3-78c4-dc0c0c07398f",     // variant 0xxx
		"017f22e279b07cc398c4dc0c0c07398f",         // no hyphens
		"{017f22e2-79b0-7cc3-98c4-dc0c0c07398f}",   // braces
		"urn:uuid:017f22e2-79b0-7cc3-98c4-dc0c0c0", // urn
		"017f22e2-79b0-7cc3-98c4-dc0c0c07398g",     // non-hex
		"017f22e2-79b0-7cc3-98c4_dc0c0c07398f",     // wrong separator
	} {
		if ValidNoticeID(s) {
			t.Errorf("ValidNoticeID(%q) = true", s)
		}
	}
}

func TestNewID(t *testing.T) {
	a, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	if !ValidNoticeID(a) || !ValidNoticeID(b) || a == b {
		t.Fatalf("NewID = %q, %q", a, b)
	}
}

func TestValidReason(t *testing.T) {
	for _, s := range []string{"abusive-content:violence", "fraud:phishing", "malicious-code:c2-server", "test:test", "other:undetermined", "vulnerable:ddos-amplifier", "information-content-security:data-leak"} {
		if !ValidReason(s) {
			t.Errorf("ValidReason(%q) = false", s)
		}
	}
	for _, s := range []string{"", "violence", "abusive-content", "abusive-content:", "Abusive-Content:Violence", "abusive-content:phishing", "fraud:phishing ", "abusive-content:violence:x"} {
		if ValidReason(s) {
			t.Errorf("ValidReason(%q) = true", s)
		}
	}
}
