package match

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/headsup-dev/headsup/internal/notice"
)

// Strength says how much a match may be trusted. A strong match may raise
// an alert on its own; a weak one only corroborates another or goes to a
// person for review.
type Strength int

// The strengths, ordered: Strong > Weak.
const (
	Weak   Strength = 1
	Strong Strength = 2
)

// String returns "weak" or "strong".
func (s Strength) String() string {
	switch s {
	case Weak:
		return "weak"
	case Strong:
		return "strong"
	}
	return "none"
}

// Rule names why a notice identifier matched a row. The values are stable:
// they are shown to people and written into alerts.
type Rule string

// The rules of DESIGN.md's matching table, plus the summaries that keep the
// number of matches bounded.
const (
	// RuleSameHost: the row's host equals the notice's (strong).
	RuleSameHost Rule = "same-host"
	// RuleUnderNoticeDomain: the notice names registrable domain D and the
	// row's host is under D (strong).
	RuleUnderNoticeDomain Rule = "under-notice-domain"
	// RuleUnderCustomerDomain: the row's host is D (or another parent of
	// the notice's host below D) and the notice's host is under it (weak: a
	// compromised site or a platform).
	RuleUnderCustomerDomain Rule = "under-customer-domain"
	// RuleSibling: both hosts are under the same registrable domain D
	// (weak).
	RuleSibling Rule = "sibling"
	// RulePrefixCovers: the row's prefix contains the notice's; only the
	// longest covering prefix matches, shorter ones are shown as context
	// (strong).
	RulePrefixCovers Rule = "prefix-covers"
	// RulePrefixWithin: the notice's prefix contains the row's; strong only
	// when the notice's prefix is IPv4 /24 or IPv6 /48 or longer and holds
	// at most Config.BroadPrefixMaxCustomers customers.
	RulePrefixWithin Rule = "prefix-within"
	// RuleBroadPrefix: one weak summary instead of many prefix-within
	// matches: "broad prefix, N customers". Owner is empty.
	RuleBroadPrefix Rule = "broad-prefix"
	// RuleBroadDomain: more than Config.BroadPrefixMaxCustomers customers
	// hold names under the notice host's registrable domain (a platform in
	// all but name): one weak summary instead of per-customer domain
	// matches. Owner is empty. The exact host still matches.
	RuleBroadDomain Rule = "broad-domain"
	// RuleSharedPrefix: the longest covering prefix is held by more than
	// Config.BroadPrefixMaxCustomers customers (a shared hosting address):
	// one weak summary, Owner empty.
	RuleSharedPrefix Rule = "shared-prefix"
	// RuleASNHolder: the notice names the ASN's holder and the row holds it
	// (strong).
	RuleASNHolder Rule = "asn-holder"
	// RuleASNOrigin: the ASN announced the notice entity's address and the
	// row holds it: weak, unless an address of the same entity matches the
	// same owner.
	RuleASNOrigin Rule = "asn-origin"
	// RuleEmailAddress: the same e-mail address (strong).
	RuleEmailAddress Rule = "email-address"
	// RuleEmailDomain: the same e-mail domain, never a mailbox provider's or
	// one of the federation's own (weak).
	RuleEmailDomain Rule = "email-domain"
	// RuleOrganisation: the same organisation key (weak, always).
	RuleOrganisation Rule = "organisation"
	// RuleRegistration: the same registry identifier (strong).
	RuleRegistration Rule = "registration"
	// RuleHashed: equal keyed hashes under a configured key (strong; phone
	// numbers weak).
	RuleHashed Rule = "hashed"
	// RuleMember: the same headsup member id (strong).
	RuleMember Rule = "member"
	// RuleTooMany: one weak summary of the matches left out beyond
	// Config.MaxMatchesPerIdentifier. Owner is empty.
	RuleTooMany Rule = "too-many-matches"
	// RuleOwnSpace: the entity is in this provider's own space
	// ([Config.IsOwn]). Owner is empty.
	RuleOwnSpace Rule = "own-space"
)

// Defaults for the zero fields of a Config.
const (
	DefaultObservationMaxAge       = 7 * 24 * time.Hour
	DefaultBroadPrefixMaxCustomers = 16
	DefaultMaxMatchesPerIdentifier = 64
)

// Config is what matching needs to know about this provider and the
// federation. The zero value is usable: zero numbers take the defaults
// above, and the built-in lists always apply.
type Config struct {
	// TestNetwork allows documentation addresses and ASNs in rows, as the
	// directory's test_network does in notices.
	TestNetwork bool

	// OwnMember, OwnASNs, OwnPrefixes and OwnDomains are this provider's
	// own identity (usually taken from the directory). Own domains are
	// shared domains (exact host only) and never an e-mail domain match;
	// own ASNs never an origin match; [Config.IsOwn] tests entities
	// against all four.
	OwnMember   string
	OwnASNs     []uint32
	OwnPrefixes []netip.Prefix
	OwnDomains  []string

	// MemberDomains and MemberASNs are every member's own domains and
	// ASNs, from the directory: matched on the exact host only, never as
	// an e-mail domain, never as an origin ASN.
	MemberDomains []string
	MemberASNs    []uint32

	// SharedDomains are added to [BuiltinSharedDomains]: platforms where
	// unrelated customers get names under one domain. Only the exact host
	// matches on or under them.
	SharedDomains []string
	// MailboxProviders are added to [BuiltinMailboxProviders]: domains
	// whose addresses belong to unrelated people, never an e-mail domain
	// match.
	MailboxProviders []string
	// TransitASNs never match as origin: a transit network carries
	// everyone's traffic.
	TransitASNs []uint32

	// HashKeys maps a key id to its HMAC key, for the keys that are not
	// retired. Rows are hashed under each key (notice.HashInput) so that
	// they meet notice `hashed` identifiers; a hashed identifier under any
	// other key id matches nothing.
	HashKeys map[string][]byte

	// ObservationMaxAge: an address observed longer ago than this (at
	// Query.Now) matches only weakly. Zero means
	// DefaultObservationMaxAge.
	ObservationMaxAge time.Duration
	// BroadPrefixMaxCustomers is the most customers a notice prefix may
	// contain and still match them strongly, one by one; also the most
	// customers sharing one covering prefix. Zero means
	// DefaultBroadPrefixMaxCustomers.
	BroadPrefixMaxCustomers int
	// MaxMatchesPerIdentifier caps the matches one identifier yields, so
	// that a notice costs O(identifiers × (log n + cap)). Strong matches
	// come first; what is left out is summarised in one RuleTooMany match.
	// Zero means DefaultMaxMatchesPerIdentifier.
	MaxMatchesPerIdentifier int
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.ObservationMaxAge <= 0 {
		c.ObservationMaxAge = DefaultObservationMaxAge
	}
	if c.BroadPrefixMaxCustomers <= 0 {
		c.BroadPrefixMaxCustomers = DefaultBroadPrefixMaxCustomers
	}
	if c.MaxMatchesPerIdentifier <= 0 {
		c.MaxMatchesPerIdentifier = DefaultMaxMatchesPerIdentifier
	}
	return c
}

func (c Config) options() notice.Options { return notice.Options{TestNetwork: c.TestNetwork} }

// BuiltinSharedDomains returns the platforms where unrelated customers get
// names under one domain and that the Public Suffix List (which the
// registrable-domain rule already honours) does not list, or lists only in
// part: blog and site builders, dynamic DNS, tunnels, and path-based hosts
// such as sites.google.com. Entries that the PSL does list are harmless
// here. On or under them only the exact host matches.
func BuiltinSharedDomains() []string {
	return []string{
		// blog, newsletter and site builders
		"wordpress.com", "blogspot.com", "blogger.com", "wixsite.com", "wix.com",
		"squarespace.com", "weebly.com", "tumblr.com", "substack.com",
		"medium.com", "ghost.io", "notion.site", "sites.google.com",
		"webflow.io", "jimdosite.com", "jimdofree.com", "godaddysites.com",
		"strikingly.com", "mystrikingly.com", "yolasite.com", "site123.me",
		"webnode.page", "framer.website", "carrd.co", "wpcomstaging.com",
		"000webhostapp.com", "weeblysite.com", "square.site", "myshopify.com",
		// developer hosting and serverless
		"github.io", "gitlab.io", "netlify.app", "vercel.app", "pages.dev",
		"workers.dev", "herokuapp.com", "appspot.com", "web.app",
		"firebaseapp.com", "azurewebsites.net", "cloudfront.net",
		"googleapis.com", "replit.app", "repl.co", "glitch.me",
		"onrender.com", "fly.dev", "surge.sh",
		// tunnels and dynamic DNS
		"trycloudflare.com", "ngrok.io", "ngrok-free.app", "ngrok.app",
		"duckdns.org", "ddns.net", "no-ip.org", "hopto.org", "zapto.org",
		"sytes.net", "dynu.net", "freedns.afraid.org", "serveo.net",
	}
}

// BuiltinMailboxProviders returns domains whose addresses belong to
// unrelated people; two customers at gmail.com have nothing in common.
func BuiltinMailboxProviders() []string {
	return []string{
		"gmail.com", "googlemail.com", "outlook.com", "hotmail.com",
		"hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it", "live.com",
		"live.co.uk", "msn.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr",
		"yahoo.de", "yahoo.co.jp", "ymail.com", "rocketmail.com",
		"icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
		"protonmail.com", "protonmail.ch", "pm.me", "tutanota.com",
		"tuta.io", "tutamail.com", "gmx.de", "gmx.net", "gmx.com", "gmx.at",
		"web.de", "t-online.de", "freenet.de", "posteo.de", "mailbox.org",
		"yandex.ru", "yandex.com", "ya.ru", "mail.ru", "bk.ru", "inbox.ru",
		"list.ru", "rambler.ru", "qq.com", "foxmail.com", "163.com",
		"126.com", "yeah.net", "sina.com", "sohu.com", "aliyun.com",
		"zoho.com", "zohomail.com", "fastmail.com", "fastmail.fm", "hey.com",
		"mail.com", "email.com", "orange.fr", "free.fr", "laposte.net",
		"sfr.fr", "libero.it", "virgilio.it", "seznam.cz", "wp.pl", "o2.pl",
		"interia.pl", "onet.pl", "naver.com", "daum.net", "hanmail.net",
		"rediffmail.com", "duck.com", "hushmail.com", "disroot.org",
		"riseup.net", "skiff.com", "att.net", "comcast.net", "verizon.net",
		"btinternet.com", "bigpond.com", "shaw.ca", "rogers.com",
		"uol.com.br", "bol.com.br", "terra.com.br",
	}
}

// domainSet is a set of host names in normal form; a name is in it when it
// or one of its parents is listed.
type domainSet map[string]struct{}

func newDomainSet(lists ...[]string) domainSet {
	s := domainSet{}
	for _, l := range lists {
		for _, d := range l {
			if h, err := notice.Host(d); err == nil {
				s[h] = struct{}{}
			}
		}
	}
	return s
}

// covers reports whether host or one of its parents is in the set. It costs
// one map probe per label.
func (s domainSet) covers(host string) bool {
	if len(s) == 0 {
		return false
	}
	for h := host; ; {
		if _, ok := s[h]; ok {
			return true
		}
		i := strings.IndexByte(h, '.')
		if i < 0 {
			return false
		}
		h = h[i+1:]
	}
}

// asnSet is a set of AS numbers.
type asnSet map[uint32]struct{}

func newASNSet(lists ...[]uint32) asnSet {
	s := asnSet{}
	for _, l := range lists {
		for _, n := range l {
			s[n] = struct{}{}
		}
	}
	return s
}

// derived holds the sets a Config implies, computed once per Build.
type derived struct {
	shared    domainSet // exact host only on or under these
	noMailDom domainSet // never an e-mail domain match
	noOrigin  asnSet    // never an origin ASN match
	keyIDs    []string  // sorted hash key ids; index = key number
}

func (c Config) derive() derived {
	d := derived{
		shared:    newDomainSet(BuiltinSharedDomains(), c.SharedDomains, c.OwnDomains, c.MemberDomains),
		noMailDom: newDomainSet(BuiltinMailboxProviders(), c.MailboxProviders, c.OwnDomains, c.MemberDomains),
		noOrigin:  newASNSet(c.OwnASNs, c.MemberASNs, c.TransitASNs),
	}
	for id := range c.HashKeys {
		d.keyIDs = append(d.keyIDs, id)
	}
	slices.Sort(d.keyIDs)
	return d
}

// under reports whether host is strictly under domain (both in normal
// form): "a.b.example" is under "b.example", "b.example" is not.
func under(host, domain string) bool {
	return len(host) > len(domain) && host[len(host)-len(domain)-1] == '.' && strings.HasSuffix(host, domain)
}
