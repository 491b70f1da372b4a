// Package connectortest is the conformance suite every connector type passes (SPEC §1.3):
// Run drives a connector through its public contract against the connector's simulator.
// It is used only from tests.
package connectortest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tributary-sec/tributary/internal/connector"
)

// Harness is what a connector's test gives Run: the connector type and a way to start
// its simulator.
type Harness struct {
	// Type is the connector type under test.
	Type connector.Type
	// Start starts the connector's simulator for one subtest with a tenant of n records
	// (0: an empty tenant) generated from seed, stopping it with t.Cleanup. It sets the
	// environment variables the settings' secrets name with t.Setenv. A subtest may
	// start two tenants; each call starts an independent simulator.
	Start func(t *testing.T, seed int64, n int) Tenant
	// PageSize is the most records one page of the simulator holds with the tenant's
	// settings; the paging subtest asks for a tenant of several pages.
	PageSize int
	// Retries is how many times, with the tenant's settings, the connector retries a
	// vendor call that was throttled or failed with a server error (e.g. 2 for
	// max_attempts: 3). Keep it and the simulator's Retry-After small: the suite waits
	// them out. At least 1.
	Retries int
	// Golden is the mapping subtest's golden file, relative to the connector's package
	// directory; empty means testdata/conformance_<Type.Name>.golden.json. go test
	// -update (when the package defines that flag) or -update-conformance rewrites it.
	Golden string
}

// Tenant is one running simulator with one tenant's data.
type Tenant interface {
	// Settings returns the connector's settings block (YAML, as under settings: in the
	// connectors file) for a connector that works against the simulator. Secrets are
	// references ({env: VARIABLE}) to variables Start has set.
	Settings() string
	// WrongCredentials returns Settings with a secret the simulator refuses (a variable
	// Start has set to a wrong value).
	WrongCredentials() string
	// SetFaults replaces the faults the simulator injects from its next call on.
	SetFaults(f Faults)
	// Expected returns what a Full fetch of the tenant's Settings must return under the
	// current faults.
	Expected() Expected
	// Sensitive returns strings that must never appear in an error: the secrets of
	// Settings and WrongCredentials, and every credential-bearing request header value
	// (Authorization and the like) the simulator has received so far.
	Sensitive() []string
}

// Faults are the vendor failures the suite injects; each tenant maps them to its
// simulator's own.
type Faults struct {
	// Throttle answers the next N vendor calls 429 with a small Retry-After.
	Throttle int
	// ServerError answers the next N vendor calls with a 5xx.
	ServerError int
	// Malformed serves N of the tenant's records malformed (the same ones for a seed)
	// in pages that are otherwise valid; the rest stay as they were.
	Malformed int
}

// Expected is what a Full fetch of a tenant must return.
type Expected struct {
	// Scopes are the connector's scopes in configuration order.
	Scopes []string
	// Keys are the vendor keys of the well-formed records, by record Kind.
	Keys map[string][]string
	// Malformed counts the malformed records the fetch also emits (their vendor keys
	// are not in Keys, and may be empty).
	Malformed int
}

// Total is the number of records the fetch emits.
func (e Expected) Total() int {
	n := e.Malformed
	for _, keys := range e.Keys {
		n += len(keys)
	}
	return n
}

// validate says what is missing from h.
func (h *Harness) validate() error {
	switch {
	case h.Type.Name == "":
		return errors.New("harness: Type.Name is empty")
	case h.Type.NewSource == nil:
		return errors.New("harness: Type.NewSource is nil")
	case h.Type.Normalizer == nil:
		return errors.New("harness: Type.Normalizer is nil")
	case h.Start == nil:
		return errors.New("harness: Start is nil")
	case h.PageSize < 1:
		return fmt.Errorf("harness: PageSize is %d; set the simulator's page size", h.PageSize)
	case h.Retries < 1:
		return fmt.Errorf("harness: Retries is %d; configure the connector to retry at least once", h.Retries)
	}
	if h.Golden == "" {
		h.Golden = "testdata/conformance_" + h.Type.Name + ".golden.json"
	}
	return nil
}
