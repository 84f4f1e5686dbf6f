package sink_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/sink"
)

// checkLines asserts that data is JSON lines, each a valid event, and
// returns the (alert_id, revision) of each line.
func checkLines(t *testing.T, data []byte) []string {
	t.Helper()
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("output does not end with a newline: %q", data)
	}
	var keys []string
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if err := alert.Validate(line); err != nil {
			t.Fatalf("line %d: %v\n%s", i+1, err, line)
		}
		var e alert.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		keys = append(keys, fmt.Sprintf("%s:%d", e.AlertID[:8], e.Revision))
	}
	return keys
}

func TestJSONLinesOneObjectPerLine(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	s := sink.NewJSONLines(bw, "")
	if s.Name() != "jsonlines" {
		t.Errorf("Name = %q", s.Name())
	}
	ctx := t.Context()
	e1 := event(1)
	// The outbox's exact bytes, even indented, become one line.
	indented, err := json.MarshalIndent(e1, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(ctx, e1, indented); err != nil {
		t.Fatal(err)
	}
	// Flushed before Deliver returned: the line is in buf now.
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 {
		t.Fatalf("after one event: %d lines in the underlying writer (not flushed?)", n)
	}
	e2 := event(2)
	e2.Event = alert.EventUpdated
	if err := s.Deliver(ctx, e2, nil); err != nil { // nil body: the sink marshals
		t.Fatal(err)
	}
	e3 := event(3)
	e3.Event, e3.State, e3.Paths, e3.Strength = alert.EventWithdrawn, alert.StateWithdrawn, nil, ""
	e3.Withdrawn = &alert.Withdrawal{Reason: alert.WithdrawExpired}
	if err := s.Deliver(ctx, e3, marshal(t, e3)); err != nil {
		t.Fatal(err)
	}
	keys := checkLines(t, buf.Bytes())
	if len(keys) != 3 || !strings.HasSuffix(keys[0], ":1") || !strings.HasSuffix(keys[2], ":3") {
		t.Fatalf("lines: %v", keys)
	}
}

func TestJSONLinesRefusesNonObjects(t *testing.T) {
	var buf bytes.Buffer
	s := sink.NewJSONLines(&buf, "x")
	for _, body := range []string{"[]", "not json", `"string"`, `{"a":1} {"b":2}`} {
		err := s.Deliver(t.Context(), event(1), []byte(body))
		if !errors.Is(err, sink.ErrPermanent) {
			t.Errorf("body %q: %v, want ErrPermanent", body, err)
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote %q", buf.Bytes())
	}
}

func TestJSONLinesCanceled(t *testing.T) {
	var buf bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := sink.NewJSONLines(&buf, "x").Deliver(ctx, event(1), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestJSONLinesPipe: stdout is often a pipe, which cannot be fsynced; that
// is not a delivery failure.
func TestJSONLinesPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	done := make(chan []byte)
	go func() {
		b, _ := bufio.NewReader(r).ReadBytes('\n')
		done <- b
	}()
	if err := sink.NewJSONLines(w, "stdout").Deliver(t.Context(), event(1), nil); err != nil {
		t.Fatal(err)
	}
	checkLines(t, <-done)
}

// failWriter accepts limit bytes in all, then fails part-way.
type failWriter struct {
	buf   bytes.Buffer
	limit int
}

func (f *failWriter) Write(p []byte) (int, error) {
	if f.buf.Len()+len(p) <= f.limit {
		return f.buf.Write(p)
	}
	n := f.limit - f.buf.Len()
	f.buf.Write(p[:n])
	return n, errors.New("disk full")
}

// TestJSONLinesPartialWrite: after a write fails part-way the next event
// starts on a line of its own, so only the broken line is lost.
func TestJSONLinesPartialWrite(t *testing.T) {
	one := len(marshal(t, event(1))) + 1
	fw := &failWriter{limit: one + one/2}
	s := sink.NewJSONLines(fw, "x")
	if err := s.Deliver(t.Context(), event(1), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(t.Context(), event(2), nil); err == nil || errors.Is(err, sink.ErrPermanent) {
		t.Fatalf("partial write: %v, want a retryable error", err)
	}
	fw.limit = 1 << 20
	if err := s.Deliver(t.Context(), event(2), nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(fw.buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (good, broken, good)", len(lines))
	}
	checkLines(t, []byte(lines[0]+"\n"+lines[2]+"\n"))
}

func TestJSONLinesConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	s, c, err := sink.OpenJSONLinesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			if err := s.Deliver(t.Context(), event(uint64(i+1)), nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if keys := checkLines(t, data); len(keys) != 8 {
		t.Fatalf("%d lines, want 8", len(keys))
	}
}

func TestJSONLinesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	s, c, err := sink.OpenJSONLinesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(t.Context(), event(1), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (alerts carry TLP-marked material)", st.Mode().Perm())
	}

	// A crash left half a line: reopening cuts it off, appends after the
	// last whole line.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"schema":"headsup.alert.v1","event":"rai`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, c, err = sink.OpenJSONLinesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := s.Deliver(t.Context(), event(2), nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if keys := checkLines(t, data); len(keys) != 2 || !strings.HasSuffix(keys[1], ":2") {
		t.Fatalf("lines %v", keys)
	}
	if s.Name() != "jsonlines:"+path {
		t.Errorf("Name = %q", s.Name())
	}
}

func TestOpenJSONLinesFileTrims(t *testing.T) {
	for name, c := range map[string]struct{ in, want string }{
		"empty":           {"", ""},
		"whole lines":     {"{}\n{}\n", "{}\n{}\n"},
		"partial":         {"{}\n{\"a\"", "{}\n"},
		"only partial":    {"{\"a\":", ""},
		"long partial":    {"{}\n" + strings.Repeat("x", 200<<10), "{}\n"},
		"long whole line": {strings.Repeat("x", 100<<10) + "\n{", strings.Repeat("x", 100<<10) + "\n"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.jsonl")
			if err := os.WriteFile(path, []byte(c.in), 0o600); err != nil {
				t.Fatal(err)
			}
			_, cl, err := sink.OpenJSONLinesFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cl.Close()
			got, _ := os.ReadFile(path)
			if string(got) != c.want {
				t.Fatalf("got %d bytes, want %d", len(got), len(c.want))
			}
		})
	}
}

func TestOpenJSONLinesFileError(t *testing.T) {
	if _, _, err := sink.OpenJSONLinesFile(filepath.Join(t.TempDir(), "no", "such", "dir", "a.jsonl")); err == nil {
		t.Fatal("no error for a missing directory")
	}
}

func TestText(t *testing.T) {
	var buf bytes.Buffer
	s := sink.NewText(&buf, "")
	e := event(1)
	if err := s.Deliver(t.Context(), e, marshal(t, e)); err != nil {
		t.Fatal(err)
	}
	if want := alert.Render(e) + "\n"; buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
	// From the body alone (an outbox that kept only bytes).
	buf.Reset()
	if err := s.Deliver(t.Context(), nil, marshal(t, e)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), e.Headline) {
		t.Fatalf("headline missing:\n%s", buf.String())
	}
}

func TestJSONLinesFileLastDelivered(t *testing.T) {
	line := func(rev uint64) string {
		return string(marshal(t, event(rev))) + "\n"
	}
	id := event(1).AlertID
	long := event(7)
	long.Headline = strings.Repeat("s", 150<<10) // spans several read chunks (not a valid event, a long line)
	b, err := json.Marshal(long)
	if err != nil {
		t.Fatal(err)
	}
	longLine := string(b) + "\n"
	for _, tt := range []struct {
		name string
		file string // content before open
		tail string // appended after open (open trims a partial line)
		rev  uint64 // 0: none
	}{
		{name: "empty"},
		{name: "one line", file: line(1), rev: 1},
		{name: "several lines", file: line(1) + line(2) + line(3), rev: 3},
		{name: "partial line after open", file: line(1) + line(2), tail: `{"alert_id":"` + id + `","revision":9`, rev: 2},
		{name: "partial line trimmed on open", file: line(1) + `{"alert_id":"x","rev`, rev: 1},
		{name: "long last line", file: line(1) + longLine, rev: 7},
		{name: "long line before", file: longLine + line(2), rev: 2},
		{name: "not JSON", file: line(1) + "garbage\n"},
		{name: "no alert_id", file: line(1) + `{"revision":3}` + "\n"},
		{name: "no revision", file: line(1) + `{"alert_id":"` + id + `"}` + "\n"},
		{name: "empty last line", file: line(1) + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.jsonl")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			s, c, err := sink.OpenJSONLinesFile(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if tt.tail != "" {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(tt.tail)
				f.Close()
			}
			r, ok := s.(sink.Resumer)
			if !ok {
				t.Fatal("the JSON-lines file sink is not a Resumer")
			}
			gotID, gotRev, ok := r.LastDelivered()
			if tt.rev == 0 {
				if ok {
					t.Fatalf("LastDelivered = %s:%d, want none", gotID, gotRev)
				}
				return
			}
			if !ok || gotID != id || gotRev != tt.rev {
				t.Fatalf("LastDelivered = %s:%d %v, want %s:%d", gotID, gotRev, ok, id, tt.rev)
			}
		})
	}
}

// TestJSONLinesFileLastDeliveredFollowsDeliver: what Deliver wrote is what
// LastDelivered reports, with no reopen in between.
func TestJSONLinesFileLastDeliveredFollowsDeliver(t *testing.T) {
	s, c, err := sink.OpenJSONLinesFile(filepath.Join(t.TempDir(), "a.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := s.(sink.Resumer)
	if _, _, ok := r.LastDelivered(); ok {
		t.Fatal("a new file reports an event")
	}
	for rev := uint64(1); rev <= 3; rev++ {
		e := event(rev)
		if err := s.Deliver(t.Context(), e, marshal(t, e)); err != nil {
			t.Fatal(err)
		}
		if id, got, ok := r.LastDelivered(); !ok || id != e.AlertID || got != rev {
			t.Fatalf("after revision %d: LastDelivered = %s:%d %v", rev, id, got, ok)
		}
	}
}

// TestOnlyFilesResume: a stream or a text sink cannot read back what it
// wrote, so it must not claim to.
func TestOnlyFilesResume(t *testing.T) {
	var buf bytes.Buffer
	for _, s := range []sink.Sink{sink.NewJSONLines(&buf, ""), sink.NewText(&buf, "")} {
		if _, ok := s.(sink.Resumer); ok {
			t.Errorf("%s is a Resumer", s.Name())
		}
	}
}

// TestDeliverBatch: a batch is the same lines as its events delivered one
// by one, in order; LastDelivered names the batch's last event; a batch
// with one event that cannot be a line is refused as permanent and writes
// nothing.
func TestDeliverBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	s, c, err := sink.OpenJSONLinesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	b, ok := s.(sink.Batch)
	if !ok {
		t.Fatal("the JSON-lines file sink takes no batches")
	}
	var events []sink.Event
	for rev := uint64(1); rev <= 3; rev++ {
		e := event(rev)
		body := marshal(t, e)
		if rev == 2 {
			body = nil // the sink marshals, as Deliver does
		}
		events = append(events, sink.Event{Event: e, Body: body})
	}
	if err := b.DeliverBatch(t.Context(), events); err != nil {
		t.Fatal(err)
	}
	if err := b.DeliverBatch(t.Context(), nil); err != nil {
		t.Fatalf("an empty batch: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if keys := checkLines(t, data); len(keys) != 3 || !strings.HasSuffix(keys[0], ":1") || !strings.HasSuffix(keys[2], ":3") {
		t.Fatalf("lines: %v", keys)
	}
	if id, rev, ok := s.(sink.Resumer).LastDelivered(); !ok || id != events[2].Event.AlertID || rev != 3 {
		t.Fatalf("LastDelivered = %s:%d %v, want the batch's last", id, rev, ok)
	}
	bad := append(events[:1:1], sink.Event{Event: event(4), Body: []byte(`[1]`)})
	if err := b.DeliverBatch(t.Context(), bad); !errors.Is(err, sink.ErrPermanent) {
		t.Fatalf("a batch with a non-object: %v, want ErrPermanent", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, data) {
		t.Fatalf("a refused batch wrote %q", after[len(data):])
	}
}
