package notice

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// -update-seeds rewrites the seed corpora under testdata/fuzz from the
// tables below and the example notices.
var updateSeeds = flag.Bool("update-seeds", false, "rewrite the fuzz seed corpora under testdata/fuzz")

var hostSeeds = []string{
	"A.EVIL.CO.UK", "evil.公司.cn", "example.com.", "ｅｘａｍｐｌｅ.com", "BÜCHER.de",
	"_dmarc.x.com", "co.uk", "github.io", "exa mple.com", "1.2.3.4", "[::1]",
	"xn--bcher-kva.de", "faß.de", "example。com。", "a..b", "x\u200d.com",
	"\u0627\u0644\u0639\u0631\u0628\u064a\u0629.example", "example.0x7f",
}

var prefixSeeds = []string{
	"::ffff:203.0.113.10", "192.0.2.5/24", "11.0.0.0/8", "::/0", "0.0.0.0/0",
	"2001:db8::1", "2a00:1450:4001::/48", "10.0.0.1", "fe80::1%eth0",
	"::ffff:0:0/95", "203.0.0.0/16", "3fff::/20", "8.8.8.8",
}

var organisationSeeds = []string{
	"Epiq Hosting Ltd.", "Limited Edition Ltd", "Cloud Hosting Services", "AB Ltd",
	"Voxhost GmbH & Co. KG", "Mitigatr S.A. de C.V.", "Straße Networks AG",
	"ＡＣＭＥ Cloud Inc", "Chanboard Sp. z o.o.", "İstanbul Hosting A.Ş.", "ǅemal d.o.o.",
}

func noticeSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	for name, n := range map[string]*headsupv1.Notice{
		"suspended": suspended(), "sighted": sighted(), "reseller": reseller(),
		"retraction": retraction(), "real-network": realNetwork(),
	} {
		seeds[name] = mustMarshal(t, n)
	}
	n := suspended()
	withUnknown(n.Subject)
	seeds["unknown-nested"] = mustMarshal(t, n)
	return seeds
}

// TestWriteFuzzSeeds keeps testdata/fuzz in step with the seeds above when
// run with -update-seeds; otherwise it checks the corpora exist.
func TestWriteFuzzSeeds(t *testing.T) {
	corpora := map[string]map[string]string{
		"FuzzHost": {}, "FuzzPrefix": {}, "FuzzOrganisation": {}, "FuzzUnmarshal": {},
		"FuzzHostFastPath": {}, "FuzzUnknownScan": {}, "FuzzFoldASCII": {},
	}
	for i, s := range hostSeeds {
		corpora["FuzzHost"][fmt.Sprintf("seed-%02d", i)] = fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
	}
	for i, s := range prefixSeeds {
		corpora["FuzzPrefix"][fmt.Sprintf("seed-%02d", i)] = fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
	}
	for i, s := range organisationSeeds {
		corpora["FuzzOrganisation"][fmt.Sprintf("seed-%02d", i)] = fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
		corpora["FuzzFoldASCII"][fmt.Sprintf("seed-%02d", i)] = fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
	}
	for name, b := range noticeSeeds(t) {
		corpora["FuzzUnmarshal"][name] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
	}
	for i, s := range hostFastPathSeeds {
		corpora["FuzzHostFastPath"][fmt.Sprintf("seed-%02d", i)] = fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
	}
	for name, b := range unknownScanSeeds(t) {
		corpora["FuzzUnknownScan"][name] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
	}
	for target, files := range corpora {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, content := range files {
			path := filepath.Join(dir, name)
			if *updateSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			// Marshalled notices are compared for presence only: proto
			// encoding may change between library versions.
			if err != nil || target != "FuzzUnmarshal" && target != "FuzzUnknownScan" && string(got) != content {
				t.Errorf("%s is missing or stale; run go test -run TestWriteFuzzSeeds -update-seeds", path)
			}
		}
	}
}

func FuzzHost(f *testing.F) {
	for _, s := range hostSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := netip.ParseAddr(s); isIPLiteral(s) != (err == nil) {
			t.Fatalf("isIPLiteral(%q) = %v, netip.ParseAddr: %v", s, isIPLiteral(s), err)
		}
		h, err := Host(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Host(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		again, err := Host(h)
		if err != nil || again != h {
			t.Fatalf("Host(%q) = %q, but Host(%q) = %q, %v", s, h, h, again, err)
		}
		if len(h) > maxHostLen || strings.Count(h, ".") < 1 || strings.ToLower(h) != h {
			t.Fatalf("Host(%q) = %q breaks the normal form's shape", s, h)
		}
	})
}

func FuzzPrefix(f *testing.F) {
	for _, s := range prefixSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		strict, strictErr := Prefix(s, Options{})
		p, err := Prefix(s, testNet)
		if err != nil {
			if strictErr == nil {
				t.Fatalf("Prefix(%q) accepted without TestNetwork, refused with it: %v", s, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Prefix(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if strictErr == nil && strict != p {
			t.Fatalf("Prefix(%q) depends on TestNetwork: %v vs %v", s, strict, p)
		}
		if p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("Prefix(%q) = %v is not in normal form", s, p)
		}
		text := PrefixString(p)
		if string(p.AppendTo(nil)) != text {
			t.Fatalf("Prefix(%q) = %v: AppendTo writes %q, PrefixString %q", s, p, p.AppendTo(nil), text)
		}
		again, err := Prefix(text, testNet)
		if err != nil || again != p || PrefixString(again) != text {
			t.Fatalf("Prefix(%q) = %v, but Prefix(%q) = %v, %v", s, p, text, again, err)
		}
		if ipv4Addresses(p) > MaxIPv4Addresses {
			t.Fatalf("Prefix(%q) = %v covers more than one notice may", s, p)
		}
	})
}

func FuzzOrganisation(f *testing.F) {
	for _, s := range organisationSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, key, err := Organisation(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Organisation(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if key != strings.ReplaceAll(name, " ", "") {
			t.Fatalf("Organisation(%q) = %q with key %q", s, name, key)
		}
		again, againKey, err := Organisation(name)
		if err != nil || again != name || againKey != key {
			t.Fatalf("Organisation(%q) = %q, but Organisation(%q) = %q, %q, %v", s, name, name, again, againKey, err)
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	for _, b := range noticeSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		strict, strictErr := Unmarshal(b, Options{})
		n, err := Unmarshal(b, testNet)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Unmarshal error %v does not wrap ErrInvalid", err)
			}
			if strictErr == nil {
				t.Fatalf("accepted without TestNetwork, refused with it: %v", err)
			}
			return
		}
		if strictErr == nil && !proto.Equal(strict, n) {
			t.Fatal("the parsed notice depends on TestNetwork")
		}
		if err := Validate(n, testNet); err != nil {
			t.Fatalf("Unmarshal accepted a notice Validate refuses: %v", err)
		}
		if err := Normalize(proto.Clone(n).(*headsupv1.Notice), testNet); err != nil {
			t.Fatalf("Normalize refused an accepted notice: %v", err)
		}
		// Re-marshalling is never done in production, but the message must
		// survive it: what we accept is a plain, well-formed notice.
		again, err := Unmarshal(mustMarshal(t, n), testNet)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("re-marshalled notice refused: %v", err)
		}
		if err == nil && !proto.Equal(again, n) {
			t.Fatal("re-marshalled notice differs")
		}
	})
}

// TestIsIPLiteral: the shortcut in isIPLiteral answers as netip.ParseAddr
// does at the edges of its IPv4/IPv6 choice (FuzzHost checks the rest).
func TestIsIPLiteral(t *testing.T) {
	for _, s := range []string{
		"", ".", "%", "1", "1.2.3.4", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4%eth0",
		"::1", "fe80::1%eth0", "%eth0", "::ffff:1.2.3.4", "a:b", "1.2.3.a", "a.1.2.3", "example.com",
		"1..2.3", "1.2.3.4.", "١.٢.٣.٤",
	} {
		_, err := netip.ParseAddr(s)
		if got := isIPLiteral(s); got != (err == nil) {
			t.Errorf("isIPLiteral(%q) = %v, netip.ParseAddr: %v", s, got, err)
		}
	}
}
