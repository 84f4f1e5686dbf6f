package match

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/notice"
)

// Hash masks under which keyTables must answer as with full hashes: every
// key in one probe sequence with one tag but for its length (0), and a
// few homes and tags (partial), so that probes pass slots of other keys.
var collisionMasks = []struct {
	name string
	mask uint64
}{
	{"full hash", ^uint64(0)},
	{"all collide", 0},
	{"partial", 0x0000_0003_c000_0000},
}

// tableRows are rows whose keys are each other's prefixes, suffixes and
// near misses, held by one owner or several.
func tableRows() []Row {
	return []Row{
		row("a", TypeHost, "b.example"),
		row("a", TypeHost, "a.b.example"),
		row("b", TypeHost, "a.b.example"),
		row("b", TypeHost, "x.a.b.example"),
		row("c", TypeHost, "b.example.co.uk"),
		row("c", TypeHost, "www.c.example"),
		row("c", TypeHost, "sub.site.freehost.example"), // on a shared domain: no domain key
		row("d", TypeEmail, "x@b.example"),
		row("d", TypeEmail, "y@b.example"),
		row("e", TypeEmail, "x@a.b.example"),
		row("e", TypeEmail, "b@gmail.com"), // a mailbox provider: no domain key
		row("f", TypeOrganisation, "Epiq Hosting"),
		row("g", TypeOrganisation, "EpiqHosting"),
		row("g", TypeOrganisation, "Epiq Hosting Group"),
		row("h", TypeRegistration, "company:GB:00000001"),
		row("h", TypeRegistration, "company:GB:00000011"),
		row("i", TypeRegistration, "company:GB:00000001"),
	}
}

// TestKeyTableLookups checks every table's answer for each key and for
// near misses (prefixes, suffixes, one byte changed, longer than a tag
// counts) against the keys computed from the rows, under forced
// collisions too.
func TestKeyTableLookups(t *testing.T) {
	for _, cm := range collisionMasks {
		t.Run(cm.name, func(t *testing.T) {
			ix, errs := buildMasked(tableRows(), testCfg, cm.mask)
			if len(errs) > 0 {
				t.Fatal(errs[0])
			}
			tables := []struct {
				name string
				t    *keyTable
				key  func(r Row) (string, bool)
			}{
				{"hosts", &ix.hosts, func(r Row) (string, bool) { return r.Value, r.Type == TypeHost }},
				{"domains", &ix.domains, func(r Row) (string, bool) {
					if r.Type != TypeHost || ix.d.shared.covers(r.Value) {
						return "", false
					}
					d, err := notice.RegistrableDomain(r.Value)
					return d, err == nil
				}},
				{"emails", &ix.emails, func(r Row) (string, bool) { return r.Value, r.Type == TypeEmail }},
				{"mailDoms", &ix.mailDoms, func(r Row) (string, bool) {
					d := r.Value[strings.LastIndexByte(r.Value, '@')+1:]
					return d, r.Type == TypeEmail && !ix.d.noMailDom.covers(d)
				}},
				{"orgs", &ix.orgs, func(r Row) (string, bool) { return orgKey(r.Value), r.Type == TypeOrganisation }},
				{"regs", &ix.regs, func(r Row) (string, bool) { return r.Value, r.Type == TypeRegistration }},
			}
			for _, tb := range tables {
				want := map[string][]int32{}
				for i := range ix.Len() {
					if k, ok := tb.key(ix.row(int32(i))); ok {
						want[k] = append(want[k], int32(i))
					}
				}
				if len(want) == 0 {
					t.Fatalf("%s: no keys: the test rows are wrong", tb.name)
				}
				var probes []string
				for k := range want {
					probes = append(probes, k, k[1:], k[:len(k)-1], "x"+k, k+"x", "x."+k, k[:len(k)-1]+"#",
						strings.ToUpper(k[:1])+k[1:], k+strings.Repeat("z", 300))
				}
				probes = append(probes, "", strings.Repeat("z", 255))
				for _, p := range probes {
					var one [1]int32
					got := tb.t.rowsOf(ix.span(tb.t, p), &one)
					if !slices.Equal(got, want[p]) {
						t.Errorf("%s: span(%q) has rows %v, want %v", tb.name, p, got, want[p])
					}
					if got := tb.t.rowsOf(ix.spanBytes(tb.t, []byte(p)), &one); !slices.Equal(got, want[p]) {
						t.Errorf("%s: spanBytes(%q) has rows %v, want %v", tb.name, p, got, want[p])
					}
					owners := map[uint32]bool{}
					for _, r := range want[p] {
						owners[ix.rows[r].owner] = true
					}
					if got := tb.t.owners(ix.span(tb.t, p)); got != len(owners) {
						t.Errorf("%s: %q has %d owners, want %d", tb.name, p, got, len(owners))
					}
					if want[p] != nil && !tb.t.mayHave(tb.t.hash(p)) {
						t.Errorf("%s: the filter says %q is absent", tb.name, p)
					}
				}
			}
		})
	}
}

// TestFilterBits: a filter word's two bits come from the hash's high half
// and its word from the low half, whatever the filter's length.
func TestFilterBits(t *testing.T) {
	for _, tc := range []struct {
		h     uint64
		n     int
		word  int
		bits  uint64
		label string
	}{
		{0, 1, 0, 1, "zero hash: bit 0 twice"},
		{1<<32 | 2<<38, 4, 0, 1<<1 | 1<<2, "bits from the high half"},
		{0xffff_ffff, 4, 3, 1, "the last word"},
		{0x8000_0000 | 63<<32 | 63<<38, 10, 5, 1 << 63, "the middle word, bit 63"},
	} {
		if w, b := filterBits(tc.h, tc.n); w != tc.word || b != tc.bits {
			t.Errorf("%s: filterBits(%#x, %d) = %d, %#x, want %d, %#x", tc.label, tc.h, tc.n, w, b, tc.word, tc.bits)
		}
	}
}

func TestUvarintAt(t *testing.T) {
	for _, v := range []int{0, 1, 127, 128, 300, 16383, 16384, 1 << 31, 1<<32 - 1} {
		b := binary.AppendUvarint([]byte("x"), uint64(v))
		got, end := uvarintAt(string(b)+"tail", 1)
		if got != v || end != len(b) || uvarintLen(v) != len(b)-1 {
			t.Errorf("uvarintAt(%d) = %d ending at %d (uvarintLen %d), want %d ending at %d", v, got, end, uvarintLen(v), v, len(b))
		}
	}
}

// TestCollisionsChangeNothing: MatchEntity answers the same whether the
// keyTables' hashes collide or not, over random rows and entities that
// reach every rule.
func TestCollisionsChangeNothing(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		r := rand.New(rand.NewSource(seed))
		cfg := testCfg
		if seed%2 == 0 {
			cfg.BroadPrefixMaxCustomers, cfg.MaxMatchesPerIdentifier = 3, 4
		}
		rows := randomRows(r, 300, []int{5, 40}[seed%2])
		var ixs []*Index
		for _, cm := range collisionMasks {
			ix, _ := buildMasked(rows, cfg, cm.mask)
			ixs = append(ixs, ix)
		}
		for range 400 {
			e, q := randomEntity(r)
			want := ixs[0].MatchEntity(e, q)
			for k, ix := range ixs[1:] {
				if got := ix.MatchEntity(e, q); !reflect.DeepEqual(got, want) {
					t.Fatalf("seed %d, %s: %v\ngot\n%s\nwant\n%s", seed, collisionMasks[k+1].name, e, dump(got), dump(want))
				}
			}
		}
	}
}

var (
	randLabels  = []string{"a", "b", "www", "mail", "x"}
	randDomains = []string{"x.example", "y.example", "z.co.uk", "freehost.example", "voxhost.net", "co.uk", "example"}
	randMailDom = []string{"x.example", "y.example", "gmail.com", "voxhost.net", "z.co.uk"}
)

func randomHost(r *rand.Rand) string {
	h := randDomains[r.Intn(len(randDomains))]
	for n := r.Intn(4); n > 0; n-- {
		h = randLabels[r.Intn(len(randLabels))] + "." + h
	}
	return h
}

func randomEmail(r *rand.Rand) string {
	return randLabels[r.Intn(len(randLabels))] + "@" + randMailDom[r.Intn(len(randMailDom))]
}

func randomPrefix(r *rand.Rand, bits int) string {
	a := netip.AddrFrom4([4]byte{203, 0, 113, byte(r.Intn(256))})
	return netip.PrefixFrom(a, bits).Masked().String()
}

func randomRows(r *rand.Rand, n, owners int) []Row {
	var rows []Row
	for i := range n {
		o := r.Intn(owners)
		rw := Row{Owner: fmt.Sprintf("c%d", o), Name: fmt.Sprintf("Customer %d", o), Source: "customers.csv", Line: i + 1}
		if o%7 == 0 {
			rw.Member = fmt.Sprintf("m%d", o%3)
		}
		switch r.Intn(7) {
		case 0, 1:
			rw.Type, rw.Value = TypeHost, randomHost(r)
		case 2:
			rw.Type, rw.Value = TypePrefix, randomPrefix(r, 24+r.Intn(9))
		case 3:
			rw.Type, rw.Value = TypeASN, fmt.Sprintf("AS%d", 64500+r.Intn(4))
		case 4:
			rw.Type, rw.Value = TypeEmail, randomEmail(r)
		case 5:
			rw.Type, rw.Value = TypeOrganisation, fmt.Sprintf("Org %d Ltd", r.Intn(4))
		default:
			rw.Type, rw.Value = TypeRegistration, fmt.Sprintf("company:GB:%08d", r.Intn(4))
		}
		rows = append(rows, rw)
	}
	return rows
}

func randomEntity(r *rand.Rand) (*headsupv1.Entity, Query) {
	e := &headsupv1.Entity{}
	for n := 1 + r.Intn(4); n > 0; n-- {
		var id *headsupv1.Identifier
		switch r.Intn(6) {
		case 0, 1:
			id = host(randomHost(r))
		case 2:
			id = addr(randomPrefix(r, []int{22, 24, 28, 32}[r.Intn(4)]))
		case 3:
			id = asn(uint32(64500+r.Intn(5)), headsupv1.AsnRole(1+r.Intn(2)))
		case 4:
			id = email(randomEmail(r))
		default:
			if r.Intn(2) == 0 {
				id = &headsupv1.Identifier{Value: &headsupv1.Identifier_Organisation{Organisation: fmt.Sprintf("org %d ltd", r.Intn(5))}}
			} else {
				id = reg(headsupv1.RegistrationScheme_REGISTRATION_SCHEME_COMPANY_NUMBER, fmt.Sprintf("%08d", r.Intn(5)), "GB")
			}
		}
		e.Identifiers = append(e.Identifiers, id)
	}
	q := Query{Now: now}
	if r.Intn(3) == 0 {
		q.Issuer = fmt.Sprintf("m%d", r.Intn(3))
	}
	return e, q
}
