package customers_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/match"
)

// The seed corpora are in testdata/fuzz/<target>/.

// FuzzParseCSV: parsing never panics, and a list that parses, written
// back as CSV, parses to the same rows (the normal form is a fixed point).
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("customer_id,display_name,type,value\nc-1,Epiq,host,epiq.example\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := customers.Parse("f.csv", false, b, "https://crm.example/{customer_id}")
		if err != nil {
			return
		}
		var out bytes.Buffer
		w := csv.NewWriter(&out)
		w.Write([]string{"customer_id", "display_name", "type", "value", "member_id", "valid_from"})
		for _, r := range rows {
			w.Write([]string{r.Owner, r.Name, string(r.Type), r.Value, r.Member, validFrom(r)})
		}
		w.Flush()
		again, err := customers.Parse("f.csv", false, out.Bytes(), "https://crm.example/{customer_id}")
		if err != nil {
			t.Fatalf("written back, refused: %v\n%s", err, out.Bytes())
		}
		sameRows(t, rows, again)
	})
}

// FuzzParseJSONL is FuzzParseCSV for JSON lines.
func FuzzParseJSONL(f *testing.F) {
	f.Add([]byte(`{"customer_id":"c-1","display_name":"Epiq","type":"host","value":"epiq.example"}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := customers.Parse("f.jsonl", true, b, "")
		if err != nil {
			return
		}
		var out bytes.Buffer
		for _, r := range rows {
			line, err := json.Marshal(map[string]string{
				"customer_id": r.Owner, "display_name": r.Name, "type": string(r.Type),
				"value": r.Value, "member_id": r.Member, "valid_from": validFrom(r),
			})
			if err != nil {
				t.Fatal(err)
			}
			out.Write(line)
			out.WriteByte('\n')
		}
		again, err := customers.Parse("f.jsonl", true, out.Bytes(), "")
		if err != nil {
			t.Fatalf("written back, refused: %v\n%s", err, out.Bytes())
		}
		sameRows(t, rows, again)
	})
}

func validFrom(r match.Row) string {
	if r.ValidFrom.IsZero() {
		return ""
	}
	return r.ValidFrom.Format(time.RFC3339Nano)
}

// sameRows compares rows except for their line numbers.
func sameRows(t *testing.T, a, b []match.Row) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d rows, written back %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		x.Line, y.Line = 0, 0
		if x != y {
			t.Fatalf("row %d:\n%+v\nwritten back:\n%+v", i, x, y)
		}
	}
}
