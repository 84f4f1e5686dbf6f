package match

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// TestMultimapSpans checks the span encoding: a key of one row keeps the
// row in its span, a key of several keeps them in the list after their
// owner count, and neither confuses the other, with counts beyond 16 bits.
func TestMultimapSpans(t *testing.T) {
	const many = 70_000 // more rows and owners than 16 bits count
	rows := make([]irow, many+10)
	for i := range rows {
		rows[i].owner = uint32(i / 2) // two rows per owner
	}
	b := multimapBuilder[string]{}
	b.add("one", 7)
	b.add("one", 7) // the same row twice is one row
	b.add("zero-row", 0)
	b.add("same-owner", 2)
	b.add("same-owner", 3)
	b.add("three-owners", 1)
	b.add("three-owners", 2)
	b.add("three-owners", 4)
	for i := range many {
		b.add("many", int32(i))
	}
	mm := b.build(rows)

	for _, tc := range []struct {
		key    string
		rows   []int32
		owners int
	}{
		{"one", []int32{7}, 1},
		{"zero-row", []int32{0}, 1},
		{"same-owner", []int32{2, 3}, 1},
		{"three-owners", []int32{1, 2, 4}, 3},
		{"absent", nil, 0},
	} {
		var one [1]int32
		if got := mm.get(tc.key, &one); !slices.Equal(got, tc.rows) {
			t.Errorf("get(%q) = %v, want %v", tc.key, got, tc.rows)
		}
		if got := mm.owners(mm.span(tc.key)); got != tc.owners {
			t.Errorf("owners(%q) = %d, want %d", tc.key, got, tc.owners)
		}
	}
	var one [1]int32
	got := mm.get("many", &one)
	if len(got) != many || got[0] != 0 || got[many-1] != many-1 {
		t.Errorf("get(many): %d rows from %d to %d, want %d from 0 to %d", len(got), got[0], got[len(got)-1], many, many-1)
	}
	if n := mm.owners(mm.span("many")); n != many/2 {
		t.Errorf("owners(many) = %d, want %d", n, many/2)
	}
	// Only keys of several rows take list entries: their rows and a count.
	if want := (2 + 1) + (3 + 1) + (many + 1); len(mm.lists) != want {
		t.Errorf("list holds %d entries, want %d", len(mm.lists), want)
	}
}

// TestRowValues checks that every row reads back as it was built, though
// the index keeps no value lengths: a value ends where the next row's
// value or the next owner's strings begin.
func TestRowValues(t *testing.T) {
	rows := []Row{
		row("c1", TypeHost, "a.example"),
		row("c1", TypeHost, "b.example"),
		row("c1", TypeASN, "AS64500"),
		{Owner: "c2", Name: "", Type: TypeEmail, Value: "x@c2.example", Source: "s", Line: 3},
		{Owner: "c3", Name: "Three", Link: "https://desk/c3", Member: "m3", Type: TypePrefix, Value: "192.0.2.0/24", Source: "s", Line: 4},
		{Owner: "c3", Name: "Three", Link: "https://desk/c3", Member: "m3", Type: TypeRegistration, Value: "company:GB:00000001", Source: "t", Line: 5},
		row("c4", TypeOrganisation, "Four Ltd"),
		// Owner strings longer than 127 bytes take two-byte lengths in
		// the owner's header.
		{Owner: "c5", Name: strings.Repeat("n", 300), Link: "https://desk/" + strings.Repeat("l", 20000), Member: "m5", Type: TypeHost, Value: "five.example", Source: "s", Line: 6},
		{Owner: "c5", Name: strings.Repeat("n", 300), Link: "https://desk/" + strings.Repeat("l", 20000), Member: "m5", Type: TypeEmail, Value: "x@five.example", Source: "s", Line: 7},
	}
	ix := build(t, rows, Config{TestNetwork: true})
	var want []Row
	for _, r := range rows {
		n, err := NormalizeRow(r, Config{TestNetwork: true})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, n)
	}
	for i := range ix.Len() {
		got := ix.row(int32(i))
		if !slices.Contains(want, got) {
			t.Errorf("row %d reads back as %+v, which was not built", i, got)
		}
	}
	if ix.Len() != len(rows) {
		t.Errorf("%d rows indexed, want %d", ix.Len(), len(rows))
	}
}

// TestTooManySources: an index holds rows of at most maxSources sources;
// a row of one more is refused, naming its source, and the rest are kept.
func TestTooManySources(t *testing.T) {
	rows := make([]Row, maxSources+2)
	for i := range rows {
		rows[i] = Row{Owner: "c", Type: TypeASN, Value: fmt.Sprintf("AS%d", 64500+i%10), Source: fmt.Sprintf("src%d", i), Line: 1}
	}
	rows[len(rows)-1].Source = "src0" // a known source is never one too many
	ix, errs := Build(rows, Config{TestNetwork: true})
	if len(errs) != 1 {
		t.Fatalf("%d rows refused, want 1: %v", len(errs), errs)
	}
	if e := errs[0]; e.Field != "source" || e.Value != fmt.Sprint("src", maxSources) || !errors.Is(e, ErrInvalidValue) {
		t.Errorf("refused %+v, want field source, value src%d, ErrInvalidValue", e, maxSources)
	}
	if got, want := len(ix.sources), maxSources; got != want {
		t.Errorf("index holds %d sources, want %d", got, want)
	}
}

// TestDomainRulesBesideExactHits checks the shortcut of an exact host or
// e-mail hit (irow.alone): it skips the domain rules only when every row
// under the domain is the owner's.
func TestDomainRulesBesideExactHits(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows []Row
		id   string
		want []got
	}{
		{"host alone under its domain", []Row{row("c1", TypeHost, "www.shop.example"), row("c1", TypeHost, "api.shop.example")},
			"host", []got{{"c1", RuleSameHost, Strong, 0}}},
		{"host beside another customer's", []Row{row("c1", TypeHost, "www.shop.example"), row("c2", TypeHost, "api.shop.example")},
			"host", []got{{"c1", RuleSameHost, Strong, 0}, {"c2", RuleSibling, Weak, 0}}},
		{"host under another customer's domain", []Row{row("c1", TypeHost, "www.shop.example"), row("c2", TypeHost, "shop.example")},
			"host", []got{{"c1", RuleSameHost, Strong, 0}, {"c2", RuleUnderCustomerDomain, Weak, 0}}},
		{"host on a shared domain", []Row{row("c1", TypeHost, "www.freehost.example"), row("c2", TypeHost, "api.freehost.example")},
			"host-shared", []got{{"c1", RuleSameHost, Strong, 0}}},
		{"address alone at its domain", []Row{row("c1", TypeEmail, "abuse@shop.example"), row("c1", TypeEmail, "noc@shop.example")},
			"email", []got{{"c1", RuleEmailAddress, Strong, 0}}},
		{"address beside another customer's", []Row{row("c1", TypeEmail, "abuse@shop.example"), row("c2", TypeEmail, "noc@shop.example")},
			"email", []got{{"c1", RuleEmailAddress, Strong, 0}, {"c2", RuleEmailDomain, Weak, 0}}},
		{"two customers' same address", []Row{row("c1", TypeEmail, "abuse@gmail.com"), row("c2", TypeEmail, "abuse@gmail.com")},
			"gmail", []got{{"c1", RuleEmailAddress, Strong, 0}, {"c2", RuleEmailAddress, Strong, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := build(t, tc.rows, testCfg)
			id := map[string]string{"host": "www.shop.example", "host-shared": "www.freehost.example", "email": "abuse@shop.example", "gmail": "abuse@gmail.com"}[tc.id]
			probe := host(id)
			if tc.id == "email" || tc.id == "gmail" {
				probe = email(id)
			}
			ms := ix.MatchIdentifier(probe, Query{Now: now})
			if g := summarise(ms); !slices.Equal(g, tc.want) {
				t.Errorf("got\n%s want %v", dump(ms), tc.want)
			}
		})
	}
}

// TestNestedPrefixContext checks pgroup.nested: the shorter prefixes that
// cover the matching one are context when there are any, and their absence
// is noticed without a walk.
func TestNestedPrefixContext(t *testing.T) {
	ix := build(t, []Row{
		row("c1", TypePrefix, "192.0.2.0/24"),
		row("c2", TypePrefix, "192.0.2.128/25"),
		row("c3", TypePrefix, "198.51.100.0/24"),
	}, Config{TestNetwork: true})
	for _, tc := range []struct {
		addr, owner string
		context     []string
	}{
		{"192.0.2.200/32", "c2", []string{"also inside 192.0.2.0/24 of customer c1"}},
		{"192.0.2.7/32", "c1", nil},
		{"198.51.100.7/32", "c3", nil},
	} {
		ms := ix.MatchIdentifier(addr(tc.addr), Query{Now: now})
		if len(ms) != 1 || ms[0].Owner != tc.owner || ms[0].Rule != RulePrefixCovers || !slices.Equal(ms[0].Context, tc.context) {
			t.Errorf("%s: got\n%s want %s prefix-covers with context %q", tc.addr, dump(ms), tc.owner, tc.context)
		}
	}
}

// TestCollapseKeepsTheBest checks an owner's candidates folding into one
// match whichever comes first: the best stands, the others are context
// lines.
func TestCollapseKeepsTheBest(t *testing.T) {
	late := row("c1", TypeHost, "www.shop.example")
	late.Source, late.ValidFrom = "a.csv", now // after the observation: weak
	ix := build(t, []Row{
		late,
		{Owner: "c1", Name: "Customer c1", Type: TypeHost, Value: "www.shop.example", Source: "b.csv", Line: 2},
		row("c1", TypeHost, "api.shop.example"),
		row("c2", TypeHost, "cdn.shop.example"),
	}, testCfg)
	for _, tc := range []struct {
		id      *headsupv1.Identifier
		want    []got
		context []string
	}{
		// api (customers.csv) comes first; www of a.csv, the same rule
		// from the source first in order, takes its place.
		{host("shop.example"), []got{{"c1", RuleUnderNoticeDomain, Strong, 0}, {"c2", RuleUnderNoticeDomain, Strong, 0}},
			[]string{"also host api.shop.example (under-notice-domain, customers.csv:1)", "also host www.shop.example (under-notice-domain, b.csv:2)"}},
		// The row of a.csv comes first, weakened; b.csv's is strong.
		{observed(host("www.shop.example"), now.Add(-time.Hour), tls), []got{{"c1", RuleSameHost, Strong, 0}, {"c2", RuleSibling, Weak, 0}},
			[]string{"also host www.shop.example (same-host, a.csv:1)"}},
	} {
		ms := ix.MatchIdentifier(tc.id, Query{Now: now})
		if g := summarise(ms); !slices.Equal(g, tc.want) {
			t.Errorf("%v: got\n%s want %v", tc.id, dump(ms), tc.want)
			continue
		}
		if !slices.Equal(ms[0].Context, tc.context) {
			t.Errorf("%v: context %q, want %q", tc.id, ms[0].Context, tc.context)
		}
		if ms[0].Weakened != "" {
			t.Errorf("%v: the standing match is weakened: %s", tc.id, ms[0].Weakened)
		}
	}
}

// TestSharedPrefixSummary: a notice address (probed by address) and a
// notice prefix (probed by prefix) inside a prefix that many customers
// share both get the summary naming that prefix, rebuilt from its
// entries, and the shorter covering prefix as context, in either family.
func TestSharedPrefixSummary(t *testing.T) {
	cfg := Config{TestNetwork: true, BroadPrefixMaxCustomers: 2}
	for _, fam := range []struct{ outer, shared, single, inner string }{
		{"192.0.2.0/24", "192.0.2.128/25", "192.0.2.200/32", "192.0.2.192/26"},
		{"2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::7/128", "2001:db8:1::/64"},
	} {
		rows := append(manyPrefixRows(3, fam.shared), row("c9", TypePrefix, fam.outer))
		ix := build(t, rows, cfg)
		for _, probe := range []string{fam.single, fam.inner} {
			ms := ix.MatchIdentifier(addr(probe), Query{Now: now})
			want := []string{"shared prefix " + fam.shared + ", held by 3 customers", "also inside " + fam.outer + " of customer c9"}
			if len(ms) != 1 || ms[0].Rule != RuleSharedPrefix || ms[0].Customers != 3 || !slices.Equal(ms[0].Context, want) {
				t.Errorf("%s: got\n%s want one shared-prefix summary with context %q", probe, dump(ms), want)
			}
		}
	}
}
