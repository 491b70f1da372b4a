package cortexxdr_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-sec/tributary/internal/connector/connectortest"
	"github.com/tributary-sec/tributary/internal/connector/cortexxdr"
	"github.com/tributary-sec/tributary/internal/simulator/cortex"
)

const (
	confKeyID    = "42"
	confKey      = "ConformanceCortexKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzAB"
	confWrongKey = "WrongCortexKey9876543210zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvutsrqponmlkjihgfedcbaZYXW"
	confKeyEnv   = "CONFORMANCE_CORTEX_API_KEY"
	confWrongEnv = "CONFORMANCE_CORTEX_WRONG_API_KEY"
	// confPageSize is the connector's page_size: small, so that a small tenant spans
	// several get_endpoint pages.
	confPageSize    = 10
	confMaxAttempts = 3
)

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Type:     cortexxdr.Type,
		Start:    startCortexTenant,
		PageSize: confPageSize,
		Retries:  confMaxAttempts - 1,
	})
}

// cortexTenant is the Cortex XDR simulator behind an httptest server; n is its number
// of endpoints.
type cortexTenant struct {
	t     *testing.T
	sim   *cortex.Simulator
	url   string
	scope string

	mu   sync.Mutex
	seen map[string]bool // credential-bearing request header values
}

func startCortexTenant(t *testing.T, seed int64, n int) connectortest.Tenant {
	t.Helper()
	sim, err := cortex.New(cortex.Config{
		Seed: seed, Endpoints: n, APIKeyID: confKeyID, APIKey: confKey, Advanced: true,
		PendingPolls: -1, // the connector polls after a second; the suite has many fetches
	})
	if err != nil {
		t.Fatal(err)
	}
	tn := &cortexTenant{t: t, sim: sim, seen: map[string]bool{}}
	srv := httptest.NewServer(tn.recordCredentials(sim.Handler()))
	t.Cleanup(srv.Close)
	t.Setenv(confKeyEnv, confKey)
	t.Setenv(confWrongEnv, confWrongKey)
	u, _ := url.Parse(srv.URL)
	tn.url, tn.scope = srv.URL, u.Hostname()
	return tn
}

// recordCredentials notes the credential-bearing headers of every request.
func (tn *cortexTenant) recordCredentials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn.mu.Lock()
		for _, name := range []string{"Authorization", cortex.HeaderNonce} {
			for _, v := range r.Header.Values(name) {
				tn.seen[v] = true
			}
		}
		tn.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (tn *cortexTenant) settings(keyEnv string) string {
	return strings.Join([]string{
		"base_url: " + tn.url,
		"api_key_id: " + confKeyID,
		"api_key: {env: " + keyEnv + "}",
		"key_type: advanced",
		"page_size: " + strconv.Itoa(confPageSize),
		"max_attempts: " + strconv.Itoa(confMaxAttempts),
		"remove_statuses: [LOST, UNINSTALLED]",
	}, "\n")
}

func (tn *cortexTenant) Settings() string         { return tn.settings(confKeyEnv) }
func (tn *cortexTenant) WrongCredentials() string { return tn.settings(confWrongEnv) }

func (tn *cortexTenant) SetFaults(f connectortest.Faults) {
	tn.sim.SetFaults(cortex.Faults{Throttle: f.Throttle, ServerError: f.ServerError, Malformed: f.Malformed})
}

// Expected lists each endpoint served whole under its kind, and each va_cves row as
// host/CVE; the endpoints served malformed are the malformed records.
func (tn *cortexTenant) Expected() connectortest.Expected {
	exp := connectortest.Expected{Scopes: []string{tn.scope}, Keys: map[string][]string{}}
	bad := map[string]bool{}
	for _, id := range tn.sim.MalformedIDs() {
		bad[id] = true
	}
	exp.Malformed = len(bad)
	for _, e := range tn.sim.Endpoints() {
		if bad[e.EndpointID] {
			continue
		}
		kind := cortexxdr.KindEndpoint
		if e.EndpointStatus == "LOST" || e.EndpointStatus == "UNINSTALLED" {
			kind = cortexxdr.KindEndpointRemoved
		}
		exp.Keys[kind] = append(exp.Keys[kind], e.EndpointID)
	}
	for _, r := range tn.sim.CVERows() {
		exp.Keys[cortexxdr.KindVulnerability] = append(exp.Keys[cortexxdr.KindVulnerability], r.AffectedHosts+"/"+r.CVEID)
	}
	return exp
}

func (tn *cortexTenant) Sensitive() []string {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	out := []string{confKey, confWrongKey}
	for v := range tn.seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}
