package notice

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error that says a notice or an identifier
// is not acceptable. The hub maps it to InvalidArgument.
var ErrInvalid = errors.New("invalid notice")

// ErrUnknownField is wrapped (together with [ErrInvalid]) by the error
// [Unmarshal] returns when the bytes carry a field this version of the
// schema does not know, at any depth.
var ErrUnknownField = errors.New("unknown field")

// ErrTooLarge is wrapped (together with [ErrInvalid]) by the error
// [Unmarshal] returns for a notice longer than [MaxNoticeBytes].
var ErrTooLarge = errors.New("notice too large")

// maxErrValue bounds the value quoted in an error, so that a 4 KiB summary
// or a hostile string does not flood a log line.
const maxErrValue = 128

// FieldError says which field of a notice (or which identifier) is wrong,
// with what value, and why. It wraps [ErrInvalid].
type FieldError struct {
	// Path names the field with proto field names and list indexes, e.g.
	// "subject.identifiers[2].host". Empty for a bare identifier passed to
	// a normaliser.
	Path string
	// Value is the offending value as text (truncated), or empty when the
	// field is missing.
	Value string
	// Reason says what is wrong, e.g. "is not a valid host name".
	Reason string

	unknown bool // also wraps ErrUnknownField
}

// Error formats the error as `path: "value" reason`.
func (e *FieldError) Error() string {
	var b []byte
	if e.Path != "" {
		b = append(b, e.Path...)
		b = append(b, ": "...)
	}
	if e.Value != "" {
		b = strconv.AppendQuote(b, e.Value)
		b = append(b, ' ')
	}
	b = append(b, e.Reason...)
	return string(b)
}

// Unwrap returns [ErrInvalid], and [ErrUnknownField] for an unknown field.
func (e *FieldError) Unwrap() []error {
	if e.unknown {
		return []error{ErrUnknownField, ErrInvalid}
	}
	return []error{ErrInvalid}
}

// fieldErr builds a FieldError, truncating the value.
func fieldErr(path, value, reason string) *FieldError {
	return &FieldError{Path: path, Value: truncate(value), Reason: reason}
}

func fieldErrf(path, value, format string, args ...any) *FieldError {
	return fieldErr(path, value, fmt.Sprintf(format, args...))
}

// truncate cuts s to at most maxErrValue bytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxErrValue {
		return s
	}
	cut := maxErrValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// withPath returns err with its path set to path (prefixing any path it has).
// Normalisers return FieldErrors without a path; Validate places them.
func withPath(err error, path string) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		c := *fe
		if c.Path == "" {
			c.Path = path
		} else {
			c.Path = path + "." + c.Path
		}
		return &c
	}
	return fmt.Errorf("%s: %w", path, err)
}

// sizeError reports a notice over MaxNoticeBytes.
type sizeError struct{ n int }

func (e *sizeError) Error() string {
	return fmt.Sprintf("notice too large: %d bytes, at most %d", e.n, MaxNoticeBytes)
}

func (e *sizeError) Unwrap() []error { return []error{ErrTooLarge, ErrInvalid} }
