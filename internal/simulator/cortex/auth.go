package cortex

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Header names of Cortex XDR API authentication.
const (
	HeaderAuthID    = "x-xdr-auth-id"
	HeaderNonce     = "x-xdr-nonce"
	HeaderTimestamp = "x-xdr-timestamp"
)

// AdvancedAuthorization returns the Authorization value of an advanced key: the lowercase
// hex SHA-256 of key + nonce + timestamp (epoch milliseconds as a decimal string).
func AdvancedAuthorization(key, nonce, timestamp string) string {
	sum := sha256.Sum256([]byte(key + nonce + timestamp))
	return hex.EncodeToString(sum[:])
}

// authenticate reports whether r carries the tenant's credentials. Standard keys send the
// key itself in Authorization; advanced keys its hash with a 64-character alphanumeric
// nonce and a timestamp within MaxSkew of the simulator's clock.
func (s *Simulator) authenticate(r *http.Request) bool {
	id, auth := r.Header.Get(HeaderAuthID), r.Header.Get("Authorization")
	if id == "" || auth == "" || !equal(id, s.cfg.APIKeyID) {
		return false
	}
	if !s.cfg.Advanced {
		return equal(auth, s.cfg.APIKey)
	}
	nonce, ts := r.Header.Get(HeaderNonce), r.Header.Get(HeaderTimestamp)
	if !validNonce(nonce) {
		return false
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	now := s.clock()
	if skew := time.Duration(now.UnixMilli()-ms) * time.Millisecond; skew > s.cfg.MaxSkew || -skew > s.cfg.MaxSkew {
		return false
	}
	if !equal(auth, AdvancedAuthorization(s.cfg.APIKey, nonce, ts)) {
		return false
	}
	if s.cfg.RejectNonceReuse && !s.nonces.add(nonce, now, 2*s.cfg.MaxSkew) {
		return false
	}
	return true
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// validNonce reports whether n is 64 characters of [A-Za-z0-9], as the documented clients
// generate it.
func validNonce(n string) bool {
	if len(n) != 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// nonceCache remembers the nonces of accepted requests for a window.
type nonceCache struct {
	mu        sync.Mutex
	seen      map[string]time.Time
	lastPrune time.Time
}

// add records nonce and reports whether it was new within window.
func (c *nonceCache) add(nonce string, now time.Time, window time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[string]time.Time)
	}
	if now.Sub(c.lastPrune) > window {
		for n, at := range c.seen {
			if now.Sub(at) > window {
				delete(c.seen, n)
			}
		}
		c.lastPrune = now
	}
	if at, ok := c.seen[nonce]; ok && now.Sub(at) <= window {
		return false
	}
	c.seen[nonce] = now
	return true
}
