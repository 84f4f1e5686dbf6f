package hub_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/notice"
)

// threatOrigin is the origin both hub replicas answer to.
const threatOrigin = "hub.threat.test"

const (
	publishMethod   = headsupv1.HubService_Publish_FullMethodName
	subscribeMethod = headsupv1.HubService_Subscribe_FullMethodName
)

// caller is a member with a call key besides its notice key.
type caller struct {
	*member
	call ed25519.PrivateKey
}

func newCaller(t testing.TB, id string, roles ...directory.Role) *caller {
	t.Helper()
	m := newMember(t, id, roles...)
	k, priv, err := directory.NewKey(directory.UseCall)
	if err != nil {
		t.Fatal(err)
	}
	m.dir.Keys = append(m.dir.Keys, k)
	return &caller{member: m, call: priv}
}

// addCallKey gives c another call key, shaped by f (validity limits).
func (c *caller) addCallKey(t testing.TB, f func(*directory.Key)) ed25519.PrivateKey {
	t.Helper()
	k, priv, err := directory.NewKey(directory.UseCall)
	if err != nil {
		t.Fatal(err)
	}
	f(k)
	c.dir.Keys = append(c.dir.Keys, k)
	return priv
}

// natsHolder owns the external NATS server, which a row stops and starts
// again on the same port and store.
type natsHolder struct {
	mu   sync.Mutex
	opts server.Options
	srv  *server.Server
}

func (n *natsHolder) start(t testing.TB) {
	t.Helper()
	opts := n.opts
	s, err := server.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	n.mu.Lock()
	n.srv = s
	if n.opts.Port == -1 {
		// Fix the port, so that a restart is where the hubs reconnect.
		n.opts.Port = s.Addr().(*net.TCPAddr).Port
	}
	n.mu.Unlock()
}

func (n *natsHolder) stop() {
	n.mu.Lock()
	s := n.srv
	n.srv = nil
	n.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

func (n *natsHolder) url() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv.ClientURL()
}

// federation is the world of the threat table: one NATS server with
// JetStream, two hub replicas sharing it under one origin, and members.
type federation struct {
	// root is the top-level test: what outlives a row is cleaned up there.
	root    *testing.T
	nats    *natsHolder
	dirPath string
	a, b    *testHub // b is strict: a burst of 3 publishes, 1 stream per member

	edge    *caller // publish, subscribe; owns the keys the token rows forge with
	vox     *caller // subscribe only
	mitig   *caller // publish, subscribe
	idle    *caller // no role
	ledger  *caller // audit: reads what was stored
	beacon  *caller // publish: the sentinel notices around each row
	gone    *caller // publish, subscribe; removed from the directory by a row
	flooder *caller // publish: floods hub b

	notYet, expired, revoked ed25519.PrivateKey // edgeshield's call keys out of validity
	stranger                 ed25519.PrivateKey // in no directory

	mu      sync.Mutex
	clients map[string]headsupv1.HubServiceClient
	last    uint64 // sequence of the latest sentinel
}

func newFederation(t *testing.T) *federation {
	t.Helper()
	root := t.TempDir()
	f := &federation{
		root: t,
		nats: &natsHolder{opts: server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
			StoreDir: filepath.Join(root, "nats"), NoSigs: true, NoLog: true}},
		dirPath: filepath.Join(root, "directory.yaml"),
		clients: map[string]headsupv1.HubServiceClient{},
	}
	f.nats.start(t)
	t.Cleanup(f.nats.stop) // after the hubs stop: cleanups run last in, first out

	f.edge = newCaller(t, "edgeshield", directory.RolePublish, directory.RoleSubscribe)
	f.vox = newCaller(t, "voxhost", directory.RoleSubscribe)
	f.mitig = newCaller(t, "mitigatr", directory.RolePublish, directory.RoleSubscribe)
	f.idle = newCaller(t, "idle")
	f.ledger = newCaller(t, "ledger", directory.RoleAudit)
	f.beacon = newCaller(t, "beacon", directory.RolePublish)
	f.gone = newCaller(t, "gone", directory.RolePublish, directory.RoleSubscribe)
	f.flooder = newCaller(t, "flooder", directory.RolePublish)
	now := time.Now().UTC().Truncate(time.Second)
	f.notYet = f.edge.addCallKey(t, func(k *directory.Key) { k.NotBefore = now.Add(time.Hour) })
	f.expired = f.edge.addCallKey(t, func(k *directory.Key) { k.NotAfter = now.Add(-time.Hour) })
	f.revoked = f.edge.addCallKey(t, func(k *directory.Key) { k.RevokedAt = now.Add(-time.Hour) })
	var err error
	if _, f.stranger, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	f.writeDirectory(t, 1, true)

	common := func(c *hub.Config) {
		c.NATSURL, c.Origin = f.nats.url(), threatOrigin
		c.MaxStreamsPerMember = 64
		c.PublishRate, c.PublishBurst = 1000, 1000
	}
	f.a = startHub(t, filepath.Join(root, "a"), f.dirPath, common)
	f.b = startHub(t, filepath.Join(root, "b"), f.dirPath, common, func(c *hub.Config) {
		c.PublishRate, c.PublishBurst, c.MaxStreamsPerMember = 0.001, 3, 1
	})
	// The first sentinel also waits until the hubs serve the directory.
	deadline := time.Now().Add(10 * time.Second)
	env := seal(t, f.beacon.member, suspended(t, f.beacon.id, "sentinel.example"))
	for {
		r, err := f.client(t, f.a, f.beacon).Publish(t.Context(), &headsupv1.PublishRequest{Envelope: env})
		if err == nil {
			f.last = r.Sequence
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("first sentinel: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *federation) writeDirectory(t testing.TB, serial uint64, withGone bool) {
	t.Helper()
	ms := []*member{f.edge.member, f.vox.member, f.mitig.member, f.idle.member, f.ledger.member, f.beacon.member, f.flooder.member}
	if withGone {
		ms = append(ms, f.gone.member)
	}
	writeDirectory(t, f.dirPath, serial, ms...)
}

// client is a connection to h whose calls carry c's genuine tokens.
func (f *federation) client(t testing.TB, h *testHub, c *caller) headsupv1.HubServiceClient {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	name := h.addr + "/" + c.id
	if cl, ok := f.clients[name]; ok {
		return cl
	}
	creds, err := calltoken.NewCredentials(c.call, c.id, threatOrigin, calltoken.AllowInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	f.root.Cleanup(func() { conn.Close() })
	cl := headsupv1.NewHubServiceClient(conn)
	f.clients[name] = cl
	return cl
}

// sentinel publishes a fresh notice of beacon's through hub a, retrying
// the same envelope while the hub is unavailable (a retry of the same
// envelope is answered with its original sequence, so it never adds an
// entry), and returns its sequence and JWS.
func (f *federation) sentinel(t *testing.T) (uint64, string) {
	t.Helper()
	env := seal(t, f.beacon.member, suspended(t, f.beacon.id, "sentinel.example"))
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		r, err := f.client(t, f.a, f.beacon).Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
		cancel()
		if err == nil {
			return r.Sequence, env.Jws
		}
		if c := status.Code(err); (c != codes.Unavailable && c != codes.DeadlineExceeded) || time.Now().After(deadline) {
			t.Fatalf("sentinel publish: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mark publishes the sentinel that opens a row.
func (f *federation) mark(t *testing.T) {
	t.Helper()
	f.last, _ = f.sentinel(t)
}

// nothingStored publishes the sentinel that closes a row and checks that
// the log grew by exactly it since the opening one, and that an auditor
// reading from the opening sentinel on is delivered the closing one first:
// the attack stored nothing and nothing reached anyone.
func (f *federation) nothingStored(t *testing.T) {
	t.Helper()
	before := f.last
	seq, jws := f.sentinel(t)
	f.last = seq
	if seq != before+1 {
		t.Fatalf("the log grew by %d entries during the attack (sentinels at %d and %d)", seq-before-1, before, seq)
	}
	events := f.read(t, f.a, f.ledger, before, seq)
	e := events[0].GetEntry()
	if e == nil || e.Envelope.GetJws() != jws {
		t.Fatalf("auditor got %v after sequence %d, want the closing sentinel", events[0], before)
	}
}

// read subscribes as c to h after sequence after and returns the entries
// and redacted entries up to sequence upTo, checking they run without a
// gap.
func (f *federation) read(t *testing.T, h *testHub, c *caller, after, upTo uint64) []*headsupv1.SubscribeResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := f.client(t, h, c).Subscribe(ctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_AfterSequence{AfterSequence: after}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.GetStart() == nil {
		t.Fatalf("%s subscribing after %d: %v %v", c.id, after, first, err)
	}
	var events []*headsupv1.SubscribeResponse
	for next := after + 1; next <= upTo; next++ {
		ev, err := st.Recv()
		for err == nil && ev.GetHeartbeat() != nil {
			ev, err = st.Recv()
		}
		if err != nil {
			t.Fatalf("%s waiting for sequence %d: %v", c.id, next, err)
		}
		seq := ev.GetEntry().GetSequence()
		if r := ev.GetRedacted(); r != nil {
			seq = r.Sequence
		}
		if seq != next {
			t.Fatalf("%s got sequence %d (%v), want %d", c.id, seq, ev, next)
		}
		events = append(events, ev)
	}
	return events
}

// forged is a call token spelled out so that a row can break any part. It
// starts as a valid token of edgeshield for Publish at the shared origin.
type forged struct {
	key    ed25519.PrivateKey
	header map[string]any
	claims map[string]any
}

func (f *federation) forge() *forged {
	now := time.Now().Unix()
	return &forged{
		key:    f.edge.call,
		header: map[string]any{"alg": "EdDSA", "typ": calltoken.Type, "kid": kidOf(f.edge.call)},
		claims: map[string]any{"iss": f.edge.id, "aud": threatOrigin, "iat": now, "exp": now + 60,
			"jti": rand.Text(), "method": publishMethod},
	}
}

func kidOf(k ed25519.PrivateKey) string { return directory.Thumbprint(k.Public().(ed25519.PublicKey)) }

// by signs with k under k's kid.
func (tk *forged) by(k ed25519.PrivateKey) *forged {
	tk.key, tk.header["kid"] = k, kidOf(k)
	return tk
}

func (tk *forged) with(f func(tk *forged)) *forged { f(tk); return tk }

// input is the JWS signing input, base64url of the header and claims.
func (tk *forged) input(t testing.TB) string {
	t.Helper()
	enc := func(v map[string]any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(tk.header) + "." + enc(tk.claims)
}

func (tk *forged) sign(t testing.TB) string {
	t.Helper()
	in := tk.input(t)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(tk.key, []byte(in)))
}

func bearer(tok string) string { return "Bearer " + tok }

// publishWith publishes env through h's anonymous connection with the
// given authorization values, exactly as written.
func publishWith(t *testing.T, h *testHub, env *headsupv1.Envelope, auth ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, a := range auth {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", a)
	}
	_, err := h.client.Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
	return err
}

// refusedStream opens a subscription that must be refused: it returns the
// error the stream ends with and fails if any event arrived before it.
func refusedStream(t *testing.T, cl headsupv1.HubServiceClient, req *headsupv1.SubscribeRequest) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := cl.Subscribe(ctx, req)
	if err != nil {
		return err
	}
	ev, err := st.Recv()
	if err == nil {
		t.Fatalf("a refused subscription delivered %v", ev)
	}
	return err
}

// retraction is a RETRACTION of issuer's notice target.
func retraction(t testing.TB, issuer, target string, audience ...string) *headsupv1.Notice {
	t.Helper()
	n := &headsupv1.Notice{Issuer: issuer, Kind: headsupv1.NoticeKind_NOTICE_KIND_RETRACTION,
		Tlp: headsupv1.Tlp_TLP_GREEN, Supersedes: target, Audience: audience}
	if err := notice.Fill(n, time.Now()); err != nil {
		t.Fatal(err)
	}
	return n
}

// threat is one row of issue 6's threat table.
type threat struct {
	name string
	// setup does the legitimate work the attack needs (spend a token,
	// publish the notice it aims at); what it stores precedes the row's
	// opening sentinel.
	setup func(t *testing.T)
	// attack returns the error the attacker sees.
	attack func(t *testing.T) error
	want   codes.Code
	// says is a fragment the status message must hold, naming the reason,
	// so that a row cannot pass for an unrelated refusal with the same code.
	says string
	// restore runs after the attack, before the check that nothing was
	// stored (the replay-store row starts NATS again).
	restore func(t *testing.T)
}

// TestThreatTable drives issue 6's threat table through two real hub
// replicas on loopback gRPC, sharing one external NATS server, with call
// tokens on. Each row asserts the exact gRPC code and reason, and that the
// log gained nothing and an auditor was delivered nothing: the sentinel
// notice published after the attack sits right after the one published
// before it.
//
// Token rows send a hand-made JWS with edgeshield's own, valid envelope,
// so a token let through would store it. mTLS rows are not here: the hub
// has no mTLS identity yet.
func TestThreatTable(t *testing.T) {
	f := newFederation(t)
	ctx := t.Context()
	edgeEnv := func(t *testing.T) *headsupv1.Envelope {
		return seal(t, f.edge.member, suspended(t, f.edge.id, "victim.example"))
	}
	// forgedPublish publishes edgeshield's envelope with the token mod makes.
	forgedPublish := func(mod func(tk *forged)) func(t *testing.T) error {
		return func(t *testing.T) error {
			return publishWith(t, f.a, edgeEnv(t), bearer(f.forge().with(mod).sign(t)))
		}
	}
	now := func(d time.Duration) int64 { return time.Now().Add(d).Unix() }
	unauth := codes.Unauthenticated

	// Tokens spent in a setup and replayed by the attack.
	var spent string
	spend := func(t *testing.T) {
		spent = f.forge().sign(t)
		if err := publishWith(t, f.a, edgeEnv(t), bearer(spent)); err != nil {
			t.Fatalf("first use of the token: %v", err)
		}
	}
	// The notice the supersede and retraction rows aim at: three readers.
	var target *headsupv1.Notice
	publishTarget := func(t *testing.T) {
		target = suspended(t, f.edge.id, "target.example")
		target.Audience = []string{f.edge.id, f.vox.id, f.mitig.id}
		if _, err := f.client(t, f.a, f.edge).Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, f.edge.member, target)}); err != nil {
			t.Fatal(err)
		}
	}
	// A notice addressed to edgeshield and mitigatr, not to voxhost.
	var private *headsupv1.Envelope
	var privateSeq uint64
	publishPrivate := func(t *testing.T) {
		n := suspended(t, f.edge.id, "private.example")
		n.Audience = []string{f.edge.id, f.mitig.id}
		n.Summary = "for edgeshield and mitigatr only"
		private = seal(t, f.edge.member, n)
		r, err := f.client(t, f.a, f.edge).Publish(ctx, &headsupv1.PublishRequest{Envelope: private})
		if err != nil {
			t.Fatal(err)
		}
		privateSeq = r.Sequence
	}
	// checkRedacted: ev is the redacted form of a notice voxhost may not
	// read; its JWS verifies and shows voxhost outside the signed audience,
	// and none of the notice's bytes travel with it.
	checkRedacted := func(t *testing.T, ev *headsupv1.SubscribeResponse, noticeBytes []byte) {
		t.Helper()
		r := ev.GetRedacted()
		if r == nil {
			t.Fatalf("voxhost got %v, want a redacted entry", ev)
		}
		dir, err := directory.Load(f.dirPath)
		if err != nil {
			t.Fatal(err)
		}
		c, _, _, err := envelope.VerifyJWS(r.Jws, dir, r.StoredAt.AsTime())
		if err != nil {
			t.Fatalf("redacted entry %d does not verify: %v", r.Sequence, err)
		}
		if len(c.Audience) == 0 || slices.Contains(c.Audience, f.vox.id) {
			t.Fatalf("redacted entry %d is addressed to %q: the hub withheld a notice voxhost may read", r.Sequence, c.Audience)
		}
		if wire, err := proto.Marshal(ev); err != nil || (noticeBytes != nil && bytes.Contains(wire, noticeBytes)) {
			t.Fatalf("redacted entry %d carries the notice bytes (%v)", r.Sequence, err)
		}
	}
	// Hub b allows one stream per member; this one holds it.
	var holdStream context.CancelFunc

	rows := []threat{
		{name: "no credentials", attack: func(t *testing.T) error { return publishWith(t, f.a, edgeEnv(t)) },
			want: unauth, says: calltoken.ErrMissing.Error()},
		{name: "token signed by a key that is not the claimed member's", attack: forgedPublish(func(tk *forged) { tk.by(f.vox.call) }),
			want: unauth, says: calltoken.ErrKeyNotIssuers.Error()},
		{name: "member's kid, signed by another member's key", attack: forgedPublish(func(tk *forged) { tk.key = f.vox.call }),
			want: unauth, says: calltoken.ErrSignature.Error()},
		{name: "notice key used for a token", attack: forgedPublish(func(tk *forged) { tk.by(f.edge.key) }),
			want: unauth, says: calltoken.ErrKeyUse.Error()},
		{name: "aud of another hub", attack: forgedPublish(func(tk *forged) { tk.claims["aud"] = "hub.elsewhere.test" }),
			want: unauth, says: calltoken.ErrAudience.Error()},
		{name: "aud array naming two hubs", attack: forgedPublish(func(tk *forged) { tk.claims["aud"] = []string{threatOrigin, "hub.elsewhere.test"} }),
			want: unauth, says: calltoken.ErrClaims.Error()},
		{name: "exp missing", attack: forgedPublish(func(tk *forged) { delete(tk.claims, "exp") }), want: unauth, says: calltoken.ErrClaims.Error()},
		{name: "iat missing", attack: forgedPublish(func(tk *forged) { delete(tk.claims, "iat") }), want: unauth, says: calltoken.ErrClaims.Error()},
		{name: "jti missing", attack: forgedPublish(func(tk *forged) { delete(tk.claims, "jti") }), want: unauth, says: calltoken.ErrClaims.Error()},
		{name: "aud missing", attack: forgedPublish(func(tk *forged) { delete(tk.claims, "aud") }), want: unauth, says: calltoken.ErrClaims.Error()},
		{name: "lifetime over 5 minutes", attack: forgedPublish(func(tk *forged) { tk.claims["exp"] = tk.claims["iat"].(int64) + 5*60 + 1 }),
			want: unauth, says: calltoken.ErrLifetime.Error()},
		{name: "expired", attack: forgedPublish(func(tk *forged) {
			tk.claims["iat"], tk.claims["exp"] = now(-3*time.Minute), now(-2*time.Minute) // beyond the 30 s leeway
		}), want: unauth, says: calltoken.ErrExpired.Error()},
		{name: "from the future beyond leeway", attack: forgedPublish(func(tk *forged) {
			tk.claims["iat"], tk.claims["exp"] = now(2*time.Minute), now(3*time.Minute)
		}), want: unauth, says: calltoken.ErrNotYetValid.Error()},
		{name: "jti replayed on the same replica", setup: spend,
			attack: func(t *testing.T) error { return publishWith(t, f.a, edgeEnv(t), bearer(spent)) },
			want:   unauth, says: calltoken.ErrReplayed.Error()},
		{name: "jti replayed on a second replica", setup: func(t *testing.T) {
			// Hub b takes edgeshield's fresh tokens, so the refusal below is
			// the shared replay store speaking.
			if _, err := f.client(t, f.b, f.edge).Publish(ctx, &headsupv1.PublishRequest{Envelope: edgeEnv(t)}); err != nil {
				t.Fatalf("fresh token at hub b: %v", err)
			}
			spend(t)
		}, attack: func(t *testing.T) error { return publishWith(t, f.b, edgeEnv(t), bearer(spent)) },
			want: unauth, says: calltoken.ErrReplayed.Error()},
		{name: "alg none", attack: func(t *testing.T) error {
			tk := f.forge()
			tk.header["alg"] = "none"
			return publishWith(t, f.a, edgeEnv(t), bearer(tk.input(t)+"."))
		}, want: unauth, says: calltoken.ErrHeader.Error()},
		{name: "HS256 with the public key as secret", attack: func(t *testing.T) error {
			tk := f.forge()
			tk.header["alg"] = "HS256"
			in := tk.input(t)
			mac := hmac.New(sha256.New, f.edge.call.Public().(ed25519.PublicKey))
			mac.Write([]byte(in))
			return publishWith(t, f.a, edgeEnv(t), bearer(in+"."+base64.RawURLEncoding.EncodeToString(mac.Sum(nil))))
		}, want: unauth, says: calltoken.ErrHeader.Error()},
		{name: "typ missing", attack: forgedPublish(func(tk *forged) { delete(tk.header, "typ") }), want: unauth, says: calltoken.ErrHeader.Error()},
		{name: "typ JWT", attack: forgedPublish(func(tk *forged) { tk.header["typ"] = "JWT" }), want: unauth, says: calltoken.ErrHeader.Error()},
		{name: "typ of a notice", attack: forgedPublish(func(tk *forged) { tk.header["typ"] = envelope.Type }), want: unauth, says: calltoken.ErrHeader.Error()},
		{name: "crit in the header", attack: forgedPublish(func(tk *forged) { tk.header["crit"] = []string{"exp"} }), want: unauth, says: calltoken.ErrHeader.Error()},
		{name: "jwk in the header", attack: forgedPublish(func(tk *forged) {
			// The attacker's own key, offered inline and signing.
			tk.key = f.stranger
			tk.header["jwk"] = map[string]string{"kty": "OKP", "crv": "Ed25519",
				"x": base64.RawURLEncoding.EncodeToString(f.stranger.Public().(ed25519.PublicKey))}
		}), want: unauth, says: calltoken.ErrHeader.Error()},
		{name: "jku in the header", attack: forgedPublish(func(tk *forged) { tk.header["jku"] = "https://evil.example/jwks" }), want: unauth, says: calltoken.ErrHeader.Error()},
		{name: "x5c in the header", attack: forgedPublish(func(tk *forged) { tk.header["x5c"] = []string{"MIIB"} }), want: unauth, says: calltoken.ErrHeader.Error()},
		{name: "non-canonical base64 signature", attack: func(t *testing.T) error {
			tok := f.forge().sign(t)
			// A 64-byte signature is 86 characters; the last holds 2 bits
			// and 4 unused ones that strict decoding requires to be zero.
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			last := strings.IndexByte(alphabet, tok[len(tok)-1])
			return publishWith(t, f.a, edgeEnv(t), bearer(tok[:len(tok)-1]+string(alphabet[last|1])))
		}, want: unauth, says: calltoken.ErrMalformed.Error()},
		{name: "Subscribe token used for Publish", attack: forgedPublish(func(tk *forged) { tk.claims["method"] = subscribeMethod }),
			want: unauth, says: calltoken.ErrMethod.Error()},
		{name: "unknown kid", attack: forgedPublish(func(tk *forged) { tk.by(f.stranger) }), want: unauth, says: calltoken.ErrUnknownKey.Error()},
		{name: "key not yet valid", attack: forgedPublish(func(tk *forged) { tk.by(f.notYet) }), want: unauth, says: directory.ErrKeyNotYetValid.Error()},
		{name: "key past not_after", attack: forgedPublish(func(tk *forged) { tk.by(f.expired) }), want: unauth, says: directory.ErrKeyExpired.Error()},
		{name: "key revoked", attack: forgedPublish(func(tk *forged) { tk.by(f.revoked) }), want: unauth, says: directory.ErrKeyRevoked.Error()},
		{name: "member removed from the directory", setup: func(t *testing.T) {
			gone := f.client(t, f.a, f.gone)
			if _, err := gone.Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, f.gone.member, suspended(t, f.gone.id, "gone.example"))}); err != nil {
				t.Fatalf("gone publishes while a member: %v", err)
			}
			f.writeDirectory(t, 2, false)
			// Wait for hub a to load serial 2; subscribing stores nothing.
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				sctx, cancel := context.WithCancel(ctx)
				st, err := gone.Subscribe(sctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}})
				if err == nil {
					_, err = st.Recv()
				}
				cancel()
				if status.Code(err) == codes.Unauthenticated {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("hub a still lets the removed member in: %v", err)
				}
			}
		}, attack: func(t *testing.T) error {
			_, err := f.client(t, f.a, f.gone).Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, f.gone.member, suspended(t, f.gone.id, "gone.example"))})
			return err
		}, want: unauth, says: calltoken.ErrUnknownKey.Error()},
		{name: "two authorization values", attack: func(t *testing.T) error {
			return publishWith(t, f.a, edgeEnv(t), bearer(f.forge().sign(t)), bearer(f.forge().sign(t)))
		}, want: unauth, says: calltoken.ErrTwoCredentials.Error()},

		{name: "Publish without the role", attack: func(t *testing.T) error {
			_, err := f.client(t, f.a, f.vox).Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, f.vox.member, suspended(t, f.vox.id, "vox.example"))})
			return err
		}, want: codes.PermissionDenied, says: hub.ErrNotPublisher.Error()},
		{name: "Publish of another member's validly signed envelope", attack: func(t *testing.T) error {
			_, err := f.client(t, f.a, f.mitig).Publish(ctx, &headsupv1.PublishRequest{Envelope: edgeEnv(t)})
			return err
		}, want: codes.PermissionDenied, says: hub.ErrNotCaller.Error()},
		{name: "Subscribe without the role", attack: func(t *testing.T) error {
			return refusedStream(t, f.client(t, f.a, f.idle), &headsupv1.SubscribeRequest{})
		}, want: codes.PermissionDenied, says: hub.ErrNoRole.Error()},
		{name: "non-audit member asking for full history", setup: publishPrivate, attack: func(t *testing.T) error {
			// Everything up to the opening sentinel; voxhost reads notices
			// addressed to it or to everyone, the rest only redacted.
			redacted := 0
			for _, ev := range f.read(t, f.a, f.vox, 0, f.last) {
				if e := ev.GetEntry(); e != nil {
					c, err := envelope.PeekClaims(e.Envelope.GetJws())
					if err != nil {
						t.Fatal(err)
					}
					if len(c.Audience) > 0 && !slices.Contains(c.Audience, f.vox.id) {
						t.Fatalf("voxhost was delivered entry %d addressed to %q", e.Sequence, c.Audience)
					}
					continue
				}
				var noticeBytes []byte
				if ev.GetRedacted().GetSequence() == privateSeq {
					noticeBytes = private.Notice
				}
				checkRedacted(t, ev, noticeBytes)
				redacted++
			}
			if redacted == 0 {
				t.Fatalf("voxhost saw no redacted entry in a history holding notice %d addressed to others", privateSeq)
			}
			// The audit role is what full history takes: the auditor reads
			// the same notice whole.
			if e := f.read(t, f.a, f.ledger, privateSeq-1, privateSeq)[0].GetEntry(); e == nil || !bytes.Equal(e.Envelope.GetNotice(), private.Notice) {
				t.Fatalf("the auditor got %v at sequence %d, want the notice", e, privateSeq)
			}
			return nil
		}, want: codes.OK},
		{name: "notice addressed to others", setup: publishPrivate, attack: func(t *testing.T) error {
			checkRedacted(t, f.read(t, f.a, f.vox, privateSeq-1, privateSeq)[0], private.Notice)
			// Its audience reads it whole, through the other replica too.
			for _, h := range []*testHub{f.a, f.b} {
				e := f.read(t, h, f.mitig, privateSeq-1, privateSeq)[0].GetEntry()
				if e == nil || !bytes.Equal(e.Envelope.GetNotice(), private.Notice) {
					t.Fatalf("mitigatr, in the audience, got %v", e)
				}
			}
			return nil
		}, want: codes.OK},
		{name: "supersede audience too narrow", setup: publishTarget, attack: func(t *testing.T) error {
			n := suspended(t, f.edge.id, "target.example")
			n.Supersedes, n.Audience = target.Id, []string{f.edge.id, f.vox.id}
			_, err := f.client(t, f.a, f.edge).Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, f.edge.member, n)})
			return err
		}, want: codes.InvalidArgument, says: hub.ErrAudienceNarrowed.Error()},
		{name: "retraction audience too narrow", setup: publishTarget, attack: func(t *testing.T) error {
			n := retraction(t, f.edge.id, target.Id, f.edge.id, f.mitig.id)
			_, err := f.client(t, f.a, f.edge).Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, f.edge.member, n)})
			return err
		}, want: codes.InvalidArgument, says: hub.ErrAudienceNarrowed.Error()},
		// Only the issuer may replace its notices: another member's is
		// found under any issuer and refused as such.
		{name: "retraction of another issuer's notice", setup: publishTarget, attack: func(t *testing.T) error {
			n := retraction(t, f.mitig.id, target.Id)
			_, err := f.client(t, f.a, f.mitig).Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, f.mitig.member, n)})
			return err
		}, want: codes.PermissionDenied, says: hub.ErrNotYours.Error()},
		// gRPC refuses a message over the hub's receive limit before any
		// interceptor or handler runs, so the token is not even spent.
		{name: "oversized message (over gRPC's receive limit)", attack: func(t *testing.T) error {
			_, err := f.client(t, f.a, f.edge).Publish(ctx, &headsupv1.PublishRequest{Envelope: &headsupv1.Envelope{
				Notice: make([]byte, envelope.MaxEnvelopeBytes+8<<10), Jws: "x"}})
			return err
		}, want: codes.ResourceExhausted, says: "larger than max"},
		// Within gRPC's limit, the hub's own size check refuses it before
		// parsing or verifying anything.
		{name: "oversized envelope (over 64 KiB, within gRPC's limit)", attack: func(t *testing.T) error {
			_, err := f.client(t, f.a, f.edge).Publish(ctx, &headsupv1.PublishRequest{Envelope: &headsupv1.Envelope{
				Notice: make([]byte, notice.MaxNoticeBytes), Jws: strings.Repeat("x", envelope.MaxEnvelopeBytes-notice.MaxNoticeBytes+1)}})
			return err
		}, want: codes.InvalidArgument, says: envelope.ErrTooLarge.Error()},
		{name: "too many streams", setup: func(t *testing.T) {
			sctx, cancel := context.WithCancel(ctx)
			holdStream = cancel
			t.Cleanup(cancel)
			st, err := f.client(t, f.b, f.vox).Subscribe(sctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}})
			if err == nil {
				_, err = st.Recv()
			}
			if err != nil {
				t.Fatalf("voxhost's one stream at hub b: %v", err)
			}
		}, attack: func(t *testing.T) error {
			defer holdStream()
			return refusedStream(t, f.client(t, f.b, f.vox), &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}})
		}, want: codes.ResourceExhausted, says: "limit 1"},
		{name: "publish flood past the rate", setup: func(t *testing.T) {
			for i := range 3 { // hub b's burst
				env := seal(t, f.flooder.member, suspended(t, f.flooder.id, "flood.example"))
				if _, err := f.client(t, f.b, f.flooder).Publish(ctx, &headsupv1.PublishRequest{Envelope: env}); err != nil {
					t.Fatalf("publish %d within the burst: %v", i, err)
				}
			}
		}, attack: func(t *testing.T) error {
			env := seal(t, f.flooder.member, suspended(t, f.flooder.id, "flood.example"))
			_, err := f.client(t, f.b, f.flooder).Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
			return err
		}, want: codes.ResourceExhausted, says: "burst 3"},
		// Last: it stops NATS under both replicas. Calls fail closed at
		// either; NATS then comes back on the same port and store and the
		// closing sentinel shows that nothing got in meanwhile.
		{name: "replay store unreachable", attack: func(t *testing.T) error {
			f.nats.stop()
			err := refusedStream(t, f.client(t, f.b, f.vox), &headsupv1.SubscribeRequest{})
			if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), calltoken.ErrReplayStoreUnavailable.Error()) {
				t.Errorf("subscribe at hub b without NATS: %v, want Unavailable from the replay store", err)
			}
			_, err = f.client(t, f.a, f.edge).Publish(ctx, &headsupv1.PublishRequest{Envelope: edgeEnv(t)})
			return err
		}, want: codes.Unavailable, says: calltoken.ErrReplayStoreUnavailable.Error(),
			restore: func(t *testing.T) { f.nats.start(t) }},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			if row.setup != nil {
				row.setup(t)
			}
			f.mark(t)
			err := row.attack(t)
			if status.Code(err) != row.want || !strings.Contains(status.Convert(err).Message(), row.says) {
				t.Errorf("got %v, want %s saying %q", err, row.want, row.says)
			}
			if row.restore != nil {
				row.restore(t)
			}
			f.nothingStored(t)
			t.Logf("%s: %s", status.Code(err), status.Convert(err).Message())
		})
	}
}
