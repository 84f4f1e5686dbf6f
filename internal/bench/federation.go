package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/sink"
)

// Publisher and Subscriber are the bench federation's two members: one
// publishes, the other runs the agent.
const (
	Publisher  = "edgeshield"
	Subscriber = "voxhost"
)

// Federation is a directory of the two members and the publisher's key.
type Federation struct {
	Dir  *directory.Directory
	Key  ed25519.PrivateKey
	Pub  ed25519.PublicKey
	Path string // the directory file (the hub's and the agent's copy)
}

// NewFederation makes keys and writes the directory to dir/directory.yaml.
func NewFederation(dir string) (*Federation, error) {
	d := &directory.Directory{Serial: 1, TestNetwork: true}
	var f Federation
	for _, m := range []struct {
		id    string
		roles []directory.Role
	}{
		{Publisher, []directory.Role{directory.RolePublish, directory.RoleSubscribe}},
		{Subscriber, []directory.Role{directory.RoleSubscribe}},
	} {
		k, priv, err := directory.NewKey(directory.UseNotice)
		if err != nil {
			return nil, err
		}
		d.Members = append(d.Members, &directory.Member{ID: m.id, Name: m.id, AbuseContact: "abuse@" + m.id + ".example", Roles: m.roles, Keys: []*directory.Key{k}})
		if m.id == Publisher {
			f.Key, f.Pub = priv, priv.Public().(ed25519.PublicKey)
		}
	}
	b, err := directory.Marshal(d)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f.Dir, f.Path = d, filepath.Join(dir, "directory.yaml")
	return &f, os.WriteFile(f.Path, b, 0o600)
}

// CustomerHost is the host of bench customer k: every customer holds one
// host, "cust-<k>.example", its own registrable domain.
func CustomerHost(k int) string { return fmt.Sprintf("cust-%d.example", k) }

// Customers is a customer file of n customers, one host each.
func Customers(n int) string {
	var b strings.Builder
	b.WriteString("customer_id,display_name,type,value\n")
	for k := range n {
		fmt.Fprintf(&b, "c%d,Customer %d,host,%s\n", k, k, CustomerHost(k))
	}
	return b.String()
}

// Signed is a notice signed in advance: the envelope, its stored body
// (as the hub stores it), and the pieces baselines need.
type Signed struct {
	Env   *headsupv1.Envelope
	Body  []byte // deterministic marshalling of Env, what the hub appends
	ID    string
	Input []byte // the JWS signing input
	Sig   []byte // the Ed25519 signature
}

// Sign makes n CUSTOMER_SUSPENDED notices of Publisher, notice i naming
// host(i), and signs them on every core.
func (f *Federation) Sign(n int, host func(i int) string) ([]Signed, error) {
	out := make([]Signed, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, runtime.GOMAXPROCS(0))
	for w := range errs {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				s, err := f.sign(host(i))
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = s
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (f *Federation) sign(host string) (Signed, error) {
	n := &headsupv1.Notice{
		Issuer: Publisher,
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
		return Signed{}, err
	}
	if err := notice.Normalize(n, notice.Options{TestNetwork: true}); err != nil {
		return Signed{}, err
	}
	env, err := envelope.Seal(n, f.Key)
	if err != nil {
		return Signed{}, err
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(env)
	if err != nil {
		return Signed{}, err
	}
	input, sig, err := splitJWS(env.Jws)
	if err != nil {
		return Signed{}, err
	}
	return Signed{Env: env, Body: body, ID: n.GetId(), Input: input, Sig: sig}, nil
}

// splitJWS returns a compact JWS's signing input and signature.
func splitJWS(jws string) (input, sig []byte, err error) {
	i := strings.LastIndexByte(jws, '.')
	if i < 0 {
		return nil, nil, errors.New("JWS without a signature")
	}
	sig, err = base64.RawURLEncoding.DecodeString(jws[i+1:])
	return []byte(jws[:i]), sig, err
}

// Hub is a running hub and a client connection to it.
type Hub struct {
	Addr   string
	Conn   *grpc.ClientConn
	Client headsupv1.HubServiceClient
	stop   func() error
}

// StartHub starts the hub in its default configuration, on a free
// loopback port, with no call tokens (Origin empty: the bench measures
// verification, logging and delivery, not access control), over dataDir
// with the given fsync mode.
func StartHub(ctx context.Context, dataDir, dirPath string, fsync bus.FsyncMode) (*Hub, error) {
	cfg := hub.DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.DirectoryPath, cfg.Fsync = "127.0.0.1:0", dataDir, dirPath, fsync
	cfg.Logger = slog.New(slog.DiscardHandler)
	addr, stop, err := hub.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		_ = stop()
		return nil, err
	}
	return &Hub{Addr: addr.String(), Conn: conn, Client: headsupv1.NewHubServiceClient(conn), stop: stop}, nil
}

// Stop closes the client and stops the hub.
func (h *Hub) Stop() error {
	h.Conn.Close()
	return h.stop()
}

// WaitReady publishes probe until the hub has loaded the directory.
func (h *Hub) WaitReady(ctx context.Context, probe *headsupv1.Envelope) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := h.Client.Publish(ctx, &headsupv1.PublishRequest{Envelope: probe})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("hub never accepted a publish: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Agent is a running agent of Subscriber.
type Agent struct {
	cancel context.CancelFunc
	done   chan error
	closer func() error
}

// AgentConfig is what StartAgent needs beyond the defaults.
type AgentConfig struct {
	Hub, DirectoryPath, StateDir string
	// Customers is the customer file's content.
	Customers string
	// Delivered, if set, is called after the JSON-lines sink has written
	// and synced each event.
	Delivered func(e *alert.Event)
	// Committed is agent.Config.Committed.
	Committed func(seq uint64)
}

// StartAgent runs the agent in its default configuration with a customer
// file and a JSON-lines file sink under c.StateDir.
func StartAgent(ctx context.Context, c AgentConfig) (*Agent, error) {
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return nil, err
	}
	custPath := filepath.Join(c.StateDir, "customers.csv")
	if err := os.WriteFile(custPath, []byte(c.Customers), 0o600); err != nil {
		return nil, err
	}
	s, closer, err := sink.OpenJSONLinesFile(filepath.Join(c.StateDir, "alerts.jsonl"))
	if err != nil {
		return nil, err
	}
	cfg := agent.DefaultConfig()
	cfg.Hub, cfg.Member, cfg.DirectoryPath, cfg.StateDir = c.Hub, Subscriber, c.DirectoryPath, c.StateDir
	cfg.Customers = []agent.CustomerSource{customers.NewFile(custPath, "", nil)}
	cfg.Outputs = []agent.Output{{Sink: &timedSink{Sink: s, delivered: c.Delivered}}}
	cfg.Committed = c.Committed
	ctx, cancel := context.WithCancel(ctx)
	a := &Agent{cancel: cancel, done: make(chan error, 1), closer: closer.Close}
	go func() { a.done <- agent.Run(ctx, cfg) }()
	return a, nil
}

// Stop stops the agent and returns Run's error.
func (a *Agent) Stop() error {
	a.cancel()
	err := <-a.done
	return errors.Join(err, a.closer())
}

// timedSink reports each event once the JSON-lines sink holds it durably.
// It hides the sink's Resumer: every bench agent starts with an empty
// file.
type timedSink struct {
	sink.Sink
	delivered func(e *alert.Event)
}

func (t *timedSink) Deliver(ctx context.Context, e *alert.Event, body []byte) error {
	if err := t.Sink.Deliver(ctx, e, body); err != nil {
		return err
	}
	if t.delivered != nil {
		t.delivered(e)
	}
	return nil
}

// DeliverBatch passes the agent's batches through to the JSON-lines sink,
// so the bench measures the agent as it runs (one write and one fsync a
// batch), and times each event once the batch is durable.
func (t *timedSink) DeliverBatch(ctx context.Context, events []sink.Event) error {
	b, ok := t.Sink.(sink.Batch)
	if !ok {
		for _, e := range events {
			if err := t.Deliver(ctx, e.Event, e.Body); err != nil {
				return err
			}
		}
		return nil
	}
	if err := b.DeliverBatch(ctx, events); err != nil {
		return err
	}
	if t.delivered != nil {
		for _, e := range events {
			t.delivered(e.Event)
		}
	}
	return nil
}
