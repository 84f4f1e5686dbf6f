package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxMsgSize is the stream's message size limit: above the 64 KiB envelope
// limit plus room for the headers the log writes, so a valid envelope is
// never refused by NATS.
const MaxMsgSize = 80 << 10

// minMsgSize is the smallest MaxMsgSize accepted on an existing stream.
const minMsgSize = 64<<10 + 4<<10

// persistEvery is how many sequences the high-water mark may advance before
// it is written again, and persistPause the least time between two writes
// (each one creates, syncs and renames a file, and syncs the directory:
// at thousands of appends a second, one every 64 cost more CPU than the
// appends' own store-time bookkeeping). The persisted value is only a
// lower bound, and Close writes the last one.
const (
	persistEvery = 64
	persistPause = 100 * time.Millisecond
)

// stateFile is the name of the log state file under LogConfig.StateDir.
const stateFile = "bus-state.json"

// LogConfig configures Open.
type LogConfig struct {
	// Replicas is the stream's replication factor; 0 means 1. A NATS
	// cluster should use 3.
	Replicas int
	// MaxMsgs, MaxBytes and MaxAge limit retention; 0 means unlimited (the
	// default). With any limit set the stream discards NEW messages when
	// full (Append fails with ErrLogFull) — it never silently drops old
	// entries to make room — and only MaxAge ever removes entries, which
	// an archive must hold first.
	MaxMsgs  int64
	MaxBytes int64
	MaxAge   time.Duration
	// StateDir is where the hub persists its log state (log id and the
	// highest sequence seen). With state present, Open refuses a missing,
	// recreated or shorter stream instead of creating a new one. Empty
	// disables that guard; only tests should leave it empty.
	StateDir string
	// PublishTimeout bounds each Append; 0 means 5 s.
	PublishTimeout time.Duration
	// Logger receives decisions worth logging; nil discards them.
	Logger *slog.Logger
}

func (c LogConfig) withDefaults() LogConfig {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// streamConfig is the stream's required configuration. Every field the
// log's guarantees rest on is checked again by checkConfig after creation.
func streamConfig(c LogConfig) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "headsup append-only log of signed notices",
		Subjects:    []string{SubjectPrefix + ">", directorySubjects},
		Retention:   jetstream.LimitsPolicy,
		MaxMsgs:     limit(c.MaxMsgs),
		MaxBytes:    limit(c.MaxBytes),
		MaxAge:      c.MaxAge,
		// One entry per (issuer, id), and a second one is refused rather
		// than replacing the first. NATS requires Discard New for that.
		MaxMsgsPerSubject:    1,
		DiscardNewPerSubject: true,
		Discard:              jetstream.DiscardNew,
		MaxMsgSize:           MaxMsgSize,
		Storage:              jetstream.FileStorage,
		Replicas:             c.Replicas,
		DenyDelete:           true,
		DenyPurge:            true,
		// Reads go to the leader, so a read-back right after a write sees
		// it and no follower serves a stale or different view.
		AllowDirect: false,
	}
}

func limit(v int64) int64 {
	if v <= 0 {
		return -1
	}
	return v
}

// checkConfig compares got with the required settings and returns one line
// naming each differing field with its wanted and actual value.
func checkConfig(want, got jetstream.StreamConfig) error {
	var diffs []string
	diff := func(field string, w, g any) {
		diffs = append(diffs, fmt.Sprintf("%s want %v got %v", field, w, g))
	}
	ws, gs := slices.Sorted(slices.Values(want.Subjects)), slices.Sorted(slices.Values(got.Subjects))
	if !slices.Equal(ws, gs) {
		diff("subjects", ws, gs)
	}
	if got.Retention != want.Retention {
		diff("retention", want.Retention, got.Retention)
	}
	if got.Storage != want.Storage {
		diff("storage", want.Storage, got.Storage)
	}
	if got.Replicas != want.Replicas {
		diff("num_replicas", want.Replicas, got.Replicas)
	}
	if got.MaxMsgs != want.MaxMsgs {
		diff("max_msgs", want.MaxMsgs, got.MaxMsgs)
	}
	if got.MaxBytes != want.MaxBytes {
		diff("max_bytes", want.MaxBytes, got.MaxBytes)
	}
	if got.MaxAge != want.MaxAge {
		diff("max_age", want.MaxAge, got.MaxAge)
	}
	if got.MaxMsgsPerSubject != 1 {
		diff("max_msgs_per_subject", 1, got.MaxMsgsPerSubject)
	}
	if !got.DiscardNewPerSubject {
		diff("discard_new_per_subject", true, got.DiscardNewPerSubject)
	}
	if got.Discard != jetstream.DiscardNew {
		diff("discard", jetstream.DiscardNew, got.Discard)
	}
	if got.MaxMsgSize < minMsgSize {
		diff("max_msg_size", fmt.Sprintf(">=%d", minMsgSize), got.MaxMsgSize)
	}
	if !got.DenyDelete {
		diff("deny_delete", true, got.DenyDelete)
	}
	if !got.DenyPurge {
		diff("deny_purge", true, got.DenyPurge)
	}
	flags := []struct {
		field string
		on    bool
	}{
		{"allow_rollup_hdrs", got.AllowRollup},
		{"allow_msg_ttl", got.AllowMsgTTL},
		{"allow_msg_schedules", got.AllowMsgSchedules},
		{"allow_msg_counter", got.AllowMsgCounter},
		{"allow_atomic", got.AllowAtomicPublish},
		{"allow_batched", got.AllowBatchPublish},
		{"allow_direct", got.AllowDirect},
		{"mirror_direct", got.MirrorDirect},
		{"sealed", got.Sealed},
		{"no_ack", got.NoAck},
	}
	for _, f := range flags {
		if f.on {
			diff(f.field, false, true)
		}
	}
	if got.SubjectDeleteMarkerTTL != 0 {
		diff("subject_delete_marker_ttl", time.Duration(0), got.SubjectDeleteMarkerTTL)
	}
	if got.PersistMode != jetstream.DefaultPersistMode {
		diff("persist_mode", jetstream.DefaultPersistMode, got.PersistMode)
	}
	if got.Mirror != nil {
		diff("mirror", "none", got.Mirror.Name)
	}
	if len(got.Sources) > 0 {
		diff("sources", "none", len(got.Sources))
	}
	if got.SubjectTransform != nil {
		diff("subject_transform", "none", got.SubjectTransform.Source+"->"+got.SubjectTransform.Destination)
	}
	if got.RePublish != nil {
		diff("republish", "none", got.RePublish.Source+"->"+got.RePublish.Destination)
	}
	if got.FirstSeq > 1 {
		diff("first_seq", 1, got.FirstSeq)
	}
	if len(diffs) > 0 {
		return fmt.Errorf("stream %s: %w: %s", got.Name, ErrStreamConfig, strings.Join(diffs, "; "))
	}
	return nil
}

// Log is the append-only log of notices on one JetStream stream. It is safe
// for concurrent use.
type Log struct {
	cfg    LogConfig
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	id     string

	mu        sync.Mutex // guards high, persisted, closed
	high      uint64     // highest sequence seen
	persisted uint64     // high as last written to the state file
	closed    bool

	kick chan struct{} // asks the persister to write; capacity 1
	stop chan struct{}
	done chan struct{}

	// stamps learns the store times of appended entries (stamps.go).
	stamps stamps
}

// logState is the hub's persisted view of the log: what it must find again.
type logState struct {
	LogID   string `json:"log_id"`
	HighSeq uint64 `json:"high_seq"`
}

// Open binds to the HEADSUP stream on nc, creating it when it is missing and
// the hub has no persisted state, and checks its configuration
// (ErrStreamConfig) and that it still holds everything the hub saw
// (ErrStreamLost). It never updates an existing stream.
func Open(ctx context.Context, nc *nats.Conn, cfg LogConfig) (*Log, error) {
	cfg = cfg.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	state, err := readState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	want := streamConfig(cfg)

	stream, err := js.Stream(ctx, StreamName)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if state != nil {
			return nil, fmt.Errorf("stream %s is missing but %s records log %s up to sequence %d: %w; restore the stream or move the state away to start a new log",
				StreamName, filepath.Join(cfg.StateDir, stateFile), state.LogID, state.HighSeq, ErrStreamLost)
		}
		stream, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another hub replica created it first; check it like any other.
			stream, err = js.Stream(ctx, StreamName)
		}
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", StreamName, unavailable(err))
		}
		cfg.Logger.Info("created stream", "stream", StreamName, "replicas", cfg.Replicas)
	case err != nil:
		return nil, fmt.Errorf("look up stream %s: %w", StreamName, unavailable(err))
	}

	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read stream %s config: %w", StreamName, unavailable(err))
	}
	if err := checkConfig(want, info.Config); err != nil {
		return nil, err
	}
	id := StreamName + "@" + info.Created.UTC().Format(time.RFC3339Nano)
	if state != nil {
		if state.LogID != id {
			return nil, fmt.Errorf("stream %s is log %s but the persisted state records log %s: %w", StreamName, id, state.LogID, ErrStreamLost)
		}
		if info.State.LastSeq < state.HighSeq {
			return nil, fmt.Errorf("stream %s ends at sequence %d but the persisted state saw %d: %w", StreamName, info.State.LastSeq, state.HighSeq, ErrStreamLost)
		}
	}

	l := &Log{
		cfg:    cfg,
		nc:     nc,
		js:     js,
		stream: stream,
		id:     id,
		high:   info.State.LastSeq,
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	// Record the log id at once, so a stream deleted before the first
	// append is still caught on the next start.
	if err := l.persist(); err != nil {
		return nil, err
	}
	go l.persister()
	return l, nil
}

// ID returns the log id: the stream name and its creation time, which a
// recreated or restored stream does not share.
func (l *Log) ID() string { return l.id }

// CheckID returns an error wrapping ErrLogMismatch unless id is this log's.
func (l *Log) CheckID(id string) error {
	if id != l.id {
		return fmt.Errorf("%w: log is %s, not %q", ErrLogMismatch, l.id, id)
	}
	return nil
}

// Close stops the persister and writes the log state a last time. The
// connection stays open; it belongs to the caller.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.stamps.stop(l.stream)
	close(l.stop)
	<-l.done
	return l.persist()
}

// observe raises the high-water mark to seq and wakes the persister when it
// moved far enough from the persisted value.
func (l *Log) observe(seq uint64) {
	l.mu.Lock()
	if seq <= l.high {
		l.mu.Unlock()
		return
	}
	l.high = seq
	due := l.high-l.persisted >= persistEvery
	l.mu.Unlock()
	if due {
		select {
		case l.kick <- struct{}{}:
		default: // a write is already pending
		}
	}
}

// persister writes the state off the Append path; Close waits for it.
func (l *Log) persister() {
	defer close(l.done)
	for {
		select {
		case <-l.stop:
			return
		case <-l.kick:
			if err := l.persist(); err != nil {
				l.cfg.Logger.Warn("persist log state", "err", err)
			}
			// A kick that comes meanwhile waits for the pause.
			t := time.NewTimer(persistPause)
			select {
			case <-l.stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

func (l *Log) persist() error {
	if l.cfg.StateDir == "" {
		return nil
	}
	l.mu.Lock()
	st := logState{LogID: l.id, HighSeq: l.high}
	l.mu.Unlock()
	if err := writeState(l.cfg.StateDir, st); err != nil {
		return err
	}
	l.mu.Lock()
	l.persisted = max(l.persisted, st.HighSeq)
	l.mu.Unlock()
	return nil
}

func readState(dir string) (*logState, error) {
	if dir == "" {
		return nil, nil
	}
	path := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read log state: %w", err)
	}
	var st logState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("log state %s: %w", path, err)
	}
	if !strings.HasPrefix(st.LogID, StreamName+"@") {
		return nil, fmt.Errorf("log state %s: log_id %q is not %s@<created>", path, st.LogID, StreamName)
	}
	return &st, nil
}

// writeState replaces the state file atomically and durably: a crash leaves
// the old or the new state, never a torn one.
func writeState(dir string, st logState) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write log state: %w", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("write log state: %w", err)
	}
	f, err := os.CreateTemp(dir, stateFile+".tmp*")
	if err != nil {
		return fmt.Errorf("write log state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, stateFile))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write log state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write log state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write log state: sync %s: %w", dir, err)
	}
	return nil
}
