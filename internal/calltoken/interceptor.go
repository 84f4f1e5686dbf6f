package calltoken

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/headsup-dev/headsup/internal/directory"
)

// Caller is who makes a call, as its token proved.
type Caller struct {
	// Member is the calling member, from the directory the token was
	// verified against.
	Member *directory.Member
	// KeyID is the kid of the call key that signed the token; the hub
	// uses it to end a stream when that key is revoked.
	KeyID string
	// ExpiresAt is the token's exp.
	ExpiresAt time.Time
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

// authenticate verifies the call's token and returns ctx with the Caller.
func (v *Verifier) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	tok, err := bearer(md.Get("authorization"))
	if err != nil {
		return nil, err
	}
	claims, member, err := v.Verify(ctx, tok, fullMethod)
	if err != nil {
		return nil, err
	}
	return context.WithValue(ctx, callerKey{}, &Caller{Member: member, KeyID: claims.KeyID, ExpiresAt: claims.ExpiresAt}), nil
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
