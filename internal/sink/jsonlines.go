package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/headsup-dev/headsup/internal/alert"
)

// NewJSONLines returns a sink that writes each event to w as one JSON
// object on one line (JSON Lines), in a single Write, and then makes it
// durable: w's Sync (an *os.File: fsync) or Flush (a *bufio.Writer) is
// called before Deliver returns. Sync errors that only say the file cannot
// be synced (a pipe or a terminal: EINVAL, ENOTSUP) are ignored. Deliver
// is safe for concurrent use; lines never interleave.
//
// If a write fails part-way, the next event starts with a newline, so a
// reader loses at most the one broken line (use [OpenJSONLinesFile] for a
// file: it removes the broken part instead).
func NewJSONLines(w io.Writer, name string) Sink {
	if name == "" {
		name = "jsonlines"
	}
	return &lines{name: name, w: w, encode: jsonLine}
}

// NewText returns a sink that writes each event as [alert.Render] text
// followed by a blank line, for a person watching a terminal (the
// JSON-lines sink's human mode). It syncs and recovers as [NewJSONLines].
func NewText(w io.Writer, name string) Sink {
	if name == "" {
		name = "text"
	}
	return &lines{name: name, w: w, encode: textBlock}
}

// OpenJSONLinesFile opens (creating it with mode 0600: alerts carry
// TLP-marked material) path for appending JSON lines, and returns the sink
// and the file to close when the agent stops. Each event is fsynced before
// Deliver returns. A last line left incomplete by a crash is cut off on
// open, and a failed write is cut off at once, so the file only ever holds
// whole lines; the outbox delivers the lost event again. The sink is a
// [Resumer]: its last line tells the outbox where a crash left it, so the
// file holds each event exactly once.
func OpenJSONLinesFile(path string) (Sink, io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("jsonlines sink: %w", err)
	}
	if err := trimPartialLine(f); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("jsonlines sink %s: %w", path, err)
	}
	return &jsonLinesFile{&lines{name: "jsonlines:" + path, w: f, file: f, encode: jsonLine}}, f, nil
}

// Resumer is a sink that can say which event it holds last. The outbox
// delivers to a sink strictly in its own order and marks an event
// delivered only after Deliver returns, so a crash between the two leaves
// events the sink has but the outbox thinks pending; a Resumer lets the
// outbox mark them delivered on restart instead of delivering them twice,
// which makes the sink exactly once rather than at least once.
type Resumer interface {
	// LastDelivered returns the (alert_id, revision) of the last event
	// the sink holds complete. ok is false when it holds none or cannot
	// tell (an unreadable or foreign last line): the outbox then delivers
	// again, at least once, rather than risk skipping an event.
	LastDelivered() (alertID string, revision uint64, ok bool)
}

// jsonLinesFile is the JSON-lines sink on a file, which it can read back:
// its last complete line is the last event delivered.
type jsonLinesFile struct{ *lines }

// LastDelivered reads the file's last complete line (the file as it is
// now, so an outbox that resumes after a crash sees what the crash left).
func (f *jsonLinesFile) LastDelivered() (string, uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line, err := lastLine(f.file)
	if err != nil || line == nil {
		return "", 0, false
	}
	var key struct {
		AlertID  string `json:"alert_id"`
		Revision uint64 `json:"revision"`
	}
	if err := json.Unmarshal(line, &key); err != nil || key.AlertID == "" || key.Revision == 0 {
		return "", 0, false
	}
	return key.AlertID, key.Revision, true
}

// maxResumeLine bounds how far back lastLine reads: an event is far
// smaller, so a longer line is not one this sink wrote.
const maxResumeLine = 16 << 20

// lastLine returns the last newline-terminated line of f without its
// newline, or nil when f holds none. Bytes after the last newline (a write
// cut short that could not be truncated away) are not a delivered event
// and are skipped.
func lastLine(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	end, err := newlineBefore(f, st.Size(), st.Size())
	if err != nil || end < 0 {
		return nil, err
	}
	start, err := newlineBefore(f, end, maxResumeLine+1)
	if err != nil {
		return nil, err
	}
	if end-start-1 > maxResumeLine {
		return nil, nil
	}
	line := make([]byte, end-start-1)
	if _, err := f.ReadAt(line, start+1); err != nil {
		return nil, err
	}
	return line, nil
}

// newlineBefore returns the offset of the last newline in f before pos,
// looking at most limit bytes back; -1 when there is none there.
func newlineBefore(f *os.File, pos, limit int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for stop := max(pos-limit, 0); pos > stop; {
		n := min(int64(len(buf)), pos-stop)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i), nil
		}
	}
	return -1, nil
}

type lines struct {
	name   string
	encode func(e *alert.Event, body []byte) ([]byte, error)

	mu    sync.Mutex
	w     io.Writer
	file  *os.File // set by OpenJSONLinesFile: failed writes are truncated away
	dirty bool     // a write to w failed part-way: start the next with "\n"
}

func (l *lines) Name() string { return l.name }

func (l *lines) Deliver(ctx context.Context, e *alert.Event, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	out, err := l.encode(e, body)
	if err != nil {
		return fmt.Errorf("%s: %w", l.name, err)
	}
	return l.write(out)
}

// DeliverBatch writes every event's line in one write and syncs once.
func (l *lines) DeliverBatch(ctx context.Context, events []Event) error {
	if err := ctx.Err(); err != nil || len(events) == 0 {
		return err
	}
	var out []byte
	for _, e := range events {
		b, err := l.encode(e.Event, e.Body)
		if err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
		out = append(out, b...)
	}
	return l.write(out)
}

// write writes out, whole lines, in one Write and makes it durable.
func (l *lines) write(out []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		return l.appendFile(out)
	}
	if l.dirty {
		out = append([]byte{'\n'}, out...)
	}
	n, err := l.w.Write(out)
	if err != nil {
		l.dirty = l.dirty || n > 0
		return fmt.Errorf("%s: write: %w", l.name, err)
	}
	l.dirty = false
	if err := flush(l.w); err != nil {
		return fmt.Errorf("%s: %w", l.name, err)
	}
	return nil
}

// appendFile writes out at the end of the file and fsyncs; on failure it
// cuts the file back to where it was, so no partial line stays.
func (l *lines) appendFile(out []byte) error {
	st, err := l.file.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", l.name, err)
	}
	if _, err := l.file.Write(out); err != nil {
		if terr := l.file.Truncate(st.Size()); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("%s: write: %w", l.name, err)
	}
	if err := l.file.Sync(); err != nil {
		return fmt.Errorf("%s: fsync: %w", l.name, err)
	}
	return nil
}

// flush makes what was written to w durable or at least handed on.
func flush(w io.Writer) error {
	switch f := w.(type) {
	case interface{ Sync() error }:
		if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
			return fmt.Errorf("sync: %w", err)
		}
	case interface{ Flush() error }:
		if err := f.Flush(); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
	}
	return nil
}

// jsonLine returns body (or e marshalled) compacted onto one line, with
// a newline. A body that is not exactly one JSON object is refused as
// permanent: no retry makes it one.
func jsonLine(e *alert.Event, body []byte) ([]byte, error) {
	if body == nil {
		if e == nil {
			return nil, fmt.Errorf("no event: %w", ErrPermanent)
		}
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("marshal: %v: %w", err, ErrPermanent)
		}
		body = b
	}
	var buf bytes.Buffer
	buf.Grow(len(body) + 1)
	if err := json.Compact(&buf, body); err != nil {
		return nil, fmt.Errorf("body is not JSON: %v: %w", err, ErrPermanent)
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, fmt.Errorf("body is not one JSON object: %w", ErrPermanent)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func textBlock(e *alert.Event, body []byte) ([]byte, error) {
	if e == nil {
		if body == nil {
			return nil, fmt.Errorf("no event: %w", ErrPermanent)
		}
		e = new(alert.Event)
		if err := json.Unmarshal(body, e); err != nil {
			return nil, fmt.Errorf("body is not an event: %v: %w", err, ErrPermanent)
		}
	}
	return []byte(alert.Render(e) + "\n"), nil
}

// trimPartialLine cuts f back to just after its last newline, removing a
// line a crash left half written.
func trimPartialLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	end := st.Size()
	if end == 0 {
		return nil
	}
	buf := make([]byte, 64<<10)
	for pos := end; pos > 0; {
		n := int64(len(buf))
		if pos < n {
			n = pos
		}
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			keep := pos + int64(i) + 1
			if keep == end {
				return nil
			}
			return f.Truncate(keep)
		}
	}
	return f.Truncate(0)
}
