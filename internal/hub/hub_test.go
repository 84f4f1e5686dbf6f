package hub_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/transport"
)

// member is a fictitious member with a notice key.
type member struct {
	id  string
	key ed25519.PrivateKey
	dir *directory.Member
}

func newMember(t testing.TB, id string, roles ...directory.Role) *member {
	t.Helper()
	k, priv, err := directory.NewKey(directory.UseNotice)
	if err != nil {
		t.Fatal(err)
	}
	return &member{id: id, key: priv, dir: &directory.Member{
		ID: id, Name: id, AbuseContact: "abuse@" + id + ".example", Roles: roles, Keys: []*directory.Key{k},
	}}
}

func writeDirectory(t testing.TB, path string, serial uint64, members ...*member) {
	t.Helper()
	d := &directory.Directory{Serial: serial, TestNetwork: true}
	for _, m := range members {
		d.Members = append(d.Members, m.dir)
	}
	b, err := directory.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testHub is a real hub with embedded NATS on a random loopback port.
type testHub struct {
	addr   string
	client headsupv1.HubServiceClient
	conn   *grpc.ClientConn
	stop   func() error
	clock  *clock
	cfg    hub.Config
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		return time.Now()
	}
	return c.now
}

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func startHub(t testing.TB, dataDir, dirPath string, tweak ...func(*hub.Config)) *testHub {
	t.Helper()
	clk := &clock{}
	cfg := hub.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.DirectoryPath = dirPath
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	cfg.Now = clk.Now
	for _, f := range tweak {
		f(&cfg)
	}
	addr, stop, err := hub.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("hub did not start: %v", err)
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h := &testHub{addr: addr.String(), client: headsupv1.NewHubServiceClient(conn), conn: conn, clock: clk, cfg: cfg}
	var once sync.Once
	var stopErr error
	h.stop = func() error {
		once.Do(func() {
			conn.Close()
			stopErr = stop()
		})
		return stopErr
	}
	t.Cleanup(func() { _ = h.stop() })
	return h
}

// setup starts a hub with a directory of two members, edgeshield (publish)
// and voxhost (subscribe only).
func setup(t *testing.T) (*testHub, *member, *member) {
	t.Helper()
	dir := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish, directory.RoleSubscribe)
	vox := newMember(t, "voxhost", directory.RoleSubscribe)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge, vox)
	h := startHub(t, filepath.Join(dir, "data"), dirPath)
	waitDirectory(t, h, edge)
	return h, edge, vox
}

// waitDirectory polls until the hub has loaded a directory that knows m.
func waitDirectory(t testing.TB, h *testHub, m *member) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		env := seal(t, m, suspended(t, m.id, "probe.example"))
		_, err := h.client.Publish(context.Background(), &headsupv1.PublishRequest{Envelope: env})
		if status.Code(err) != codes.FailedPrecondition {
			if err != nil {
				t.Fatalf("probe publish: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub never loaded the directory: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func suspended(t testing.TB, issuer, host string) *headsupv1.Notice {
	t.Helper()
	n := &headsupv1.Notice{
		Issuer: issuer,
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
		t.Fatal(err)
	}
	if err := notice.Normalize(n, notice.Options{TestNetwork: true}); err != nil {
		t.Fatal(err)
	}
	return n
}

func seal(t testing.TB, m *member, n *headsupv1.Notice) *headsupv1.Envelope {
	t.Helper()
	env, err := envelope.Seal(n, m.key)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func publish(t *testing.T, h *testHub, env *headsupv1.Envelope) (*headsupv1.PublishResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.client.Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
}

func TestPublishStoresOnceAndRefusesConflicts(t *testing.T) {
	h, edge, _ := setup(t)
	n := suspended(t, edge.id, "chanboard.example")
	env := seal(t, edge, n)
	first, err := publish(t, h, env)
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || first.Sequence == 0 || first.LogId == "" {
		t.Fatalf("first publish = %v", first)
	}
	again, err := publish(t, h, env)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Sequence != first.Sequence || !again.StoredAt.AsTime().Equal(first.StoredAt.AsTime()) {
		t.Fatalf("retry = %v, want duplicate of %v", again, first)
	}
	// Same issuer and id, other bytes: a new salt.
	other := suspended(t, edge.id, "chanboard.example")
	other.Id = n.Id
	_, err = publish(t, h, seal(t, edge, other))
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("conflicting publish: %v, want AlreadyExists", err)
	}
	// Nothing was stored: the next notice takes the next sequence.
	next, err := publish(t, h, seal(t, edge, suspended(t, edge.id, "other.example")))
	if err != nil {
		t.Fatal(err)
	}
	if next.Sequence != first.Sequence+1 {
		t.Fatalf("next sequence %d, want %d", next.Sequence, first.Sequence+1)
	}
}

func TestPublishRefusals(t *testing.T) {
	h, edge, vox := setup(t)
	good := func() *headsupv1.Notice { return suspended(t, edge.id, "chanboard.example") }
	stranger := newMember(t, "stranger", directory.RolePublish)
	tests := []struct {
		name string
		env  func() *headsupv1.Envelope
		code codes.Code
	}{
		{"no envelope", func() *headsupv1.Envelope { return nil }, codes.InvalidArgument},
		{"notice too large", func() *headsupv1.Envelope {
			return &headsupv1.Envelope{Notice: make([]byte, notice.MaxNoticeBytes+1), Jws: "x"}
		}, codes.InvalidArgument},
		{"envelope too large", func() *headsupv1.Envelope {
			return &headsupv1.Envelope{Notice: make([]byte, 1000), Jws: string(make([]byte, envelope.MaxEnvelopeBytes))}
		}, codes.InvalidArgument},
		{"garbage jws", func() *headsupv1.Envelope {
			e := seal(t, edge, good())
			e.Jws = "not.a.jws"
			return e
		}, codes.Unauthenticated},
		{"unknown key", func() *headsupv1.Envelope { return seal(t, stranger, suspended(t, "stranger", "x.example")) }, codes.Unauthenticated},
		{"digest mismatch", func() *headsupv1.Envelope {
			e := seal(t, edge, good())
			e.Notice = seal(t, edge, good()).Notice
			return e
		}, codes.Unauthenticated},
		{"no publish role", func() *headsupv1.Envelope { return seal(t, vox, suspended(t, vox.id, "x.example")) }, codes.PermissionDenied},
		{"issued too early", func() *headsupv1.Envelope {
			n := good()
			n.IssuedAt = timestamppb.New(time.Now().Add(-10 * time.Minute).Truncate(time.Second))
			return seal(t, edge, n)
		}, codes.InvalidArgument},
		{"issued in the future", func() *headsupv1.Envelope {
			n := good()
			n.IssuedAt = timestamppb.New(time.Now().Add(10 * time.Minute).Truncate(time.Second))
			return seal(t, edge, n)
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := publish(t, h, tt.env())
			if status.Code(err) != tt.code {
				t.Fatalf("publish: %v, want %s", err, tt.code)
			}
		})
	}
}

// subscribe collects n entries after the start event.
func subscribe(t *testing.T, h *testHub, req *headsupv1.SubscribeRequest, n int) (*headsupv1.SubscribeStart, []*headsupv1.Entry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.client.Subscribe(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	start := first.GetStart()
	if start == nil {
		t.Fatalf("first event %v, want start", first)
	}
	var entries []*headsupv1.Entry
	for len(entries) < n {
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d entries: %v", len(entries), err)
		}
		if e := ev.GetEntry(); e != nil {
			entries = append(entries, e)
		}
	}
	return start, entries
}

func subscribeErr(t *testing.T, h *testHub, req *headsupv1.SubscribeRequest) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.client.Subscribe(ctx, req)
	if err != nil {
		return err
	}
	for {
		ev, err := st.Recv()
		if err != nil {
			return err
		}
		if ev.GetStart() == nil {
			t.Fatalf("unexpected event %v", ev)
		}
	}
}

func TestSubscribeDeliversInOrderAndVerifies(t *testing.T) {
	h, edge, _ := setup(t) // the probe notice is sequence 1
	var seqs []uint64
	for _, host := range []string{"a.example", "b.example", "c.example"} {
		r, err := publish(t, h, seal(t, edge, suspended(t, edge.id, host)))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, r.Sequence)
	}
	start, entries := subscribe(t, h, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_AfterSequence{AfterSequence: 1}}, 3)
	if start.LastSequence != 4 || start.FirstSequence != 1 || start.AfterSequence != 1 || start.LogId == "" {
		t.Fatalf("start = %v", start)
	}
	dir, err := directory.Load(h.cfg.DirectoryPath)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if e.Sequence != seqs[i] {
			t.Fatalf("entry %d has sequence %d, want %d", i, e.Sequence, seqs[i])
		}
		if _, err := envelope.Verify(e.Envelope, dir, e.StoredAt.AsTime()); err != nil {
			t.Fatalf("entry %d does not verify: %v", e.Sequence, err)
		}
	}
	// new_only resolves to the last sequence and then streams live.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.client.Subscribe(ctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}, LogId: start.LogId})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := st.Recv()
	if err != nil || ev.GetStart().GetAfterSequence() != 4 {
		t.Fatalf("new_only start = %v, %v", ev, err)
	}
	r, err := publish(t, h, seal(t, edge, suspended(t, edge.id, "live.example")))
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e := ev.GetEntry(); e != nil {
			if e.Sequence != r.Sequence {
				t.Fatalf("live entry %d, want %d", e.Sequence, r.Sequence)
			}
			break
		}
	}
}

func TestSubscribeRefusals(t *testing.T) {
	h, _, _ := setup(t)
	tests := []struct {
		name string
		req  *headsupv1.SubscribeRequest
		code codes.Code
	}{
		{"cursor past the end", &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_AfterSequence{AfterSequence: 99}}, codes.OutOfRange},
		{"other log", &headsupv1.SubscribeRequest{LogId: "HEADSUP@2001-01-01T00:00:00Z"}, codes.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := subscribeErr(t, h, tt.req); status.Code(err) != tt.code {
				t.Fatalf("subscribe: %v, want %s", err, tt.code)
			}
		})
	}
}

// syncBuffer is a log sink the test can poll while the hub writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSlowSubscriberIsCutOff(t *testing.T) {
	dir := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge)
	logs := &syncBuffer{}
	h := startHub(t, filepath.Join(dir, "data"), dirPath, func(c *hub.Config) {
		c.SubscriberBuffer = 4
		c.SlowSubscriberGrace = 200 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	waitDirectory(t, h, edge)
	const published = 120
	summary := strings.Repeat("x", 3000) // ~3 KiB entries fill gRPC's window quickly
	for range published {
		n := suspended(t, edge.id, "slow.example")
		n.Summary = summary
		if _, err := publish(t, h, seal(t, edge, n)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A fixed 64 KiB window (no BDP growth) so the hub's sends block as
	// soon as this client stops reading.
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := headsupv1.NewHubServiceClient(conn).Subscribe(ctx, &headsupv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Read nothing until the hub says it gave up on this subscriber.
	for !strings.Contains(logs.String(), "subscriber too slow") {
		if ctx.Err() != nil {
			t.Fatalf("hub never cut the subscriber off; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// What gRPC already held arrives in order, then the cut-off naming the
	// last sequence sent, from which the subscriber resumes.
	var last uint64
	for {
		ev, err := st.Recv()
		if err != nil {
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("stream ended with %v, want ResourceExhausted", err)
			}
			// The cut-off names a cursor to resume from: never beyond what
			// arrived (or an entry would be skipped), at most what a Send
			// racing with the cut-off still delivered beyond it.
			m := regexp.MustCompile(`last sequence sent (\d+)`).FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("cut-off %q names no last sequence", err)
			}
			named, _ := strconv.ParseUint(m[1], 10, 64)
			if named == 0 || named > last || last-named > 1 {
				t.Fatalf("cut-off names sequence %d; received up to %d", named, last)
			}
			break
		}
		if e := ev.GetEntry(); e != nil {
			if e.Sequence != last+1 {
				t.Fatalf("entry %d after %d", e.Sequence, last)
			}
			last = e.Sequence
		}
	}
	if last >= published {
		t.Fatalf("received all %d entries; the cut-off came too late to test", last)
	}
}

func TestHealthAndShutdownEndsStreamsWithUnavailable(t *testing.T) {
	h, _, _ := setup(t)
	hc := healthpb.NewHealthClient(h.conn)
	res, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: headsupv1.HubService_ServiceDesc.ServiceName})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", res, err)
	}
	// A second connection, so that stopping the hub does not close the
	// client side first.
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := headsupv1.NewHubServiceClient(conn).Subscribe(context.Background(), &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := st.Recv(); err != nil || ev.GetStart() == nil {
		t.Fatalf("start: %v %v", ev, err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- h.stop() }()
	_, err = st.Recv()
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("stream ended with %v, want Unavailable", err)
	}
	if err := <-stopped; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("hub stopped with %v", err)
	}
}

func TestStartsWithoutDirectoryAndPublishesOnceItExists(t *testing.T) {
	dir := t.TempDir()
	dirPath := filepath.Join(dir, "directory.yaml")
	logs := &syncBuffer{}
	h := startHub(t, filepath.Join(dir, "data"), dirPath, func(c *hub.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	edge := newMember(t, "edgeshield", directory.RolePublish)
	_, err := publish(t, h, seal(t, edge, suspended(t, edge.id, "early.example")))
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), dirPath) {
		t.Fatalf("publish without a directory: %v, want FailedPrecondition naming %s", err, dirPath)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "headsup keygen"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hub did not say how to make a directory; logs:\n%s", logs.String())
		}
	}
	// The very next publish after the file appears succeeds: no waiting
	// for a poll.
	writeDirectory(t, dirPath, 1, edge)
	if _, err := publish(t, h, seal(t, edge, suspended(t, edge.id, "early.example"))); err != nil {
		t.Fatalf("publish right after the directory appeared: %v", err)
	}
}

func TestPublishChecksOwnSpaceAndSupersedes(t *testing.T) {
	dir := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish)
	edge.dir.Prefixes = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge, newMember(t, "voxhost"), newMember(t, "mitigatr"))
	h := startHub(t, filepath.Join(dir, "data"), dirPath)
	waitDirectory(t, h, edge)

	withAddress := func(prefix string, role headsupv1.AddressRole) *headsupv1.Notice {
		n := suspended(t, edge.id, "chanboard.example")
		a := &headsupv1.Address{Prefix: prefix, Role: role}
		if role == headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED {
			a.AssignedUntil = n.IssuedAt
		}
		n.Subject.Identifiers = append(n.Subject.Identifiers, &headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: a}})
		return n
	}
	_, err := publish(t, h, seal(t, edge, withAddress("192.0.2.10/32", headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN)))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "own prefix 192.0.2.0/24") {
		t.Fatalf("origin in the issuer's own space: %v, want InvalidArgument", err)
	}
	if _, err := publish(t, h, seal(t, edge, withAddress("192.0.2.10/32", headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED))); err != nil {
		t.Fatalf("assigned address in own space: %v", err)
	}

	narrow := suspended(t, edge.id, "narrow.example")
	narrow.Audience = []string{edge.id, "voxhost", "mitigatr"}
	if _, err := publish(t, h, seal(t, edge, narrow)); err != nil {
		t.Fatal(err)
	}
	retraction := func(target string, audience ...string) *headsupv1.Notice {
		n := &headsupv1.Notice{Issuer: edge.id, Kind: headsupv1.NoticeKind_NOTICE_KIND_RETRACTION,
			Tlp: headsupv1.Tlp_TLP_GREEN, Supersedes: target, Audience: audience}
		if err := notice.Fill(n, time.Now()); err != nil {
			t.Fatal(err)
		}
		return n
	}
	unknown, err := notice.NewID()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		n    *headsupv1.Notice
		code codes.Code
	}{
		{"retracts nothing stored", retraction(unknown), codes.FailedPrecondition},
		{"narrower audience", retraction(narrow.Id, edge.id, "voxhost"), codes.InvalidArgument},
		{"same audience", retraction(narrow.Id, edge.id, "voxhost", "mitigatr"), codes.OK},
		{"every member", retraction(narrow.Id), codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := publish(t, h, seal(t, edge, tt.n))
			if status.Code(err) != tt.code {
				t.Fatalf("publish: %v, want %s", err, tt.code)
			}
		})
	}
}

func TestSubscribeSinceAndHeartbeats(t *testing.T) {
	dir := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge)
	h := startHub(t, filepath.Join(dir, "data"), dirPath, func(c *hub.Config) { c.Heartbeat = 20 * time.Millisecond })
	waitDirectory(t, h, edge) // sequence 1
	if _, err := publish(t, h, seal(t, edge, suspended(t, edge.id, "a.example"))); err != nil {
		t.Fatal(err)
	}
	third, err := publish(t, h, seal(t, edge, suspended(t, edge.id, "b.example")))
	if err != nil {
		t.Fatal(err)
	}
	start, entries := subscribe(t, h, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_Since{Since: third.StoredAt}}, 1)
	if start.AfterSequence != third.Sequence-1 || entries[0].Sequence != third.Sequence {
		t.Fatalf("since %v: start after %d, first entry %d; want after %d, entry %d",
			third.StoredAt.AsTime(), start.AfterSequence, entries[0].Sequence, third.Sequence-1, third.Sequence)
	}

	// An idle subscription gets heartbeats carrying the last sequence.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := h.client.Subscribe(ctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if hb := ev.GetHeartbeat(); hb != nil {
			if hb.LastSequence != third.Sequence || hb.Time == nil {
				t.Fatalf("heartbeat %v, want last sequence %d", hb, third.Sequence)
			}
			break
		}
		if ev.GetEntry() != nil {
			t.Fatalf("unexpected entry %v", ev)
		}
	}
}

func TestExternalNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	dir := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge)
	h := startHub(t, filepath.Join(dir, "state"), dirPath, func(c *hub.Config) { c.NATSURL = ns.ClientURL() })
	waitDirectory(t, h, edge)
	r, err := publish(t, h, seal(t, edge, suspended(t, edge.id, "ext.example")))
	if err != nil {
		t.Fatal(err)
	}
	if _, entries := subscribe(t, h, &headsupv1.SubscribeRequest{}, 2); entries[1].Sequence != r.Sequence {
		t.Fatalf("entries %v, want the notice at %d", entries, r.Sequence)
	}
}

// TestTLS: a hub with a certificate serves TLS; a client that trusts its
// CA publishes, one that trusts another CA is refused at the handshake.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certs, other := filepath.Join(dir, "certs"), filepath.Join(dir, "other")
	for _, d := range []string{certs, other} {
		if err := transport.DevCertificates(d, []string{"127.0.0.1"}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	edge := newMember(t, "edgeshield", directory.RolePublish)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge)
	cfg := hub.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.DirectoryPath = "127.0.0.1:0", filepath.Join(dir, "data"), dirPath
	cfg.TLS = transport.ServerConfig{CertFile: filepath.Join(certs, "hub.pem"), KeyFile: filepath.Join(certs, "hub.key")}
	addr, stop, err := hub.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	call := func(ca string) error {
		creds, err := transport.ClientCredentials(addr.String(), transport.ClientConfig{CAFile: ca})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = headsupv1.NewHubServiceClient(conn).Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, edge, suspended(t, edge.id, "tls.example"))})
		return err
	}
	if err := call(filepath.Join(certs, "ca.pem")); err != nil {
		t.Fatalf("publish over TLS with the hub's CA: %v", err)
	}
	if err := call(filepath.Join(other, "ca.pem")); status.Code(err) != codes.Unavailable {
		t.Fatalf("publish trusting another CA: %v, want Unavailable (handshake refused)", err)
	}
	if err := call(""); err == nil {
		t.Fatal("a plaintext client reached a TLS hub")
	}
}

// TestSignedDirectory: a hub that pins the governance key takes only a
// directory signed with it.
func TestSignedDirectory(t *testing.T) {
	skey, vkey, err := directory.GenerateGovernanceKey("federation")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge) // unsigned
	h := startHub(t, filepath.Join(dir, "data"), dirPath, func(c *hub.Config) { c.DirectoryVerifier = vkey })
	if _, err := publish(t, h, seal(t, edge, suspended(t, edge.id, "a.example"))); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("publish with an unsigned directory: %v, want FailedPrecondition", err)
	}
	yamlText, err := os.ReadFile(dirPath)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := directory.Sign(yamlText, skey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dirPath+".tmp", signed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dirPath+".tmp", dirPath); err != nil {
		t.Fatal(err)
	}
	waitDirectory(t, h, edge)
}

// TestCallTokens: with an origin set, every call proves its member; a
// member publishes only as itself, subscribes only with the role, and
// receives the notices addressed to others as redacted entries.
func TestCallTokens(t *testing.T) {
	const origin = "hub.test"
	dir := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish, directory.RoleSubscribe)
	vox := newMember(t, "voxhost", directory.RolePublish, directory.RoleSubscribe)
	idle := newMember(t, "idle")
	callKeys := map[string]ed25519.PrivateKey{}
	for _, m := range []*member{edge, vox, idle} {
		k, priv, err := directory.NewKey(directory.UseCall)
		if err != nil {
			t.Fatal(err)
		}
		m.dir.Keys = append(m.dir.Keys, k)
		callKeys[m.id] = priv
	}
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge, vox, idle)
	h := startHub(t, filepath.Join(dir, "data"), dirPath, func(c *hub.Config) { c.Origin = origin })
	client := func(id string) headsupv1.HubServiceClient {
		creds, err := calltoken.NewCredentials(callKeys[id], id, origin, calltoken.AllowInsecureLoopback())
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return headsupv1.NewHubServiceClient(conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Anonymous: refused; health probes stay open.
	if _, err := h.client.Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, edge, suspended(t, edge.id, "a.example"))}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("anonymous publish: %v, want Unauthenticated", err)
	}
	if res, err := healthpb.NewHealthClient(h.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("anonymous health check: %v %v", res, err)
	}

	edgeClient, voxClient := client(edge.id), client(vox.id)
	public := suspended(t, edge.id, "public.example")
	private := suspended(t, edge.id, "private.example")
	private.Audience = []string{edge.id}
	var seqs []uint64
	for _, n := range []*headsupv1.Notice{public, private} {
		var r *headsupv1.PublishResponse
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if r, err = edgeClient.Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, edge, n)}); status.Code(err) != codes.FailedPrecondition || time.Now().After(deadline) {
				break // FailedPrecondition: the directory is still loading
			}
		}
		if err != nil {
			t.Fatalf("edgeshield publishes its own notice: %v", err)
		}
		seqs = append(seqs, r.Sequence)
	}
	// voxhost replays edgeshield's validly signed envelope as its own call.
	if _, err := voxClient.Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, edge, suspended(t, edge.id, "b.example"))}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("publishing another member's envelope: %v, want PermissionDenied", err)
	}
	if err := func() error {
		st, err := client(idle.id).Subscribe(ctx, &headsupv1.SubscribeRequest{})
		if err != nil {
			return err
		}
		_, err = st.Recv()
		return err
	}(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("subscribe without the role: %v, want PermissionDenied", err)
	}

	st, err := voxClient.Subscribe(ctx, &headsupv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := directory.Load(dirPath)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		ev, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.Event.(type) {
		case *headsupv1.SubscribeResponse_Entry:
			got = append(got, fmt.Sprintf("entry %d", e.Entry.Sequence))
		case *headsupv1.SubscribeResponse_Redacted:
			c, _, _, err := envelope.VerifyJWS(e.Redacted.Jws, d, e.Redacted.StoredAt.AsTime())
			if err != nil || slices.Contains(c.Audience, vox.id) {
				t.Fatalf("redacted entry %d: claims %v, %v; want a valid JWS outside voxhost's audience", e.Redacted.Sequence, c, err)
			}
			got = append(got, fmt.Sprintf("redacted %d", e.Redacted.Sequence))
		}
	}
	if want := []string{fmt.Sprintf("entry %d", seqs[0]), fmt.Sprintf("redacted %d", seqs[1])}; !slices.Equal(got, want) {
		t.Fatalf("voxhost received %v, want %v", got, want)
	}
}

// TestLiveRevocation: an open stream ends within seconds of the directory
// revoking the caller's key; a new call with it fails; the member's second
// key works.
func TestLiveRevocation(t *testing.T) {
	const origin = "hub.test"
	dir := t.TempDir()
	vox := newMember(t, "voxhost", directory.RoleSubscribe)
	first, firstPriv, err := directory.NewKey(directory.UseCall)
	if err != nil {
		t.Fatal(err)
	}
	second, secondPriv, err := directory.NewKey(directory.UseCall)
	if err != nil {
		t.Fatal(err)
	}
	vox.dir.Keys = append(vox.dir.Keys, first, second)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, vox)
	h := startHub(t, filepath.Join(dir, "data"), dirPath, func(c *hub.Config) { c.Origin = origin })
	subscribe := func(ctx context.Context, key ed25519.PrivateKey) (grpc.ServerStreamingClient[headsupv1.SubscribeResponse], error) {
		creds, err := calltoken.NewCredentials(key, vox.id, origin, calltoken.AllowInsecureLoopback())
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		st, err := headsupv1.NewHubServiceClient(conn).Subscribe(ctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}})
		if err != nil {
			return nil, err
		}
		if _, err := st.Recv(); err != nil { // the start event
			return nil, err
		}
		return st, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := subscribe(ctx, firstPriv)
	if err != nil {
		t.Fatalf("subscribe with the first key: %v", err)
	}
	first.RevokedAt = time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	writeDirectory(t, dirPath, 2, vox)
	for {
		_, err := st.Recv()
		if err == nil {
			continue // heartbeats
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("open stream ended with %v, want Unauthenticated", err)
		}
		break
	}
	if _, err := subscribe(ctx, firstPriv); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("new call with the revoked key: %v, want Unauthenticated", err)
	}
	if _, err := subscribe(ctx, secondPriv); err != nil {
		t.Fatalf("call with the second key: %v", err)
	}
}

// TestMemberLimits: a publish flood past the member's rate and one stream
// too many are each refused with ResourceExhausted naming the limit.
func TestMemberLimits(t *testing.T) {
	const origin = "hub.test"
	dir := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish, directory.RoleSubscribe)
	k, callPriv, err := directory.NewKey(directory.UseCall)
	if err != nil {
		t.Fatal(err)
	}
	edge.dir.Keys = append(edge.dir.Keys, k)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge)
	h := startHub(t, filepath.Join(dir, "data"), dirPath, func(c *hub.Config) {
		c.Origin, c.PublishRate, c.PublishBurst, c.MaxStreamsPerMember = origin, 0.001, 2, 1
	})
	creds, err := calltoken.NewCredentials(callPriv, edge.id, origin, calltoken.AllowInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := headsupv1.NewHubServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var last error
	for i := range 3 {
		_, last = c.Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, edge, suspended(t, edge.id, fmt.Sprintf("n%d.example", i)))})
	}
	if status.Code(last) != codes.ResourceExhausted || !strings.Contains(last.Error(), "burst 2") {
		t.Fatalf("third publish within the burst of 2: %v, want ResourceExhausted naming the limit", last)
	}
	st, err := c.Subscribe(ctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("first stream: %v", err)
	}
	st2, err := c.Subscribe(ctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}})
	if err == nil {
		_, err = st2.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "limit 1") {
		t.Fatalf("second stream: %v, want ResourceExhausted naming the limit", err)
	}
}

// TestRetryAnsweredForever: a retry of a stored envelope gets its original
// sequence even after its time window has passed; another envelope that
// old is refused.
func TestRetryAnsweredForever(t *testing.T) {
	h, edge, _ := setup(t)
	env := seal(t, edge, suspended(t, edge.id, "late.example"))
	first, err := publish(t, h, env)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Set(time.Now().Add(time.Hour))
	again, err := publish(t, h, env)
	if err != nil || !again.Duplicate || again.Sequence != first.Sequence {
		t.Fatalf("retry an hour later: %v, %v; want duplicate of sequence %d", again, err, first.Sequence)
	}
	_, err = publish(t, h, seal(t, edge, suspended(t, edge.id, "stale.example")))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a new envelope an hour old: %v, want InvalidArgument", err)
	}
}
