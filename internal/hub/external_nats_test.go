package hub_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/hub"
)

// TestExistingStreamWithOtherSettingsIsRefused: a hub never "updates" a
// stream whose settings differ from the required ones; it refuses to start
// naming each difference, and the stream is left as it was.
func TestExistingStreamWithOtherSettingsIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prepare  func(t *testing.T, ns *externalNATS, js jetstream.JetStream)
		replicas int
		want     string
	}{
		{
			name: "purgeable stream",
			prepare: func(t *testing.T, ns *externalNATS, js jetstream.JetStream) {
				_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
					Name: bus.StreamName, Subjects: []string{"headsup.notice.>", "headsup.directory.>"},
					MaxMsgsPerSubject: 1, DiscardNewPerSubject: true, Discard: jetstream.DiscardNew,
					MaxMsgSize: bus.MaxMsgSize, Storage: jetstream.FileStorage, DenyDelete: true,
				})
				if err != nil {
					t.Fatal(err)
				}
			},
			replicas: 1,
			want:     "deny_purge want true got false",
		},
		{
			// An R3 hub finds the R1 stream another hub created: it is
			// refused, not scaled up behind the operator's back.
			name: "other replica count",
			prepare: func(t *testing.T, ns *externalNATS, _ jetstream.JetStream) {
				h := startHub(t, t.TempDir(), filepath.Join(t.TempDir(), "directory.yaml"), func(c *hub.Config) { c.NATSURL = ns.url() })
				if err := h.stop(); err != nil {
					t.Fatal(err)
				}
			},
			replicas: 3,
			want:     "num_replicas want 3 got 1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := startExternalNATS(t, nil)
			nc, err := nats.Connect(ns.url())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, ns, js)
			before := streamConfig(t, js)

			cfg := hub.DefaultConfig()
			cfg.Listen, cfg.DataDir, cfg.NATSURL, cfg.Replicas = "127.0.0.1:0", t.TempDir(), ns.url(), tc.replicas
			_, stop, err := hub.Start(context.Background(), cfg)
			if err == nil {
				_ = stop()
				t.Fatal("hub started on a stream with other settings")
			}
			if !errors.Is(err, bus.ErrStreamConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("hub start: %v, want %v naming %q", err, bus.ErrStreamConfig, tc.want)
			}
			after := streamConfig(t, js)
			if after.DenyPurge != before.DenyPurge || after.Replicas != before.Replicas || after.MaxMsgSize != before.MaxMsgSize {
				t.Fatalf("the hub changed the stream: %+v, was %+v", after, before)
			}
		})
	}
}

func streamConfig(t *testing.T, js jetstream.JetStream) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(context.Background(), bus.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.Config
}

// TestLeastPrivilegeNATSUser runs a hub with call tokens as the NATS user
// of deploy/nats-accounts.conf, the permissions the README gives: it
// creates the stream and the replay bucket, stores, serves subscribers and
// remembers tokens; the same user cannot delete, update, purge, restore or
// delete messages of the stream or the bucket.
func TestLeastPrivilegeNATSUser(t *testing.T) {
	const password = "s3cret-for-tests"
	t.Setenv("HEADSUPD_NATS_PASSWORD", password)
	conf, err := server.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats-accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ns := startExternalNATS(t, func(o *server.Options) {
		o.Accounts, o.Users = conf.Accounts, conf.Users
	})

	const origin = "hub.test"
	dir := t.TempDir()
	edge := newMember(t, "edgeshield", directory.RolePublish, directory.RoleSubscribe)
	k, callKey, err := directory.NewKey(directory.UseCall)
	if err != nil {
		t.Fatal(err)
	}
	edge.dir.Keys = append(edge.dir.Keys, k)
	dirPath := filepath.Join(dir, "directory.yaml")
	writeDirectory(t, dirPath, 1, edge)
	metricsOn, metricsAddr := withMetrics(t)
	h := startHub(t, filepath.Join(dir, "state"), dirPath, metricsOn, func(c *hub.Config) {
		c.NATSURL, c.Origin = ns.url(), origin
		c.NATS = hub.NATSClient{User: "headsupd", Password: password}
	})
	creds, err := calltoken.NewCredentials(callKey, edge.id, origin, calltoken.AllowInsecureLoopback())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := headsupv1.NewHubServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var res *headsupv1.PublishResponse
	eventually(t, "publish with a call token", func() bool {
		res, err = client.Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, edge, suspended(t, edge.id, "perm.example"))})
		if err != nil && status.Code(err) != codes.FailedPrecondition { // the directory is loading
			t.Fatalf("publish: %v", err)
		}
		return err == nil
	})
	st, err := client.Subscribe(ctx, &headsupv1.SubscribeRequest{Start: &headsupv1.SubscribeRequest_AfterSequence{AfterSequence: res.Sequence - 1}})
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 2; n++ { // start, then the entry
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		if e := ev.GetEntry(); n == 1 && e.GetSequence() != res.Sequence {
			t.Fatalf("subscribe delivered %v, want the entry at %d", ev, res.Sequence)
		}
	}
	if _, err := h.client.Publish(ctx, &headsupv1.PublishRequest{Envelope: seal(t, edge, suspended(t, edge.id, "anon.example"))}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("anonymous publish: %v, want Unauthenticated", err)
	}
	mf := scrape(t, metricsAddr())
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"headsup_hub_verification_failures_total", []string{"stage=call", "error=missing"}},
		{"headsup_hub_publishes_total", []string{"result=refused", "code=Unauthenticated"}},
		{"headsup_hub_replay_store_checks_total", []string{"result=accepted"}},
		{"headsup_hub_replay_store_up", nil},
	} {
		if value(mf, c.name, c.labels...) < 1 {
			t.Errorf("%s%v is 0, want at least 1", c.name, c.labels)
		}
	}

	// The hub's own NATS user is refused what would rewrite history.
	violations := make(chan string, 16)
	nc, err := nats.Connect(ns.url(), nats.UserInfo("headsupd", password),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err.Error() }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	for _, stream := range []string{bus.StreamName, "KV_HEADSUP_CALLS"} {
		for _, api := range []string{"STREAM.DELETE", "STREAM.UPDATE", "STREAM.PURGE", "STREAM.MSG.DELETE", "STREAM.RESTORE"} {
			subj := "$JS.API." + api + "." + stream
			if err := nc.Publish(subj, []byte("{}")); err != nil {
				t.Fatal(err)
			}
			select {
			case v := <-violations:
				if !strings.Contains(v, "Permissions Violation") || !strings.Contains(v, subj) {
					t.Fatalf("publish to %s: %s, want a permissions violation for it", subj, v)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("publish to %s was not refused", subj)
			}
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, bus.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(ctx); err != nil || info.State.LastSeq < res.Sequence || info.State.Msgs != info.State.LastSeq {
		t.Fatalf("stream after the refused calls: %+v, %v", info, err)
	}
}

// TestLeastPrivilegeNATSUserKeepsTheSignedLog: with a log key the hub also
// appends directory versions and follows the stream for its Merkle tree;
// the permissions of deploy/nats-accounts.conf allow that too.
func TestLeastPrivilegeNATSUserKeepsTheSignedLog(t *testing.T) {
	const password = "s3cret-for-tests"
	t.Setenv("HEADSUPD_NATS_PASSWORD", password)
	conf, err := server.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats-accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ns := startExternalNATS(t, func(o *server.Options) { o.Accounts, o.Users = conf.Accounts, conf.Users })
	f := newLogFederation(t)
	h := f.start(t, filepath.Join(f.root, "data"), func(c *hub.Config) {
		c.NATSURL, c.NATS = ns.url(), hub.NATSClient{User: "headsupd", Password: password}
	})
	waitDirectory(t, h, f.edge.member)
	r, err := publish(t, h, seal(t, f.edge.member, suspended(t, f.edge.id, "signed.example")))
	if err != nil {
		t.Fatal(err)
	}
	if _, size, _ := f.latest(t, logClient(h), r.Sequence); size < r.Sequence {
		t.Fatalf("checkpoint of size %d, want at least %d", size, r.Sequence)
	}
}

// TestREADMEGivesTheTestedPermissions: every subject of the tested NATS
// permissions is in the README's Production section, so the snippet an
// operator copies does not drift from what TestLeastPrivilegeNATSUser ran.
func TestREADMEGivesTheTestedPermissions(t *testing.T) {
	conf, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nats-accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n## Production\n")
	section, _, _ = strings.Cut(section, "\n## ")
	subjects := regexp.MustCompile(`"([$_A-Za-z][^"\s]*)"`).FindAllStringSubmatch(string(conf), -1)
	if len(subjects) < 20 {
		t.Fatalf("found %d subjects in the permissions file", len(subjects))
	}
	for _, m := range subjects {
		if !strings.Contains(section, `"`+m[1]+`"`) {
			t.Errorf("README's Production section lacks %q", m[1])
		}
	}
}
