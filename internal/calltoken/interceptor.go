package calltoken

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/headsup-dev/headsup/internal/directory"
)

// Caller is who makes a call, as its token or its mTLS client key proved.
type Caller struct {
	// Member is the calling member, from the directory the credential was
	// verified against.
	Member *directory.Member
	// KeyID is the kid of the call key that signed the token, empty when
	// the call was authenticated by mTLS alone; the hub uses it to end a
	// stream when that key is revoked.
	KeyID string
	// ExpiresAt is the token's exp; zero for mTLS alone.
	ExpiresAt time.Time
	// TLSPin is the SPKI pin of the client's certificate, when the
	// connection presented one (then it is pinned by Member).
	TLSPin [sha256.Size]byte
	// ViaTLS says TLSPin is set.
	ViaTLS bool
}

// StillAllowed checks the caller's credential against dir, a directory
// now in force, at now: its call key still the member's and valid, or its
// TLS key still pinned by the member. An open stream calls it
// periodically, so that revocation ends it.
func (c *Caller) StillAllowed(dir *directory.Directory, now time.Time) (*directory.Member, error) {
	var member *directory.Member
	if c.ViaTLS {
		m, ok := dir.MemberByTLSPin(c.TLSPin)
		if !ok || m.ID != c.Member.ID {
			return nil, fmt.Errorf("%w: the TLS client key of %q is no longer pinned in directory serial %d", ErrUnpinned, c.Member.ID, dir.Serial)
		}
		member = m
	}
	if c.KeyID != "" {
		m, key, ok := dir.Key(c.KeyID)
		switch {
		case !ok || m.ID != c.Member.ID:
			return nil, fmt.Errorf("%w: key %s of %q is no longer in the directory", ErrUnknownKey, c.KeyID, c.Member.ID)
		case key.ValidAt(now) != nil:
			return nil, fmt.Errorf("%w: key %s of %q: %w", ErrKeyNotValid, c.KeyID, m.ID, key.ValidAt(now))
		}
		member = m
	}
	if member == nil {
		return nil, fmt.Errorf("%w: caller %q has neither a call key nor a TLS pin", ErrMissing, c.Member.ID)
	}
	return member, nil
}

type callerKey struct{}

// CallerFrom returns the caller the interceptors put in ctx.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok
}

// UnaryInterceptor verifies the call token of every unary call and puts
// the Caller in the handler's context. toStatus turns a failure into the
// status the client sees; the hub passes its one mapping function, which
// maps this package's sentinels as doc.go lists. It must not be nil.
func UnaryInterceptor(v *Verifier, toStatus func(error) error) grpc.UnaryServerInterceptor {
	if toStatus == nil {
		panic("calltoken.UnaryInterceptor: nil toStatus")
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := v.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, toStatus(err)
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor is UnaryInterceptor for streams: the token is checked
// once, when the stream opens.
func StreamInterceptor(v *Verifier, toStatus func(error) error) grpc.StreamServerInterceptor {
	if toStatus == nil {
		panic("calltoken.StreamInterceptor: nil toStatus")
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := v.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return toStatus(err)
		}
		return handler(srv, &callerStream{ServerStream: ss, ctx: ctx})
	}
}

type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *callerStream) Context() context.Context { return s.ctx }

// authenticate verifies the call's credentials and returns ctx with the
// Caller. A call proves its member with a token, with a pinned mTLS client
// key, or with both; both must then name the same member, since a proxy
// and a client could otherwise each believe another identity. The pin is
// looked up in the directory in force at every call, so removing it stops
// the next call on a connection made before (and the TLS layer refuses
// new and resumed handshakes with it, see transport.ServerConfig).
func (v *Verifier) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	pin, viaTLS := peerPin(ctx)
	var caller *Caller
	if viaTLS {
		dir := v.cfg.Directory()
		if dir == nil {
			return nil, fmt.Errorf("%w: cannot look up the TLS client key", ErrNoDirectory)
		}
		m, ok := dir.MemberByTLSPin(pin)
		if !ok && v.cfg.Refresh != nil {
			if dir = v.cfg.Refresh(); dir != nil {
				m, ok = dir.MemberByTLSPin(pin)
			}
		}
		if !ok {
			return nil, fmt.Errorf("%w: TLS client key %x is pinned by no member of directory serial %d", ErrUnpinned, pin, dir.Serial)
		}
		caller = &Caller{Member: m, TLSPin: pin, ViaTLS: true}
		if len(vals) == 0 {
			return context.WithValue(ctx, callerKey{}, caller), nil
		}
	}
	tok, err := bearer(vals)
	if err != nil {
		return nil, err
	}
	claims, member, err := v.Verify(ctx, tok, fullMethod)
	if err != nil {
		return nil, err
	}
	if caller != nil && caller.Member.ID != member.ID {
		return nil, fmt.Errorf("%w: the call token speaks for %q, the TLS client key for %q", ErrIdentitiesDisagree, member.ID, caller.Member.ID)
	}
	if caller == nil {
		caller = &Caller{}
	}
	caller.Member, caller.KeyID, caller.ExpiresAt = member, claims.KeyID, claims.ExpiresAt
	return context.WithValue(ctx, callerKey{}, caller), nil
}

// peerPin returns the SPKI pin of the client certificate the call's TLS
// connection presented, if any.
func peerPin(ctx context.Context) ([sha256.Size]byte, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return [sha256.Size]byte{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256(info.State.PeerCertificates[0].RawSubjectPublicKeyInfo), true
}

// VerifyPinnedClient returns the check the hub's TLS layer runs on every
// client certificate (transport.ServerConfig.VerifyClient): its key must
// be pinned by a member of the directory in force.
func VerifyPinnedClient(dir func() *directory.Directory) func(*x509.Certificate) error {
	return func(cert *x509.Certificate) error {
		d := dir()
		if d == nil {
			return fmt.Errorf("%w: no directory of members loaded", ErrNoDirectory)
		}
		pin := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
		if _, ok := d.MemberByTLSPin(pin); !ok {
			return fmt.Errorf("%w: TLS client key %x is pinned by no member of directory serial %d", ErrUnpinned, pin, d.Serial)
		}
		return nil
	}
}

// bearer takes the token out of the authorization values: exactly one,
// "Bearer <token>" (the scheme is case-insensitive, RFC 9110 §11.1). Two
// values are refused rather than one picked, since a proxy and a client
// could each pick another.
func bearer(vals []string) (string, error) {
	switch len(vals) {
	case 0:
		return "", fmt.Errorf("%w: no authorization metadata", ErrMissing)
	case 1:
	default:
		return "", fmt.Errorf("%w: %d authorization values", ErrTwoCredentials, len(vals))
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", fmt.Errorf("%w: authorization: want \"Bearer <token>\"", ErrMalformed)
	}
	return tok, nil
}
