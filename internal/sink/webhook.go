package sink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/headsup-dev/headsup/internal/alert"
)

// Headers the webhook sets.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// "<t>.<body>" under the shared secret>".
	SignatureHeader = "Headsup-Signature"
	// IdempotencyHeader carries "<alert_id>:<revision>"; a receiver that
	// has seen it answers 2xx and does nothing.
	IdempotencyHeader = "Idempotency-Key"
)

// Defaults and limits of the webhook.
const (
	// DefaultWebhookTimeout bounds one delivery attempt.
	DefaultWebhookTimeout = 10 * time.Second
	// DefaultSignatureTolerance is how far a signature's t may be from a
	// receiver's clock before [VerifySignature] calls it stale.
	DefaultSignatureTolerance = 5 * time.Minute
	// MinSecretBytes is the shortest shared secret a webhook accepts.
	MinSecretBytes = 16
)

// WebhookConfig configures [NewWebhook].
type WebhookConfig struct {
	// URL is the receiver: https, or http to a loopback address (or any
	// host with AllowHTTP).
	URL string
	// Secret is the key of the HMAC in the signature header, shared with
	// the receiver; at least MinSecretBytes bytes.
	Secret []byte
	// Timeout bounds one attempt, from connecting to reading the status;
	// DefaultWebhookTimeout when zero.
	Timeout time.Duration
	// Client is the HTTP client to use (its Transport carries TLS and proxy
	// settings); a client of its own when nil. Redirects are never
	// followed, whatever the client says: a signed event goes only to the
	// configured URL, and a redirect is a permanent error naming the
	// location.
	Client *http.Client
	// Name identifies the sink; "webhook:<host>" when empty (never the
	// whole URL, which may hold a token).
	Name string
	// AllowHTTP permits plain http to a host that is not loopback. Alerts
	// carry TLP-marked material; the signature protects integrity, not
	// confidentiality.
	AllowHTTP bool
	// Now is the clock for the signature's t; time.Now when nil.
	Now func() time.Time
}

// Validate reports what would make every delivery fail, naming the field.
func (c WebhookConfig) Validate() error {
	_, err := c.parseURL()
	if err != nil {
		return err
	}
	if len(c.Secret) < MinSecretBytes {
		return fmt.Errorf("secret: %d bytes, need at least %d", len(c.Secret), MinSecretBytes)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout: %s is negative", c.Timeout)
	}
	return nil
}

func (c WebhookConfig) parseURL() (*url.URL, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url: %q has no host", redact(u))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.AllowHTTP && !loopback(u.Hostname()) {
			return nil, fmt.Errorf("url: %q is plain http to a host that is not loopback (use https, or set allow_http)", redact(u))
		}
	default:
		return nil, fmt.Errorf("url: %q: scheme must be https or http", redact(u))
	}
	return u, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redact keeps scheme, host and path of u, never user info or query.
func redact(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// NewWebhook returns a sink that POSTs each event as application/json to
// cfg.URL with the [SignatureHeader] and [IdempotencyHeader]. A 2xx answer
// is success. 408, 429, 5xx and network errors and timeouts are retryable
// (a [*RetryAfterError] when the answer carries Retry-After); any other
// status, and a configuration that [WebhookConfig.Validate] refuses, are
// [ErrPermanent]. Each attempt is signed afresh with the current time, so
// a retry after a long outage is not stale.
func NewWebhook(cfg WebhookConfig) Sink {
	w := &webhook{cfg: cfg, timeout: cfg.Timeout, now: cfg.Now}
	if w.timeout <= 0 {
		w.timeout = DefaultWebhookTimeout
	}
	if w.now == nil {
		w.now = time.Now
	}
	var c http.Client
	if cfg.Client != nil {
		c = *cfg.Client // a copy: the caller's client keeps its own redirect policy
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w.client = &c
	u, err := cfg.parseURL()
	if err == nil {
		err = cfg.Validate()
	}
	w.cfgErr = err
	w.name = cfg.Name
	if w.name == "" {
		if u != nil {
			w.name = "webhook:" + u.Host
		} else {
			w.name = "webhook"
		}
	}
	if u != nil {
		w.url = u.String()
	}
	return w
}

type webhook struct {
	cfg     WebhookConfig
	name    string
	url     string
	timeout time.Duration
	now     func() time.Time
	client  *http.Client
	cfgErr  error
}

func (w *webhook) Name() string { return w.name }

func (w *webhook) Deliver(ctx context.Context, e *alert.Event, body []byte) error {
	if w.cfgErr != nil {
		return fmt.Errorf("%s: %v: %w", w.name, w.cfgErr, ErrPermanent)
	}
	if e == nil {
		return fmt.Errorf("%s: no event: %w", w.name, ErrPermanent)
	}
	if body == nil {
		b, err := jsonLine(e, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		body = b[:len(b)-1]
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %v: %w", w.name, err, ErrPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "headsup-agent")
	req.Header.Set(SignatureHeader, SignatureHeaderValue(w.cfg.Secret, w.now(), body))
	req.Header.Set(IdempotencyHeader, e.AlertID+":"+strconv.FormatUint(e.Revision, 10))
	resp, err := w.client.Do(req)
	if err != nil {
		// Network failure or timeout: the receiver may or may not have the
		// event; the idempotency key makes the retry safe.
		return fmt.Errorf("%s: %w", w.name, stripURL(err))
	}
	defer func() {
		// Drain a little so the connection can be reused, then close.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	failure := fmt.Errorf("%s: HTTP %d: %q", w.name, code, printable(snippet))
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), w.now()); ok {
			return &RetryAfterError{D: d, Err: failure}
		}
		return failure
	case code >= 300 && code < 400:
		return fmt.Errorf("%s: HTTP %d redirect to %q: redirects are not followed, configure the final URL: %w",
			w.name, code, printable([]byte(resp.Header.Get("Location"))), ErrPermanent)
	}
	return fmt.Errorf("%w: %w", failure, ErrPermanent)
}

// stripURL drops the request URL from a *url.Error (it may hold a token)
// and keeps the cause, so errors.Is still finds context.DeadlineExceeded.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3),
// capped at MaxRetryAfter; a date in the past is zero.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if digits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		d = time.Duration(n) * time.Second
	} else {
		t, err := http.ParseTime(v)
		if err != nil {
			return 0, false
		}
		d = max(0, t.Sub(now))
	}
	return min(d, MaxRetryAfter), true
}

func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// printable keeps a receiver's error text safe for logs.
func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, strings.TrimSpace(string(b)))
}

// SignatureHeaderValue returns the value of [SignatureHeader] for body
// sent at t: "t=<unix seconds>,v1=<lower-case hex HMAC-SHA256(secret,
// "<t>.<body>")>". The timestamp is inside the MAC, so a receiver that
// checks it against its clock refuses replays of old deliveries.
func SignatureHeaderValue(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of [VerifySignature]; a receiver refuses the delivery on any of
// them (HTTP 401 is the usual answer).
var (
	// ErrSignatureMalformed: the header is not t=<digits>,v1=<64 lower-case
	// hex digits>[,…].
	ErrSignatureMalformed = errors.New("malformed signature header")
	// ErrSignatureMismatch: no v1 MAC verifies under the secret.
	ErrSignatureMismatch = errors.New("signature does not verify")
	// ErrSignatureStale: the MAC verifies but t is further from now than
	// the tolerance (a replay, or a clock that is badly off).
	ErrSignatureStale = errors.New("signature timestamp outside tolerance")
)

// maxSignatureHeader bounds the work a hostile header can cause.
const maxSignatureHeader = 1024

// VerifySignature checks a [SignatureHeader] value for body, for receivers
// and tests. The header is comma-separated key=value elements: exactly one
// t (unix seconds, digits only) and one or more v1 (64 lower-case hex
// digits, so no MAC has a second spelling; several let a sender sign with
// an old and a new secret while it rotates). Elements with other keys are
// ignored, so a later scheme (v2) can be added beside v1. It verifies the
// MAC first (ErrSignatureMismatch), then that |now − t| ≤ tolerance
// (ErrSignatureStale); tolerance ≤ 0 means DefaultSignatureTolerance.
// Within the tolerance a replay still verifies: receivers drop it by its
// Idempotency-Key.
func VerifySignature(header string, body []byte, secret []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}
	if len(header) > maxSignatureHeader {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrSignatureMalformed, len(header), maxSignatureHeader)
	}
	var ts string
	var macs [][]byte
	for _, el := range strings.Split(strings.TrimSpace(header), ",") {
		k, v, ok := strings.Cut(el, "=")
		if !ok || k == "" {
			return fmt.Errorf("%w: element %q is not key=value", ErrSignatureMalformed, el)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: t given twice", ErrSignatureMalformed)
			}
			if !digits(v) || len(v) > 18 || (len(v) > 1 && v[0] == '0') {
				return fmt.Errorf("%w: t=%q is not unix seconds", ErrSignatureMalformed, v)
			}
			ts = v
		case "v1":
			if len(v) != 2*sha256.Size || strings.ToLower(v) != v {
				return fmt.Errorf("%w: v1=%q is not 64 lower-case hex digits", ErrSignatureMalformed, v)
			}
			b, err := hex.DecodeString(v)
			if err != nil {
				return fmt.Errorf("%w: v1=%q is not 64 lower-case hex digits", ErrSignatureMalformed, v)
			}
			macs = append(macs, b)
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: no t", ErrSignatureMalformed)
	}
	if len(macs) == 0 {
		return fmt.Errorf("%w: no v1", ErrSignatureMalformed)
	}
	want := mac(secret, ts, body)
	ok := false
	for _, m := range macs {
		ok = hmac.Equal(m, want) || ok // look at every MAC: no early exit
	}
	if !ok {
		return ErrSignatureMismatch
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // ≤ 18 digits: fits
	skew := now.Sub(time.Unix(sec, 0))
	if skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: t=%s is %s from now, tolerance %s", ErrSignatureStale, ts, skew.Round(time.Second), tolerance)
	}
	return nil
}
