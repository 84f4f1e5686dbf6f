package match

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gaissmai/bart"

	"github.com/headsup-dev/headsup/internal/notice"
)

// Index is the matching index over a set of rows. It is immutable once
// built, so any number of goroutines may match against it while the agent
// builds the next one and swaps it in (an atomic.Pointer[Index]).
type Index struct {
	cfg Config
	d   derived

	rows    []irow   // by row number; sorted by owner, then type, value, source, line
	text    string   // every owner's header and strings and row's value, one after the other
	sources []string // interned Row.Source
	valid   map[int32]time.Time

	hosts    keyTable         // host -> rows
	domains  keyTable         // registrable domain -> host rows under it, except on shared domains
	emails   keyTable         // address -> rows
	mailDoms keyTable         // e-mail domain -> rows, except mailbox providers and own domains
	orgs     keyTable         // organisation key -> rows
	regs     keyTable         // registration -> rows
	asns     multimap[uint32] // ASN -> rows
	members  multimap[string] // member id -> rows (member rows, and one row per owner with Row.Member)
	hashes   multimap[hashKey]
	rawHash  bool // some rows are of type hashed: plain notice values are hashed to meet them

	prefixes *bart.Table[pgroup] // prefix -> its entries in pfx4 or pfx6
	pfx4     []pent              // IPv4 prefix rows, sorted by (address, length, row)
	pfx6     []pent              // IPv6 likewise
}

// ownerInfo is what rows of one owner share.
type ownerInfo struct{ Owner, Name, Link, Member string }

// noOwner is the owner of a summary candidate, which has none.
const noOwner = ^uint32(0)

// owner returns the strings of the owner whose header is at o in text.
//
// An owner is kept in text only, where its rows' values follow it: a
// header of four lengths (uvarints: Owner, Name, Link, Member), then the
// strings. A row names its owner by the header's offset, so that a match
// reads its owner's strings next to its value, with no table of owners
// between them to miss the cache on.
func (ix *Index) owner(o uint32) ownerInfo {
	t := ix.text
	a, i := uvarintAt(t, int(o))
	b, i := uvarintAt(t, i)
	c, i := uvarintAt(t, i)
	d, i := uvarintAt(t, i)
	b += i + a
	c += b
	d += c
	return ownerInfo{t[i : i+a], t[i+a : b], t[b:c], t[c:d]}
}

// uvarintAt reads the uvarint at s[i:] (written by binary.AppendUvarint)
// and returns it and where it ends.
func uvarintAt(s string, i int) (int, int) {
	v, shift := 0, 0
	for {
		b := s[i]
		i++
		v |= int(b&0x7f) << shift
		if b < 0x80 {
			return v, i
		}
		shift += 7
	}
}

// irow is a row inside the index: 16 bytes plus its value, which lives in
// Index.text. One string for all values and owners (the tables' keys are
// read from it too) saves a string header per row and owner, and the
// rounding of each string to an allocation size class.
type irow struct {
	// off is where the value starts in text. Its end is not kept: text
	// holds, in row order, each owner's header and strings and then its
	// rows' values, so a value ends where the next row's value or the
	// next owner's header begins (see valueEnd).
	off uint32
	// owner is where the owner's header is in text (see Index.owner):
	// rows of one owner share it, and it grows with the owner's order.
	owner  uint32
	line   int32
	source uint16 // at most maxSources sources
	typ    typeCode
	// alone is set on a host (e-mail) row when every row under its
	// registrable domain (its e-mail domain) is its owner's, or when no
	// domain rule applies to it: an exact hit on it then needs no domain
	// rule, which saves the probes of every parent name.
	alone bool
}

// maxSources is how many distinct Row.Source values one index holds
// (irow.source is 16 bits); Build refuses rows of further sources.
const maxSources = 1 << 16

// value returns row i's value.
func (ix *Index) value(i int32) string {
	return ix.text[ix.rows[i].off:ix.valueEnd(i)]
}

// valueEnd is where row i's value ends in text: where the next row's value
// begins, or the next owner's header, or text.
func (ix *Index) valueEnd(i int32) uint32 {
	if int(i)+1 == len(ix.rows) {
		return uint32(len(ix.text))
	}
	next := ix.rows[i+1]
	if next.owner != ix.rows[i].owner {
		return next.owner
	}
	return next.off
}

// typeCode is a Type in one byte.
type typeCode uint8

var typeCodes = [...]Type{TypeHost, TypePrefix, TypeASN, TypeEmail, TypeOrganisation, TypeRegistration, TypePhone, TypeHashed, TypeMember}

func codeOf(t Type) typeCode { return typeCode(slices.Index(typeCodes[:], t)) }

func (c typeCode) Type() Type { return typeCodes[c] }

// span locates the n rows of one key of a multimap or keyTable. Most keys
// name one row, which the span holds itself (off is the row); the rows of
// a key with several are in the flat lists at off+1 … off+n, after the
// number of distinct owners among them at off. A key of one row costs no
// list entry and no second memory access.
type span struct{ off, n uint32 }

// multimap maps a key to rows, sorted by owner then row number: one map
// entry per key, plus 4 bytes per row and 4 per key of several rows. The
// keys without pointers (AS numbers, hashes) and the few member ids live
// in multimaps; the other strings in keyTables.
type multimap[K comparable] struct {
	m map[K]span
	lists
}

// get returns k's rows; the row of a key of one row is returned in one
// (so that a hit allocates nothing).
func (mm *multimap[K]) get(k K, one *[1]int32) []int32 {
	return mm.rowsOf(mm.m[k], one)
}

func (mm *multimap[K]) span(k K) span { return mm.m[k] }

// multimapBuilder collects (key, row) pairs; rows must be added in
// ascending row order, which (rows being sorted by owner) keeps each key's
// list sorted by owner.
type multimapBuilder[K comparable] map[K][]int32

func (b multimapBuilder[K]) add(k K, row int32) {
	l := b[k]
	if n := len(l); n > 0 && l[n-1] == row {
		return
	}
	b[k] = append(l, row)
}

func (b multimapBuilder[K]) build(rows []irow) multimap[K] {
	total := 0
	for _, l := range b {
		if len(l) > 1 {
			total += 1 + len(l)
		}
	}
	mm := multimap[K]{m: make(map[K]span, len(b)), lists: make(lists, 0, total)}
	for k, l := range b {
		if len(l) == 1 {
			mm.m[k] = span{off: uint32(l[0]), n: 1}
			continue
		}
		mm.m[k] = span{off: uint32(len(mm.lists)), n: uint32(len(l))}
		mm.lists = append(mm.lists, int32(countOwners(rows, l)))
		mm.lists = append(mm.lists, l...)
	}
	return mm
}

// countOwners counts the distinct owners of rows sorted by owner.
func countOwners(rows []irow, l []int32) int {
	n := 0
	for i, r := range l {
		if i == 0 || rows[r].owner != rows[l[i-1]].owner {
			n++
		}
	}
	return n
}

// hashKey is a keyed hash: which configured key (its number in
// derived.keyIDs) and the HMAC-SHA256.
type hashKey struct {
	key uint16
	sum [sha256.Size]byte
}

// pgroup locates the entries of one prefix in pfx4 or pfx6, and counts
// the distinct owners among them. nested says that a shorter prefix of the
// table covers it. first is the first entry's row: most prefixes are one
// row's, which a match then reads without reading its entry.
type pgroup struct {
	off, n, owners uint32
	first          int32
	nested         bool
}

// pent is one prefix row: the prefix's first address as 128 bits (IPv4 in
// the low 32), its length and the row.
type pent struct {
	hi, lo uint64
	row    int32
	bits   uint8
}

func addrBits(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		b := a.As4()
		return 0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	}
	b := a.As16()
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

// lastBits returns the last address of p as 128 bits.
func lastBits(p netip.Prefix) (hi, lo uint64) {
	hi, lo = addrBits(p.Addr())
	host := p.Addr().BitLen() - p.Bits() // host bits, counted from the low end
	switch {
	case host >= 128:
		return ^uint64(0), ^uint64(0)
	case host >= 64:
		return hi | (uint64(1)<<(host-64) - 1), ^uint64(0)
	case host > 0:
		return hi, lo | (uint64(1)<<host - 1)
	}
	return hi, lo
}

func cmpAddr(ahi, alo, bhi, blo uint64) int {
	if c := cmp.Compare(ahi, bhi); c != 0 {
		return c
	}
	return cmp.Compare(alo, blo)
}

// hashedTypeOf is the `hashed` type under which a row type is hashed, or ""
// for types that are never hashed.
func hashedTypeOf(t Type) string {
	switch t {
	case TypeHost, TypeEmail, TypeOrganisation, TypePhone, TypeRegistration:
		return string(t)
	case TypePrefix:
		return "address"
	}
	return ""
}

// Build normalises rows (NormalizeRow) and indexes them. Bad rows are
// returned as errors and left out; the rest are indexed. The input is not
// modified and not retained. Rows are ordered by owner, so the index, and
// every answer it gives, does not depend on the order of the input.
func Build(rows []Row, cfg Config) (*Index, []*RowError) {
	return buildMasked(rows, cfg, ^uint64(0))
}

// buildMasked is Build with the keyTables' hash mask, which tests narrow to
// force collisions.
func buildMasked(rows []Row, cfg Config, mask uint64) (*Index, []*RowError) {
	cfg = cfg.withDefaults()
	ix := &Index{cfg: cfg, d: cfg.derive(), valid: map[int32]time.Time{}}

	var errs []*RowError
	norm := make([]Row, 0, len(rows))
	total := 0 // bytes of Index.text at most, itself at most math.MaxUint32
	sources := map[string]struct{}{}
	for _, r := range rows {
		n, err := NormalizeRow(r, cfg)
		if err != nil {
			var re *RowError
			if errors.As(err, &re) {
				errs = append(errs, re)
			}
			continue
		}
		size := 4*binary.MaxVarintLen32 + len(n.Owner) + len(n.Name) + len(n.Link) + len(n.Member) + len(n.Value)
		if len(n.Value) > maxValueLen || total+size > math.MaxUint32 {
			errs = append(errs, rowErr(r, "value", r.Value, ErrInvalidValue,
				fmt.Sprintf("normal form of %d bytes: a value is at most %d bytes, and all rows at most 4 GiB", len(n.Value), maxValueLen)))
			continue
		}
		if n.Type == TypeHashed {
			if kid := strings.Split(n.Value, ":")[1]; cfg.HashKeys[kid] == nil {
				errs = append(errs, rowErr(r, "value", r.Value, ErrUnknownKey, "is hashed under key "+strconv.Quote(kid)+", which is not configured (unknown or retired): it can never match"))
				continue
			}
		}
		if _, ok := sources[n.Source]; !ok {
			if len(sources) == maxSources {
				errs = append(errs, rowErr(r, "source", r.Source, ErrInvalidValue, fmt.Sprintf("is one source too many: an index holds rows of at most %d sources", maxSources)))
				continue
			}
			sources[n.Source] = struct{}{}
		}
		total += size
		norm = append(norm, n)
	}
	slices.SortFunc(norm, func(a, b Row) int {
		return cmp.Or(
			cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Link, b.Link), cmp.Compare(a.Member, b.Member),
			cmp.Compare(a.Type, b.Type), cmp.Compare(a.Value, b.Value),
			cmp.Compare(a.Source, b.Source), cmp.Compare(a.Line, b.Line),
			a.ValidFrom.Compare(b.ValidFrom))
	})
	norm = slices.CompactFunc(norm, func(a, b Row) bool { return a == b })

	// Owners and values move into one string, so that the index keeps none
	// of the caller's strings: the rows keep offsets into it, and the
	// tables below read their keys from it.
	var (
		text   strings.Builder
		offs   = make([]uint32, len(norm)) // where each row's value starts
		owners = make([]uint32, len(norm)) // where each row's owner's header starts
		last   ownerInfo
		size   int
	)
	for i, r := range norm {
		if o := (ownerInfo{r.Owner, r.Name, r.Link, r.Member}); i == 0 || o != last {
			for _, f := range [4]string{o.Owner, o.Name, o.Link, o.Member} {
				size += uvarintLen(len(f)) + len(f)
			}
			last = o
		}
		size += len(r.Value)
	}
	text.Grow(size) // exactly: the string keeps the builder's capacity
	for i, r := range norm {
		if o := (ownerInfo{r.Owner, r.Name, r.Link, r.Member}); i == 0 || o != last {
			owners[i] = uint32(text.Len())
			fs := [4]string{o.Owner, o.Name, o.Link, o.Member}
			for _, f := range fs {
				var n [binary.MaxVarintLen64]byte
				text.Write(binary.AppendUvarint(n[:0], uint64(len(f))))
			}
			for _, f := range fs {
				text.WriteString(f)
			}
			last = o
		} else {
			owners[i] = owners[i-1]
		}
		offs[i] = uint32(text.Len())
		text.WriteString(r.Value)
	}
	ix.text = text.String()

	var (
		sourceNo = map[string]uint16{}
		hosts    = multimapBuilder[string]{}
		domains  = multimapBuilder[string]{}
		emails   = multimapBuilder[string]{}
		mailDoms = multimapBuilder[string]{}
		orgs     = multimapBuilder[string]{}
		regs     = multimapBuilder[string]{}
		asns     = multimapBuilder[uint32]{}
		members  = multimapBuilder[string]{}
		hashes   = multimapBuilder[hashKey]{}
		macs     = make([]hashFunc, len(ix.d.keyIDs))
	)
	for i, id := range ix.d.keyIDs {
		macs[i] = newHashFunc(cfg.HashKeys[id])
	}
	ix.rows = make([]irow, len(norm))
	lastMember := ""
	// The registrable (e-mail) domain of each host (e-mail) row under
	// which the domain rules apply, to set irow.alone once the tables are
	// built.
	var hostDoms, mailDomOf []rowKey
	for i, r := range norm {
		row, owner := int32(i), owners[i]
		if i > 0 && owner != owners[i-1] {
			lastMember = ""
		}
		r.Value = ix.text[offs[i] : offs[i]+uint32(len(r.Value))]
		r.Member = ix.owner(owner).Member
		src, ok := sourceNo[r.Source]
		if !ok {
			src = uint16(len(ix.sources))
			sourceNo[r.Source] = src
			ix.sources = append(ix.sources, r.Source)
		}
		ix.rows[i] = irow{off: offs[i], owner: owner, source: src, line: int32(r.Line), typ: codeOf(r.Type), alone: true}
		if !r.ValidFrom.IsZero() {
			ix.valid[row] = r.ValidFrom
		}
		if r.Member != "" && r.Member != lastMember {
			// The owner is a member: entity.member finds it through its
			// first row (one per owner suffices).
			members.add(r.Member, row)
			lastMember = r.Member
		}

		switch r.Type {
		case TypeHost:
			hosts.add(r.Value, row)
			if !ix.d.shared.covers(r.Value) {
				if d, err := notice.RegistrableDomain(r.Value); err == nil {
					domains.add(d, row)
					hostDoms = append(hostDoms, rowKey{row, d})
				}
			}
		case TypePrefix:
			p := netip.MustParsePrefix(r.Value) // NormalizeRow wrote it
			hi, lo := addrBits(p.Addr())
			e := pent{hi: hi, lo: lo, row: row, bits: uint8(p.Bits())}
			if p.Addr().Is4() {
				ix.pfx4 = append(ix.pfx4, e)
			} else {
				ix.pfx6 = append(ix.pfx6, e)
			}
		case TypeASN:
			n, _ := notice.ASN(r.Value)
			asns.add(n, row)
		case TypeEmail:
			emails.add(r.Value, row)
			if dom := r.Value[strings.LastIndexByte(r.Value, '@')+1:]; !ix.d.noMailDom.covers(dom) {
				mailDoms.add(dom, row)
				mailDomOf = append(mailDomOf, rowKey{row, dom})
			}
		case TypeOrganisation:
			orgs.add(orgKey(r.Value), row)
		case TypeRegistration:
			regs.add(r.Value, row)
		case TypeMember:
			members.add(r.Value, row)
		case TypeHashed:
			if k, ok := ix.parseHashed(r.Value); ok {
				hashes.add(k, row)
				ix.rawHash = true
			}
		}
		if ht := hashedTypeOf(r.Type); ht != "" {
			in := notice.HashInput(ht, r.Value)
			for k, mac := range macs {
				hashes.add(hashKey{key: uint16(k), sum: mac(in)}, row)
			}
		}
	}
	ix.hosts = ix.buildTable(hosts, keyValue, mask)
	ix.domains = ix.buildTable(domains, keyDomain, mask)
	ix.emails = ix.buildTable(emails, keyValue, mask)
	ix.mailDoms = ix.buildTable(mailDoms, keyMailDomain, mask)
	ix.orgs = ix.buildTable(orgs, keyOrg, mask)
	ix.regs = ix.buildTable(regs, keyValue, mask)
	ix.asns = asns.build(ix.rows)
	ix.members = members.build(ix.rows)
	ix.hashes = hashes.build(ix.rows)
	for _, k := range hostDoms {
		ix.rows[k.row].alone = ix.domains.owners(ix.span(&ix.domains, k.key)) == 1
	}
	for _, k := range mailDomOf {
		ix.rows[k.row].alone = ix.mailDoms.owners(ix.span(&ix.mailDoms, k.key)) == 1
	}
	ix.prefixes = &bart.Table[pgroup]{}
	ix.pfx4 = ix.buildPrefixes(ix.pfx4, true)
	ix.pfx6 = ix.buildPrefixes(ix.pfx6, false)
	ix.markNested(ix.pfx4, true)
	ix.markNested(ix.pfx6, false)
	return ix, errs
}

// buildTable makes the keyTable of b's keys, of kind k.
func (ix *Index) buildTable(b multimapBuilder[string], k keyKind, mask uint64) keyTable {
	// Domains are probed for every parent of every host that no row
	// holds, and most are nobody's.
	return buildTable(b, ix.rows, k, mask, k == keyDomain, func(r int32, key string) uint32 { return ix.keyAt(k, r, key) })
}

// rowKey is a row and a key it is indexed under.
type rowKey struct {
	row int32
	key string
}

// buildPrefixes sorts one family's entries by (address, length, row) and
// puts each distinct prefix into the table once, with the group of all its
// entries. bart's Insert replaces the value of an existing prefix; grouping
// first means no prefix is ever inserted twice, so two customers with the
// same prefix are both kept (Modify refuses, rather than overwrites, a
// duplicate).
func (ix *Index) buildPrefixes(es []pent, is4 bool) []pent {
	slices.SortFunc(es, func(a, b pent) int {
		return cmp.Or(cmpAddr(a.hi, a.lo, b.hi, b.lo), cmp.Compare(a.bits, b.bits), cmp.Compare(a.row, b.row))
	})
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].hi == es[i].hi && es[j].lo == es[i].lo && es[j].bits == es[i].bits {
			j++
		}
		owners := 1
		for k := i + 1; k < j; k++ {
			// Entries of one prefix are in row order, and rows in owner
			// order.
			if ix.rows[es[k].row].owner != ix.rows[es[k-1].row].owner {
				owners++
			}
		}
		g := pgroup{off: uint32(i), n: uint32(j - i), owners: uint32(owners), first: es[i].row}
		p := pentPrefix(es[i], is4)
		ix.prefixes.Modify(p, func(old pgroup, exists bool) (pgroup, bool) {
			if exists {
				panic("match: prefix " + p.String() + " inserted twice") // grouping above makes this unreachable
			}
			return g, false
		})
		i = j
	}
	return slices.Clone(es) // without append's spare capacity
}

// markNested sets pgroup.nested on the prefixes of es (one family, sorted)
// that a shorter prefix of the table covers.
func (ix *Index) markNested(es []pent, is4 bool) {
	for i, e := range es {
		if e.bits == 0 || i > 0 && es[i-1].hi == e.hi && es[i-1].lo == e.lo && es[i-1].bits == e.bits {
			continue // covers everything, or the same prefix as the last
		}
		p := pentPrefix(e, is4)
		if _, _, ok := ix.prefixes.LookupPrefixLPM(netip.PrefixFrom(p.Addr(), p.Bits()-1).Masked()); ok {
			ix.prefixes.Modify(p, func(g pgroup, _ bool) (pgroup, bool) {
				g.nested = true
				return g, false
			})
		}
	}
}

func pentPrefix(e pent, is4 bool) netip.Prefix {
	if is4 {
		v := uint32(e.lo)
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), int(e.bits))
	}
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(e.hi >> (56 - 8*i))
		b[8+i] = byte(e.lo >> (56 - 8*i))
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), int(e.bits))
}

// Len returns the number of rows indexed.
func (ix *Index) Len() int { return len(ix.rows) }

// row returns row number i as the Row it was built from (normalised).
func (ix *Index) row(i int32) Row { return ix.rowOf(i, ix.owner(ix.rows[i].owner)) }

// rowOf is row(i) when its owner's strings o are at hand.
func (ix *Index) rowOf(i int32, o ownerInfo) Row {
	r := ix.rows[i]
	return Row{
		Owner: o.Owner, Name: o.Name, Link: o.Link, Member: o.Member,
		Type: r.typ.Type(), Value: ix.value(i), ValidFrom: ix.validFrom(i),
		Source: ix.sources[r.source], Line: int(r.line),
	}
}

// validFrom is row i's ValidFrom, zero if it has none.
func (ix *Index) validFrom(i int32) time.Time {
	if len(ix.valid) == 0 {
		return time.Time{}
	}
	return ix.valid[i]
}

// orgKey is an organisation name's matching key: the normal form without
// spaces, so "Epiq-Hosting" and "Epiq Hosting" meet.
func orgKey(name string) string { return strings.ReplaceAll(name, " ", "") }

// appendOrgKey appends orgKey(name) to b.
func appendOrgKey(b []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		if name[i] != ' ' {
			b = append(b, name[i])
		}
	}
	return b
}

// hashFunc computes HMAC-SHA256 under one key.
type hashFunc func(in []byte) [sha256.Size]byte

func newHashFunc(key []byte) hashFunc {
	return func(in []byte) (out [sha256.Size]byte) {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		m.Sum(out[:0])
		return out
	}
}

// parseHashed reads a hashed identifier in normal form; false when its key
// is not configured (retired or unknown keys match nothing) or it is
// malformed.
func (ix *Index) parseHashed(s string) (hashKey, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 4 || parts[0] != "hmac-sha256" || len(parts[3]) != 2*sha256.Size {
		return hashKey{}, false
	}
	k, ok := slices.BinarySearch(ix.d.keyIDs, parts[1])
	if !ok {
		return hashKey{}, false
	}
	hk := hashKey{key: uint16(k)}
	for i := range hk.sum {
		hiN, ok1 := unhex(parts[3][2*i])
		loN, ok2 := unhex(parts[3][2*i+1])
		if !ok1 || !ok2 {
			return hashKey{}, false
		}
		hk.sum[i] = hiN<<4 | loN
	}
	return hk, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// uvarintLen is the length of n as a uvarint.
func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}
