package directory_test

import (
	"bytes"
	"testing"

	"github.com/headsup-dev/headsup/internal/directory"
)

// FuzzOpen: Open never panics; whatever it accepts is signed by the pinned
// key (never by a key whose secret no input knows), is exactly the input,
// and its text parses to the same directory.
// testdata/fuzz/FuzzOpen holds files signed by govKey("gov.example", 1).
func FuzzOpen(f *testing.F) {
	skey, vkey := govKey(f, "gov.example", 1)
	_, strangerV := govKey(f, "gov.example", 0xee)
	text := validYAML(f)
	signed := signYAML(f, text, skey)
	f.Add(signed)
	f.Add([]byte(text))
	f.Add(signYAML(f, "serial: 1\nmembers: []\n", skey))
	f.Add(append([]byte(text+"\n"), signed[len(text)+1:]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := directory.Open(data, strangerV); err == nil {
			t.Fatal("accepted under a key nobody holds")
		}
		d, err := directory.Open(data, vkey)
		if err != nil {
			return
		}
		if !bytes.Equal(d.SignedNote(), data) {
			t.Fatal("SignedNote differs from the input")
		}
		i := bytes.LastIndex(data, []byte("\n\n"))
		p, err := directory.Parse(data[:i+1])
		if err != nil {
			t.Fatalf("the signed text does not parse alone: %v", err)
		}
		if marshal(t, p) != marshal(t, d) {
			t.Fatal("Open and Parse of the text disagree")
		}
	})
}
