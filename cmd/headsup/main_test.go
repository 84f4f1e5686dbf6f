package main

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/headsup-dev/headsup/internal/hub"
)

// TestMain makes this test binary also the headsup command, so that
// scripts run the real command line in a separate process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"headsup": main})
}

// TestScript runs testdata/script/*.txtar. Besides the standard commands
// a script has:
//
//	hub start            start a real hub (embedded NATS, data in $WORK/hub)
//	                     reading $WORK/directory.yaml; sets HEADSUP_HUB
//	unavailable start    listen where the hub will be, refusing every
//	                     connection (UNAVAILABLE); sets HEADSUP_HUB
//	unavailable wait     wait until a client has tried to connect
//	agent start MEMBER CUSTOMERS
//	                     start a real agent (in-process) for MEMBER following
//	                     $HEADSUP_HUB with $WORK/directory.yaml and the
//	                     customer file, its local API on a free loopback
//	                     port; sets HEADSUP_AGENT
//	agent wait SEQ       wait until the agent's Check answers reflect SEQ
//	concat OUT FILE...   write the concatenation of FILEs to OUT
//	mode FILE PERM       check FILE's permission bits (octal)
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// Scripts never reach a hub they did not start.
			env.Setenv("HEADSUP_HUB", "127.0.0.1:1")
			env.Values[stateKey{}] = &scriptState{}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"hub":         cmdHub,
			"agent":       cmdAgent,
			"unavailable": cmdUnavailable,
			"concat":      cmdConcat,
			"mode":        cmdMode,
		},
	})
}

func cmdHub(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || args[0] != "start" {
		ts.Fatalf("usage: hub start")
	}
	work := ts.Getenv("WORK")
	logFile, err := os.Create(filepath.Join(work, "hub.log"))
	ts.Check(err)
	cfg := hub.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	if st := ts.Value(stateKey{}).(*scriptState); st.unavailable != nil {
		// Take over the address clients have been failing to reach.
		cfg.Listen = st.unavailable.Addr().String()
		ts.Check(st.unavailable.Close())
		st.unavailable = nil
	}
	cfg.DataDir = filepath.Join(work, "hub")
	cfg.DirectoryPath = filepath.Join(work, "directory.yaml")
	cfg.Logger = slog.New(slog.NewTextHandler(logFile, nil))
	addr, stop, err := hub.Start(context.Background(), cfg)
	if err != nil {
		logFile.Close()
		ts.Fatalf("hub: %v", err)
	}
	ts.Defer(func() {
		if err := stop(); err != nil {
			ts.Logf("hub: %v", err)
		}
		logFile.Close()
	})
	ts.Setenv("HEADSUP_HUB", addr.String())
}

func cmdConcat(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: concat OUT FILE...")
	}
	var buf bytes.Buffer
	for _, f := range args[1:] {
		buf.WriteString(ts.ReadFile(f))
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), buf.Bytes(), 0o644))
}

func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mode FILE PERM")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := fi.Mode().Perm()
	if (got == fs.FileMode(want)) == neg {
		ts.Fatalf("%s has mode %#o; want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// TestExitStatus checks what scripts cannot see: the exit status of usage
// errors (2) and other errors (1), each one line on stderr.
func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"--help"}, 0, ""},
		{[]string{}, 2, "headsup: missing command (see headsup --help)\n"},
		{[]string{"bogus"}, 2, "headsup: unknown command \"bogus\" (see headsup --help)\n"},
		{[]string{"keygen", "--out", dir}, 2, "headsup: keygen: --member is required\n"},
		{[]string{"keygen", "--member", "edgeshield"}, 2, "headsup: keygen: Required flag \"out\" not set\n"},
		{[]string{"keygen", "--member", "../x", "--out", dir}, 2, "headsup: keygen: --member: \"../x\" is not a member id (^[a-z0-9][a-z0-9-]{0,62}$)\n"},
		{[]string{"keygen", "--member", "a", "--out", dir, "--use", "sign"}, 2, "headsup: keygen: --use: \"sign\" is not one of notice, call, witness\n"},
		{[]string{"tail", "--count", "x"}, 2, "headsup: tail: invalid value \"x\" for flag -count: strconv.ParseUint: parsing \"x\": invalid syntax\n"},
		{[]string{"tail", "--after", "1", "--new", "--directory", "d.yaml"}, 2, "headsup: tail: --after, --new: give at most one starting point\n"},
		{[]string{"tail"}, 2, "headsup: tail: --directory is required: tail verifies every notice with your own copy of the directory\n"},
		{[]string{"publish", "a", "b", "--key", "k"}, 2, "headsup: publish: takes one FILE or -, got 2 arguments\n"},
		{[]string{"publish", "--key", filepath.Join(dir, "missing.key"), filepath.Join(dir, "missing.yaml")}, 1,
			"headsup: publish: open " + filepath.Join(dir, "missing.yaml") + ": no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), append([]string{"headsup"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			if got != tt.status {
				t.Errorf("status %d, want %d (stderr %q)", got, tt.status, stderr.String())
			}
			if tt.status != 0 && stderr.String() != tt.stderr {
				t.Errorf("stderr\n got %q\nwant %q", stderr.String(), tt.stderr)
			}
		})
	}
}

type stateKey struct{}

// scriptState is what one script's custom commands share.
type scriptState struct {
	unavailable net.Listener
	attempts    atomic.Int64
}

func cmdUnavailable(ts *testscript.TestScript, neg bool, args []string) {
	st := ts.Value(stateKey{}).(*scriptState)
	switch {
	case neg || len(args) != 1:
	case args[0] == "start":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		st.unavailable = l
		ts.Defer(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				st.attempts.Add(1)
				c.Close()
			}
		}()
		ts.Setenv("HEADSUP_HUB", l.Addr().String())
		return
	case args[0] == "wait":
		deadline := time.Now().Add(30 * time.Second)
		for st.attempts.Load() == 0 {
			if time.Now().After(deadline) {
				ts.Fatalf("no connection attempt within 30s")
			}
			time.Sleep(10 * time.Millisecond) // polling, with a deadline
		}
		return
	}
	ts.Fatalf("usage: unavailable start|wait")
}
