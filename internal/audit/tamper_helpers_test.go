package audit_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/audit"
	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/witness"
)

// tamperOrigin is the log of the tamper tests' federation.
const tamperOrigin = "hub.tamper.test/headsup"

// world is a federation and the NATS it runs on, as the tamper tests need
// it: a signed directory naming the log key, members with notice and
// witness keys, an external nats-server, and hubs started on it.
type world struct {
	t          *testing.T
	root       string
	dirPath    string
	gvkey      string
	logKeyPath string
	logVerif   note.Verifier
	dir        *directory.Directory
	notice     map[string]ed25519.PrivateKey // by member id
	witness    map[string]ed25519.PrivateKey // by member id
	hosts      int
}

// The federation: edgeshield runs the hub (its witness never counts),
// epiq and mitigatr witness, a quorum of two.
var publishers = []string{"edgeshield", "voxhost"}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, root: t.TempDir(), notice: map[string]ed25519.PrivateKey{}, witness: map[string]ed25519.PrivateKey{}}
	gskey, gvkey, err := directory.GenerateGovernanceKey("federation")
	check(t, err)
	w.gvkey = gvkey
	skey, vkey, err := auditlog.GenerateLogKey(tamperOrigin)
	check(t, err)
	w.logVerif, err = note.NewVerifier(vkey)
	check(t, err)
	w.logKeyPath = filepath.Join(w.root, "log.skey")
	check(t, os.WriteFile(w.logKeyPath, []byte(skey+"\n"), 0o600))

	d := &directory.Directory{Serial: 1, TestNetwork: true,
		Log: &directory.Log{Origin: tamperOrigin, VerifierKey: vkey, Operator: "edgeshield", Quorum: 2}}
	for _, id := range []string{"edgeshield", "voxhost", "epiq", "mitigatr", "ledger"} {
		m := &directory.Member{ID: id, Name: id, AbuseContact: "abuse@" + id + ".example"}
		switch id {
		case "edgeshield", "voxhost":
			m.Roles = []directory.Role{directory.RolePublish, directory.RoleSubscribe}
			k, priv, err := directory.NewKey(directory.UseNotice)
			check(t, err)
			m.Keys, w.notice[id] = append(m.Keys, k), priv
		case "ledger":
			m.Roles = []directory.Role{directory.RoleAudit}
		default:
			m.Roles = []directory.Role{directory.RoleSubscribe}
		}
		if id != "ledger" {
			k, priv, err := directory.NewKey(directory.UseWitness)
			check(t, err)
			m.Keys, w.witness[id] = append(m.Keys, k), priv
		}
		d.Members = append(d.Members, m)
	}
	text, err := directory.Marshal(d)
	check(t, err)
	signed, err := directory.Sign(text, gskey)
	check(t, err)
	w.dirPath = filepath.Join(w.root, "directory.signed")
	check(t, os.WriteFile(w.dirPath, signed, 0o644))
	w.dir, err = directory.Open(signed, gvkey)
	check(t, err)
	return w
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// natsNode is an external nats-server with JetStream on a random loopback
// port, its store in a directory of its own.
type natsNode struct {
	store string
	srv   *server.Server
}

func (w *world) startNATS(store string) *natsNode {
	w.t.Helper()
	n := &natsNode{store: store}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: store, NoSigs: true, NoLog: true})
	check(w.t, err)
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		w.t.Fatal("nats-server not ready")
	}
	n.srv = s
	w.t.Cleanup(n.stop)
	return n
}

func (n *natsNode) url() string { return n.srv.ClientURL() }

// stop shuts the server down and waits, so that its store may be copied.
func (n *natsNode) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// runningHub is a real hub on a natsNode, reached over real gRPC.
type runningHub struct {
	data string
	conn *grpc.ClientConn
	hub  headsupv1.HubServiceClient
	log  headsupv1.LogServiceClient
	stop func()
}

// hubConfig is the configuration of every hub of the world: a log key, a
// signed directory, a checkpoint every four entries or 20 ms.
func (w *world) hubConfig(natsURL, data string) hub.Config {
	cfg := hub.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.NATSURL = "127.0.0.1:0", data, natsURL
	cfg.DirectoryPath, cfg.DirectoryVerifier, cfg.LogKeyFile = w.dirPath, w.gvkey, w.logKeyPath
	cfg.CheckpointEvery, cfg.CheckpointInterval = 4, 20*time.Millisecond
	cfg.ShutdownTimeout = 2 * time.Second
	cfg.Logger = slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return cfg
}

// tryHub starts a hub on natsURL keeping its state in data.
func (w *world) tryHub(natsURL, data string) (*runningHub, error) {
	addr, stop, err := hub.Start(context.Background(), w.hubConfig(natsURL, data))
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		_ = stop()
		return nil, err
	}
	h := &runningHub{data: data, conn: conn, hub: headsupv1.NewHubServiceClient(conn), log: headsupv1.NewLogServiceClient(conn)}
	stopped := false
	h.stop = func() {
		if !stopped {
			stopped = true
			conn.Close()
			if err := stop(); err != nil {
				w.t.Errorf("hub %s: %v", data, err)
			}
		}
	}
	w.t.Cleanup(h.stop)
	return h, nil
}

func (w *world) startHub(natsURL, data string) *runningHub {
	w.t.Helper()
	h, err := w.tryHub(natsURL, data)
	if err != nil {
		w.t.Fatalf("hub on %s did not start: %v", data, err)
	}
	return h
}

// seal signs a fresh notice of issuer about a new host.
func (w *world) seal(issuer string) *headsupv1.Envelope {
	w.t.Helper()
	w.hosts++
	host := fmt.Sprintf("host-%d.example", w.hosts)
	n := &headsupv1.Notice{
		Issuer: issuer,
		Kind:   headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Subject: &headsupv1.Entity{Label: host, Identifiers: []*headsupv1.Identifier{
			{Value: &headsupv1.Identifier_Host{Host: host}},
		}},
		Reason:     "abusive-content:violence",
		Tlp:        headsupv1.Tlp_TLP_GREEN,
		LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE, Reference: "AUP 4.2"},
	}
	check(w.t, notice.Fill(n, time.Now()))
	check(w.t, notice.Normalize(n, notice.Options{TestNetwork: true}))
	env, err := envelope.Seal(n, w.notice[issuer])
	check(w.t, err)
	return env
}

// publish has count notices published through h, alternating the
// publishers, and returns the last sequence. The first publish waits for
// the hub to have loaded (and logged) the directory.
func (w *world) publish(h *runningHub, count int) uint64 {
	w.t.Helper()
	var last uint64
	for i := range count {
		env := w.seal(publishers[(w.hosts)%len(publishers)])
		for deadline := time.Now().Add(20 * time.Second); ; {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := h.hub.Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
			cancel()
			if err == nil {
				last = res.GetSequence()
				break
			}
			if status.Code(err) != codes.FailedPrecondition || i > 0 || time.Now().After(deadline) {
				w.t.Fatalf("publish: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return last
}

// checkpointAt polls until h's latest checkpoint has size, and returns it.
func (w *world) checkpointAt(h *runningHub, size uint64) []byte {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := h.log.GetCheckpoint(context.Background(), &headsupv1.GetCheckpointRequest{})
		if err == nil {
			cp, err := auditlog.ParseCheckpoint(res.GetCheckpoint(), tamperOrigin, w.logVerif)
			check(w.t, err)
			if cp.Size == size {
				return res.GetCheckpoint()
			}
			if cp.Size > size {
				w.t.Fatalf("latest checkpoint has size %d, past %d", cp.Size, size)
			}
		} else if status.Code(err) != codes.NotFound {
			w.t.Fatalf("GetCheckpoint: %v", err)
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no checkpoint of size %d: %v", size, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logHealth polls until h's LogService health is want.
func logHealth(t *testing.T, h *runningHub, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	hc := healthpb.NewHealthClient(h.conn)
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: headsupv1.LogService_ServiceDesc.ServiceName})
		if err == nil && res.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("LogService health %v, %v; want %v", res.GetStatus(), err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// auditor is what `headsup audit verify` keeps between runs: the pinned
// governance key, its --state file and a --previous export.
type auditor struct {
	w        *world
	state    string
	previous string
}

func (w *world) auditor() *auditor {
	dir := w.t.TempDir()
	return &auditor{w: w, state: filepath.Join(dir, "state.json"), previous: filepath.Join(dir, "previous.jsonl")}
}

func (a *auditor) config(previous bool, peers ...string) audit.Config {
	cfg := audit.Config{GovernanceVerifierKey: a.w.gvkey, StatePath: a.state, Peers: peers, Quorum: quorum}
	if previous {
		cfg.PreviousExport = a.previous
	}
	return cfg
}

// quorum is the audit's quorum checker, internal/witness's count.
func quorum(dir *directory.Directory, signed []byte, at time.Time) (int, error) {
	q, err := witness.CheckQuorum(dir, signed, at)
	return len(q.Cosigners), err
}

// verify runs `audit verify` against h: HubSource over real gRPC.
func (a *auditor) verify(h *runningHub, previous bool, peers ...string) (*audit.Report, error) {
	a.w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return audit.Verify(ctx, a.config(previous, peers...), audit.NewHubSource(h.log, ""))
}

// baseline verifies h's history (saving the state) and exports it (the
// --previous export), as an auditor did before the tampering.
func (a *auditor) baseline(h *runningHub, size uint64) {
	a.w.t.Helper()
	rep, err := a.verify(h, false)
	if err != nil {
		a.w.t.Fatalf("audit of the untampered log: %v", err)
	}
	if rep.Entries != size || rep.LargestCheckpoint != size {
		a.w.t.Fatalf("audit of the untampered log: %d entries, largest checkpoint %d; want %d", rep.Entries, rep.LargestCheckpoint, size)
	}
	f, err := os.Create(a.previous)
	check(a.w.t, err)
	defer f.Close()
	out, err := audit.Export(context.Background(), audit.NewHubSource(h.log, ""), f)
	check(a.w.t, err)
	if out.Entries != size {
		a.w.t.Fatalf("export: %d entries, want %d", out.Entries, size)
	}
	check(a.w.t, f.Close())
}

// failure asserts that err is a *audit.Failure wrapping sentinel.
func failure(t *testing.T, err error, sentinel error) *audit.Failure {
	t.Helper()
	var f *audit.Failure
	if !errors.As(err, &f) || !errors.Is(err, sentinel) {
		t.Fatalf("audit verify = %v; want a failure wrapping %q", err, sentinel)
	}
	t.Logf("audit verify: %v", err)
	return f
}

// storedMsg is one message of the stream as someone running NATS reads it.
type storedMsg struct {
	subject string
	body    []byte
}

// operator is whoever runs NATS: a plain nats.go connection with no
// permission denied, to the stream the hub uses.
type operator struct {
	t  *testing.T
	nc *nats.Conn
	js jetstream.JetStream
}

func (w *world) operator(n *natsNode) *operator {
	w.t.Helper()
	nc, err := nats.Connect(n.url())
	check(w.t, err)
	w.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	check(w.t, err)
	return &operator{t: w.t, nc: nc, js: js}
}

// messages reads the whole stream.
func (o *operator) messages() []storedMsg {
	o.t.Helper()
	ctx := context.Background()
	s, err := o.js.Stream(ctx, bus.StreamName)
	check(o.t, err)
	info, err := s.Info(ctx)
	check(o.t, err)
	var out []storedMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		check(o.t, err)
		out = append(out, storedMsg{subject: m.Subject, body: m.Data})
	}
	return out
}

// rebuild replaces the stream with msgs, as an operator can: the stream
// deleted and created again under the same name, with the hub's settings
// except that deletes and purges are allowed, msgs appended, edit run on
// it (deletes, purges), and then deny_delete and deny_purge set again
// (JetStream lets a stream update turn them on), so that the hub's
// configuration check passes.
func (o *operator) rebuild(msgs []storedMsg, edit func(s jetstream.Stream)) {
	o.t.Helper()
	ctx := context.Background()
	s, err := o.js.Stream(ctx, bus.StreamName)
	check(o.t, err)
	info, err := s.Info(ctx)
	check(o.t, err)
	cfg := info.Config
	check(o.t, o.js.DeleteStream(ctx, bus.StreamName))
	cfg.DenyDelete, cfg.DenyPurge = false, false
	s, err = o.js.CreateStream(ctx, cfg)
	check(o.t, err)
	for _, m := range msgs {
		o.append(m)
	}
	if edit != nil {
		edit(s)
	}
	cfg.DenyDelete, cfg.DenyPurge = true, true
	_, err = o.js.UpdateStream(ctx, cfg)
	check(o.t, err)
}

// append stores m at the end of the stream, bypassing the hub.
func (o *operator) append(m storedMsg) uint64 {
	o.t.Helper()
	ack, err := o.js.Publish(context.Background(), m.subject, m.body)
	check(o.t, err)
	return ack.Sequence
}

// copyDir copies the tree at src to dst (which must not exist): a
// snapshot of a stopped server's store or a stopped hub's data directory.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	check(t, err)
}

// restoreDir replaces dst with a copy of the snapshot src.
func restoreDir(t *testing.T, src, dst string) {
	t.Helper()
	check(t, os.RemoveAll(dst))
	copyDir(t, src, dst)
}
