package notice

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

const (
	maxOrgInput   = 1024
	maxOrgName    = 256
	minOrgLetters = 4
)

// legalForms are company-law suffixes, written as they look after folding
// and dropping punctuation ("S.A. de C.V." -> "sa de cv", "GmbH & Co. KG" ->
// "gmbh co kg"). They are dropped only as trailing tokens, repeatedly, and
// never the first token, so "Limited Edition Ltd" keeps "limited edition".
var legalForms = phraseSet(
	// English-speaking jurisdictions
	"ltd", "limited", "llc", "llp", "lp", "inc", "incorporated", "corp",
	"corporation", "co", "company", "plc", "pty", "pte", "pvt", "private",
	"limited liability", "limited partnership", "public limited",
	// German, Austrian, Swiss
	"gmbh", "ag", "kg", "kgaa", "ug", "ohg", "gbr", "ev", "eg", "mbh",
	"haftungsbeschränkt", "gesellschaft mit beschränkter haftung",
	// French, Belgian, Luxembourgish
	"sa", "sas", "sasu", "sarl", "eurl", "snc", "scs", "sca", "sprl", "srl",
	"societe anonyme", "société anonyme",
	// Dutch
	"bv", "nv", "vof", "bvba", "cv",
	// Italian, Spanish, Portuguese, Latin American
	"spa", "sl", "slu", "sau", "lda", "ltda", "sa de cv", "s de rl",
	"s de rl de cv", "sapi de cv", "eireli", "me", "epp",
	// Nordic, Baltic
	"oy", "oyj", "ab", "publ", "as", "asa", "aps", "hf", "ehf", "ou", "uab",
	"sia",
	// Central and Eastern European
	"sro", "as", "doo", "dd", "kft", "zrt", "nyrt", "bt", "sp z oo",
	"spzoo", "sa", "ooo", "zao", "oao", "pao", "ao", "jsc", "ojsc", "pjsc",
	"cjsc", "tov", "ad", "ead", "eood", "ood",
	// European and other
	"se", "scop", "kk", "gk", "yk", "bhd", "sdn bhd", "tbk",
)

// genericWords are words that name a trade, not a company. A name made only
// of these (and legal forms) would match every other hosting company.
var genericWords = phraseSet(
	"hosting", "host", "hosts", "hoster", "cloud", "clouds", "network",
	"networks", "net", "server", "servers", "internet", "data", "datacenter",
	"datacentre", "datacenters", "datacentres", "center", "centre",
	"service", "services", "solution", "solutions", "technology",
	"technologies", "tech", "telecom", "telecoms", "telecommunication",
	"telecommunications", "communication", "communications", "online",
	"digital", "web", "systems", "system", "group", "global", "it", "ict",
	"isp", "media", "infrastructure", "international", "vps", "dedicated",
	"colocation", "colo", "provider", "providers", "connect", "connectivity",
	"computing", "broadband", "fiber", "fibre", "wireless", "mobile",
	"security", "secure", "domain", "domains", "ddos", "protection", "cdn",
	"the", "and", "of", "de", "la", "le", "der", "die", "das", "und", "et",
	"y", "e", "a",
)

// phraseSet maps each phrase (words joined by single spaces) to its word
// count. The map is never written after initialisation.
func phraseSet(phrases ...string) map[string]int {
	m := make(map[string]int, len(phrases))
	for _, p := range phrases {
		m[p] = len(strings.Fields(p))
	}
	return m
}

// Organisation returns the normal form of an organisation name and its
// matching key. The name is NFKC, case-folded, with punctuation and symbols
// dropped (so "S.A." becomes "sa", "AT&T" becomes "att"), white space
// collapsed to single spaces, and trailing legal forms dropped repeatedly
// ("Epiq Hosting Ltd." -> "epiq hosting"; "Foo GmbH & Co. KG" -> "foo"). The
// key is the name without spaces, so "Epiq-Hosting" and "Epiq Hosting" meet.
// It refuses names with fewer than 4 letters and names made only of generic
// words ("Cloud Hosting Services Ltd").
func Organisation(s string) (name, key string, err error) {
	if name, err = organisationName(s); err != nil {
		return "", "", err
	}
	return name, strings.ReplaceAll(name, " ", ""), nil
}

// organisationName is [Organisation] without the key, which Validate does
// not need.
func organisationName(s string) (string, error) {
	in := s
	bad := func(reason string) (string, error) { return "", fieldErr("", in, reason) }
	if !utf8.ValidString(s) {
		return bad("is not valid UTF-8")
	}
	if len(s) > maxOrgInput {
		return bad("is too long for an organisation name")
	}
	name := foldOrganisation(s)
	// The normal form must be a fixed point (folding can, in rare scripts,
	// produce text that folds further). When s was already folded (every
	// notice verified), foldOrganisation(name) is the call just made.
	if name != s && foldOrganisation(name) != name {
		return bad("has no stable normal form")
	}
	letters := 0
	for _, r := range name {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	switch {
	case letters < minOrgLetters:
		return bad("has fewer than 4 letters once legal forms are dropped")
	case len(name) > maxOrgName:
		return bad("is longer than 256 bytes")
	}
	generic := true
	for w := range strings.FieldsSeq(name) {
		if genericWords[w] == 0 && legalForms[w] == 0 {
			generic = false
			break
		}
	}
	if generic {
		return bad("has only generic words; it would match unrelated companies")
	}
	return name, nil
}

// foldOrganisation is one pass of the organisation normaliser.
func foldOrganisation(s string) string {
	if isASCII(s) {
		// What NFKC, case folding and NFKC again do to ASCII (the common
		// case, and every name in normal form that is ASCII), without the
		// transformers' copies; TestFoldASCII and FuzzFoldASCII check.
		s = strings.ToLower(s)
	} else {
		s = foldText(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.IsNumber(r), unicode.IsMark(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		case unicode.IsSpace(r):
			space = true
		default:
			// Punctuation, symbols, controls and format characters are
			// dropped without a break: "S.A." is "sa", "Epiq-Hosting" is
			// "epiqhosting" (the key is the same either way).
		}
	}
	// The builder holds words joined by single spaces already (no letter,
	// number or mark is white space), so only a dropped legal form needs
	// them joined again.
	words := strings.Fields(b.String())
	all := len(words)
	for {
		n := trailingLegalForm(words)
		if n == 0 {
			break
		}
		words = words[:len(words)-n]
	}
	if len(words) == all {
		return b.String()
	}
	return strings.Join(words, " ")
}

// foldText is NFKC, then Unicode case folding, then NFKC again (folding
// can leave text that is not NFKC). A cases.Caser keeps state and is not
// safe for concurrent use, so each call builds its own.
func foldText(s string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s)))
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// trailingLegalForm returns the word count of the longest legal form that
// ends words and leaves at least one word before it, or 0.
func trailingLegalForm(words []string) int {
	best := 0
	for n := 1; n < len(words) && n <= 6; n++ {
		if legalForms[strings.Join(words[len(words)-n:], " ")] == n {
			best = n
		}
	}
	return best
}
