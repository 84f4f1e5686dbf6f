package recheck_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/recheck"
)

const host = "shop.example"

var (
	t0    = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	addr1 = netip.MustParseAddr("127.0.0.1")
	addr2 = netip.MustParseAddr("127.0.0.2")
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// resolver answers from a map and counts lookups; a name it does not hold
// is not found.
type resolver struct {
	mu      sync.Mutex
	names   map[string][]netip.Addr
	lookups int
}

func (r *resolver) LookupNetIP(_ context.Context, _, name string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	if a, ok := r.names[name]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (r *resolver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

// dialer wraps a real dialer, counting dials and the most in flight at
// once. With a gate, each dial waits until the gate is closed (or its
// context ends) and announces itself on entered first.
type dialer struct {
	gate    chan struct{}
	entered chan string

	mu                    sync.Mutex
	dials, inflight, most int
}

func newGatedDialer() *dialer {
	return &dialer{gate: make(chan struct{}), entered: make(chan string, 64)}
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.dials++
	d.inflight++
	d.most = max(d.most, d.inflight)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.inflight--
		d.mu.Unlock()
	}()
	if d.gate != nil {
		d.entered <- addr
		select {
		case <-d.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (d *dialer) stats() (dials, inflight, most int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials, d.inflight, d.most
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// pki issues test certificates.
type pki struct {
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
	roots *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "recheck test CA"},
		NotBefore:             t0.Add(-365 * 24 * time.Hour),
		NotAfter:              t0.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &pki{ca: ca, key: key, roots: roots}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// leaf issues a server certificate for names, valid from nb to na. With
// selfSigned, the certificate signs itself instead of being issued by the
// CA.
func (p *pki) leaf(t *testing.T, selfSigned bool, nb, na time.Time, names ...string) *tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    nb,
		NotAfter:     na,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := p.ca, p.key
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func certHash(c *tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(sum[:])
}

// server says what answers on one address.
type server struct {
	cert   *tls.Certificate // a TLS server with this certificate
	plain  bool             // a server that answers in plain text
	silent bool             // a server that accepts and never answers
}

// listenPair listens on 127.0.0.1 and 127.0.0.2 with the same port (Linux
// routes all of 127/8 to lo), retrying while the port is taken on the
// second address.
func listenPair(t *testing.T) (l1, l2 net.Listener, port int) {
	t.Helper()
	for range 20 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
		if err != nil {
			l1.Close()
			continue
		}
		return l1, l2, port
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return nil, nil, 0
}

// servePair starts s1 on 127.0.0.1 and s2 on 127.0.0.2 (nothing when nil)
// and returns the port. Everything stops at cleanup.
func servePair(t *testing.T, s1, s2 *server) int {
	t.Helper()
	l1, l2, port := listenPair(t)
	serve(t, l1, s1)
	serve(t, l2, s2)
	return port
}

func serve(t *testing.T, l net.Listener, s *server) {
	t.Helper()
	if s == nil {
		l.Close() // connections are refused
		return
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(stop)
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				switch {
				case s.silent:
					<-stop
				case s.plain:
					_, _ = conn.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
				default:
					tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{*s.cert}})
					_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
					_ = tc.Handshake()
				}
			})
		}
	})
}

// want is what a test expects of one Result.
type want struct {
	confirmed, trusted, resolves bool
	detail                       string // prefix
	cert                         *tls.Certificate
	address                      netip.Addr // zero: the address given
}

func check(t *testing.T, i int, got recheck.Result, w want, addr netip.Addr) {
	t.Helper()
	if w.address.IsValid() {
		addr = w.address
	}
	if got.Address != addr {
		t.Errorf("result %d: Address %v, want %v", i, got.Address, addr)
	}
	if got.Confirmed != w.confirmed || got.Trusted != w.trusted || got.Resolves != w.resolves {
		t.Errorf("result %d: Confirmed %v Trusted %v Resolves %v, want %v %v %v (Detail %q)",
			i, got.Confirmed, got.Trusted, got.Resolves, w.confirmed, w.trusted, w.resolves, got.Detail)
	}
	if w.detail == "" && got.Detail != "" || !strings.HasPrefix(got.Detail, w.detail) {
		t.Errorf("result %d: Detail %q, want prefix %q", i, got.Detail, w.detail)
	}
	wantHash := ""
	if w.cert != nil {
		wantHash = certHash(w.cert)
	}
	if got.CertSHA256 != wantHash {
		t.Errorf("result %d: CertSHA256 %q, want %q", i, got.CertSHA256, wantHash)
	}
	if got.Cached {
		t.Errorf("result %d: Cached on a first call", i)
	}
	if !got.CheckedAt.Equal(t0) {
		t.Errorf("result %d: CheckedAt %v, want %v", i, got.CheckedAt, t0)
	}
}

func TestCheck(t *testing.T) {
	p := newPKI(t)
	day := 24 * time.Hour
	good := p.leaf(t, false, t0.Add(-day), t0.Add(day), host)
	self := p.leaf(t, true, t0.Add(-day), t0.Add(day), host)
	other := p.leaf(t, false, t0.Add(-day), t0.Add(day), "other.example")
	wild := p.leaf(t, false, t0.Add(-day), t0.Add(day), "*.example")
	expired := p.leaf(t, false, t0.Add(-2*day), t0.Add(-day), host)
	early := p.leaf(t, false, t0.Add(day), t0.Add(2*day), host)
	mapped := netip.MustParseAddr("::ffff:127.0.0.1")

	tests := []struct {
		name       string
		one, two   *server
		host       string
		addrs      []netip.Addr
		names      map[string][]netip.Addr
		noPrivate  bool
		want       []want
		noTraffic  bool // neither dial nor lookup
		resultHost string
	}{
		{
			name: "issued for host on one address, another certificate on the other",
			one:  &server{cert: good}, two: &server{cert: other},
			addrs: []netip.Addr{addr1, addr2},
			names: map[string][]netip.Addr{host: {addr1}},
			want: []want{
				{confirmed: true, trusted: true, resolves: true, cert: good},
				{detail: "certificate not valid for host", cert: other},
			},
		},
		{
			name: "self-signed for host confirms but is not trusted; nothing on the other",
			one:  &server{cert: self},
			// The order of results follows the order of addresses.
			addrs: []netip.Addr{addr2, addr1},
			names: map[string][]netip.Addr{host: {addr2, addr1}},
			want: []want{
				{resolves: true, detail: "connection failed: "},
				{confirmed: true, resolves: true, detail: "certificate not trusted: ", cert: self},
			},
		},
		{
			name:  "wildcard certificate, name no longer resolves there",
			one:   &server{cert: wild},
			addrs: []netip.Addr{addr1},
			names: map[string][]netip.Addr{host: {netip.MustParseAddr("192.0.2.10")}},
			want:  []want{{confirmed: true, trusted: true, cert: wild}},
		},
		{
			name:  "name does not resolve at all",
			one:   &server{cert: good},
			addrs: []netip.Addr{addr1},
			want:  []want{{confirmed: true, trusted: true, cert: good}},
		},
		{
			name:  "expired certificate",
			one:   &server{cert: expired},
			addrs: []netip.Addr{addr1},
			want:  []want{{detail: "certificate expired", cert: expired}},
		},
		{
			name:  "certificate not yet valid",
			one:   &server{cert: early},
			addrs: []netip.Addr{addr1},
			want:  []want{{detail: "certificate not yet valid", cert: early}},
		},
		{
			name:  "not TLS",
			one:   &server{plain: true},
			addrs: []netip.Addr{addr1},
			want:  []want{{detail: "handshake failed: "}},
		},
		{
			name:  "host in another spelling is normalised",
			one:   &server{cert: good},
			host:  "Shop.Example.",
			addrs: []netip.Addr{mapped},
			names: map[string][]netip.Addr{host: {mapped}},
			want:  []want{{confirmed: true, trusted: true, resolves: true, cert: good, address: addr1}},
		},
		{
			name:       "IP literal is not a host",
			one:        &server{cert: good},
			host:       "127.0.0.1",
			addrs:      []netip.Addr{addr1, addr2},
			want:       []want{{detail: "host not valid: "}, {detail: "host not valid: "}},
			noTraffic:  true,
			resultHost: "127.0.0.1",
		},
		{
			name:       "empty host",
			host:       " ",
			addrs:      []netip.Addr{addr1},
			want:       []want{{detail: "host not valid: "}},
			noTraffic:  true,
			resultHost: " ",
		},
		{
			name:       "single label",
			host:       "localhost",
			addrs:      []netip.Addr{addr1},
			want:       []want{{detail: "host not valid: "}},
			noTraffic:  true,
			resultHost: "localhost",
		},
		{
			name:      "invalid address",
			addrs:     []netip.Addr{{}},
			want:      []want{{detail: "address not valid"}},
			noTraffic: true,
		},
		{
			name:      "internal addresses refused unless AllowPrivate",
			one:       &server{cert: good},
			noPrivate: true,
			addrs: []netip.Addr{
				addr1, netip.MustParseAddr("::1"), netip.MustParseAddr("0.0.0.0"),
				netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fd00::1"),
				netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fe80::1"),
				netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("224.0.0.1"),
				netip.MustParseAddr("64:ff9b::a00:1"),
			},
			want: []want{
				{detail: "address not allowed"}, {detail: "address not allowed"},
				{detail: "address not allowed"}, {detail: "address not allowed"},
				{detail: "address not allowed"}, {detail: "address not allowed"},
				{detail: "address not allowed"}, {detail: "address not allowed"},
				{detail: "address not allowed"}, {detail: "address not allowed"},
			},
			noTraffic: true,
		},
		{
			name:      "IPv4-mapped loopback refused too",
			noPrivate: true,
			addrs:     []netip.Addr{mapped},
			want:      []want{{detail: "address not allowed", address: addr1}},
			noTraffic: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := servePair(t, tt.one, tt.two)
			res := &resolver{names: tt.names}
			d := &dialer{}
			c, err := recheck.New(recheck.Config{
				Resolver:     res,
				DialContext:  d.DialContext,
				Port:         port,
				RootCAs:      p.roots,
				AllowPrivate: !tt.noPrivate,
				Now:          func() time.Time { return t0 },
			})
			if err != nil {
				t.Fatal(err)
			}
			h := tt.host
			if h == "" {
				h = host
			}
			got := c.Check(t.Context(), h, tt.addrs)
			if len(got) != len(tt.want) {
				t.Fatalf("%d results, want %d", len(got), len(tt.want))
			}
			wantHost := tt.resultHost
			if wantHost == "" {
				wantHost = host
			}
			for i := range got {
				if got[i].Host != wantHost {
					t.Errorf("result %d: Host %q, want %q", i, got[i].Host, wantHost)
				}
				check(t, i, got[i], tt.want[i], tt.addrs[i])
			}
			dials, _, _ := d.stats()
			if tt.noTraffic && (dials != 0 || res.count() != 0) {
				t.Errorf("%d dials and %d lookups, want none", dials, res.count())
			}
			if !tt.noTraffic && dials != len(tt.addrs) {
				t.Errorf("%d dials, want %d", dials, len(tt.addrs))
			}
		})
	}
}

// newChecker returns a Checker for the loopback servers with a counting
// dialer and a settable clock.
func newChecker(t *testing.T, port int, d *dialer, clk *clock, mod func(*recheck.Config)) *recheck.Checker {
	t.Helper()
	cfg := recheck.Config{
		Resolver:     &resolver{names: map[string][]netip.Addr{host: {addr1}}},
		DialContext:  d.DialContext,
		Port:         port,
		RootCAs:      x509.NewCertPool(),
		AllowPrivate: true,
		Now:          clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := recheck.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWindow(t *testing.T) {
	p := newPKI(t)
	cert := p.leaf(t, true, t0.Add(-48*time.Hour), t0.Add(48*time.Hour), host)
	port := servePair(t, &server{cert: cert}, nil)
	d := &dialer{}
	clk := &clock{now: t0}
	c := newChecker(t, port, d, clk, func(cfg *recheck.Config) { cfg.Window = time.Hour })
	both := []netip.Addr{addr1, addr2}

	steps := []struct {
		advance   time.Duration
		dials     int
		cached    bool
		checkedAt time.Time
	}{
		{0, 2, false, t0},
		{0, 2, true, t0},
		{time.Hour - time.Second, 2, true, t0},
		{time.Second, 4, false, t0.Add(time.Hour)},
		{time.Minute, 4, true, t0.Add(time.Hour)},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		got := c.Check(t.Context(), host, both)
		if dials, _, _ := d.stats(); dials != s.dials {
			t.Errorf("step %d: %d dials, want %d", i, dials, s.dials)
		}
		for j, r := range got {
			if r.Cached != s.cached || !r.CheckedAt.Equal(s.checkedAt) {
				t.Errorf("step %d result %d: Cached %v CheckedAt %v, want %v %v", i, j, r.Cached, r.CheckedAt, s.cached, s.checkedAt)
			}
		}
		// A remembered result is the same result.
		if !got[0].Confirmed || got[0].CertSHA256 != certHash(cert) || got[1].Confirmed || got[1].Detail == "" {
			t.Errorf("step %d: results %+v", i, got)
		}
	}
}

func TestMaxEntries(t *testing.T) {
	p := newPKI(t)
	cert := p.leaf(t, true, t0.Add(-48*time.Hour), t0.Add(48*time.Hour), host)
	port := servePair(t, &server{cert: cert}, &server{cert: cert})
	d := &dialer{}
	c := newChecker(t, port, d, &clock{now: t0}, func(cfg *recheck.Config) { cfg.MaxEntries = 1 })

	// With room for one result, checking the other address forgets the
	// first, which is then tried again.
	steps := []struct {
		addr   netip.Addr
		dials  int
		cached bool
	}{
		{addr1, 1, false},
		{addr1, 1, true},
		{addr2, 2, false},
		{addr1, 3, false},
		{addr1, 3, true},
	}
	for i, s := range steps {
		got := c.Check(t.Context(), host, []netip.Addr{s.addr})
		if dials, _, _ := d.stats(); dials != s.dials || got[0].Cached != s.cached {
			t.Errorf("step %d: %d dials Cached %v, want %d %v", i, dials, got[0].Cached, s.dials, s.cached)
		}
	}
}

func TestSharedAttempt(t *testing.T) {
	p := newPKI(t)
	cert := p.leaf(t, true, t0.Add(-48*time.Hour), t0.Add(48*time.Hour), host)
	port := servePair(t, &server{cert: cert}, nil)
	d := newGatedDialer()
	c := newChecker(t, port, d, &clock{now: t0}, nil)

	const callers = 8
	results := make([]recheck.Result, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { results[i] = c.Check(t.Context(), host, []netip.Addr{addr1})[0] })
	}
	<-d.entered
	waitFor(t, "callers to share the attempt", func() bool { return c.Waiters(host, addr1) == callers-1 })
	close(d.gate)
	wg.Wait()

	if dials, _, _ := d.stats(); dials != 1 {
		t.Errorf("%d dials, want 1", dials)
	}
	fresh := 0
	for i, r := range results {
		if !r.Cached {
			fresh++
		}
		if !r.Confirmed || r.CertSHA256 != certHash(cert) {
			t.Errorf("caller %d: %+v", i, r)
		}
	}
	if fresh != 1 {
		t.Errorf("%d results not Cached, want 1 (the caller that made the attempt)", fresh)
	}
}

func TestLeaderCanceled(t *testing.T) {
	p := newPKI(t)
	cert := p.leaf(t, true, t0.Add(-48*time.Hour), t0.Add(48*time.Hour), host)
	port := servePair(t, &server{cert: cert}, nil)
	d := newGatedDialer()
	c := newChecker(t, port, d, &clock{now: t0}, nil)

	ctx, cancel := context.WithCancel(t.Context())
	var leader, follower recheck.Result
	var wg sync.WaitGroup
	wg.Go(func() { leader = c.Check(ctx, host, []netip.Addr{addr1})[0] })
	<-d.entered
	wg.Go(func() { follower = c.Check(t.Context(), host, []netip.Addr{addr1})[0] })
	waitFor(t, "the follower to wait", func() bool { return c.Waiters(host, addr1) == 1 })
	cancel()
	// The leader's attempt ended without an outcome, so the follower makes
	// its own.
	<-d.entered
	close(d.gate)
	wg.Wait()

	if leader.Confirmed || !strings.HasPrefix(leader.Detail, "canceled") {
		t.Errorf("leader: %+v, want canceled", leader)
	}
	if !follower.Confirmed || follower.Cached {
		t.Errorf("follower: %+v, want its own confirmed attempt", follower)
	}
	if dials, _, _ := d.stats(); dials != 2 {
		t.Errorf("%d dials, want 2", dials)
	}
	// The follower's outcome fills the window; the canceled one did not.
	if r := c.Check(t.Context(), host, []netip.Addr{addr1})[0]; !r.Cached || !r.Confirmed {
		t.Errorf("after: %+v, want the follower's result, cached", r)
	}
}

func TestConcurrencyBound(t *testing.T) {
	d := newGatedDialer()
	// Nothing listens: every dial after the gate is refused at once.
	_, l2, port := listenPair(t)
	l2.Close()
	c := newChecker(t, port, d, &clock{now: t0}, func(cfg *recheck.Config) { cfg.Concurrency = 2 })

	var addrs [2][]netip.Addr
	for i := range 8 {
		addrs[i%2] = append(addrs[i%2], netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}))
	}
	var wg sync.WaitGroup
	for _, a := range addrs {
		wg.Go(func() { c.Check(t.Context(), host, a) })
	}
	waitFor(t, "two dials in flight", func() bool { _, n, _ := d.stats(); return n >= 2 })
	close(d.gate)
	wg.Wait()
	if dials, _, most := d.stats(); dials != 8 || most != 2 {
		t.Errorf("%d dials, at most %d at once; want 8, 2", dials, most)
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	p := newPKI(t)
	cert := p.leaf(t, true, t0.Add(-48*time.Hour), t0.Add(48*time.Hour), host)
	port := servePair(t, &server{cert: cert}, &server{cert: cert})
	d := newGatedDialer()
	c := newChecker(t, port, d, &clock{now: t0}, func(cfg *recheck.Config) { cfg.Concurrency = 1 })

	var first recheck.Result
	var wg sync.WaitGroup
	wg.Go(func() { first = c.Check(t.Context(), host, []netip.Addr{addr1})[0] })
	<-d.entered

	// The only slot is taken: a caller whose context ends stops waiting.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got := c.Check(ctx, host, []netip.Addr{addr2})[0]
	if got.Confirmed || !strings.HasPrefix(got.Detail, "canceled") {
		t.Errorf("waiting caller: %+v, want canceled", got)
	}
	close(d.gate)
	wg.Wait()
	if !first.Confirmed {
		t.Errorf("first caller: %+v", first)
	}
	// A canceled wait is not remembered.
	if got := c.Check(t.Context(), host, []netip.Addr{addr2})[0]; got.Cached || !got.Confirmed {
		t.Errorf("after cancel: %+v, want a fresh confirmed attempt", got)
	}
	if dials, _, _ := d.stats(); dials != 2 {
		t.Errorf("%d dials, want 2", dials)
	}
}

func TestTimeout(t *testing.T) {
	port := servePair(t, &server{silent: true}, nil)
	d := &dialer{}
	c := newChecker(t, port, d, &clock{now: t0}, func(cfg *recheck.Config) { cfg.Timeout = 200 * time.Millisecond })
	got := c.Check(t.Context(), host, []netip.Addr{addr1})[0]
	if got.Confirmed || got.Detail != "timeout" || got.CertSHA256 != "" {
		t.Errorf("%+v, want timeout", got)
	}
	// A timeout is an outcome: it fills the window.
	if again := c.Check(t.Context(), host, []netip.Addr{addr1})[0]; !again.Cached || again.Detail != "timeout" {
		t.Errorf("second call: %+v, want the cached timeout", again)
	}
}

func TestSummary(t *testing.T) {
	sum := strings.Repeat("ab12", 16)
	at := t0.Add(400 * time.Millisecond)
	tests := []struct {
		r    recheck.Result
		want string
	}{
		{recheck.Result{CheckedAt: at, Confirmed: true, Trusted: true, CertSHA256: sum},
			"confirmed at 2026-11-25T10:00:00Z (certificate SHA-256 " + sum + ")"},
		{recheck.Result{CheckedAt: at.In(time.FixedZone("CET", 3600)), Confirmed: true, CertSHA256: sum, Detail: "certificate not trusted: x509"},
			"confirmed at 2026-11-25T10:00:00Z (certificate SHA-256 " + sum + ", not trusted)"},
		{recheck.Result{CheckedAt: at, CertSHA256: sum, Detail: "certificate not valid for host"},
			"not confirmed at 2026-11-25T10:00:00Z: certificate not valid for host"},
		{recheck.Result{CheckedAt: at, Detail: "timeout"},
			"not confirmed at 2026-11-25T10:00:00Z: timeout"},
	}
	for _, tt := range tests {
		if got := tt.r.Summary(); got != tt.want {
			t.Errorf("Summary() = %q, want %q", got, tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name  string
		cfg   recheck.Config
		field string // "" for valid
	}{
		{"zero config takes defaults", recheck.Config{}, ""},
		{"port above range", recheck.Config{Port: 70000}, "Port 70000"},
		{"negative port", recheck.Config{Port: -1}, "Port -1"},
		{"negative timeout", recheck.Config{Timeout: -time.Second}, "Timeout -1s"},
		{"negative concurrency", recheck.Config{Concurrency: -2}, "Concurrency -2"},
		{"negative window", recheck.Config{Window: -1}, "Window -1ns"},
		{"negative max entries", recheck.Config{MaxEntries: -5}, "MaxEntries -5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := recheck.New(tt.cfg)
			if tt.field == "" {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, recheck.ErrConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("New: %v, want ErrConfig naming %q", err, tt.field)
			}
		})
	}
}
