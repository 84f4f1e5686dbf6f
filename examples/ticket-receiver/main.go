// Command ticket-receiver is an example receiver of the headsup-agent
// webhook sink: it keeps one ticket per group_key (the alerts about one
// subject for one customer) in a JSON file, and shows what any receiver
// must do:
//
//   - check the Headsup-Signature header before reading anything else:
//     "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>", with
//     t within a tolerance of its own clock (a replay of an old delivery
//     fails), and every v1 tried (two appear while a secret rotates);
//   - upsert on (alert_id, revision): delivery is at least once, so a
//     revision at or below the one it holds for an alert is a duplicate,
//     answered 200 and dropped;
//   - treat an event for an alert it does not know as new, whatever it
//     says ("updated", "unsuppressed"): a sink filter may have held back
//     earlier revisions.
//
// It uses the standard library only, so it can be copied out of this
// repository. Run it with the secret the agent's sink has:
//
//	HEADSUP_WEBHOOK_SECRET=... ticket-receiver -listen 127.0.0.1:8088 -store tickets.json
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBody bounds a delivery: an alert event is at most 1 MiB.
const maxBody = 1 << 20

// Errors of verify; each is answered 401.
var (
	errMalformed = errors.New("malformed Headsup-Signature")
	errMismatch  = errors.New("signature does not verify")
	errStale     = errors.New("signature timestamp outside tolerance")
)

// verify checks a Headsup-Signature header for body.
func verify(header string, body, secret []byte, now time.Time, tolerance time.Duration) error {
	if len(header) > 1024 {
		return errMalformed
	}
	var ts string
	var macs [][]byte
	for _, el := range strings.Split(strings.TrimSpace(header), ",") {
		k, v, ok := strings.Cut(el, "=")
		if !ok {
			return errMalformed
		}
		switch k {
		case "t":
			if ts != "" {
				return errMalformed
			}
			ts = v
		case "v1":
			m, err := hex.DecodeString(v)
			if err != nil || len(m) != sha256.Size {
				return errMalformed
			}
			macs = append(macs, m)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(macs) == 0 {
		return errMalformed
	}
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts + "."))
	h.Write(body)
	want := h.Sum(nil)
	ok := false
	for _, m := range macs {
		ok = hmac.Equal(m, want) || ok
	}
	if !ok {
		return errMismatch
	}
	// Checked after the MAC, so the time compared is the sender's.
	if skew := now.Sub(time.Unix(sec, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: %s", errStale, skew.Round(time.Second))
	}
	return nil
}

// event is what the receiver reads of a headsup.alert.v1 event.
type event struct {
	Schema   string    `json:"schema"`
	Event    string    `json:"event"`
	State    string    `json:"state"`
	AlertID  string    `json:"alert_id"`
	Revision uint64    `json:"revision"`
	GroupKey string    `json:"group_key"`
	At       time.Time `json:"at"`
	Headline string    `json:"headline"`
	Severity string    `json:"severity"`
	Customer *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"customer"`
	Desk *struct {
		Acked *struct {
			By   string `json:"by"`
			Note string `json:"note"`
		} `json:"acked"`
		Suppressed   *struct{ ID uint64 } `json:"suppressed"`
		Unsuppressed *struct {
			Why string `json:"why"`
		} `json:"unsuppressed"`
	} `json:"desk"`
}

// Ticket is one case for the desk: every alert about one subject for one
// customer.
type Ticket struct {
	GroupKey string `json:"group_key"`
	// Status is open (an active alert that is not suppressed), silenced
	// (every active alert suppressed) or closed (every alert withdrawn).
	Status   string `json:"status"`
	Severity string `json:"severity"` // the highest of its active alerts
	Customer string `json:"customer,omitempty"`
	Headline string `json:"headline"` // the latest
	// Alerts holds each alert's latest revision: the upsert key.
	Alerts  map[string]AlertState `json:"alerts"`
	Log     []string              `json:"log"`
	Updated time.Time             `json:"updated"`
}

// AlertState is what a ticket keeps of one alert.
type AlertState struct {
	Revision   uint64 `json:"revision"`
	Event      string `json:"event"`
	State      string `json:"state"`
	Severity   string `json:"severity"`
	Suppressed bool   `json:"suppressed"`
}

// Store keeps the tickets in a JSON file, rewritten whole (write to a
// temporary file, rename) after every change.
type Store struct {
	mu      sync.Mutex
	path    string
	Tickets map[string]*Ticket `json:"tickets"`
}

// Open reads path, or starts empty when it does not exist.
func Open(path string) (*Store, error) {
	s := &Store{path: path, Tickets: map[string]*Ticket{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

var severityRank = map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}

// Upsert applies one event; it reports false for a duplicate or an older
// revision, which changes nothing.
func (s *Store) Upsert(e event) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.Tickets[e.GroupKey]
	if t == nil {
		t = &Ticket{GroupKey: e.GroupKey, Alerts: map[string]AlertState{}}
		s.Tickets[e.GroupKey] = t
	}
	if have, ok := t.Alerts[e.AlertID]; ok && have.Revision >= e.Revision {
		return false, nil
	}
	state := e.State
	if state == "" && e.Event == "withdrawn" {
		state = "withdrawn"
	} else if state == "" {
		state = "active"
	}
	t.Alerts[e.AlertID] = AlertState{Revision: e.Revision, Event: e.Event, State: state, Severity: e.Severity,
		Suppressed: e.Desk != nil && e.Desk.Suppressed != nil}
	if e.Customer != nil {
		t.Customer = e.Customer.Name + " (" + e.Customer.ID + ")"
	}
	t.Headline, t.Updated = e.Headline, e.At
	line := fmt.Sprintf("%s %s %s revision %d", e.At.UTC().Format(time.RFC3339), e.AlertID[:12], e.Event, e.Revision)
	if e.Desk != nil && e.Event == "acked" && e.Desk.Acked != nil {
		line += " by " + e.Desk.Acked.By
	}
	if e.Desk != nil && e.Desk.Unsuppressed != nil {
		line += ": " + e.Desk.Unsuppressed.Why
	}
	t.Log = append(t.Log, line)
	t.Status, t.Severity = "closed", ""
	silenced := false
	for _, a := range t.Alerts {
		if a.State != "active" {
			continue
		}
		if severityRank[a.Severity] > severityRank[t.Severity] {
			t.Severity = a.Severity
		}
		if a.Suppressed {
			silenced = true
		} else {
			t.Status = "open"
		}
	}
	if t.Status == "closed" && silenced {
		t.Status = "silenced"
	}
	return true, s.save()
}

func (s *Store) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".tickets-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}

// Ticket returns a copy of the ticket for group, if any.
func (s *Store) Ticket(group string) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.Tickets[group]
	if !ok {
		return Ticket{}, false
	}
	c := *t
	c.Log = slices.Clone(t.Log)
	return c, true
}

// Handler receives deliveries.
type Handler struct {
	Store     *Store
	Secret    []byte
	Tolerance time.Duration
	Now       func() time.Time
	Log       *log.Logger
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := verify(r.Header.Get("Headsup-Signature"), body, h.Secret, h.Now(), h.Tolerance); err != nil {
		h.Log.Printf("refused: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var e event
	if err := json.Unmarshal(body, &e); err != nil || e.Schema != "headsup.alert.v1" || len(e.AlertID) < 12 || e.GroupKey == "" || e.Revision == 0 {
		// 4xx: the agent will not retry the same bytes.
		http.Error(w, "not a headsup.alert.v1 event", http.StatusBadRequest)
		return
	}
	changed, err := h.Store.Upsert(e)
	if err != nil {
		// 5xx: the agent retries later, with backoff.
		h.Log.Printf("store: %v", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	if !changed {
		h.Log.Printf("duplicate %s revision %d", e.AlertID, e.Revision)
	}
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8088", "address to listen on")
	path := flag.String("store", "tickets.json", "the ticket file")
	tolerance := flag.Duration("tolerance", 5*time.Minute, "how far a signature's time may be from this clock")
	flag.Parse()
	secret := os.Getenv("HEADSUP_WEBHOOK_SECRET")
	if len(secret) < 16 {
		log.Fatal("HEADSUP_WEBHOOK_SECRET: set it to the webhook sink's secret (at least 16 bytes)")
	}
	store, err := Open(*path)
	if err != nil {
		log.Fatal(err)
	}
	h := &Handler{Store: store, Secret: []byte(secret), Tolerance: *tolerance, Now: time.Now, Log: log.Default()}
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("receiving on %s, tickets in %s", *listen, *path)
	log.Fatal(srv.ListenAndServe())
}
