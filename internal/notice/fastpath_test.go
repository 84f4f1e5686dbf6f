package notice

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// The shortcuts of Host (isPlainLDH, the known fixed point) and of
// Unmarshal (mayHaveUnknown) must answer exactly as the long way round,
// which the tests and fuzz targets here keep as a reference.

// hostByIDNA is Host without its shortcuts: every name through IDNA twice.
func hostByIDNA(s string) (string, error) {
	in := s
	bad := func(reason string) (string, error) { return "", fieldErr("", in, reason) }
	if !utf8.ValidString(s) {
		return bad("is not valid UTF-8")
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return bad("is empty")
	case len(s) > maxHostInput:
		return bad("is too long for a host name")
	case strings.HasPrefix(s, "["), isIPLiteral(s):
		return bad("is an IP literal, not a host name")
	}
	a, err := hostProfile.ToASCII(s)
	if err != nil {
		return bad("is not a valid host name: " + err.Error())
	}
	a = strings.TrimSuffix(strings.ToLower(a), ".")
	if err := checkHostShape(a); err != "" {
		return bad(err)
	}
	if b, err := hostProfile.ToASCII(a); err != nil || b != a {
		return bad("has no stable normal form")
	}
	return a, nil
}

// checkHostFastPath fails unless s takes the IDNA shortcut only where IDNA
// would give it back unchanged, and Host answers as hostByIDNA does.
func checkHostFastPath(t *testing.T, s string) {
	t.Helper()
	if isPlainLDH(s) {
		if a, err := hostProfile.ToASCII(s); err != nil || a != s {
			t.Fatalf("isPlainLDH(%q), but IDNA gives %q, %v", s, a, err)
		}
	}
	got, err := Host(s)
	want, wantErr := hostByIDNA(s)
	if got != want || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("Host(%q) = %q, %v; through IDNA %q, %v", s, got, err, want, wantErr)
	}
}

var hostFastPathSeeds = []string{
	"www.chanboard.example", "example.com", "a.b", "a-b.c-d", "xn--bcher-kva.de", "xn--abc.de",
	"ab--cd.example", "ab--.example", "a--b.example", "-a.example", "a-.example", "Example.com",
	"EXAMPLE.COM", "_dmarc.example.com", "a_b.example.com", "example.com.", ".example.com",
	"a..b", "example", "x.123", "x.0x7f", "x.0xg", "123.example", "1.2.3.4", "1.2.3.4.5",
	strings.Repeat("a", 63) + ".example", strings.Repeat("a", 64) + ".example",
	strings.Repeat("a.", 126) + "b", strings.Repeat("a.", 126) + "bc", strings.Repeat("a.", 127) + "b",
	" example.com ", "exa mple.com", "bücher.de", "faß.de", "example。com", "XN--BCHER-KVA.de",
	"xn--.de", "a.xn--", "0x1.example", "a.b-", "a.-b", "a.1-2",
}

func TestHostFastPath(t *testing.T) {
	plain := map[string]bool{
		"www.chanboard.example": true, "example.com": true, "a.b": true, "a-b.c-d": true,
		"a--b.example": true, "x.123": true, "123.example": true, "1.2.3.4": true,
		strings.Repeat("a", 63) + ".example": true, strings.Repeat("a.", 126) + "b": true,
		"example": true, "x.0x7f": true, "a.1-2": true, "x.0xg": true, "1.2.3.4.5": true, "0x1.example": true,
	}
	for _, s := range hostFastPathSeeds {
		t.Run(s, func(t *testing.T) {
			if got := isPlainLDH(s); got != plain[s] {
				t.Errorf("isPlainLDH(%q) = %v, want %v", s, got, plain[s])
			}
			checkHostFastPath(t, s)
		})
	}
}

func FuzzHostFastPath(f *testing.F) {
	for _, s := range hostFastPathSeeds {
		f.Add(s)
	}
	f.Fuzz(checkHostFastPath)
}

// unmarshalByWalk is Unmarshal without the wire scan: the reflective walk
// on every notice.
func unmarshalByWalk(b []byte, opts Options) (*headsupv1.Notice, error) {
	if len(b) > MaxNoticeBytes {
		return nil, &sizeError{n: len(b)}
	}
	n := new(headsupv1.Notice)
	if err := proto.Unmarshal(b, n); err != nil {
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

// checkUnknownScan fails if the wire scan misses an unknown field the walk
// finds, or if Unmarshal answers otherwise than unmarshalByWalk.
func checkUnknownScan(t *testing.T, b []byte) {
	t.Helper()
	n := new(headsupv1.Notice)
	if proto.Unmarshal(b, n) == nil {
		if err := findUnknown("", n.ProtoReflect()); err != nil && !mayHaveUnknown(b, n.ProtoReflect().Descriptor()) {
			t.Fatalf("the wire scan finds no unknown field; the walk finds %v", err)
		}
	}
	got, err := Unmarshal(b, testNet)
	want, wantErr := unmarshalByWalk(b, testNet)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || !proto.Equal(got, want) {
		t.Fatalf("Unmarshal = %v; by the walk %v", err, wantErr)
	}
}

// unknownScanSeeds are notices whose unknown fields are unusual: a known
// number with a wire type its field does not take, and an unknown field in
// a oneof member that a later member replaces (the decoder drops it, so
// the notice is clean though the bytes are not).
func unknownScanSeeds(t testing.TB) map[string][]byte {
	seeds := noticeSeeds(t)
	valid := mustMarshal(t, suspended())
	seeds["id-as-varint"] = protowire.AppendVarint(protowire.AppendTag(valid, 1, protowire.VarintType), 5)
	seeds["kind-as-bytes"] = protowire.AppendBytes(protowire.AppendTag(valid, 3, protowire.BytesType), []byte{1})
	seeds["subject-as-fixed32"] = protowire.AppendFixed32(protowire.AppendTag(valid, 5, protowire.Fixed32Type), 1)

	issued := suspended()
	issued.IssuedAt = nil
	ts := protowire.AppendTag(mustMarshal(t, suspended().IssuedAt), 2, protowire.Fixed64Type) // nanos as fixed64
	ts = protowire.AppendFixed64(ts, 0)
	seeds["nanos-as-fixed64"] = protowire.AppendBytes(protowire.AppendTag(mustMarshal(t, issued), 14, protowire.BytesType), ts)

	n := suspended()
	subject := n.Subject
	n.Subject = nil
	addr := &headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: "203.0.113.9/32"}}}
	withUnknown(addr.GetAddress())
	ident := append(mustMarshal(t, addr), mustMarshal(t, subject.Identifiers[0])...)
	entity := protowire.AppendBytes(protowire.AppendTag(mustMarshal(t, subject), 3, protowire.BytesType), ident)
	seeds["replaced-oneof"] = protowire.AppendBytes(protowire.AppendTag(mustMarshal(t, n), 5, protowire.BytesType), entity)
	return seeds
}

func TestUnknownScan(t *testing.T) {
	for name, b := range unknownScanSeeds(t) {
		t.Run(name, func(t *testing.T) { checkUnknownScan(t, b) })
	}
	// Every valid notice must take the scan's answer, or the walk runs on
	// every notice again.
	for _, n := range []*headsupv1.Notice{suspended(), sighted(), reseller(), retraction(), realNetwork()} {
		if b := mustMarshal(t, n); mayHaveUnknown(b, n.ProtoReflect().Descriptor()) {
			t.Errorf("the wire scan suspects an unknown field in the valid %s notice", n.Kind)
		}
	}
	// The unusual seeds are refused or accepted as the walk says.
	for name, want := range map[string]string{
		"id-as-varint":       "notice: has an unknown field number 1",
		"kind-as-bytes":      "notice: has an unknown field number 3",
		"subject-as-fixed32": "notice: has an unknown field number 5",
		"nanos-as-fixed64":   "issued_at: has an unknown field number 2",
		"replaced-oneof":     "<nil>",
	} {
		_, err := Unmarshal(unknownScanSeeds(t)[name], testNet)
		if fmt.Sprint(err) != want {
			t.Errorf("%s: Unmarshal = %v, want %s", name, err, want)
		}
	}
}

func FuzzUnknownScan(f *testing.F) {
	for _, b := range unknownScanSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(checkUnknownScan)
}

// TestWireTypeDecodes compares wireTypeDecodes with the decoder itself, for
// every field of the notice schema and of generated messages that between
// them have every kind the scan distinguishes, singular and repeated, and
// every wire type.
func TestWireTypeDecodes(t *testing.T) {
	msgs := []proto.Message{
		&headsupv1.Notice{}, &headsupv1.Entity{}, &headsupv1.Identifier{}, &headsupv1.Address{},
		&headsupv1.Asn{}, &headsupv1.Registration{}, &headsupv1.Observation{}, &headsupv1.Sighting{},
		&headsupv1.NoticeRef{}, &headsupv1.Relation{}, &headsupv1.Evidence{}, &headsupv1.LegalBasis{},
		&timestamppb.Timestamp{}, &fieldmaskpb.FieldMask{},
		&wrapperspb.DoubleValue{}, &wrapperspb.FloatValue{}, &wrapperspb.Int64Value{},
		&wrapperspb.UInt64Value{}, &wrapperspb.Int32Value{}, &wrapperspb.UInt32Value{},
		&wrapperspb.BoolValue{}, &wrapperspb.StringValue{}, &wrapperspb.BytesValue{},
		&descriptorpb.FieldDescriptorProto{}, &descriptorpb.SourceCodeInfo_Location{},
		&descriptorpb.FileDescriptorProto{}, &descriptorpb.UninterpretedOption{},
	}
	for _, m := range msgs {
		md := m.ProtoReflect().Descriptor()
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			for _, typ := range []protowire.Type{protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type, protowire.BytesType} {
				b := protowire.AppendTag(nil, fd.Number(), typ)
				switch typ {
				case protowire.VarintType:
					b = protowire.AppendVarint(b, 1)
				case protowire.Fixed32Type:
					b = protowire.AppendFixed32(b, 1)
				case protowire.Fixed64Type:
					b = protowire.AppendFixed64(b, 1)
				case protowire.BytesType:
					// A payload each kind reads: 8 bytes are one packed
					// fixed64, two fixed32s or eight varints, a string,
					// and (as 0x08 0x01 ...) a message setting field 1.
					b = protowire.AppendBytes(b, []byte{8, 1, 8, 1, 8, 1, 8, 1})
				}
				got := m.ProtoReflect().New().Interface()
				if err := proto.Unmarshal(b, got); err != nil {
					continue // not decodable this way at all
				}
				kept := len(got.ProtoReflect().GetUnknown()) > 0
				if wireTypeDecodes(fd, typ) == kept {
					t.Errorf("%s (%s, list %v) wire type %d: wireTypeDecodes %v, decoder keeps unknown %v",
						fd.FullName(), fd.Kind(), fd.IsList(), typ, !kept, kept)
				}
			}
		}
	}
}

// TestWireTypeDecodesCoversSchema makes sure TestWireTypeDecodes saw the kinds the notice
// schema uses; a schema change that adds another kind must add a message
// with it above.
func TestWireTypeDecodesCoversSchema(t *testing.T) {
	seen := map[protoreflect.Kind]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	visited := map[protoreflect.FullName]bool{}
	walk = func(md protoreflect.MessageDescriptor) {
		if visited[md.FullName()] {
			return
		}
		visited[md.FullName()] = true
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			seen[fd.Kind()] = true
			if fd.IsMap() || fd.Kind() == protoreflect.GroupKind {
				t.Errorf("%s is a map or group; the wire scan leaves those to the walk, so every such notice is walked", fd.FullName())
			}
			if fd.Message() != nil {
				walk(fd.Message())
			}
		}
	}
	walk((&headsupv1.Notice{}).ProtoReflect().Descriptor())
	covered := map[protoreflect.Kind]bool{
		protoreflect.StringKind: true, protoreflect.BytesKind: true, protoreflect.MessageKind: true,
		protoreflect.EnumKind: true, protoreflect.Int32Kind: true, protoreflect.Int64Kind: true,
		protoreflect.Uint32Kind: true, protoreflect.Uint64Kind: true, protoreflect.BoolKind: true,
		protoreflect.FloatKind: true, protoreflect.DoubleKind: true,
	}
	for k := range seen {
		if !covered[k] {
			t.Errorf("the notice schema uses kind %s, which TestWireTypeDecodes does not exercise", k)
		}
	}
}

// checkFoldASCII fails unless foldOrganisation's ASCII shortcut
// (strings.ToLower) is what foldText does to s.
func checkFoldASCII(t *testing.T, s string) {
	t.Helper()
	if !isASCII(s) {
		return
	}
	if got, want := strings.ToLower(s), foldText(s); got != want {
		t.Fatalf("ASCII %q: lower case %q, folded %q", s, got, want)
	}
}

// TestFoldASCII tries every ASCII character alone and every pair (NFKC
// composes pairs; case folding maps single characters).
func TestFoldASCII(t *testing.T) {
	for a := 0; a < utf8.RuneSelf; a++ {
		checkFoldASCII(t, string(rune(a)))
		for b := 0; b < utf8.RuneSelf; b++ {
			checkFoldASCII(t, string([]byte{byte(a), byte(b)}))
		}
	}
}

func FuzzFoldASCII(f *testing.F) {
	for _, s := range organisationSeeds {
		f.Add(s)
	}
	f.Fuzz(checkFoldASCII)
}
