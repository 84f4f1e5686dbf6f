package alert

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaJSON is the JSON Schema (draft 2020-12) of headsup.alert.v1, as
// committed at schema/headsup.alert.v1.json. Receivers may validate events
// with it; the agent's tests validate everything its sinks emit.
//
//go:embed schema/headsup.alert.v1.json
var SchemaJSON []byte

// schemaURL is the schema's $id; the compiler is given the document under
// it, so nothing is ever fetched.
const schemaURL = "https://schemas.headsup.invalid/headsup.alert.v1.json"

// MaxEventBytes bounds what Validate reads: a notice is at most 48 KiB, and
// an alert quotes parts of a handful of them.
const MaxEventBytes = 1 << 20

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("not a valid headsup.alert.v1 event")

// compiled is the schema compiled once. It is set once and read-only
// afterwards; the compiled schema is safe for concurrent use.
var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON))
	if err != nil {
		return nil, fmt.Errorf("alert schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Formats (date-time, uri) are annotations in 2020-12 unless asserted;
	// an event with a malformed time is as broken as one without it.
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("alert schema: %w", err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("alert schema: %w", err)
	}
	return s, nil
})

// Validate checks that eventJSON is exactly one JSON object valid under
// headsup.alert.v1. Errors wrap [ErrInvalid] and name the JSON pointer of
// every violation and the keyword it broke.
func Validate(eventJSON []byte) error {
	s, err := compiled()
	if err != nil {
		return err // the embedded schema is broken: a build defect, tested
	}
	if len(eventJSON) > MaxEventBytes {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(eventJSON), MaxEventBytes)
	}
	dec := bytes.NewReader(eventJSON)
	inst, err := jsonschema.UnmarshalJSON(dec)
	if err != nil {
		// UnmarshalJSON refuses trailing data after the first value.
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := s.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%w: %s", ErrInvalid, describe(ve))
		}
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// describe flattens a validation error to its leaves, one per line, each
// "at /pointer: message", so a log line says which field is wrong.
func describe(ve *jsonschema.ValidationError) string {
	out := ve.DetailedOutput()
	var b bytes.Buffer
	var walk func(u jsonschema.OutputUnit)
	walk = func(u jsonschema.OutputUnit) {
		if len(u.Errors) == 0 && u.Error != nil {
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			loc := u.InstanceLocation
			if loc == "" {
				loc = "/"
			}
			fmt.Fprintf(&b, "at %s: %s", loc, u.Error.String())
		}
		for _, c := range u.Errors {
			walk(c)
		}
	}
	walk(*out)
	if b.Len() == 0 {
		return ve.Error()
	}
	return b.String()
}
