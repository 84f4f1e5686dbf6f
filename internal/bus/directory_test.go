package bus_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/headsup-dev/headsup/internal/bus"
)

func TestDirectorySubject(t *testing.T) {
	tests := []struct {
		subject string
		serial  uint64
		ok      bool
	}{
		{bus.DirectorySubject(1), 1, true},
		{bus.DirectorySubject(18446744073709551615), 18446744073709551615, true},
		{"headsup.directory.0", 0, true},
		{"headsup.directory.007", 0, false},
		{"headsup.directory.+7", 0, false},
		{"headsup.directory.", 0, false},
		{"headsup.directory.1.2", 0, false},
		{"headsup.directory.18446744073709551616", 0, false},
		{"headsup.notice.edgeshield.01890a5d-ac96-774b-bcce-b302099a8057", 0, false},
	}
	for _, tt := range tests {
		serial, ok := bus.DirectorySerial(tt.subject)
		if serial != tt.serial || ok != tt.ok {
			t.Errorf("DirectorySerial(%q) = %d, %v; want %d, %v", tt.subject, serial, ok, tt.serial, tt.ok)
		}
	}
	if got := bus.DirectorySubject(42); got != "headsup.directory.42" {
		t.Errorf("DirectorySubject(42) = %q", got)
	}
}

// TestAppendDirectory: a directory version is stored once under its
// serial, beside notices in one dense sequence; the same bytes again are a
// duplicate (two replicas appending the version they both loaded), other
// bytes a conflict; LatestDirectory finds the last one.
func TestAppendDirectory(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	l := openLog(t, e.Conn(), bus.LogConfig{})
	ctx := testCtx(t)

	if _, err := l.LatestDirectory(ctx); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("LatestDirectory on an empty log = %v, want ErrNotFound", err)
	}
	v1, v2 := body(t, 2000), body(t, 3000)
	a, err := l.AppendDirectory(ctx, 1, v1)
	if err != nil || a.Seq != 1 || a.Duplicate {
		t.Fatalf("AppendDirectory(1) = %+v, %v; want sequence 1", a, err)
	}
	mustAppend(t, l, "edgeshield", newID(t), body(t, 100))

	// Two replicas race to append version 2: stored once.
	var wg sync.WaitGroup
	out := make([]bus.Appended, 8)
	errs := make([]error, 8)
	for i := range out {
		wg.Go(func() { out[i], errs[i] = l.AppendDirectory(ctx, 2, v2) })
	}
	wg.Wait()
	fresh := 0
	for i := range out {
		if errs[i] != nil || out[i].Seq != 3 {
			t.Fatalf("racing AppendDirectory(2) #%d = %+v, %v; want sequence 3", i, out[i], errs[i])
		}
		if !out[i].Duplicate {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d racing appends of one version reported as new, want 1", fresh)
	}
	if _, err := l.AppendDirectory(ctx, 2, body(t, 100)); conflictSeq(t, err) != 3 {
		t.Fatal("conflict names the wrong sequence")
	}
	if _, err := l.AppendDirectory(ctx, 3, nil); err == nil {
		t.Fatal("AppendDirectory of an empty note succeeded")
	}
	if _, last := bounds(t, l); last != 3 {
		t.Fatalf("last = %d, want 3", last)
	}

	m, err := l.LatestDirectory(ctx)
	if err != nil || m.Seq != 3 || m.Subject != bus.DirectorySubject(2) || !bytes.Equal(m.Body, v2) {
		t.Fatalf("LatestDirectory = %+v, %v; want version 2 at sequence 3", m, err)
	}
	var subjects []string
	followCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = l.Follow(followCtx, 0, func(m bus.Message) error {
		subjects = append(subjects, m.Subject)
		if m.Seq == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if len(subjects) != 3 || subjects[0] != bus.DirectorySubject(1) || subjects[2] != bus.DirectorySubject(2) {
		t.Fatalf("Follow subjects = %v", subjects)
	}
	if _, ok := bus.DirectorySerial(subjects[1]); ok {
		t.Fatalf("notice subject %q read as a directory", subjects[1])
	}
}
