package hub

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/headsup-dev/headsup/internal/directory"
)

// TestDirectoryRefreshReadsANewVersionAtOnce: Refresh installs a version
// written an instant ago without waiting for the watch (which does not
// run here), so a key a newcomer just added is known to the next call.
func TestDirectoryRefreshReadsANewVersionAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "directory.yaml")
	write := func(serial uint64, ids ...string) {
		t.Helper()
		d := &directory.Directory{Serial: serial, TestNetwork: true}
		for _, id := range ids {
			d.Members = append(d.Members, &directory.Member{ID: id, Name: id, AbuseContact: "abuse@" + id + ".example"})
		}
		b, err := directory.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1, "edgeshield")
	w, err := directory.NewWatcher(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &directorySource{path: path}
	src.watcher.Store(w)
	write(2, "edgeshield", "voxhost")
	if got := src.Current().Serial; got != 1 {
		t.Fatalf("Current before a refresh: serial %d, want 1 (no watch runs)", got)
	}
	d := src.Refresh()
	if _, ok := d.Member("voxhost"); d.Serial != 2 || !ok {
		t.Fatalf("Refresh: serial %d, voxhost known %v; want serial 2 with voxhost", d.Serial, ok)
	}
}
