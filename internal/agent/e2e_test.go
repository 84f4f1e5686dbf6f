package agent_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/story"
)

// fed is the story's federation on loopback: the real hub with embedded
// NATS, and voxhost's real agent with a customer file.
type fed struct {
	t        *testing.T
	work     string
	dir      *directory.Directory
	members  map[string]*story.Member
	client   headsupv1.HubServiceClient
	hubAddr  string
	agentDir string // the agent's own copy of the directory
	state    string
	sink     *collect
	cursor   atomic.Uint64
	// setCustomers replaces the customer list (in PostgreSQL, or the file).
	setCustomers func(csv string)
	// callKeys are the members' call keys when the hub requires tokens,
	// and clients their authenticated hub clients.
	callKeys map[string]ed25519.PrivateKey
	clients  map[string]headsupv1.HubServiceClient
	// stopHub stops the hub (once; the cleanup calls it too).
	stopHub func() error
}

type fedOptions struct {
	customers string
	// agentDirectory, if set, edits the agent's copy of the directory
	// (the hub keeps the federation's).
	agentDirectory func(*directory.Directory)
	maxHops        int
	// configure, if set, edits the agent's configuration last.
	configure func(*agent.Config)
	// origin, when set, makes the hub require call tokens: every member
	// gets a call key, and every call carries a token.
	origin string
}

func newFed(t *testing.T, o fedOptions) *fed {
	t.Helper()
	if o.customers == "" {
		o.customers = story.Customers
	}
	dir, members, err := story.Federation()
	if err != nil {
		t.Fatal(err)
	}
	f := &fed{t: t, work: t.TempDir(), dir: dir, members: members, sink: &collect{},
		callKeys: map[string]ed25519.PrivateKey{}, clients: map[string]headsupv1.HubServiceClient{}}
	if o.origin != "" {
		for _, m := range dir.Members {
			k, priv, err := directory.NewKey(directory.UseCall)
			if err != nil {
				t.Fatal(err)
			}
			m.Keys = append(m.Keys, k)
			f.callKeys[m.ID] = priv
		}
	}
	hubDir := filepath.Join(f.work, "hub-directory.yaml")
	writeDir(t, hubDir, dir)
	f.agentDir = filepath.Join(f.work, "agent-directory.yaml")
	agentCopy, err := directory.Parse(mustMarshal(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if o.agentDirectory != nil {
		o.agentDirectory(agentCopy)
	}
	writeDir(t, f.agentDir, agentCopy)

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	hcfg := hub.DefaultConfig()
	hcfg.Listen, hcfg.DataDir, hcfg.DirectoryPath, hcfg.Logger = "127.0.0.1:0", filepath.Join(f.work, "hub"), hubDir, logger
	hcfg.Origin = o.origin
	hubAddr, stopHub, err := hub.Start(ctx, hcfg)
	if err != nil {
		t.Fatalf("hub: %v", err)
	}
	addr := hubAddr.String()
	f.hubAddr = addr
	f.stopHub = stopHub
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	f.client = headsupv1.NewHubServiceClient(conn)
	for id, key := range f.callKeys {
		creds, err := calltoken.NewCredentials(key, id, o.origin, calltoken.AllowInsecureLoopback())
		if err != nil {
			t.Fatal(err)
		}
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		f.clients[id] = headsupv1.NewHubServiceClient(c)
	}

	var source agent.CustomerSource
	source, f.setCustomers = customerSource(t, f.work, o.customers, logger)
	f.state = filepath.Join(f.work, "agent")
	acfg := agent.DefaultConfig()
	acfg.Hub, acfg.Member, acfg.DirectoryPath, acfg.StateDir = addr, "voxhost", f.agentDir, f.state
	acfg.Customers = []agent.CustomerSource{source}
	acfg.Outputs = []agent.Output{{Sink: f.sink}}
	acfg.Logger = logger
	acfg.BatchWait = 10 * time.Millisecond
	if o.maxHops != 0 {
		acfg.MaxHops = o.maxHops
	}
	acfg.Committed = func(seq uint64) { f.cursor.Store(seq) }
	if o.origin != "" {
		acfg.CallKey, acfg.Origin = f.callKeys["voxhost"], o.origin
	}
	if o.configure != nil {
		o.configure(&acfg)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Run(ctx, acfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-agentDone; err != nil {
			t.Errorf("agent: %v", err)
		}
		conn.Close()
		_ = stopHub()
	})
	return f
}

// customerSource serves the customer list from the real PostgreSQL that
// .ci/postgres.sh starts (HEADSUP_TEST_POSTGRES_URL), each test in its own
// schema, changes announced by NOTIFY. Without a server it fails under
// CI=true and falls back to a customer file locally, saying so.
func customerSource(t *testing.T, work, csv string, logger *slog.Logger) (agent.CustomerSource, func(string)) {
	t.Helper()
	url := os.Getenv("HEADSUP_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("HEADSUP_TEST_POSTGRES_URL is not set: CI must provide PostgreSQL (.ci/postgres.sh)")
		}
		t.Log("no PostgreSQL (source .ci/postgres.sh to use one): customers from a file")
		path := filepath.Join(work, "customers.csv")
		write := func(csv string) {
			tmp := path + ".tmp"
			if err := os.WriteFile(tmp, []byte(csv), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}
		write(csv)
		return customers.NewFile(path, "", logger), write
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("HEADSUP_TEST_POSTGRES_URL: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "agent_" + hex.EncodeToString(b)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`CREATE SCHEMA ` + schema)
	exec(`CREATE TABLE ` + schema + `.customers (customer_id text NOT NULL, display_name text NOT NULL, type text NOT NULL, value text NOT NULL)`)
	t.Cleanup(func() {
		_, _ = conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
		conn.Close(ctx)
	})
	set := func(csv string) {
		t.Helper()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `DELETE FROM `+schema+`.customers`); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(csv), "\n")[1:] {
			f := strings.SplitN(line, ",", 4)
			if _, err := tx.Exec(ctx, `INSERT INTO `+schema+`.customers VALUES ($1, $2, $3, $4)`, f[0], f[1], f[2], f[3]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, schema); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	set(csv)
	src, err := customers.NewPostgres(customers.PostgresConfig{
		URL: url, Query: `SELECT customer_id, display_name, type, value FROM ` + schema + `.customers`,
		Channel: schema, Debounce: 20 * time.Millisecond, Interval: time.Minute, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return src, set
}

func writeDir(t *testing.T, path string, d *directory.Directory) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, mustMarshal(t, d), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func mustMarshal(t *testing.T, d *directory.Directory) []byte {
	t.Helper()
	b, err := directory.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// prepare fills in and normalises a notice of member, ready to sign.
func (f *fed) prepare(member string, n *headsupv1.Notice) *headsupv1.Notice {
	f.t.Helper()
	n.Issuer = member
	if err := notice.Fill(n, time.Now()); err != nil {
		f.t.Fatal(err)
	}
	if err := notice.Normalize(n, notice.Options{TestNetwork: true}); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// publish signs n with key (the member's own unless given) and publishes
// it; it returns the sequence.
func (f *fed) publish(member string, n *headsupv1.Notice, key ...[]byte) uint64 {
	f.t.Helper()
	if n.GetIssuer() == "" {
		f.prepare(member, n)
	}
	priv := f.members[member].Key
	if len(key) > 0 {
		priv = key[0]
	}
	env, err := envelope.Seal(n, priv)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := f.client
	if c, ok := f.clients[member]; ok {
		client = c
	}
	res, err := client.Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
	if err != nil {
		f.t.Fatalf("publish %s by %s: %v", n.GetKind(), member, err)
	}
	return res.Sequence
}

// settle waits until the agent has committed seq, and the sink has every
// event the agent wrote.
func (f *fed) settle(seq uint64) []alert.Event {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for f.cursor.Load() < seq {
		if time.Now().After(deadline) {
			f.t.Fatalf("agent did not commit sequence %d (at %d)", seq, f.cursor.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		all, err := agent.Alerts(context.Background(), f.state)
		if err != nil {
			f.t.Fatal(err)
		}
		if f.sink.has(all) {
			var active []alert.Event
			for _, a := range all {
				if a.Event != alert.EventWithdrawn {
					active = append(active, a)
				}
			}
			return active
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("sink never received the state's last events")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// collect is a sink that keeps every event, keyed for idempotency.
type collect struct {
	mu     sync.Mutex
	events []alert.Event
	seen   map[string]int
}

func (*collect) Name() string { return "collect" }

func (c *collect) Deliver(_ context.Context, e *alert.Event, _ []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[key(e)]++
	c.events = append(c.events, *e)
	return nil
}

func key(e *alert.Event) string { return e.AlertID + "#" + string(rune('0'+e.Revision)) }

// has reports whether the sink received each alert's latest revision.
func (c *collect) has(latest []alert.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range latest {
		if c.seen[key(&e)] == 0 {
			return false
		}
	}
	return true
}

func roles(p alert.Path) []string {
	var out []string
	for _, l := range p.Links {
		out = append(out, l.Role)
	}
	return out
}

// TestStoryInEveryOrder: the suspension, the sighting and the reseller
// notice, in all six orders, give the same one alert.
func TestStoryInEveryOrder(t *testing.T) {
	orders := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, order := range orders {
		t.Run(string(rune('0'+order[0]))+string(rune('0'+order[1]))+string(rune('0'+order[2])), func(t *testing.T) {
			f := newFed(t, fedOptions{})
			s := f.prepare("edgeshield", story.Suspended())
			notices := []struct {
				member string
				n      *headsupv1.Notice
			}{{"edgeshield", s}, {"researcher", story.Sighted(s)}, {"researcher", story.Reseller()}}
			var last uint64
			for _, i := range order {
				last = f.publish(notices[i].member, notices[i].n)
			}
			active := f.settle(last)
			if len(active) != 1 {
				t.Fatalf("%d active alerts, want 1: %+v", len(active), active)
			}
			a := active[0]
			if a.Type != alert.TypeMatch || a.Customer.ID != "cus-1001" || a.Strength != alert.StrengthStrong || a.Root.ID != s.Id {
				t.Fatalf("alert = %s %v %s root %s; want a strong match on cus-1001 rooted in %s", a.Type, a.Customer, a.Strength, a.Root.ID, s.Id)
			}
			if want := []string{"subject", "sighting", "operator"}; !slices.Equal(roles(a.Paths[0]), want) {
				t.Fatalf("path roles %v, want %v", roles(a.Paths[0]), want)
			}
			if a.Headline != "your customer Epiq Hosting Ltd (operator of mitigatr) serves chanboard.example, suspended by edgeshield for abusive-content:violence" {
				t.Fatalf("headline %q", a.Headline)
			}
			if err := alert.Validate(mustJSON(t, a)); err != nil {
				t.Fatalf("event does not validate against headsup.alert.v1: %v", err)
			}
		})
	}
}

func mustJSON(t *testing.T, e alert.Event) []byte {
	t.Helper()
	b, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRetractingSightings: one of two sightings retracted, the alert stays
// with one path; both retracted, it is withdrawn.
func TestRetractingSightings(t *testing.T) {
	f := newFed(t, fedOptions{})
	s := f.prepare("edgeshield", story.Suspended())
	f.publish("edgeshield", s)
	g1 := f.prepare("researcher", story.Sighted(s))
	g2 := story.Sighted(s)
	g2.Sighting.Host.Identifiers[0].Observation.Method = headsupv1.ObservationMethod_OBSERVATION_METHOD_HTTP
	f.prepare("researcher", g2)
	f.publish("researcher", g1)
	f.publish("researcher", g2)
	active := f.settle(f.publish("researcher", story.Reseller()))
	if len(active) != 1 || len(active[0].Paths) != 2 {
		t.Fatalf("want one alert with two paths, got %+v", active)
	}
	retract := func(n *headsupv1.Notice) uint64 {
		return f.publish("researcher", &headsupv1.Notice{Kind: headsupv1.NoticeKind_NOTICE_KIND_RETRACTION, Supersedes: n.Id, Tlp: headsupv1.Tlp_TLP_GREEN})
	}
	active = f.settle(retract(g1))
	if len(active) != 1 || len(active[0].Paths) != 1 || active[0].Event != alert.EventUpdated || active[0].Paths[0].Links[1].Notice.ID != g2.Id {
		t.Fatalf("after one retraction: %+v", active)
	}
	if active = f.settle(retract(g2)); len(active) != 0 {
		t.Fatalf("after both retractions %d alerts remain: %+v", len(active), active)
	}
	all, err := agent.Alerts(context.Background(), f.state)
	if err != nil {
		t.Fatal(err)
	}
	var withdrawn []alert.Event
	for _, a := range all {
		if a.Type == alert.TypeMatch {
			withdrawn = append(withdrawn, a)
		}
	}
	if len(withdrawn) != 1 || withdrawn[0].Withdrawn == nil || withdrawn[0].Withdrawn.Reason != alert.WithdrawRetracted || withdrawn[0].Revision != 3 {
		t.Fatalf("withdrawal = %+v", withdrawn)
	}
}

// TestDNSOnlySightingIsWeak: anyone who controls a zone can point it at an
// innocent customer; a TLS sighting is strong.
func TestDNSOnlySightingIsWeak(t *testing.T) {
	for _, tt := range []struct {
		method headsupv1.ObservationMethod
		want   string
	}{
		{headsupv1.ObservationMethod_OBSERVATION_METHOD_DNS, alert.StrengthWeak},
		{headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS, alert.StrengthStrong},
	} {
		t.Run(tt.method.String(), func(t *testing.T) {
			f := newFed(t, fedOptions{})
			s := f.prepare("edgeshield", story.Suspended())
			f.publish("edgeshield", s)
			g := story.Sighted(s)
			g.Sighting.Host.Identifiers[0].Observation.Method = tt.method
			f.publish("researcher", g)
			active := f.settle(f.publish("researcher", story.Reseller()))
			if len(active) != 1 || active[0].Strength != tt.want {
				t.Fatalf("alerts %+v, want one %s alert", active, tt.want)
			}
		})
	}
}

// TestOwnSpace: a sighting in this provider's own prefixes with no
// customer row raises "unknown customer in your own space".
func TestOwnSpace(t *testing.T) {
	f := newFed(t, fedOptions{})
	s := f.prepare("edgeshield", story.Suspended())
	f.publish("edgeshield", s)
	g := story.Sighted(s)
	g.Sighting.Host = &headsupv1.Entity{Label: "somewhere", Identifiers: []*headsupv1.Identifier{
		story.Address("198.51.100.77", headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS, time.Now().Add(-time.Hour)),
	}}
	active := f.settle(f.publish("researcher", g))
	if len(active) != 1 || active[0].Type != alert.TypeOwnSpace || active[0].Customer != nil {
		t.Fatalf("alerts %+v, want one own_space alert", active)
	}
}

// TestForgedNoticeIsAnIntegrityAlert: the hub's directory was tampered
// with (researcher's key listed as edgeshield's); the agent's own copy
// knows better, raises an integrity alert and matches nothing.
func TestForgedNoticeIsAnIntegrityAlert(t *testing.T) {
	f := newFed(t, fedOptions{})
	tampered, err := directory.Parse(mustMarshal(t, f.dir))
	if err != nil {
		t.Fatal(err)
	}
	edge, _ := tampered.Member("edgeshield")
	res, _ := tampered.Member("researcher")
	edge.Keys, res.Keys = append(edge.Keys, res.Keys...), nil
	writeDir(t, filepath.Join(f.work, "hub-directory.yaml"), tamperedWithSerial(tampered, 2))
	s := f.prepare("edgeshield", story.Suspended())
	var seq uint64
	deadline := time.Now().Add(20 * time.Second)
	for seq == 0 {
		env, err := envelope.Seal(s, f.members["researcher"].Key)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := f.client.Publish(context.Background(), &headsupv1.PublishRequest{Envelope: env}); err == nil {
			seq = r.Sequence
		} else if time.Now().After(deadline) {
			t.Fatalf("the hub never took its tampered directory: %v", err)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// researcher's key is edgeshield's at the hub now: edgeshield publishes
	// the rest of the story.
	f.publish("edgeshield", story.Sighted(s))
	active := f.settle(f.publish("edgeshield", story.Reseller()))
	if len(active) != 1 || active[0].Type != alert.TypeIntegrity || active[0].Integrity.Sequence != seq {
		t.Fatalf("alerts %+v, want one integrity alert for sequence %d and no match", active, seq)
	}
}

func tamperedWithSerial(d *directory.Directory, serial uint64) *directory.Directory {
	d.Serial = serial
	return d
}

// TestRotatedKeyParkedUntilReload: edgeshield signs with a new key the
// agent's directory copy does not list yet: the notice is parked with a
// "directory stale" alert, then matched once the copy is reloaded.
func TestRotatedKeyParkedUntilReload(t *testing.T) {
	newKey, newPriv, err := directory.NewKey(directory.UseNotice)
	if err != nil {
		t.Fatal(err)
	}
	f := newFed(t, fedOptions{})
	rotated, err := directory.Parse(mustMarshal(t, f.dir))
	if err != nil {
		t.Fatal(err)
	}
	edge, _ := rotated.Member("edgeshield")
	edge.Keys = append(edge.Keys, newKey)
	rotated.Serial = 2
	writeDir(t, filepath.Join(f.work, "hub-directory.yaml"), rotated)
	s := f.prepare("edgeshield", story.Suspended())
	var seq uint64
	deadline := time.Now().Add(20 * time.Second)
	for seq == 0 {
		env, err := envelope.Seal(s, newPriv)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := f.client.Publish(context.Background(), &headsupv1.PublishRequest{Envelope: env}); err == nil {
			seq = r.Sequence
		} else if time.Now().After(deadline) {
			t.Fatalf("the hub never took the rotated key: %v", err)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	f.publish("researcher", story.Sighted(s))
	active := f.settle(f.publish("researcher", story.Reseller()))
	if len(active) != 1 || active[0].Type != alert.TypeDirectoryStale || active[0].Integrity.KID != newKey.ID {
		t.Fatalf("before reload: %+v, want one directory_stale alert for %s", active, newKey.ID)
	}
	writeDir(t, f.agentDir, rotated)
	deadline = time.Now().Add(20 * time.Second)
	for {
		active = f.settle(seq)
		if len(active) == 1 && active[0].Type == alert.TypeMatch {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after reload: %+v, want the match alone", active)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHopLimit: a chain of four resells edges exceeds max_hops 3; two are
// within it.
func TestHopLimit(t *testing.T) {
	const customers = "customer_id,display_name,type,value\ncus-9,Top Upstream Co,host,top.example\n"
	for _, tt := range []struct {
		hops  int
		alert bool
	}{{2, true}, {4, false}} {
		t.Run(string(rune('0'+tt.hops))+" hops", func(t *testing.T) {
			f := newFed(t, fedOptions{customers: customers})
			s := f.prepare("edgeshield", story.Suspended())
			f.publish("edgeshield", s)
			f.publish("researcher", story.Sighted(s)) // host: 198.51.100.140 (mitigatr)
			// mitigatr → r1.example → … → top.example
			names := []string{"mitigatr.example"}
			for i := 1; i < tt.hops; i++ {
				names = append(names, "r"+string(rune('0'+i))+".example")
			}
			names = append(names, "top.example")
			var last uint64
			for i := 0; i < tt.hops; i++ {
				subject := &headsupv1.Entity{Label: names[i], Identifiers: []*headsupv1.Identifier{story.Host(names[i])}}
				if i == 0 {
					subject.Identifiers = append(subject.Identifiers, story.Address("198.51.100.128/25", 0, time.Time{}))
				}
				last = f.publish("researcher", &headsupv1.Notice{
					Kind: headsupv1.NoticeKind_NOTICE_KIND_RESELLER_IDENTIFIED, Subject: subject, Tlp: headsupv1.Tlp_TLP_GREEN,
					Relations: []*headsupv1.Relation{{Kind: headsupv1.RelationKind_RELATION_KIND_RESELLS,
						Entity: &headsupv1.Entity{Label: names[i+1], Identifiers: []*headsupv1.Identifier{story.Host(names[i+1])}}}},
				})
			}
			active := f.settle(last)
			var matches int
			for _, a := range active {
				if a.Type == alert.TypeMatch {
					matches++
					if a.Paths[0].Hops != tt.hops {
						t.Errorf("path hops %d, want %d", a.Paths[0].Hops, tt.hops)
					}
				}
			}
			if (matches == 1) != tt.alert || matches > 1 {
				t.Fatalf("%d hops: %d match alerts (%+v), want alert=%v", tt.hops, matches, active, tt.alert)
			}
		})
	}
}

// TestCustomerListChanges: a customer added today who was suspended last
// week raises an alert today; one removed resolves its alerts.
func TestCustomerListChanges(t *testing.T) {
	const others = "customer_id,display_name,type,value\ncus-2002,Harmless Bakery,host,bakery.example\n"
	f := newFed(t, fedOptions{customers: others})
	s := f.prepare("edgeshield", story.Suspended())
	f.publish("edgeshield", s)
	f.publish("researcher", story.Sighted(s))
	last := f.publish("researcher", story.Reseller())
	// mitigatr's addresses are in voxhost's space, and no customer is known.
	if active := f.settle(last); len(active) != 1 || active[0].Type != alert.TypeOwnSpace {
		t.Fatalf("before the customer is added: %+v, want one own_space alert", active)
	}
	waitFor := func(what string, ok func([]alert.Event) bool) []alert.Event {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			active := f.settle(last)
			if ok(active) {
				return active
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v", what, active)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	f.setCustomers(story.Customers)
	waitFor("after the customer is added, want the match alone", func(a []alert.Event) bool {
		return len(a) == 1 && a[0].Type == alert.TypeMatch && a[0].Customer.ID == "cus-1001"
	})
	f.setCustomers(others)
	waitFor("after the customer is removed, want own_space back", func(a []alert.Event) bool {
		return len(a) == 1 && a[0].Type == alert.TypeOwnSpace
	})
	all, err := agent.Alerts(context.Background(), f.state)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if a.Type == alert.TypeMatch && (a.Withdrawn == nil || a.Withdrawn.Reason != alert.WithdrawCustomerRemoved) {
			t.Fatalf("match alert after removal: %+v, want withdrawn as customer_removed", a)
		}
	}
}

// TestResellerAsCustomer: the sighting names its host by address only;
// voxhost's customer row holds only mitigatr's ASN and its organisation
// name; the reseller notice carries the ASN and the prefix that join them.
func TestResellerAsCustomer(t *testing.T) {
	const rows = "customer_id,display_name,type,value\ncus-3003,Mitigatr DDoS Protection,asn,64510\ncus-3003,Mitigatr DDoS Protection,organisation,Mitigatr DDoS Protection\n"
	f := newFed(t, fedOptions{customers: rows})
	s := f.prepare("edgeshield", story.Suspended())
	f.publish("edgeshield", s)
	f.publish("researcher", story.Sighted(s))
	r := story.Reseller()
	r.Relations = r.Relations[:1] // resells voxhost; no operator
	active := f.settle(f.publish("researcher", r))
	if len(active) != 1 || active[0].Type != alert.TypeMatch || active[0].Customer.ID != "cus-3003" || active[0].Strength != alert.StrengthStrong {
		t.Fatalf("alerts %+v, want one strong match on cus-3003", active)
	}
	p := active[0].Paths[0]
	if want := []string{"subject", "sighting", "reseller"}; !slices.Equal(roles(p), want) {
		t.Fatalf("roles %v, want %v", roles(p), want)
	}
	if m := p.Links[2].Matched; m.Rule != "asn-holder" || m.Strength != alert.StrengthStrong {
		t.Fatalf("the reseller link matched %+v, want the holder ASN, strong", m)
	}
}

// TestRevokedKeyWithdrawsAlerts: revoked_at set in the past (suspected
// compromise) withdraws the alerts that entries logged after it caused.
func TestRevokedKeyWithdrawsAlerts(t *testing.T) {
	f := newFed(t, fedOptions{})
	s := f.prepare("edgeshield", story.Suspended())
	f.publish("edgeshield", s)
	f.publish("researcher", story.Sighted(s))
	last := f.publish("researcher", story.Reseller())
	if active := f.settle(last); len(active) != 1 || active[0].Type != alert.TypeMatch {
		t.Fatalf("before revocation: %+v", active)
	}
	revoked, err := directory.Parse(mustMarshal(t, f.dir))
	if err != nil {
		t.Fatal(err)
	}
	edge, _ := revoked.Member("edgeshield")
	edge.Keys[0].RevokedAt = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	revoked.Serial = 2
	writeDir(t, f.agentDir, revoked)
	deadline := time.Now().Add(20 * time.Second)
	for {
		all, err := agent.Alerts(context.Background(), f.state)
		if err != nil {
			t.Fatal(err)
		}
		// Only the match counts: the sighting committed on its own (a
		// loaded machine splits batches) raises an own-space alert that
		// the reseller notice withdraws.
		var matches []alert.Event
		for _, a := range all {
			if a.Type == alert.TypeMatch {
				matches = append(matches, a)
			}
		}
		if len(matches) == 1 && matches[0].Withdrawn != nil {
			if matches[0].Withdrawn.Reason != alert.WithdrawKeyRevoked {
				t.Fatalf("withdrawn as %q, want key_revoked", matches[0].Withdrawn.Reason)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts after revocation: %+v, want the match withdrawn", all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJoinThroughOneCustomerRecord: the sighting saw only an address, the
// reseller notice names only a domain, and no identifier joins the two
// notices; voxhost's own customer record holds both, so the chain goes on
// to the reseller's operator.
func TestJoinThroughOneCustomerRecord(t *testing.T) {
	const rows = "customer_id,display_name,type,value\n" +
		"cus-4004,Mitigatr (brand account),prefix,198.51.100.128/25\n" +
		"cus-4004,Mitigatr (brand account),host,mitigatr.example\n" +
		"cus-1001,Epiq Hosting Ltd,host,epiq.example\n"
	f := newFed(t, fedOptions{customers: rows})
	s := f.prepare("edgeshield", story.Suspended())
	f.publish("edgeshield", s)
	f.publish("researcher", story.Sighted(s)) // host: 198.51.100.140 only
	r := story.Reseller()
	r.Subject = &headsupv1.Entity{Label: "mitigatr", Identifiers: []*headsupv1.Identifier{story.Host("mitigatr.example")}}
	r.Relations = r.Relations[1:] // operated_by epiq
	active := f.settle(f.publish("researcher", r))
	byCustomer := map[string]alert.Event{}
	for _, a := range active {
		if a.Customer != nil {
			byCustomer[a.Customer.ID] = a
		}
	}
	if len(active) != 2 || byCustomer["cus-4004"].Type != alert.TypeMatch || byCustomer["cus-1001"].Type != alert.TypeMatch {
		t.Fatalf("alerts %+v, want matches on cus-4004 and cus-1001", active)
	}
	p := byCustomer["cus-1001"].Paths[0]
	if want := []string{"subject", "sighting", "operator"}; !slices.Equal(roles(p), want) {
		t.Fatalf("epiq's path roles %v, want %v", roles(p), want)
	}
	if row := p.Links[1].Matched.Row; row.Owner != "cus-4004" {
		t.Fatalf("the sighting joined the reseller through %+v, want cus-4004's record", row)
	}
}

// TestStateRebuiltByReplay: an agent whose state directory is gone
// rebuilds it from a replay of the hub and holds the same alerts.
func TestStateRebuiltByReplay(t *testing.T) {
	f := newFed(t, fedOptions{})
	s := f.prepare("edgeshield", story.Suspended())
	f.publish("edgeshield", s)
	g := f.prepare("researcher", story.Sighted(s))
	f.publish("researcher", g)
	f.publish("researcher", story.Reseller())
	other := f.prepare("edgeshield", story.Suspended())
	other.Subject.Identifiers = []*headsupv1.Identifier{story.Host("bakery.example")}
	f.publish("edgeshield", other)
	last := f.publish("edgeshield", &headsupv1.Notice{Kind: headsupv1.NoticeKind_NOTICE_KIND_RETRACTION, Supersedes: other.Id, Tlp: headsupv1.Tlp_TLP_GREEN})
	want := f.settle(last)

	path := filepath.Join(f.work, "replay-customers.csv")
	if err := os.WriteFile(path, []byte(story.Customers), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(f.work, "fresh-state")
	var cursor atomic.Uint64
	cfg := agent.DefaultConfig()
	cfg.Hub, cfg.Member, cfg.DirectoryPath, cfg.StateDir = f.hubAddr, "voxhost", f.agentDir, state
	cfg.Customers = []agent.CustomerSource{customers.NewFile(path, "", nil)}
	cfg.Outputs = []agent.Output{{Sink: &collect{}}}
	cfg.Committed = func(seq uint64) { cursor.Store(seq) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("replaying agent: %v", err)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for cursor.Load() < last {
		if time.Now().After(deadline) {
			t.Fatalf("the replaying agent did not reach sequence %d", last)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got, err := agent.Alerts(context.Background(), state)
	if err != nil {
		t.Fatal(err)
	}
	summary := func(es []alert.Event) []string {
		var out []string
		for _, e := range es {
			if e.Event != alert.EventWithdrawn {
				out = append(out, e.AlertID+" "+e.Type+" "+e.Strength+" "+e.Headline)
			}
		}
		slices.Sort(out)
		return out
	}
	if a, b := summary(want), summary(got); !slices.Equal(a, b) || len(a) != 1 {
		t.Fatalf("rebuilt state holds %v, want %v", b, a)
	}
}

// TestRootNotVisible: with call tokens the hub redacts what is not
// addressed to voxhost; the agent verifies the redacted suspension, and
// the sighting about it yields a weak alert whose reason is not shown as
// verified.
func TestRootNotVisible(t *testing.T) {
	f := newFed(t, fedOptions{origin: "hub.test"})
	s := story.Suspended()
	s.Audience = []string{"edgeshield", "researcher"}
	f.prepare("edgeshield", s)
	f.publish("edgeshield", s)
	f.publish("researcher", story.Sighted(s))
	active := f.settle(f.publish("researcher", story.Reseller()))
	if len(active) != 1 || active[0].Type != alert.TypeRootNotVisible || active[0].Strength != alert.StrengthWeak ||
		active[0].Root.ReasonVerified || active[0].Root.Sequence != 1 || active[0].Customer.ID != "cus-1001" {
		for _, a := range active {
			t.Logf("%s %s %s root %+v", a.Type, a.Strength, a.Headline, a.Root)
		}
		t.Fatalf("%d alerts, want one weak root_not_visible alert on cus-1001, reason unverified, root at sequence 1", len(active))
	}
}
