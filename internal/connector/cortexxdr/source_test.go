package cortexxdr

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/connector"
)

func TestSettingsAreValidated(t *testing.T) {
	const base = "base_url: https://api-acme.xdr.us.paloaltonetworks.com\napi_key_id: 17\napi_key: {env: " + testKeyEnv + "}\n"
	const creds = "api_key_id: 17\napi_key: {env: " + testKeyEnv + "}\n"
	for _, tc := range []struct {
		name, yaml string
		says       []string // "" when valid
	}{
		{"minimal", base, nil},
		{"fqdn", creds + "fqdn: acme.xdr.us.paloaltonetworks.com", nil},
		{"fqdn with api- prefix", creds + "fqdn: api-acme.xdr.us.paloaltonetworks.com", []string{"fqdn", "already starts with api-", "fqdn: acme.xdr.us.paloaltonetworks.com"}},
		{"fqdn as a URL", creds + "fqdn: https://acme.xdr.us.paloaltonetworks.com", []string{"fqdn", "not a host name"}},
		{"fqdn not qualified", creds + "fqdn: acme", []string{"fqdn", "fully qualified"}},
		{"both", base + "fqdn: acme.xdr.us.paloaltonetworks.com", []string{"base_url and fqdn are both set"}},
		{"neither", creds, []string{"tenant is missing", "fqdn", "base_url"}},
		{"base_url doubled prefix", creds + "base_url: https://api-api-acme.xdr.us.paloaltonetworks.com", []string{"base_url", "repeats the api- prefix"}},
		{"base_url console host", creds + "base_url: https://acme.xdr.us.paloaltonetworks.com", []string{"base_url", "https://api-acme.xdr.us.paloaltonetworks.com"}},
		{"base_url with API path", creds + "base_url: https://api-acme.xdr.us.paloaltonetworks.com/public_api/v1/endpoints/get_endpoint", []string{"base_url", "stop at the host"}},
		{"base_url not a URL", creds + "base_url: api-acme.xdr.us.paloaltonetworks.com", []string{"base_url", "not a URL"}},
		{"api_key_id as a string", "base_url: https://api-acme.xdr.us.paloaltonetworks.com\napi_key_id: \"17\"\napi_key: {env: " + testKeyEnv + "}", nil},
		{"api_key_id missing", "base_url: https://api-acme.xdr.us.paloaltonetworks.com\napi_key: {env: " + testKeyEnv + "}", []string{"api_key_id is missing"}},
		{"api_key_id a list", "base_url: https://api-acme.xdr.us.paloaltonetworks.com\napi_key_id: [17]\napi_key: {env: " + testKeyEnv + "}", []string{"api_key_id must be"}},
		{"api_key inline", "base_url: https://api-acme.xdr.us.paloaltonetworks.com\napi_key_id: 17\napi_key: " + testKey, []string{"may not be written inline", "{env: VARIABLE_NAME}"}},
		{"api_key missing", "base_url: https://api-acme.xdr.us.paloaltonetworks.com\napi_key_id: 17", []string{"api_key is missing"}},
		{"api_key variable unset", "base_url: https://api-acme.xdr.us.paloaltonetworks.com\napi_key_id: 17\napi_key: {env: TEST_CORTEX_UNSET}", []string{"api_key", "TEST_CORTEX_UNSET is not set"}},
		{"key_type advanced", base + "key_type: advanced", nil},
		{"key_type wrong", base + "key_type: hmac", []string{"key_type", "standard or advanced"}},
		{"max_endpoints negative", base + "max_endpoints: -1", []string{"max_endpoints", "0 for no limit"}},
		{"remove_statuses", base + "remove_statuses: [LOST, UNINSTALLED]", nil},
		{"remove_statuses lower case", base + "remove_statuses: [lost]", []string{"remove_statuses", "upper case", "LOST"}},
		{"remove_statuses unknown", base + "remove_statuses: [GONE]", []string{"remove_statuses", "not an endpoint status", "CONNECTED, DISCONNECTED, LOST, UNINSTALLED"}},
		{"remove_statuses twice", base + "remove_statuses: [LOST, LOST]", []string{"remove_statuses lists LOST twice"}},
		{"page_size too big", base + "page_size: 101", []string{"page_size", "1 to 100"}},
		{"max_attempts zero-ish", base + "max_attempts: -2", []string{"max_attempts"}},
		{"xql_poll_timeout", base + "xql_poll_timeout: 30m\nrequest_timeout: 90s", nil},
		{"xql_poll_timeout too short", base + "xql_poll_timeout: 1ms", []string{"xql_poll_timeout"}},
		{"request_timeout not a duration", base + "request_timeout: 5", []string{"request_timeout is \"5\"", "request_timeout: 1m"}},
		{"requests_per_second over the vendor's limit", base + "requests_per_second: 20", []string{"requests_per_second", "at most 10"}},
		{"several problems at once", creds + "fqdn: api-x.example.com\npage_size: 0\nkey_type: x\nmax_endpoints: -5", []string{"fqdn", "key_type", "max_endpoints"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := sourceFromYAML(t, tc.yaml)
			if tc.says == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %+v", src.(*Source).settings)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error leaks the key: %v", err)
			}
		})
	}
}

func TestSettingsDefaults(t *testing.T) {
	src, err := sourceFromYAML(t, "fqdn: acme.xdr.eu.paloaltonetworks.com\napi_key_id: 17\napi_key: {env: "+testKeyEnv+"}")
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	want := Settings{
		BaseURL: "https://api-acme.xdr.eu.paloaltonetworks.com", FQDN: "acme.xdr.eu.paloaltonetworks.com",
		APIKeyID: "17", KeyType: KeyStandard, PageSize: 100, MaxAttempts: 8,
		RequestsPerSecond: 10,
	}
	got := s.settings
	got.APIKey = connector.Secret{}
	if got.BaseURL != want.BaseURL || got.APIKeyID != want.APIKeyID || got.KeyType != want.KeyType || got.PageSize != want.PageSize ||
		got.MaxAttempts != want.MaxAttempts || got.pollTimeout() != 10*time.Minute || got.requestTimeout() != time.Minute ||
		got.RequestsPerSecond != want.RequestsPerSecond || got.MaxEndpoints != 0 {
		t.Errorf("settings %+v\nwant %+v", got, want)
	}
	if s.scope != "api-acme.xdr.eu.paloaltonetworks.com" {
		t.Errorf("scope %q, want the tenant's API host", s.scope)
	}
}

func TestInitiateReadsTheKeyAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("first-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := sourceFromYAML(t, "base_url: https://api-acme.xdr.us.paloaltonetworks.com\napi_key_id: 17\napi_key: {file: "+path+"}")
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	if err := os.WriteFile(path, []byte("rotated-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Initiate(context.Background()); err != nil || s.client.key != "rotated-key" {
		t.Fatalf("after rotation: %v; key in use changed: %v", err, s.client.key == "rotated-key")
	}
	if err := os.WriteFile(path, []byte("two words"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cerr := connector.AsError(s.Initiate(context.Background())); cerr == nil || cerr.Class != connector.ClassCredentials || strings.Contains(cerr.Error(), "two words") {
		t.Errorf("a key with a space: %v", cerr)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if cerr := connector.AsError(s.Initiate(context.Background())); cerr == nil || cerr.Class != connector.ClassConfig {
		t.Errorf("a missing key file: %v", cerr)
	}
}

func TestAuthHeaders(t *testing.T) {
	const nonce = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz01"
	clock := func() time.Time { return time.UnixMilli(1720627795123) }
	c := &client{keyID: testKeyID, key: testKey, now: clock, nonce: func() string { return nonce }}

	h := http.Header{}
	c.sign(h)
	if h.Get("Authorization") != testKey || h.Get("x-xdr-auth-id") != testKeyID || h.Get("x-xdr-nonce") != "" || h.Get("x-xdr-timestamp") != "" {
		t.Errorf("standard key headers: %v", h)
	}

	c.advanced = true
	h = http.Header{}
	c.sign(h)
	// sha256(testKey + nonce + "1720627795123"), computed with sha256sum.
	const want = "a1ac9603fa7797d8fb830926bc7112e622bfc0dcd4894c38d250704499044cd5"
	if h.Get("Authorization") != want || h.Get("x-xdr-auth-id") != testKeyID || h.Get("x-xdr-nonce") != nonce || h.Get("x-xdr-timestamp") != "1720627795123" {
		t.Errorf("advanced key headers: %v\nwant Authorization %s", h, want)
	}
}

func TestNonce(t *testing.T) {
	alnum := regexp.MustCompile(`^[A-Za-z0-9]{64}$`)
	seen := map[string]bool{}
	for range 100 {
		n := newNonce()
		if !alnum.MatchString(n) {
			t.Fatalf("nonce %q is not 64 characters of [A-Za-z0-9]", n)
		}
		if seen[n] {
			t.Fatalf("nonce %q repeated", n)
		}
		seen[n] = true
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 120000: "120,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
