package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/notice"
)

// e2e drives the real hub (embedded NATS on a random loopback port) through
// the CLI's own code, as a member at an abuse desk would.
type e2e struct {
	t    *testing.T
	dir  string
	data string
	addr string
	stop func()
}

// cli runs one headsup command line in dir and returns its exit status,
// stdout and stderr.
func (e *e2e) cli(args ...string) (int, string, string) {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	full := append([]string{"headsup", "--hub", e.addr, "--directory", filepath.Join(e.dir, "directory.yaml")}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, full, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func (e *e2e) mustCLI(args ...string) string {
	e.t.Helper()
	code, out, errOut := e.cli(args...)
	if code != 0 {
		e.t.Fatalf("headsup %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// startHub runs a hub on the data directory and returns once it serves.
func (e *e2e) startHub() {
	e.t.Helper()
	addr, stop, err := hub.Start(context.Background(), e.hubConfig())
	if err != nil {
		e.t.Fatalf("hub: %v", err)
	}
	e.addr = addr.String()
	e.stop = func() {
		if err := stop(); err != nil {
			e.t.Errorf("hub stopped with %v", err)
		}
	}
	e.t.Cleanup(func() { e.stop() })
}

func (e *e2e) hubConfig() hub.Config {
	cfg := hub.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = e.data
	cfg.DirectoryPath = filepath.Join(e.dir, "directory.yaml")
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

type tailLine struct {
	Sequence uint64 `json:"sequence"`
	LogID    string `json:"log_id"`
	Issuer   string `json:"issuer"`
	ID       string `json:"id"`
	Verified bool   `json:"verified"`
}

func (e *e2e) tail(args ...string) []tailLine {
	e.t.Helper()
	out := e.mustCLI(append([]string{"tail", "--json"}, args...)...)
	var lines []tailLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var tl tailLine
		if err := json.Unmarshal([]byte(l), &tl); err != nil {
			e.t.Fatalf("tail line %q: %v", l, err)
		}
		lines = append(lines, tl)
	}
	return lines
}

type published struct {
	ID        string `json:"id"`
	Sequence  uint64 `json:"sequence"`
	Duplicate bool   `json:"duplicate"`
	LogID     string `json:"log_id"`
}

func (e *e2e) publish(doc string) published {
	e.t.Helper()
	path := filepath.Join(e.dir, "notice.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		e.t.Fatal(err)
	}
	out := e.mustCLI("publish", "--json", "--member", "edgeshield", "--key", filepath.Join(e.dir, "keys", "edgeshield.key"), path)
	var p published
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		e.t.Fatalf("publish output %q: %v", out, err)
	}
	return p
}

func suspendedDoc(host, extra string) string {
	return fmt.Sprintf(`kind: customer_suspended
subject:
  label: %[1]s
  hosts: [%[1]s]
reason: abusive-content:violence
summary: Terminated for inciting violence.
tlp: green
legal_basis: {kind: terms_of_service, reference: AUP 4.2}
%[2]s`, host, extra)
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	e := &e2e{t: t, dir: dir, data: filepath.Join(dir, "data"), addr: "127.0.0.1:1"}
	e.mustCLI("keygen", "--member", "edgeshield", "--out", filepath.Join(dir, "keys"), "--add-to", filepath.Join(dir, "directory.yaml"))
	e.mustCLI("keygen", "--member", "voxhost", "--out", filepath.Join(dir, "keys"), "--add-to", filepath.Join(dir, "directory.yaml"), "--role", "subscribe")
	e.startHub()

	// Several notices, tailed in order, each verified locally.
	var ids []string
	for _, host := range []string{"a.example", "b.example", "c.example"} {
		p := e.publish(suspendedDoc(host, ""))
		if p.Sequence != uint64(len(ids)+1) || p.Duplicate {
			t.Fatalf("publish %s = %+v, want sequence %d", host, p, len(ids)+1)
		}
		ids = append(ids, p.ID)
	}
	lines := e.tail("--after", "0", "--count", "3")
	for i, l := range lines {
		if l.Sequence != uint64(i+1) || l.ID != ids[i] || !l.Verified || l.Issuer != "edgeshield" {
			t.Fatalf("tail line %d = %+v, want sequence %d id %s verified", i, l, i+1, ids[i])
		}
	}
	logID := lines[0].LogID

	// A retry of the same envelope (same id, salt and time: Ed25519 is
	// deterministic, so the same bytes) stores once.
	id, err := notice.NewID()
	if err != nil {
		t.Fatal(err)
	}
	fixed := fmt.Sprintf("id: %s\nsalt: %s\nissued_at: %s\n", id, hex.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		time.Now().UTC().Truncate(time.Second).Format(time.RFC3339))
	first := e.publish(suspendedDoc("retry.example", fixed))
	again := e.publish(suspendedDoc("retry.example", fixed))
	if first.Duplicate || !again.Duplicate || again.Sequence != first.Sequence || first.Sequence != 4 {
		t.Fatalf("publish then retry = %+v, %+v; want sequence 4 stored once", first, again)
	}

	// The same id with other content is refused, and nothing is stored.
	code, _, errOut := e.cli("publish", "--member", "edgeshield", "--key", filepath.Join(dir, "keys", "edgeshield.key"),
		writeFile(t, dir, "conflict.yaml", suspendedDoc("other.example", "id: "+id+"\n")))
	if code != 1 || !strings.Contains(errOut, "AlreadyExists") || !strings.Contains(errOut, "sequence 4") {
		t.Fatalf("conflicting publish: exit %d, %q; want AlreadyExists naming sequence 4", code, errOut)
	}
	if p := e.publish(suspendedDoc("d.example", "")); p.Sequence != 5 {
		t.Fatalf("after the refused conflict the next sequence is %d, want 5", p.Sequence)
	}

	// A second hub on the same data directory exits with a clear message.
	err = hub.Run(context.Background(), e.hubConfig())
	if !errors.Is(err, bus.ErrLocked) || !strings.Contains(err.Error(), e.data) {
		t.Fatalf("second hub on %s: %v, want ErrLocked naming the directory", e.data, err)
	}

	// A cursor past the end is OUT_OF_RANGE.
	code, _, errOut = e.cli("tail", "--after", "99", "--count", "1")
	if code != 1 || !strings.Contains(errOut, "OutOfRange") {
		t.Fatalf("tail past the end: exit %d, %q; want OutOfRange", code, errOut)
	}

	// Restart: the log keeps its id and numbers; a subscriber resumes from
	// its cursor with no gap and no duplicate.
	e.stop()
	e.startHub()
	p := e.publish(suspendedDoc("e.example", ""))
	if p.Sequence != 6 || p.LogID != logID {
		t.Fatalf("after restart: %+v; want sequence 6 in log %s", p, logID)
	}
	resumed := e.tail("--after", "5", "--log-id", logID, "--count", "1")
	if len(resumed) != 1 || resumed[0].Sequence != 6 || resumed[0].ID != p.ID || !resumed[0].Verified {
		t.Fatalf("resumed tail = %+v, want exactly sequence 6 (%s)", resumed, p.ID)
	}
	all := e.tail("--after", "0", "--count", "6")
	for i, l := range all {
		if l.Sequence != uint64(i+1) {
			t.Fatalf("full replay line %d has sequence %d", i, l.Sequence)
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCallTokensEndToEnd: against a hub that requires call tokens, the CLI
// mints one per call from --call-key; without it the hub refuses; a
// subscriber sees a notice addressed to another member only redacted, and
// verifies that too.
func TestCallTokensEndToEnd(t *testing.T) {
	dir := t.TempDir()
	e := &e2e{t: t, dir: dir, data: filepath.Join(dir, "data"), addr: "127.0.0.1:1"}
	keys, dirFile := filepath.Join(dir, "keys"), filepath.Join(dir, "directory.yaml")
	for _, args := range [][]string{
		{"--member", "edgeshield", "--role", "publish", "--role", "subscribe"},
		{"--member", "voxhost", "--role", "subscribe"},
	} {
		e.mustCLI(append([]string{"keygen", "--out", keys, "--add-to", dirFile}, args...)...)
	}
	cfg := e.hubConfig()
	cfg.Origin = "hub.test"
	addr, stop, err := hub.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	e.addr = addr.String()
	as := func(member string, args ...string) []string {
		return append([]string{"--member", member, "--call-key", filepath.Join(keys, member+".call.key"), "--origin", "hub.test"}, args...)
	}

	code, _, errOut := e.cli("tail", "--after", "0", "--count", "1")
	if code != 1 || !strings.Contains(errOut, "Unauthenticated") {
		t.Fatalf("tail without a call key: exit %d, %q; want Unauthenticated", code, errOut)
	}
	private := writeFile(t, dir, "private.yaml", suspendedDoc("private.example", "audience: [edgeshield]\n"))
	e.mustCLI(as("edgeshield", "publish", "--key", filepath.Join(keys, "edgeshield.key"), private)...)
	e.mustCLI(as("edgeshield", "publish", "--key", filepath.Join(keys, "edgeshield.key"), writeFile(t, dir, "public.yaml", suspendedDoc("public.example", "")))...)
	out := e.mustCLI(as("voxhost", "tail", "--after", "0", "--count", "2")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], " REDACTED ") || !strings.Contains(lines[0], " verified ") || !strings.Contains(lines[1], " verified ") {
		t.Fatalf("voxhost's tail:\n%s\nwant the private notice redacted (and verified), the public one in full", out)
	}
}

// TestTailResumesAcrossHubRestart: a tail that follows the log outlives
// the hub: when the hub stops, the stream ends with UNAVAILABLE and tail
// resumes after the last sequence it printed once the hub is back, with
// nothing missed and nothing printed twice.
func TestTailResumesAcrossHubRestart(t *testing.T) {
	dir := t.TempDir()
	e := &e2e{t: t, dir: dir, data: filepath.Join(dir, "data"), addr: "127.0.0.1:1"}
	e.mustCLI("keygen", "--member", "edgeshield", "--out", filepath.Join(dir, "keys"), "--add-to", filepath.Join(dir, "directory.yaml"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fixed := l.Addr().String()
	l.Close()
	start := func() func() error {
		cfg := e.hubConfig()
		cfg.Listen = fixed
		addr, stop, err := hub.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("hub: %v", err)
		}
		e.addr = addr.String()
		return stop
	}
	stop := start()
	first := e.publish(suspendedDoc("first.example", ""))

	// tail's output through a pipe: the test reads each line as tail
	// prints it, so the hub goes away only once tail follows it.
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		code := run(ctx, []string{"headsup", "--hub", fixed, "--directory", filepath.Join(dir, "directory.yaml"),
			"tail", "--json", "--after", "0", "--count", "3"}, strings.NewReader(""), pw, &stderr)
		pw.Close()
		done <- code
	}()
	lines := bufio.NewScanner(pr)
	var got []uint64
	readLine := func() {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("tail ended early: %v", lines.Err())
		}
		var tl tailLine
		if err := json.Unmarshal(lines.Bytes(), &tl); err != nil {
			t.Fatalf("tail line %q: %v", lines.Text(), err)
		}
		got = append(got, tl.Sequence)
	}
	readLine()
	// The hub goes away while tail follows, and comes back on the same
	// address.
	if err := stop(); err != nil {
		t.Fatalf("hub stop: %v", err)
	}
	stop = start()
	t.Cleanup(func() { _ = stop() })
	second := e.publish(suspendedDoc("second.example", ""))
	third := e.publish(suspendedDoc("third.example", ""))
	readLine()
	readLine()
	for lines.Scan() {
		t.Errorf("tail printed more: %s", lines.Text())
	}
	if code := <-done; code != 0 {
		t.Fatalf("tail: exit %d\n%s", code, stderr.String())
	}
	if want := []uint64{first.Sequence, second.Sequence, third.Sequence}; !slices.Equal(got, want) {
		t.Fatalf("tail printed sequences %v, want %v\nstderr: %s", got, want, stderr.String())
	}
	if errOut := stderr.String(); !strings.Contains(errOut, "headsup: tail: Unavailable") || !strings.Contains(errOut, "resuming after") {
		t.Errorf("tail did not say it resumed: %q", errOut)
	}
}
