package filewatch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/filewatch"
)

func TestRun(t *testing.T) {
	for _, tt := range []struct {
		name       string
		opts       filewatch.Options
		wantPolled bool
	}{
		{"change event, replaced by rename", filewatch.Options{Poll: time.Hour}, false},
		{"poll alone", filewatch.Options{Poll: 20 * time.Millisecond, NoNotify: true}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "watched.yaml")
			if err := os.WriteFile(path, []byte("v1"), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			calls := make(chan bool, 16)
			done := make(chan error, 1)
			go func() {
				done <- filewatch.Run(ctx, path, tt.opts, func(polled bool) {
					select {
					case calls <- polled:
					default:
					}
				})
			}()
			deadline := time.After(10 * time.Second)
			// Replace the file until the watch has started and says so; wait
			// longer than the settle delay between replacements, which would
			// otherwise keep postponing the call.
			for i := 0; ; i++ {
				tmp := path + ".tmp"
				if err := os.WriteFile(tmp, []byte{byte(i)}, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, path); err != nil {
					t.Fatal(err)
				}
				select {
				case polled := <-calls:
					if polled != tt.wantPolled {
						continue // the first look at start, before any change
					}
					cancel()
					if err := <-done; err != nil {
						t.Fatal(err)
					}
					return
				case <-time.After(3 * filewatch.SettleDelay):
				case <-deadline:
					t.Fatal("never told of the change")
				}
			}
		})
	}
}

// TestRunLooksAtStart: a change made between the owner's first read and
// the start of the watch is reported at once, not at the first poll.
func TestRunLooksAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watched.yaml")
	if err := os.WriteFile(path, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := make(chan bool, 1)
	go func() {
		_ = filewatch.Run(ctx, path, filewatch.Options{Poll: time.Hour}, func(polled bool) {
			select {
			case calls <- polled:
			default:
			}
		})
	}()
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("no look at start")
	}
}
