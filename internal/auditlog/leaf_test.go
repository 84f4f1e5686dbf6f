package auditlog_test

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/auditlog"
)

func TestLeafOf(t *testing.T) {
	const jws = "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJlZGdlc2hpZWxkIn0.c2ln"
	env, err := proto.MarshalOptions{Deterministic: true}.Marshal(&headsupv1.Envelope{Notice: []byte("notice"), Jws: jws})
	if err != nil {
		t.Fatal(err)
	}
	noJWS, _ := proto.Marshal(&headsupv1.Envelope{Notice: []byte("notice")})
	dir := []byte("serial: 3\nmembers: []\n\n— governance sig\n")
	const notice = "headsup.notice.edgeshield.0190a5e8-7b2c-7def-8abc-0123456789ab"
	cases := []struct {
		name    string
		subject string
		body    []byte
		want    string
		err     error
	}{
		{"notice", notice, env, jws, nil},
		{"notice without jws", notice, noJWS, "", auditlog.ErrMalformedEntry},
		{"notice not an envelope", notice, []byte{0xff, 0xff, 0xff}, "", auditlog.ErrMalformedEntry},
		{"directory", "headsup.directory.3", dir, string(dir), nil},
		{"directory serial 0", "headsup.directory.0", dir, string(dir), nil},
		{"directory empty", "headsup.directory.3", nil, "", auditlog.ErrMalformedEntry},
		{"directory serial leading zero", "headsup.directory.03", dir, "", auditlog.ErrUnknownSubject},
		{"directory serial sign", "headsup.directory.+3", dir, "", auditlog.ErrUnknownSubject},
		{"directory serial missing", "headsup.directory.", dir, "", auditlog.ErrUnknownSubject},
		{"directory serial overflow", "headsup.directory.18446744073709551616", dir, "", auditlog.ErrUnknownSubject},
		{"other subject", "headsup.other.x", env, "", auditlog.ErrUnknownSubject},
		{"empty subject", "", env, "", auditlog.ErrUnknownSubject},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := auditlog.LeafOf(c.subject, c.body)
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if string(got) != c.want {
				t.Fatalf("record %q, want %q", got, c.want)
			}
		})
	}
}
