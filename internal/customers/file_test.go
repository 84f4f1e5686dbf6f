package customers_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/match"
)

const link = "https://crm.example/customers/{customer_id}?tab=abuse"

// syncBuffer is a log sink that a source's goroutine and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recorder collects the snapshots a Run delivers.
type recorder struct {
	mu    sync.Mutex
	snaps []customers.Snapshot
}

func (r *recorder) onChange(s customers.Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snaps = append(r.snaps, s)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.snaps)
}

func (r *recorder) last() customers.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.snaps) == 0 {
		return customers.Snapshot{}
	}
	return r.snaps[len(r.snaps)-1]
}

// waitCount waits until n snapshots have been delivered and returns the
// last.
func (r *recorder) waitCount(t *testing.T, n int) customers.Snapshot {
	t.Helper()
	eventually(t, "snapshot delivered", func() bool { return r.count() >= n })
	if got := r.count(); got != n {
		t.Fatalf("%d snapshots delivered, want %d", got, n)
	}
	return r.last()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // a poll step, not a wait for an event
	}
}

// writeAtomic replaces path by renaming a new file over it, as editors do.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// keys lists "owner type value" of each row, in order.
func keys(rows []match.Row) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.Owner + " " + string(r.Type) + " " + r.Value + "\n")
	}
	return b.String()
}

func TestFileLoad(t *testing.T) {
	vf := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	want := []match.Row{
		{Owner: "c-1", Name: "Epiq Hosting", Type: match.TypeHost, Value: "example.com", Link: "https://crm.example/customers/c-1?tab=abuse", Line: 2},
		{Owner: "c 1/x", Name: "Epiq, Ltd", Type: match.TypePrefix, Value: "192.0.2.0/24", Member: "epiq", ValidFrom: vf, Link: "https://crm.example/customers/c%201%2Fx?tab=abuse", Line: 3},
		{Owner: "c-2", Name: "Vox", Type: match.TypeASN, Value: "AS64500", Link: "https://crm.example/customers/c-2?tab=abuse", Line: 4},
		{Owner: "c-2", Name: "", Type: match.TypeOrganisation, Value: "epiq hosting", Link: "https://crm.example/customers/c-2?tab=abuse", Line: 6},
	}
	tests := []struct {
		name, file, content string
	}{
		{"csv", "customers.csv", "\ufeffType, customer_id ,DISPLAY_NAME,value,member_id,valid_from\r\n" +
			"domain,c-1,Epiq Hosting, Example.COM. ,,\r\n" +
			"ip,c 1/x,\"Epiq, Ltd\",192.0.2.0/24,epiq,2024-05-01T10:00:00+02:00\r\n" +
			"asn,c-2,Vox,64500,,\r\n" +
			"\r\n" +
			"org,c-2,,\"Epiq Hosting GmbH\",,\r\n"},
		// A blank first line, so that lines are those of the CSV case.
		{"jsonl", "customers.jsonl", "\n" + `{"customer_id":"c-1","display_name":"Epiq Hosting","type":"domain","value":" Example.COM. "}
{"customer_id":"c 1/x","display_name":"Epiq, Ltd","type":"ip","value":"192.0.2.0/24","member_id":"epiq","valid_from":"2024-05-01T10:00:00+02:00"}
{"type":"asn","value":"64500","customer_id":"c-2","display_name":"Vox","member_id":null}

{"customer_id":"c-2","display_name":null,"type":"org","value":"Epiq Hosting GmbH"}
`},
		{"ndjson with a numeric id", "customers.ndjson", `{"customer_id":42,"display_name":"N","type":"email","value":"Abuse@Example.COM"}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := customers.NewFile(path, link, nil).Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if s.Source != path || !strings.HasPrefix(s.Version, "sha256:") || s.LoadedAt.IsZero() {
				t.Errorf("snapshot source %q version %q loaded %v", s.Source, s.Version, s.LoadedAt)
			}
			want := want
			if tc.file == "customers.ndjson" {
				want = []match.Row{{Owner: "42", Name: "N", Type: match.TypeEmail, Value: "abuse@example.com", Link: "https://crm.example/customers/42?tab=abuse", Line: 1}}
			}
			if len(s.Rows) != len(want) {
				t.Fatalf("rows:\n%s\nwant:\n%s", keys(s.Rows), keys(want))
			}
			for i, w := range want {
				w.Source = path
				if got := s.Rows[i]; got != w {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got, w)
				}
			}
		})
	}
}

func TestFileLoadRefusesBadRow(t *testing.T) {
	const hdr = "customer_id,display_name,type,value,member_id,valid_from\n"
	const good = "c-1,Epiq,host,epiq.example,,\n"
	tests := []struct {
		name, file, content string
		line                int
		field, value        string // field "" when the line cannot be read at all
		err                 error
	}{
		{"csv unknown type", "c.csv", hdr + good + "c-2,Vox,dommain,vox.example,,\n", 3, "type", "dommain", customers.ErrUnknownType},
		{"csv missing column", "c.csv", "customer_id,display_name,type\nc-1,Epiq,host\n", 1, "value", "", customers.ErrMissingField},
		{"csv empty value", "c.csv", hdr + good + good + "c-2,Vox,host, ,,\n", 4, "value", " ", customers.ErrMissingField},
		{"csv empty customer id", "c.csv", hdr + ",Vox,host,vox.example,,\n", 2, "customer_id", "", customers.ErrMissingField},
		{"csv bad valid_from", "c.csv", hdr + good + "c-2,Vox,host,vox.example,,2024-05-01\n", 3, "valid_from", "2024-05-01", customers.ErrInvalidValue},
		{"csv bad value", "c.csv", hdr + good + "c-2,Vox,prefix,10.0.0.300,,\n", 3, "value", "10.0.0.300", customers.ErrInvalidValue},
		{"csv public suffix", "c.csv", hdr + "c-2,Vox,host,co.uk,,\n", 2, "value", "co.uk", customers.ErrInvalidValue},
		{"csv bad member id", "c.csv", hdr + "c-2,Vox,host,vox.example,Vox_Host,\n", 2, "member_id", "Vox_Host", customers.ErrInvalidValue},
		{"csv unknown column", "c.csv", "customer_id,display_name,type,value,valid_form\n", 1, "header", "valid_form", customers.ErrUnknownField},
		{"csv duplicate column", "c.csv", "customer_id,display_name,type,value,Type\n", 1, "header", "Type", customers.ErrDuplicateField},
		{"csv wrong field count", "c.csv", hdr + good + "c-2,Vox,host\n", 3, "", "", customers.ErrFormat},
		{"csv bad quoting", "c.csv", hdr + "c-2,\"Vox,host,vox.example,,\n", 2, "", "", customers.ErrFormat},
		{"csv empty file", "c.csv", "", 1, "", "", customers.ErrFormat},
		{"jsonl unknown type", "c.jsonl", `{"customer_id":"c-1","display_name":"E","type":"host","value":"epiq.example"}` + "\n" +
			`{"customer_id":"c-2","display_name":"V","type":"url","value":"https://vox.example/"}` + "\n", 2, "type", "url", customers.ErrUnknownType},
		{"jsonl missing key", "c.jsonl", `{"customer_id":"c-1","display_name":"E","type":"host"}` + "\n", 1, "value", "", customers.ErrMissingField},
		{"jsonl null required key", "c.jsonl", `{"customer_id":null,"display_name":"E","type":"host","value":"epiq.example"}` + "\n", 1, "customer_id", "", customers.ErrMissingField},
		{"jsonl bad valid_from", "c.jsonl", "\n" + `{"customer_id":"c-1","display_name":"E","type":"host","value":"epiq.example","valid_from":"yesterday"}` + "\n", 2, "valid_from", "yesterday", customers.ErrInvalidValue},
		{"jsonl bad value", "c.jsonl", `{"customer_id":"c-1","display_name":"E","type":"asn","value":"AS0"}` + "\n", 1, "value", "AS0", customers.ErrInvalidValue},
		{"jsonl unknown key", "c.jsonl", `{"customer_id":"c-1","display_name":"E","type":"host","value":"epiq.example","note":"x"}` + "\n", 1, "note", "", customers.ErrUnknownField},
		{"jsonl duplicate key", "c.jsonl", `{"customer_id":"c-1","display_name":"E","type":"host","value":"epiq.example","value":"vox.example"}` + "\n", 1, "value", "", customers.ErrDuplicateField},
		{"jsonl number for a string", "c.jsonl", `{"customer_id":"c-1","display_name":"E","type":"asn","value":64500}` + "\n", 1, "value", "64500", customers.ErrInvalidValue},
		{"jsonl not an object", "c.jsonl", `["c-1","E","host","epiq.example"]` + "\n", 1, "", "", customers.ErrFormat},
		{"jsonl two objects", "c.jsonl", `{"customer_id":"c-1","display_name":"E","type":"host","value":"epiq.example"} {}` + "\n", 1, "", "", customers.ErrFormat},
		{"jsonl broken", "c.jsonl", `{"customer_id":"c-1",` + "\n", 1, "", "", customers.ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := customers.NewFile(path, "", nil).Load(t.Context())
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if tc.field == "" {
				if want := path + ":" + strconv.Itoa(tc.line) + ": "; !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %q does not start with %q", err, want)
				}
				return
			}
			var re *customers.RowError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *RowError", err, err)
			}
			if re.Source != path || re.Line != tc.line || re.Field != tc.field || re.Value != tc.value {
				t.Errorf("RowError{%q, %d, %q, %q}, want {%q, %d, %q, %q}",
					re.Source, re.Line, re.Field, re.Value, path, tc.line, tc.field, tc.value)
			}
		})
	}
}

func TestFileLoadRefusesUnknownExtension(t *testing.T) {
	path := filepath.Join(t.TempDir(), "customers.xlsx")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := customers.NewFile(path, "", nil).Load(t.Context()); !errors.Is(err, customers.ErrFormat) {
		t.Fatalf("error %v, want ErrFormat", err)
	}
}

const (
	listV1 = "customer_id,display_name,type,value\nc-1,Epiq,host,epiq.example\n"
	listV2 = "customer_id,display_name,type,value\nc-1,Epiq,host,epiq.example\nc-2,Vox,asn,64500\n"
	listV3 = "customer_id,display_name,type,value\nc-2,Vox,asn,64500\n"
	badV   = "customer_id,display_name,type,value\nc-1,Epiq,host,epiq.example\nc-9,Bad,dommain,x.example\n"
)

// runFile starts f.Run and stops it at cleanup, checking it returns nil.
func runFile(t *testing.T, f *customers.File) *recorder {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, rec.onChange) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
	return rec
}

func TestFileRunReloadsAndKeepsLastGood(t *testing.T) {
	for _, pollOnly := range []bool{false, true} {
		name := "events"
		if pollOnly {
			name = "poll only"
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "customers.csv")
			writeAtomic(t, path, listV1)
			logs := &syncBuffer{}
			f := customers.NewFile(path, link, slog.New(slog.NewTextHandler(logs, nil)))
			if pollOnly {
				customers.SetPollOnly(f, 10*time.Millisecond)
			}
			rec := runFile(t, f)

			s := rec.waitCount(t, 1)
			if got := keys(s.Rows); got != "c-1 host epiq.example\n" {
				t.Fatalf("first snapshot:\n%s", got)
			}
			v1 := s.Version

			writeAtomic(t, path, listV2)
			s = rec.waitCount(t, 2)
			if got := keys(s.Rows); got != "c-1 host epiq.example\nc-2 asn AS64500\n" || s.Version == v1 {
				t.Fatalf("second snapshot %s:\n%s", s.Version, got)
			}

			// A bad edit: refused, logged once with file:line, field and
			// value, and nobody is told about it.
			writeAtomic(t, path, badV)
			eventually(t, "refusal logged", func() bool { return strings.Contains(logs.String(), "customer list refused") })
			log := logs.String()
			for _, want := range []string{path + ":3: type", "dommain"} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q:\n%s", want, log)
				}
			}
			// Touched, same bad content: read again, not logged again.
			n := customers.Reads(f)
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
			eventually(t, "touched file read again", func() bool { return customers.Reads(f) > n })

			writeAtomic(t, path, listV3)
			s = rec.waitCount(t, 3)
			if got := keys(s.Rows); got != "c-2 asn AS64500\n" {
				t.Fatalf("third snapshot:\n%s", got)
			}
			if n := strings.Count(logs.String(), "customer list refused"); n != 1 {
				t.Errorf("refusal logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

func TestFileRunInPlaceWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "customers.jsonl")
	if err := os.WriteFile(path, []byte(`{"customer_id":"c-1","display_name":"E","type":"host","value":"epiq.example"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := runFile(t, customers.NewFile(path, "", nil))
	rec.waitCount(t, 1)
	// Rewritten in place (truncate and write), as `>` in a shell does.
	if err := os.WriteFile(path, []byte(`{"customer_id":"c-2","display_name":"V","type":"asn","value":"AS64500"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := keys(rec.waitCount(t, 2).Rows); got != "c-2 asn AS64500\n" {
		t.Fatalf("snapshot after rewrite:\n%s", got)
	}
}

func TestFileRunFailsOnBadStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "customers.csv")
	writeAtomic(t, bad, badV)
	for _, path := range []string{bad, filepath.Join(dir, "missing.csv")} {
		called := false
		err := customers.NewFile(path, "", nil).Run(t.Context(), func(customers.Snapshot) { called = true })
		if err == nil || called {
			t.Errorf("%s: Run = %v (onChange called: %v), want an error and no call", path, err, called)
		}
	}
}
