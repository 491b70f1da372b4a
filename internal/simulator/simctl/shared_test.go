package simctl

import (
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	b := NewTokenBucket(10, t0)
	for k := range 10 {
		if !b.Allow(t0) {
			t.Fatalf("request %d of the burst refused", k)
		}
	}
	tests := []struct {
		at   time.Duration
		want bool
	}{
		{0, false},
		{50 * time.Millisecond, false},
		{100 * time.Millisecond, true},
		{100 * time.Millisecond, false},
		{time.Minute, true}, // refilled to the burst, not beyond
	}
	for _, tt := range tests {
		if got := b.Allow(t0.Add(tt.at)); got != tt.want {
			t.Errorf("at +%s: allowed %t, want %t", tt.at, got, tt.want)
		}
	}
	if b.tokens != 9 {
		t.Errorf("tokens %g after a long pause and one request, want 9", b.tokens)
	}
}
