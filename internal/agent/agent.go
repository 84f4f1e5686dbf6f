package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/match"
	"github.com/headsup-dev/headsup/internal/recheck"
	"github.com/headsup-dev/headsup/internal/transport"
)

// ErrLogChanged: the hub serves another log than the one the agent's
// cursor belongs to (a recreated or restored stream). The agent stops
// rather than read new history under old numbers; an operator decides.
var ErrLogChanged = errors.New("the hub serves another log than the agent's cursor belongs to")

// received is one subscription event handed from the reader to the loop.
type received struct {
	logID    string
	seq      uint64
	storedAt time.Time
	at       time.Time // receipt time
	env      *headsupv1.Envelope
	jws      string // redacted entries: the JWS alone
	// dirNote is a directory entry's signed note (its Merkle leaf, byte
	// for byte), dirSerial the serial the hub says it has.
	dirNote   []byte
	dirSerial uint64
	// checked is the verification workers' result for a notice entry
	// (nil for a directory entry, verified by the loop in log order).
	checked *checked
}

// checked is one entry verified off the loop, on all cores
// (verifyEntries): the loop takes the result when the directory it was
// verified under is still the one in force at the entry's position, and
// verifies again otherwise.
type checked struct {
	done  chan struct{} // closed once the fields below are set
	dir   *directory.Directory
	entry entryRow
	rec   *record // the parsed notice when entry verified
}

// agent is one running headsup-agent.
type agent struct {
	cfg    Config
	log    *slog.Logger
	store  *store
	model  *model
	dirs   *directory.Watcher
	cursor cursor

	mu        sync.Mutex
	snapshots map[int]customers.Snapshot
	custIndex *match.Index

	// sourceAlarm says which customer sources are in alarm.
	sourceAlarm map[int]bool
	// custRows is the customer list by customer, and changedRows the rows
	// (before and after) of the customers changed since the last commit.
	custRows    map[string][]match.Row
	changedRows []match.Row
	// resellerIx is the index of active resellers, rebuilt when a
	// reseller notice changes and on every full evaluation.
	resellerIx *resellerIndex
	// checkSnap is what the local API's Check answers from, published by
	// the loop after each commit (refreshCheckSnapshot).
	checkSnap atomic.Pointer[checkSnapshot]
	// parkedSerial is the directory serial parked entries were last tried
	// against.
	parkedSerial  uint64
	parkedChecked bool

	// health is the agent's own condition (health.go), metrics its
	// Prometheus registry (metrics.go).
	health  *health
	metrics *metrics
	// outlets feed the sinks, one each (outbox.go).
	outlets []*outlet
	// queued are the outbox items the commit under way wrote through
	// reconcile, handed to the outlets once it is durable. Loop only.
	queued []outboxItem
	// entryRows is the commit's entries, stored together (reused).
	entryRows []entryRow
	// unsettled says the store may hold parked or invalid entries; until
	// one is stored, commits do not look for them. Loop only.
	unsettled bool
	// triaged says the store may hold acknowledgements or suppressions;
	// until the desk makes one, commits skip the triage queries. The desk
	// sets it before its transaction, which the single connection orders
	// with the loop's: a commit that reads false began before that
	// transaction.
	triaged atomic.Bool
	// verifier re-checks sightings live; nil unless VerifySightings.
	verifier *verifier
	// logDir is the newest directory version the log delivered that the
	// agent took as its own (dirlog.go); nil while its own copy is newer.
	logDir atomic.Pointer[directory.Directory]
	// logw checks the hub's checkpoints, witnesses the log and proves
	// alerts' notices included (log.go).
	logw *logWatch
	// pendingIncl are inclusions proved by logw, stored by the next commit.
	pendingIncl []inclusion
	// dirFloor is the highest directory serial the agent ever had in
	// force (dirlog.go); the loop's.
	dirFloor uint64
	// checkPace spaces rebuilds of checkSnap (check.go); the loop's.
	checkPace checkPace
}

// Run runs the agent until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	cfg.withDefaults()
	if cfg.Member == "" {
		return errors.New("agent: member: missing")
	}
	if cfg.OutboxMax < 0 {
		return fmt.Errorf("agent: outbox_max %d: must not be negative", cfg.OutboxMax)
	}
	local, err := listenLocal(cfg.CheckListen)
	if err != nil {
		return err
	}
	if local != nil {
		defer local.Close() // on an early return; serveLocal closes it otherwise
	}
	metricsL, err := listenMetrics(cfg.MetricsListen, cfg.MetricsAllowNonLoopback)
	if err != nil {
		return err
	}
	if metricsL != nil {
		defer metricsL.Close() // on an early return; serveMetrics closes it otherwise
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("agent: state directory: %w", err)
	}
	st, err := openStore(ctx, cfg.StateDir)
	if err != nil {
		return err
	}
	defer st.Close()
	var dirOpts []directory.WatcherOption
	if cfg.DirectoryVerifier != "" {
		dirOpts = append(dirOpts, directory.WithVerifier(cfg.DirectoryVerifier))
	}
	dirs, err := directory.NewWatcher(cfg.DirectoryPath, cfg.Logger, dirOpts...)
	if err != nil {
		return fmt.Errorf("agent: directory: %w", err)
	}
	a := &agent{cfg: cfg, log: cfg.Logger, store: st, model: newModel(), dirs: dirs, snapshots: map[int]customers.Snapshot{}, sourceAlarm: map[int]bool{},
		health: newHealth(cfg.Now())}
	if a.logw, err = newLogWatch(cfg); err != nil {
		return err
	}
	defer a.logw.close()
	a.metrics = newMetrics(a)
	if cfg.VerifySightings {
		if a.verifier, err = newVerifier(cfg.Recheck, cfg.Now); err != nil {
			return err
		}
		if err := a.verifier.load(ctx, st.db); err != nil {
			return err
		}
	}
	if err := a.load(ctx); err != nil {
		return err
	}
	if err := a.loadLog(ctx); err != nil {
		return err
	}
	witnessL, err := a.listenWitness()
	if err != nil {
		return err
	}
	if witnessL != nil {
		defer witnessL.Close() // on an early return; serveWitness closes it otherwise
	}
	conn, err := a.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	a.logw.client = headsupv1.NewLogServiceClient(conn)
	if err := a.loadAlarms(ctx); err != nil {
		return err
	}
	a.refreshCheckSnapshot()
	for _, out := range cfg.Outputs {
		o, err := newOutlet(out)
		if err != nil {
			return err
		}
		a.outlets = append(a.outlets, o)
	}

	g, ctx := errgroup.WithContext(ctx)
	// Entries go from the reader both to the verification workers and,
	// in log order, to the loop, which waits for each one's result: at
	// most 2×BatchSize entries are in flight.
	incoming := make(chan received, cfg.BatchSize)
	toVerify := make(chan received, cfg.BatchSize)
	for range runtime.GOMAXPROCS(0) {
		g.Go(func() error { return a.verifyEntries(ctx, toVerify) })
	}
	custChanged := make(chan struct{}, 1)
	g.Go(func() error { return dirs.Run(ctx) })
	for i, src := range cfg.Customers {
		g.Go(func() error {
			return src.Run(ctx, func(s customers.Snapshot) {
				a.mu.Lock()
				a.snapshots[i] = s
				a.mu.Unlock()
				a.health.sourceLoaded(i, len(s.Rows), s.LoadedAt)
				select {
				case custChanged <- struct{}{}:
				default:
				}
			})
		})
	}
	for _, o := range a.outlets {
		g.Go(func() error { return a.deliver(ctx, o) })
	}
	g.Go(func() error { return a.subscribe(ctx, headsupv1.NewHubServiceClient(conn), toVerify, incoming) })
	g.Go(func() error { return a.watchLog(ctx) })
	if witnessL != nil {
		g.Go(func() error { return a.serveWitness(ctx, witnessL) })
	}
	g.Go(func() error { return a.loop(ctx, incoming, custChanged) })
	g.Go(func() error { return a.watch(ctx) })
	if a.verifier != nil {
		g.Go(func() error { return a.verifier.run(ctx) })
	}
	if local != nil {
		g.Go(func() error { return a.serveLocal(ctx, local) })
	}
	if metricsL != nil {
		g.Go(func() error { return a.serveMetrics(ctx, metricsL) })
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// load rebuilds the in-memory model from the store.
func (a *agent) load(ctx context.Context) error {
	var err error
	if a.cursor, err = a.store.cursor(ctx); err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	verified, err := a.store.entries(ctx, statusVerified)
	if err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	for _, e := range verified {
		r, err := recordOf(e)
		if err != nil {
			return fmt.Errorf("agent: state: sequence %d: %w", e.Seq, err)
		}
		a.model.add(r)
	}
	redacted, err := a.store.entries(ctx, statusRedacted)
	if err != nil {
		return err
	}
	for _, e := range redacted {
		a.model.redacted[ref{e.Issuer, e.ID}] = e.Seq
	}
	for _, status := range []string{statusParked, statusInvalid} {
		unverified, err := a.store.entries(ctx, status)
		if err != nil {
			return err
		}
		a.unsettled = a.unsettled || len(unverified) > 0
		for _, e := range unverified {
			if e.Kind != kindDirectory {
				a.model.unverified[ref{e.Issuer, e.ID}] = e.Seq
			}
		}
	}
	if err := a.loadDirectories(ctx); err != nil {
		return err
	}
	triaged, err := a.store.triaged(ctx)
	if err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	a.triaged.Store(triaged)
	a.log.Info("agent state loaded", "log_id", a.cursor.LogID, "cursor", a.cursor.Seq, "notices", len(a.model.bySeq))
	return nil
}

// loop is the single writer: it turns batches of entries, customer-list
// changes, directory reloads and clock ticks into one transaction each.
func (a *agent) loop(ctx context.Context, incoming <-chan received, custChanged <-chan struct{}) error {
	// Nothing is evaluated before every customer source has delivered its
	// first list: against an empty list, every notice in this provider's
	// space would look like an unknown customer.
	for !a.customersLoaded() {
		a.log.Info("waiting for the customer list before matching", "sources", len(a.cfg.Customers))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-custChanged:
		}
	}
	a.rebuildCustomers()
	tick := time.NewTicker(a.cfg.Reevaluate)
	defer tick.Stop()
	a.checkPace.timer = time.NewTimer(time.Hour)
	a.checkPace.timer.Stop()
	defer a.checkPace.timer.Stop()
	dirChanged := a.dirs.Changed()
	var rechecked <-chan []recheck.Result // nil: never ready
	if a.verifier != nil {
		rechecked = a.verifier.done
	}
	// Start from a full evaluation: time has passed while the agent was
	// down, and customers or directory may have changed.
	if err := a.commit(ctx, nil, true); err != nil {
		return err
	}
	a.refreshCheckSnapshot()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case first := <-incoming:
			batch, err := a.collect(ctx, first, incoming)
			if err != nil {
				return err
			}
			if err := a.commit(ctx, batch, false); err != nil {
				return err
			}
			a.refreshCheckSnapshot()
		case <-custChanged:
			a.rebuildCustomers()
			if err := a.commit(ctx, nil, false); err != nil {
				return err
			}
			a.refreshCheckSnapshot()
		case <-dirChanged:
			dirChanged = a.dirs.Changed()
			if err := a.commit(ctx, nil, true); err != nil {
				return err
			}
			a.refreshCheckSnapshot()
		case <-tick.C:
			a.checkSources()
			if err := a.commit(ctx, nil, true); err != nil {
				return err
			}
			a.refreshCheckSnapshot()
		case inc := <-a.logw.included:
			// Inclusions proved off the ingest path: stored, and the
			// alerts whose chains hold those notices show them.
			a.pendingIncl = append(a.pendingIncl, inc...)
			if err := a.commit(ctx, nil, false); err != nil {
				return err
			}
			a.refreshCheckSnapshot()
		case <-a.checkPace.timer.C:
			a.checkPace.armed = false
			a.refreshCheckSnapshot()
		case res := <-rechecked:
			// Results come in off the ingest path; they are stored and
			// their sightings' roots evaluated again in one commit.
			a.verifier.pending = append(a.verifier.pending, res...)
			if err := a.commit(ctx, nil, false); err != nil {
				return err
			}
			a.refreshCheckSnapshot()
		}
	}
}

// collect makes a batch of first and what follows it: whatever has
// already arrived, up to BatchSize. Only while the hub has said it holds
// more than the batch reaches (catching up) does it wait, at most
// BatchWait, for the batch to fill; a live entry is committed at once,
// and what arrives during that commit makes the next batch.
func (a *agent) collect(ctx context.Context, first received, incoming <-chan received) ([]received, error) {
	batch := []received{first}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for len(batch) < a.cfg.BatchSize {
		select {
		case r := <-incoming:
			batch = append(batch, r)
			continue
		default:
		}
		if batch[len(batch)-1].seq >= a.health.hubLastSequence() {
			return batch, nil // caught up: nothing more is coming now
		}
		if timer == nil {
			timer = time.NewTimer(a.cfg.BatchWait)
		}
		select {
		case r := <-incoming:
			batch = append(batch, r)
		case <-timer.C:
			return batch, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return batch, nil
}

// verifyEntries verifies the entries the reader hands it, one of
// GOMAXPROCS workers: verification is most of an entry's cost, and the
// loop commits in log order whatever order the workers finish in.
func (a *agent) verifyEntries(ctx context.Context, entries <-chan received) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-entries:
			c := r.checked
			c.dir = a.directory()
			c.entry, c.rec = a.verifyRecord(r, c.dir)
			close(c.done)
		}
	}
}

func (a *agent) customersLoaded() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.snapshots) == len(a.cfg.Customers)
}

// healthReporter is a customer source that can say whether its list is
// current (PostgreSQL: the last query failed, or the list is older than
// three refresh intervals).
type healthReporter interface {
	Health() customers.Health
}

// checkSources raises the alarm, once per change, when a customer source
// fails or goes stale: matching then runs on an old list, and a customer
// added since is missed.
func (a *agent) checkSources() {
	for i, src := range a.cfg.Customers {
		h, ok := src.(healthReporter)
		if !ok {
			continue
		}
		state := h.Health()
		bad := !state.OK || state.Stale
		if bad == a.sourceAlarm[i] {
			continue
		}
		a.sourceAlarm[i] = bad
		if bad {
			a.log.Error("ALARM customer list failing or stale: matching runs on the last good list and may miss new customers",
				"source", i, "last_success", state.LastSuccess, "stale", state.Stale, "err", state.LastError)
		} else {
			a.log.Info("customer list current again", "source", i, "last_success", state.LastSuccess)
		}
	}
}

// rebuildCustomers merges the sources' snapshots into a new index, swapped
// in whole.
//
// It also records which customers changed (rows added, removed or
// altered), so that only they are matched again against the active
// notices; the first list leaves that to the full evaluation at start.
func (a *agent) rebuildCustomers() {
	a.mu.Lock()
	var rows []match.Row
	for i := range len(a.cfg.Customers) {
		rows = append(rows, a.snapshots[i].Rows...)
	}
	a.mu.Unlock()
	ix, bad := match.Build(rows, a.matchConfig())
	for _, e := range bad {
		a.log.Warn("customer row left out", "err", e)
	}
	byOwner := map[string][]match.Row{}
	for _, r := range rows {
		byOwner[r.Owner] = append(byOwner[r.Owner], r)
	}
	changed := 0
	if a.custRows != nil {
		for owner, now := range byOwner {
			if before, ok := a.custRows[owner]; !ok || !sameRows(before, now) {
				a.changedRows = append(append(a.changedRows, before...), now...)
				changed++
			}
		}
		for owner, before := range a.custRows {
			if _, ok := byOwner[owner]; !ok {
				a.changedRows = append(a.changedRows, before...)
				changed++
			}
		}
	}
	a.custRows = byOwner
	a.health.setCustomers(len(byOwner))
	a.mu.Lock()
	a.custIndex = ix
	a.mu.Unlock()
	a.log.Info("customer list loaded", "identifiers", ix.Len(), "customers_changed", changed)
}

// sameRows compares two customers' rows as sets of (type, value) with
// their display fields.
func sameRows(a, b []match.Row) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(r match.Row) string {
		return strings.Join([]string{string(r.Type), r.Value, r.Name, r.Member, r.Link, r.ValidFrom.String(), r.Source}, "\x00")
	}
	count := map[string]int{}
	for _, r := range a {
		count[key(r)]++
	}
	for _, r := range b {
		if count[key(r)]--; count[key(r)] < 0 {
			return false
		}
	}
	return true
}

func (a *agent) customerIndex() *match.Index {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.custIndex == nil {
		a.custIndex, _ = match.Build(nil, a.matchConfig())
	}
	return a.custIndex
}

// matchConfig adds what the directory says to the configured matching:
// this provider's own identity and every member's own domains and ASNs
// (never a reason to match two strangers).
func (a *agent) matchConfig() match.Config {
	return memberMatchConfig(a.cfg.Match, a.cfg.Member, a.directory())
}

// memberMatchConfig is matchConfig for any member and directory: the
// agent's and `headsup match`'s, so both match alike.
func memberMatchConfig(cfg match.Config, member string, dir *directory.Directory) match.Config {
	// Fresh slices: appending to the configured ones could write into
	// their spare capacity, shared by every caller.
	cfg.MemberDomains, cfg.MemberASNs = slices.Clone(cfg.MemberDomains), slices.Clone(cfg.MemberASNs)
	cfg.OwnASNs, cfg.OwnPrefixes, cfg.OwnDomains = slices.Clone(cfg.OwnASNs), slices.Clone(cfg.OwnPrefixes), slices.Clone(cfg.OwnDomains)
	cfg.OwnMember = member
	cfg.TestNetwork = dir.TestNetwork
	for _, m := range dir.Members {
		cfg.MemberDomains = append(cfg.MemberDomains, m.Domains...)
		cfg.MemberASNs = append(cfg.MemberASNs, m.ASNs...)
		if m.ID == member {
			cfg.OwnASNs = append(cfg.OwnASNs, m.ASNs...)
			cfg.OwnPrefixes = append(cfg.OwnPrefixes, m.Prefixes...)
			cfg.OwnDomains = append(cfg.OwnDomains, m.Domains...)
		}
	}
	return cfg
}

// dial makes the one connection to the hub that the subscription and the
// log checks share, with the agent's credentials.
func (a *agent) dial() (*grpc.ClientConn, error) {
	creds, err := transport.ClientCredentials(a.cfg.Hub, transport.ClientConfig{CAFile: a.cfg.CAFile, CertFile: a.cfg.TLSClientCert, KeyFile: a.cfg.TLSClientKey})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(creds), transport.ClientKeepalive()}, a.cfg.DialOptions...)
	if a.cfg.CallKey != nil {
		origin := a.cfg.Origin
		if origin == "" {
			origin = a.cfg.Hub
		}
		var copts []calltoken.Option
		if a.cfg.CAFile == "" && transport.IsLoopback(a.cfg.Hub) {
			copts = append(copts, calltoken.AllowInsecureLoopback())
		}
		perCall, err := calltoken.NewCredentials(a.cfg.CallKey, a.cfg.Member, origin, copts...)
		if err != nil {
			return nil, fmt.Errorf("agent: call key: %w", err)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(perCall))
	}
	conn, err := grpc.NewClient(a.cfg.Hub, opts...)
	if err != nil {
		return nil, fmt.Errorf("agent: hub %s: %w", a.cfg.Hub, err)
	}
	return conn, nil
}

// Reconnect backoff: from backoffMin, doubling up to backoffMax after
// each stream that delivered nothing, with full jitter (a random wait
// between half the step and the step) so that the agents of a federation
// do not come back to a restarted hub in one wave. A stream that
// delivered anything (its start included) resets it: a hub that cut a
// healthy stream, as on shutdown or --max-connection-age, is resumed at
// once rather than after the last outage's long wait.
const (
	backoffMin = 200 * time.Millisecond
	backoffMax = 15 * time.Second
)

// subscribe reads the hub from the committed cursor, reconnecting after
// failures; delivery is at least once and the loop drops what it has.
func (a *agent) subscribe(ctx context.Context, client headsupv1.HubServiceClient, toVerify, out chan<- received) error {
	step := backoffMin
	for {
		after, logID := a.committed()
		delivered, err := a.readStream(ctx, client, after, logID, toVerify, out)
		a.health.streamEnded(a.cfg.Now(), err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if delivered {
			step = backoffMin
		}
		switch status.Code(err) {
		case codes.FailedPrecondition:
			return fmt.Errorf("%w: %v", ErrLogChanged, err)
		case codes.OutOfRange, codes.DataLoss:
			// The hub lost history the agent has, or has a gap: retrying
			// cannot fix it, and skipping would hide it.
			return fmt.Errorf("agent: hub log: %w", err)
		}
		wait := jitter(step)
		a.log.Warn("subscription ended; resuming from the cursor", "after", after, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		step = min(2*step, backoffMax)
	}
}

// jitter returns a random duration in [d/2, d].
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func (a *agent) committed() (uint64, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cursor.Seq, a.cursor.LogID
}

// readStream reads one subscription until it ends; delivered says whether
// the hub sent anything on it. Notice entries go to the verification
// workers (toVerify) and, in order, to the loop (out).
func (a *agent) readStream(ctx context.Context, client headsupv1.HubServiceClient, after uint64, logID string, toVerify, out chan<- received) (delivered bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := client.Subscribe(ctx, &headsupv1.SubscribeRequest{
		Start: &headsupv1.SubscribeRequest_AfterSequence{AfterSequence: after}, LogId: logID,
	})
	if err != nil {
		return false, err
	}
	var log string
	for {
		ev, err := st.Recv()
		if err != nil {
			return delivered, err
		}
		delivered = true
		now := a.cfg.Now()
		var r received
		switch e := ev.Event.(type) {
		case *headsupv1.SubscribeResponse_Start:
			log = e.Start.GetLogId()
			a.health.streamStarted(now, e.Start.GetLastSequence())
			continue
		case *headsupv1.SubscribeResponse_Heartbeat:
			a.health.heartbeat(now, e.Heartbeat.GetLastSequence())
			continue
		case *headsupv1.SubscribeResponse_Entry:
			r = received{logID: log, seq: e.Entry.GetSequence(), storedAt: e.Entry.GetStoredAt().AsTime(), at: now, env: e.Entry.GetEnvelope()}
		case *headsupv1.SubscribeResponse_Redacted:
			r = received{logID: log, seq: e.Redacted.GetSequence(), storedAt: e.Redacted.GetStoredAt().AsTime(), at: now, jws: e.Redacted.GetJws()}
		case *headsupv1.SubscribeResponse_Directory:
			// A directory version is an entry of the log like any other:
			// it takes its sequence, moves the cursor and is stored.
			r = received{logID: log, seq: e.Directory.GetSequence(), storedAt: e.Directory.GetStoredAt().AsTime(), at: now,
				dirNote: e.Directory.GetSignedDirectory(), dirSerial: e.Directory.GetSerial()}
			if r.dirNote == nil {
				r.dirNote = []byte{} // an empty note is still a directory entry, refused as such
			}
		default:
			continue
		}
		a.health.entry(now, r.seq)
		if r.dirNote == nil {
			r.checked = &checked{done: make(chan struct{})}
			select {
			case toVerify <- r:
			case <-ctx.Done():
				return delivered, ctx.Err()
			}
		}
		select {
		case out <- r:
		case <-ctx.Done():
			return delivered, ctx.Err()
		}
	}
}
