package alert_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/headsup-dev/headsup/internal/alert"
)

// FuzzValidate: Validate never panics on outside input, and whatever it
// accepts and the Go types decode, they encode again into a valid event
// (the schema and the types describe one format).
func FuzzValidate(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed events: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if alert.Validate(b) != nil {
			return
		}
		var e alert.Event
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return // e.g. 1.0 for an integer: valid JSON Schema, not a Go uint64
		}
		out, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if err := alert.Validate(out); err != nil {
			t.Fatalf("re-encoded event is invalid: %v\nin:  %s\nout: %s", err, b, out)
		}
	})
}
