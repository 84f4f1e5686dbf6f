package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/audit/audittest"
	"github.com/headsup-dev/headsup/internal/directory"
)

// auditHistory is a small valid history and the auditor's files: the
// governance verifier key and an archive of the history.
func auditHistory(t *testing.T) (h *audittest.History, dir, vkey, archive string) {
	t.Helper()
	h = audittest.New(t)
	h.Publish("edgeshield", audittest.Suspension("a.example"))
	h.Publish("voxhost", audittest.Suspension("b.example"))
	h.Checkpoint()
	h.PublishRedacted("researcher", audittest.Suspension("c.example"))
	h.Publish("voxhost", audittest.Suspension("d.example"))
	h.Checkpoint()
	// Two witnesses cosign the latest checkpoint a minute after its last
	// entry: a quorum.
	last := h.Entries[len(h.Entries)-1].StoredAt
	h.Checkpoints[1] = h.Cosign(h.Checkpoints[1], last.Add(time.Minute), "epiq", "mitigatr")
	dir = t.TempDir()
	vkey = filepath.Join(dir, "governance.vkey")
	archive = filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(vkey, []byte(h.GovernanceKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archive, h.Source().Archive(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return h, dir, vkey, archive
}

func runAudit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"headsup"}, args...), strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestAuditVerifyArchive(t *testing.T) {
	h, dir, vkey, archive := auditHistory(t)
	state := filepath.Join(dir, "state.json")
	code, out, errOut := runAudit(t, "audit", "verify", "--archive", archive, "--governance-key", vkey, "--state", state)
	if code != 0 {
		t.Fatalf("status %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"entries    5: 3 notices, 1 redacted, 1 directory versions", "checkpoints 2 verified, largest at size 5",
		"issuers    3: edgeshield, researcher, voxhost", "witnesses  1 checkpoints with quorum", "OK\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("state not written: %v", err)
	}

	// Delete sequence 3 from the archive, as someone editing the store
	// offline would (the end line's count adjusted to match).
	lines := strings.SplitAfter(string(h.Source().Archive(t)), "\n")
	tampered := strings.Join(append(lines[:5:5], lines[6:]...), "")
	tampered = strings.Replace(tampered, `"entries":5`, `"entries":4`, 1)
	bad := filepath.Join(dir, "tampered.jsonl")
	if err := os.WriteFile(bad, []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runAudit(t, "audit", "verify", "--archive", bad, "--governance-key", h.GovernanceKey, "--json")
	if code != 1 {
		t.Fatalf("status %d, want 1; stderr %q", code, errOut)
	}
	if want := "headsup: audit verify: sequence 3: sequences not contiguous"; !strings.HasPrefix(errOut, want) {
		t.Errorf("stderr %q, want it to start with %q", errOut, want)
	}
	var rep struct {
		OK      bool
		Failure struct {
			Sequence uint64
			Range    [2]uint64
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if rep.OK || rep.Failure.Sequence != 3 || rep.Failure.Range != [2]uint64{3, 3} {
		t.Errorf("--json: ok %v, failure %+v; want sequence 3", rep.OK, rep.Failure)
	}
}

func TestAuditExportAndVerifyHub(t *testing.T) {
	h, dir, vkey, _ := auditHistory(t)
	addr := audittest.Serve(t, h.Source())
	out := filepath.Join(dir, "export.jsonl")
	code, stdout, errOut := runAudit(t, "--hub", addr, "audit", "export", "--out", out)
	if code != 0 {
		t.Fatalf("export: status %d, stderr %q", code, errOut)
	}
	if want := "exported 5 entries (sequences 1..5) and 1 checkpoints of log HEADSUP@test to " + out; !strings.Contains(stdout, want) {
		t.Errorf("export stdout %q, want %q", stdout, want)
	}
	if code, _, errOut := runAudit(t, "audit", "verify", "--archive", out, "--governance-key", vkey); code != 0 {
		t.Errorf("verify of the export: status %d, stderr %q", code, errOut)
	}
	if code, stdout, errOut := runAudit(t, "--hub", addr, "audit", "verify", "--governance-key", vkey); code != 0 || !strings.Contains(stdout, "OK\n") {
		t.Errorf("verify against the hub: status %d, stdout %q, stderr %q", code, stdout, errOut)
	}
}

func TestAuditUsage(t *testing.T) {
	_, vkey, err := directory.GenerateGovernanceKey("gov.example")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"audit"}, "headsup: audit: missing command (verify or export)\n"},
		{[]string{"audit", "verify"}, "headsup: audit verify: Required flag \"governance-key\" not set\n"},
		{[]string{"audit", "verify", "--governance-key", "nonsense"}, "headsup: audit verify: --governance-key: verifier key \"nonsense\": neither a key nor a readable file: open nonsense: no such file or directory\n"},
		{[]string{"audit", "verify", "--governance-key", vkey, "--peers", "ftp://x"}, "headsup: audit verify: --peers: \"ftp://x\" is not an http(s) URL\n"},
		{[]string{"audit", "export"}, "headsup: audit export: Required flag \"out\" not set\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runAudit(t, tt.args...)
			if code != 2 || errOut != tt.stderr {
				t.Errorf("status %d stderr %q, want 2 %q", code, errOut, tt.stderr)
			}
		})
	}
}
