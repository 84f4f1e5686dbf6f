package sink_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/sink"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// receiver is a desk's webhook endpoint on loopback: it verifies every
// request as a real receiver would and answers with the next scripted
// status.
type receiver struct {
	t  *testing.T
	mu sync.Mutex
	// script: status codes (and headers) to answer, in order; 200 after.
	script []func(w http.ResponseWriter)
	got    []request
}

type request struct {
	body           []byte
	idempotencyKey string
	contentType    string
	sigErr         error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.t.Errorf("read body: %v", err)
	}
	req := request{
		body:           body,
		idempotencyKey: r.Header.Get(sink.IdempotencyHeader),
		contentType:    r.Header.Get("Content-Type"),
		sigErr:         sink.VerifySignature(r.Header.Get(sink.SignatureHeader), body, secret, time.Now(), time.Minute),
	}
	if r.Method != http.MethodPost {
		rc.t.Errorf("method %s", r.Method)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, req)
	var answer func(http.ResponseWriter)
	if len(rc.script) > 0 {
		answer, rc.script = rc.script[0], rc.script[1:]
	}
	rc.mu.Unlock()
	if answer != nil {
		answer(w)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

func status(code int, header ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, http.StatusText(code))
	}
}

func startReceiver(t *testing.T, script ...func(http.ResponseWriter)) (*receiver, string) {
	t.Helper()
	rc := &receiver{t: t, script: script}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL + "/hooks/headsup?token=s3cret"
}

func TestWebhookDelivers(t *testing.T) {
	rc, url := startReceiver(t)
	s := sink.NewWebhook(sink.WebhookConfig{URL: url, Secret: secret})
	e := event(3)
	body := marshal(t, e)
	if err := s.Deliver(t.Context(), e, body); err != nil {
		t.Fatal(err)
	}
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	if r.sigErr != nil {
		t.Errorf("signature: %v", r.sigErr)
	}
	if want := e.AlertID + ":3"; r.idempotencyKey != want {
		t.Errorf("Idempotency-Key %q, want %q", r.idempotencyKey, want)
	}
	if r.contentType != "application/json" {
		t.Errorf("Content-Type %q", r.contentType)
	}
	if string(r.body) != string(body) {
		t.Errorf("body differs from the outbox's bytes")
	}
	if err := alert.Validate(r.body); err != nil {
		t.Errorf("body: %v", err)
	}
	if strings.Contains(s.Name(), "token") || !strings.HasPrefix(s.Name(), "webhook:127.0.0.1:") {
		t.Errorf("Name %q (must name the host, never the query)", s.Name())
	}
}

// TestWebhookRetryThenSuccess: a 500 is retryable; the retry carries the
// same body and idempotency key, and succeeds.
func TestWebhookRetryThenSuccess(t *testing.T) {
	rc, url := startReceiver(t, status(500))
	s := sink.NewWebhook(sink.WebhookConfig{URL: url, Secret: secret})
	e := event(1)
	body := marshal(t, e)
	err := s.Deliver(t.Context(), e, body)
	if err == nil || errors.Is(err, sink.ErrPermanent) {
		t.Fatalf("500: %v, want a retryable error", err)
	}
	if _, ok := sink.RetryAfter(err); ok {
		t.Fatalf("500 without Retry-After gave a delay: %v", err)
	}
	if err := s.Deliver(t.Context(), e, body); err != nil {
		t.Fatalf("retry: %v", err)
	}
	got := rc.requests()
	if len(got) != 2 || got[0].idempotencyKey != got[1].idempotencyKey || string(got[0].body) != string(got[1].body) {
		t.Fatalf("retry differs from the first attempt: %+v", got)
	}
	for _, r := range got {
		if r.sigErr != nil {
			t.Errorf("signature: %v", r.sigErr)
		}
	}
}

func TestWebhookStatuses(t *testing.T) {
	cases := []struct {
		name      string
		answer    func(http.ResponseWriter)
		permanent bool
		retry     time.Duration // > 0: a RetryAfterError with this delay
	}{
		{"204", status(204), false, 0},
		{"400 permanent", status(400), true, 0},
		{"401 permanent", status(401), true, 0},
		{"404 permanent", status(404), true, 0},
		{"413 permanent", status(413), true, 0},
		{"408 retryable", status(408), false, 0},
		{"429 retry after seconds", status(429, "Retry-After", "7"), false, 7 * time.Second},
		{"429 retry after a day is capped", status(429, "Retry-After", "86400"), false, sink.MaxRetryAfter},
		{"503 retry after date", status(503, "Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat)), false, -1},
		{"503 bad retry after", status(503, "Retry-After", "soon"), false, 0},
		{"502 retryable", status(502), false, 0},
		{"302 permanent, not followed", status(302, "Location", "https://elsewhere.example/"), true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc, url := startReceiver(t, c.answer)
			e := event(1)
			err := sink.NewWebhook(sink.WebhookConfig{URL: url, Secret: secret}).Deliver(t.Context(), e, marshal(t, e))
			if len(rc.requests()) != 1 {
				t.Fatalf("%d requests, want 1 (redirects are not followed)", len(rc.requests()))
			}
			if c.name == "204" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, sink.ErrPermanent) != c.permanent {
				t.Fatalf("%v: permanent %v, want %v", err, errors.Is(err, sink.ErrPermanent), c.permanent)
			}
			d, ok := sink.RetryAfter(err)
			switch {
			case c.retry > 0 && (!ok || d != c.retry):
				t.Fatalf("RetryAfter = %s, %v; want %s", d, ok, c.retry)
			case c.retry < 0 && (!ok || d <= 0 || d > 90*time.Second):
				t.Fatalf("RetryAfter from a date = %s, %v; want within 90s", d, ok)
			case c.retry == 0 && ok:
				t.Fatalf("unexpected RetryAfter %s", d)
			}
		})
	}
}

func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	e := event(1)
	err := sink.NewWebhook(sink.WebhookConfig{URL: srv.URL, Secret: secret, Timeout: 50 * time.Millisecond}).Deliver(t.Context(), e, marshal(t, e))
	if err == nil || errors.Is(err, sink.ErrPermanent) {
		t.Fatalf("timeout: %v, want a retryable error", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v, want it to wrap context.DeadlineExceeded", err)
	}
}

func TestWebhookNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	e := event(1)
	err := sink.NewWebhook(sink.WebhookConfig{URL: url + "/?token=s3cret", Secret: secret}).Deliver(t.Context(), e, nil)
	if err == nil || errors.Is(err, sink.ErrPermanent) {
		t.Fatalf("connection refused: %v, want retryable", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the URL's token: %v", err)
	}
}

func TestWebhookConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  sink.WebhookConfig
		ok   bool
	}{
		{"https", sink.WebhookConfig{URL: "https://desk.example/hook", Secret: secret}, true},
		{"http loopback", sink.WebhookConfig{URL: "http://127.0.0.1:8080/hook", Secret: secret}, true},
		{"http localhost", sink.WebhookConfig{URL: "http://localhost:8080/hook", Secret: secret}, true},
		{"http ipv6 loopback", sink.WebhookConfig{URL: "http://[::1]:8080/hook", Secret: secret}, true},
		{"http elsewhere", sink.WebhookConfig{URL: "http://desk.example/hook", Secret: secret}, false},
		{"http elsewhere allowed", sink.WebhookConfig{URL: "http://desk.example/hook", Secret: secret, AllowHTTP: true}, true},
		{"ftp", sink.WebhookConfig{URL: "ftp://desk.example/hook", Secret: secret}, false},
		{"no host", sink.WebhookConfig{URL: "https:///hook", Secret: secret}, false},
		{"short secret", sink.WebhookConfig{URL: "https://desk.example/hook", Secret: []byte("short")}, false},
		{"negative timeout", sink.WebhookConfig{URL: "https://desk.example/hook", Secret: secret, Timeout: -1}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if (err == nil) != c.ok {
				t.Fatalf("Validate = %v", err)
			}
			if !c.ok {
				// A bad configuration fails every delivery permanently,
				// without a request.
				derr := sink.NewWebhook(c.cfg).Deliver(t.Context(), event(1), nil)
				if !errors.Is(derr, sink.ErrPermanent) {
					t.Fatalf("Deliver = %v, want ErrPermanent", derr)
				}
			}
		})
	}
}

// TestWebhookSignsEachAttemptAfresh: a retry long after the first attempt
// carries a current t, so the receiver does not call it stale.
func TestWebhookSignsEachAttemptAfresh(t *testing.T) {
	var mu sync.Mutex
	var headers []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		headers = append(headers, r.Header.Get(sink.SignatureHeader))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	now := at
	s := sink.NewWebhook(sink.WebhookConfig{URL: srv.URL, Secret: secret, Now: func() time.Time { return now }})
	e := event(1)
	for range 2 {
		if err := s.Deliver(t.Context(), e, marshal(t, e)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Hour)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(headers) != 2 {
		t.Fatalf("%d requests", len(headers))
	}
	for i, h := range headers {
		want := "t=" + strconv.FormatInt(at.Add(time.Duration(i)*time.Hour).Unix(), 10) + ","
		if !strings.HasPrefix(h, want) {
			t.Errorf("attempt %d: %q, want prefix %q", i+1, h, want)
		}
	}
}
