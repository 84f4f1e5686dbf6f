package match

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestNormalizeRow(t *testing.T) {
	tests := []struct {
		typ, value string
		wantType   Type
		want       string // "" means an error is expected
		wantErr    error
	}{
		{"host", " WWW.Chanboard.Example. ", TypeHost, "www.chanboard.example", nil},
		{"Domain", "bücher.example", TypeHost, "xn--bcher-kva.example", nil},
		{"host", "co.uk", TypeHost, "", ErrInvalidValue},
		{"host", "localhost", TypeHost, "", ErrInvalidValue},
		{"host", "203.0.113.1", TypeHost, "", ErrInvalidValue},
		{"ip", "::ffff:203.0.113.10", TypePrefix, "203.0.113.10/32", nil},
		{"cidr", "203.0.113.77/24", TypePrefix, "203.0.113.0/24", nil},
		{"prefix", "2001:DB8::1/48", TypePrefix, "2001:db8::/48", nil},
		{"prefix", "10.1.2.3", TypePrefix, "", ErrInvalidValue},
		{"prefix", "0.0.0.0/0", TypePrefix, "", ErrInvalidValue},
		{"asn", "as64500", TypeASN, "AS64500", nil},
		{"asn", "AS1.10", TypeASN, "AS65546", nil},
		{"asn", "64512", TypeASN, "", ErrInvalidValue},
		{"asn", "23456", TypeASN, "", ErrInvalidValue},
		{"email", "Admin@Chanboard.Example", TypeEmail, "admin@chanboard.example", nil},
		{"email", "admin@[203.0.113.1]", TypeEmail, "", ErrInvalidValue},
		{"org", "Epiq Hosting Ltd.", TypeOrganisation, "epiq hosting", nil},
		{"organisation", "Cloud Hosting Services", TypeOrganisation, "", ErrInvalidValue},
		{"registration", "LEI:5493001kjtiigc8y1r12", TypeRegistration, "lei:5493001KJTIIGC8Y1R12", nil},
		{"registration", "company:uk:01234567", TypeRegistration, "company:GB:01234567", nil},
		{"registration", "vat:de 123.456.789", TypeRegistration, "vat:DE123456789", nil},
		{"registration", "rir:org-eh1-ripe", TypeRegistration, "rir:ORG-EH1-RIPE", nil},
		{"registration", "lei:5493001KJTIIGC8Y1R13", TypeRegistration, "", ErrInvalidValue},
		{"registration", "company:01234567", TypeRegistration, "", ErrInvalidValue},
		{"registration", "duns:123", TypeRegistration, "", ErrInvalidValue},
		{"phone", "+44 (20) 7946-0958", TypePhone, "+442079460958", nil},
		{"phone", "tel:0044 20 7946 0958", TypePhone, "+442079460958", nil},
		{"phone", "020 7946 0958", TypePhone, "", ErrInvalidValue},
		{"phone", "+44+2079460958", TypePhone, "", ErrInvalidValue},
		{"phone", "+123", TypePhone, "", ErrInvalidValue},
		{"hashed", "HMAC-SHA256:k1:email:" + strings.Repeat("AB", 32), TypeHashed, "hmac-sha256:k1:email:" + strings.Repeat("ab", 32), nil},
		{"hashed", "hmac-sha256:k1:fax:" + strings.Repeat("ab", 32), TypeHashed, "", ErrInvalidValue},
		{"member", " Epiq ", TypeMember, "epiq", nil},
		{"member", "epiq_hosting", TypeMember, "", ErrInvalidValue},
		{"fax", "123", "", "", ErrUnknownType},
	}
	for _, tc := range tests {
		t.Run(tc.typ+" "+tc.value, func(t *testing.T) {
			in := Row{Owner: " c1 ", Name: " Customer ", Type: Type(tc.typ), Value: tc.value, Source: "x.csv", Line: 3}
			got, err := NormalizeRow(in, testCfg)
			if tc.want == "" {
				var re *RowError
				if !errors.As(err, &re) || !errors.Is(err, tc.wantErr) {
					t.Fatalf("NormalizeRow = %+v, %v; want a RowError wrapping %v", got, err, tc.wantErr)
				}
				if re.Source != "x.csv" || re.Line != 3 || re.Value == "" || !strings.HasPrefix(err.Error(), "x.csv:3: "+re.Field+" "+strconv.Quote(re.Value)) {
					t.Errorf("error %q (%+v) does not name source, line, field and value", err, re)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tc.wantType || got.Value != tc.want || got.Owner != "c1" || got.Name != "Customer" {
				t.Errorf("NormalizeRow = %+v, want type %s value %q", got, tc.wantType, tc.want)
			}
			again, err := NormalizeRow(got, testCfg)
			if err != nil || again != got {
				t.Errorf("not idempotent: %+v, %v", again, err)
			}
		})
	}
}

func TestNormalizeRowOwnerAndMember(t *testing.T) {
	for _, tc := range []struct {
		r     Row
		field string
	}{
		{Row{Owner: "  ", Type: TypeHost, Value: "a.example"}, "owner"},
		{Row{Owner: "c1", Member: "Not A Member", Type: TypeHost, Value: "a.example"}, "member"},
		{Row{Owner: "c1", Type: TypeHost, Value: strings.Repeat("a", 5000)}, "value"},
	} {
		_, err := NormalizeRow(tc.r, testCfg)
		var re *RowError
		if !errors.As(err, &re) || re.Field != tc.field || !errors.Is(err, ErrInvalidValue) {
			t.Errorf("NormalizeRow(%+v) = %v, want a %s error", tc.r, err, tc.field)
		}
	}
	r, err := NormalizeRow(Row{Owner: "c1", Member: " Epiq ", Type: TypeHost, Value: "a.example"}, testCfg)
	if err != nil || r.Member != "epiq" {
		t.Errorf("member = %q, %v", r.Member, err)
	}
}

func TestTestNetwork(t *testing.T) {
	r := Row{Owner: "c1", Type: TypePrefix, Value: "203.0.113.0/24"}
	if _, err := NormalizeRow(r, Config{}); err == nil {
		t.Error("documentation prefix accepted without TestNetwork")
	}
	if _, err := NormalizeRow(r, Config{TestNetwork: true}); err != nil {
		t.Errorf("documentation prefix refused with TestNetwork: %v", err)
	}
}

var typeSeeds = []string{"host", "domain", "prefix", "ip", "asn", "email", "org", "registration", "phone", "hashed", "member", "fax", ""}

var valueSeeds = []string{
	"WWW.Chanboard.Example.", "bücher.example", "co.uk", "::ffff:203.0.113.10", "203.0.113.77/24",
	"2001:DB8::1/48", "as64500", "AS1.10", "Admin@Chanboard.Example", "Epiq Hosting Ltd.",
	"company:uk:01234567", "lei:5493001kjtiigc8y1r12", "vat:de 123.456.789", "rir:org-eh1-ripe",
	"+44 (20) 7946-0958", "tel:0044 20 7946 0958", "HMAC-SHA256:k1:email:" + strings.Repeat("AB", 32),
	" Epiq ", "İstanbul Hosting A.Ş.", "x\u200d.example", "",
}

// FuzzNormalizeRow checks that a normalised row is a fixed point: rows
// come from outside (customer files and databases), and a value that
// normalised differently twice would match on one pass and not the next.
func FuzzNormalizeRow(f *testing.F) {
	for _, t := range typeSeeds {
		for _, v := range valueSeeds {
			f.Add(t, v)
		}
	}
	f.Fuzz(func(t *testing.T, typ, value string) {
		r := Row{Owner: "c1", Type: Type(typ), Value: value, Source: "fuzz", Line: 1}
		n, err := NormalizeRow(r, Config{TestNetwork: true})
		if err != nil {
			var re *RowError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a RowError", err)
			}
			return
		}
		again, err := NormalizeRow(n, Config{TestNetwork: true})
		if err != nil {
			t.Fatalf("normal form %q (%s) refused: %v", n.Value, n.Type, err)
		}
		if again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", value, n.Value, again.Value)
		}
	})
}

// TestFuzzSeedsOnDisk keeps a few seeds under testdata/fuzz so that `go
// test` replays them even without the in-code corpus.
func TestFuzzSeedsOnDisk(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzNormalizeRow"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("no seed corpus under testdata/fuzz/FuzzNormalizeRow: %v", err)
	}
}
