package calltoken

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"google.golang.org/grpc/credentials"
)

// Credentials are gRPC per-RPC credentials that mint a fresh token for
// every call, bound to the call's full method, and send it as
// "authorization: Bearer <token>". They implement
// credentials.PerRPCCredentials.
type Credentials struct {
	key              ed25519.PrivateKey
	member, audience string
	lifetime         time.Duration
	now              func() time.Time
	insecureLoopback bool
}

var _ credentials.PerRPCCredentials = (*Credentials)(nil)

// Option configures Credentials.
type Option func(*Credentials)

// WithLifetime sets the tokens' lifetime (default DefaultLifetime; 1 s to
// MaxLifetime).
func WithLifetime(d time.Duration) Option { return func(c *Credentials) { c.lifetime = d } }

// WithClock sets the clock that stamps iat (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *Credentials) { c.now = now } }

// AllowInsecureLoopback lets the credentials travel over a connection
// without transport security, but only to a loopback address: for local
// development, where the hub listens on 127.0.0.1 without TLS. A token sent
// in clear elsewhere could be read and, before its first use, spent by
// whoever read it.
func AllowInsecureLoopback() Option { return func(c *Credentials) { c.insecureLoopback = true } }

// NewCredentials returns credentials for member, whose call key is key,
// for the hub whose origin is audience.
func NewCredentials(key ed25519.PrivateKey, member, audience string, opts ...Option) (*Credentials, error) {
	c := &Credentials{key: key, member: member, audience: audience, lifetime: DefaultLifetime, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	// Mint once now, so a bad key, member, audience or lifetime shows at
	// start-up rather than on the first call.
	if _, err := Mint(c.key, c.member, c.audience, "/check.Credentials/New", c.now(), c.lifetime); err != nil {
		return nil, fmt.Errorf("call credentials: %w", err)
	}
	return c, nil
}

// GetRequestMetadata mints the token for this call. gRPC puts the call's
// full method in the context's RequestInfo; uri is the call's
// "https://<authority>/<service>", used only to check for loopback.
func (c *Credentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok || ri.Method == "" {
		return nil, errors.New("call credentials: no method in the request context")
	}
	if c.insecureLoopback && credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity) != nil {
		if len(uri) == 0 || !loopbackURI(uri[0]) {
			return nil, fmt.Errorf("call credentials: refusing to send a token in clear to %q: only loopback addresses may go without TLS", uri)
		}
	}
	tok, err := Mint(c.key, c.member, c.audience, ri.Method, c.now(), c.lifetime)
	if err != nil {
		return nil, fmt.Errorf("call credentials: %w", err)
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// RequireTransportSecurity is true unless AllowInsecureLoopback was given.
func (c *Credentials) RequireTransportSecurity() bool { return !c.insecureLoopback }

// loopbackURI reports whether u names localhost or a loopback address.
func loopbackURI(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	host := p.Hostname()
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
