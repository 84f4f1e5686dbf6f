// Package kvreplay keeps the call tokens already used in a JetStream
// key-value bucket shared by every hub replica, so a jti is accepted once
// across all of them (DESIGN.md, "Access").
//
// It is a package of its own so that the CLI and the agent, which import
// calltoken only to mint tokens, never link a NATS client.
package kvreplay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/headsup-dev/headsup/internal/calltoken"
)

var _ calltoken.ReplayStore = (*Store)(nil)

// DefaultTTL is the TTL Open gives a bucket it creates:
// calltoken.MinReplayTTL rounded up.
const DefaultTTL = 8 * time.Minute

// Store is a calltoken.ReplayStore in a JetStream key-value bucket, shared by
// every hub replica connected to the same JetStream, so a jti is accepted
// once across all of them.
//
// Every entry lives for the bucket's TTL (its stream's MaxAge), which is at
// least calltoken.MinReplayTTL and so at least the TTL any Verifier asks for.
// Per-key TTLs (jetstream.KeyTTL) are not used: they need the bucket's
// LimitMarkerTTL and would only let entries go sooner. Entries are never
// evicted early: the bucket has no size or count limit that discards old
// entries (KV buckets discard new writes when full, which fails calls
// closed), and nothing deletes or purges keys.
type Store struct {
	kv  jetstream.KeyValue
	ttl time.Duration
}

// Open opens the bucket, creating it with TTL ttl (0 means
// DefaultTTL; less than calltoken.MinReplayTTL is refused), file storage and
// history 1 when it does not exist. An existing bucket is used as it is
// (an operator may have made it R3) after checking that it keeps entries
// long enough and never evicts them early; its own TTL then applies.
func Open(ctx context.Context, js jetstream.JetStream, bucket string, ttl time.Duration) (*Store, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < calltoken.MinReplayTTL {
		return nil, fmt.Errorf("replay bucket %s: TTL %s is below the minimum %s (a token could be replayed after its entry expired)", bucket, ttl, calltoken.MinReplayTTL)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "headsup call tokens already used (jti replay store)",
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		History:     1,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		// It exists with another configuration: use it if it is safe.
		kv, err = js.KeyValue(ctx, bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("replay bucket %s: %w", bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("replay bucket %s: status: %w", bucket, err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return nil, fmt.Errorf("replay bucket %s: unexpected status type %T", bucket, st)
	}
	cfg := bs.StreamInfo().Config
	switch {
	case cfg.MaxAge == 0:
		return nil, fmt.Errorf("replay bucket %s: no TTL, so it would grow forever; want at least %s", bucket, calltoken.MinReplayTTL)
	case cfg.MaxAge < calltoken.MinReplayTTL:
		return nil, fmt.Errorf("replay bucket %s: TTL %s is below the minimum %s (a token could be replayed after its entry expired)", bucket, cfg.MaxAge, calltoken.MinReplayTTL)
	case cfg.Discard != jetstream.DiscardNew && (cfg.MaxBytes > 0 || cfg.MaxMsgs > 0):
		return nil, fmt.Errorf("replay bucket %s: limits (max_bytes %d, max_msgs %d) with discard old would evict live entries", bucket, cfg.MaxBytes, cfg.MaxMsgs)
	}
	return &Store{kv: kv, ttl: cfg.MaxAge}, nil
}

// TTL is how long the bucket keeps each entry.
func (s *Store) TTL() time.Duration { return s.ttl }

// Remember creates key atomically (Create fails when the key exists, on
// every replica alike). A ttl longer than the bucket's is refused rather
// than stored to be evicted early.
func (s *Store) Remember(ctx context.Context, key string, ttl time.Duration) error {
	if ttl > s.ttl {
		return fmt.Errorf("replay entry TTL %s exceeds the bucket's %s", ttl, s.ttl)
	}
	_, err := s.kv.Create(ctx, key, []byte{'1'})
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%w: key %s", calltoken.ErrReplayed, key)
	}
	if err != nil {
		return fmt.Errorf("replay bucket %s: create %s: %w", s.kv.Bucket(), key, err)
	}
	return nil
}
