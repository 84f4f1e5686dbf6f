package hub

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/transport"
)

// DefaultListen is the hub's default gRPC address: loopback, so that a hub
// started with no flags is reachable only from its own machine until TLS and
// call credentials are configured.
const DefaultListen = "127.0.0.1:7443"

// Config is everything Run needs. Zero durations take their defaults.
type Config struct {
	// Listen is the gRPC listen address ("127.0.0.1:0" picks a free port).
	Listen string
	// DataDir holds the embedded NATS store (when NATSURL is empty), its
	// lock, and the hub's persisted log state.
	DataDir string
	// NATSURL, when set, is an existing NATS server or cluster to use
	// instead of the embedded one: one URL or several, comma-separated
	// (nats://a:4222,nats://b:4222); the client learns the rest of the
	// cluster from the first it reaches.
	NATSURL string
	// NATS is how the hub proves itself to an external NATS and secures
	// the connection; ignored with the embedded server.
	NATS NATSClient
	// TLS is the listener's security: a certificate, or an explicit
	// insecure mode; plaintext is refused off loopback otherwise.
	TLS transport.ServerConfig
	// Origin, when set, is this hub's name in call tokens (their aud):
	// every call must then carry a token signed with one of the caller's
	// call keys, each accepted once across all replicas (a JetStream
	// key-value bucket), and the caller's roles and the notices' audiences
	// decide what it may do and see. Empty accepts anonymous calls, as a
	// development hub on loopback does until access control is the default.
	Origin string
	// DirectoryVerifier, when set, is the governance verifier key every
	// directory version must be signed with (production must set it).
	DirectoryVerifier string
	// DirectoryPath is the member directory (YAML). The hub starts without
	// it, refuses to publish until it appears, and reloads it on change.
	DirectoryPath string
	// LogKeyFile, when set, is the hub's log key (a note signer key made
	// by `headsup log keygen`): the hub then keeps the Merkle tree over
	// the stream in DataDir, signs checkpoints, serves LogService and
	// appends every directory version to the log before putting it in
	// force. The directory's log.verifier_key must be this key's verifier
	// (the hub refuses to start otherwise) and DirectoryVerifier must be
	// set. Empty: LogService answers FAILED_PRECONDITION.
	LogKeyFile string
	// CheckpointEvery and CheckpointInterval: a new checkpoint is signed
	// once the tree grew by CheckpointEvery entries, or CheckpointInterval
	// after the last one when it grew at all.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// Fsync says when the embedded server syncs writes to disk.
	Fsync bus.FsyncMode
	// Replicas of the stream when the hub creates it (1 embedded, 3 in a
	// cluster). An existing stream with another count is refused, never
	// updated, so every replica of the hub must be given the same.
	Replicas int
	// IssuedAtWindow bounds |iat - hub clock| at Publish, so nobody can
	// backdate or predate a notice.
	IssuedAtWindow time.Duration
	// Heartbeat is the interval of subscription heartbeats.
	Heartbeat time.Duration
	// SubscriberBuffer is the number of entries buffered per subscription
	// beyond what gRPC itself holds; a subscriber that lets it fill up is
	// cut off with RESOURCE_EXHAUSTED.
	SubscriberBuffer int
	// SlowSubscriberGrace is how long a subscription's buffer may stay
	// full before the subscriber is cut off. A subscriber catching up
	// reads slower than the log can be read, so a full buffer alone means
	// nothing; one that takes no entry for this long has stopped reading.
	SlowSubscriberGrace time.Duration
	// PublishRate and PublishBurst bound each member's publishing (a token
	// bucket), and MaxStreamsPerMember its open subscriptions; both apply
	// to callers identified by call tokens.
	PublishRate         float64
	PublishBurst        int
	MaxStreamsPerMember int
	// ShutdownTimeout bounds the graceful stop of gRPC.
	ShutdownTimeout time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Ready, if set, is called once with the listening address when the hub
	// serves.
	Ready func(addr net.Addr)
	// MetricsListen, when set, serves Prometheus metrics at /metrics on
	// this address, apart from gRPC. Empty: no metrics listener (headsupd
	// defaults to DefaultMetricsListen; the zero Config stays off so that
	// hubs embedded in tests and tools take no fixed port).
	MetricsListen string
	// MetricsReady, if set, is called with the metrics listener's address.
	MetricsReady func(addr net.Addr)
	// Now is the hub's clock; nil means time.Now.
	Now func() time.Time
	// Keepalive is the gRPC keepalive policy: the ping rate clients may
	// use, the hub's own pings, and how long a connection lives before
	// its clients are sent to reconnect (and so spread over replicas).
	Keepalive transport.Keepalive
}

// NATSClient is the hub's identity towards an external NATS and the TLS of
// that connection. At most one of CredsFile, NKeySeedFile and User is set;
// with none, the URL's own user info (or none) is used.
type NATSClient struct {
	// CredsFile is a NATS credentials file (a user JWT and its nkey seed,
	// from nsc or an operator's account server).
	CredsFile string
	// NKeySeedFile holds an nkey user seed (SU…).
	NKeySeedFile string
	// User and Password: plain user authentication. The password comes
	// from a file or the environment, never from the command line.
	User, Password string
	// CAFile, when set, is the CA bundle the NATS servers' certificates
	// must chain to (TLS is then required).
	CAFile string
	// CertFile and KeyFile, when set, are the hub's TLS client certificate
	// for servers that require one (verify or verify_and_map).
	CertFile, KeyFile string
}

// options are the nats.go options for c; the error names the field at
// fault.
func (c NATSClient) options() ([]nats.Option, error) {
	var opts []nats.Option
	n := 0
	for _, set := range []bool{c.CredsFile != "", c.NKeySeedFile != "", c.User != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, errors.New("NATS credentials: choose one of a creds file, an nkey seed file, or a user and password")
	case c.Password != "" && c.User == "":
		return nil, errors.New("NATS credentials: a password without a user")
	case c.User != "" && c.Password == "":
		return nil, fmt.Errorf("NATS credentials: user %q without a password", c.User)
	case (c.CertFile == "") != (c.KeyFile == ""):
		return nil, fmt.Errorf("NATS TLS: client certificate %q and key %q: give both or neither", c.CertFile, c.KeyFile)
	}
	switch {
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("NATS nkey seed %s: %w", c.NKeySeedFile, err)
		}
		opts = append(opts, o)
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	return opts, nil
}

// DefaultConfig returns the configuration of `headsupd` with no flags.
func DefaultConfig() Config {
	return Config{
		Listen:              DefaultListen,
		DataDir:             "headsup-data",
		DirectoryPath:       "directory.yaml",
		Fsync:               bus.FsyncAlways,
		Replicas:            1,
		IssuedAtWindow:      5 * time.Minute,
		Heartbeat:           15 * time.Second,
		SubscriberBuffer:    256,
		SlowSubscriberGrace: 10 * time.Second,
		PublishRate:         20,
		PublishBurst:        100,
		MaxStreamsPerMember: 8,
		ShutdownTimeout:     5 * time.Second,
		CheckpointEvery:     1000,
		CheckpointInterval:  10 * time.Second,
		Keepalive:           transport.DefaultKeepalive,
	}
}

func (c *Config) withDefaults() {
	d := DefaultConfig()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.Replicas == 0 {
		c.Replicas = d.Replicas
	}
	if c.IssuedAtWindow == 0 {
		c.IssuedAtWindow = d.IssuedAtWindow
	}
	if c.Keepalive == (transport.Keepalive{}) {
		c.Keepalive = d.Keepalive
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = d.Heartbeat
	}
	if c.SubscriberBuffer == 0 {
		c.SubscriberBuffer = d.SubscriberBuffer
	}
	if c.SlowSubscriberGrace == 0 {
		c.SlowSubscriberGrace = d.SlowSubscriberGrace
	}
	if c.PublishRate == 0 {
		c.PublishRate = d.PublishRate
	}
	if c.PublishBurst == 0 {
		c.PublishBurst = d.PublishBurst
	}
	if c.MaxStreamsPerMember == 0 {
		c.MaxStreamsPerMember = d.MaxStreamsPerMember
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = d.CheckpointEvery
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = d.CheckpointInterval
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
