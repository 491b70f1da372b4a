package awsinspector_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-sec/tributary/internal/connector/awsinspector"
	"github.com/tributary-sec/tributary/internal/connector/connectortest"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

const (
	confKeyID       = "AKIACONFORMANCE00001"
	confSecret      = "conformance/Secret+Key/0123456789abcdefghij"
	confWrongSecret = "conformance/Wrong+Key/9876543210zyxwvutsrq"
	confSecretEnv   = "CONFORMANCE_AWS_SECRET_ACCESS_KEY"
	confWrongEnv    = "CONFORMANCE_AWS_WRONG_SECRET_ACCESS_KEY"
	// confPageSize is the simulator's page cap: pages shorter than the connector's
	// max_results (100), as AWS may send.
	confPageSize    = 10
	confMaxAttempts = 3
)

// confSimRegions hold the simulator's findings; confEmptyRegions hold none.
var (
	confSimRegions   = []string{"us-east-1", "eu-west-1"}
	confEmptyRegions = []string{"us-west-2", "ap-southeast-2"}
)

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Type:     awsinspector.Type,
		Start:    startInspectorTenant,
		PageSize: confPageSize,
		Retries:  confMaxAttempts - 1,
		Golden:   "testdata/conformance_aws_inspector2.golden.json",
	})
}

// inspectorTenant is the Inspector simulator behind an httptest server.
type inspectorTenant struct {
	t       *testing.T
	sim     *inspector.Simulator
	url     string
	regions []string
	clean   map[string][]json.RawMessage // each region's findings before any fault

	mu   sync.Mutex
	seen map[string]bool // credential-bearing request header values
}

func startInspectorTenant(t *testing.T, seed int64, n int) connectortest.Tenant {
	t.Helper()
	tn := &inspectorTenant{t: t, regions: confSimRegions, seen: map[string]bool{}}
	findings := n
	if n == 0 {
		// The simulator always holds findings (0 asks for its default); regions it has
		// none for answer like an account's region with no findings.
		tn.regions, findings = confEmptyRegions, 1
	}
	sim, err := inspector.New(inspector.Config{
		Seed: seed, Findings: findings, Regions: confSimRegions,
		AccessKeyID: confKeyID, SecretAccessKey: confSecret,
		PageCap: confPageSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tn.recordCredentials(sim.Handler()))
	t.Cleanup(srv.Close)
	t.Setenv(confSecretEnv, confSecret)
	t.Setenv(confWrongEnv, confWrongSecret)
	tn.sim, tn.url = sim, srv.URL
	tn.clean = map[string][]json.RawMessage{}
	for _, r := range tn.regions {
		tn.clean[r] = sim.Findings(r)
	}
	return tn
}

// recordCredentials notes the credential-bearing headers of every request, and the
// signature inside each SigV4 Authorization value.
func (tn *inspectorTenant) recordCredentials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tn.mu.Lock()
		for _, name := range []string{"Authorization", "X-Amz-Security-Token"} {
			for _, v := range r.Header.Values(name) {
				tn.seen[v] = true
				if _, sig, ok := strings.Cut(v, "Signature="); ok {
					tn.seen[sig] = true
				}
			}
		}
		tn.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (tn *inspectorTenant) settings(secretEnv string) string {
	return strings.Join([]string{
		"regions: [" + strings.Join(tn.regions, ", ") + "]",
		"access_key_id: " + confKeyID,
		"secret_access_key: {env: " + secretEnv + "}",
		"endpoint: " + tn.url,
		"max_attempts: " + strconv.Itoa(confMaxAttempts),
	}, "\n")
}

func (tn *inspectorTenant) Settings() string         { return tn.settings(confSecretEnv) }
func (tn *inspectorTenant) WrongCredentials() string { return tn.settings(confWrongEnv) }

// SetFaults maps the suite's faults to the simulator's, with the shortest Retry-After.
func (tn *inspectorTenant) SetFaults(f connectortest.Faults) {
	tn.sim.SetFaults(inspector.Faults{Throttle: f.Throttle, RetryAfter: 1, ServerError: f.ServerError, Malformed: f.Malformed})
}

// Expected lists the findingArn of each finding served as generated; the others are
// the malformed ones.
func (tn *inspectorTenant) Expected() connectortest.Expected {
	exp := connectortest.Expected{Scopes: tn.regions, Keys: map[string][]string{}}
	for _, region := range tn.regions {
		for i, served := range tn.sim.Findings(region) {
			if !bytes.Equal(served, tn.clean[region][i]) {
				exp.Malformed++
				continue
			}
			var f struct {
				FindingArn string `json:"findingArn"`
			}
			if err := json.Unmarshal(served, &f); err != nil || f.FindingArn == "" {
				tn.t.Fatalf("simulator finding %d of %s has no findingArn (%v): %.200s", i, region, err, served)
			}
			exp.Keys[awsinspector.KindFinding] = append(exp.Keys[awsinspector.KindFinding], f.FindingArn)
		}
	}
	return exp
}

func (tn *inspectorTenant) Sensitive() []string {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	out := []string{confSecret, confWrongSecret}
	for v := range tn.seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}
