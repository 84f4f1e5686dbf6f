package calltoken_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/calltoken/kvreplay"
	"github.com/headsup-dev/headsup/internal/directory"
)

const bucket = "headsup-calls"

// startNATS starts a JetStream server on a random loopback port and shuts
// it down when the test ends (tests may shut it down earlier).
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return ns
}

// connect returns a JetStream context on its own connection, as each hub
// replica has.
func connect(t *testing.T, ns *server.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func kvStore(t *testing.T, js jetstream.JetStream) *kvreplay.Store {
	t.Helper()
	s, err := kvreplay.Open(t.Context(), js, bucket, 0)
	if err != nil {
		t.Fatalf("kvreplay.Open: %v", err)
	}
	return s
}

func kvVerifier(t *testing.T, store calltoken.ReplayStore, dir *directory.Directory) *calltoken.Verifier {
	t.Helper()
	cfg := calltoken.DefaultVerifierConfig(hubA, func() *directory.Directory { return dir }, store)
	cfg.Leeway = leeway
	cfg.Now = func() time.Time { return t0 }
	cfg.ReplayTimeout = 500 * time.Millisecond
	v, err := calltoken.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestKVReplayAcrossReplicas: a jti accepted by one replica is refused by
// the same one and by a second replica sharing the bucket.
func TestKVReplayAcrossReplicas(t *testing.T) {
	ns := startNATS(t)
	dir := testDirectory(t, true)
	v1 := kvVerifier(t, kvStore(t, connect(t, ns)), dir)
	v2 := kvVerifier(t, kvStore(t, connect(t, ns)), dir)

	tok := goodToken("shared").sign(t)
	if _, _, err := v1.Verify(t.Context(), tok, subscribe); err != nil {
		t.Fatalf("replica 1, first use: %v", err)
	}
	_, _, err := v1.Verify(t.Context(), tok, subscribe)
	checkOneSentinel(t, err, calltoken.ErrReplayed)
	_, _, err = v2.Verify(t.Context(), tok, subscribe)
	checkOneSentinel(t, err, calltoken.ErrReplayed)

	// A fresh token is fine on the second replica.
	if _, _, err := v2.Verify(t.Context(), goodToken("fresh").sign(t), subscribe); err != nil {
		t.Fatalf("replica 2, fresh token: %v", err)
	}
}

// TestKVReplayStoreUnreachable: with the server gone, calls fail closed
// with ErrReplayStoreUnavailable, never accepted.
func TestKVReplayStoreUnreachable(t *testing.T) {
	ns := startNATS(t)
	v := kvVerifier(t, kvStore(t, connect(t, ns)), testDirectory(t, true))
	ns.Shutdown()
	ns.WaitForShutdown()
	_, _, err := v.Verify(t.Context(), goodToken("j").sign(t), subscribe)
	checkOneSentinel(t, err, calltoken.ErrReplayStoreUnavailable)
}

func TestKVReplayBucket(t *testing.T) {
	ns := startNATS(t)
	js := connect(t, ns)
	ctx := t.Context()

	if _, err := kvreplay.Open(ctx, js, bucket, time.Minute); err == nil {
		t.Fatal("accepted a TTL below MinReplayTTL")
	}
	s := kvStore(t, js)
	if s.TTL() != kvreplay.DefaultTTL {
		t.Fatalf("TTL %s, want %s", s.TTL(), kvreplay.DefaultTTL)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config; cfg.Storage != jetstream.FileStorage ||
		cfg.MaxMsgsPerSubject != 1 || cfg.MaxBytes > 0 || cfg.MaxMsgs > 0 || cfg.MaxAge != kvreplay.DefaultTTL {
		t.Fatalf("bucket config %+v", cfg)
	}
	// Opening again (another replica) accepts the same bucket; a longer
	// existing TTL is kept.
	if _, err := kvreplay.Open(ctx, js, bucket, 20*time.Minute); err != nil {
		t.Fatalf("reopen with another TTL: %v", err)
	}

	if err := s.Remember(ctx, "k1", calltoken.MinReplayTTL); err != nil {
		t.Fatal(err)
	}
	if err := s.Remember(ctx, "k1", calltoken.MinReplayTTL); !errors.Is(err, calltoken.ErrReplayed) {
		t.Fatalf("second Remember: %v, want ErrReplayed", err)
	}
	if err := s.Remember(ctx, "k2", s.TTL()+time.Second); err == nil || errors.Is(err, calltoken.ErrReplayed) {
		t.Fatalf("entry longer than the bucket: %v, want a store error", err)
	}

	// Buckets that would forget entries too soon, or never, are refused.
	for name, cfg := range map[string]jetstream.KeyValueConfig{
		"short TTL": {Bucket: "short", TTL: time.Minute, History: 1},
		"no TTL":    {Bucket: "forever", History: 1},
	} {
		if _, err := js.CreateKeyValue(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := kvreplay.Open(ctx, js, cfg.Bucket, 0); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestKVRememberConcurrent: of many replicas racing to spend one jti,
// exactly one wins.
func TestKVRememberConcurrent(t *testing.T) {
	ns := startNATS(t)
	const n = 8
	stores := make([]*kvreplay.Store, n)
	for i := range stores {
		stores[i] = kvStore(t, connect(t, ns))
	}
	errs := make(chan error, n)
	for _, s := range stores {
		go func() { errs <- s.Remember(context.Background(), "race", time.Minute) }()
	}
	var won int
	for range n {
		err := <-errs
		switch {
		case err == nil:
			won++
		case !errors.Is(err, calltoken.ErrReplayed):
			t.Errorf("Remember: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d replicas accepted the jti, want 1", won)
	}
}
