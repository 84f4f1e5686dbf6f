package alert

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Render writes e as compact text for a person at an abuse desk: what
// happened and to whom first, then who says so and why, then each path
// link by link, the evidence with what may be forwarded, and the
// severity. The output depends only on e (ages come from the event, not
// the clock), ends with a newline, and is what `headsup demo` and the text
// sink print.
//
// Every string from a notice or a customer list is cleaned of control and
// bidirectional-override characters first: an issuer must not be able to
// move the cursor or reorder text on the desk's terminal.
func Render(e *Event) string {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-9s %s\n", label, fmt.Sprintf(format, args...))
	}
	heading := func(label string) { fmt.Fprintf(&b, "%s\n", label) }
	fmt.Fprintf(&b, "%s · %s · %s · revision %d · %s\n",
		strings.ToUpper(clean(e.Severity)), clean(e.Event), typeName(e.Type), e.Revision, stamp(e.At))
	fmt.Fprintf(&b, "%s\n", clean(e.Headline))

	if c := e.Customer; c != nil {
		s := fmt.Sprintf("%s (id %s", clean(c.Name), clean(c.ID))
		if c.Member != "" {
			s += ", member " + clean(c.Member)
		}
		s += ")"
		if c.Link != "" {
			s += " " + clean(c.Link)
		}
		line("customer", "%s", s)
	}
	if s := e.Subject; s != nil {
		ids := make([]string, len(s.Identifiers))
		for i, id := range s.Identifiers {
			ids[i] = clean(id)
		}
		line("subject", "%s: %s", clean(s.Label), strings.Join(ids, ", "))
	}
	if r := e.Root; r != nil {
		iss := clean(r.Issuer.ID)
		if r.Issuer.Name != "" {
			iss = fmt.Sprintf("%s (%s)", clean(r.Issuer.Name), iss)
		}
		if r.Issuer.AbuseContact != "" {
			iss += ", abuse contact " + clean(r.Issuer.AbuseContact)
		}
		line("issuer", "%s", iss)
		action := clean(r.Action)
		if action == "" {
			action = ActionSuspended
		}
		s := fmt.Sprintf("%s, notice %s%s", action, clean(r.ID), provenance(r.Sequence, r.KID, r.SignedBy, r.Verified))
		if r.TLP != "" {
			s += ", TLP:" + clean(r.TLP)
		}
		if r.IncludedIn > 0 {
			s += fmt.Sprintf(", included in checkpoint %d", r.IncludedIn)
		}
		line("action", "%s", s)
		if r.Reason != "" {
			v := "verified"
			if !r.ReasonVerified {
				v = "NOT verified: the suspension is not visible to you"
			}
			line("reason", "%s (%s)", clean(r.Reason), v)
		}
		if lb := r.LegalBasis; lb != nil {
			s := strings.ReplaceAll(clean(lb.Kind), "_", " ")
			if lb.Reference != "" {
				s += ": " + clean(lb.Reference)
			}
			if lb.URL != "" {
				s += " " + clean(lb.URL)
			}
			line("legal", "%s", s)
		}
		if r.Summary != "" {
			line("summary", "%s", clean(r.Summary))
		}
		var when []string
		if r.IssuedAt != nil {
			when = append(when, "issued "+stamp(*r.IssuedAt))
		}
		if r.EffectiveAt != nil {
			when = append(when, "effective "+stamp(*r.EffectiveAt))
		}
		if r.ExpiresAt != nil {
			when = append(when, "expires "+stamp(*r.ExpiresAt))
		}
		if len(when) > 0 {
			line("dates", "%s", strings.Join(when, ", "))
		}
	}

	if len(e.Paths) > 0 {
		issuers := "issuer"
		if e.Corroboration != 1 {
			issuers = "issuers"
		}
		line("paths", "%d, best %s, %d corroborating %s", len(e.Paths), clean(e.Strength), e.Corroboration, issuers)
		for i, p := range e.Paths {
			hops := "hops"
			if p.Hops == 1 {
				hops = "hop"
			}
			fmt.Fprintf(&b, "  path %d: %s, %d %s\n", i+1, clean(p.Strength), p.Hops, hops)
			for j, l := range p.Links {
				fmt.Fprintf(&b, "    %d. %s\n", j+1, renderLink(l))
				for _, rc := range l.Rechecks {
					fmt.Fprintf(&b, "       re-checked %s at %s: %s\n", clean(rc.Host), clean(rc.Address), clean(rc.Summary))
				}
			}
		}
	}

	if len(e.Evidence) > 0 {
		heading("evidence")
		for _, ev := range e.Evidence {
			var parts []string
			if ev.Description != "" {
				parts = append(parts, fmt.Sprintf("%q", clean(ev.Description)))
			}
			if ev.URL != "" {
				parts = append(parts, clean(ev.URL))
			}
			if ev.SHA256 != "" {
				parts = append(parts, "sha256 "+clean(ev.SHA256))
			}
			if ev.Issuer != "" {
				parts = append(parts, "from "+clean(ev.Issuer))
			}
			fmt.Fprintf(&b, "  - %s; TLP:%s, %s\n", strings.Join(parts, " "), clean(ev.TLP), forwardingRule(ev.TLP))
		}
	}

	if w := e.Withdrawn; w != nil {
		s := strings.ReplaceAll(clean(w.Reason), "_", " ")
		if w.By != nil {
			s += " by " + linkNotice(*w.By)
		}
		if w.Detail != "" {
			s += ": " + clean(w.Detail)
		}
		line("withdrawn", "%s", s)
	}
	if in := e.Integrity; in != nil && in.Log != nil {
		s := strings.ReplaceAll(clean(in.Log.Kind), "_", " ")
		if in.Log.Size > 0 {
			s += fmt.Sprintf(", checkpoint size %d", in.Log.Size)
		}
		if in.Sequence > 0 {
			s += fmt.Sprintf(", sequence %d", in.Sequence)
		}
		if in.Log.Since != nil {
			s += ", last quorum " + stamp(*in.Log.Since)
		}
		line("log", "%s", s)
		line("error", "%s", clean(in.Error))
		if in.Log.ProofFile != "" {
			line("proof", "%s", clean(in.Log.ProofFile))
		}
	} else if in != nil {
		s := fmt.Sprintf("sequence %d, issuer %s, kid %s", in.Sequence, clean(in.Issuer), clean(in.KID))
		if in.NoticeID != "" {
			s += ", notice " + clean(in.NoticeID)
		}
		line("envelope", "%s", s)
		line("error", "%s", clean(in.Error))
	}

	if d := e.Digest; d != nil {
		line("digest", "%d alerts from %s to %s, %d not sent one by one, by sink %s", d.Count, stamp(d.WindowStart), stamp(d.WindowEnd), d.Withheld, clean(d.Sink))
		if in := d.Integrity; in != nil {
			line("envelope", "issuer %s, kid %s: %d failures, first %s, last %s", clean(in.Issuer), clean(in.KID), in.Count, stamp(in.First), stamp(in.Last))
			line("error", "%s", clean(in.Error))
		}
		// A digest may stand for hundreds of alerts: each is named by the
		// first 12 hex digits of its id (enough for `headsup alerts show`),
		// a few to a line.
		for i := 0; i < len(d.AlertIDs); i += renderDigestIDs {
			var ids []string
			for _, id := range d.AlertIDs[i:min(len(d.AlertIDs), i+renderDigestIDs)] {
				ids = append(ids, clean(id[:min(len(id), 12)]))
			}
			label := ""
			if i == 0 {
				label = "alerts"
			}
			line(label, "%s", strings.Join(ids, " "))
		}
	}
	if al := e.Alarm; al != nil {
		s := fmt.Sprintf("%s since %s", strings.ReplaceAll(clean(al.Kind), "_", " "), stamp(al.Since))
		if al.Sink != "" {
			s += ", sink " + clean(al.Sink)
		}
		line("alarm", "%s", s)
		line("detail", "%s", clean(al.Detail))
	}

	if d := e.Desk; d != nil {
		if x := d.Acked; x != nil {
			line("acked", "by %s at %s%s", clean(x.By), stamp(x.At), noteOf(x.Note))
		}
		if x := d.Suppressed; x != nil {
			until := "until lifted"
			if x.Until != nil {
				until = "until " + stamp(*x.Until)
			}
			line("silenced", "suppression %d (%s) by %s at %s, %s%s", x.ID, clean(SelectorString(x)), clean(x.By), stamp(x.At), until, noteOf(x.Note))
		}
		if x := d.Unsuppressed; x != nil {
			line("back", "%s, by %s at %s%s", clean(x.Why), clean(x.By), stamp(x.At), noteOf(x.Note))
		}
	}
	line("severity", "%s", clean(e.Severity))
	line("alert", "%s (group %s)", clean(e.AlertID), clean(e.GroupKey))
	return b.String()
}

// renderDigestIDs is how many of a digest's alert ids Render prints on
// one line.
const renderDigestIDs = 6

// typeName says the alert type as a desk would.
func typeName(t string) string {
	switch t {
	case TypeMatch:
		return "customer match"
	case TypeOwnSpace:
		return "unknown customer in your own space"
	case TypeRootNotVisible:
		return "root not visible to you"
	case TypeIntegrity:
		return "integrity failure"
	case TypeDirectoryStale:
		return "directory stale"
	case TypeDigest:
		return "digest"
	case TypeAlarm:
		return "agent alarm"
	}
	return clean(t)
}

// renderLink: sighting X by Y (seq N, kid K, signed by Y, verified) —
// host matched I via row S:L (T:V) by RULE (strength), observed T (AGE
// ago) by METHOD; NOTE.
func renderLink(l Link) string {
	s := linkNotice(l.Notice) + " — " + clean(l.Role)
	m := l.Matched
	if m == nil {
		return s + ", linked to the next notice"
	}
	s += " matched " + clean(m.Identifier)
	if m.Row.Source != "" {
		s += " via row " + clean(m.Row.Source)
		if m.Row.Line > 0 {
			s += fmt.Sprintf(":%d", m.Row.Line)
		}
	}
	if rv := m.Row.Type + ":" + m.Row.Value; m.Row.Value != "" && rv != m.Identifier {
		s += " (" + clean(rv) + ")"
	}
	s += fmt.Sprintf(" by %s (%s)", clean(m.Rule), clean(m.Strength))
	if m.ObservedAt != nil {
		s += ", observed " + stamp(*m.ObservedAt)
		if m.AgeSeconds != nil {
			s += " (" + age(*m.AgeSeconds) + " ago)"
		}
		if m.Method != "" {
			s += " by " + clean(m.Method)
		}
	} else if m.Method != "" {
		s += ", observed by " + clean(m.Method)
	}
	if m.Note != "" {
		s += "; " + clean(m.Note)
	}
	return s
}

func linkNotice(n LinkNotice) string {
	s := fmt.Sprintf("%s %s by %s%s", kindName(n.Kind), clean(n.ID), clean(n.Issuer), provenance(n.Sequence, n.KID, n.SignedBy, n.Verified))
	if n.IncludedIn > 0 {
		s += fmt.Sprintf(", included in checkpoint %d", n.IncludedIn)
	}
	return s
}

// kindName names a notice by what it says.
func kindName(k string) string {
	switch k {
	case KindCustomerSuspended:
		return "suspension"
	case KindCustomerSighted:
		return "sighting"
	case KindResellerIdentified:
		return "reseller notice"
	case KindRetraction:
		return "retraction"
	}
	return "notice (" + clean(k) + ")"
}

// provenance is " (seq N, kid K, signed by M, verified)".
func provenance(seq uint64, kid, signedBy string, verified bool) string {
	var p []string
	if seq > 0 {
		p = append(p, fmt.Sprintf("seq %d", seq))
	}
	if kid != "" {
		p = append(p, "kid "+clean(kid))
	}
	if signedBy != "" {
		p = append(p, "signed by "+clean(signedBy))
	}
	if verified {
		p = append(p, "verified")
	} else {
		p = append(p, "NOT verified")
	}
	return " (" + strings.Join(p, ", ") + ")"
}

func stamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// age is a duration for a person: 45s, 12m, 3h05m, 2d04h.
func age(sec int64) string {
	if sec < 0 {
		return "-" + age(-sec)
	}
	switch {
	case sec < 60:
		return fmt.Sprintf("%ds", sec)
	case sec < 3600:
		return fmt.Sprintf("%dm", sec/60)
	case sec < 86400:
		return fmt.Sprintf("%dh%02dm", sec/3600, sec%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", sec/86400, sec%86400/3600)
}

// clean replaces control characters (C0, DEL, C1: newlines included, so
// one field stays on one line), line and paragraph separators, Unicode
// bidirectional controls and invalid UTF-8 with U+FFFD.
func clean(s string) string {
	bad := func(r rune) bool {
		return unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control, unicode.Zl, unicode.Zp)
	}
	if utf8.ValidString(s) && strings.IndexFunc(s, bad) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if bad(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func noteOf(n string) string {
	if n == "" {
		return ""
	}
	return ": " + clean(n)
}

// SelectorString says which alerts a suppression selects, e.g.
// "customer c-1042, reason abusive-content".
func SelectorString(s *Suppression) string {
	var parts []string
	for _, p := range [][2]string{{"alert", s.AlertID}, {"customer", s.CustomerID}, {"subject", s.Subject}, {"root", s.Root}, {"reason", s.ReasonPrefix}} {
		if p[1] != "" {
			parts = append(parts, p[0]+" "+p[1])
		}
	}
	return strings.Join(parts, ", ")
}
