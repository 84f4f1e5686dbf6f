package bus_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/headsup-dev/headsup/internal/bus"
)

// TestAsyncErrorLogger: a connection's asynchronous errors reach the
// service's log with the subscription's subject, not stderr.
func TestAsyncErrorLogger(t *testing.T) {
	var buf bytes.Buffer
	h := bus.AsyncErrorLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	h(nil, &nats.Subscription{Subject: "_INBOX.x"}, nats.ErrSlowConsumer)
	h(nil, nil, errors.New("connection-level"))
	out := buf.String()
	for _, want := range []string{"level=WARN", "subject=_INBOX.x", "slow consumer", "connection-level"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
}
