package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/sink"
)

const secret = "0123456789abcdef0123456789abcdef"

// events reads the schema's example events: one alert's life at the desk.
func events(t *testing.T, names ...string) []*alert.Event {
	t.Helper()
	var out []*alert.Event
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("..", "..", "internal", "alert", "testdata", "events", n+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var e alert.Event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, &e)
	}
	return out
}

// receiver starts the handler on loopback and returns the real webhook
// sink of the agent pointed at it, with the given secret and clock skew.
func receiver(t *testing.T, store *Store) *httptest.Server {
	t.Helper()
	h := &Handler{Store: store, Secret: []byte(secret), Tolerance: 5 * time.Minute, Now: time.Now, Log: log.New(io.Discard, "", 0)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func webhook(url, key string, skew time.Duration) sink.Sink {
	return sink.NewWebhook(sink.WebhookConfig{URL: url, Secret: []byte(key), Now: func() time.Time { return time.Now().Add(skew) }})
}

// TestOneTicketPerGroup: the agent's real webhook sink delivers an alert's
// life; the receiver keeps one ticket, drops duplicates and older
// revisions, and follows triage and withdrawal.
func TestOneTicketPerGroup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tickets.json")
	store, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := receiver(t, store)
	w := webhook(srv.URL, secret, 0)
	ctx := context.Background()
	evs := events(t, "match-raised", "match-updated", "match-acked", "match-suppressed", "match-unsuppressed")
	group := evs[0].GroupKey
	deliver := func(e *alert.Event) {
		t.Helper()
		if err := w.Deliver(ctx, e, nil); err != nil {
			t.Fatalf("deliver %s revision %d: %v", e.Event, e.Revision, err)
		}
	}
	status := func(want string) Ticket {
		t.Helper()
		tk, ok := store.Ticket(group)
		if !ok || tk.Status != want {
			t.Fatalf("ticket %+v, want status %s", tk, want)
		}
		return tk
	}
	deliver(evs[0])
	tk := status("open")
	if tk.Severity != "critical" || len(tk.Log) != 1 {
		t.Fatalf("after the raise: %+v", tk)
	}
	deliver(evs[1])
	deliver(evs[1]) // at least once: a duplicate
	deliver(evs[0]) // and an older revision
	if tk = status("open"); len(tk.Log) != 2 || tk.Alerts[evs[0].AlertID].Revision != 2 {
		t.Fatalf("duplicates were applied: %+v", tk)
	}
	deliver(evs[2])
	deliver(evs[3])
	status("silenced")
	deliver(evs[4])
	if tk = status("open"); tk.Log[len(tk.Log)-1][len(tk.Log[len(tk.Log)-1])-len("path strengthened from weak to strong"):] != "path strengthened from weak to strong" {
		t.Fatalf("log %v", tk.Log)
	}
	// Withdrawn at a later revision: the ticket closes.
	gone := *evs[4]
	gone.Event, gone.State, gone.Revision, gone.Paths, gone.Strength, gone.Desk = alert.EventWithdrawn, alert.StateWithdrawn, 7, nil, "", nil
	gone.Withdrawn = &alert.Withdrawal{Reason: alert.WithdrawRetracted}
	deliver(&gone)
	status("closed")

	// A second alert about the same subject for the same customer (another
	// root) joins the same ticket and opens it again.
	other := *evs[0]
	other.AlertID = alert.ID("voxhost", "c-1042", "researchorg", "01957c00-0000-7000-8000-000000000001")
	deliver(&other)
	if tk = status("open"); len(tk.Alerts) != 2 {
		t.Fatalf("alerts in the ticket: %v", tk.Alerts)
	}

	// The file holds what the store holds.
	again, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if tk2, ok := again.Ticket(group); !ok || tk2.Status != "open" || len(tk2.Log) != len(tk.Log) {
		t.Fatalf("reopened: %+v", tk2)
	}
}

// TestRefusesForgedAndStale: a wrong secret, a replay from long ago, and a
// body changed in transit are refused (401, which the agent does not
// retry), and change nothing.
func TestRefusesForgedAndStale(t *testing.T) {
	store, err := Open(filepath.Join(t.TempDir(), "tickets.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := receiver(t, store)
	e := events(t, "match-raised")[0]
	ctx := context.Background()
	for name, w := range map[string]sink.Sink{
		"wrong secret": webhook(srv.URL, "another-secret-of-32-bytes-long!", 0),
		"stale":        webhook(srv.URL, secret, -10*time.Minute),
		"future":       webhook(srv.URL, secret, 10*time.Minute),
	} {
		if err := w.Deliver(ctx, e, nil); !errors.Is(err, sink.ErrPermanent) {
			t.Errorf("%s: Deliver = %v, want a permanent refusal", name, err)
		}
	}
	if _, ok := store.Ticket(e.GroupKey); ok {
		t.Fatal("a refused delivery made a ticket")
	}
	now := time.Now()
	body, _ := json.Marshal(e)
	header := sink.SignatureHeaderValue([]byte(secret), now, body)
	for name, c := range map[string]struct {
		header string
		body   []byte
		want   error
	}{
		"valid":            {header, body, nil},
		"body changed":     {header, append([]byte(" "), body...), errMismatch},
		"no header":        {"", body, errMalformed},
		"no mac":           {"t=1", body, errMalformed},
		"short mac":        {"t=1,v1=abcd", body, errMalformed},
		"rotation":         {header + ",v1=" + "00000000000000000000000000000000000000000000000000000000000000ff", body, nil},
		"stale":            {sink.SignatureHeaderValue([]byte(secret), now.Add(-time.Hour), body), body, errStale},
		"header too large": {header + "," + string(make([]byte, 2000)), body, errMalformed},
	} {
		if err := verify(c.header, c.body, []byte(secret), now, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: verify = %v, want %v", name, err, c.want)
		}
	}
}
