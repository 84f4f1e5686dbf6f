package notice

import (
	"net/netip"
	"strings"
)

// Options carries federation-wide settings that change what is valid.
type Options struct {
	// TestNetwork allows the documentation address ranges (192.0.2.0/24,
	// 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20) and the
	// documentation ASNs (64496-64511, 65536-65551), for demos and tests.
	// The directory sets it (`test_network`).
	TestNetwork bool
}

const (
	minIPv4Bits = 16 // shorter is a whole RIR allocation or more: never one customer
	minIPv6Bits = 29 // likewise: a /29 is an LIR's default allocation
)

type namedPrefix struct {
	p    netip.Prefix
	name string
}

func mustPrefixes(pairs ...string) []namedPrefix {
	out := make([]namedPrefix, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, namedPrefix{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// specialPrefixes are the IANA IPv4 and IPv6 special-purpose address
// registries (RFC 6890 and its updates), plus IPv4 multicast. A prefix that
// overlaps any of them is refused: addresses there identify nobody's
// customer (private, loopback, anycast infrastructure, translation, ...).
// IPv6 outside 2000::/3 is refused separately (see globalUnicast).
// The slice is never written after initialisation.
var specialPrefixes = mustPrefixes(
	"0.0.0.0/8", "this network (RFC 791)",
	"10.0.0.0/8", "private-use (RFC 1918)",
	"100.64.0.0/10", "shared address space (RFC 6598)",
	"127.0.0.0/8", "loopback (RFC 1122)",
	"169.254.0.0/16", "link-local (RFC 3927)",
	"172.16.0.0/12", "private-use (RFC 1918)",
	"192.0.0.0/24", "IETF protocol assignments (RFC 6890)",
	"192.31.196.0/24", "AS112-v4 (RFC 7535)",
	"192.52.193.0/24", "AMT (RFC 7450)",
	"192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)",
	"192.168.0.0/16", "private-use (RFC 1918)",
	"192.175.48.0/24", "direct delegation AS112 service (RFC 7534)",
	"198.18.0.0/15", "benchmarking (RFC 2544)",
	"224.0.0.0/4", "multicast (RFC 5771)",
	"240.0.0.0/4", "reserved (RFC 1112)",
	"255.255.255.255/32", "limited broadcast (RFC 919)",
	"2001::/23", "IETF protocol assignments (RFC 2928)",
	"2002::/16", "6to4 (RFC 3056)",
	"2620:4f:8000::/48", "direct delegation AS112 service (RFC 7534)",
)

// documentationPrefixes are allowed only with Options.TestNetwork.
var documentationPrefixes = mustPrefixes(
	"192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)",
	"198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)",
	"203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)",
	"2001:db8::/32", "documentation (RFC 3849)",
	"3fff::/20", "documentation (RFC 9637)",
)

// globalUnicast is the only IPv6 space IANA allocates to the RIRs (IANA
// IPv6 address space registry); everything else is reserved by the IETF or
// special-purpose (::1, ::, ::ffff:0:0/96, 64:ff9b::/96, 64:ff9b:1::/48,
// 100::/64, 5f00::/16, fc00::/7, fe80::/10, ff00::/8).
var globalUnicast = netip.MustParsePrefix("2000::/3")

// Prefix returns the normal form of an IP address or prefix: an address
// alone becomes a /32 or /128, IPv4-mapped IPv6 is unmapped
// (::ffff:203.0.113.10 -> 203.0.113.10/32), host bits are cleared
// (192.0.2.5/24 -> 192.0.2.0/24). It refuses zones, prefixes shorter than
// IPv4 /16 or IPv6 /29 (so 0/0 and ::/0), and any prefix that overlaps a
// special-purpose range, or a documentation range unless opts.TestNetwork.
func Prefix(s string, opts Options) (netip.Prefix, error) {
	in := s
	bad := func(reason string) (netip.Prefix, error) { return netip.Prefix{}, fieldErr("", in, reason) }
	s = strings.TrimSpace(s)
	if s == "" {
		return bad("is empty")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return bad("is not an IP address or prefix")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return bad("is not an IP address or prefix")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	if err := checkPrefix(p, opts); err != "" {
		return bad(err)
	}
	return p, nil
}

// checkPrefix returns why a masked prefix is refused, or "".
func checkPrefix(p netip.Prefix, opts Options) string {
	if p.Addr().Is4() {
		if p.Bits() < minIPv4Bits {
			return "is shorter than /16; an IPv4 prefix that large names no single customer"
		}
	} else {
		if p.Bits() < minIPv6Bits {
			return "is shorter than /29; an IPv6 prefix that large names no single customer"
		}
		if !globalUnicast.Contains(p.Addr()) {
			return "is outside global unicast space 2000::/3"
		}
	}
	for _, sp := range specialPrefixes {
		if p.Overlaps(sp.p) {
			return "overlaps special-purpose range " + sp.p.String() + ", " + sp.name
		}
	}
	if !opts.TestNetwork {
		for _, sp := range documentationPrefixes {
			if p.Overlaps(sp.p) {
				return "overlaps " + sp.name + " range " + sp.p.String() + ", allowed only on a test network"
			}
		}
	}
	return ""
}

// PrefixString returns the normal text form of p, always with its length:
// "203.0.113.10/32", "2001:db8::/48" (RFC 5952 for IPv6).
func PrefixString(p netip.Prefix) string {
	return p.String()
}

// ipv4Addresses returns how many IPv4 addresses p covers (0 for IPv6).
func ipv4Addresses(p netip.Prefix) uint64 {
	if !p.Addr().Is4() {
		return 0
	}
	return 1 << (32 - p.Bits())
}
