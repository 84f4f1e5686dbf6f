package bus

import (
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// RequiredStreamConfig exposes the stream configuration Open creates, so
// tests can create look-alike streams with one setting changed.
func RequiredStreamConfig(cfg LogConfig) jetstream.StreamConfig {
	return streamConfig(cfg.withDefaults())
}

// Server exposes the embedded server, for tests that open extra
// connections to it.
func (e *Embedded) Server() *server.Server { return e.srv }

const StateFile = stateFile
