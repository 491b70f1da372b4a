package cortex

import (
	"fmt"
	"time"
)

// Config configures a Simulator. Zero fields take the documented defaults, except Endpoints.
type Config struct {
	Seed int64
	// Endpoints is the scale knob: endpoints of the tenant, 0..MaxEndpoints. Unlike the other
	// fields it has no default: 0 is an empty tenant (no endpoints, no vulnerability data).
	Endpoints int

	APIKeyID string // x-xdr-auth-id the tenant accepts (default DefaultAPIKeyID)
	APIKey   string // the key (default DefaultAPIKey)
	Advanced bool   // the key is an advanced key: nonce + timestamp + SHA-256 hash; else a standard key

	MaxSkew          time.Duration // advanced keys: accepted |now - x-xdr-timestamp| (default 5m)
	RejectNonceReuse bool          // advanced keys: refuse a nonce already seen within 2×MaxSkew (the real service evidently allows reuse)

	PageCap           int     // get_endpoint: largest search_to - search_from (default 100)
	InlineRows        int     // get_query_results: most rows returned inline; more come through a stream_id (default 1000)
	RequestsPerSecond float64 // token bucket over all public API calls of the tenant, burst max(1, rate) (default 10; negative disables)
	MaxRunningQueries int     // XQL queries running at once before start_xql_query is refused (default 4)
	PendingPolls      int     // get_query_results polls answered PENDING before the result (default 1; negative means none)
	QueryQuota        float64 // daily XQL query units (license_quota; default 5); used units reset at midnight UTC

	Now time.Time // reference time of generated timestamps; default DefaultNow so output is deterministic
}

// Defaults of Config.
const (
	DefaultEndpoints         = 200 // what deploy/simulator serves unless told otherwise
	MaxEndpoints             = 1_000_000
	DefaultAPIKeyID          = "1"
	DefaultMaxSkew           = 5 * time.Minute
	DefaultPageCap           = 100
	DefaultInlineRows        = 1000
	DefaultRequestsPerSecond = 10
	DefaultMaxRunningQueries = 4
	DefaultPendingPolls      = 1
	DefaultQueryQuota        = 5
)

// DefaultAPIKey is the development key a Config without one accepts; it is no secret.
const DefaultAPIKey = "tributarySimulatorDevelopmentKey0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

// DefaultNow is the default reference time of generated timestamps.
var DefaultNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// withDefaults fills the zero fields of c and checks the rest.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Endpoints < 0:
		return c, fmt.Errorf("checking config: endpoints must not be negative, got %d", c.Endpoints)
	case c.Endpoints > MaxEndpoints:
		return c, fmt.Errorf("checking config: endpoints must be at most %d, got %d", MaxEndpoints, c.Endpoints)
	}
	if c.APIKeyID == "" && c.APIKey == "" {
		c.APIKeyID, c.APIKey = DefaultAPIKeyID, DefaultAPIKey
	}
	if c.APIKeyID == "" || c.APIKey == "" {
		return c, fmt.Errorf("checking config: API key id and API key must be set together")
	}
	if c.MaxSkew == 0 {
		c.MaxSkew = DefaultMaxSkew
	}
	if c.MaxSkew < 0 {
		return c, fmt.Errorf("checking config: max skew must not be negative, got %s", c.MaxSkew)
	}
	if c.PageCap == 0 {
		c.PageCap = DefaultPageCap
	}
	if c.PageCap < 1 {
		return c, fmt.Errorf("checking config: page cap must be positive, got %d", c.PageCap)
	}
	if c.InlineRows == 0 {
		c.InlineRows = DefaultInlineRows
	}
	if c.InlineRows < 1 {
		return c, fmt.Errorf("checking config: inline rows must be positive, got %d", c.InlineRows)
	}
	if c.RequestsPerSecond == 0 {
		c.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if c.MaxRunningQueries == 0 {
		c.MaxRunningQueries = DefaultMaxRunningQueries
	}
	if c.MaxRunningQueries < 1 {
		return c, fmt.Errorf("checking config: max running queries must be positive, got %d", c.MaxRunningQueries)
	}
	switch {
	case c.PendingPolls == 0:
		c.PendingPolls = DefaultPendingPolls
	case c.PendingPolls < 0:
		c.PendingPolls = 0
	}
	if c.QueryQuota == 0 {
		c.QueryQuota = DefaultQueryQuota
	}
	if c.QueryQuota < 0 {
		return c, fmt.Errorf("checking config: query quota must not be negative, got %g", c.QueryQuota)
	}
	if c.Now.IsZero() {
		c.Now = DefaultNow
	}
	c.Now = c.Now.UTC()
	return c, nil
}
