package agent

import (
	"testing"
	"time"
)

// TestCheckPaceDue: a rebuild is due once factor times the last one's
// duration has passed since it ended; one not due arms the timer, and a
// smaller factor (a catch-up ended) makes it due sooner.
func TestCheckPaceDue(t *testing.T) {
	tests := []struct {
		name   string
		factor int
		want   bool
	}{
		{name: "live spacing passed", factor: 5, want: true},
		{name: "catch-up spacing not passed", factor: 500, want: false},
		{name: "live spacing not passed", factor: 50, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &checkPace{timer: time.NewTimer(time.Hour), end: time.Now().Add(-10 * time.Second), took: time.Second}
			defer p.timer.Stop()
			if got := p.due(tt.factor); got != tt.want || p.armed == tt.want {
				t.Fatalf("due(%d) = %v, armed %v; want %v", tt.factor, got, p.armed, tt.want)
			}
		})
	}
	p := checkPace{}
	if !p.due(checkPaceFactor) {
		t.Fatal("before the loop starts (no timer) every rebuild must be due")
	}
	p.timer = time.NewTimer(time.Hour)
	defer p.timer.Stop()
	p.armed = true
	p.built(time.Now().Add(-time.Second))
	if p.armed || p.took < time.Second {
		t.Fatalf("after a rebuild: armed %v, took %s", p.armed, p.took)
	}
}
