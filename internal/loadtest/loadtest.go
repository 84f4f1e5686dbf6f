package loadtest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/notice"
)

// ErrConfig marks a configuration Run refuses.
var ErrConfig = errors.New("load test configuration")

// DrainTimeout bounds how long subscribers may take, after the
// publishers stop, to receive everything acknowledged.
const DrainTimeout = 10 * time.Second

// InProcess is Report.Hub for a hub Run started itself.
const InProcess = "in-process"

// Config is what Run needs. Zero counts and durations take the defaults
// of DefaultConfig.
type Config struct {
	// Publishers and Subscribers are N and M.
	Publishers, Subscribers int
	// Duration is how long publishers publish.
	Duration time.Duration
	// Hub is a running hub's address, or empty to start one in-process.
	Hub string
	// Dial, with Hub, opens one client connection (credentials, TLS); each
	// publisher and each subscriber gets its own.
	Dial func() (*grpc.ClientConn, error)
	// Member and Key, with Hub, sign the notices: a member with the
	// publish role and its notice key.
	Member string
	Key    ed25519.PrivateKey
	// Dir holds the in-process hub's data; a temporary directory, removed
	// afterwards, when empty.
	Dir string
	// Fsync is the in-process hub's disk sync mode.
	Fsync bus.FsyncMode
	// Progress, if set, receives one line per phase.
	Progress io.Writer
}

// DefaultConfig is `headsup load` with no flags.
func DefaultConfig() Config {
	return Config{Publishers: 4, Subscribers: 50, Duration: 20 * time.Second}
}

// Report is the outcome of a run. Its JSON is `headsup load --json`.
type Report struct {
	// Hub is the target: InProcess, or the address given.
	Hub         string `json:"hub"`
	Fsync       string `json:"fsync,omitempty"`
	Publishers  int    `json:"publishers"`
	Subscribers int    `json:"subscribers"`
	// Seconds is how long publishers actually published.
	Seconds float64 `json:"seconds"`
	// Acknowledged notices and their rate.
	Acknowledged  int64   `json:"acknowledged"`
	Throughput    float64 `json:"notices_per_second"`
	PublishErrors int64   `json:"publish_errors"`
	// Deliveries counts entries received by subscribers (each at most
	// once per subscriber); Undelivered is what they still lacked when
	// the drain ended (Acknowledged × Subscribers − Deliveries).
	Deliveries  int64 `json:"deliveries"`
	Undelivered int64 `json:"undelivered"`
	// Cutoffs counts subscriptions the hub ended (RESOURCE_EXHAUSTED for
	// a subscriber too slow, UNAVAILABLE) and that resumed from their
	// cursor.
	Cutoffs int64 `json:"cutoffs"`
	// Latency is from the start of the Publish call to each receipt.
	Latency Latency `json:"latency_ms"`
	// Memory is the in-process hub's process; nil against a remote hub.
	Memory *Memory `json:"memory,omitempty"`
}

// Latency percentiles, in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Memory of the process hosting the in-process hub (and the generator).
type Memory struct {
	// HeapMax is the largest heap in use sampled during the run (Go's
	// HeapInuse), HeapEnd the heap in use after the run and a GC.
	HeapMax uint64 `json:"heap_inuse_max_bytes"`
	HeapEnd uint64 `json:"heap_inuse_end_bytes"`
	// RSSMax is the largest resident set sampled (Linux; 0 elsewhere).
	RSSMax uint64 `json:"rss_max_bytes"`
}

func (c *Config) withDefaults() error {
	d := DefaultConfig()
	if c.Publishers == 0 {
		c.Publishers = d.Publishers
	}
	if c.Subscribers == 0 {
		c.Subscribers = d.Subscribers
	}
	if c.Duration == 0 {
		c.Duration = d.Duration
	}
	switch {
	case c.Publishers < 0:
		return fmt.Errorf("%w: publishers: %d, want at least 1", ErrConfig, c.Publishers)
	case c.Subscribers < 0:
		return fmt.Errorf("%w: subscribers: %d, want at least 0", ErrConfig, c.Subscribers)
	case c.Duration < 0:
		return fmt.Errorf("%w: duration: %v, want a positive duration", ErrConfig, c.Duration)
	case c.Hub != "" && (c.Member == "" || c.Key == nil || c.Dial == nil):
		return fmt.Errorf("%w: hub %s: a member, its notice key and a dialer are required", ErrConfig, c.Hub)
	}
	return nil
}

// Run drives the load and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	rep := &Report{Hub: cfg.Hub, Publishers: cfg.Publishers, Subscribers: cfg.Subscribers}
	var sampler *memSampler
	if cfg.Hub == "" {
		stop, err := startHub(ctx, &cfg)
		if err != nil {
			return nil, err
		}
		defer stop()
		rep.Hub, rep.Fsync = InProcess, cfg.Fsync.String()
		sampler = startSampler()
	}
	progress(cfg, "hub %s ready; %d subscribers subscribing", rep.Hub, cfg.Subscribers)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var sent sync.Map // signature → *pending
	subs := make([]*subscriber, cfg.Subscribers)
	var subWG sync.WaitGroup
	ready := make(chan error, cfg.Subscribers)
	for i := range subs {
		conn, err := cfg.Dial()
		if err != nil {
			return nil, fmt.Errorf("subscriber %d: %w", i, err)
		}
		defer conn.Close()
		s := &subscriber{client: headsupv1.NewHubServiceClient(conn), sent: &sent, hist: newHistogram()}
		subs[i] = s
		subWG.Go(func() { s.run(ctx, ready) })
	}
	for range subs {
		if err := <-ready; err != nil {
			return nil, fmt.Errorf("subscribe: %w", err)
		}
	}

	progress(cfg, "%d publishers publishing for %v", cfg.Publishers, cfg.Duration)
	var acks, errs atomic.Int64
	var lastSeq atomic.Uint64
	var pubWG sync.WaitGroup
	start := time.Now()
	end := start.Add(cfg.Duration)
	for p := range cfg.Publishers {
		conn, err := cfg.Dial()
		if err != nil {
			return nil, fmt.Errorf("publisher %d: %w", p, err)
		}
		defer conn.Close()
		client := headsupv1.NewHubServiceClient(conn)
		pubWG.Go(func() {
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				env, err := sign(cfg.Member, cfg.Key, fmt.Sprintf("load-%d-%d.example", p, i))
				if err != nil {
					errs.Add(1)
					continue
				}
				pd := &pending{at: time.Now()}
				pd.left.Store(int32(cfg.Subscribers))
				key := signature(env.GetJws())
				sent.Store(key, pd)
				pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
				res, err := client.Publish(pctx, &headsupv1.PublishRequest{Envelope: env})
				pcancel()
				if err != nil {
					errs.Add(1)
					continue
				}
				acks.Add(1)
				for {
					cur := lastSeq.Load()
					if res.GetSequence() <= cur || lastSeq.CompareAndSwap(cur, res.GetSequence()) {
						break
					}
				}
			}
		})
	}
	pubWG.Wait()
	rep.Seconds = time.Since(start).Seconds()
	rep.Acknowledged, rep.PublishErrors = acks.Load(), errs.Load()
	rep.Throughput = float64(rep.Acknowledged) / rep.Seconds

	progress(cfg, "%d acknowledged; waiting up to %v for subscribers to receive them", rep.Acknowledged, DrainTimeout)
	last := lastSeq.Load()
	deadline := time.Now().Add(DrainTimeout)
	for _, s := range subs {
		for s.cursor.Load() < last && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond) // poll interval
		}
	}
	cancel()
	subWG.Wait()

	all := newHistogram()
	for _, s := range subs {
		all.merge(s.hist)
		rep.Deliveries += s.received.Load()
		rep.Cutoffs += s.cutoffs.Load()
	}
	rep.Undelivered = max(0, rep.Acknowledged*int64(cfg.Subscribers)-rep.Deliveries)
	rep.Latency = Latency{P50: all.quantile(0.50), P90: all.quantile(0.90), P99: all.quantile(0.99), Max: all.maxMS()}
	if sampler != nil {
		rep.Memory = sampler.stop()
	}
	return rep, nil
}

func progress(cfg Config, format string, args ...any) {
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "load: "+format+"\n", args...)
	}
}

// startHub starts the in-process hub: a directory of one publishing
// member whose key signs the notices, embedded NATS in cfg.Dir, no access
// control (the load measures verification, logging and delivery).
func startHub(ctx context.Context, cfg *Config) (func(), error) {
	var cleanup []func()
	stop := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "headsup-load-")
		if err != nil {
			return nil, err
		}
		cfg.Dir = dir
		cleanup = append(cleanup, func() { _ = os.RemoveAll(dir) })
	}
	k, priv, err := directory.NewKey(directory.UseNotice)
	if err != nil {
		stop()
		return nil, err
	}
	cfg.Member, cfg.Key = "loadtest", priv
	b, err := directory.Marshal(&directory.Directory{Serial: 1, TestNetwork: true, Members: []*directory.Member{{
		ID: cfg.Member, Name: "Load test", AbuseContact: "abuse@loadtest.example",
		Roles: []directory.Role{directory.RolePublish, directory.RoleSubscribe}, Keys: []*directory.Key{k},
	}}})
	if err != nil {
		stop()
		return nil, err
	}
	dirPath := filepath.Join(cfg.Dir, "directory.yaml")
	if err := os.WriteFile(dirPath, b, 0o600); err != nil {
		stop()
		return nil, err
	}
	hcfg := hub.DefaultConfig()
	hcfg.Listen, hcfg.DataDir, hcfg.DirectoryPath, hcfg.Fsync = "127.0.0.1:0", filepath.Join(cfg.Dir, "hub"), dirPath, cfg.Fsync
	hcfg.Logger = slog.New(slog.DiscardHandler)
	addr, stopHub, err := hub.Start(ctx, hcfg)
	if err != nil {
		stop()
		return nil, fmt.Errorf("hub: %w", err)
	}
	cleanup = append(cleanup, func() { _ = stopHub() })
	target := addr.String()
	cfg.Dial = func() (*grpc.ClientConn, error) {
		return grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	// The hub serves before it has read the directory: publish a probe
	// until it is accepted.
	conn, err := cfg.Dial()
	if err != nil {
		stop()
		return nil, err
	}
	defer conn.Close()
	client := headsupv1.NewHubServiceClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		env, err := sign(cfg.Member, cfg.Key, "probe.loadtest.example")
		if err != nil {
			stop()
			return nil, err
		}
		_, err = client.Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
		if err == nil {
			return stop, nil
		}
		if status.Code(err) != codes.FailedPrecondition || time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("hub never accepted a publish: %w", err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// sign makes a CUSTOMER_SUSPENDED notice of member about host.
func sign(member string, key ed25519.PrivateKey, host string) (*headsupv1.Envelope, error) {
	n := &headsupv1.Notice{
		Issuer: member,
		Kind:   headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED,
		Subject: &headsupv1.Entity{Label: host, Identifiers: []*headsupv1.Identifier{
			{Value: &headsupv1.Identifier_Host{Host: host}},
		}},
		Reason:     "abusive-content:violence",
		Summary:    "load test notice",
		Tlp:        headsupv1.Tlp_TLP_GREEN,
		LegalBasis: &headsupv1.LegalBasis{Kind: headsupv1.LegalBasisKind_LEGAL_BASIS_KIND_TERMS_OF_SERVICE, Reference: "load test"},
	}
	if err := notice.Fill(n, time.Now()); err != nil {
		return nil, err
	}
	if err := notice.Normalize(n, notice.Options{TestNetwork: true}); err != nil {
		return nil, err
	}
	return envelope.Seal(n, key)
}

// signature is the JWS's signature part: unique per envelope, short to
// hash.
func signature(jws string) string { return jws[strings.LastIndexByte(jws, '.')+1:] }

// pending is a published notice not yet received by every subscriber.
type pending struct {
	at   time.Time
	left atomic.Int32
}

// subscriber follows the log from its end, resuming from its cursor.
type subscriber struct {
	client   headsupv1.HubServiceClient
	sent     *sync.Map
	hist     *histogram
	cursor   atomic.Uint64
	received atomic.Int64
	cutoffs  atomic.Int64
}

func (s *subscriber) run(ctx context.Context, ready chan<- error) {
	req := &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_NewOnly{NewOnly: true}}
	first := true
	for ctx.Err() == nil {
		err := s.follow(ctx, req, func() {
			if first {
				first = false
				ready <- nil
			}
		})
		if ctx.Err() != nil {
			break
		}
		switch status.Code(err) {
		case codes.ResourceExhausted, codes.Unavailable:
			s.cutoffs.Add(1)
		default:
			if first {
				ready <- err
			}
			return
		}
		req = &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_AfterSequence{AfterSequence: s.cursor.Load()}}
	}
	if first {
		ready <- ctx.Err()
	}
}

func (s *subscriber) follow(ctx context.Context, req *headsupv1.SubscribeRequest, started func()) error {
	st, err := s.client.Subscribe(ctx, req)
	if err != nil {
		return err
	}
	for {
		r, err := st.Recv()
		if err != nil {
			return err
		}
		switch ev := r.Event.(type) {
		case *headsupv1.SubscribeResponse_Start:
			if s.cursor.Load() == 0 {
				s.cursor.Store(ev.Start.GetAfterSequence())
			}
			started()
		case *headsupv1.SubscribeResponse_Entry:
			now := time.Now()
			seq := ev.Entry.GetSequence()
			if seq <= s.cursor.Load() {
				continue // delivered again after a resume
			}
			s.cursor.Store(seq)
			s.received.Add(1)
			key := signature(ev.Entry.GetEnvelope().GetJws())
			if v, ok := s.sent.Load(key); ok {
				pd := v.(*pending)
				s.hist.add(now.Sub(pd.at))
				if pd.left.Add(-1) == 0 {
					s.sent.Delete(key)
				}
			}
		}
	}
}

// memSampler samples the process's heap and RSS until stopped.
type memSampler struct {
	done    chan struct{}
	stopped chan struct{}
	mem     Memory
}

func startSampler() *memSampler {
	m := &memSampler{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(m.stopped)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			m.mem.HeapMax = max(m.mem.HeapMax, ms.HeapInuse)
			m.mem.RSSMax = max(m.mem.RSSMax, rss())
			select {
			case <-m.done:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *memSampler) stop() *Memory {
	close(m.done)
	<-m.stopped
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.mem.HeapEnd = ms.HeapInuse
	return &m.mem
}

// rss is the resident set size from /proc/self/statm (Linux), or 0.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
