package notice

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// Unmarshal parses and validates the exact bytes of a notice. It refuses
// more than [MaxNoticeBytes] ([ErrTooLarge]) before parsing, any field the
// schema does not know at any depth ([ErrUnknownField]: a verifier on an
// older schema must never sign off on content it cannot see), and anything
// [Validate] refuses. Every error wraps [ErrInvalid].
func Unmarshal(b []byte, opts Options) (*headsupv1.Notice, error) {
	if len(b) > MaxNoticeBytes {
		return nil, &sizeError{n: len(b)}
	}
	n := new(headsupv1.Notice)
	// proto3 strings are checked for valid UTF-8 here; unknown fields are
	// kept so that they can be found and refused below.
	if err := (proto.UnmarshalOptions{}).Unmarshal(b, n); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := findUnknown("", n.ProtoReflect()); err != nil {
		return nil, err
	}
	if err := Validate(n, opts); err != nil {
		return nil, err
	}
	return n, nil
}

// findUnknown walks m and every message below it, in field-number order so
// that the error is deterministic, and reports the first unknown field.
func findUnknown(path string, m protoreflect.Message) error {
	if raw := m.GetUnknown(); len(raw) > 0 {
		num, _, n := protowire.ConsumeTag(raw)
		reason := "has an unknown field"
		if n > 0 {
			reason = fmt.Sprintf("has an unknown field number %d", num)
		}
		p := path
		if p == "" {
			p = "notice"
		}
		return &FieldError{Path: p, Reason: reason, unknown: true}
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Message() == nil || !m.Has(fd) {
			continue
		}
		name := string(fd.Name())
		if path != "" {
			name = path + "." + name
		}
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				if err := findUnknown(fmt.Sprintf("%s[%d]", name, j), l.Get(j).Message()); err != nil {
					return err
				}
			}
		case fd.IsMap():
			// The schema has no maps; a future one would need walking here.
			return &FieldError{Path: name, Reason: "is a map, which this package cannot check", unknown: true}
		default:
			if err := findUnknown(name, m.Get(fd).Message()); err != nil {
				return err
			}
		}
	}
	return nil
}
