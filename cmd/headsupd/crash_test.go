package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/notice"
)

// Crash-test sizes: each round kills the daemon once at least minAcks
// publishes of the round were acknowledged, plus a random extra up to
// extraAcks, with workers publishes in flight at any moment.
const (
	crashRounds  = 3
	minAcks      = 1000
	extraAcks    = 300
	crashWorkers = 8
)

// TestCrash kills headsupd (embedded NATS) with SIGKILL at a random moment
// under publish load, three rounds on one data directory, and checks after
// each restart that every acknowledged envelope is at its acknowledged
// sequence with the same bytes, that sequences are dense, and that
// retrying each envelope that was in flight stores it once or answers
// duplicate=true, never a second copy.
//
// The two modes behave alike here, and that is the point of running both:
// with --fsync=interval the embedded server does not fsync each write, but
// a single-replica JetStream file store still hands every message to the
// kernel (write(2), "flush in place") before the publish is acknowledged,
// so a crash of the process alone loses nothing; the kernel writes its page
// cache out whatever happens to the process. Only a crash of the machine
// (power loss, kernel panic) before the next sync interval loses
// acknowledged notices in interval mode, which no test on a running
// kernel can show; --fsync=always closes that window at about a third of
// the throughput.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills headsupd six times under load")
	}
	for _, mode := range []string{"always", "interval"} {
		t.Run("fsync="+mode, func(t *testing.T) { crashRoundsWith(t, mode) })
	}
}

// crashWorld is what the test knows across rounds.
type crashWorld struct {
	dir, dirPath string
	key          ed25519.PrivateKey
	fsync        string

	mu       sync.Mutex
	acked    map[string]uint64 // JWS → acknowledged sequence
	sent     map[string]*headsupv1.Envelope
	inFlight map[string]*headsupv1.Envelope // sent, neither acknowledged nor refused
}

func crashRoundsWith(t *testing.T, fsync string) {
	w := &crashWorld{dir: t.TempDir(), fsync: fsync, acked: map[string]uint64{},
		sent: map[string]*headsupv1.Envelope{}, inFlight: map[string]*headsupv1.Envelope{}}
	k, priv, err := directory.NewKey(directory.UseNotice)
	if err != nil {
		t.Fatal(err)
	}
	w.key = priv
	d := &directory.Directory{Serial: 1, TestNetwork: true, Members: []*directory.Member{{
		ID: "edgeshield", Name: "Edgeshield", AbuseContact: "abuse@edgeshield.example",
		Roles: []directory.Role{directory.RolePublish, directory.RoleSubscribe}, Keys: []*directory.Key{k},
	}}}
	b, err := directory.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	w.dirPath = filepath.Join(w.dir, "directory.yaml")
	if err := os.WriteFile(w.dirPath, b, 0o644); err != nil {
		t.Fatal(err)
	}

	for round := 1; round <= crashRounds+1; round++ {
		d := startDaemon(t, w)
		client := d.client(t)
		w.check(t, client, round)
		w.retryInFlight(t, client, round)
		w.check(t, client, round)
		if round > crashRounds {
			d.stop(t)
			break
		}
		w.loadAndKill(t, client, d, round)
	}
}

// daemon is headsupd running as a child process.
type daemon struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan struct{}
	conn   *grpc.ClientConn
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDaemon runs headsupd on a free loopback port over the world's data
// directory and waits for its "hub serving" log line, which names the
// address.
func startDaemon(t *testing.T, w *crashWorld) *daemon {
	t.Helper()
	cmd := exec.Command(os.Args[0],
		"--listen", "127.0.0.1:0", "--open", "--metrics-listen", "",
		"--data", filepath.Join(w.dir, "data"), "--directory", w.dirPath,
		"--fsync", w.fsync, "--log-format", "json")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{})}
	t.Cleanup(func() { d.kill(t) })
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			d.stderr.Write(append(line, '\n'))
			var rec struct {
				Msg    string `json:"msg"`
				Listen string `json:"listen"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "hub serving" {
				serving <- rec.Listen
			}
		}
		_ = cmd.Wait()
		close(d.done)
	}()
	select {
	case d.addr = <-serving:
	case <-d.done:
		t.Fatalf("headsupd exited before serving:\n%s", d.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("headsupd not serving within 60s:\n%s", d.stderr)
	}
	return d
}

func (d *daemon) client(t *testing.T) headsupv1.HubServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(d.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	d.conn = conn
	return headsupv1.NewHubServiceClient(conn)
}

// kill sends SIGKILL: no shutdown path of the hub or of NATS runs.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Kill(); err != nil && !isDone(err) {
		t.Errorf("kill headsupd: %v", err)
	}
	<-d.done
	if d.conn != nil {
		d.conn.Close()
	}
}

// stop ends the daemon the way an operator does (SIGTERM).
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.conn != nil {
		d.conn.Close()
	}
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil && !isDone(err) {
		t.Errorf("interrupt headsupd: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Errorf("headsupd did not stop within 30s of SIGINT:\n%s", d.stderr)
	}
}

func isDone(err error) bool { return errors.Is(err, os.ErrProcessDone) }

// newEnvelope signs a fresh CUSTOMER_SUSPENDED notice of edgeshield.
func (w *crashWorld) newEnvelope(t *testing.T, i int) *headsupv1.Envelope {
	t.Helper()
	host := fmt.Sprintf("crash-%d.example", i)
	n := &headsupv1.Notice{
		Issuer: "edgeshield",
		Kind:   headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Subject: &headsupv1.Entity{Label: host, Identifiers: []*headsupv1.Identifier{
			{Value: &headsupv1.Identifier_Host{Host: host}},
		}},
		Reason:     "abusive-content:violence",
		Summary:    "terminated for inciting violence",
		Tlp:        headsupv1.Tlp_TLP_GREEN,
		LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE, Reference: "AUP 4.2"},
	}
	if err := notice.Fill(n, time.Now()); err != nil {
		t.Error(err)
		return nil
	}
	if err := notice.Normalize(n, notice.Options{TestNetwork: true}); err != nil {
		t.Error(err)
		return nil
	}
	env, err := envelope.Seal(n, w.key)
	if err != nil {
		t.Error(err)
		return nil
	}
	return env
}

// loadAndKill publishes from crashWorkers goroutines and kills the daemon
// once the round has a random number (at least minAcks) of
// acknowledgements. What was in flight stays in w.inFlight.
func (w *crashWorld) loadAndKill(t *testing.T, client headsupv1.HubServiceClient, d *daemon, round int) {
	t.Helper()
	killAt := int64(minAcks + rand.IntN(extraAcks))
	var acks atomic.Int64
	var killed atomic.Bool
	var counter atomic.Int64
	var wg sync.WaitGroup
	for range crashWorkers {
		wg.Go(func() {
			for !killed.Load() {
				env := w.newEnvelope(t, round*100000+int(counter.Add(1)))
				if env == nil {
					return
				}
				w.mu.Lock()
				w.sent[env.GetJws()], w.inFlight[env.GetJws()] = env, env
				w.mu.Unlock()
				for {
					res, err := client.Publish(context.Background(), &headsupv1.PublishRequest{Envelope: env})
					if err == nil {
						w.ack(t, env, res)
						if acks.Add(1) == killAt {
							killed.Store(true)
							d.kill(t)
						}
						break
					}
					if killed.Load() {
						return // in flight when the daemon died
					}
					// Before the kill only a directory not yet loaded
					// is worth a retry.
					if status.Code(err) != codes.FailedPrecondition {
						t.Errorf("round %d: publish: %v", round, err)
						return
					}
					time.Sleep(20 * time.Millisecond) // retry interval
				}
			}
		})
	}
	wg.Wait()
	w.mu.Lock()
	t.Logf("round %d: killed after %d acknowledgements, %d in flight", round, acks.Load(), len(w.inFlight))
	w.mu.Unlock()
}

// ack records an acknowledgement: the envelope's first one fixes its
// sequence, and any later one (a retry) must name the same sequence.
func (w *crashWorld) ack(t *testing.T, env *headsupv1.Envelope, res *headsupv1.PublishResponse) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	jws := env.GetJws()
	if seq, ok := w.acked[jws]; ok && seq != res.GetSequence() {
		t.Errorf("envelope acknowledged at %d, then at %d", seq, res.GetSequence())
	}
	w.acked[jws] = res.GetSequence()
	delete(w.inFlight, jws)
}

// retryInFlight publishes each envelope that was in flight at the kill
// again: it is stored now, or was stored before the kill and answers
// duplicate=true.
func (w *crashWorld) retryInFlight(t *testing.T, client headsupv1.HubServiceClient, round int) {
	t.Helper()
	w.mu.Lock()
	var pending []*headsupv1.Envelope
	for _, env := range w.inFlight {
		pending = append(pending, env)
	}
	w.mu.Unlock()
	var dups int
	for _, env := range pending {
		deadline := time.Now().Add(20 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := client.Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
			cancel()
			if err == nil {
				if res.GetDuplicate() {
					dups++
				}
				w.ack(t, env, res)
				break
			}
			if c := status.Code(err); (c != codes.FailedPrecondition && c != codes.Unavailable) || time.Now().After(deadline) {
				t.Fatalf("start %d: retrying an envelope in flight at the kill: %v", round, err)
			}
			time.Sleep(20 * time.Millisecond) // retry interval
		}
	}
	if len(pending) > 0 {
		t.Logf("start %d: %d envelopes in flight at the kill: %d stored before it (duplicate), %d stored now", round, len(pending), dups, len(pending)-dups)
	}
}

// check reads the whole log back and compares it with what was
// acknowledged: each acknowledged envelope at its sequence with the same
// bytes, dense sequences, nothing stored that was never sent, nothing
// stored twice.
func (w *crashWorld) check(t *testing.T, client headsupv1.HubServiceClient, round int) {
	t.Helper()
	entries := readLog(t, client)
	w.mu.Lock()
	defer w.mu.Unlock()
	bySeq := map[uint64]*headsupv1.Envelope{}
	stored := map[string]uint64{}
	for i, e := range entries {
		if want := uint64(i + 1); e.GetSequence() != want {
			t.Fatalf("start %d: entry %d has sequence %d: not contiguous", round, want, e.GetSequence())
		}
		jws := e.GetEnvelope().GetJws()
		if prev, ok := stored[jws]; ok {
			t.Errorf("start %d: envelope stored twice, at %d and %d", round, prev, e.GetSequence())
		}
		stored[jws] = e.GetSequence()
		bySeq[e.GetSequence()] = e.GetEnvelope()
		if _, ok := w.sent[jws]; !ok {
			t.Errorf("start %d: sequence %d holds an envelope never sent", round, e.GetSequence())
		}
	}
	for jws, seq := range w.acked {
		got, ok := bySeq[seq]
		switch {
		case !ok:
			t.Errorf("start %d: acknowledged sequence %d is missing (log ends at %d)", round, seq, len(entries))
		case !proto.Equal(got, w.sent[jws]):
			t.Errorf("start %d: sequence %d holds other bytes than were acknowledged there", round, seq)
		}
	}
	// Whatever is stored beyond the acknowledged was in flight at a kill.
	for jws, seq := range stored {
		if _, ok := w.acked[jws]; !ok {
			if _, ok := w.inFlight[jws]; !ok {
				t.Errorf("start %d: sequence %d was refused or never sent, yet stored", round, seq)
			}
		}
	}
	t.Logf("start %d: log holds %d entries, %d acknowledged", round, len(entries), len(w.acked))
}

// readLog subscribes from the start and reads up to the last sequence the
// hub reports.
func readLog(t *testing.T, client headsupv1.HubServiceClient) []*headsupv1.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := client.Subscribe(ctx, &headsupv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var entries []*headsupv1.Entry
	var last uint64
	for started := false; !started || uint64(len(entries)) < last; {
		r, err := st.Recv()
		if err != nil {
			t.Fatalf("reading the log after %d entries: %v", len(entries), err)
		}
		switch ev := r.Event.(type) {
		case *headsupv1.SubscribeResponse_Start:
			started, last = true, ev.Start.GetLastSequence()
		case *headsupv1.SubscribeResponse_Entry:
			entries = append(entries, ev.Entry)
		}
	}
	return entries
}
