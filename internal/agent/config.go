package agent

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"google.golang.org/grpc"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/flood"
	"github.com/headsup-dev/headsup/internal/match"
	"github.com/headsup-dev/headsup/internal/recheck"
	"github.com/headsup-dev/headsup/internal/sink"
)

// CustomerSource is where the provider's customer list comes from (a file,
// PostgreSQL). Run calls onChange with every new complete snapshot and
// keeps the last good one in force when a version is bad.
type CustomerSource interface {
	Run(ctx context.Context, onChange func(customers.Snapshot)) error
}

// Output is one alert sink with the filter that decides what reaches it.
type Output struct {
	Sink   sink.Sink
	Filter sink.Filter
	// Flood, when set, shapes what the sink emits after its filter (see
	// package flood): one event per group per window, per-customer
	// digests, integrity summaries. Nil emits every event as it comes.
	Flood *flood.Config
}

// Config is everything Run needs.
type Config struct {
	// Hub is the hub's gRPC address; DialOptions are added to the dial
	// (credentials: plaintext until access control lands).
	Hub         string
	DialOptions []grpc.DialOption
	// CallKey, when set, signs a call token for every call to the hub, for
	// Member, addressed to Origin (the Hub address when empty).
	CallKey ed25519.PrivateKey
	Origin  string
	// CAFile verifies the hub's TLS certificate (the system roots when
	// empty); a loopback hub without one is reached in plaintext.
	CAFile string
	// TLSClientCert and TLSClientKey, when set, authenticate the agent to
	// the hub with mTLS (its directory entry pins the key) instead of call
	// tokens.
	TLSClientCert, TLSClientKey string
	// Member is this provider's member id.
	Member string
	// DirectoryPath is the agent's own copy of the member directory,
	// reloaded on change. The agent verifies every envelope against it,
	// never trusting the hub.
	DirectoryPath string
	// DirectoryVerifier, when set, is the governance verifier key every
	// directory version must be signed with (production must set it).
	DirectoryVerifier string
	// StateDir holds agent.db (SQLite): notices, alerts, outbox, cursor.
	// Deleted, it is rebuilt by a replay of the hub.
	StateDir string
	// Customers are the sources of the customer list, merged.
	Customers []CustomerSource
	// Outputs receive alert events from the persistent outbox.
	Outputs []Output
	// Match configures matching: shared domains, mailbox providers and
	// transit ASNs added to the built-in lists, hash keys. This provider's
	// own identity (member, ASNs, prefixes, domains) is added from the
	// directory, and every member's domains and ASNs too.
	Match match.Config
	// Severity rates alerts (alert.SeverityTable); the zero value is the
	// default table.
	Severity alert.SeverityTable
	// MaxHops bounds reseller edges in a chain (operated_by costs none).
	MaxHops int
	// BatchSize bounds one transaction of entries. A batch is what has
	// arrived when the loop is free; only while catching up (the hub
	// holds more than it has delivered) does the loop wait, at most
	// BatchWait, for a batch to fill. A live entry is committed at once.
	BatchSize int
	BatchWait time.Duration
	// Reevaluate is how often time alone (expiry, effective_at) is checked.
	Reevaluate time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Now is the agent's clock; nil means time.Now.
	Now func() time.Time
	// CheckListen is the loopback address of the agent's local API
	// (AgentService: Check, for signup and support tooling), or empty for
	// none. Any address other than loopback is refused (ErrNotLoopback):
	// the API answers without authentication. headsup-agent defaults it to
	// DefaultCheckListen; DefaultConfig leaves it off.
	CheckListen string
	// CheckReady, if set, is called with the local API's address once it
	// listens (port 0 picks a free one): for tests and tools.
	CheckReady func(net.Addr)
	// Committed, if set, is called after every commit with the cursor
	// (the last sequence whose effects are durable): for metrics and tests.
	Committed func(seq uint64)

	// OutboxMax bounds each sink's backlog (events not yet delivered to
	// it). When a sink reaches it, its oldest pending events are skipped
	// for that sink (the store keeps every alert and revision, and
	// `headsup alerts list` shows them), and the outbox_full alarm fires.
	// Default DefaultOutboxMax.
	OutboxMax int

	// VerifySightings turns on live re-checks of sightings (package
	// recheck): for a sighting on an alert's path, the sighted subject's
	// host name is re-checked at the matched addresses, off the ingest
	// path, and the result written into the alert. Recheck configures the
	// checker (zero fields take recheck's defaults; Now defaults to the
	// agent's clock).
	VerifySightings bool
	Recheck         recheck.Config

	// MetricsListen is the loopback address of the Prometheus metrics and
	// /healthz endpoint, or empty for none. headsup-agent defaults it to
	// DefaultMetricsListen; DefaultConfig leaves it off. Any address other
	// than loopback is refused (ErrNotLoopback) unless
	// MetricsAllowNonLoopback is set: metrics describe the customer list's
	// size and the desk's workload.
	MetricsListen           string
	MetricsAllowNonLoopback bool
	// MetricsReady, if set, is called with the metrics endpoint's address
	// once it listens: for tests and tools.
	MetricsReady func(net.Addr)
	// WitnessKey, when set, makes the agent witness the hub's log as its
	// member (DESIGN.md, Audit; log.go): the member's witness private key
	// (directory use witness, `headsup keygen --use witness`).
	WitnessKey ed25519.PrivateKey
	// WitnessState is the witness's own state directory (its last
	// cosigned checkpoint), never rebuilt from the hub; default
	// StateDir/witness.
	WitnessState string
	// WitnessListen, when set, serves the latest cosigned checkpoint at
	// the path of this member's witness_url (or "/"), for auditors and
	// other members to compare without the hub. It is meant to be
	// reached from outside (through the TLS front that witness_url
	// names). WitnessReady, if set, is called with its address.
	WitnessListen string
	WitnessReady  func(net.Addr)
	// LogCheck is how often the agent fetches the hub's latest checkpoint
	// to verify it, count its quorum, cosign it and prove the inclusion
	// of alerts' notices; also soon after a commit that moved the cursor.
	// Default DefaultLogCheck.
	LogCheck time.Duration
	// QuorumFreshness is how long the log may go without a checkpoint
	// that reached the directory's witness quorum before the agent raises
	// an integrity alert (quorum_stale). Default DefaultQuorumFreshness;
	// negative turns it off; always off while the directory names no log
	// or a quorum of 0.
	QuorumFreshness time.Duration

	// AlarmAfter is how long the agent may be disconnected from the hub,
	// or run on a failing or stale customer list, before it raises an
	// alarm (log line, alarm event to every sink, metric). Default 5m.
	AlarmAfter time.Duration
}

// DefaultOutboxMax is the default bound of each sink's backlog.
const DefaultOutboxMax = 100000

// DefaultAlarmAfter is the default of Config.AlarmAfter.
const DefaultAlarmAfter = 5 * time.Minute

// DefaultLogCheck is the default of Config.LogCheck: well under the
// default freshness, so an idle log's checkpoint is cosigned again (with
// a fresh timestamp) many times within it.
const DefaultLogCheck = time.Minute

// DefaultQuorumFreshness is the default of Config.QuorumFreshness.
const DefaultQuorumFreshness = 10 * time.Minute

// DefaultConfig returns the defaults of DESIGN.md.
func DefaultConfig() Config {
	return Config{
		Hub:        "127.0.0.1:7443",
		StateDir:   "headsup-agent-state",
		MaxHops:    3,
		BatchSize:  1000,
		BatchWait:  100 * time.Millisecond,
		Reevaluate: time.Minute,
	}
}

func (c *Config) withDefaults() {
	d := DefaultConfig()
	if c.MaxHops == 0 {
		c.MaxHops = d.MaxHops
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.BatchWait == 0 {
		c.BatchWait = d.BatchWait
	}
	if c.Reevaluate == 0 {
		c.Reevaluate = d.Reevaluate
	}
	if c.OutboxMax == 0 {
		c.OutboxMax = DefaultOutboxMax
	}
	if c.AlarmAfter == 0 {
		c.AlarmAfter = DefaultAlarmAfter
	}
	if c.LogCheck <= 0 {
		c.LogCheck = DefaultLogCheck
	}
	if c.QuorumFreshness == 0 {
		c.QuorumFreshness = DefaultQuorumFreshness
	}
	if c.WitnessState == "" {
		c.WitnessState = filepath.Join(c.StateDir, "witness")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
