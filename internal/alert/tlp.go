package alert

import (
	"strings"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// TLP 2.0 markings as they appear in alerts, from least to most
// restricted. Render writes them with the "TLP:" prefix.
const (
	TLPClear       = "CLEAR"
	TLPGreen       = "GREEN"
	TLPAmber       = "AMBER"
	TLPAmberStrict = "AMBER+STRICT"
	TLPRed         = "RED"
)

// TLPRank orders markings: CLEAR 1, GREEN 2, AMBER 3, AMBER+STRICT 4, RED
// 5. It accepts an optional "TLP:" prefix and any case; ok is false for
// anything else, including the empty string.
func TLPRank(tlp string) (rank int, ok bool) {
	s := strings.ToUpper(strings.TrimSpace(tlp))
	s = strings.TrimPrefix(s, "TLP:")
	switch s {
	case TLPClear:
		return 1, true
	case TLPGreen:
		return 2, true
	case TLPAmber:
		return 3, true
	case TLPAmberStrict:
		return 4, true
	case TLPRed:
		return 5, true
	}
	return 0, false
}

// Forwardable reports whether material under tlp may be passed to the
// customer the alert is about, under TLP 2.0:
//
//   - CLEAR and GREEN: yes.
//   - AMBER: yes. TLP:AMBER may be shared with the recipient's clients on a
//     need-to-know basis, and the customer the alert concerns is the client
//     who needs to know; nobody else is. Render says so.
//   - AMBER+STRICT (the recipient's organisation only), RED (the named
//     recipients only), an empty or unknown marking: no.
func Forwardable(tlp string) bool {
	r, ok := TLPRank(tlp)
	return ok && r <= 3
}

// forwardingRule is Forwardable in words, for Render.
func forwardingRule(tlp string) string {
	switch r, _ := TLPRank(tlp); r {
	case 1:
		return "may be forwarded to the customer"
	case 2:
		return "may be forwarded to the customer, not published"
	case 3:
		return "may be forwarded to this customer only (need to know)"
	case 4:
		return "must not leave your organisation"
	case 5:
		return "must not be forwarded (named recipients only)"
	}
	return "unmarked: must not be forwarded"
}

// MaxTLP returns the most restricted marking among everything e carries:
// e.TLP, the root, every link's notice and every piece of evidence. An
// unknown marking counts as RED, so a typo never widens who may see an
// event. It returns "" when nothing is marked (integrity and
// directory_stale alerts carry no notice content).
func MaxTLP(e *Event) string {
	best, name := 0, ""
	see := func(tlp string) {
		if tlp == "" {
			return
		}
		r, ok := TLPRank(tlp)
		if !ok {
			r = 5
		}
		if r > best {
			best = r
		}
	}
	see(e.TLP)
	if e.Root != nil {
		see(e.Root.TLP)
	}
	for _, p := range e.Paths {
		for _, l := range p.Links {
			see(l.Notice.TLP)
		}
	}
	for _, ev := range e.Evidence {
		see(ev.TLP)
	}
	if e.Withdrawn != nil && e.Withdrawn.By != nil {
		see(e.Withdrawn.By.TLP)
	}
	switch best {
	case 1:
		name = TLPClear
	case 2:
		name = TLPGreen
	case 3:
		name = TLPAmber
	case 4:
		name = TLPAmberStrict
	case 5:
		name = TLPRed
	}
	return name
}

// TLPFromProto converts a notice's marking; "" for TLP_UNSPECIFIED.
func TLPFromProto(t headsupv1.Tlp) string {
	switch t {
	case headsupv1.Tlp_TLP_CLEAR:
		return TLPClear
	case headsupv1.Tlp_TLP_GREEN:
		return TLPGreen
	case headsupv1.Tlp_TLP_AMBER:
		return TLPAmber
	case headsupv1.Tlp_TLP_AMBER_STRICT:
		return TLPAmberStrict
	case headsupv1.Tlp_TLP_RED:
		return TLPRed
	}
	return ""
}

// KindFromProto converts a notice kind; "" for NOTICE_KIND_UNSPECIFIED.
func KindFromProto(k headsupv1.NoticeKind) string {
	switch k {
	case headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED:
		return KindCustomerSuspended
	case headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED:
		return KindCustomerSighted
	case headsupv1.NoticeKind_NOTICE_KIND_RESELLER_IDENTIFIED:
		return KindResellerIdentified
	case headsupv1.NoticeKind_NOTICE_KIND_RETRACTION:
		return KindRetraction
	}
	return ""
}

// LegalBasisKindFromProto converts a legal basis kind; "" for
// LEGAL_BASIS_KIND_UNSPECIFIED.
func LegalBasisKindFromProto(k headsupv1.LegalBasisKind) string {
	switch k {
	case headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE:
		return LegalTermsOfService
	case headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_COURT_ORDER:
		return LegalCourtOrder
	case headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_AUTHORITY_REQUEST:
		return LegalAuthorityRequest
	}
	return ""
}

// MethodFromProto converts an observation method; "" for unspecified.
func MethodFromProto(m headsupv1.ObservationMethod) string {
	switch m {
	case headsupv1.ObservationMethod_OBSERVATION_METHOD_DNS:
		return "dns"
	case headsupv1.ObservationMethod_OBSERVATION_METHOD_HTTP:
		return "http"
	case headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS:
		return "tls"
	case headsupv1.ObservationMethod_OBSERVATION_METHOD_BGP:
		return "bgp"
	}
	return ""
}
