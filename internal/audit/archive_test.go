package audit_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/audit/audittest"
)

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readAll(t testing.TB, src audit.Source) (audit.Start, [][]byte, []*audit.Entry, error) {
	t.Helper()
	ctx := context.Background()
	st, err := src.Start(ctx)
	if err != nil {
		return st, nil, nil, err
	}
	cps, err := src.Checkpoints(ctx)
	if err != nil {
		return st, nil, nil, err
	}
	var entries []*audit.Entry
	for {
		e, err := src.Next(ctx)
		if err == io.EOF {
			return st, cps, entries, nil
		}
		if err != nil {
			return st, cps, entries, err
		}
		entries = append(entries, e)
	}
}

func sameEntries(a, b []*audit.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y *audit.Entry) bool {
		return x.Sequence == y.Sequence && x.StoredAt.Equal(y.StoredAt) && x.RedactedJWS == y.RedactedJWS &&
			proto.Equal(x.Envelope, y.Envelope) && (x.Directory == nil) == (y.Directory == nil) &&
			(x.Directory == nil || x.Directory.Serial == y.Directory.Serial && bytes.Equal(x.Directory.Signed, y.Directory.Signed))
	})
}

func TestAuditArchiveRoundTrip(t *testing.T) {
	s := newStory(t)
	src := s.Source()
	archive := src.Archive(t)
	st, cps, entries, err := readAll(t, audit.NewArchiveSource(bytes.NewReader(archive)))
	if err != nil {
		t.Fatal(err)
	}
	if st != src.Info || !slices.EqualFunc(cps, src.Notes, bytes.Equal) || !sameEntries(entries, src.Entries) {
		t.Fatalf("archive read back differs: start %+v, %d checkpoints, %d entries", st, len(cps), len(entries))
	}
	if _, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey}, audit.NewArchiveSource(bytes.NewReader(archive))); err != nil {
		t.Fatalf("Verify(archive): %v", err)
	}
}

func TestAuditArchiveMalformed(t *testing.T) {
	s := newStory(t)
	good := string(s.Source().Archive(t))
	lines := strings.SplitAfter(good, "\n")
	tests := map[string]string{
		"empty":               "",
		"other format":        strings.Replace(good, audit.ArchiveFormat, "headsup.audit.export.v0", 1),
		"unknown field":       strings.Replace(good, `"seq":3,`, `"seq":3,"extra":1,`, 1),
		"truncated":           strings.Join(lines[:len(lines)-2], ""),
		"no final newline":    strings.TrimSuffix(good, "\n"),
		"wrong end count":     strings.Replace(good, `"entries":10`, `"entries":9`, 1),
		"data after end":      good + good,
		"two kinds":           strings.Replace(good, `"seq":3,`, `"seq":3,"checkpoint":"AA==",`, 1),
		"late checkpoint":     strings.Join(slices.Insert(slices.Clone(lines), 6, lines[1]), ""),
		"notice and redacted": strings.Replace(good, `"redacted":true`, `"redacted":true,"notice":"AA=="`, 1),
	}
	for name, archive := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, _, err := readAll(t, audit.NewArchiveSource(strings.NewReader(archive)))
			if !errors.Is(err, audit.ErrArchive) {
				t.Fatalf("read = %v, want ErrArchive", err)
			}
		})
	}
}

// FuzzAuditArchive: whatever the reader accepts exports to an archive
// that reads back to the same history.
func FuzzAuditArchive(f *testing.F) {
	s := audittest.New(f)
	s.Publish("edgeshield", audittest.Suspension("a.example"))
	s.PublishRedacted("voxhost", audittest.Suspension("b.example"))
	s.Checkpoint()
	f.Add(s.Source().Archive(f))
	f.Add([]byte(`{"format":"headsup.audit.export.v1","log_id":"x","first":0,"last":0}` + "\n" + `{"end":{"entries":0,"checkpoints":0}}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, cps, entries, err := readAll(t, audit.NewArchiveSource(bytes.NewReader(b)))
		if err != nil {
			return
		}
		src := &audittest.Source{Info: st, Entries: entries, Notes: cps}
		again := src.Archive(t)
		st2, cps2, entries2, err := readAll(t, audit.NewArchiveSource(bytes.NewReader(again)))
		if err != nil {
			t.Fatalf("re-export does not read: %v", err)
		}
		if st2 != st || !slices.EqualFunc(cps, cps2, bytes.Equal) || !sameEntries(entries, entries2) {
			t.Fatal("re-export reads back differently")
		}
	})
}

func dialLog(t *testing.T, addr string) headsupv1.LogServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return headsupv1.NewLogServiceClient(conn)
}

func TestAuditHubSource(t *testing.T) {
	s := newStory(t)
	client := dialLog(t, audittest.Serve(t, s.Source()))
	ctx := context.Background()

	var buf bytes.Buffer
	out, err := audit.Export(ctx, audit.NewHubSource(client, ""), &buf)
	if err != nil {
		t.Fatal(err)
	}
	// The hub serves its latest checkpoint: the archive holds that one.
	if out.Entries != 10 || out.Checkpoints != 1 || out.LogID != "HEADSUP@test" {
		t.Errorf("exported %+v", out)
	}
	if _, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey}, audit.NewArchiveSource(&buf)); err != nil {
		t.Fatalf("Verify(export): %v", err)
	}
	rep, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey}, audit.NewHubSource(client, ""))
	if err != nil {
		t.Fatalf("Verify(hub): %v", err)
	}
	if rep.Entries != 10 || rep.LargestCheckpoint != 10 {
		t.Errorf("report %+v", rep)
	}
	if _, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey}, audit.NewHubSource(client, "HEADSUP@other")); err == nil {
		t.Error("Verify of another log_id succeeded")
	}
}

// TestAuditHubSourceFetchesStateSize: a hub whose history was rewritten
// signs a new checkpoint at the state's size; the auditor asks for it, so
// the fork shows as two log-signed checkpoints of one size.
func TestAuditHubSourceFetchesStateSize(t *testing.T) {
	s := newStory(t)
	state := t.TempDir() + "/state.json"
	cfg := audit.Config{GovernanceVerifierKey: s.GovernanceKey, StatePath: state}
	if _, err := verify(t, cfg, s.Source()); err != nil {
		t.Fatal(err)
	}
	client := dialLog(t, audittest.Serve(t, rewrite(t, s)))
	_, err := verify(t, cfg, audit.NewHubSource(client, ""))
	var f *audit.Failure
	if !errors.As(err, &f) || !errors.Is(err, audit.ErrFork) || len(f.Notes) != 2 {
		t.Fatalf("Verify = %v, want ErrFork with the state's and the hub's checkpoint at 10", err)
	}
}

func TestAuditPeers(t *testing.T) {
	s := newStory(t)
	serve := func(note []byte) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(note) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	latest := s.Cosign(s.Checkpoints[2], s.Clock, "epiq")
	older := s.Cosign(s.Checkpoints[0], s.Clock, "voxhost")
	missing := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(missing.Close)

	rep, err := verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey, Peers: []string{serve(latest), serve(older), missing.URL}}, s.Source())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var statuses []string
	for _, p := range rep.Peers {
		statuses = append(statuses, strings.Fields(p.Status)[0])
	}
	if want := []string{"agrees", "agrees", "unreachable:"}; !slices.Equal(statuses, want) {
		t.Errorf("peer statuses %q, want %q", statuses, want)
	}

	// The hub showed member B another history of size 10.
	forked := rewrite(t, s)
	fork := s.SignCheckpoint(s.Rebuild(forked.Entries), 10)
	_, err = verify(t, audit.Config{GovernanceVerifierKey: s.GovernanceKey, Peers: []string{serve(fork)}}, s.Source())
	var f *audit.Failure
	if !errors.As(err, &f) || !errors.Is(err, audit.ErrFork) {
		t.Fatalf("Verify with a forked peer = %v, want ErrFork", err)
	}
	if len(f.Notes) != 2 || !bytes.Equal(f.Notes[0], fork) || !bytes.Equal(f.Notes[1], s.Checkpoints[2]) {
		t.Errorf("fork evidence: %d notes, want the peer's and the hub's checkpoint at 10", len(f.Notes))
	}
}
