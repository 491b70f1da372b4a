package cortex_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/cortex"
)

func TestAuthentication(t *testing.T) {
	n := nonce(nonceRNG)
	now := time.Now()
	tests := []struct {
		name     string
		advanced bool
		maxSkew  time.Duration
		auth     auth
		want     int
	}{
		{"standard key", false, 0, standardAuth(testKeyID, testKey), 200},
		{"standard: wrong key", false, 0, standardAuth(testKeyID, testKey+"x"), 401},
		{"standard: wrong key id", false, 0, standardAuth("18", testKey), 401},
		{"standard: no key id", false, 0, standardAuth("", testKey), 401},
		{"standard: no Authorization", false, 0, func(h http.Header) { h.Set("x-xdr-auth-id", testKeyID) }, 401},
		{"standard tenant given an advanced hash", false, 0, advancedAuth(testKeyID, testKey, n, now), 401},
		{"advanced key", true, 0, advancedAuth(testKeyID, testKey, n, now), 200},
		{"advanced: timestamp in whole seconds, as the docs example", true, 0, advancedAuth(testKeyID, testKey, n, now.Truncate(time.Second)), 200},
		{"advanced: 4 minutes old", true, 0, advancedAuth(testKeyID, testKey, n, now.Add(-4*time.Minute)), 200},
		{"advanced: 6 minutes old", true, 0, advancedAuth(testKeyID, testKey, n, now.Add(-6*time.Minute)), 401},
		{"advanced: 6 minutes ahead", true, 0, advancedAuth(testKeyID, testKey, n, now.Add(6*time.Minute)), 401},
		{"advanced: 6 minutes old, skew 10m", true, 10 * time.Minute, advancedAuth(testKeyID, testKey, n, now.Add(-6*time.Minute)), 200},
		{"advanced: hash of another key", true, 0, advancedAuth(testKeyID, testKey+"x", n, now), 401},
		{"advanced: wrong key id", true, 0, advancedAuth("18", testKey, n, now), 401},
		{"advanced: raw key instead of hash", true, 0, func(h http.Header) {
			advancedAuth(testKeyID, testKey, n, now)(h)
			h.Set("Authorization", testKey)
		}, 401},
		{"advanced: upper-case hex", true, 0, func(h http.Header) {
			advancedAuth(testKeyID, testKey, n, now)(h)
			h.Set("Authorization", strings.ToUpper(h.Get("Authorization")))
		}, 401},
		{"advanced: hash over another timestamp", true, 0, func(h http.Header) {
			advancedAuth(testKeyID, testKey, n, now)(h)
			h.Set("x-xdr-timestamp", "1700000000000")
		}, 401},
		{"advanced: short nonce", true, 0, advancedAuth(testKeyID, testKey, n[:32], now), 401},
		{"advanced: no timestamp", true, 0, func(h http.Header) {
			advancedAuth(testKeyID, testKey, n, now)(h)
			h.Del("x-xdr-timestamp")
		}, 401},
		{"advanced: no nonce", true, 0, func(h http.Header) {
			advancedAuth(testKeyID, testKey, n, now)(h)
			h.Del("x-xdr-nonce")
		}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, cortex.Config{Seed: 1, Endpoints: 3, Advanced: tt.advanced, MaxSkew: tt.maxSkew})
			status, body := e.post(cortex.PathGetEndpoint, rd(map[string]any{}), tt.auth)
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			if status == http.StatusUnauthorized {
				eb := decodeError(t, body)
				if eb.Reply.ErrCode != 401 || eb.Reply.ErrMsg != "Public API request unauthorized" || string(eb.Reply.ErrExtra) != "null" {
					t.Errorf("401 body %s", body)
				}
				if strings.Contains(string(body), testKey) {
					t.Errorf("401 body echoes the key")
				}
			}
		})
	}
}

func TestNonceReuse(t *testing.T) {
	tests := []struct {
		name   string
		reject bool
		want   []int
	}{
		{"allowed by default, as XSOAR reuses headers across calls", false, []int{200, 200, 200}},
		{"rejected when configured", true, []int{200, 401, 401}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, cortex.Config{Seed: 1, Endpoints: 3, Advanced: true, RejectNonceReuse: tt.reject})
			a := advancedAuth(testKeyID, testKey, nonce(nonceRNG), time.Now())
			var got []int
			for range tt.want {
				status, _ := e.post(cortex.PathGetQuota, rd(map[string]any{}), a)
				got = append(got, status)
			}
			if !equalInts(got, tt.want) {
				t.Errorf("statuses %v, want %v", got, tt.want)
			}
			// A fresh nonce is always accepted.
			if status, _ := e.post(cortex.PathGetQuota, rd(map[string]any{}), nil); status != 200 {
				t.Errorf("fresh nonce: status %d", status)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
