package noticefile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// Document is a notice in document form, ready for encoding/json or YAML.
// Its fields mirror the keys Parse reads; the zero value of a field means
// the key is absent.
type Document struct {
	Kind        string         `yaml:"kind,omitempty" json:"kind,omitempty"`
	Issuer      string         `yaml:"issuer,omitempty" json:"issuer,omitempty"`
	ID          string         `yaml:"id,omitempty" json:"id,omitempty"`
	Subject     *entityDoc     `yaml:"subject,omitempty" json:"subject,omitempty"`
	Sighting    *sightingDoc   `yaml:"sighting,omitempty" json:"sighting,omitempty"`
	Relations   []relationDoc  `yaml:"relations,omitempty" json:"relations,omitempty"`
	Reason      string         `yaml:"reason,omitempty" json:"reason,omitempty"`
	Summary     string         `yaml:"summary,omitempty" json:"summary,omitempty"`
	TLP         string         `yaml:"tlp,omitempty" json:"tlp,omitempty"`
	LegalBasis  *legalBasisDoc `yaml:"legal_basis,omitempty" json:"legal_basis,omitempty"`
	Evidence    []evidenceDoc  `yaml:"evidence,omitempty" json:"evidence,omitempty"`
	Audience    []string       `yaml:"audience,omitempty" json:"audience,omitempty"`
	IssuedAt    string         `yaml:"issued_at,omitempty" json:"issued_at,omitempty"`
	EffectiveAt string         `yaml:"effective_at,omitempty" json:"effective_at,omitempty"`
	ExpiresAt   string         `yaml:"expires_at,omitempty" json:"expires_at,omitempty"`
	Supersedes  string         `yaml:"supersedes,omitempty" json:"supersedes,omitempty"`
	Salt        string         `yaml:"salt,omitempty" json:"salt,omitempty"`
}

type entityDoc struct {
	Label         string `yaml:"label,omitempty" json:"label,omitempty"`
	Member        string `yaml:"member,omitempty" json:"member,omitempty"`
	Hosts         []any  `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	Addresses     []any  `yaml:"addresses,omitempty" json:"addresses,omitempty"`
	ASNs          []any  `yaml:"asns,omitempty" json:"asns,omitempty"`
	Emails        []any  `yaml:"emails,omitempty" json:"emails,omitempty"`
	Organisations []any  `yaml:"organisations,omitempty" json:"organisations,omitempty"`
	Registrations []any  `yaml:"registrations,omitempty" json:"registrations,omitempty"`
	Hashed        []any  `yaml:"hashed,omitempty" json:"hashed,omitempty"`
}

type observationDoc struct {
	ObservedAt string        `yaml:"observed_at,omitempty" json:"observed_at,omitempty"`
	Method     string        `yaml:"method,omitempty" json:"method,omitempty"`
	Evidence   []evidenceDoc `yaml:"evidence,omitempty" json:"evidence,omitempty"`
}

type hostDoc struct {
	Host           string `yaml:"host" json:"host"`
	observationDoc `yaml:",inline"`
}

type addressDoc struct {
	Prefix         string `yaml:"prefix" json:"prefix"`
	Role           string `yaml:"role,omitempty" json:"role,omitempty"`
	AssignedUntil  string `yaml:"assigned_until,omitempty" json:"assigned_until,omitempty"`
	observationDoc `yaml:",inline"`
}

type asnDoc struct {
	Number         string `yaml:"number" json:"number"`
	Role           string `yaml:"role,omitempty" json:"role,omitempty"`
	observationDoc `yaml:",inline"`
}

type emailDoc struct {
	Email          string `yaml:"email" json:"email"`
	observationDoc `yaml:",inline"`
}

type organisationDoc struct {
	Name           string `yaml:"name" json:"name"`
	observationDoc `yaml:",inline"`
}

type registrationDoc struct {
	Scheme         string `yaml:"scheme" json:"scheme"`
	Value          string `yaml:"value" json:"value"`
	Country        string `yaml:"country,omitempty" json:"country,omitempty"`
	observationDoc `yaml:",inline"`
}

type hashedDoc struct {
	Hash           string `yaml:"hash" json:"hash"`
	observationDoc `yaml:",inline"`
}

type sightingDoc struct {
	Host  *entityDoc     `yaml:"host,omitempty" json:"host,omitempty"`
	About []noticeRefDoc `yaml:"about,omitempty" json:"about,omitempty"`
}

type noticeRefDoc struct {
	Issuer string `yaml:"issuer,omitempty" json:"issuer,omitempty"`
	ID     string `yaml:"id,omitempty" json:"id,omitempty"`
}

type relationDoc struct {
	Kind   string     `yaml:"kind,omitempty" json:"kind,omitempty"`
	Entity *entityDoc `yaml:"entity,omitempty" json:"entity,omitempty"`
}

type legalBasisDoc struct {
	Kind      string `yaml:"kind,omitempty" json:"kind,omitempty"`
	Reference string `yaml:"reference,omitempty" json:"reference,omitempty"`
	URL       string `yaml:"url,omitempty" json:"url,omitempty"`
}

type evidenceDoc struct {
	URL         string `yaml:"url,omitempty" json:"url,omitempty"`
	SHA256      string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	TLP         string `yaml:"tlp,omitempty" json:"tlp,omitempty"`
}

// Format writes n as a YAML notice document.
func Format(n *headsupv1.Notice) ([]byte, error) {
	d, err := NewDocument(n)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FormatJSON writes n as a JSON notice document (which Parse reads too).
func FormatJSON(n *headsupv1.Notice) ([]byte, error) {
	d, err := NewDocument(n)
	if err != nil {
		return nil, err
	}
	return json.Marshal(d)
}

// NewDocument returns n in document form, for embedding in a larger JSON
// or YAML output. It fails, naming the field in proto terms, on what a
// document cannot say: an identifier without a value, an enum value
// without a name, an invalid timestamp.
func NewDocument(n *headsupv1.Notice) (*Document, error) {
	if n == nil {
		return nil, &Error{Msg: "no notice"}
	}
	d := &Document{
		Issuer:     n.GetIssuer(),
		ID:         n.GetId(),
		Reason:     n.GetReason(),
		Summary:    n.GetSummary(),
		Audience:   n.GetAudience(),
		Supersedes: n.GetSupersedes(),
	}
	var err error
	if d.Kind, err = formatEnum(n.GetKind(), kinds, "kind"); err != nil {
		return nil, err
	}
	if len(n.GetSalt()) > 0 {
		d.Salt = hex.EncodeToString(n.GetSalt())
	}
	if n.Subject != nil {
		if d.Subject, err = formatEntity(n.Subject, "subject"); err != nil {
			return nil, err
		}
	}
	if s := n.Sighting; s != nil {
		d.Sighting = &sightingDoc{}
		if s.Host != nil {
			if d.Sighting.Host, err = formatEntity(s.Host, "sighting.host"); err != nil {
				return nil, err
			}
		}
		for i, ref := range s.About {
			if ref == nil {
				return nil, &Error{Path: index("sighting.about", i), Msg: "nil"}
			}
			d.Sighting.About = append(d.Sighting.About, noticeRefDoc{Issuer: ref.Issuer, ID: ref.Id})
		}
	}
	for i, r := range n.Relations {
		path := index("relations", i)
		if r == nil {
			return nil, &Error{Path: path, Msg: "nil"}
		}
		rd := relationDoc{}
		if rd.Kind, err = formatEnum(r.Kind, relationKinds, path+".kind"); err != nil {
			return nil, err
		}
		if r.Entity != nil {
			if rd.Entity, err = formatEntity(r.Entity, path+".entity"); err != nil {
				return nil, err
			}
		}
		d.Relations = append(d.Relations, rd)
	}
	if d.TLP, err = formatEnum(n.GetTlp(), tlps, "tlp"); err != nil {
		return nil, err
	}
	if lb := n.LegalBasis; lb != nil {
		d.LegalBasis = &legalBasisDoc{Reference: lb.Reference, URL: lb.Url}
		if d.LegalBasis.Kind, err = formatEnum(lb.Kind, legalBasisKinds, "legal_basis.kind"); err != nil {
			return nil, err
		}
	}
	if d.Evidence, err = formatEvidence(n.Evidence, "evidence"); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		ts   *timestamppb.Timestamp
		dst  *string
		path string
	}{
		{n.IssuedAt, &d.IssuedAt, "issued_at"},
		{n.EffectiveAt, &d.EffectiveAt, "effective_at"},
		{n.ExpiresAt, &d.ExpiresAt, "expires_at"},
	} {
		if *t.dst, err = formatTime(t.ts, t.path); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// formatTime writes RFC 3339 in UTC; a fraction, which Parse refuses, is
// written out rather than dropped so that nothing is shown as valid that
// is not.
func formatTime(ts *timestamppb.Timestamp, path string) (string, error) {
	if ts == nil {
		return "", nil
	}
	if err := ts.CheckValid(); err != nil {
		return "", &Error{Path: path, Msg: err.Error()}
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano), nil
}

// formatEnum names v; the zero value ("unspecified") is written as an
// absent key, which Parse reads back as zero.
func formatEnum[T comparable](v T, table []enumName[T], path string) (string, error) {
	var zero T
	if v == zero {
		return "", nil
	}
	for _, e := range table {
		if e.value == v {
			return e.name, nil
		}
	}
	return "", &Error{Path: path, Msg: fmt.Sprintf("%v has no name in a notice document", v)}
}

func formatEvidence(items []*headsupv1.Evidence, path string) ([]evidenceDoc, error) {
	var out []evidenceDoc
	for i, e := range items {
		p := index(path, i)
		if e == nil {
			return nil, &Error{Path: p, Msg: "nil"}
		}
		ed := evidenceDoc{URL: e.Url, SHA256: e.Sha256, Description: e.Description}
		var err error
		if ed.TLP, err = formatEnum(e.Tlp, tlps, p+".tlp"); err != nil {
			return nil, err
		}
		out = append(out, ed)
	}
	return out, nil
}

func formatObservation(o *headsupv1.Observation, path string) (observationDoc, bool, error) {
	if o == nil {
		return observationDoc{}, false, nil
	}
	var od observationDoc
	var err error
	if od.ObservedAt, err = formatTime(o.ObservedAt, path+".observed_at"); err != nil {
		return od, false, err
	}
	if od.Method, err = formatEnum(o.Method, methods, path+".method"); err != nil {
		return od, false, err
	}
	if od.Evidence, err = formatEvidence(o.Evidence, path+".evidence"); err != nil {
		return od, false, err
	}
	return od, od.ObservedAt != "" || od.Method != "" || len(od.Evidence) > 0, nil
}

// formatEntity groups identifiers by type. Within a type the order is kept;
// across types it becomes the document's order (see the package comment).
func formatEntity(e *headsupv1.Entity, path string) (*entityDoc, error) {
	d := &entityDoc{Label: e.Label, Member: e.Member}
	for i, id := range e.Identifiers {
		p := index(path+".identifiers", i)
		if id == nil {
			return nil, &Error{Path: p, Msg: "nil"}
		}
		obs, hasObs, err := formatObservation(id.Observation, p+".observation")
		if err != nil {
			return nil, err
		}
		switch v := id.Value.(type) {
		case *headsupv1.Identifier_Host:
			d.Hosts = append(d.Hosts, item(v.Host, hasObs, &hostDoc{v.Host, obs}))
		case *headsupv1.Identifier_Email:
			d.Emails = append(d.Emails, item(v.Email, hasObs, &emailDoc{v.Email, obs}))
		case *headsupv1.Identifier_Organisation:
			d.Organisations = append(d.Organisations, item(v.Organisation, hasObs, &organisationDoc{v.Organisation, obs}))
		case *headsupv1.Identifier_Hashed:
			d.Hashed = append(d.Hashed, item(v.Hashed, hasObs, &hashedDoc{v.Hashed, obs}))
		case *headsupv1.Identifier_Address:
			a := v.Address
			if a == nil {
				return nil, &Error{Path: p + ".address", Msg: "nil"}
			}
			ad := &addressDoc{Prefix: a.Prefix, observationDoc: obs}
			if ad.Role, err = formatEnum(a.Role, addressRoles, p+".address.role"); err != nil {
				return nil, err
			}
			if ad.AssignedUntil, err = formatTime(a.AssignedUntil, p+".address.assigned_until"); err != nil {
				return nil, err
			}
			d.Addresses = append(d.Addresses, item(a.Prefix, hasObs || ad.Role != "" || ad.AssignedUntil != "", ad))
		case *headsupv1.Identifier_Asn:
			a := v.Asn
			if a == nil {
				return nil, &Error{Path: p + ".asn", Msg: "nil"}
			}
			if a.Role == headsupv1.AsnRole_ASN_ROLE_UNSPECIFIED {
				// Parse reads a missing role as holder, so "unspecified"
				// has no spelling; it is invalid on the wire anyway.
				return nil, &Error{Path: p + ".asn.role", Msg: "unspecified has no name in a notice document"}
			}
			number := fmt.Sprintf("AS%d", a.Number)
			ad := &asnDoc{Number: number, observationDoc: obs}
			if ad.Role, err = formatEnum(a.Role, asnRoles, p+".asn.role"); err != nil {
				return nil, err
			}
			if a.Role == headsupv1.AsnRole_ASN_ROLE_HOLDER {
				ad.Role = "" // the default
			}
			d.ASNs = append(d.ASNs, item(number, hasObs || ad.Role != "", ad))
		case *headsupv1.Identifier_Registration:
			r := v.Registration
			if r == nil {
				return nil, &Error{Path: p + ".registration", Msg: "nil"}
			}
			rd := &registrationDoc{Value: r.Value, Country: r.Country, observationDoc: obs}
			if r.Scheme == headsupv1.RegistrationScheme_REGISTRATION_SCHEME_UNSPECIFIED {
				return nil, &Error{Path: p + ".registration.scheme", Msg: "unspecified has no name in a notice document"}
			}
			if rd.Scheme, err = formatEnum(r.Scheme, schemes, p+".registration.scheme"); err != nil {
				return nil, err
			}
			d.Registrations = append(d.Registrations, rd)
		default:
			return nil, &Error{Path: p, Msg: "no value"}
		}
	}
	return d, nil
}

// item is the plain value when nothing else needs saying, else the
// mapping.
func item(value string, mapped bool, m any) any {
	if mapped {
		return m
	}
	return value
}
