package recheck

import (
	"container/list"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/headsup-dev/headsup/internal/notice"
)

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config says how a [Checker] probes. A zero field takes its default from
// [DefaultConfig].
type Config struct {
	// Resolver answers whether the host still resolves to the address.
	// Default net.DefaultResolver.
	Resolver Resolver
	// DialContext opens the TCP connection. Default (&net.Dialer{}).DialContext.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Port is the TCP port of the TLS handshake. Default 443.
	Port int
	// Timeout bounds one attempt: resolve, dial and handshake together.
	// Default 5s.
	Timeout time.Duration
	// Concurrency is the most attempts in flight at once, across all
	// callers of one Checker. Default 4.
	Concurrency int
	// Window is the least time between two attempts for one (host,
	// address); a call inside it gets the remembered Result. Default 1h.
	Window time.Duration
	// MaxEntries bounds the remembered results; when full, the oldest is
	// forgotten (and may be tried again before its window ends). Default
	// 10000.
	MaxEntries int
	// RootCAs decide Result.Trusted; nil means the system roots.
	RootCAs *x509.CertPool
	// AllowPrivate lets the Checker dial loopback, private, link-local,
	// shared and unspecified addresses. Off by default, because the
	// addresses come from a notice and must not make the agent probe its
	// own internal network; tests turn it on.
	AllowPrivate bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults: port 443, 5s per attempt, 4 attempts
// at once, one attempt per hour per (host, address), 10,000 remembered
// results, system roots, public addresses only, the system resolver.
func DefaultConfig() Config {
	return Config{
		Resolver:    net.DefaultResolver,
		DialContext: (&net.Dialer{}).DialContext,
		Port:        443,
		Timeout:     5 * time.Second,
		Concurrency: 4,
		Window:      time.Hour,
		MaxEntries:  10000,
		Now:         time.Now,
	}
}

// Checker re-checks sightings. It is safe for concurrent use.
type Checker struct {
	cfg Config
	// sem holds one token per attempt in flight.
	sem chan struct{}

	mu       sync.Mutex
	inflight map[pair]*call
	done     map[pair]*list.Element // of *entry
	order    *list.List             // oldest result first
}

// pair is the unit of the window: one host at one address.
type pair struct {
	host string
	addr netip.Addr
}

// entry is a remembered result.
type entry struct {
	key pair
	res Result
}

// call is an attempt in flight; waiters block on done.
type call struct {
	done chan struct{}
	res  Result
	// kept reports whether res is an outcome of the probe. It is false when
	// the leader's context ended the attempt, and then waiters try again
	// instead of sharing a result that says nothing about the host.
	kept bool
	// waiters counts callers sharing this attempt (for tests).
	waiters int
}

// New returns a Checker for cfg, with defaults filled in. It fails when a
// field is out of range, naming the field and its value.
func New(cfg Config) (*Checker, error) {
	d := DefaultConfig()
	if cfg.Resolver == nil {
		cfg.Resolver = d.Resolver
	}
	if cfg.DialContext == nil {
		cfg.DialContext = d.DialContext
	}
	if cfg.Now == nil {
		cfg.Now = d.Now
	}
	checks := []struct {
		field string
		value int64
		show  any // the value as the user wrote it
		max   int64
		def   func()
	}{
		{"Port", int64(cfg.Port), cfg.Port, 65535, func() { cfg.Port = d.Port }},
		{"Timeout", int64(cfg.Timeout), cfg.Timeout, 0, func() { cfg.Timeout = d.Timeout }},
		{"Concurrency", int64(cfg.Concurrency), cfg.Concurrency, 0, func() { cfg.Concurrency = d.Concurrency }},
		{"Window", int64(cfg.Window), cfg.Window, 0, func() { cfg.Window = d.Window }},
		{"MaxEntries", int64(cfg.MaxEntries), cfg.MaxEntries, 0, func() { cfg.MaxEntries = d.MaxEntries }},
	}
	for _, c := range checks {
		switch {
		case c.value == 0:
			c.def()
		case c.value < 0:
			return nil, fmt.Errorf("recheck: config: %s %v is negative: %w", c.field, c.show, ErrConfig)
		case c.max > 0 && c.value > c.max:
			return nil, fmt.Errorf("recheck: config: %s %v is above %d: %w", c.field, c.show, c.max, ErrConfig)
		}
	}
	return &Checker{
		cfg:      cfg,
		sem:      make(chan struct{}, cfg.Concurrency),
		inflight: make(map[pair]*call),
		done:     make(map[pair]*list.Element),
		order:    list.New(),
	}, nil
}

// ErrConfig is wrapped by New's errors: a Config field is out of range.
var ErrConfig = errors.New("value out of range")

// Check re-checks host at each address and returns one Result per
// address, in the order of addrs. A probe that fails is a Result with
// Confirmed false and a Detail, never an error. When ctx ends, attempts
// still waiting for their turn end with Detail "canceled" and are not
// remembered.
func (c *Checker) Check(ctx context.Context, host string, addrs []netip.Addr) []Result {
	out := make([]Result, len(addrs))
	h, err := notice.Host(host)
	if err != nil {
		now := c.cfg.Now().UTC()
		for i, a := range addrs {
			out[i] = Result{Host: host, Address: a, CheckedAt: now, Detail: "host not valid: " + err.Error()}
		}
		return out
	}
	// A few workers per call, not one goroutine per address: a sighting
	// may list many addresses, and only Concurrency of them can be in
	// flight anyway.
	workers := min(len(addrs), c.cfg.Concurrency)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				out[i] = c.checkOne(ctx, h, addrs[i])
			}
		})
	}
	for i := range addrs {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// checkOne returns the remembered result for (host, addr), waits for an
// attempt already in flight, or makes the attempt itself.
func (c *Checker) checkOne(ctx context.Context, host string, addr netip.Addr) Result {
	addr = addr.Unmap()
	if reason := c.refuse(addr); reason != "" {
		return Result{Host: host, Address: addr, CheckedAt: c.cfg.Now().UTC(), Detail: reason}
	}
	key := pair{host, addr}
	for {
		c.mu.Lock()
		if r, ok := c.lookup(key); ok {
			c.mu.Unlock()
			return r
		}
		if cl, ok := c.inflight[key]; ok {
			cl.waiters++
			c.mu.Unlock()
			select {
			case <-cl.done:
			case <-ctx.Done():
				c.mu.Lock()
				cl.waiters--
				c.mu.Unlock()
				return canceled(host, addr, c.cfg.Now(), ctx.Err())
			}
			if cl.kept {
				r := cl.res
				r.Cached = true
				return r
			}
			// The leader gave up before an outcome; try again, perhaps
			// as the leader.
			continue
		}
		cl := &call{done: make(chan struct{})}
		c.inflight[key] = cl
		c.mu.Unlock()

		res, kept := c.attempt(ctx, host, addr)

		c.mu.Lock()
		delete(c.inflight, key)
		if kept {
			c.remember(key, res)
		}
		cl.res, cl.kept = res, kept
		c.mu.Unlock()
		close(cl.done)
		return res
	}
}

// attempt waits for a slot and probes. kept is false when ctx ended the
// attempt: that is no outcome of the host and must not fill the window.
func (c *Checker) attempt(ctx context.Context, host string, addr netip.Addr) (Result, bool) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return canceled(host, addr, c.cfg.Now(), ctx.Err()), false
	}
	defer func() { <-c.sem }()
	// The slot may have been granted in the same instant as ctx ended.
	if err := ctx.Err(); err != nil {
		return canceled(host, addr, c.cfg.Now(), err), false
	}
	res := c.probe(ctx, host, addr)
	if err := ctx.Err(); err != nil {
		return canceled(host, addr, c.cfg.Now(), err), false
	}
	return res, true
}

// lookup returns the remembered result for key if it is inside the
// window. c.mu must be held.
func (c *Checker) lookup(key pair) (Result, bool) {
	el, ok := c.done[key]
	if !ok {
		return Result{}, false
	}
	r := el.Value.(*entry).res
	if c.cfg.Now().Sub(r.CheckedAt) >= c.cfg.Window {
		return Result{}, false
	}
	r.Cached = true
	return r, true
}

// remember stores res for key, forgetting the oldest results beyond
// MaxEntries. c.mu must be held.
func (c *Checker) remember(key pair, res Result) {
	if el, ok := c.done[key]; ok {
		c.order.Remove(el)
	}
	c.done[key] = c.order.PushBack(&entry{key: key, res: res})
	for c.order.Len() > c.cfg.MaxEntries {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.done, oldest.Value.(*entry).key)
	}
}

// refuse returns why addr must not be dialled, or "".
func (c *Checker) refuse(addr netip.Addr) string {
	if !addr.IsValid() {
		return "address not valid"
	}
	if !c.cfg.AllowPrivate && internal(addr) {
		return "address not allowed"
	}
	return ""
}

// notPublic are ranges, beyond what netip's predicates cover, that reach
// a provider's own or nobody's network rather than a customer's server.
var notPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network" (RFC 791); 0.0.0.0 dials localhost
	netip.MustParsePrefix("100.64.0.0/10"), // shared address space (RFC 6598), carrier NAT inside a provider
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking (RFC 2544), often lab networks
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64 (RFC 6052): would reach any IPv4 address, private ones too
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// internal reports whether addr belongs to no customer on the Internet.
func internal(addr netip.Addr) bool {
	if addr.IsUnspecified() || addr.IsLoopback() || addr.IsPrivate() ||
		addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsInterfaceLocalMulticast() || addr.IsMulticast() {
		return true
	}
	for _, p := range notPublic {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// canceled is the result of an attempt the caller's context ended.
func canceled(host string, addr netip.Addr, now time.Time, err error) Result {
	return Result{Host: host, Address: addr, CheckedAt: now.UTC(), Detail: "canceled: " + err.Error()}
}
