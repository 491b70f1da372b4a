package simctl

import (
	"sync"
	"time"
	"unicode/utf8"
)

// TokenBucket is a rate limiter refilled continuously at rate tokens a second, holding
// at most max(1, rate): a simulator's requests-per-second limit.
type TokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// NewTokenBucket returns a full bucket at time now.
func NewTokenBucket(rate float64, now time.Time) *TokenBucket {
	burst := max(1, rate)
	return &TokenBucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// Allow takes a token if one is available at time now.
func (b *TokenBucket) Allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// AppendString appends s as a JSON string. The simulators write JSON by appending to
// byte slices: an order of magnitude cheaper than encoding/json for large datasets.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			}
			i++
			start = i
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Guarded is a value read and changed under a lock: a simulator's active faults, whose
// counters count down as requests consume them.
type Guarded[T any] struct {
	mu sync.Mutex
	v  T
}

// Get returns a copy of the value.
func (g *Guarded[T]) Get() T {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.v
}

// Set replaces the value.
func (g *Guarded[T]) Set(v T) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.v = v
}

// Update changes the value in place under the lock.
func (g *Guarded[T]) Update(change func(*T)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	change(&g.v)
}
