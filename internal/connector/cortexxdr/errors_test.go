package cortexxdr

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

// checkNoSecret fails t when the key, or a credential header unredacted, shows in what
// the sync log keeps of cerr.
func checkNoSecret(t *testing.T, cerr *connector.Error) {
	t.Helper()
	if strings.Contains(cerr.Error(), testKey) || strings.Contains(string(cerr.Payload), testKey) {
		t.Errorf("the error leaks the API key: %s / %s", cerr.Error(), cerr.Payload)
	}
	if cerr.Cause != nil && strings.Contains(cerr.Cause.Error(), testKey) {
		t.Errorf("the error's cause leaks the API key: %v", cerr.Cause)
	}
	for k, vs := range cerr.Headers {
		for _, v := range vs {
			if strings.Contains(v, testKey) {
				t.Errorf("header %s leaks the API key", k)
			}
			switch http.CanonicalHeaderKey(k) {
			case "Authorization", "X-Xdr-Auth-Id", "X-Xdr-Nonce":
				if v != "[redacted]" {
					t.Errorf("header %s not redacted: %s", k, v)
				}
			}
		}
	}
}

func TestVendorErrorsAreClassified(t *testing.T) {
	unauthorized := fault{status: 401, body: `{"reply":{"err_code":401,"err_msg":"Public API request unauthorized","err_extra":null}}`}
	for _, tc := range []struct {
		name     string
		faults   []fault
		class    connector.Class
		status   int
		says     string // in the message
		action   string // in the action
		requests int    // get_endpoint calls made
	}{
		{"401 twice", []fault{unauthorized, unauthorized}, connector.ClassCredentials, 401, "unauthorized", "key_type", 2},
		{"402", []fault{{status: 402, body: `{"reply":{"err_code":402,"err_msg":"User does not have the required license type to run this API"}}`}},
			connector.ClassLimit, 402, "licence", "Pro per endpoint", 1},
		{"403", []fault{{status: 403, body: `{"reply":{"err_code":403,"err_msg":"Forbidden access. The provided API Key does not have the required RBAC permissions to run this API."}}`}},
			connector.ClassPermission, 403, "RBAC", "role", 1},
		{"403 echoing the key", []fault{{status: 403, body: `{"err_msg": "denied for key ` + testKey + `"}`}},
			connector.ClassPermission, 403, "[redacted]", "role", 1},
		{"404", []fault{{status: 404, body: `<html>not found</html>`}}, connector.ClassConfig, 404, "no Cortex XDR API", "api-", 1},
		{"429 beyond the retries", []fault{{status: 429, body: `{"reply":{"err_code":429,"err_msg":"Too many requests"}}`}, {status: 429}, {status: 429}},
			connector.ClassRateLimited, 429, "Too many requests", "Retry-After", 3},
		{"500 beyond the retries", []fault{{status: 500, body: `{"reply":{"err_code":500,"err_msg":"Internal server error"}}`}, {status: 502}, {status: 503, body: `{"err_code": 503, "err_msg": "maintenance"}`}},
			connector.ClassVendorServer, 503, "maintenance", "Palo Alto Networks", 3},
		{"400", []fault{{status: 400, body: `{"reply":{"err_code":400,"err_msg":"The request contains invalid or missing parameters.","err_extra":"search_to: must be at most 100"}}`}},
			connector.ClassInternal, 400, "search_to: must be at most 100", "Tributary bug", 1},
		{"200 that is not JSON", []fault{{status: 200, body: `{"reply": {"total_count": 1, "endpoints": [{"endpoint_id": "x"`}},
			connector.ClassMalformed, 200, "not valid JSON", "base_url", 1},
		{"200 that is not a page", []fault{{status: 200, body: `{"reply": {"total_count": "many", "endpoints": {}}}`}},
			connector.ClassMalformed, 200, "not a page of endpoints", "base_url", 1},
		{"200 without reply", []fault{{status: 200, body: `{"status": "ok"}`}}, connector.ClassMalformed, 200, "no reply", "base_url", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeTenant(t)
			f.fail(apiGetEndpoint, tc.faults...)
			src := sourceFor(t, url)
			if err := src.Initiate(context.Background()); err != nil {
				t.Fatal(err)
			}
			checks := src.Test(context.Background())
			if len(checks) != 1 || checks[0].Name != "endpoints/get_endpoint" || checks[0].Scope != "127.0.0.1" {
				t.Fatalf("checks %+v", checks)
			}
			cerr := checks[0].Err
			if cerr == nil {
				t.Fatal("the check passed")
			}
			if cerr.Class != tc.class || cerr.StatusCode != tc.status || !strings.Contains(cerr.Message, tc.says) || !strings.Contains(cerr.Action, tc.action) {
				t.Errorf("got %s, HTTP %d, %q\nwant %s, HTTP %d, message saying %q, action saying %q", cerr.Class, cerr.StatusCode, cerr.Error(), tc.class, tc.status, tc.says, tc.action)
			}
			if len(cerr.Payload) == 0 && tc.faults[len(tc.faults)-1].body != "" {
				t.Error("the vendor's response body was not kept")
			}
			if cerr.Headers.Get("X-Request-Id") != "req-1" {
				t.Errorf("the vendor's response headers were not kept: %v", cerr.Headers)
			}
			checkNoSecret(t, cerr)
			if n := len(f.calls(apiGetEndpoint)); n != tc.requests {
				t.Errorf("%d get_endpoint calls, want %d", n, tc.requests)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	t.Run("429 honours Retry-After", func(t *testing.T) {
		f, url := newFakeTenant(t)
		f.fail(apiGetEndpoint, fault{status: 429, retryAfter: "1", body: `{"reply":{"err_code":429,"err_msg":"Too many requests"}}`})
		src := sourceFor(t, url)
		if _, _, err := fetchAll(t, src); err != nil {
			t.Fatal(err)
		}
		calls := f.calls(apiGetEndpoint)
		if len(calls) != 2 {
			t.Fatalf("%d get_endpoint calls, want 2", len(calls))
		}
		if gap := calls[1].at.Sub(calls[0].at); gap < time.Second {
			t.Errorf("retried %s after a 429 with Retry-After: 1", gap)
		}
	})
	t.Run("5xx burst", func(t *testing.T) {
		f, url := newFakeTenant(t)
		f.endpoints = []string{endpointJSON("id-1", "H", "CONNECTED", 1)}
		f.rows = []string{rowJSON("CVE-1", "H")}
		for _, api := range []string{apiGetEndpoint, apiStartQuery, apiQueryResults} {
			f.fail(api, fault{status: 500}, fault{status: 503})
		}
		got, _, err := fetchAll(t, sourceFor(t, url))
		if err != nil || len(got) != 2 {
			t.Fatalf("%d records, error %v", len(got), err)
		}
	})
	t.Run("401 once", func(t *testing.T) {
		f, url := newFakeTenant(t)
		f.fail(apiGetEndpoint, fault{status: 401})
		if _, _, err := fetchAll(t, sourceFor(t, url, "max_attempts: 1")); err == nil {
			t.Error("max_attempts 1 retried a 401")
		}
		f.fail(apiGetEndpoint, fault{status: 401})
		if _, _, err := fetchAll(t, sourceFor(t, url, "max_attempts: 8")); err != nil {
			t.Errorf("one 401 was not retried: %v", err)
		}
	})
	t.Run("connection dropped", func(t *testing.T) {
		f, url := newFakeTenant(t)
		f.endpoints = []string{endpointJSON("id-1", "H", "CONNECTED", 1)}
		f.fail(apiGetEndpoint, fault{hangUp: true})
		got, _, err := fetchAll(t, sourceFor(t, url))
		if err != nil || len(got) != 1 {
			t.Fatalf("%d records, error %v", len(got), err)
		}
	})
	t.Run("stream cut short", func(t *testing.T) {
		f, url := newFakeTenant(t)
		f.endpoints = []string{endpointJSON("id-1", "H", "CONNECTED", 1)}
		for i := range 1500 {
			f.rows = append(f.rows, rowJSON("CVE-"+strings.Repeat("9", i%7+1), "H"))
		}
		f.fail(apiResultsStream, fault{hangUp: true})
		got, _, err := fetchAll(t, sourceFor(t, url))
		if err != nil || len(got) != 1501 {
			t.Fatalf("%d records, error %v", len(got), err)
		}
	})
}

func TestUnreachableTenantIsClassified(t *testing.T) {
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	slow, slowURL := newFakeTenant(t)
	slow.fail(apiGetEndpoint, fault{delay: 300 * time.Millisecond}, fault{delay: 300 * time.Millisecond})
	for _, tc := range []struct {
		name     string
		url      string
		tune     func(*client)
		says     string
		action   string
		attempts bool // retried
	}{
		{"connection refused", closedURL(t), nil, "could not be reached", "network access", true},
		{"no such host", "https://api-acme.xdr.tributary-test.invalid", func(c *client) {
			c.http.Transport.(*http.Transport).DialContext = (&net.Dialer{Resolver: nxdomainResolver()}).DialContext
		}, "does not exist", "fqdn", false},
		{"untrusted certificate", tlsSrv.URL, nil, "not trusted", "CA certificate", false},
		{"plain HTTP behind https", strings.Replace(plain.URL, "http://", "https://", 1), nil, "did not answer with TLS", "plain HTTP", false},
		{"request timeout", slowURL, func(c *client) { c.requestTimeout = 50 * time.Millisecond }, "request_timeout", "raise the connector's request_timeout", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := sourceFor(t, tc.url, "max_attempts: 2")
			src.tune = func(c *client) {
				fast(c)
				if tc.tune != nil {
					tc.tune(c)
				}
			}
			if err := src.Initiate(context.Background()); err != nil {
				t.Fatal(err)
			}
			cerr := src.Test(context.Background())[0].Err
			if cerr == nil || cerr.Class != connector.ClassUnreachable || !strings.Contains(cerr.Message, tc.says) || !strings.Contains(cerr.Action, tc.action) {
				t.Fatalf("got %v; want unreachable saying %q, action %q", cerr, tc.says, tc.action)
			}
			checkNoSecret(t, cerr)
		})
	}
}

func TestRequestsArePacedToTheRate(t *testing.T) {
	f, url := newFakeTenant(t)
	src := sourceFor(t, url, "requests_per_second: 10")
	src.tune = nil // the production pacing
	if err := src.Initiate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if c := src.Test(context.Background()); c[0].Err != nil {
			t.Fatal(c[0].Err)
		}
	}
	calls := f.calls(apiGetEndpoint)
	for i := 1; i < len(calls); i++ {
		// The client spaces request starts 100 ms apart; allow for the network's jitter.
		if gap := calls[i].at.Sub(calls[i-1].at); gap < 80*time.Millisecond {
			t.Errorf("requests %d and %d arrived %s apart; at 10 per second they must be 100 ms apart", i-1, i, gap)
		}
	}
}

func TestConnectivityTestAsksForOneEndpoint(t *testing.T) {
	f, url := newFakeTenant(t)
	f.endpoints = []string{endpointJSON("id-1", "H", "CONNECTED", 1), endpointJSON("id-2", "H", "CONNECTED", 1)}
	src := sourceFor(t, url)
	if err := src.Initiate(context.Background()); err != nil {
		t.Fatal(err)
	}
	checks := src.Test(context.Background())
	want := connector.Check{Name: "endpoints/get_endpoint", Scope: "127.0.0.1"}
	if len(checks) != 1 || checks[0] != want {
		t.Fatalf("checks %+v, want %+v", checks, want)
	}
	c := f.calls(apiGetEndpoint)
	if len(c) != 1 || c[0].data["search_from"] != float64(0) || c[0].data["search_to"] != float64(1) {
		t.Errorf("calls %+v; want one get_endpoint for [0, 1)", c)
	}
	// A wrong key fails the check as bad credentials, after one retry.
	t.Setenv("WRONG_KEY", "not-the-key")
	src2, err := sourceFromYAML(t, "base_url: "+url+"\napi_key_id: 17\napi_key: {env: WRONG_KEY}")
	if err != nil {
		t.Fatal(err)
	}
	src2.(*Source).tune = fast
	if err := src2.Initiate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cerr := src2.Test(context.Background())[0].Err; cerr == nil || cerr.Class != connector.ClassCredentials || strings.Contains(cerr.Error(), "not-the-key") {
		t.Errorf("wrong key: %v", cerr)
	}
}

func TestFetchIsNotRetriedOnClientErrors(t *testing.T) {
	f, url := newFakeTenant(t)
	f.endpoints = []string{endpointJSON("id-1", "H", "CONNECTED", 1)}
	f.fail(apiStartQuery, fault{status: 400, body: `{"reply":{"err_code":500,"err_msg":"{\"line\": 1, \"column\": 19, \"message\": \"no viable alternative\"}"}}`})
	got, res, err := fetchAll(t, sourceFor(t, url))
	var cerr *connector.Error
	if !errors.As(err, &cerr) || cerr.Class != connector.ClassInternal || len(f.calls(apiStartQuery)) != 1 {
		t.Fatalf("error %v after %d calls", err, len(f.calls(apiStartQuery)))
	}
	if len(got) != 1 || res.Scopes[0].Outcome != model.OutcomeFailed {
		t.Errorf("records %d, result %+v: the endpoints fetched are kept, the scope failed", len(got), res)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"Sun, 01 Nov 2026 12:00:05 GMT": 5 * time.Second,
		"Sun, 01 Nov 2026 11:00:00 GMT": 0,
		"soon":                          0,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q: %s, want %s", v, got, want)
		}
	}
}

// closedURL is an http URL nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// nxdomainResolver answers every DNS query with NXDOMAIN, as resolvers answer names
// under .invalid (RFC 6761), without touching the network.
func nxdomainResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		go func() {
			defer server.Close()
			var size [2]byte
			if _, err := io.ReadFull(server, size[:]); err != nil {
				return
			}
			msg := make([]byte, 2+int(binary.BigEndian.Uint16(size[:])))
			copy(msg, size[:])
			if _, err := io.ReadFull(server, msg[2:]); err != nil || len(msg) < 2+12 {
				return
			}
			msg[2+2] |= 0x80                    // QR: a response
			msg[2+3] = msg[2+3]&0x70 | 0x80 | 3 // RA, RCODE 3: NXDOMAIN
			_, _ = server.Write(msg)
		}()
		return client, nil
	}}
}
