package agent_test

// The agent and the log (log.go, dirlog.go): the real hub with a log key
// and a signed directory naming the log and members' witness keys, and
// real agents that witness it.

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/auditlog"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/story"
	"github.com/headsup-dev/headsup/internal/witness"
)

// agentLogOrigin is the test federation's log.
const agentLogOrigin = "hub.agent.test/headsup"

// logFed is the story's federation with a log: edgeshield runs the hub
// (its witness would never count), voxhost and epiq witness, quorum 2.
type logFed struct {
	t          *testing.T
	work       string
	signedPath string
	gvkey      string
	logKeyPath string
	logVerif   note.Verifier
	dir        *directory.Directory
	members    map[string]*story.Member
	witness    map[string]ed25519.PrivateKey
	logger     *slog.Logger
	hosts      int
}

func newLogFed(t *testing.T) *logFed {
	t.Helper()
	f := &logFed{t: t, work: t.TempDir(), witness: map[string]ed25519.PrivateKey{}, logger: slog.New(slog.DiscardHandler)}
	if testing.Verbose() {
		f.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	dir, members, err := story.Federation()
	must(t, err)
	f.members = members
	gskey, gvkey, err := directory.GenerateGovernanceKey("federation")
	must(t, err)
	f.gvkey = gvkey
	skey, vkey, err := auditlog.GenerateLogKey(agentLogOrigin)
	must(t, err)
	f.logVerif, err = note.NewVerifier(vkey)
	must(t, err)
	f.logKeyPath = filepath.Join(f.work, "log.skey")
	must(t, os.WriteFile(f.logKeyPath, []byte(skey+"\n"), 0o600))
	for _, id := range []string{"voxhost", "epiq"} {
		k, priv, err := directory.NewKey(directory.UseWitness)
		must(t, err)
		m, _ := dir.Member(id)
		m.Keys = append(m.Keys, k)
		f.witness[id] = priv
	}
	vox, _ := dir.Member("voxhost")
	vox.WitnessURL = "https://voxhost.example/witness"
	dir.Log = &directory.Log{Origin: agentLogOrigin, VerifierKey: vkey, Operator: "edgeshield", Quorum: 2}
	text, err := directory.Marshal(dir)
	must(t, err)
	signed, err := directory.Sign(text, gskey)
	must(t, err)
	f.signedPath = filepath.Join(f.work, "directory.signed")
	must(t, os.WriteFile(f.signedPath, signed, 0o644))
	f.dir, err = directory.Open(signed, gvkey)
	must(t, err)
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// logHub is a real hub keeping the signed log, reached over gRPC.
type logHub struct {
	addr string
	hub  headsupv1.HubServiceClient
	log  headsupv1.LogServiceClient
	stop func()
}

// startHub starts a hub with embedded NATS in data, signing a checkpoint
// after every entry.
func (f *logFed) startHub(data string) *logHub {
	f.t.Helper()
	cfg := hub.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.DirectoryPath, cfg.Logger = "127.0.0.1:0", data, f.signedPath, f.logger
	cfg.DirectoryVerifier, cfg.LogKeyFile = f.gvkey, f.logKeyPath
	cfg.CheckpointEvery, cfg.CheckpointInterval = 1, 20*time.Millisecond
	cfg.ShutdownTimeout = 2 * time.Second
	addr, stop, err := hub.Start(context.Background(), cfg)
	if err != nil {
		f.t.Fatalf("hub: %v", err)
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(f.t, err)
	h := &logHub{addr: addr.String(), hub: headsupv1.NewHubServiceClient(conn), log: headsupv1.NewLogServiceClient(conn)}
	stopped := false
	h.stop = func() {
		if !stopped {
			stopped = true
			conn.Close()
			if err := stop(); err != nil {
				f.t.Errorf("hub %s: %v", data, err)
			}
		}
	}
	f.t.Cleanup(h.stop)
	return h
}

// publish signs n as member and publishes it through h, retrying while
// the hub has not loaded its directory yet.
func (f *logFed) publish(h *logHub, member string, n *headsupv1.Notice) uint64 {
	f.t.Helper()
	if n.GetIssuer() == "" {
		n.Issuer = member
		must(f.t, notice.Fill(n, time.Now()))
		must(f.t, notice.Normalize(n, notice.Options{TestNetwork: true}))
	}
	env, err := envelope.Seal(n, f.members[member].Key)
	must(f.t, err)
	for deadline := time.Now().Add(20 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := h.hub.Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
		cancel()
		if err == nil {
			return res.GetSequence()
		}
		if status.Code(err) != codes.FailedPrecondition || time.Now().After(deadline) {
			f.t.Fatalf("publish: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// suspension is a fresh CUSTOMER_SUSPENDED of edgeshield about a new host.
func (f *logFed) suspension() *headsupv1.Notice {
	f.hosts++
	host := fmt.Sprintf("host-%d.example", f.hosts)
	return &headsupv1.Notice{Kind: headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Subject:    &headsupv1.Entity{Label: host, Identifiers: []*headsupv1.Identifier{story.Host(host)}},
		Reason:     "abusive-content:violence",
		Tlp:        headsupv1.Tlp_TLP_GREEN,
		LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE, Reference: "AUP 4.2"}}
}

// runningAgent is one real agent that witnesses.
type runningAgent struct {
	state   string
	cursor  atomic.Uint64
	witness atomic.Pointer[string] // the witness listener's address
	metrics atomic.Pointer[string]
	stop    func()
}

// startAgent runs member's agent against hubAddr with its state in state.
func (f *logFed) startAgent(member, hubAddr, state, csv string) *runningAgent {
	f.t.Helper()
	r := &runningAgent{state: state}
	custPath := filepath.Join(f.work, member+"-customers.csv")
	must(f.t, os.WriteFile(custPath, []byte(csv), 0o600))
	cfg := agent.DefaultConfig()
	cfg.Hub, cfg.Member, cfg.DirectoryPath, cfg.DirectoryVerifier, cfg.StateDir = hubAddr, member, f.signedPath, f.gvkey, state
	cfg.Customers = []agent.CustomerSource{customers.NewFile(custPath, "", f.logger)}
	cfg.Logger, cfg.BatchWait = f.logger, 10*time.Millisecond
	cfg.WitnessKey, cfg.WitnessListen = f.witness[member], "127.0.0.1:0"
	cfg.LogCheck, cfg.QuorumFreshness = 50*time.Millisecond, 3*time.Second
	cfg.MetricsListen = "127.0.0.1:0"
	cfg.Committed = func(seq uint64) { r.cursor.Store(seq) }
	cfg.WitnessReady = func(a net.Addr) { s := a.String(); r.witness.Store(&s) }
	cfg.MetricsReady = func(a net.Addr) { s := a.String(); r.metrics.Store(&s) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg) }()
	stopped := false
	r.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				f.t.Errorf("agent %s: %v", member, err)
			}
		}
	}
	f.t.Cleanup(r.stop)
	return r
}

// untilTrue polls cond until it holds, or fails with what.
func untilTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alerts reads the agent's stored alerts.
func (r *runningAgent) alerts(t *testing.T) []alert.Event {
	t.Helper()
	all, err := agent.Alerts(context.Background(), r.state)
	must(t, err)
	return all
}

// logAlert returns the agent's log integrity alert of kind, if any.
func (r *runningAgent) logAlert(t *testing.T, kind string) (alert.Event, bool) {
	t.Helper()
	for _, a := range r.alerts(t) {
		if a.Type == alert.TypeIntegrity && a.Integrity != nil && a.Integrity.Log != nil && a.Integrity.Log.Kind == kind {
			return a, true
		}
	}
	return alert.Event{}, false
}

// metric scrapes one unlabelled metric's value.
func (r *runningAgent) metric(t *testing.T, name string) float64 {
	t.Helper()
	addr := r.metrics.Load()
	if addr == nil {
		return -1
	}
	res, err := http.Get("http://" + *addr + "/metrics")
	must(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	must(t, err)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("metric %s not exposed", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	must(t, err)
	return v
}

// checkpoint returns the hub's latest checkpoint, verified, or nil.
func (f *logFed) checkpoint(h *logHub) ([]byte, witness.Quorum) {
	f.t.Helper()
	res, err := h.log.GetCheckpoint(context.Background(), &headsupv1.GetCheckpointRequest{})
	if err != nil {
		return nil, witness.Quorum{}
	}
	q, err := witness.CheckQuorum(f.dir, res.GetCheckpoint(), time.Now())
	must(f.t, err)
	return res.GetCheckpoint(), q
}

func cosigners(q witness.Quorum) []string {
	var out []string
	for _, c := range q.Cosigners {
		out = append(out, c.Member)
	}
	return out
}

const epiqCustomers = "customer_id,display_name,type,value\ncus-1,Harmless Bakery,host,bakery.example\n"

// TestAgentsWitnessTheLog: two agents follow a hub that keeps the signed
// log. Directory entries move their cursors; they cosign the hub's
// checkpoints until it holds a quorum of two; every notice of voxhost's
// alert is proved included; a stopped witness leaves the other agent
// with a quorum_stale alert, resolved when it comes back; and a hub
// restored from an old snapshot that signs another history of a size
// voxhost cosigned makes voxhost's witness refuse, keep the fork proof and
// alert.
func TestAgentsWitnessTheLog(t *testing.T) {
	f := newLogFed(t)
	data := filepath.Join(f.work, "hub")
	h := f.startHub(data)
	voxState, epiqState := filepath.Join(f.work, "voxhost"), filepath.Join(f.work, "epiq")
	vox := f.startAgent("voxhost", h.addr, voxState, story.Customers)
	epiq := f.startAgent("epiq", h.addr, epiqState, epiqCustomers)

	s := story.Suspended()
	f.publish(h, "edgeshield", s)
	f.publish(h, "researcher", story.Sighted(s))
	last := f.publish(h, "researcher", story.Reseller())
	if last != 4 {
		t.Fatalf("last sequence %d; want 4 (the directory at 1, then three notices)", last)
	}

	// Sequence 1 is the directory: an agent that did not take it as an
	// entry would stop at 2 ("the hub skipped entries"), and its lag
	// would never reach 0.
	untilTrue(t, "both cursors at the last sequence", func() bool { return vox.cursor.Load() == last && epiq.cursor.Load() == last })
	untilTrue(t, "voxhost's lag at 0", func() bool { return vox.metric(t, "headsup_agent_cursor_lag") == 0 })

	// The hub's latest checkpoint reaches the quorum with both members'
	// cosignatures, as GetCheckpoint shows them.
	untilTrue(t, "a checkpoint over everything with the quorum of voxhost and epiq", func() bool {
		cp, q := f.checkpoint(h)
		return cp != nil && q.Size == int64(last) && q.Satisfied() && slices.Equal(cosigners(q), []string{"epiq", "voxhost"})
	})
	untilTrue(t, "voxhost's checkpoint and witness metrics", func() bool {
		return vox.metric(t, "headsup_agent_log_checkpoint_size") == float64(last) && vox.metric(t, "headsup_agent_witness_cosigned_size") == float64(last) &&
			vox.metric(t, "headsup_agent_log_quorum_cosigners") == 2
	})

	// Every notice on the alert's chain is proved included.
	var match alert.Event
	untilTrue(t, "the match alert with every notice included", func() bool {
		for _, a := range vox.alerts(t) {
			if a.Type != alert.TypeMatch || a.State != alert.StateActive {
				continue
			}
			match = a
			if a.Root.IncludedIn < a.Root.Sequence {
				return false
			}
			for _, p := range a.Paths {
				for _, l := range p.Links {
					if l.Notice.IncludedIn < l.Notice.Sequence {
						return false
					}
				}
			}
			return true
		}
		return false
	})
	if match.Event != alert.EventUpdated || match.Revision < 2 {
		t.Errorf("the alert showing inclusion is %s revision %d; want an update", match.Event, match.Revision)
	}
	body, err := json.Marshal(match)
	must(t, err)
	if err := alert.Validate(body); err != nil {
		t.Fatalf("alert with inclusion does not validate: %v", err)
	}
	if !strings.Contains(alert.Render(&match), "included in checkpoint") {
		t.Errorf("rendering does not say the notices are included:\n%s", alert.Render(&match))
	}

	// voxhost serves its latest cosigned checkpoint at its witness_url's
	// path.
	res, err := http.Get("http://" + *vox.witness.Load() + "/witness")
	must(t, err)
	served, err := io.ReadAll(res.Body)
	res.Body.Close()
	must(t, err)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("witness URL: %d %s", res.StatusCode, served)
	}
	if q, err := witness.CheckQuorum(f.dir, served, time.Now()); err != nil || !slices.Contains(cosigners(q), "voxhost") {
		t.Fatalf("witness URL serves %q: %v, cosigners %v", served, err, cosigners(q))
	}

	// Witnessing stops: epiq's agent goes. voxhost alone is no quorum,
	// and after quorum_freshness it raises the alert; epiq comes back
	// and the alert is resolved.
	untilTrue(t, "no quorum_stale alert active before epiq stops", func() bool {
		a, ok := vox.logAlert(t, alert.LogQuorumStale)
		return !ok || a.State != alert.StateActive
	})
	epiq.stop()
	untilTrue(t, "voxhost's quorum_stale alert", func() bool {
		a, ok := vox.logAlert(t, alert.LogQuorumStale)
		return ok && a.State == alert.StateActive
	})
	if vox.metric(t, "headsup_agent_log_quorum_stale") != 1 {
		t.Error("headsup_agent_log_quorum_stale is not 1 while the alert is active")
	}
	stale, _ := vox.logAlert(t, alert.LogQuorumStale)
	t.Logf("quorum_stale: %s", stale.Headline)
	body, err = json.Marshal(stale)
	must(t, err)
	if err := alert.Validate(body); err != nil {
		t.Fatalf("quorum_stale alert does not validate: %v", err)
	}
	epiq = f.startAgent("epiq", h.addr, epiqState, epiqCustomers)
	untilTrue(t, "voxhost's quorum_stale alert resolved", func() bool {
		a, ok := vox.logAlert(t, alert.LogQuorumStale)
		return ok && a.State == alert.StateWithdrawn && a.Withdrawn.Reason == alert.WithdrawResolved
	})

	// The tamper: the operator snapshots the hub (stopped) at size last,
	// lets voxhost cosign one more entry, then restores the snapshot and
	// has the hub log another entry: a second history of size last+1,
	// signed by the log key.
	vox.stop()
	epiq.stop()
	h.stop()
	snap := filepath.Join(f.work, "snapshot")
	copyTree(t, data, snap)
	h = f.startHub(data)
	size := f.publish(h, "edgeshield", f.suspension())
	vox = f.startAgent("voxhost", h.addr, voxState, story.Customers)
	var cosigned []byte
	untilTrue(t, "voxhost cosigning the checkpoint of the first history", func() bool {
		cp, q := f.checkpoint(h)
		cosigned = cp
		return q.Size == int64(size) && slices.Contains(cosigners(q), "voxhost")
	})
	vox.stop()
	h.stop()
	must(t, os.RemoveAll(data))
	copyTree(t, snap, data)
	h = f.startHub(data)
	if again := f.publish(h, "edgeshield", f.suspension()); again != size {
		t.Fatalf("the restored hub logged at %d; want %d", again, size)
	}
	var forked []byte
	untilTrue(t, "the restored hub's checkpoint of the second history", func() bool {
		cp, q := f.checkpoint(h)
		forked = cp
		return q.Size == int64(size)
	})
	if rootOf(t, f, forked) == rootOf(t, f, cosigned) {
		t.Fatal("the two histories have one root")
	}

	vox = f.startAgent("voxhost", h.addr, voxState, story.Customers)
	var fork alert.Event
	untilTrue(t, "voxhost's fork alert", func() bool {
		var ok bool
		fork, ok = vox.logAlert(t, alert.LogFork)
		return ok
	})
	t.Logf("fork: %s", fork.Headline)
	if want := fmt.Sprintf("the hub showed two different histories of size %d", size); !strings.HasPrefix(fork.Headline, want) || fork.Integrity.Log.Size != size {
		t.Errorf("fork alert %q size %d; want it to start %q", fork.Headline, fork.Integrity.Log.Size, want)
	}
	body, err = json.Marshal(fork)
	must(t, err)
	if err := alert.Validate(body); err != nil {
		t.Fatalf("fork alert does not validate: %v", err)
	}
	kept, err := os.ReadFile(fork.Integrity.Log.ProofFile)
	must(t, err)
	proof, err := witness.ParseForkProof(kept)
	must(t, err)
	if err := proof.Verify(f.dir); err != nil {
		t.Fatalf("the kept fork proof does not verify against the directory: %v", err)
	}
	// The witness refused: it never cosigned the second history, and
	// still serves the first.
	if _, q := f.checkpoint(h); slices.Contains(cosigners(q), "voxhost") {
		t.Error("voxhost cosigned the second history")
	}
	res, err = http.Get("http://" + *vox.witness.Load() + "/witness")
	must(t, err)
	served, err = io.ReadAll(res.Body)
	res.Body.Close()
	must(t, err)
	if rootOf(t, f, served) != rootOf(t, f, cosigned) {
		t.Error("voxhost's witness serves another root than the one it cosigned first")
	}
}

func rootOf(t *testing.T, f *logFed, signed []byte) tlog.Hash {
	t.Helper()
	cp, err := auditlog.ParseCheckpoint(signed, agentLogOrigin, f.logVerif)
	must(t, err)
	return tlog.Hash(cp.Hash)
}

// copyTree copies the tree at src to dst (which must not exist): a
// stopped hub's data directory, its embedded NATS store included.
func copyTree(t *testing.T, src, dst string) {
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
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	must(t, err)
}

// TestDirectoryEntryRefused: a directory version in the log that does not
// verify under the agent's pinned governance key (here the hub's
// federation signed with another key than the one this agent pins) is an
// integrity alert of kind directory, never taken, and still moves the
// cursor like any entry.
func TestDirectoryEntryRefused(t *testing.T) {
	f := newLogFed(t)
	h := f.startHub(filepath.Join(f.work, "hub"))
	// The agent's own copy: the same directory, signed by a governance
	// key of its own, which it pins.
	gskey, gvkey, err := directory.GenerateGovernanceKey("other")
	must(t, err)
	text, err := directory.Marshal(f.dir)
	must(t, err)
	signed, err := directory.Sign(text, gskey)
	must(t, err)
	f.signedPath, f.gvkey = filepath.Join(f.work, "agent-directory.signed"), gvkey
	must(t, os.WriteFile(f.signedPath, signed, 0o644))
	vox := f.startAgent("voxhost", h.addr, filepath.Join(f.work, "voxhost"), story.Customers)
	seq := f.publish(h, "edgeshield", f.suspension())
	untilTrue(t, "the cursor past the directory entry", func() bool { return vox.cursor.Load() == seq })
	untilTrue(t, "the directory integrity alert", func() bool {
		_, ok := vox.logAlert(t, alert.LogDirectory)
		return ok
	})
	a, _ := vox.logAlert(t, alert.LogDirectory)
	if a.Integrity.Sequence != 1 || !strings.Contains(a.Integrity.Error, "pinned governance key") {
		t.Errorf("directory alert about sequence %d: %q", a.Integrity.Sequence, a.Integrity.Error)
	}
	body, err := json.Marshal(a)
	must(t, err)
	if err := alert.Validate(body); err != nil {
		t.Fatalf("directory alert does not validate: %v", err)
	}
}

// TestReconnectJitter: every wait is within [d/2, d] of its step.
func TestReconnectJitter(t *testing.T) {
	for _, d := range []time.Duration{200 * time.Millisecond, time.Second, 15 * time.Second} {
		for range 200 {
			if j := agent.Jitter(d); j < d/2 || j > d {
				t.Fatalf("jitter(%v) = %v, outside [%v, %v]", d, j, d/2, d)
			}
		}
	}
}
