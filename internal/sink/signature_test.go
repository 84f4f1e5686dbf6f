package sink_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/sink"
)

func TestSignatureVector(t *testing.T) {
	// Pinned (computed independently) so that receivers in other languages
	// can check their code:
	// HMAC-SHA256(key "0123456789abcdef0123456789abcdef", "1773480600.{}")
	got := sink.SignatureHeaderValue(secret, at, []byte("{}"))
	const want = "t=1773480600,v1=b50947f90b0c944d7c5fc081780cf09859dd1d0c8a0498a6bd4f4fbeb93c6345"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"schema":"headsup.alert.v1"}`)
	h := sink.SignatureHeaderValue(secret, at, body)
	if err := sink.VerifySignature(h, body, secret, at, time.Minute); err != nil {
		t.Fatalf("valid: %v", err)
	}
	cases := []struct {
		name   string
		header string
		body   []byte
		secret []byte
		now    time.Time
		tol    time.Duration
		want   error
	}{
		{"other body", h, []byte(`{"schema":"headsup.alert.v2"}`), secret, at, time.Minute, sink.ErrSignatureMismatch},
		{"other secret", h, body, []byte("another secret of enough bytes!!"), at, time.Minute, sink.ErrSignatureMismatch},
		{"replayed later", h, body, secret, at.Add(5*time.Minute + time.Second), 5 * time.Minute, sink.ErrSignatureStale},
		{"from the future", h, body, secret, at.Add(-2 * time.Minute), time.Minute, sink.ErrSignatureStale},
		{"default tolerance", h, body, secret, at.Add(sink.DefaultSignatureTolerance + time.Second), 0, sink.ErrSignatureStale},
		{"t moved", strings.Replace(h, "t=1773480600", "t=1773480601", 1), body, secret, at, time.Minute, sink.ErrSignatureMismatch},
		{"empty", "", body, secret, at, time.Minute, sink.ErrSignatureMalformed},
		{"no t", h[strings.Index(h, ",")+1:], body, secret, at, time.Minute, sink.ErrSignatureMalformed},
		{"no v1", h[:strings.Index(h, ",")], body, secret, at, time.Minute, sink.ErrSignatureMalformed},
		{"t twice", "t=1773480600," + h, body, secret, at, time.Minute, sink.ErrSignatureMalformed},
		{"t signed", strings.Replace(h, "t=", "t=+", 1), body, secret, at, time.Minute, sink.ErrSignatureMalformed},
		{"t leading zero", strings.Replace(h, "t=", "t=0", 1), body, secret, at, time.Minute, sink.ErrSignatureMalformed},
		{"upper-case hex", strings.ToUpper(h[:strings.Index(h, "v1=")]) + "v1=" + strings.ToUpper(h[strings.Index(h, "v1=")+3:]), body, secret, at, time.Minute, sink.ErrSignatureMalformed},
		{"short mac", h[:len(h)-2], body, secret, at, time.Minute, sink.ErrSignatureMalformed},
		{"spaces inside", strings.Replace(h, ",", ", ", 1), body, secret, at, time.Minute, sink.ErrSignatureMalformed},
		{"huge", h + strings.Repeat(",x=y", 300), body, secret, at, time.Minute, sink.ErrSignatureMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := sink.VerifySignature(c.header, c.body, c.secret, c.now, c.tol)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// Rotation: a second v1 under the new secret, and an unknown scheme.
	newSecret := []byte("the next secret, also 32 bytes!!")
	rot := sink.SignatureHeaderValue(newSecret, at, body)
	both := h + "," + rot[strings.Index(rot, "v1="):] + ",v2=future"
	for _, s := range [][]byte{secret, newSecret} {
		if err := sink.VerifySignature(both, body, s, at, time.Minute); err != nil {
			t.Errorf("rotation header under %q: %v", s, err)
		}
	}
}

// TestVerifySignatureFlipEveryByte: changing any byte of the body, or any
// byte of the header's hex MAC, is refused.
func TestVerifySignatureFlipEveryByte(t *testing.T) {
	body := marshal(t, event(1))
	h := sink.SignatureHeaderValue(secret, at, body)
	for i := range body {
		b := append([]byte(nil), body...)
		b[i] ^= 0x01
		if err := sink.VerifySignature(h, b, secret, at, time.Minute); !errors.Is(err, sink.ErrSignatureMismatch) {
			t.Fatalf("body byte %d flipped: %v", i, err)
		}
	}
	start := strings.Index(h, "v1=") + 3
	for i := start; i < len(h); i++ {
		for _, x := range []byte{0x01, 0x20, 0x40} { // 0x20 turns a→A: refused too
			b := []byte(h)
			b[i] ^= x
			err := sink.VerifySignature(string(b), body, secret, at, time.Minute)
			if err == nil {
				t.Fatalf("header byte %d ^ %#x accepted: %s", i, x, b)
			}
			if !errors.Is(err, sink.ErrSignatureMismatch) && !errors.Is(err, sink.ErrSignatureMalformed) {
				t.Fatalf("header byte %d ^ %#x: unexpected %v", i, x, err)
			}
		}
	}
	// And every byte of the whole header, including t.
	for i := range len(h) {
		b := []byte(h)
		b[i] ^= 0x01
		if err := sink.VerifySignature(string(b), body, secret, at, time.Minute); err == nil {
			t.Fatalf("header byte %d flipped: accepted %s", i, b)
		}
	}
}

// FuzzVerifySignature: a receiver's parser of outside input never panics,
// and accepts only the one header the sender would have made (or one that
// carries that MAC beside others).
func FuzzVerifySignature(f *testing.F) {
	body := []byte(`{"schema":"headsup.alert.v1"}`)
	f.Add(sink.SignatureHeaderValue(secret, at, body))
	f.Add("t=1773480600,v1=" + strings.Repeat("0", 64))
	f.Add("t=,v1=")
	f.Add(",,,")
	f.Fuzz(func(t *testing.T, header string) {
		err := sink.VerifySignature(header, body, secret, at, time.Minute)
		if err != nil {
			return
		}
		want := sink.SignatureHeaderValue(secret, at, body)
		mac := want[strings.Index(want, "v1="):]
		if !strings.Contains(header, mac) {
			t.Fatalf("accepted %q without the MAC %s", header, mac)
		}
	})
}
