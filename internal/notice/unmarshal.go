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
	// The reflective walk below names the unknown field but costs about a
	// fifth of Unmarshal; the wire scan proves most notices clean first.
	if m := n.ProtoReflect(); mayHaveUnknown(b, m.Descriptor()) {
		if err := findUnknown("", m); err != nil {
			return nil, err
		}
	}
	if err := Validate(n, opts); err != nil {
		return nil, err
	}
	return n, nil
}

// mayHaveUnknown reports whether b, the wire form of a message of type md
// that decoded without error, may leave an unknown field in the decoded
// message at any depth. It is false only when every field of b and of every
// message inside it is declared by its descriptor with a wire type the
// decoder accepts for it (the decoder keeps exactly the other fields as
// unknown), so false proves [findUnknown] finds nothing. It may be true
// when the walk finds nothing (an unknown field inside a oneof member that
// a later member replaced, or inside an unusual encoding); the walk then
// decides. FuzzUnknownScan checks that it never misses a field the walk
// finds.
func mayHaveUnknown(b []byte, md protoreflect.MessageDescriptor) bool {
	fields := md.Fields()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return true
		}
		b = b[n:]
		var fd protoreflect.FieldDescriptor
		// Fields are usually numbered 1, 2, 3... in declaration order;
		// ByNumber is the general answer.
		if i := int(num) - 1; i >= 0 && i < fields.Len() && fields.Get(i).Number() == num {
			fd = fields.Get(i)
		} else if fd = fields.ByNumber(num); fd == nil {
			return true
		}
		if !wireTypeDecodes(fd, typ) {
			return true
		}
		if fd.Kind() == protoreflect.MessageKind {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || mayHaveUnknown(v, fd.Message()) {
				return true
			}
			b = b[n:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return true
		}
		b = b[n:]
	}
	return false
}

// wireTypeDecodes reports whether the decoder reads wire type typ into fd
// rather than keeping it as an unknown field. It errs towards false: maps
// and groups (which the schema does not use) are left to the walk.
func wireTypeDecodes(fd protoreflect.FieldDescriptor, typ protowire.Type) bool {
	k := fd.Kind()
	switch k {
	case protoreflect.MessageKind:
		return typ == protowire.BytesType && !fd.IsMap()
	case protoreflect.StringKind, protoreflect.BytesKind:
		return typ == protowire.BytesType
	}
	// Repeated scalars are read both packed and unpacked.
	packed := typ == protowire.BytesType && fd.IsList()
	switch k {
	case protoreflect.BoolKind, protoreflect.EnumKind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return typ == protowire.VarintType || packed
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return typ == protowire.Fixed32Type || packed
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return typ == protowire.Fixed64Type || packed
	}
	return false
}

// findUnknown walks m and every message below it, in field-number order so
// that the error is deterministic, and reports the first unknown field,
// naming it below path.
func findUnknown(path string, m protoreflect.Message) error {
	rel, reason, found := unknownIn(m)
	if !found {
		return nil
	}
	p := joinPath(path, rel)
	if p == "" {
		p = "notice"
	}
	return &FieldError{Path: p, Reason: reason, unknown: true}
}

// unknownIn finds the first unknown field in m or below and returns its
// path relative to m ("" for m itself). Paths are written only on the way
// back from a find: every valid notice is walked, and building each
// field's path on the way down cost more than the walk.
func unknownIn(m protoreflect.Message) (rel, reason string, found bool) {
	if raw := m.GetUnknown(); len(raw) > 0 {
		reason = "has an unknown field"
		if num, _, n := protowire.ConsumeTag(raw); n > 0 {
			reason = fmt.Sprintf("has an unknown field number %d", num)
		}
		return "", reason, true
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Message() == nil || !m.Has(fd) {
			continue
		}
		name := string(fd.Name())
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				if rel, reason, found := unknownIn(l.Get(j).Message()); found {
					return joinPath(fmt.Sprintf("%s[%d]", name, j), rel), reason, true
				}
			}
		case fd.IsMap():
			// The schema has no maps; a future one would need walking here.
			return name, "is a map, which this package cannot check", true
		default:
			if rel, reason, found := unknownIn(m.Get(fd).Message()); found {
				return joinPath(name, rel), reason, true
			}
		}
	}
	return "", "", false
}

// joinPath joins two field paths, either of which may be empty.
func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "." + b
}
