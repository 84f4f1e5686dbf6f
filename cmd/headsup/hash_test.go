package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/match"
)

// TestHashMeetsTheAgent: what `headsup hash` prints, carried as a notice's
// hashed identifier, matches the plain customer row in an index built with
// the same key, as the agent builds it (hash_keys reads the key file with
// surrounding white space trimmed).
func TestHashMeetsTheAgent(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "fed2026.key")
	if err := os.WriteFile(keyFile, []byte("  s3cret-federation-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		typ, arg string // what hash is given
		row      match.Row
		strength match.Strength
	}{
		{"host", "WWW.Chanboard.Example.", match.Row{Type: match.TypeHost, Value: "www.chanboard.example"}, match.Strong},
		{"email", "Admin@Chanboard.Example", match.Row{Type: match.TypeEmail, Value: "admin@chanboard.example"}, match.Strong},
		{"ip", "2a00:1450:4001::1", match.Row{Type: match.TypePrefix, Value: "2a00:1450:4001::1/128"}, match.Strong},
		{"org", "Epiq Hosting Ltd.", match.Row{Type: match.TypeOrganisation, Value: "Epiq Hosting"}, match.Weak},
		{"registration", "lei:529900T8BM49AURSDO55", match.Row{Type: match.TypeRegistration, Value: "lei:529900T8BM49AURSDO55"}, match.Strong},
		{"phone", "+49 30 1234567", match.Row{Type: match.TypePhone, Value: "+49301234567"}, match.Weak},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), []string{"headsup", "hash", "--key-file", keyFile, tt.typ, tt.arg}, strings.NewReader(""), &stdout, &stderr); code != 0 {
				t.Fatalf("hash: status %d: %s", code, stderr.String())
			}
			hashed := strings.TrimSpace(stdout.String())
			row := tt.row
			row.Owner, row.Source = "cus-1", "customers.csv"
			ix, bad := match.Build([]match.Row{row}, match.Config{HashKeys: map[string][]byte{"fed2026": []byte("s3cret-federation-key")}})
			if len(bad) > 0 {
				t.Fatal(bad[0])
			}
			ms := ix.MatchIdentifier(&headsupv1.Identifier{Value: &headsupv1.Identifier_Hashed{Hashed: hashed}}, match.Query{})
			if len(ms) != 1 || ms[0].Owner != "cus-1" || ms[0].Rule != match.RuleHashed || ms[0].Strength != tt.strength {
				t.Fatalf("%s matched %+v; want cus-1 by hashed (%s)", hashed, ms, tt.strength)
			}
		})
	}
}
