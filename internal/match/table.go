package match

import (
	"hash/maphash"
	"strings"
)

// keyTable maps string keys to rows, as a multimap[string] does, but keeps
// no keys: a slot is 12 bytes, a tag of the key's hash, a reference to its
// rows and where the key is in Index.text (in one of its rows' values),
// and a probe confirms a matching tag against the text there. A
// map[string]span slot is 24 bytes, rounded up to a power of two slots,
// and full of pointers that every collection scans; this table takes
// about half of that and no pointers. A miss usually costs one cache line;
// a hit reads the key's text without waiting for its row, which the match
// reads next.
//
// It is open addressing with linear probing, at most two thirds full, the
// home slot chosen by multiplying (so the size is not rounded up).
type keyTable struct {
	slots []slot
	lists // the rows of keys of several rows: n, owners, rows…
	kind  keyKind
	seed  maphash.Seed
	// mask is applied to every hash: all bits in an index, fewer in tests
	// to force collisions (0 puts every key in one probe sequence with
	// one tag but for its length).
	mask uint64
	// filter, if the table has one, is a Bloom filter of its keys' hashes
	// (two bits of one word a key, 16 bits a key), for tables probed mostly
	// for keys they lack: it is about a ninth of the slots' size, so it stays
	// in cache where the slots would not.
	filter []uint64
}

// slot is one key of a keyTable.
type slot struct {
	// tag is the high half of the key's hash with, in its low byte, the
	// key's length (255 for 255 bytes or more): a key shorter than 255
	// bytes is text[key:key+len] of the slot whose tag matches.
	tag uint32
	// ref is 0 in an empty slot; row+1 for a key of one row; listRef | i
	// for a key of several, whose row count is lists[i] and whose span
	// starts at i+1 (owners, then rows).
	ref uint32
	key uint32 // where the key starts in Index.text (organisations: the value)
}

const listRef = 1 << 31

// keyKind says how the key of a row of a keyTable is read from the row.
type keyKind uint8

const (
	keyValue      keyKind = iota // the value: hosts, e-mail addresses, registrations
	keyOrg                       // orgKey of the value
	keyMailDomain                // the value's domain, after its last '@'
	keyDomain                    // the value's suffix as long as the key: registrable domains
)

// lists holds the rows of the keys of several rows, each after the number
// of distinct owners among them (which a span's off names).
type lists []int32

// rowsOf returns s's rows; the row of a key of one row is returned in one
// (so that a hit allocates nothing).
func (l lists) rowsOf(s span, one *[1]int32) []int32 {
	switch s.n {
	case 0:
		return nil
	case 1:
		one[0] = int32(s.off)
		return one[:]
	}
	return l[s.off+1 : s.off+1+s.n]
}

// owners counts the distinct owners of s's rows.
func (l lists) owners(s span) int {
	if s.n <= 1 {
		return int(s.n)
	}
	return int(l[s.off])
}

// first is s's first row (s not empty).
func (l lists) first(s span) int32 {
	if s.n == 1 {
		return int32(s.off)
	}
	return l[s.off+1]
}

func (t *keyTable) hash(key string) uint64 { return maphash.String(t.seed, key) & t.mask }

func (t *keyTable) hashBytes(key []byte) uint64 { return maphash.Bytes(t.seed, key) & t.mask }

func tagOf(h uint64, n int) uint32 { return uint32(h>>32)&^0xff | uint32(min(n, 255)) }

// home is the first slot of hash h's probe sequence.
func (t *keyTable) home(h uint64) int { return int(uint64(uint32(h)) * uint64(len(t.slots)) >> 32) }

// filterBits are the word and the two bits of hash h in a filter of n
// words.
func filterBits(h uint64, n int) (int, uint64) {
	return int(uint64(uint32(h)) * uint64(n) >> 32), 1<<(h>>32&63) | 1<<(h>>38&63)
}

// mayHave reports whether t may hold the key of hash h: false only if it
// does not.
func (t *keyTable) mayHave(h uint64) bool {
	if t.filter == nil {
		return true
	}
	w, bits := filterBits(h, len(t.filter))
	return t.filter[w]&bits == bits
}

// find returns the span of the key of hash h and length n, for which is
// reports whether a slot whose tag matches is the key's.
func (t *keyTable) find(h uint64, n int, is func(s slot) bool) span {
	if len(t.slots) == 0 {
		return span{}
	}
	tag := tagOf(h, n)
	for i := t.home(h); ; {
		s := t.slots[i]
		if s.ref == 0 {
			return span{}
		}
		if s.tag == tag && is(s) {
			return t.spanOf(s.ref)
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

func (t *keyTable) spanOf(ref uint32) span {
	if ref&listRef == 0 {
		return span{off: ref - 1, n: 1}
	}
	i := ref &^ listRef
	return span{off: i + 1, n: uint32(t.lists[i])}
}

// buildTable makes the table of b's keys, whose rows (sorted by owner) are
// rows; keyAt returns where a key is in the text of its first row.
func buildTable(b multimapBuilder[string], rows []irow, kind keyKind, mask uint64, filter bool, keyAt func(first int32, key string) uint32) keyTable {
	t := keyTable{kind: kind, seed: maphash.MakeSeed(), mask: mask}
	if len(b) == 0 {
		return t
	}
	if filter {
		t.filter = make([]uint64, len(b)/4+1)
	}
	total := 0
	for _, l := range b {
		if len(l) > 1 {
			total += 2 + len(l)
		}
	}
	t.slots = make([]slot, len(b)+len(b)/2+1) // at most two thirds full
	t.lists = make(lists, 0, total)
	for k, l := range b {
		ref := uint32(l[0]) + 1
		if len(l) > 1 {
			ref = listRef | uint32(len(t.lists))
			t.lists = append(t.lists, int32(len(l)), int32(countOwners(rows, l)))
			t.lists = append(t.lists, l...)
		}
		h := t.hash(k)
		i := t.home(h)
		for t.slots[i].ref != 0 {
			if i++; i == len(t.slots) {
				i = 0
			}
		}
		t.slots[i] = slot{tag: tagOf(h, len(k)), ref: ref, key: keyAt(l[0], k)}
		if filter {
			w, bits := filterBits(h, len(t.filter))
			t.filter[w] |= bits
		}
	}
	return t
}

// keyAt is where key, of row r in a table of kind k, starts in text.
func (ix *Index) keyAt(k keyKind, r int32, key string) uint32 {
	switch k {
	case keyMailDomain, keyDomain:
		return ix.valueEnd(r) - uint32(len(key)) // a suffix of the value
	}
	return ix.rows[r].off
}

// isKey reports whether key is that of slot s of t, whose tag matches.
func (ix *Index) isKey(t *keyTable, s slot, key string) bool {
	if t.kind != keyOrg && len(key) < 255 {
		// The tag matched: the slot's key is as long as key.
		return uint64(s.key)+uint64(len(key)) <= uint64(len(ix.text)) && ix.text[s.key:s.key+uint32(len(key))] == key
	}
	r := t.first(t.spanOf(s.ref))
	v := ix.value(r)
	switch t.kind {
	case keyOrg:
		return orgKeyIs(v, key)
	case keyMailDomain:
		return v[strings.LastIndexByte(v, '@')+1:] == key
	case keyDomain:
		return false // no domain is 255 bytes long
	}
	return v == key
}

// isKeyBytes is isKey(t, s, string(key)) without allocating.
func (ix *Index) isKeyBytes(t *keyTable, s slot, key []byte) bool {
	if t.kind == keyOrg {
		return orgKeyIs(ix.value(t.first(t.spanOf(s.ref))), key)
	}
	if len(key) < 255 {
		return uint64(s.key)+uint64(len(key)) <= uint64(len(ix.text)) && ix.text[s.key:s.key+uint32(len(key))] == string(key)
	}
	return ix.value(t.first(t.spanOf(s.ref))) == string(key)
}

// orgKeyIs reports whether orgKey(name) == key, without building it.
func orgKeyIs[S string | []byte](name string, key S) bool {
	j := 0
	for i := 0; i < len(name); i++ {
		if name[i] == ' ' {
			continue
		}
		if j == len(key) || name[i] != key[j] {
			return false
		}
		j++
	}
	return j == len(key)
}

// span returns the span of key in t.
func (ix *Index) span(t *keyTable, key string) span { return ix.spanHashed(t, t.hash(key), key) }

// spanHashed is span(t, key) when key's hash h is at hand.
func (ix *Index) spanHashed(t *keyTable, h uint64, key string) span {
	return t.find(h, len(key), func(s slot) bool { return ix.isKey(t, s, key) })
}

// spanBytes is span(t, string(key)) without allocating.
func (ix *Index) spanBytes(t *keyTable, key []byte) span {
	return t.find(t.hashBytes(key), len(key), func(s slot) bool { return ix.isKeyBytes(t, s, key) })
}

// get returns key's rows in t, using one as lists.rowsOf does.
func (ix *Index) get(t *keyTable, key string, one *[1]int32) []int32 {
	return t.rowsOf(ix.span(t, key), one)
}
