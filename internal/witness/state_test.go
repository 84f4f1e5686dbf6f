package witness_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/headsup-dev/headsup/internal/witness"
)

// stateCheckpoint is the Checkpoint a witness would store for tree tr at
// size (log-signed only: State does not check signatures).
func stateCheckpoint(t testing.TB, k logKey, size int64, root tlog.Hash) *witness.Checkpoint {
	t.Helper()
	return &witness.Checkpoint{Origin: testOrigin, Size: size, Root: root, Note: signCheckpoint(t, k, size, root)}
}

func load(t testing.TB, s witness.State) *witness.Checkpoint {
	t.Helper()
	cp, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestFileStateRestartKeepsState(t *testing.T) {
	dir := stateDir(t)
	tr := newTree(t, 10, "")
	cp5 := stateCheckpoint(t, hubKey(t), 5, root(t, tr, 5))
	cp9 := stateCheckpoint(t, hubKey(t), 9, root(t, tr, 9))

	s := openState(t, dir)
	if got := load(t, s); got != nil {
		t.Fatalf("first use: %+v, want nothing cosigned", got)
	}
	if err := s.CompareAndSwap(nil, cp5); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openState(t, dir)
	if got := load(t, s); got == nil || got.Size != 5 || got.Root != cp5.Root || string(got.Note) != string(cp5.Note) {
		t.Fatalf("after restart: %+v, want size 5", got)
	}
	if err := s.CompareAndSwap(cp5, cp9); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openState(t, dir)
	if got := load(t, s); got == nil || got.Size != 9 || got.Root != cp9.Root {
		t.Fatalf("after second restart: %+v, want size 9", got)
	}
}

func TestFileStateFirstUse(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		wantErr error
	}{
		{"no directory", func(t *testing.T, dir string) {}, nil},
		{"empty directory", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"used directory without its state file", func(t *testing.T, dir string) {
			s, err := witness.OpenFileState(dir)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if err := os.Remove(filepath.Join(dir, "state")); err != nil {
				t.Fatal(err)
			}
		}, witness.ErrStateMissing},
		{"directory holding something else", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "notes"), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, witness.ErrStateMissing},
		{"state file of another format", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "state"), []byte("size 5\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, witness.ErrCorruptState},
		{"state file holding no note", func(t *testing.T, dir string) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			b := "headsup witness state v1\n" + testOrigin + "\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
			if err := os.WriteFile(filepath.Join(dir, "state"), []byte(b), 0o600); err != nil {
				t.Fatal(err)
			}
		}, witness.ErrCorruptState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := stateDir(t)
			tt.prepare(t, dir)
			s, err := witness.OpenFileState(dir)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("OpenFileState: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer s.Close()
			if got := load(t, s); got != nil {
				t.Errorf("first use: %+v, want nothing cosigned", got)
			}
		})
	}
}

func TestFileStateLocked(t *testing.T) {
	dir := stateDir(t)
	s := openState(t, dir)
	if _, err := witness.OpenFileState(dir); !errors.Is(err, witness.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	s.Close()
	if _, err := s.Load(); err == nil {
		t.Error("Load after Close succeeded")
	}
	openState(t, dir)
}

func TestFileStateCompareAndSwap(t *testing.T) {
	tr := newTree(t, 10, "")
	fork := newTree(t, 10, "fork")
	k := hubKey(t)
	cp5 := stateCheckpoint(t, k, 5, root(t, tr, 5))
	cp9 := stateCheckpoint(t, k, 9, root(t, tr, 9))
	cp3 := stateCheckpoint(t, k, 3, root(t, tr, 3))
	fork5 := stateCheckpoint(t, k, 5, root(t, fork, 5))
	lying := *cp9
	lying.Size = 10
	otherLog := *cp9
	otherLog.Origin = "other.test/log"

	tests := []struct {
		name     string
		old, new *witness.Checkpoint
		wantErr  error
	}{
		{"forward", cp5, cp9, nil},
		{"same again", cp5, cp5, nil},
		{"old is not stored", cp9, cp9, witness.ErrStateChanged},
		{"old nil but one stored", nil, cp9, witness.ErrStateChanged},
		{"rollback", cp5, cp3, witness.ErrRollback},
		{"fork", cp5, fork5, witness.ErrFork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openState(t, stateDir(t))
			if err := s.CompareAndSwap(nil, cp5); err != nil {
				t.Fatal(err)
			}
			err := s.CompareAndSwap(tt.old, tt.new)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("CompareAndSwap: %v, want %v", err, tt.wantErr)
			}
			want := cp5
			if err == nil {
				want = tt.new
			}
			if got := load(t, s); got.Size != want.Size || got.Root != want.Root {
				t.Errorf("state size %d root %s, want size %d root %s", got.Size, got.Root, want.Size, want.Root)
			}
		})
	}
	for _, bad := range []*witness.Checkpoint{nil, &lying, &otherLog} {
		s := openState(t, stateDir(t))
		if err := s.CompareAndSwap(nil, bad); err == nil {
			t.Errorf("CompareAndSwap to %+v accepted", bad)
		}
	}
}

// Two goroutines swap from the same checkpoint: exactly one wins, the
// other is told the state changed, and the state is the winner's.
func TestFileStateCompareAndSwapRace(t *testing.T) {
	tr := newTree(t, 10, "")
	k := hubKey(t)
	cp5 := stateCheckpoint(t, k, 5, root(t, tr, 5))
	next := []*witness.Checkpoint{stateCheckpoint(t, k, 7, root(t, tr, 7)), stateCheckpoint(t, k, 9, root(t, tr, 9))}
	for range 5 {
		s := openState(t, stateDir(t))
		if err := s.CompareAndSwap(nil, cp5); err != nil {
			t.Fatal(err)
		}
		errs := make([]error, len(next))
		var wg sync.WaitGroup
		for i, cp := range next {
			wg.Go(func() { errs[i] = s.CompareAndSwap(cp5, cp) })
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Fatal("both swaps from the same checkpoint succeeded")
			case !errors.Is(err, witness.ErrStateChanged):
				t.Fatalf("losing swap: %v, want ErrStateChanged", err)
			}
		}
		if winner < 0 {
			t.Fatal("no swap succeeded")
		}
		if got := load(t, s); got.Size != next[winner].Size {
			t.Errorf("state size %d, want the winner's %d", got.Size, next[winner].Size)
		}
		s.Close()
	}
}
