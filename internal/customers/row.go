package customers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/headsup-dev/headsup/internal/match"
)

// Column names, the same in a CSV header, a JSON lines object and a
// PostgreSQL result.
const (
	ColCustomerID  = "customer_id"
	ColDisplayName = "display_name"
	ColType        = "type"
	ColValue       = "value"
	ColMemberID    = "member_id"
	ColValidFrom   = "valid_from"
	// ColUpdatedAt and ColDeleted are read from PostgreSQL only, for
	// incremental refreshes.
	ColUpdatedAt = "updated_at"
	ColDeleted   = "deleted"
)

// requiredColumns must be present in every source, in this order of
// reporting when several are missing.
var requiredColumns = [...]string{ColCustomerID, ColDisplayName, ColType, ColValue}

// Errors wrapped by the errors of Load and Run, for callers and tests to
// branch on.
var (
	// ErrMissingField: a required column or key is absent, null or empty.
	ErrMissingField = errors.New("required field missing or empty")
	// ErrUnknownField: a column or key outside the vocabulary. Refused
	// rather than ignored, because a misspelt optional column
	// ("valid_form") would otherwise silently drop data.
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicateField: a column or key given twice.
	ErrDuplicateField = errors.New("field given twice")
	// ErrUnknownType: the type is not in DESIGN.md's vocabulary.
	ErrUnknownType = match.ErrUnknownType
	// ErrInvalidValue: a field's value is malformed (a time that is not
	// RFC 3339, a member id that is not one, an identifier the normaliser
	// refuses, a JSON value of the wrong kind).
	ErrInvalidValue = match.ErrInvalidValue
	// ErrFormat: the file is not a CSV or JSON lines file this package
	// reads (unknown extension, broken quoting, wrong field count, a line
	// that is not one JSON object).
	ErrFormat = errors.New("malformed customer list")
)

// RowError says which row of which source is refused, and why: a desk
// fixing the list needs the line, the field and the value. Field is the
// column name (customer_id, type, …), or "header" for a CSV header cell.
// Line is the file's 1-based line, or the row's number in a query result.
type RowError = match.RowError

// lineError reports a line that cannot be read as a row at all.
func lineError(source string, line int, err error) error {
	return fmt.Errorf("%s:%d: %w", source, line, err)
}

// normalizeFields maps NormalizeRow's field names to the column names a
// desk sees in its file or query.
var normalizeFields = map[string]string{"owner": ColCustomerID, "member": ColMemberID}

// rowFields is one row as read, before validation. Sources with typed
// columns (PostgreSQL) set validFromTime instead of validFrom.
type rowFields struct {
	customerID, displayName, typ, value, memberID string
	validFrom                                     string
	validFromTime                                 time.Time
}

// set stores the value of a column; other columns are not row fields.
func (f *rowFields) set(column, v string) {
	switch column {
	case ColCustomerID:
		f.customerID = v
	case ColDisplayName:
		f.displayName = v
	case ColType:
		f.typ = v
	case ColValue:
		f.value = v
	case ColMemberID:
		f.memberID = v
	case ColValidFrom:
		f.validFrom = v
	}
}

// buildRow validates f and returns the row in normal form. Every error is
// a *RowError naming source, line, field (the column name) and value.
func buildRow(source string, line int, f rowFields, link string) (match.Row, error) {
	bad := func(field, value string, err error) (match.Row, error) {
		return match.Row{}, &RowError{Source: source, Line: line, Field: field, Value: value, Err: err}
	}
	r := match.Row{
		Owner:  strings.TrimSpace(f.customerID),
		Name:   strings.TrimSpace(f.displayName),
		Value:  strings.TrimSpace(f.value),
		Member: strings.TrimSpace(f.memberID),
		Source: source,
		Line:   line,
	}
	if r.Owner == "" {
		return bad(ColCustomerID, f.customerID, ErrMissingField)
	}
	if strings.TrimSpace(f.typ) == "" {
		return bad(ColType, f.typ, ErrMissingField)
	}
	t, err := match.ParseType(f.typ)
	if err != nil {
		return bad(ColType, f.typ, fmt.Errorf("%w: %v", ErrUnknownType, err))
	}
	r.Type = t
	if r.Value == "" {
		return bad(ColValue, f.value, ErrMissingField)
	}
	switch vf := strings.TrimSpace(f.validFrom); {
	case !f.validFromTime.IsZero():
		r.ValidFrom = f.validFromTime.UTC()
	case vf != "":
		ts, err := time.Parse(time.RFC3339, vf)
		if err != nil {
			return bad(ColValidFrom, f.validFrom, fmt.Errorf("%w: not an RFC 3339 time (2006-01-02T15:04:05Z)", ErrInvalidValue))
		}
		r.ValidFrom = ts.UTC()
	}
	n, err := match.NormalizeRow(r, normalizeConfig())
	if err != nil {
		var re *RowError
		if errors.As(err, &re) {
			if col, ok := normalizeFields[re.Field]; ok {
				re.Field = col
			}
			return match.Row{}, re
		}
		return bad(ColValue, f.value, fmt.Errorf("%w: %v", ErrInvalidValue, err))
	}
	n.Link = fillLink(link, n.Owner)
	return n, nil
}

// normalizeConfig is what a source normalises with: the most permissive
// configuration, documentation ranges allowed. Whether they are allowed is
// the federation directory's test_network, which the agent knows and may
// see change at run time; its index applies it when it builds. A source
// refuses only what is malformed under every configuration, so the
// directory changing never makes a stored customer list invalid.
func normalizeConfig() match.Config { return match.Config{TestNetwork: true} }

// fillLink puts the customer id into the template's {customer_id}. The id
// is percent-encoded except for RFC 3986 unreserved characters, so it is
// safe in a path segment and in a query value alike and cannot add path
// segments or parameters of its own.
func fillLink(template, customerID string) string {
	if !strings.Contains(template, "{customer_id}") {
		return template
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(customerID); i++ {
		c := customerID[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return strings.ReplaceAll(template, "{customer_id}", b.String())
}
