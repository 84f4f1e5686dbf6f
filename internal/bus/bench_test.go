package bus_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// benchBody is about the size of a typical envelope.
const benchBody = 2 << 10

// BenchmarkAppend measures Log.Append on the embedded server with every
// write synced (FsyncAlways), each iteration a new notice.
func BenchmarkAppend(b *testing.B) {
	e, err := bus.StartEmbedded(b.Context(), bus.EmbeddedConfig{Dir: b.TempDir(), Fsync: bus.FsyncAlways})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Shutdown()
	l, err := bus.Open(b.Context(), e.Conn(), bus.LogConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ids, bodies := benchInput(b)
	b.SetBytes(benchBody)
	b.ResetTimer()
	for i := range b.N {
		if _, err := l.Append(b.Context(), "edgeshield", ids[i], bodies[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawPublish is the baseline for BenchmarkAppend: js.Publish of
// the same bodies with the same headers to a stream with the same settings
// over the same kind of in-process connection, without learning the
// store time (Append takes it from its watcher, stamps.go).
func BenchmarkRawPublish(b *testing.B) {
	e, err := bus.StartEmbedded(b.Context(), bus.EmbeddedConfig{Dir: b.TempDir(), Fsync: bus.FsyncAlways})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Shutdown()
	l, err := bus.Open(b.Context(), e.Conn(), bus.LogConfig{}) // creates the stream
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	js, err := jetstream.New(e.Conn())
	if err != nil {
		b.Fatal(err)
	}
	ids, bodies := benchInput(b)
	b.SetBytes(benchBody)
	b.ResetTimer()
	for i := range b.N {
		subj, err := bus.Subject("edgeshield", ids[i])
		if err != nil {
			b.Fatal(err)
		}
		sum := sha256.Sum256(bodies[i])
		_, err = js.PublishMsg(b.Context(), &nats.Msg{Subject: subj, Data: bodies[i]},
			jetstream.WithMsgID(hex.EncodeToString(sum[:])),
			jetstream.WithExpectLastSequencePerSubject(0))
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchInput(b *testing.B) ([]string, [][]byte) {
	ids := make([]string, b.N)
	bodies := make([][]byte, b.N)
	for i := range b.N {
		ids[i], bodies[i] = newID(b), body(b, benchBody)
	}
	return ids, bodies
}
