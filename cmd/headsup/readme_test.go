package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/hub"
)

// TestReadmeQuickstart runs the README's quickstart (the second terminal)
// against a real hub, so the README never drifts from the code. It reads
// the shell block the way a person pastes it: comments and environment
// lines are skipped, here-documents become files, and every `headsup`
// line runs through the CLI's own code and must succeed.
func TestReadmeQuickstart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script := quickstartBlock(t, string(readme))
	work := t.TempDir()
	t.Chdir(work)

	// headsupd's defaults: access control on, the hub named by its listen
	// address, which is the address the CLI dials and names by default.
	cfg := hub.DefaultConfig()
	cfg.Listen = freeLoopbackAddr(t)
	cfg.Origin = cfg.Listen
	cfg.DataDir = filepath.Join(work, "headsup-data")
	cfg.DirectoryPath = "directory.yaml" // as `go run ./cmd/headsupd` in the same directory
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	addr, stop, err := hub.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("hub: %v", err)
	}
	t.Cleanup(func() { _ = stop() })
	t.Setenv("HEADSUP_HUB", addr.String())

	var outputs []string
	// A line ending in a backslash goes on in the next, as in a shell.
	lines := strings.Split(strings.ReplaceAll(script, "\\\n", ""), "\n")
	ran := 0
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		switch {
		case line == "", strings.HasPrefix(line, "#"), strings.HasPrefix(line, "export "), strings.HasPrefix(line, "go build "):
		case strings.HasPrefix(line, "cat > ") && strings.HasSuffix(line, "<<'EOF'"):
			name := strings.Fields(line)[2]
			var body []string
			for i++; i < len(lines) && lines[i] != "EOF"; i++ {
				body = append(body, lines[i])
			}
			if err := os.WriteFile(name, []byte(strings.Join(body, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(line, "headsup "):
			var stdout, stderr bytes.Buffer
			cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
			code := run(cctx, shellWords(t, line), strings.NewReader(""), &stdout, &stderr)
			ccancel()
			if code != 0 {
				t.Fatalf("README line %q: exit %d\n%s", line, code, stderr.String())
			}
			outputs = append(outputs, stdout.String())
			ran++
		default:
			t.Fatalf("README quickstart has a line this test cannot run: %q", line)
		}
	}
	if ran < 4 {
		t.Fatalf("ran %d headsup commands from the README; the quickstart block was not found as expected", ran)
	}
	last := outputs[len(outputs)-1]
	if !strings.Contains(last, "CUSTOMER_SUSPENDED") || !strings.Contains(last, " verified kid=") {
		t.Fatalf("the quickstart's tail printed %q, want a verified CUSTOMER_SUSPENDED notice", last)
	}
}

// freeLoopbackAddr returns a loopback address with a port free a moment
// ago, for a hub whose origin must be known before it listens.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// quickstartBlock returns the second ```sh block of the Quickstart section.
func quickstartBlock(t *testing.T, readme string) string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Quickstart\n")
	if !ok {
		t.Fatal("README has no Quickstart section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := strings.Split(section, "```sh\n")
	if len(blocks) < 3 {
		t.Fatal("README's Quickstart has fewer than two sh blocks")
	}
	block, _, _ := strings.Cut(blocks[2], "```")
	return block
}

// shellWords splits a command line as a shell would, for the quoting the
// README uses: single and double quotes, no escapes or expansions.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '$' || r == '\\' || r == '`' || r == '|' || r == ';' || r == '&' || r == '>' || r == '<':
			t.Fatalf("README line %q uses shell syntax this test does not interpret (%q)", line, r)
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("README line %q: unterminated quote", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
