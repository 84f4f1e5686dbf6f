package alert_test

import (
	"regexp"
	"testing"

	"github.com/headsup-dev/headsup/internal/alert"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestID(t *testing.T) {
	id := alert.ID("voxhost", "c-1042", "edgeshield", "01957a3c-8e2b-7c41-9a6d-3f2e1b0c4d5e")
	// Pinned (and checked with an independent implementation of the
	// encoding): stored alerts and receivers' idempotency keys depend on it.
	const want = "6be9f38d6db5ea3ab2181a1598feff776488142c294f210a167453acd629759c"
	if id != want {
		t.Fatalf("ID = %s, want %s (the encoding changed: every stored alert id would change)", id, want)
	}
	g := alert.GroupKey("voxhost", "c-1042", "host:chanboard.example")
	const wantGroup = "58a9c29306da532afbfb79f3c92d2c057639a87e9f795639de1b13b38a1ff339"
	if g != wantGroup {
		t.Fatalf("GroupKey = %s, want %s", g, wantGroup)
	}
	if !hex64.MatchString(id) || !hex64.MatchString(g) {
		t.Fatalf("not 64 hex digits: %s %s", id, g)
	}
}

func TestIDUnambiguous(t *testing.T) {
	seen := map[string][4]string{}
	for _, f := range [][4]string{
		{"voxhost", "c-1", "edgeshield", "n"},
		{"voxhost", "c-1e", "dgeshield", "n"},
		{"voxhostc-1", "", "edgeshield", "n"},
		{"voxhost\x00c-1", "", "edgeshield", "n"},
		{"voxhost", "c-1\x00edgeshield", "", "n"},
		{"", "voxhost", "c-1", "edgeshieldn"},
		{"voxhost", "c-1", "edgeshield", "n\x00"},
	} {
		id := alert.ID(f[0], f[1], f[2], f[3])
		if prev, dup := seen[id]; dup {
			t.Fatalf("ID(%q) = ID(%q)", f, prev)
		}
		seen[id] = f
	}
	// An alert id never equals a group key over the same strings.
	if alert.ID("a", "b", "c", "") == alert.GroupKey("a", "b", "c") {
		t.Fatal("ID and GroupKey are not domain-separated")
	}
}
