package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
)

var update = flag.Bool("update", false, "rewrite testdata/vector.json and the FuzzVerify seed corpus")

// vector is the worked example other implementations check themselves
// against; testdata/README.md explains each field.
type vector struct {
	Comment      string `json:"comment"`
	Seed         string `json:"seed"`
	PublicKey    string `json:"public_key"`
	Kid          string `json:"kid"`
	Notice       string `json:"notice"`
	NoticeSHA256 string `json:"notice_sha256"`
	Header       string `json:"header"`
	Claims       string `json:"claims"`
	JWS          string `json:"jws"`
	LogTime      string `json:"log_time"`
}

const vectorPath = "testdata/vector.json"

// vectorSeed is 00 01 02 … 1f.
func vectorSeed() []byte {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

func makeVector(t *testing.T) vector {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(vectorSeed())
	pub := priv.Public().(ed25519.PublicKey)
	n := testNotice()
	n.Audience = []string{"edgeshield", "voxhost"}
	env, err := envelope.Seal(n, priv)
	if err != nil {
		t.Fatal(err)
	}
	return vector{
		Comment:      "headsup notice envelope, worked example; see README.md beside this file",
		Seed:         hex.EncodeToString(vectorSeed()),
		PublicKey:    b64.EncodeToString(pub),
		Kid:          directory.Thumbprint(pub),
		Notice:       hex.EncodeToString(env.Notice),
		NoticeSHA256: envelope.Digest(env.Notice),
		Header:       decodePart(t, env.Jws, 0),
		Claims:       decodePart(t, env.Jws, 1),
		JWS:          env.Jws,
		LogTime:      logTime.Format(time.RFC3339),
	}
}

func readVector(t testing.TB) vector {
	t.Helper()
	b, err := os.ReadFile(vectorPath)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVector regenerates the worked example from its seed and notice
// bytes (Ed25519 is deterministic) and compares it with testdata.
func TestVector(t *testing.T) {
	if *update {
		v := makeVector(t)
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		writeFuzzCorpus(t, v)
	}
	v := readVector(t)
	seed, err := hex.DecodeString(v.Seed)
	if err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	if got := b64.EncodeToString(pub); got != v.PublicKey {
		t.Errorf("public_key %s, vector says %s", got, v.PublicKey)
	}
	if got := directory.Thumbprint(pub); got != v.Kid {
		t.Errorf("kid %s, vector says %s", got, v.Kid)
	}
	nb, err := hex.DecodeString(v.Notice)
	if err != nil {
		t.Fatal(err)
	}
	if got := envelope.Digest(nb); got != v.NoticeSHA256 {
		t.Errorf("notice_sha256 %s, vector says %s", got, v.NoticeSHA256)
	}
	n := new(headsupv1.Notice)
	if err := proto.Unmarshal(nb, n); err != nil {
		t.Fatal(err)
	}
	jws, err := envelope.Sign(nb, n, v.Kid, priv)
	if err != nil {
		t.Fatal(err)
	}
	if jws != v.JWS {
		t.Errorf("JWS\n  %s\nvector says\n  %s", jws, v.JWS)
	}
	if want := b64.EncodeToString([]byte(v.Header)) + "." + b64.EncodeToString([]byte(v.Claims)) + "."; len(jws) < len(want) || jws[:len(want)] != want {
		t.Errorf("JWS does not start with base64url(header).base64url(claims).")
	}

	dir := &directory.Directory{Serial: 1, TestNetwork: true, Members: []*directory.Member{{
		ID: "edgeshield", Name: "EdgeShield CDN", AbuseContact: "abuse@edgeshield.example",
		Keys: []*directory.Key{{ID: v.Kid, Use: directory.UseNotice, Public: pub}},
	}}}
	lt, err := time.Parse(time.RFC3339, v.LogTime)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envelope.Verify(&headsupv1.Envelope{Notice: nb, Jws: v.JWS}, dir, lt); err != nil {
		t.Errorf("the vector does not verify: %v", err)
	}
}

// writeFuzzCorpus writes FuzzVerify's seed corpus: the vector and a few
// near misses, in the go test fuzz v1 format.
func writeFuzzCorpus(t *testing.T, v vector) {
	t.Helper()
	nb, _ := hex.DecodeString(v.Notice)
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seeds := map[string]struct {
		notice []byte
		jws    string
	}{
		"valid":             {nb, v.JWS},
		"empty":             {nil, ""},
		"no_notice":         {nil, v.JWS},
		"two_parts":         {nb, v.JWS[:len(v.JWS)-87]},
		"alg_none":          {nb, b64.EncodeToString([]byte(`{"alg":"none","typ":"headsup-notice+jwt","kid":"`+v.Kid+`"}`)) + "." + b64.EncodeToString([]byte(v.Claims)) + "."},
		"duplicate_members": {nb, b64.EncodeToString([]byte(`{"alg":"EdDSA","alg":"EdDSA"}`)) + "." + b64.EncodeToString([]byte(`{"iss":"a","iss":"b"}`)) + ".AA"},
		"deep_json":         {nb, b64.EncodeToString([]byte(`{"alg":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}`)) + ".e30.AA"},
	}
	for name, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nstring(%s)\n", strconv.Quote(string(s.notice)), strconv.Quote(s.jws))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzVerify: no input makes Verify, VerifyJWS or PeekClaims panic, every
// failure carries one of the package's errors, and whatever verifies is
// consistent with itself.
func FuzzVerify(f *testing.F) {
	v := readVector(f)
	seed, _ := hex.DecodeString(v.Seed)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	dir := &directory.Directory{Serial: 1, TestNetwork: true, Members: []*directory.Member{{
		ID: "edgeshield", Name: "EdgeShield CDN", AbuseContact: "abuse@edgeshield.example",
		Keys: []*directory.Key{{ID: v.Kid, Use: directory.UseNotice, Public: pub}},
	}}}
	lt, _ := time.Parse(time.RFC3339, v.LogTime)
	f.Fuzz(func(t *testing.T, nb []byte, jws string) {
		got, err := envelope.Verify(&headsupv1.Envelope{Notice: nb, Jws: jws}, dir, lt)
		if err != nil {
			found := false
			for _, s := range sentinels {
				found = found || errors.Is(err, s)
			}
			if !found {
				t.Fatalf("unclassified error: %v", err)
			}
		} else {
			if got.Notice.GetId() != got.Claims.ID || got.Notice.GetIssuer() != got.Member.ID ||
				got.Claims.NoticeSHA256 != envelope.Digest(nb) {
				t.Fatalf("verified envelope disagrees with itself: %+v", got)
			}
		}
		c, _, _, jerr := envelope.VerifyJWS(jws, dir, lt)
		if err == nil && (jerr != nil || c.ID != got.Claims.ID) {
			t.Fatalf("Verify succeeded, VerifyJWS: %v", jerr)
		}
		if p, perr := envelope.PeekClaims(jws); jerr == nil && (perr != nil || p.ID != c.ID) {
			t.Fatalf("VerifyJWS succeeded, PeekClaims: %v", perr)
		}
	})
}
