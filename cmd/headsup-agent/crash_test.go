package main_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	_ "modernc.org/sqlite" // read the agent's state as a desk would

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/sink"
	"github.com/headsup-dev/headsup/internal/story"
)

// The crash test's workload and its bounds.
const (
	// crashShops suspended subjects each match one customer; crashStrays
	// are suspended subjects no customer matches.
	crashShops  = 320
	crashStrays = 20
	// Every crashRetractEvery-th shop is retracted crashRetractLag
	// notices later, while the agent is being killed; crashLateRetracts
	// more are retracted once it runs undisturbed, so withdrawals are
	// certain whatever the kills hit.
	crashRetractEvery = 4
	crashRetractLag   = 20
	crashLateRetracts = 10
	// crashKills is how many times the agent is SIGKILLed.
	crashKills = 16
	// crashPace spaces the publisher's notices so that the agent commits
	// many small batches while it is being killed.
	crashPace = 20 * time.Millisecond
	// crashDeadline bounds each wait for the agent to catch up.
	crashDeadline = 30 * time.Second
	// crashSeedEnv replays a run's kill delays.
	crashSeedEnv   = "HEADSUP_CRASH_SEED"
	crashSecretEnv = "HEADSUP_CRASH_WEBHOOK_SECRET"
	crashSecret    = "crash-test-webhook-secret-0123456789"
)

// TestCrashExactlyOnce is issue 4's crash test: the real headsup-agent
// binary follows a real hub while a stream with many matches is published,
// and is killed with SIGKILL at random points, each time restarted on the
// same state directory. Once it has caught up, the JSON-lines file holds
// every event of the outbox exactly once and in outbox order, the webhook
// receiver got every event at least once (exactly once after dropping
// repeats by Idempotency-Key), every alert's revisions run 1..n, and the
// active alerts are those the notices imply.
func TestCrashExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds headsup-agent and kills it repeatedly")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(crashSeedEnv); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, v, err)
		}
	}
	t.Logf("kill delays seeded with %d (replay: %s=%d)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))

	work := t.TempDir()
	bin := buildAgent(t, work)
	h := startCrashHub(t, work)
	hook := newReceiver(t, []byte(crashSecret))

	// The stream: shop i is suspended and matches customer cus-i; some
	// are retracted later. Strays match nobody.
	custs := []string{"customer_id,display_name,type,value"}
	var stream []*headsupv1.Notice // edgeshield's, in publishing order
	shops := make([]*headsupv1.Notice, crashShops)
	retracted := map[int]bool{}
	for i := range crashShops {
		custs = append(custs, fmt.Sprintf("cus-%03d,Shop %03d Ltd,host,shop-%03d.example", i, i, i))
		shops[i] = h.prepare("edgeshield", suspension(fmt.Sprintf("shop-%03d.example", i)))
		stream = append(stream, shops[i])
		if j := i - crashRetractLag; j >= 0 && j%crashRetractEvery == 0 {
			stream = append(stream, h.prepare("edgeshield", retraction(shops[j])))
			retracted[j] = true
		}
		if i%(crashShops/crashStrays) == 0 {
			stream = append(stream, h.prepare("edgeshield", suspension(fmt.Sprintf("stray-%03d.example", i))))
		}
	}
	custPath := filepath.Join(work, "customers.csv")
	if err := os.WriteFile(custPath, []byte(strings.Join(custs, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	state, jsonl := filepath.Join(work, "state"), filepath.Join(work, "alerts.jsonl")
	cfgPath := filepath.Join(work, "agent.yaml")
	cfg := fmt.Sprintf(`hub: %s
member: voxhost
directory: %s
state: %s
check_listen: ""
metrics_listen: ""
customers:
  - file: %s
sinks:
  - jsonl: %s
  - webhook: %s/hooks/headsup
    secret_env: %s
`, h.addr, h.dirPath, state, custPath, jsonl, hook.srv.URL, crashSecretEnv)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.ReadFile(cfgPath); err != nil {
		t.Fatalf("the test's configuration: %v", err)
	}

	// Publish at a steady pace while the agent is killed and restarted.
	published := make(chan publishResult, 1)
	go func() {
		tick := time.NewTicker(crashPace)
		defer tick.Stop()
		var last uint64
		for i, n := range stream {
			<-tick.C
			seq, err := h.publish("edgeshield", n)
			if err != nil {
				published <- publishResult{err: fmt.Errorf("notice %d of %d: %w", i+1, len(stream), err)}
				return
			}
			last = seq
		}
		published <- publishResult{last: last}
	}()

	runs := &agentRuns{t: t, bin: bin, cfg: cfgPath}
	t.Cleanup(runs.stop)
	var pub *publishResult
	inFlight, started := 0, time.Now()
	for kill := 1; kill <= crashKills || pub == nil; kill++ {
		p := runs.start()
		// A quarter of the kills land while the agent starts (loading its
		// state, waiting for the customer list, subscribing), a quarter
		// after a longer delay, mostly while it ingests and delivers. Half
		// come from the receiver as the k-th webhook request of the run
		// arrives: the webhook has the event and the agent never hears so,
		// and the JSON-lines deliverer, working through the same outbox
		// beside it, is often caught between a write and its mark.
		var d time.Duration
		var how string
		armed := false
		switch rng.IntN(4) {
		case 0:
			d = time.Duration(10+rng.IntN(290)) * time.Millisecond
			how = fmt.Sprintf("after %v", d)
		case 1:
			d = time.Duration(300+rng.IntN(1200)) * time.Millisecond
			how = fmt.Sprintf("after %v", d)
		default:
			k := 1 + rng.IntN(20)
			hook.armKill(k, p)
			d, how, armed = 1500*time.Millisecond, fmt.Sprintf("at webhook request %d", k), true
		}
		select {
		case <-time.After(d):
		case <-p.done:
		}
		if hook.armKill(0, nil) {
			inFlight++
		} else if armed {
			how += fmt.Sprintf(" (not reached: killed after %v)", d)
		}
		p.kill()
		st := readState(t, state, false)
		t.Logf("kill %d %s: cursor %d, %d events in the outbox, %d deliveries", kill, how, st.cursor, len(st.outbox), st.deliveries)
		if pub == nil {
			select {
			case r := <-published:
				if r.err != nil {
					t.Fatal(r.err)
				}
				pub = &r
			default:
			}
		}
		if time.Since(started) > crashDeadline {
			t.Fatalf("the publisher did not finish in %v (%d kills)", crashDeadline, kill)
		}
	}

	// Undisturbed, the agent catches up; then withdrawals it is sure to
	// see, with no kill to hide them in a batch with their raise.
	p := runs.start()
	waitCaughtUp(t, p, state, pub.last)
	last := pub.last
	late := 0
	for i := 1; late < crashLateRetracts; i += crashRetractEvery {
		if retracted[i] {
			continue
		}
		seq, err := h.publish("edgeshield", h.prepare("edgeshield", retraction(shops[i])))
		if err != nil {
			t.Fatal(err)
		}
		retracted[i], last = true, seq
		late++
	}
	waitCaughtUp(t, p, state, last)
	p.stop()

	final := readState(t, state, true)
	if final.cursor != last {
		t.Fatalf("cursor %d after a graceful stop, want %d", final.cursor, last)
	}
	if len(final.sinks) != 2 {
		t.Fatalf("deliveries name sinks %v, want the JSON-lines file and the webhook", final.sinks)
	}
	want := final.keys()

	// (a) The file holds every event exactly once, in outbox order.
	lines := readLines(t, jsonl)
	if !slices.Equal(lines, want) {
		counts := map[string]int{}
		for _, k := range lines {
			counts[k]++
		}
		var missing, twice []string
		for _, k := range want {
			switch counts[k] {
			case 0:
				missing = append(missing, k)
			case 1:
			default:
				twice = append(twice, k)
			}
		}
		t.Errorf("JSON-lines file: %d lines for %d outbox events; missing %v, more than once %v", len(lines), len(want), missing, twice)
	}

	// (b) The webhook got every event of the outbox and nothing else;
	// dropping repeats by Idempotency-Key leaves each once.
	got, dupes := hook.result()
	if hook.bad() > 0 {
		t.Errorf("the receiver refused %d requests (signature or key)", hook.bad())
	}
	var missing, extra []string
	for _, k := range want {
		if got[k] == 0 {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !slices.Contains(want, k) {
			extra = append(extra, k)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("webhook: missing %v, not in the outbox %v", missing, extra)
	}

	// (c) Each alert's revisions run 1..n, in outbox order: raised first,
	// and after a withdrawal nothing but a new raise.
	revs := map[string][]outboxEvent{}
	for _, e := range final.outbox {
		revs[e.AlertID] = append(revs[e.AlertID], e)
	}
	raised, withdrawn := 0, 0
	for id, evs := range revs {
		prev := alert.EventWithdrawn // before revision 1, as after a withdrawal
		for i, e := range evs {
			if e.Revision != uint64(i+1) {
				t.Errorf("alert %s: revisions %v, want 1..%d", id, revisionsOf(evs), len(evs))
				break
			}
			if (prev == alert.EventWithdrawn) != (e.Event == alert.EventRaised) {
				t.Errorf("alert %s: revision %d is %q after %q", id, e.Revision, e.Event, prev)
			}
			prev = e.Event
			switch e.Event {
			case alert.EventRaised:
				raised++
			case alert.EventWithdrawn:
				withdrawn++
			}
		}
	}

	// (d) The active alerts are the non-retracted shops' customers.
	all, err := agent.Alerts(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	var active, wantActive []string
	for _, a := range all {
		if a.Event == alert.EventWithdrawn {
			continue
		}
		if a.Type != alert.TypeMatch || a.Customer == nil {
			t.Errorf("active alert %s of type %s, want only matches", a.AlertID, a.Type)
			continue
		}
		active = append(active, a.Customer.ID+" "+a.Root.ID)
	}
	for i, s := range shops {
		if !retracted[i] {
			wantActive = append(wantActive, fmt.Sprintf("cus-%03d %s", i, s.GetId()))
		}
	}
	slices.Sort(active)
	slices.Sort(wantActive)
	if !slices.Equal(active, wantActive) {
		var lost, stray []string
		for _, a := range wantActive {
			if _, found := slices.BinarySearch(active, a); !found {
				lost = append(lost, a)
			}
		}
		for _, a := range active {
			if _, found := slices.BinarySearch(wantActive, a); !found {
				stray = append(stray, a)
			}
		}
		t.Errorf("%d active alerts, want %d (one per shop not retracted); missing %v, unexpected %v", len(active), len(wantActive), lost, stray)
	}
	if withdrawn == 0 {
		t.Errorf("no withdrawal in the outbox: the test did not exercise them")
	}

	resumed := runs.resumed()
	t.Logf("%d runs, %d SIGKILLs (%d at a webhook request), %d entries; %d events in the outbox (%d raised, %d withdrawn) for %d alerts; "+
		"JSON-lines file: %d lines, %d events found in the file on restart and marked delivered; "+
		"webhook: %d requests, %d repeats dropped by Idempotency-Key",
		runs.n, runs.n-1, inFlight, last, len(want), raised, withdrawn, len(revs), len(lines), resumed, hook.total(), dupes)
}

// buildAgent builds headsup-agent with the toolchain running the test.
func buildAgent(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "headsup-agent")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// crashHub is the story's federation on a real hub with embedded NATS.
type crashHub struct {
	t       *testing.T
	addr    string
	dirPath string
	members map[string]*story.Member
	client  headsupv1.HubServiceClient
}

func startCrashHub(t *testing.T, work string) *crashHub {
	t.Helper()
	dir, members, err := story.Federation()
	if err != nil {
		t.Fatal(err)
	}
	b, err := directory.Marshal(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &crashHub{t: t, dirPath: filepath.Join(work, "directory.yaml"), members: members}
	if err := os.WriteFile(h.dirPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := hub.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.DirectoryPath = "127.0.0.1:0", filepath.Join(work, "hub"), h.dirPath
	addr, stop, err := hub.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	h.addr = addr.String()
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h.client = headsupv1.NewHubServiceClient(conn)
	return h
}

// prepare fills in and normalises a notice of member, ready to sign.
func (h *crashHub) prepare(member string, n *headsupv1.Notice) *headsupv1.Notice {
	h.t.Helper()
	n.Issuer = member
	if err := notice.Fill(n, time.Now()); err != nil {
		h.t.Fatal(err)
	}
	if err := notice.Normalize(n, notice.Options{TestNetwork: true}); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// publish signs and publishes n; safe from any goroutine.
func (h *crashHub) publish(member string, n *headsupv1.Notice) (uint64, error) {
	env, err := envelope.Seal(n, h.members[member].Key)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := h.client.Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
	if err != nil {
		return 0, fmt.Errorf("publish %s %s: %w", n.GetKind(), n.GetId(), err)
	}
	return res.GetSequence(), nil
}

type publishResult struct {
	last uint64
	err  error
}

// suspension is edgeshield's story suspension, of host instead.
func suspension(host string) *headsupv1.Notice {
	n := story.Suspended()
	n.Subject = &headsupv1.Entity{Label: host, Identifiers: []*headsupv1.Identifier{story.Host(host)}}
	return n
}

func retraction(n *headsupv1.Notice) *headsupv1.Notice {
	return &headsupv1.Notice{Kind: headsupv1.NoticeKind_NOTICE_KIND_RETRACTION, Supersedes: n.GetId(), Tlp: headsupv1.Tlp_TLP_GREEN}
}

// receiver is a desk's webhook endpoint: it checks each request's
// signature and counts each Idempotency-Key.
type receiver struct {
	srv    *httptest.Server
	secret []byte

	mu      sync.Mutex
	counts  map[string]int
	refused int
	n       int
	// victim is killed at the killAt-th request (armKill).
	victim *agentProc
	killAt int
	fired  bool
}

func newReceiver(t *testing.T, secret []byte) *receiver {
	t.Helper()
	r := &receiver{secret: secret, counts: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if err := sink.VerifySignature(req.Header.Get(sink.SignatureHeader), body, r.secret, time.Now(), 0); err != nil {
		r.refused++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var key struct {
		AlertID  string `json:"alert_id"`
		Revision uint64 `json:"revision"`
	}
	k := req.Header.Get(sink.IdempotencyHeader)
	if err := json.Unmarshal(body, &key); err != nil || k != fmt.Sprintf("%s:%d", key.AlertID, key.Revision) {
		r.refused++
		http.Error(w, "Idempotency-Key does not name the body's event", http.StatusBadRequest)
		return
	}
	r.counts[k]++
	if r.victim != nil {
		if r.killAt--; r.killAt == 0 {
			r.victim.cmd.Process.Kill() // before it hears the answer
			r.victim, r.fired = nil, true
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// armKill makes the k-th request from now SIGKILL p once it is recorded;
// k = 0 disarms. It reports whether the previous arming fired.
func (r *receiver) armKill(k int, p *agentProc) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	fired := r.fired
	r.killAt, r.victim, r.fired = k, p, false
	if k == 0 {
		r.victim = nil
	}
	return fired
}

// result returns the count of each key and how many repeats were dropped.
func (r *receiver) result() (map[string]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dupes := 0
	for _, c := range r.counts {
		dupes += c - 1
	}
	return maps.Clone(r.counts), dupes
}

func (r *receiver) bad() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

func (r *receiver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// agentRuns starts the agent binary again and again on the same
// configuration, keeping each run's log.
type agentRuns struct {
	t    *testing.T
	bin  string
	cfg  string
	n    int
	all  []*agentProc
	curr *agentProc
}

type agentProc struct {
	t      *testing.T
	run    int
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
	err    error
}

func (r *agentRuns) start() *agentProc {
	r.t.Helper()
	r.n++
	p := &agentProc{t: r.t, run: r.n, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(r.bin, "--config", r.cfg, "--log-level", "info")
	p.cmd.Env = append(os.Environ(), crashSecretEnv+"="+crashSecret)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	r.all, r.curr = append(r.all, p), p
	return p
}

// stop kills a run left running by a failed test, and shows the last
// run's log when the test failed.
func (r *agentRuns) stop() {
	if r.curr != nil {
		select {
		case <-r.curr.done:
		default:
			r.curr.cmd.Process.Kill()
			<-r.curr.done
		}
		if r.t.Failed() {
			r.t.Logf("run %d's log:\n%s", r.curr.run, tail(r.curr.stderr.Bytes()))
		}
	}
}

// resumed sums what the runs' logs say the outbox found in the file.
func (r *agentRuns) resumed() int {
	n := 0
	for _, p := range r.all {
		<-p.done
		sc := bufio.NewScanner(bytes.NewReader(p.stderr.Bytes()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l struct {
				Msg    string `json:"msg"`
				Events int    `json:"events"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && strings.HasPrefix(l.Msg, "events the sink already holds") {
				n += l.Events
			}
		}
	}
	return n
}

// kill sends SIGKILL and makes sure that is what ended the process.
func (p *agentProc) kill() {
	p.t.Helper()
	p.cmd.Process.Kill() // SIGKILL: no deferred close, no final commit; done already if the receiver killed it
	<-p.done
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("run %d ended with %v before the kill\n%s", p.run, p.err, tail(p.stderr.Bytes()))
	}
}

// stop asks the agent to stop (SIGTERM) and expects a clean exit.
func (p *agentProc) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(crashDeadline):
		p.t.Fatalf("run %d did not stop on SIGTERM", p.run)
	}
	if p.err != nil {
		p.t.Fatalf("run %d: %v\n%s", p.run, p.err, tail(p.stderr.Bytes()))
	}
}

// waitCaughtUp polls the state until the cursor is at seq and both sinks
// have every event of the outbox.
func waitCaughtUp(t *testing.T, p *agentProc, state string, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(crashDeadline)
	for {
		st := readState(t, state, false)
		if st.cursor >= seq && st.deliveries == 2*len(st.outbox) {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("run %d exited: %v\n%s", p.run, p.err, tail(p.stderr.Bytes()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not catch up: cursor %d of %d, %d deliveries of %d events to 2 sinks", st.cursor, seq, st.deliveries, len(st.outbox))
		}
	}
}

// crashState is what the test reads of the agent's SQLite state.
type crashState struct {
	cursor     uint64
	outbox     []outboxEvent // by outbox id
	deliveries int
	sinks      []string
}

type outboxEvent struct {
	AlertID  string `json:"alert_id"`
	Revision uint64 `json:"revision"`
	Event    string `json:"event"`
}

func (s crashState) keys() []string {
	var out []string
	for _, e := range s.outbox {
		out = append(out, fmt.Sprintf("%s:%d", e.AlertID, e.Revision))
	}
	return out
}

func revisionsOf(evs []outboxEvent) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Revision)
	}
	return out
}

// readState reads the agent's state read-only, as a desk would alongside
// a running agent. Before the first run has created it, or when a kill
// left it needing a recovery only a writer may run, it is empty unless
// must is set.
func readState(t *testing.T, dir string, must bool) crashState {
	t.Helper()
	var st crashState
	path := filepath.Join(dir, "agent.db")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !must {
		return st
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = func() error {
		// The cursor is the last stored entry (internal/agent store.go).
		if err := db.QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM entries`).Scan(&st.cursor); err != nil {
			return err
		}
		rows, err := db.Query(`SELECT alert_id, revision, body FROM outbox ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e outboxEvent
			var body string
			if err := rows.Scan(&e.AlertID, &e.Revision, &body); err != nil {
				return err
			}
			var b outboxEvent
			if err := json.Unmarshal([]byte(body), &b); err != nil {
				return err
			}
			if b.AlertID != e.AlertID || b.Revision != e.Revision {
				return fmt.Errorf("outbox row %s:%d holds event %s:%d", e.AlertID, e.Revision, b.AlertID, b.Revision)
			}
			e.Event = b.Event
			st.outbox = append(st.outbox, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := db.QueryRow(`SELECT count(*) FROM deliveries`).Scan(&st.deliveries); err != nil {
			return err
		}
		names, err := db.Query(`SELECT DISTINCT sink FROM deliveries ORDER BY sink`)
		if err != nil {
			return err
		}
		defer names.Close()
		for names.Next() {
			var s string
			if err := names.Scan(&s); err != nil {
				return err
			}
			st.sinks = append(st.sinks, s)
		}
		return names.Err()
	}()
	if err != nil {
		if must {
			t.Fatalf("state %s: %v", path, err)
		}
		t.Logf("state %s not readable now: %v", path, err)
		return crashState{}
	}
	return st
}

// readLines returns the (alert_id:revision) of each line of the
// JSON-lines file, checking that each is a headsup.alert.v1 event.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end with a newline", path)
	}
	if len(data) == 0 {
		return nil
	}
	var keys []string
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if err := alert.Validate(line); err != nil {
			t.Fatalf("%s line %d: %v", path, i+1, err)
		}
		var e outboxEvent
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("%s line %d: %v", path, i+1, err)
		}
		keys = append(keys, fmt.Sprintf("%s:%d", e.AlertID, e.Revision))
	}
	return keys
}

// tail is the end of a log, enough to see why a run failed.
func tail(b []byte) string {
	const n = 4 << 10
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
