package hub_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/hub"
)

// natsNodeEnv, when set in the environment of this test binary, makes it
// run one nats-server with the nodeSpec it holds (JSON) instead of the
// tests (see TestMain).
const natsNodeEnv = "HEADSUP_TEST_NATS_NODE"

// nodeSpec is what a child nats-server needs: its identity, its ports and
// every route of the cluster. A restart gets the same spec (same name,
// ports and store), turned into fresh server.Options by the child.
type nodeSpec struct {
	Name        string   `json:"name"`
	Port        int      `json:"port"`
	ClusterPort int      `json:"cluster_port"`
	Routes      []string `json:"routes"`
	StoreDir    string   `json:"store_dir"`
}

// runNATSNode is the child: it serves until its stdin closes (the parent
// ended or died) or it is killed. It writes "ready" on stdout once it
// accepts clients.
func runNATSNode(spec string) int {
	var s nodeSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, "nats node:", err)
		return 2
	}
	var routes []*url.URL
	for _, r := range s.Routes {
		u, err := url.Parse(r)
		if err != nil {
			fmt.Fprintln(os.Stderr, "nats node:", err)
			return 2
		}
		routes = append(routes, u)
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: s.Name,
		Host:       "127.0.0.1",
		Port:       s.Port,
		NoSigs:     true,
		NoLog:      true,
		JetStream:  true,
		StoreDir:   s.StoreDir,
		Cluster:    server.ClusterOpts{Name: "headsup-cluster-test", Host: "127.0.0.1", Port: s.ClusterPort},
		Routes:     routes,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats node:", err)
		return 1
	}
	srv.Start()
	if !srv.ReadyForConnections(60 * time.Second) {
		fmt.Fprintln(os.Stderr, "nats node: not ready")
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Shutdown()
	srv.WaitForShutdown()
	return 0
}

// natsNode is a child process running one node of the cluster.
type natsNode struct {
	spec  nodeSpec
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.spec.Port) }

// start runs the node and waits until it accepts clients.
func (n *natsNode) start(t *testing.T) {
	t.Helper()
	spec, err := json.Marshal(n.spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), natsNodeEnv+"="+string(spec))
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd, n.stdin, n.done = cmd, stdin, make(chan struct{})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && sc.Text() == "ready"
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(n.done)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("nats node %s did not start", n.spec.Name)
		}
	case <-time.After(60 * time.Second):
		n.kill(t)
		t.Fatalf("nats node %s not ready within 60s", n.spec.Name)
	}
}

// kill ends the node with SIGKILL: no raft step-down, no flush.
func (n *natsNode) kill(t *testing.T) {
	t.Helper()
	if n.cmd == nil {
		return
	}
	if err := n.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill %s: %v", n.spec.Name, err)
	}
	n.stdin.Close()
	<-n.done
	n.cmd = nil
}

// clusterPorts reserves n loopback ports by listening and closing: every
// node's routes must name every peer before any of them starts, and a
// restarted node or hub comes back where its clients look for it.
func clusterPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// clusterHub is a hub replica on a fixed loopback port that can be stopped
// and started again there.
type clusterHub struct {
	cfg  hub.Config
	stop func() error
}

// start starts the hub, retrying while the cluster cannot yet place or
// serve the stream (no meta leader after a start or a kill).
func (h *clusterHub) start(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		_, stop, err := hub.Start(context.Background(), h.cfg)
		if err == nil {
			h.stop = stop
			return
		}
		if errors.Is(err, bus.ErrStreamConfig) || errors.Is(err, bus.ErrStreamLost) || time.Now().After(deadline) {
			t.Fatalf("hub %s: %v", h.cfg.Listen, err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not a wait for an event
	}
}

func (h *clusterHub) halt(t *testing.T) {
	t.Helper()
	if h.stop == nil {
		return
	}
	if err := h.stop(); err != nil {
		t.Errorf("hub %s stopped with %v", h.cfg.Listen, err)
	}
	h.stop = nil
}

// quickReconnect makes a gRPC client find a restarted hub within a second
// instead of after gRPC's default backoff of up to two minutes.
var quickReconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
	MinConnectTimeout: 2 * time.Second,
})

func dialHub(t *testing.T, addr string) headsupv1.HubServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), quickReconnect)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return headsupv1.NewHubServiceClient(conn)
}

// acked is one notice a publisher saw acknowledged.
type acked struct {
	id, jws string
	seq     uint64
}

// clusterPublisher publishes a steady stream of notices through one hub,
// retrying each envelope (the same bytes) until it is acknowledged.
type clusterPublisher struct {
	by     *member
	client headsupv1.HubServiceClient
	hosts  func() (string, error)

	mu      sync.Mutex
	acks    []acked
	retries int
	dups    int
	err     error
}

func (p *clusterPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// run publishes one notice every interval until stop is closed.
func (p *clusterPublisher) run(t *testing.T, stop <-chan struct{}, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		host, err := p.hosts()
		var a acked
		if err == nil {
			a, err = p.publishUntilAcked(seal(t, p.by, suspended(t, p.by.id, host)))
		}
		p.mu.Lock()
		if err != nil {
			p.err = err
			p.mu.Unlock()
			return
		}
		p.acks = append(p.acks, a)
		p.mu.Unlock()
	}
}

// publishUntilAcked is what a client does with an envelope: retry the same
// bytes on UNAVAILABLE (the hub or NATS down; the hub still loading its
// directory after a restart) and DEADLINE_EXCEEDED (outcome unknown),
// long enough to cover a raft election.
func (p *clusterPublisher) publishUntilAcked(env *headsupv1.Envelope) (acked, error) {
	deadline := time.Now().Add(40 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := p.client.Publish(ctx, &headsupv1.PublishRequest{Envelope: env})
		cancel()
		if err == nil {
			p.mu.Lock()
			if res.GetDuplicate() {
				p.dups++
			}
			p.mu.Unlock()
			return acked{id: idOf(env), jws: env.GetJws(), seq: res.GetSequence()}, nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.FailedPrecondition:
		default:
			return acked{}, fmt.Errorf("publish: %w", err)
		}
		if time.Now().After(deadline) {
			return acked{}, fmt.Errorf("publish never acknowledged within 40s: %w", err)
		}
		p.mu.Lock()
		p.retries++
		p.mu.Unlock()
		time.Sleep(50 * time.Millisecond) // retry interval
	}
}

// idOf is the notice id in the envelope's serialised notice.
func idOf(env *headsupv1.Envelope) string {
	var n headsupv1.Notice
	if err := proto.Unmarshal(env.GetNotice(), &n); err != nil {
		return ""
	}
	return n.GetId()
}

// clusterSink counts every event an agent's outbox delivers.
type clusterSink struct {
	mu   sync.Mutex
	seen map[string]int // alert id "#" revision
}

func (*clusterSink) Name() string { return "cluster" }

func (s *clusterSink) Deliver(_ context.Context, e *alert.Event, _ []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[fmt.Sprintf("%s#%d", e.AlertID, e.Revision)]++
	return nil
}

func (s *clusterSink) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[key]
}

// clusterAgent is a real agent following one hub, with the sequence of
// cursors it committed.
type clusterAgent struct {
	member  string
	state   string
	sink    *clusterSink
	cursor  atomic.Uint64
	regress atomic.Value // first non-monotonic commit, as a string
	done    chan error
	cancel  context.CancelFunc
}

func startClusterAgent(t *testing.T, member, hubAddr, dirPath, customerCSV string) *clusterAgent {
	t.Helper()
	work := t.TempDir()
	custPath := filepath.Join(work, "customers.csv")
	if err := os.WriteFile(custPath, []byte(customerCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &clusterAgent{member: member, state: filepath.Join(work, "state"), sink: &clusterSink{seen: map[string]int{}}, done: make(chan error, 1)}
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("agent", member)
	}
	cfg := agent.DefaultConfig()
	cfg.Hub, cfg.Member, cfg.DirectoryPath, cfg.StateDir = hubAddr, member, dirPath, a.state
	cfg.DialOptions = []grpc.DialOption{quickReconnect}
	cfg.Customers = []agent.CustomerSource{customers.NewFile(custPath, "", logger)}
	cfg.Outputs = []agent.Output{{Sink: a.sink}}
	cfg.Logger = logger
	cfg.BatchWait = 10 * time.Millisecond
	cfg.Committed = func(seq uint64) {
		// Exactly once in order: a cursor never goes back.
		if prev := a.cursor.Swap(seq); seq < prev {
			a.regress.CompareAndSwap(nil, fmt.Sprintf("committed %d after %d", seq, prev))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { a.done <- agent.Run(ctx, cfg) }()
	t.Cleanup(a.stop)
	return a
}

func (a *clusterAgent) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
}

// TestClusterSurvivesNodeAndHubCrashes runs the scale-out layout on
// loopback: three nats-servers (child processes) with the stream at R3,
// two hub replicas attached to different nodes, a publisher and an agent
// on each hub. Under a steady publish load it kills the stream leader's
// node with SIGKILL, then stops a hub, then restarts both. Afterwards the
// stream holds exactly what was acknowledged, once each, at the
// acknowledged sequences, densely; both agents committed every sequence
// in order and raised one alert per notice, each delivered once.
func TestClusterSurvivesNodeAndHubCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-node NATS cluster through crashes")
	}
	ports := clusterPorts(t, 8) // 3 client, 3 cluster, 2 hubs
	var routes []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[3+i]))
	}
	nodes := make([]*natsNode, 3)
	for i := range nodes {
		nodes[i] = &natsNode{spec: nodeSpec{
			Name: fmt.Sprintf("n%d", i), Port: ports[i], ClusterPort: ports[3+i],
			Routes: routes, StoreDir: t.TempDir(),
		}}
		nodes[i].start(t)
		t.Cleanup(func() { nodes[i].kill(t) })
	}

	work := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish)
	vox := newMember(t, "voxhost", directory.RoleSubscribe)
	hostco := newMember(t, "hostco", directory.RoleSubscribe)
	dirPath := filepath.Join(work, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge, vox, hostco)

	// Notice i suspends customer i of both subscribers, so that every
	// notice raises exactly one alert at each agent.
	const maxNotices = 4000
	var csv strings.Builder
	csv.WriteString("customer_id,display_name,type,value\n")
	for i := range maxNotices {
		fmt.Fprintf(&csv, "c%d,Customer %d,host,cust-%d.example\n", i, i, i)
	}
	var next atomic.Int64
	host := func() (string, error) {
		i := next.Add(1) - 1
		if i >= maxNotices {
			return "", fmt.Errorf("more than %d notices: raise maxNotices", maxNotices)
		}
		return fmt.Sprintf("cust-%d.example", i), nil
	}

	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		// Not every notice stored: decisions and trouble.
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	newHub := func(name string, port int, natsURL string) *clusterHub {
		cfg := hub.DefaultConfig()
		cfg.Listen = fmt.Sprintf("127.0.0.1:%d", port)
		cfg.DataDir = filepath.Join(work, name)
		cfg.DirectoryPath = dirPath
		cfg.NATSURL = natsURL
		cfg.Replicas = 3
		cfg.ShutdownTimeout = 2 * time.Second
		cfg.Logger = logger.With("hub", name)
		return &clusterHub{cfg: cfg}
	}
	// Hub B gets a comma-separated list (as --nats-url takes it) of the
	// nodes other than n0; it creates the R3 stream.
	hubB := newHub("hub-b", ports[7], nodes[1].url()+","+nodes[2].url())
	hubB.start(t)
	t.Cleanup(func() { hubB.halt(t) })

	// The node to kill is the stream leader: its death forces an election.
	victim := streamLeader(t, nodes)
	hubA := newHub("hub-a", ports[6], victim.url())
	hubA.start(t)
	t.Cleanup(func() { hubA.halt(t) })
	t.Logf("stream leader %s; hub A attached to it, hub B to the others", victim.spec.Name)

	agentA := startClusterAgent(t, vox.id, hubA.cfg.Listen, dirPath, csv.String())
	agentB := startClusterAgent(t, hostco.id, hubB.cfg.Listen, dirPath, csv.String())

	pubs := []*clusterPublisher{
		{by: edge, client: dialHub(t, hubA.cfg.Listen), hosts: host},
		{by: edge, client: dialHub(t, hubB.cfg.Listen), hosts: host},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range pubs {
		wg.Go(func() { p.run(t, stop, 20*time.Millisecond) })
	}
	caughtUp := func(phase string, seq uint64, agents ...*clusterAgent) {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for _, a := range agents {
			for a.cursor.Load() < seq {
				if time.Now().After(deadline) {
					t.Fatalf("%s: agent %s committed up to %d, want %d", phase, a.member, a.cursor.Load(), seq)
				}
				time.Sleep(20 * time.Millisecond) // poll interval
			}
		}
		t.Logf("%s: committed %d", phase, seq)
	}
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopLoad)
	// progress waits until each of the given publishers has had n more
	// notices acknowledged: the load goes on through every phase.
	progress := func(phase string, n int, ps ...*clusterPublisher) {
		t.Helper()
		want := make([]int, len(ps))
		for i, p := range ps {
			want[i] = p.count() + n
		}
		deadline := time.Now().Add(40 * time.Second)
		for i := 0; i < len(ps); {
			p := ps[i]
			p.mu.Lock()
			err := p.err
			p.mu.Unlock()
			if err != nil {
				t.Fatalf("%s: %v", phase, err)
			}
			if p.count() >= want[i] {
				i++
				continue
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: publishers stuck at %d and %d acknowledgements", phase, pubs[0].count(), pubs[1].count())
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
		t.Logf("%s: %d acknowledged", phase, pubs[0].count()+pubs[1].count())
	}

	progress("steady", 25, pubs...)
	victim.kill(t)
	progress("stream leader killed", 25, pubs...)
	// Both hubs' followers recover from the lost node before a hub
	// stops: a hub stopped while its NATS follower is still resetting
	// does not finish shutting down (see the report on bus.Follow).
	caughtUp("agents after the node kill", maxAcked(pubs), agentA, agentB)
	hubA.halt(t)
	progress("hub A stopped", 25, pubs[1])
	victim.start(t)
	hubA.start(t)
	progress("node and hub A restarted", 50, pubs...)
	stopLoad()

	var published []acked
	for _, p := range pubs {
		if p.err != nil {
			t.Fatal(p.err)
		}
		published = append(published, p.acks...)
		t.Logf("publisher: %d acknowledged, %d retries, %d answered duplicate", len(p.acks), p.retries, p.dups)
	}

	// The stored set is the published set, each once, at its sequence.
	stored := readAll(t, dialHub(t, hubB.cfg.Listen))
	if len(stored) != len(published) {
		t.Errorf("stream holds %d entries, %d were acknowledged", len(stored), len(published))
	}
	byJWS := map[string]uint64{}
	for i, e := range stored {
		if want := uint64(i + 1); e.GetSequence() != want {
			t.Fatalf("entry %d has sequence %d: not contiguous", want, e.GetSequence())
		}
		if prev, dup := byJWS[e.GetEnvelope().GetJws()]; dup {
			t.Errorf("envelope stored twice, at %d and %d", prev, e.GetSequence())
		}
		byJWS[e.GetEnvelope().GetJws()] = e.GetSequence()
	}
	for _, a := range published {
		if seq, ok := byJWS[a.jws]; !ok {
			t.Errorf("notice %s acknowledged at %d is not stored", a.id, a.seq)
		} else if seq != a.seq {
			t.Errorf("notice %s acknowledged at %d is stored at %d", a.id, a.seq, seq)
		}
	}

	// Every agent committed every entry, in order, and raised one alert
	// per notice, each delivered once.
	last := uint64(len(stored))
	for _, a := range []*clusterAgent{agentA, agentB} {
		deadline := time.Now().Add(30 * time.Second)
		for a.cursor.Load() < last {
			if time.Now().After(deadline) {
				t.Fatalf("agent %s committed up to %d of %d", a.member, a.cursor.Load(), last)
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
		if r := a.regress.Load(); r != nil {
			t.Errorf("agent %s: %s", a.member, r)
		}
		events, err := agent.Alerts(context.Background(), a.state)
		if err != nil {
			t.Fatal(err)
		}
		roots := map[string]int{}
		for _, e := range events {
			if e.Type != alert.TypeMatch {
				t.Errorf("agent %s: unexpected %s alert %s: %s", a.member, e.Type, e.AlertID, e.Headline)
				continue
			}
			roots[e.Root.ID]++
			if e.Revision != 1 || e.Event != alert.EventRaised {
				t.Errorf("agent %s: alert %s at revision %d (%s), want one raise", a.member, e.AlertID, e.Revision, e.Event)
			}
		}
		for _, p := range published {
			if roots[p.id] != 1 {
				t.Errorf("agent %s: %d alerts rooted in notice %s, want 1", a.member, roots[p.id], p.id)
			}
		}
		if len(roots) != len(published) {
			t.Errorf("agent %s: alerts rooted in %d notices, %d published", a.member, len(roots), len(published))
		}
		for _, e := range events {
			key := fmt.Sprintf("%s#%d", e.AlertID, e.Revision)
			deadline := time.Now().Add(20 * time.Second)
			for a.sink.count(key) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond) // poll interval
			}
			if n := a.sink.count(key); n != 1 {
				t.Errorf("agent %s: event %s delivered %d times, want once", a.member, key, n)
			}
		}
	}
}

// maxAcked is the highest sequence acknowledged so far.
func maxAcked(pubs []*clusterPublisher) uint64 {
	var m uint64
	for _, p := range pubs {
		p.mu.Lock()
		for _, a := range p.acks {
			m = max(m, a.seq)
		}
		p.mu.Unlock()
	}
	return m
}

// streamLeader names the node that leads the stream, asking any live one.
func streamLeader(t *testing.T, nodes []*natsNode) *natsNode {
	t.Helper()
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url())
	}
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, bus.StreamName)
		var info *jetstream.StreamInfo
		if err == nil {
			info, err = s.Info(ctx)
		}
		cancel()
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			for _, n := range nodes {
				if n.spec.Name == info.Cluster.Leader {
					return n
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream leader: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}

// readAll reads the whole log through a hub, from the first entry to the
// last one at subscribe time.
func readAll(t *testing.T, client headsupv1.HubServiceClient) []*headsupv1.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
		case *headsupv1.SubscribeResponse_Redacted:
			t.Fatalf("redacted entry %d on an open hub", ev.Redacted.GetSequence())
		}
	}
	return entries
}
