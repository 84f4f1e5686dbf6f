package bench

import (
	"slices"
	"testing"

	"github.com/headsup-dev/headsup/internal/audit/audittest"
)

// historyTB must be an audittest.TB.
var _ audittest.TB = (*historyTB)(nil)

// TestWithHistoryTB: a history's Fatal ends the build and comes back as
// an error, cleanups run last registered first whatever happened, and a
// panic that is not a Fatal is not swallowed.
func TestWithHistoryTB(t *testing.T) {
	for _, tt := range []struct {
		name    string
		build   func(tb *historyTB)
		wantErr string
	}{
		{"success", func(tb *historyTB) {}, ""},
		{"Fatal", func(tb *historyTB) { tb.Fatal("no member ", `"x"`) }, `no member "x"`},
		{"Fatalf", func(tb *historyTB) { tb.Fatalf("no member %q", "x") }, `no member "x"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ran []int
			reached := false
			err := withHistoryTB(func(tb *historyTB) {
				tb.Cleanup(func() { ran = append(ran, 1) })
				tb.Cleanup(func() { ran = append(ran, 2) })
				tt.build(tb)
				reached = true
			})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("error %q, want %q", got, tt.wantErr)
			}
			if reached != (tt.wantErr == "") {
				t.Errorf("the build went on after Fatal: %v", reached)
			}
			if !slices.Equal(ran, []int{2, 1}) {
				t.Errorf("cleanups ran %v, want [2 1]", ran)
			}
		})
	}
	t.Run("other panic", func(t *testing.T) {
		cleaned := false
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the original panic", r)
			}
			if !cleaned {
				t.Error("cleanup did not run")
			}
		}()
		_ = withHistoryTB(func(tb *historyTB) {
			tb.Cleanup(func() { cleaned = true })
			panic("boom")
		})
	})
}

// TestAuditHistoryThroughTB builds a small synthetic history through the
// command's adapter and checks that its bound measures every entry.
func TestAuditHistoryThroughTB(t *testing.T) {
	var bound *audittest.Bound
	err := withHistoryTB(func(tb *historyTB) {
		h := audittest.Synthetic(tb, 50)
		bound = h.Bound(h.Source().Archive(tb))
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := bound.Measure(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Entries != 50 || got.Rate() <= 0 {
		t.Errorf("bound %+v over 50 entries", got)
	}
}
