package directory_test

import (
	"reflect"
	"testing"

	"github.com/headsup-dev/headsup/internal/directory"
)

// FuzzParse: Parse never panics, and whatever it accepts survives a round
// trip through Marshal unchanged (so a directory re-published by tooling
// says what the original said).
func FuzzParse(f *testing.F) {
	f.Add([]byte(validYAML(f)))
	f.Add([]byte("serial: 1\nmembers: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := directory.Parse(data)
		if err != nil {
			return
		}
		b, err := directory.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal of a parsed directory: %v", err)
		}
		d2, err := directory.Parse(b)
		if err != nil {
			t.Fatalf("Parse(Marshal(d)): %v\n%s", err, b)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("round trip changed the directory:\n%s", b)
		}
	})
}
