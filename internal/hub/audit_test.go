package hub_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/hub"
)

// logOrigin is the test federation's log.
const logOrigin = "hub.test/headsup"

// witness is a member with a call key and a witness key.
type witness struct {
	*caller
	witness ed25519.PrivateKey
	wkey    *directory.Key
}

func newWitness(t testing.TB, id string, roles ...directory.Role) *witness {
	t.Helper()
	c := newCaller(t, id, roles...)
	k, priv, err := directory.NewKey(directory.UseWitness)
	if err != nil {
		t.Fatal(err)
	}
	c.dir.Keys = append(c.dir.Keys, k)
	return &witness{caller: c, witness: priv, wkey: k}
}

// cosigner is w's C2SP tlog-cosignature/v1 signer, named for its member
// id as the hub expects.
func (w *witness) cosigner(t testing.TB) note.Signer {
	t.Helper()
	return cosignerOf(t, w.id, w.witness)
}

func cosignerOf(t testing.TB, name string, priv ed25519.PrivateKey) note.Signer {
	t.Helper()
	key := append([]byte{1}, priv.Seed()...)
	pub := append([]byte{1}, priv.Public().(ed25519.PublicKey)...)
	h := sha256.Sum256(append([]byte(name+"\n"), pub...))
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, binary.BigEndian.Uint32(h[:]), base64.StdEncoding.EncodeToString(key))
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// logFederation is a signed directory naming a log, the governance and log
// keys, and members who witness.
type logFederation struct {
	root, dirPath string
	gskey, gvkey  string
	logKeyPath    string
	logSigner     note.Signer
	logVerifier   note.Verifier
	logVKey       string
	edge          *witness // publish, subscribe; the log's operator
	vox           *witness // subscribe
	ledger        *witness // audit
}

func newLogFederation(t *testing.T) *logFederation {
	t.Helper()
	f := &logFederation{root: t.TempDir()}
	f.dirPath = filepath.Join(f.root, "directory.signed")
	var err error
	if f.gskey, f.gvkey, err = directory.GenerateGovernanceKey("federation"); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := auditlog.GenerateLogKey(logOrigin)
	if err != nil {
		t.Fatal(err)
	}
	f.logVKey = vkey
	f.logKeyPath = filepath.Join(f.root, "log.skey")
	if err := os.WriteFile(f.logKeyPath, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if f.logSigner, err = note.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	if f.logVerifier, err = note.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	f.edge = newWitness(t, "edgeshield", directory.RolePublish, directory.RoleSubscribe)
	f.vox = newWitness(t, "voxhost", directory.RolePublish, directory.RoleSubscribe)
	f.ledger = newWitness(t, "ledger", directory.RoleAudit)
	f.write(t, 1, f.logVKey)
	return f
}

// write signs and installs directory version serial naming logVKey as the
// log's key, with the federation's members and extra ones.
func (f *logFederation) write(t testing.TB, serial uint64, logVKey string, extra ...*member) {
	t.Helper()
	d := &directory.Directory{Serial: serial, TestNetwork: true,
		Log: &directory.Log{Origin: logOrigin, VerifierKey: logVKey, Operator: f.edge.id}}
	for _, m := range []*member{f.edge.member, f.vox.member, f.ledger.member} {
		d.Members = append(d.Members, m.dir)
	}
	for _, m := range extra {
		d.Members = append(d.Members, m.dir)
	}
	text, err := directory.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := directory.Sign(text, f.gskey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.dirPath+".tmp", signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.dirPath+".tmp", f.dirPath); err != nil {
		t.Fatal(err)
	}
}

// start starts a hub keeping the signed log, signing a checkpoint after
// every batch of entries.
func (f *logFederation) start(t testing.TB, dataDir string, tweak ...func(*hub.Config)) *testHub {
	t.Helper()
	return startHub(t, dataDir, f.dirPath, append([]func(*hub.Config){func(c *hub.Config) {
		c.DirectoryVerifier, c.LogKeyFile = f.gvkey, f.logKeyPath
		c.CheckpointEvery, c.CheckpointInterval = 1, 20*time.Millisecond
	}}, tweak...)...)
}

func logClient(h *testHub) headsupv1.LogServiceClient { return headsupv1.NewLogServiceClient(h.conn) }

// latest polls until the hub's latest checkpoint covers at least size
// entries, and returns it verified with the directory's log verifier.
func (f *logFederation) latest(t testing.TB, cl headsupv1.LogServiceClient, size uint64) ([]byte, uint64, tlog.Hash) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := cl.GetCheckpoint(t.Context(), &headsupv1.GetCheckpointRequest{})
		if err == nil {
			cp, err := auditlog.ParseCheckpoint(res.Checkpoint, logOrigin, f.logVerifier)
			if err != nil {
				t.Fatalf("checkpoint does not verify with the directory's log key: %v\n%s", err, res.Checkpoint)
			}
			if cp.Size >= size {
				return res.Checkpoint, cp.Size, tlog.Hash(cp.Hash)
			}
		} else if status.Code(err) != codes.NotFound {
			t.Fatalf("GetCheckpoint: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size %d: %v", size, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replay reads the whole log through Replay and returns each entry's
// record (JWS or signed directory) and the events.
func replay(t testing.TB, cl headsupv1.LogServiceClient, after uint64) ([][]byte, []*headsupv1.ReplayResponse) {
	t.Helper()
	st, err := cl.Replay(t.Context(), &headsupv1.ReplayRequest{AfterSequence: after})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.GetStart() == nil {
		t.Fatalf("replay start: %v %v", first, err)
	}
	var recs [][]byte
	var evs []*headsupv1.ReplayResponse
	next := after + 1
	for {
		ev, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		var seq uint64
		switch e := ev.Event.(type) {
		case *headsupv1.ReplayResponse_Entry:
			seq, recs = e.Entry.Sequence, append(recs, []byte(e.Entry.Envelope.GetJws()))
		case *headsupv1.ReplayResponse_Redacted:
			seq, recs = e.Redacted.Sequence, append(recs, []byte(e.Redacted.Jws))
		case *headsupv1.ReplayResponse_Directory:
			seq, recs = e.Directory.Sequence, append(recs, e.Directory.SignedDirectory)
		default:
			t.Fatalf("replay event %T", e)
		}
		if seq != next {
			t.Fatalf("replay delivered sequence %d, want %d", seq, next)
		}
		next++
		evs = append(evs, ev)
	}
	if next-1 != first.GetStart().LastSequence {
		t.Fatalf("replay ended at %d, announced %d", next-1, first.GetStart().LastSequence)
	}
	return recs, evs
}

// refRoots recomputes the root at every size from the records alone, with
// tlog and a plain slice: roots[n] is the root of the first n records.
func refRoots(t testing.TB, recs [][]byte) []tlog.Hash {
	t.Helper()
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			out[i] = stored[x]
		}
		return out, nil
	})
	roots := []tlog.Hash{sha256.Sum256(nil)}
	for i, rec := range recs {
		hs, err := tlog.StoredHashes(int64(i), rec, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		root, err := tlog.TreeHash(int64(i+1), r)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, root)
	}
	return roots
}

// TestLogTreeCheckpointsAndProofs: the hub's roots are the roots anyone
// recomputes from the replayed records, its checkpoints verify with the
// directory's log verifier, its proofs check with tlog, and bad sizes get
// the documented codes.
func TestLogTreeCheckpointsAndProofs(t *testing.T) {
	f := newLogFederation(t)
	h := f.start(t, filepath.Join(f.root, "data"))
	waitDirectory(t, h, f.edge.member)
	for i := range 6 {
		if _, err := publish(t, h, seal(t, f.edge.member, suspended(t, f.edge.id, fmt.Sprintf("n%d.example", i)))); err != nil {
			t.Fatal(err)
		}
	}
	const n = 8 // directory serial 1, the probe and six notices
	_, size, root := f.latest(t, logClient(h), n)
	if size != n {
		t.Fatalf("checkpoint size %d, want %d", size, n)
	}
	recs, evs := replay(t, logClient(h), 0)
	if len(recs) != n || evs[0].GetDirectory().GetSerial() != 1 {
		t.Fatalf("replay: %d records, first %v; want %d records starting with directory serial 1", len(recs), evs[0], n)
	}
	roots := refRoots(t, recs)
	if root != roots[n] {
		t.Fatalf("hub root %s, recomputed %s", root, roots[n])
	}
	// Every checkpoint the hub signed is of the same tree.
	signed := 0
	for s := uint64(1); s <= n; s++ {
		res, err := logClient(h).GetCheckpoint(t.Context(), &headsupv1.GetCheckpointRequest{Size: s})
		if status.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			t.Fatalf("GetCheckpoint(%d): %v", s, err)
		}
		cp, err := auditlog.ParseCheckpoint(res.Checkpoint, logOrigin, f.logVerifier)
		if err != nil || cp.Size != s || tlog.Hash(cp.Hash) != roots[s] {
			t.Fatalf("checkpoint %d: %v, %v; want root %s", s, cp, err, roots[s])
		}
		signed++
	}
	if signed == 0 {
		t.Fatal("GetCheckpoint(size) found none of the signed checkpoints")
	}
	for seq := uint64(1); seq <= n; seq++ {
		res, err := logClient(h).GetInclusionProof(t.Context(), &headsupv1.GetInclusionProofRequest{Sequence: seq, TreeSize: n})
		if err != nil {
			t.Fatalf("inclusion proof of %d: %v", seq, err)
		}
		leaf := tlog.RecordHash(recs[seq-1])
		if string(res.LeafHash) != string(leaf[:]) {
			t.Fatalf("leaf hash of %d: %x, want %x", seq, res.LeafHash, leaf)
		}
		if err := tlog.CheckRecord(toHashes(t, res.Proof), n, root, int64(seq-1), leaf); err != nil {
			t.Fatalf("inclusion proof of %d: %v", seq, err)
		}
	}
	for old := uint64(1); old <= n; old++ {
		res, err := logClient(h).GetConsistencyProof(t.Context(), &headsupv1.GetConsistencyProofRequest{OldSize: old, NewSize: n})
		if err != nil {
			t.Fatalf("consistency proof %d→%d: %v", old, n, err)
		}
		if err := tlog.CheckTree(toHashes(t, res.Proof), n, root, int64(old), roots[old]); err != nil {
			t.Fatalf("consistency proof %d→%d: %v", old, n, err)
		}
	}

	far := uint64(1 << 40)
	codesOf := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"inclusion sequence 0", func() error { return inclusion(h, 0, n) }, codes.InvalidArgument},
		{"inclusion size 0", func() error { return inclusion(h, 1, 0) }, codes.InvalidArgument},
		{"inclusion sequence past size", func() error { return inclusion(h, n, n-1) }, codes.InvalidArgument},
		{"inclusion size past the tree", func() error { return inclusion(h, 1, far) }, codes.OutOfRange},
		{"inclusion size past int64", func() error { return inclusion(h, 1, 1<<63+5) }, codes.OutOfRange},
		{"consistency old 0", func() error { return consistency(h, 0, n) }, codes.InvalidArgument},
		{"consistency old > new", func() error { return consistency(h, n, n-1) }, codes.InvalidArgument},
		{"consistency new past the tree", func() error { return consistency(h, 1, far) }, codes.OutOfRange},
		{"checkpoint past the tree", func() error {
			_, err := logClient(h).GetCheckpoint(t.Context(), &headsupv1.GetCheckpointRequest{Size: far})
			return err
		}, codes.OutOfRange},
		{"replay past the end", func() error {
			st, err := logClient(h).Replay(t.Context(), &headsupv1.ReplayRequest{AfterSequence: far})
			if err == nil {
				_, err = st.Recv()
			}
			return err
		}, codes.OutOfRange},
		{"replay of another log", func() error {
			st, err := logClient(h).Replay(t.Context(), &headsupv1.ReplayRequest{LogId: "HEADSUP@2001-01-01T00:00:00Z"})
			if err == nil {
				_, err = st.Recv()
			}
			return err
		}, codes.FailedPrecondition},
	}
	for _, tc := range codesOf {
		if got := status.Code(tc.call()); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	res, err := healthpb.NewHealthClient(h.conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: headsupv1.LogService_ServiceDesc.ServiceName})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("LogService health = %v, %v; want SERVING", res, err)
	}
	// Subscribe delivers the directory version at its sequence too.
	st, err := h.client.Subscribe(t.Context(), &headsupv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := st.Recv(); err != nil || ev.GetStart() == nil {
		t.Fatalf("subscribe start: %v %v", ev, err)
	}
	if ev, err := st.Recv(); err != nil || ev.GetDirectory().GetSequence() != 1 || ev.GetDirectory().GetSerial() != 1 {
		t.Fatalf("first subscribed event: %v %v; want directory serial 1 at sequence 1", ev, err)
	}
}

func inclusion(h *testHub, seq, size uint64) error {
	_, err := logClient(h).GetInclusionProof(context.Background(), &headsupv1.GetInclusionProofRequest{Sequence: seq, TreeSize: size})
	return err
}

func consistency(h *testHub, old, new uint64) error {
	_, err := logClient(h).GetConsistencyProof(context.Background(), &headsupv1.GetConsistencyProofRequest{OldSize: old, NewSize: new})
	return err
}

func toHashes(t testing.TB, bs [][]byte) []tlog.Hash {
	t.Helper()
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		if len(b) != tlog.HashSize {
			t.Fatalf("proof hash %d: %d bytes", i, len(b))
		}
		out[i] = tlog.Hash(b)
	}
	return out
}

// TestNoLogKey: without a log key LogService refuses every call with
// FAILED_PRECONDITION and reports NOT_SERVING; the hub appends no
// directory version.
func TestNoLogKey(t *testing.T) {
	h, _, _ := setup(t)
	cl := logClient(h)
	calls := map[string]func() error{
		"checkpoint": func() error {
			_, err := cl.GetCheckpoint(t.Context(), &headsupv1.GetCheckpointRequest{})
			return err
		},
		"inclusion":   func() error { return inclusion(h, 1, 1) },
		"consistency": func() error { return consistency(h, 1, 1) },
		"cosign": func() error {
			_, err := cl.AddCosignature(t.Context(), &headsupv1.AddCosignatureRequest{Checkpoint: []byte("x")})
			return err
		},
		"replay": func() error {
			st, err := cl.Replay(t.Context(), &headsupv1.ReplayRequest{})
			if err == nil {
				_, err = st.Recv()
			}
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "keeps no signed log") {
			t.Errorf("%s: %v, want FailedPrecondition saying the hub keeps no signed log", name, err)
		}
	}
	res, err := healthpb.NewHealthClient(h.conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: headsupv1.LogService_ServiceDesc.ServiceName})
	if err != nil || res.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("LogService health = %v, %v; want NOT_SERVING", res, err)
	}
}

// TestLogKeyMustMatchDirectory: a hub whose log key is not the directory's
// log.verifier_key refuses to start, saying so; one without a pinned
// governance key too.
func TestLogKeyMustMatchDirectory(t *testing.T) {
	f := newLogFederation(t)
	_, otherVKey, err := auditlog.GenerateLogKey(logOrigin)
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, 1, otherVKey)
	cfg := hub.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.DirectoryPath = "127.0.0.1:0", filepath.Join(f.root, "data"), f.dirPath
	cfg.DirectoryVerifier, cfg.LogKeyFile = f.gvkey, f.logKeyPath
	if _, stop, err := hub.Start(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "not the hub's log key") {
		if stop != nil {
			stop()
		}
		t.Fatalf("hub with another log key: %v, want a refusal naming the log key", err)
	}
	cfg.DirectoryVerifier = ""
	if _, stop, err := hub.Start(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "directory-verifier") {
		if stop != nil {
			stop()
		}
		t.Fatalf("hub with a log key and no governance key: %v, want a refusal", err)
	}
}

// TestTwoHubsOneLog: two replicas on one NATS compute the same root, and
// each directory version they both load is stored once.
func TestTwoHubsOneLog(t *testing.T) {
	f := newLogFederation(t)
	nh := &natsHolder{opts: server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: filepath.Join(f.root, "nats"), NoSigs: true, NoLog: true}}
	nh.start(t)
	t.Cleanup(nh.stop)
	shared := func(c *hub.Config) { c.NATSURL = nh.url() }
	a := f.start(t, filepath.Join(f.root, "a"), shared)
	b := f.start(t, filepath.Join(f.root, "b"), shared)
	waitDirectory(t, a, f.edge.member)
	for i := range 3 {
		h := []*testHub{a, b}[i%2]
		if _, err := publish(t, h, seal(t, f.edge.member, suspended(t, f.edge.id, fmt.Sprintf("r%d.example", i)))); err != nil {
			t.Fatal(err)
		}
	}
	// A new version with a new member, loaded by both.
	newbie := newMember(t, "newbie", directory.RolePublish)
	f.write(t, 2, f.logVKey, newbie)
	waitMember(t, a, newbie)
	waitMember(t, b, newbie)

	recs, evs := replay(t, logClient(a), 0)
	var serials []uint64
	for _, ev := range evs {
		if d := ev.GetDirectory(); d != nil {
			serials = append(serials, d.Serial)
		}
	}
	if !slices.Equal(serials, []uint64{1, 2}) {
		t.Fatalf("directory versions in the log: %v, want [1 2] (each once)", serials)
	}
	n := uint64(len(recs))
	_, sa, ra := f.latest(t, logClient(a), n)
	_, sb, rb := f.latest(t, logClient(b), n)
	if want := refRoots(t, recs)[n]; sa != n || sb != n || ra != want || rb != want {
		t.Fatalf("roots at %d: a %d %s, b %d %s, recomputed %s", n, sa, ra, sb, rb, want)
	}
}

// TestRestartRebuildsTreeAndKeepsSerialFloor: a tree file deleted while the
// hub was down is rebuilt from the stream to the same root, and the hub
// signs on from its last checkpoint; a directory file older than the log's
// latest version is refused after the restart, the log's version staying
// in force.
func TestRestartRebuildsTreeAndKeepsSerialFloor(t *testing.T) {
	f := newLogFederation(t)
	data := filepath.Join(f.root, "data")
	h := f.start(t, data)
	waitDirectory(t, h, f.edge.member)
	newbie := newMember(t, "newbie", directory.RolePublish)
	f.write(t, 2, f.logVKey, newbie)
	waitMember(t, h, newbie)
	_, last := bounds(t, h)
	_, size, root := f.latest(t, logClient(h), last)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filepath.Join(data, "log", "tree-hashes")); err != nil {
		t.Fatal(err)
	}
	f.write(t, 1, f.logVKey) // an older version: refused, serial 2 stays
	h = f.start(t, data)
	if _, err := publish(t, h, seal(t, newbie, suspended(t, newbie.id, "after-restart.example"))); err != nil {
		t.Fatalf("a member of the log's serial 2 publishes after a restart with serial 1 on disk: %v", err)
	}
	// The checkpoints signed before the restart are still served.
	before, err := logClient(h).GetCheckpoint(t.Context(), &headsupv1.GetCheckpointRequest{Size: size})
	if err != nil {
		t.Fatalf("checkpoint of size %d after the restart: %v", size, err)
	}
	if cp, err := auditlog.ParseCheckpoint(before.Checkpoint, logOrigin, f.logVerifier); err != nil || tlog.Hash(cp.Hash) != root {
		t.Fatalf("checkpoint of size %d after the restart: %v, %v", size, cp, err)
	}
	// The rebuilt tree has the root the hub signed before, and the next
	// checkpoint extends it (the checkpointer checks that).
	_, size2, _ := f.latest(t, logClient(h), size+1)
	res, err := logClient(h).GetConsistencyProof(t.Context(), &headsupv1.GetConsistencyProofRequest{OldSize: size, NewSize: size2})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := logClient(h).GetCheckpoint(t.Context(), &headsupv1.GetCheckpointRequest{Size: size2})
	if err != nil {
		t.Fatal(err)
	}
	c, err := auditlog.ParseCheckpoint(cp.Checkpoint, logOrigin, f.logVerifier)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(toHashes(t, res.Proof), int64(size2), tlog.Hash(c.Hash), int64(size), root); err != nil {
		t.Fatalf("checkpoint after the rebuild does not extend the one before: %v", err)
	}
	_, evs := replay(t, logClient(h), 0)
	var serials []uint64
	for _, ev := range evs {
		if d := ev.GetDirectory(); d != nil {
			serials = append(serials, d.Serial)
		}
	}
	if !slices.Equal(serials, []uint64{1, 2}) {
		t.Fatalf("directory versions in the log: %v, want [1 2]", serials)
	}
}

// TestTreeDisagreeingWithStream: a persisted tree that is not the stream's
// (a restored or rewritten stream looks the same from the hub) stops the
// log: LogService NOT_SERVING and DATA_LOSS, nothing signed; the hub still
// serves notices.
func TestTreeDisagreeingWithStream(t *testing.T) {
	f := newLogFederation(t)
	data := filepath.Join(f.root, "data")
	h := f.start(t, data)
	waitDirectory(t, h, f.edge.member)
	_, last := bounds(t, h)
	f.latest(t, logClient(h), last)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	// Another history of the same length.
	path := filepath.Join(data, "log", "tree-hashes")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	store, err := auditlog.OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := auditlog.OpenTree(store)
	if err != nil {
		t.Fatal(err)
	}
	other := make([][]byte, last)
	for i := range other {
		other[i] = []byte(rand.Text())
	}
	if err := tree.Append(other); err != nil {
		t.Fatal(err)
	}
	store.Close()

	h = f.start(t, data)
	res, err := healthpb.NewHealthClient(h.conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: headsupv1.LogService_ServiceDesc.ServiceName})
	if err != nil || res.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("LogService health = %v, %v; want NOT_SERVING", res, err)
	}
	if _, err := logClient(h).GetCheckpoint(t.Context(), &headsupv1.GetCheckpointRequest{}); status.Code(err) != codes.DataLoss {
		t.Fatalf("GetCheckpoint: %v, want DataLoss", err)
	}
	if _, err := publish(t, h, seal(t, f.edge.member, suspended(t, f.edge.id, "still.example"))); err != nil {
		t.Fatalf("publish with the log stopped: %v", err)
	}
}

// TestAddCosignature: a member's witness cosignature of a checkpoint the
// hub signed is attached and served; a wrong key, a forged line, a
// checkpoint the hub never signed and a revoked key are refused.
func TestAddCosignature(t *testing.T) {
	const origin = "hub.log.test"
	f := newLogFederation(t)
	revoked := newWitness(t, "retired", directory.RoleSubscribe)
	revoked.wkey.RevokedAt = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	f.write(t, 1, f.logVKey, revoked.member)
	h := f.start(t, filepath.Join(f.root, "data"), func(c *hub.Config) { c.Origin = origin })
	client := func(w *witness) (headsupv1.HubServiceClient, headsupv1.LogServiceClient) {
		creds, err := calltoken.NewCredentials(w.call, w.id, origin, calltoken.AllowInsecureLoopback())
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return headsupv1.NewHubServiceClient(conn), headsupv1.NewLogServiceClient(conn)
	}
	edgeHub, edgeLog := client(f.edge)
	_, voxLog := client(f.vox)
	_, retiredLog := client(revoked)

	// A notice for edgeshield alone: voxhost replays it redacted.
	private := suspended(t, f.edge.id, "private.example")
	private.Audience = []string{f.edge.id}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := edgeHub.Publish(t.Context(), &headsupv1.PublishRequest{Envelope: seal(t, f.edge.member, private)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish: %v", err)
		}
	}
	_, evs := replay(t, voxLog, 0)
	if len(evs) != 2 || evs[0].GetDirectory() == nil || evs[1].GetRedacted() == nil {
		t.Fatalf("voxhost's replay: %v; want the directory and a redacted entry", evs)
	}

	served, size, _ := f.latest(t, edgeLog, 2)
	n, err := note.Open(served, note.VerifierList(f.logVerifier))
	if err != nil {
		t.Fatal(err)
	}
	cosign := func(s note.Signer) []byte {
		b, err := note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	add := func(cl headsupv1.LogServiceClient, cp []byte) (uint32, error) {
		res, err := cl.AddCosignature(t.Context(), &headsupv1.AddCosignatureRequest{Checkpoint: cp})
		return res.GetCosignatures(), err
	}
	good := cosign(f.edge.cosigner(t))

	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := []byte(strings.Clone(string(good)))
	i := strings.LastIndex(string(forged), " ")
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(forged[i+1:])))
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)-1] ^= 1
	forged = append(forged[:i+1], base64.StdEncoding.EncodeToString(sig)+"\n"...)

	other := otherCheckpoint(t, f, size)
	notLogs, err := note.Sign(&note.Note{Text: n.Text}, cosignerOf(t, "impostor", stranger))
	if err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name string
		cl   headsupv1.LogServiceClient
		cp   []byte
		want codes.Code
	}{
		{"a key that is not the caller's", edgeLog, cosign(cosignerOf(t, f.edge.id, stranger)), codes.PermissionDenied},
		{"another member's witness key", voxLog, good, codes.PermissionDenied},
		{"a revoked witness key", retiredLog, cosign(revoked.cosigner(t)), codes.PermissionDenied},
		{"a forged line", edgeLog, forged, codes.InvalidArgument},
		{"a checkpoint the hub never signed", edgeLog, cosignNote(t, f, other, f.edge.cosigner(t)), codes.FailedPrecondition},
		{"a checkpoint without the log's signature", edgeLog, notLogs, codes.FailedPrecondition},
		{"not a checkpoint", edgeLog, []byte("hello"), codes.InvalidArgument},
	}
	for _, r := range refusals {
		if _, err := add(r.cl, r.cp); status.Code(err) != r.want {
			t.Errorf("%s: %v, want %v", r.name, err, r.want)
		}
	}

	if count, err := add(edgeLog, good); err != nil || count != 1 {
		t.Fatalf("edgeshield's cosignature: %d, %v; want 1", count, err)
	}
	if count, err := add(voxLog, cosign(f.vox.cosigner(t))); err != nil || count != 2 {
		t.Fatalf("voxhost's cosignature: %d, %v; want 2", count, err)
	}
	// Again, with a fresh timestamp: still one per member.
	if count, err := add(edgeLog, cosign(f.edge.cosigner(t))); err != nil || count != 2 {
		t.Fatalf("edgeshield's second cosignature: %d, %v; want 2", count, err)
	}
	res, err := edgeLog.GetCheckpoint(t.Context(), &headsupv1.GetCheckpointRequest{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	verifiers := note.VerifierList(f.logVerifier, witnessVerifier(t, f.edge), witnessVerifier(t, f.vox))
	got, err := note.Open(res.Checkpoint, verifiers)
	if err != nil || len(got.Sigs) != 3 {
		t.Fatalf("served checkpoint: %v signatures verified, %v; want the log's and two cosignatures\n%s", len(got.Sigs), err, res.Checkpoint)
	}
	if _, err := auditlog.ParseCheckpoint(res.Checkpoint, logOrigin, f.logVerifier); err != nil {
		t.Fatal(err)
	}
}

// otherCheckpoint signs a checkpoint of size with another root under the
// log key: what the hub's key could sign, but this hub never did.
func otherCheckpoint(t testing.TB, f *logFederation, size uint64) []byte {
	t.Helper()
	root := sha256.Sum256([]byte("another root"))
	text := fmt.Sprintf("%s\n%d\n%s\n", logOrigin, size, base64.StdEncoding.EncodeToString(root[:]))
	b, err := note.Sign(&note.Note{Text: text}, f.logSigner)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cosignNote adds s's cosignature to a note the log key signed.
func cosignNote(t testing.TB, f *logFederation, signed []byte, s note.Signer) []byte {
	t.Helper()
	n, err := note.Open(signed, note.VerifierList(f.logVerifier))
	if err != nil {
		t.Fatal(err)
	}
	b, err := note.Sign(n, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func witnessVerifier(t testing.TB, w *witness) note.Verifier {
	t.Helper()
	vkey, err := note.NewEd25519VerifierKey(w.id, w.wkey.Public)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := fnote.NewVerifierForCosignatureV1(cv)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// bounds is the hub's last sequence, through a subscription's start.
func bounds(t testing.TB, h *testHub) (uint64, uint64) {
	t.Helper()
	st, err := h.client.Subscribe(t.Context(), &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return ev.GetStart().FirstSequence, ev.GetStart().LastSequence
}

// waitMember polls until the hub's directory in force knows m: a member a
// newer version adds is an unknown key until the hub appended it.
func waitMember(t testing.TB, h *testHub, m *member) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		env := seal(t, m, suspended(t, m.id, "probe.example"))
		_, err := h.client.Publish(t.Context(), &headsupv1.PublishRequest{Envelope: env})
		if err == nil {
			return
		}
		if c := status.Code(err); c != codes.FailedPrecondition && c != codes.Unauthenticated || time.Now().After(deadline) {
			t.Fatalf("hub never put in force a directory with %s: %v", m.id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
