package awsinspector

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

// checkNoSecret fails t when the secret, a request signature or an unredacted
// credential header shows in what the sync log keeps of cerr.
func checkNoSecret(t *testing.T, cerr *connector.Error) {
	t.Helper()
	leaks := func(s string) bool {
		return strings.Contains(s, testSecret) || strings.Contains(s, "Signature=")
	}
	if leaks(cerr.Error()) {
		t.Errorf("Error() leaks a credential: %s", cerr.Error())
	}
	if leaks(string(cerr.Payload)) {
		t.Errorf("payload leaks a credential: %s", cerr.Payload)
	}
	for k, vs := range cerr.Headers {
		for _, v := range vs {
			if leaks(v) {
				t.Errorf("header %s leaks a credential: %s", k, v)
			}
			if (strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "X-Amz-Security-Token")) && v != "[redacted]" {
				t.Errorf("header %s not redacted: %s", k, v)
			}
		}
	}
}

// fetchErr runs Initiate and Fetch and returns Fetch's error as a *connector.Error.
func fetchErr(t *testing.T, src *Source) (connector.FetchResult, *connector.Error) {
	t.Helper()
	_, res, err := fetchAll(t, src, connector.FetchRequest{SyncID: "s"})
	if err == nil {
		t.Fatal("Fetch succeeded, want an error")
	}
	var cerr *connector.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Fetch error %T (%v) is not a *connector.Error", err, err)
	}
	return res, cerr
}

// oneRegion limits connectors-file YAML to us-east-1.
func oneRegion(settings string) string {
	return strings.Replace(settings, "regions: [us-east-1, eu-west-1]", "regions: [us-east-1]", 1)
}

// nxdomainResolver answers every DNS query with NXDOMAIN, as resolvers answer names
// under .invalid (RFC 6761), and sends nothing over the network, so a lookup fails at
// once and the same way on every machine.
func nxdomainResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		go answerNXDOMAIN(server)
		return client, nil
	}}
}

// answerNXDOMAIN reads one DNS query framed as over TCP (a net.Pipe is a stream) and
// answers it with its own header and question, flagged as a response with RCODE 3.
func answerNXDOMAIN(c net.Conn) {
	defer c.Close()
	var size [2]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return
	}
	msg := make([]byte, 2+int(binary.BigEndian.Uint16(size[:])))
	copy(msg, size[:])
	if _, err := io.ReadFull(c, msg[2:]); err != nil || len(msg) < 2+12 {
		return
	}
	msg[2+2] |= 0x80                    // QR: a response (RD is kept as the query set it)
	msg[2+3] = msg[2+3]&0x70 | 0x80 | 3 // RA, RCODE 3: NXDOMAIN
	_, _ = c.Write(msg)
}

// unreachableDNSResolver fails every DNS query as a resolver that cannot reach its
// server does.
func unreachableDNSResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(_ context.Context, network, _ string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connect: network is unreachable")}
	}}
}

func withResolver(r *net.Resolver) func(*http.Transport) {
	return func(t *http.Transport) {
		t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, Resolver: r}).DialContext
	}
}

func TestUnreachableEndpointsAreClassified(t *testing.T) {
	const invalidHost = "https://inspector2.us-east-1.tributary-test.invalid"
	tests := []struct {
		name string
		// endpoint returns the connector's endpoint setting ("" for AWS's own), given
		// the simulator and the plain-HTTP URL it is served on.
		endpoint    func(t *testing.T, sim *inspector.Simulator, url string) string
		region      string
		tune        func(*http.Transport)
		messageSays []string
		actionSays  []string
	}{
		{
			name: "self-signed TLS certificate",
			endpoint: func(t *testing.T, sim *inspector.Simulator, _ string) string {
				srv := httptest.NewUnstartedServer(sim.Handler())
				srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
				srv.StartTLS()
				t.Cleanup(srv.Close)
				return srv.URL
			},
			messageSays: []string{"TLS certificate", "not trusted", "certificate signed by unknown authority", "127.0.0.1"},
			actionSays:  []string{"endpoint setting", "CA certificate", "SSL_CERT_FILE"},
		},
		{
			name: "https endpoint serving plain HTTP",
			endpoint: func(_ *testing.T, _ *inspector.Simulator, url string) string {
				return strings.Replace(url, "http://", "https://", 1)
			},
			messageSays: []string{"did not answer with TLS"},
			actionSays:  []string{"endpoint setting", "plain HTTP"},
		},
		{
			name:        "endpoint host that does not exist",
			endpoint:    func(*testing.T, *inspector.Simulator, string) string { return invalidHost },
			tune:        withResolver(nxdomainResolver()),
			messageSays: []string{"inspector2.us-east-1.tributary-test.invalid", "does not exist"},
			actionSays:  []string{"endpoint setting", "regions"},
		},
		{
			name:        "region that does not exist, AWS's own endpoint",
			endpoint:    func(*testing.T, *inspector.Simulator, string) string { return "" },
			region:      "us-esat-1",
			tune:        withResolver(nxdomainResolver()),
			messageSays: []string{"inspector2.us-esat-1.amazonaws.com", "does not exist"},
			actionSays:  []string{"regions", "us-east-1"},
		},
		{
			name:        "DNS server unreachable",
			endpoint:    func(*testing.T, *inspector.Simulator, string) string { return invalidHost },
			tune:        withResolver(unreachableDNSResolver()),
			messageSays: []string{"inspector2.us-east-1.tributary-test.invalid", "could not be resolved", "network is unreachable"},
			actionSays:  []string{"DNS of the fetcher's host", "resolv.conf"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, url := newSimulator(t, 30)
			src := newTestSource(t, oneRegion(settingsYAML(tt.endpoint(t, sim, url))))
			src.settings.MaxAttempts = 2 // connection failures are retried: keep it short
			if tt.region != "" {
				src.settings.Regions = []string{tt.region}
			}
			src.tuneTransport = tt.tune
			if err := src.Initiate(context.Background()); err != nil {
				t.Fatalf("Initiate: %v", err)
			}
			checks := src.Test(context.Background())
			res, cerr := fetchErr(t, src)
			for stage, cerr := range map[string]*connector.Error{model.StageConnectivity: checks[0].Err, model.StageFetching: cerr} {
				if cerr == nil {
					t.Fatalf("%s: no error", stage)
				}
				if cerr.Class != connector.ClassUnreachable || cerr.StatusCode != 0 {
					t.Errorf("%s: class %s, status %d; want %s, no status (%v)", stage, cerr.Class, cerr.StatusCode, connector.ClassUnreachable, cerr)
				}
				for _, s := range tt.messageSays {
					if !strings.Contains(cerr.Message, s) {
						t.Errorf("%s: message %q does not say %q", stage, cerr.Message, s)
					}
				}
				for _, s := range tt.actionSays {
					if !strings.Contains(cerr.Action, s) {
						t.Errorf("%s: action %q does not say %q", stage, cerr.Action, s)
					}
				}
				checkNoSecret(t, cerr)
			}
			if res.Scopes[0].Outcome != model.OutcomeFailed {
				t.Errorf("scope %+v, want failed", res.Scopes[0])
			}
			if n := sim.ListFindingsRequests(); n != 0 {
				t.Errorf("the simulator answered %d ListFindings requests; none should have reached it", n)
			}
		})
	}
}

// TestHTTPSEndpoint shows that an https endpoint override works through the
// connector's own HTTP client once its certificate is trusted.
func TestHTTPSEndpoint(t *testing.T) {
	sim, _ := newSimulator(t, 30)
	srv := httptest.NewTLSServer(sim.Handler())
	t.Cleanup(srv.Close)
	src := newTestSource(t, settingsYAML(srv.URL))
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	src.tuneTransport = func(tr *http.Transport) { tr.TLSClientConfig = &tls.Config{RootCAs: roots} }
	got, _, err := fetchAll(t, src, connector.FetchRequest{SyncID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(sim.Findings("us-east-1")) + len(sim.Findings("eu-west-1")); len(got) != want {
		t.Errorf("fetched %d findings over https, the simulator has %d", len(got), want)
	}
}

// requestLog records when each ListFindings request of each region reached the
// simulator.
type requestLog struct {
	mu       sync.Mutex
	byRegion map[string][]time.Time
}

// newRecordedSimulator is newSimulator with its ListFindings requests recorded.
func newRecordedSimulator(t *testing.T, findings int) (*inspector.Simulator, string, *requestLog) {
	t.Helper()
	sim, _ := newSimulator(t, findings)
	reqs := &requestLog{byRegion: map[string][]time.Time{}}
	h := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/findings/list") {
			// Credential=AKID/20261101/us-east-1/inspector2/aws4_request
			_, scope, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
			parts := strings.Split(scope, "/")
			if len(parts) > 2 {
				reqs.mu.Lock()
				reqs.byRegion[parts[2]] = append(reqs.byRegion[parts[2]], time.Now())
				reqs.mu.Unlock()
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return sim, srv.URL, reqs
}

// gaps returns the time between consecutive requests of a region.
func (l *requestLog) gaps(region string) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := l.byRegion[region]
	var out []time.Duration
	for i := 1; i < len(at); i++ {
		out = append(out, at[i].Sub(at[i-1]))
	}
	return out
}

func TestServerErrorsAreRetriedWithGrowingBackoff(t *testing.T) {
	const maxAttempts = 3
	sim, url, reqs := newRecordedSimulator(t, 30)
	sim.SetFaults(inspector.Faults{ServerError: 1000})
	src := newTestSource(t, settingsYAML(url)) // max_attempts: 3
	res, cerr := fetchErr(t, src)
	if cerr.Class != connector.ClassVendorServer || cerr.StatusCode != 500 || !strings.Contains(cerr.Action, "AWS Health Dashboard") ||
		!strings.Contains(cerr.Message, "InternalServerException") || !strings.Contains(string(cerr.Payload), "Internal server error") {
		t.Errorf("got %s, status %d, %q, payload %q; want a vendor server error, HTTP 500, the AWS Health Dashboard in the action and the body kept",
			cerr.Class, cerr.StatusCode, cerr, cerr.Payload)
	}
	checkNoSecret(t, cerr)
	for _, sc := range res.Scopes {
		if sc.Outcome != model.OutcomeFailed {
			t.Errorf("scope %+v, want failed", sc)
		}
	}
	if n := sim.ListFindingsRequests(); n != maxAttempts*int64(len(testRegions)) {
		t.Errorf("the simulator saw %d ListFindings requests, want max_attempts (%d) per region, %d regions", n, maxAttempts, len(testRegions))
	}

	// The waits the connector's retryer computes: each attempt's range of jittered
	// delays lies above the previous one's, up to the 20 s cap.
	retryer := src.clients["us-east-1"].Options().Retryer
	if retryer.MaxAttempts() != maxAttempts {
		t.Errorf("the client's retryer makes %d attempts, want max_attempts %d", retryer.MaxAttempts(), maxAttempts)
	}
	delays := func(attempt int) (lo, hi time.Duration) {
		lo = time.Hour
		for range 200 {
			d, err := retryer.RetryDelay(attempt, cerr.Cause)
			if err != nil {
				t.Fatal(err)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		return lo, hi
	}
	prevLo, prevHi := delays(1)
	for attempt := 2; attempt <= 7; attempt++ {
		lo, hi := delays(attempt)
		if lo < prevHi || hi <= prevHi {
			t.Errorf("attempt %d waits %s–%s, attempt %d %s–%s: the backoff does not grow", attempt-1, prevLo, prevHi, attempt, lo, hi)
		}
		prevLo, prevHi = lo, hi
	}
	if _, hi := delays(30); hi > 20*time.Second {
		t.Errorf("attempt 30 waits up to %s, above the 20 s cap", hi)
	}

	// The simulator saw those waits: a retry never comes before the shortest delay the
	// backoff allows for its attempt, half the longest (the jitter keeps at least half).
	// Only a lower bound is asserted, which a slow machine cannot break.
	for _, region := range testRegions {
		gaps := reqs.gaps(region)
		if len(gaps) != maxAttempts-1 {
			t.Fatalf("%s: %d retries, want %d", region, len(gaps), maxAttempts-1)
		}
		for i, gap := range gaps {
			if _, hi := delays(i + 1); gap < hi/2 {
				t.Errorf("%s: retry %d came %s after the failure, before the backoff's shortest wait %s", region, i+1, gap, hi/2)
			}
		}
	}
}

func TestThrottlingHonoursRetryAfter(t *testing.T) {
	t.Run("the wait computed from the simulator's Retry-After", func(t *testing.T) {
		sim, url := newSimulator(t, 30)
		sim.SetFaults(inspector.Faults{Throttle: 1, RetryAfter: 2})
		src := newTestSource(t, oneRegion(settingsYAML(url)))
		src.settings.MaxAttempts = 1 // take the 429 as it comes, without waiting
		_, cerr := fetchErr(t, src)
		if cerr.Class != connector.ClassRateLimited || cerr.StatusCode != 429 || cerr.Headers.Get("Retry-After") != "2" {
			t.Fatalf("got %s, status %d, Retry-After %q; want rate limited, 429, Retry-After 2", cerr.Class, cerr.StatusCode, cerr.Headers.Get("Retry-After"))
		}
		// Every retry waits at least what Retry-After asks, however early the attempt.
		retryer := src.clients["us-east-1"].Options().Retryer
		for attempt := 1; attempt <= 8; attempt++ {
			if d, err := retryer.RetryDelay(attempt, cerr.Cause); err != nil || d < 2*time.Second {
				t.Errorf("attempt %d: wait %s (%v), want at least Retry-After's 2s", attempt, d, err)
			}
		}
	})
	t.Run("throttled beyond the retries", func(t *testing.T) {
		const maxAttempts = 2
		sim, url, reqs := newRecordedSimulator(t, 30)
		sim.SetFaults(inspector.Faults{Throttle: 1000, RetryAfter: 1})
		src := newTestSource(t, settingsYAML(url))
		src.settings.MaxAttempts = maxAttempts
		_, cerr := fetchErr(t, src)
		if cerr.Class != connector.ClassRateLimited || cerr.StatusCode != 429 || !strings.Contains(cerr.Action, "Retry-After") ||
			!strings.Contains(cerr.Action, "schedule") || !strings.Contains(string(cerr.Payload), "Rate exceeded") {
			t.Errorf("got %s, status %d, %q, payload %q; want rate limited, 429, an action about scheduling and Retry-After, the body kept",
				cerr.Class, cerr.StatusCode, cerr, cerr.Payload)
		}
		checkNoSecret(t, cerr)
		if n := sim.ListFindingsRequests(); n != maxAttempts*int64(len(testRegions)) {
			t.Errorf("the simulator saw %d requests, want %d per region", n, maxAttempts)
		}
		for _, region := range testRegions {
			gaps := reqs.gaps(region)
			if len(gaps) != maxAttempts-1 || gaps[0] < time.Second {
				t.Errorf("%s: waits between attempts %v; want one of at least Retry-After's 1s", region, gaps)
			}
		}
	})
}

func TestFetchStopsAtMaxFindings(t *testing.T) {
	const findings = 100 // about 50 a region, in pages of 10
	tests := []struct {
		name        string
		oneRegion   bool
		maxFindings int
		wantErr     bool
		message     string // exact, when the page boundaries make it deterministic
	}{
		{"one region, the limit in the middle of a page", true, 25, true,
			"the connector's findings exceed max_findings: fetched 30 so far, limit 25"},
		{"regions together", false, 35, true, ""},
		{"a limit on a page boundary", true, 20, true,
			"the connector's findings exceed max_findings: fetched 30 so far, limit 20"},
		{"a limit the sync stays within", false, findings, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, url := newSimulator(t, findings)
			settings := settingsYAML(url, "max_results: 10", fmt.Sprintf("max_findings: %d", tt.maxFindings))
			regions := testRegions
			if tt.oneRegion {
				settings, regions = oneRegion(settings), regions[:1]
			}
			src := newTestSource(t, settings)
			got, res, err := fetchAll(t, src, connector.FetchRequest{SyncID: "s"})
			served := 0
			for _, r := range regions {
				served += len(sim.Findings(r))
			}
			if !tt.wantErr {
				if err != nil || len(got) != served {
					t.Fatalf("Fetch: %v, %d of %d findings; want all, no error", err, len(got), served)
				}
				return
			}
			var cerr *connector.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Fetch error %v, want a *connector.Error", err)
			}
			if cerr.Class != connector.ClassLimit || cerr.StatusCode != 0 ||
				!strings.HasPrefix(cerr.Message, "the connector's findings exceed max_findings: fetched ") ||
				!strings.Contains(cerr.Message, fmt.Sprintf(", limit %d", tt.maxFindings)) ||
				!strings.Contains(cerr.Action, "raise max_findings in the connector's settings") || !strings.Contains(cerr.Action, "regions") {
				t.Errorf("got %s, status %d, %q; want limit exceeded naming max_findings, the count and the limit, and an action", cerr.Class, cerr.StatusCode, cerr)
			}
			if tt.message != "" && cerr.Message != tt.message {
				t.Errorf("message %q, want %q", cerr.Message, tt.message)
			}
			checkNoSecret(t, cerr)
			// Exactly the limit is emitted: each region its findings in vendor order up to
			// where the sync stopped, and nothing after.
			if len(got) != tt.maxFindings {
				t.Errorf("emitted %d findings, want max_findings %d", len(got), tt.maxFindings)
			}
			byRegion := map[string][]*model.RawRecord{}
			for _, r := range got {
				byRegion[r.Scope] = append(byRegion[r.Scope], r)
			}
			failed := 0
			for _, region := range regions {
				want := sim.Findings(region)
				recs := byRegion[region]
				if len(recs) > len(want) {
					t.Fatalf("%s: %d records, the simulator has %d", region, len(recs), len(want))
				}
				for i, r := range recs {
					if string(r.Payload) != string(want[i]) {
						t.Fatalf("%s: record %d is not the region's finding %d", region, i, i)
					}
				}
				sc := scopeOf(res, region)
				if sc.Records != int64(len(recs)) {
					t.Errorf("scope %+v reports %d records, %d were emitted", sc, sc.Records, len(recs))
				}
				if sc.Outcome == model.OutcomeFailed {
					failed++
				} else if len(recs) != len(want) {
					t.Errorf("scope %+v succeeded with %d of %d findings", sc, len(recs), len(want))
				}
			}
			if failed == 0 {
				t.Errorf("no scope failed: %+v", res.Scopes)
			}
			// No page is asked for once the limit is passed: one region alone stops
			// after the page that crossed it.
			if want := int64(tt.maxFindings/10 + 1); tt.oneRegion && sim.ListFindingsRequests() != want {
				t.Errorf("the simulator saw %d requests, want the %d pages up to the one that crossed the limit", sim.ListFindingsRequests(), want)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1025: "1,025", 123456: "123,456", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSettingsAreValidated(t *testing.T) {
	tests := []struct {
		name            string
		extra           string
		says            string // the error, "" when valid
		wantMaxFindings int
	}{
		{"max_findings negative", "max_findings: -1", "max_findings is -1; set it to the most findings one sync may fetch, or 0 for no limit", 0},
		{"max_findings absent: no limit", "", "", 0},
		{"max_findings zero: no limit", "max_findings: 0", "", 0},
		{"max_findings set", "max_findings: 100000", "", 100000},
		{"max_results too large", "max_results: 101", "max_results is 101; ListFindings accepts 1 to 100", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := sourceFromYAML(t, settingsYAML("http://127.0.0.1:1", tt.extra))
			if tt.says != "" {
				if err == nil || !strings.Contains(err.Error(), tt.says) {
					t.Errorf("error %v, want one saying %q", err, tt.says)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if got := src.(*Source).settings.MaxFindings; got != tt.wantMaxFindings {
				t.Errorf("max_findings %d, want %d", got, tt.wantMaxFindings)
			}
		})
	}
}

func TestUnclassifiedFailuresAreInternal(t *testing.T) {
	t.Run("emit fails", func(t *testing.T) {
		// What the fetcher's emit returns when it cannot encode a record: Fetch stops each
		// region at it and returns it unchanged, and the fetcher classifies it.
		sim, url := newSimulator(t, 30)
		src := newTestSource(t, settingsYAML(url))
		if err := src.Initiate(context.Background()); err != nil {
			t.Fatal(err)
		}
		encodeErr := errors.New("encoding raw record: avro: value too large")
		var mu sync.Mutex
		calls := map[string]int{}
		res, err := src.Fetch(context.Background(), connector.FetchRequest{SyncID: "s"}, func(r *model.RawRecord) error {
			mu.Lock()
			defer mu.Unlock()
			calls[r.Scope]++
			return encodeErr
		})
		if !errors.Is(err, encodeErr) {
			t.Fatalf("Fetch error %v, want emit's error unchanged", err)
		}
		for _, region := range testRegions {
			if calls[region] != 1 || scopeOf(res, region).Outcome != model.OutcomeFailed {
				t.Errorf("%s: emit called %d times, scope %+v; want one call and the scope failed", region, calls[region], scopeOf(res, region))
			}
		}
		cerr := connector.AsError(err)
		if cerr.Class != connector.ClassInternal || cerr.StatusCode != 0 || !strings.Contains(cerr.Action, "logs") || !strings.Contains(cerr.Message, "value too large") {
			t.Errorf("got %s, status %d, %q; want an internal error pointing at the logs", cerr.Class, cerr.StatusCode, cerr)
		}
		checkNoSecret(t, cerr)
		if n := sim.ListFindingsRequests(); n != int64(len(testRegions)) {
			t.Errorf("the simulator saw %d requests, want one page per region", n)
		}
	})
	t.Run("AWS refuses the request as invalid", func(t *testing.T) {
		// A request Tributary should never build (validate keeps max_results in 1..100).
		sim, url := newSimulator(t, 30)
		src := newTestSource(t, settingsYAML(url))
		src.settings.MaxResults = 101
		_, cerr := fetchErr(t, src)
		if cerr.Class != connector.ClassInternal || cerr.StatusCode != 400 || !strings.Contains(cerr.Message, "refused the request as invalid") ||
			!strings.Contains(cerr.Action, "max_results") || !strings.Contains(cerr.Action, "log") || !strings.Contains(string(cerr.Payload), "maxResults") {
			t.Errorf("got %s, status %d, %q, payload %q; want an internal error, HTTP 400, an action naming max_results and the log, the body kept",
				cerr.Class, cerr.StatusCode, cerr, cerr.Payload)
		}
		checkNoSecret(t, cerr)
		// Not retried: the same request would be refused again.
		if n := sim.ListFindingsRequests(); n != int64(len(testRegions)) {
			t.Errorf("the simulator saw %d requests, want one per region", n)
		}
	})
}

func TestMalformedVendorData(t *testing.T) {
	t.Run("malformed findings are emitted for dead-lettering", func(t *testing.T) {
		const malformed = 8 // each of the simulator's four kinds twice
		sim, url := newSimulator(t, 120)
		clean := map[string][]json.RawMessage{}
		for _, region := range testRegions {
			clean[region] = sim.Findings(region)
		}
		sim.SetFaults(inspector.Faults{Malformed: malformed})
		got, res, err := fetchAll(t, newTestSource(t, settingsYAML(url)), connector.FetchRequest{SyncID: "s"})
		if err != nil {
			t.Fatalf("Fetch: %v; malformed findings must not fail the sync", err)
		}
		byRegion := map[string][]*model.RawRecord{}
		for _, r := range got {
			byRegion[r.Scope] = append(byRegion[r.Scope], r)
		}
		rejected := 0
		for _, region := range testRegions {
			served := sim.Findings(region)
			if sc := scopeOf(res, region); sc.Outcome != model.OutcomeSucceeded || len(byRegion[region]) != len(served) {
				t.Fatalf("scope %+v, %d records; want succeeded with all %d served", sc, len(byRegion[region]), len(served))
			}
			for i, r := range byRegion[region] {
				if string(r.Payload) != string(served[i]) {
					t.Fatalf("%s: record %d differs from what the simulator served", region, i)
				}
				isMalformed := string(served[i]) != string(clean[region][i])
				var out connector.Normalized
				nerr := Normalizer{}.Normalize(r, &out)
				if isMalformed {
					rejected++
				}
				if isMalformed != (nerr != nil) {
					t.Errorf("%s: record %d malformed %t, normalizer error %v", region, i, isMalformed, nerr)
				}
			}
		}
		if rejected != malformed {
			t.Errorf("%d malformed findings reached the normalizer, want %d", rejected, malformed)
		}
	})
	t.Run("a page that is not valid JSON", func(t *testing.T) {
		sim, url := newSimulator(t, 60)
		sim.SetFaults(inspector.Faults{TruncatedPage: 1})
		var mu sync.Mutex
		perRegion := map[string]int{}
		src := newTestSource(t, settingsYAML(url))
		if err := src.Initiate(context.Background()); err != nil {
			t.Fatal(err)
		}
		res, err := src.Fetch(context.Background(), connector.FetchRequest{SyncID: "s"}, func(r *model.RawRecord) error {
			mu.Lock()
			defer mu.Unlock()
			perRegion[r.Scope]++
			return nil
		})
		var cerr *connector.Error
		if !errors.As(err, &cerr) {
			t.Fatalf("Fetch error %v, want a *connector.Error", err)
		}
		if cerr.Class != connector.ClassMalformed || cerr.StatusCode != 200 || !strings.Contains(cerr.Message, "not valid JSON") ||
			!strings.Contains(cerr.Action, "endpoint setting") || !strings.Contains(string(cerr.Payload), `{"findings":[`) ||
			cerr.Headers.Get("Content-Type") != "application/json" {
			t.Errorf("got %s, status %d, %q, headers %v, payload %.80q; want malformed vendor data, HTTP 200, the page and its headers kept",
				cerr.Class, cerr.StatusCode, cerr, cerr.Headers, cerr.Payload)
		}
		checkNoSecret(t, cerr)
		// The page fails whole (where its findings end is unknown); the other region is
		// fetched whole.
		var failed, succeeded []model.ScopeOutcome
		for _, sc := range res.Scopes {
			if sc.Outcome == model.OutcomeFailed {
				failed = append(failed, sc)
			} else {
				succeeded = append(succeeded, sc)
			}
		}
		if len(failed) != 1 || len(succeeded) != 1 || perRegion[failed[0].Scope] != 0 ||
			perRegion[succeeded[0].Scope] != len(sim.Findings(succeeded[0].Scope)) {
			t.Errorf("scopes %+v, records per region %v; want the truncated region failed with nothing emitted, the other whole", res.Scopes, perRegion)
		}
	})
}
