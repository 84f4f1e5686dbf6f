package bus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/headsup-dev/headsup/internal/bus"
)

func TestSubject(t *testing.T) {
	const id = "01890a5d-ac96-774b-bcce-b302099a8057"
	tests := []struct {
		name, issuer, id string
		want             string // "" means refused
	}{
		{"valid", "edgeshield", id, "headsup.notice.edgeshield." + id},
		{"digits and dash", "0x-1", id, "headsup.notice.0x-1." + id},
		{"issuer 63 chars", strings.Repeat("a", 63), id, "headsup.notice." + strings.Repeat("a", 63) + "." + id},
		{"issuer 64 chars", strings.Repeat("a", 64), id, ""},
		{"empty issuer", "", id, ""},
		{"upper-case issuer", "EdgeShield", id, ""},
		{"leading dash", "-edge", id, ""},
		{"dot in issuer", "edge.shield", id, ""},
		{"wildcard issuer", "*", id, ""},
		{"tail wildcard issuer", ">", id, ""},
		{"issuer with space", "edge shield", id, ""},
		{"issuer with newline", "edge\n", id, ""},
		{"empty id", "edgeshield", "", ""},
		{"upper-case id", "edgeshield", strings.ToUpper(id), ""},
		{"uuid v4", "edgeshield", "0b9e5a6c-3f1d-4c2b-8a7e-9d6f5c4b3a21", ""},
		{"bad variant", "edgeshield", "01890a5d-ac96-774b-7cce-b302099a8057", ""},
		{"no dashes", "edgeshield", strings.ReplaceAll(id, "-", ""), ""},
		{"braces", "edgeshield", "{" + id + "}", ""},
		{"urn", "edgeshield", "urn:uuid:" + id, ""},
		{"token injection", "edgeshield", id + ".x", ""},
		{"wildcard id", "edgeshield", ">", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bus.Subject(tt.issuer, tt.id)
			if tt.want == "" {
				if !errors.Is(err, bus.ErrInvalidSubject) {
					t.Fatalf("Subject(%q, %q) = %q, %v; want ErrInvalidSubject", tt.issuer, tt.id, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Subject(%q, %q) = %q, %v; want %q", tt.issuer, tt.id, got, err, tt.want)
			}
		})
	}
}
