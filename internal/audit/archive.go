package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// ArchiveFormat names the archive format in its header line.
const ArchiveFormat = "headsup.audit.export.v1"

// maxArchiveLine bounds one line: a signed directory may be 16 MiB
// (directory.MaxFileBytes), 4/3 of that in base64, plus the JSON around it.
const maxArchiveLine = 24 << 20

// ErrArchive: the archive is not a well-formed export (wrong format,
// unknown fields, truncated). It is about the file, not about the history.
var ErrArchive = errors.New("malformed archive")

type archiveHeader struct {
	Format     string    `json:"format"`
	LogID      string    `json:"log_id"`
	Origin     string    `json:"origin,omitempty"`
	First      uint64    `json:"first"`
	Last       uint64    `json:"last"`
	ExportedAt time.Time `json:"exported_at,omitzero"`
}

type archiveLine struct {
	Checkpoint []byte            `json:"checkpoint,omitempty"`
	Seq        uint64            `json:"seq,omitempty"`
	StoredAt   time.Time         `json:"stored_at,omitzero"`
	Directory  *archiveDirectory `json:"directory,omitempty"`
	Notice     []byte            `json:"notice,omitempty"`
	JWS        string            `json:"jws,omitempty"`
	Redacted   bool              `json:"redacted,omitempty"`
	End        *archiveEnd       `json:"end,omitempty"`
}

type archiveDirectory struct {
	Serial uint64 `json:"serial"`
	Signed []byte `json:"signed"`
}

type archiveEnd struct {
	Entries     uint64 `json:"entries"`
	Checkpoints uint64 `json:"checkpoints"`
}

// Exported says what Export wrote.
type Exported struct {
	LogID       string
	First, Last uint64
	Entries     uint64
	Checkpoints uint64
}

// Export writes the history src holds to w in the archive format (see the
// package comment). It copies, it does not verify: an archive of a
// tampered log is evidence, and Verify judges it. The caller makes the
// file appear atomically (write to a temporary file, then rename).
func Export(ctx context.Context, src Source, w io.Writer) (Exported, error) {
	start, err := src.Start(ctx)
	if err != nil {
		return Exported{}, err
	}
	cps, err := src.Checkpoints(ctx)
	if err != nil {
		return Exported{}, err
	}
	out := Exported{LogID: start.LogID, First: start.First, Last: start.Last}
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	origin := start.Origin
	if origin == "" && len(cps) > 0 {
		origin = originOf(cps[0])
	}
	if err := enc.Encode(archiveHeader{Format: ArchiveFormat, LogID: start.LogID, Origin: origin,
		First: start.First, Last: start.Last, ExportedAt: time.Now().UTC().Truncate(time.Second)}); err != nil {
		return out, err
	}
	for _, cp := range cps {
		if err := enc.Encode(archiveLine{Checkpoint: cp}); err != nil {
			return out, err
		}
		out.Checkpoints++
	}
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		e, err := src.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, err
		}
		line := archiveLine{Seq: e.Sequence, StoredAt: e.StoredAt.UTC()}
		switch {
		case e.Directory != nil:
			line.Directory = &archiveDirectory{Serial: e.Directory.Serial, Signed: e.Directory.Signed}
		case e.Envelope != nil:
			line.Notice, line.JWS = e.Envelope.GetNotice(), e.Envelope.GetJws()
		default:
			line.JWS, line.Redacted = e.RedactedJWS, true
		}
		if err := enc.Encode(line); err != nil {
			return out, err
		}
		out.Entries++
	}
	if err := enc.Encode(archiveLine{End: &archiveEnd{Entries: out.Entries, Checkpoints: out.Checkpoints}}); err != nil {
		return out, err
	}
	return out, bw.Flush()
}

// ArchiveSource reads an archive written by Export. It checks the file's
// shape (ErrArchive: format, unknown fields, a missing end line); the
// history inside is for Verify to judge.
type ArchiveSource struct {
	r       *bufio.Reader
	line    int
	started bool
	pending *archiveLine
	cps     [][]byte
	entries uint64
	done    bool
}

// NewArchiveSource reads an archive from r.
func NewArchiveSource(r io.Reader) *ArchiveSource {
	return &ArchiveSource{r: bufio.NewReaderSize(r, 1<<16)}
}

// readLine returns the next line without its newline; io.EOF at the end.
func (a *ArchiveSource) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := a.r.ReadSlice('\n')
		if len(buf)+len(chunk) > maxArchiveLine {
			return nil, fmt.Errorf("line %d: longer than %d bytes: %w", a.line+1, maxArchiveLine, ErrArchive)
		}
		switch {
		case err == bufio.ErrBufferFull:
			buf = append(buf, chunk...)
			continue
		case err == io.EOF && len(buf)+len(chunk) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, fmt.Errorf("line %d: no final newline (truncated?): %w", a.line+1, ErrArchive)
		case err != nil:
			return nil, err
		}
		a.line++
		if buf == nil {
			return chunk[:len(chunk)-1], nil
		}
		return append(buf, chunk[:len(chunk)-1]...), nil
	}
}

func (a *ArchiveSource) decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("line %d: %v: %w", a.line, err, ErrArchive)
	}
	if dec.More() {
		return fmt.Errorf("line %d: more than one JSON value: %w", a.line, ErrArchive)
	}
	return nil
}

// readEntryLine reads one line after the header.
func (a *ArchiveSource) readEntryLine() (*archiveLine, error) {
	b, err := a.readLine()
	if err == io.EOF {
		return nil, fmt.Errorf("line %d: end of file before the end line (truncated after %d entries): %w", a.line, a.entries, ErrArchive)
	}
	if err != nil {
		return nil, err
	}
	var l archiveLine
	if err := a.decode(b, &l); err != nil {
		return nil, err
	}
	kinds := 0
	for _, set := range []bool{l.Checkpoint != nil, l.Seq != 0, l.End != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return nil, fmt.Errorf("line %d: want exactly one of checkpoint, seq, end: %w", a.line, ErrArchive)
	}
	if l.Seq != 0 {
		n := 0
		for _, set := range []bool{l.Directory != nil, l.JWS != "" && !l.Redacted, l.Redacted} {
			if set {
				n++
			}
		}
		if n != 1 || (l.Redacted && (l.JWS == "" || l.Notice != nil)) || (l.Directory != nil && (l.JWS != "" || l.Notice != nil)) {
			return nil, fmt.Errorf("line %d: sequence %d: want exactly one of directory, notice+jws, redacted jws: %w", a.line, l.Seq, ErrArchive)
		}
	} else if l.Directory != nil || l.JWS != "" || l.Notice != nil || l.Redacted || !l.StoredAt.IsZero() {
		return nil, fmt.Errorf("line %d: entry fields without seq: %w", a.line, ErrArchive)
	}
	return &l, nil
}

// Start implements Source: it reads the header and the checkpoint lines.
func (a *ArchiveSource) Start(context.Context) (Start, error) {
	if a.started {
		return Start{}, errors.New("archive: Start called twice")
	}
	a.started = true
	b, err := a.readLine()
	if err == io.EOF {
		return Start{}, fmt.Errorf("empty file: %w", ErrArchive)
	}
	if err != nil {
		return Start{}, err
	}
	var h archiveHeader
	if err := a.decode(b, &h); err != nil {
		return Start{}, err
	}
	if h.Format != ArchiveFormat {
		return Start{}, fmt.Errorf("line 1: format %q, want %q: %w", h.Format, ArchiveFormat, ErrArchive)
	}
	if h.First > h.Last || (h.First == 0) != (h.Last == 0) {
		return Start{}, fmt.Errorf("line 1: first %d, last %d: %w", h.First, h.Last, ErrArchive)
	}
	for {
		l, err := a.readEntryLine()
		if err != nil {
			return Start{}, err
		}
		if l.Checkpoint == nil {
			a.pending = l
			break
		}
		a.cps = append(a.cps, l.Checkpoint)
	}
	return Start{LogID: h.LogID, Origin: h.Origin, First: h.First, Last: h.Last}, nil
}

// Checkpoints implements Source.
func (a *ArchiveSource) Checkpoints(context.Context) ([][]byte, error) {
	return a.cps, nil
}

// Next implements Source.
func (a *ArchiveSource) Next(context.Context) (*Entry, error) {
	if !a.started {
		return nil, errors.New("archive: Next before Start")
	}
	if a.done {
		return nil, io.EOF
	}
	l := a.pending
	a.pending = nil
	if l == nil {
		var err error
		if l, err = a.readEntryLine(); err != nil {
			return nil, err
		}
	}
	switch {
	case l.End != nil:
		if l.End.Entries != a.entries || l.End.Checkpoints != uint64(len(a.cps)) {
			return nil, fmt.Errorf("line %d: end line counts %d entries and %d checkpoints, the file holds %d and %d: %w",
				a.line, l.End.Entries, l.End.Checkpoints, a.entries, len(a.cps), ErrArchive)
		}
		if _, err := a.readLine(); err != io.EOF {
			return nil, fmt.Errorf("line %d: data after the end line: %w", a.line, ErrArchive)
		}
		a.done = true
		return nil, io.EOF
	case l.Checkpoint != nil:
		return nil, fmt.Errorf("line %d: checkpoint after the first entry: %w", a.line, ErrArchive)
	}
	a.entries++
	e := &Entry{Sequence: l.Seq, StoredAt: l.StoredAt}
	switch {
	case l.Directory != nil:
		e.Directory = &DirectoryVersion{Serial: l.Directory.Serial, Signed: l.Directory.Signed}
	case l.Redacted:
		e.RedactedJWS = l.JWS
	default:
		e.Envelope = &headsupv1.Envelope{Notice: l.Notice, Jws: l.JWS}
	}
	return e, nil
}

// originOf returns the first line of a checkpoint note, unverified: a
// label for the archive header, never a trusted value.
func originOf(note []byte) string {
	origin, _, _ := strings.Cut(string(note), "\n")
	return origin
}
