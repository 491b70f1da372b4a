package cortexxdr

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tributary-sec/tributary/internal/connector"
)

// TypeName is the connector type in the connectors file.
const TypeName = "cortex_xdr"

// Type registers the connector.
var Type = connector.Type{
	Name:       TypeName,
	NewSource:  newSource,
	Normalizer: Normalizer{},
}

// Key types, as chosen when the API key is created in Cortex XDR.
const (
	KeyStandard = "standard"
	KeyAdvanced = "advanced"
)

// endpointStatuses are the values get_endpoint reports in endpoint_status.
var endpointStatuses = []string{"CONNECTED", "DISCONNECTED", "LOST", "UNINSTALLED"}

// Settings are the cortex_xdr keys of a connector in the connectors file. Every field
// is a setting: the fetcher lists the fields' yaml names as the known settings.
type Settings struct {
	// BaseURL is the tenant's API base, https://api-<fqdn>; tests and the demo point it
	// at a simulator. FQDN is the alternative: the tenant FQDN as Cortex shows it, from
	// which the base https://api-<fqdn> is built. Exactly one is required.
	BaseURL string `yaml:"base_url"`
	FQDN    string `yaml:"fqdn"`
	// APIKeyID is the numeric id Cortex shows beside the key (x-xdr-auth-id).
	APIKeyID keyID            `yaml:"api_key_id"`
	APIKey   connector.Secret `yaml:"api_key"`
	// KeyType is standard (default) or advanced.
	KeyType string `yaml:"key_type"`
	// MaxEndpoints fails the sync at Fetching when the tenant has more endpoints than
	// this (0 = no limit), before anything is emitted.
	MaxEndpoints int `yaml:"max_endpoints"`
	// RemoveStatuses lists endpoint statuses (upper case, e.g. [LOST, UNINSTALLED]) whose
	// endpoints are archived at once, with reason status.
	RemoveStatuses []string `yaml:"remove_statuses"`
	// PageSize is the number of endpoints asked of get_endpoint per page (1–100, default 100).
	PageSize int `yaml:"page_size"`
	// MaxAttempts bounds the tries of one API call on throttling, 5xx and network
	// errors (default 8).
	MaxAttempts int `yaml:"max_attempts"`
	// XQLPollTimeout bounds the wait for the vulnerability query (default 10m).
	XQLPollTimeout Duration `yaml:"xql_poll_timeout"`
	// RequestTimeout bounds one API call; for the result stream, the wait for each
	// chunk (default 1m).
	RequestTimeout Duration `yaml:"request_timeout"`
	// RequestsPerSecond caps the connector's calls (1–10, default 10): Cortex allows 10
	// per second per tenant, across all API clients.
	RequestsPerSecond int `yaml:"requests_per_second"`
	// AssetRetentionDays archives assets not seen for this many days (0 = never).
	AssetRetentionDays int `yaml:"asset_retention_days"`
}

// Defaults of the duration settings.
const (
	defaultPollTimeout    = 10 * time.Minute
	defaultRequestTimeout = time.Minute
)

// pollTimeout is xql_poll_timeout, validated.
func (s *Settings) pollTimeout() time.Duration {
	d, _ := s.XQLPollTimeout.parse("xql_poll_timeout", defaultPollTimeout, time.Second, "10m")
	return d
}

// requestTimeout is request_timeout, validated.
func (s *Settings) requestTimeout() time.Duration {
	d, _ := s.RequestTimeout.parse("request_timeout", defaultRequestTimeout, time.Second, "1m")
	return d
}

// Duration is a duration written with its unit, as in 90s or 10m.
type Duration string

// parse returns d, def when d is empty, and a problem naming key when d is not a
// duration of at least least.
func (d Duration) parse(key string, def, least time.Duration, example string) (time.Duration, string) {
	if d == "" {
		return def, ""
	}
	v, err := time.ParseDuration(string(d))
	switch {
	case err != nil:
		return 0, fmt.Sprintf("%s is %q; write a duration with its unit, e.g. %s: %s", key, string(d), key, example)
	case v < least:
		return 0, fmt.Sprintf("%s is %s; allow at least %s, e.g. %s: %s", key, v, least, key, example)
	}
	return v, ""
}

// keyID is the API key id, written as a number or a string.
type keyID string

// UnmarshalYAML accepts any scalar: Cortex shows the id as a number.
func (k *keyID) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: api_key_id must be the key's id, a number such as 17", n.Line)
	}
	*k = keyID(n.Value)
	return nil
}

// validate checks s, filling in defaults; every problem names its key and the fix.
func (s *Settings) validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	switch {
	case s.BaseURL != "" && s.FQDN != "":
		add("base_url and fqdn are both set; keep one (fqdn: acme.xdr.us.paloaltonetworks.com, or base_url: https://api-acme.xdr.us.paloaltonetworks.com)")
	case s.BaseURL == "" && s.FQDN == "":
		add("the tenant is missing; set fqdn to the FQDN Cortex XDR shows with the API key (e.g. fqdn: acme.xdr.us.paloaltonetworks.com), or base_url to the full https://api-<fqdn>")
	case s.FQDN != "":
		if p := fqdnProblem(s.FQDN); p != "" {
			add("%s", p)
		} else {
			s.BaseURL = "https://api-" + s.FQDN
		}
	default:
		if p := baseURLProblem(s.BaseURL); p != "" {
			add("%s", p)
		}
	}
	s.BaseURL = strings.TrimRight(s.BaseURL, "/")

	id := strings.TrimSpace(string(s.APIKeyID))
	switch {
	case id == "":
		add("api_key_id is missing; copy the key's ID from Settings → Configurations → Integrations → API Keys, e.g. api_key_id: 17")
	case id != string(s.APIKeyID) || strings.ContainsFunc(id, notHeaderSafe):
		add("api_key_id %q contains spaces or control characters; write the key's ID alone, e.g. api_key_id: 17", string(s.APIKeyID))
	}
	if !s.APIKey.Set() {
		add("api_key is missing; add api_key: {env: VARIABLE_NAME} or api_key: {file: /path/to/key}")
	}
	switch s.KeyType {
	case "":
		s.KeyType = KeyStandard
	case KeyStandard, KeyAdvanced:
	default:
		add("key_type is %q; write standard or advanced, as chosen when the API key was created", s.KeyType)
	}
	if s.MaxEndpoints < 0 {
		add("max_endpoints is %d; set it to the most endpoints one sync may fetch, or 0 for no limit", s.MaxEndpoints)
	}
	seen := map[string]bool{}
	for _, st := range s.RemoveStatuses {
		switch {
		case slices.Contains(endpointStatuses, st):
			if seen[st] {
				add("remove_statuses lists %s twice", st)
			}
			seen[st] = true
		case slices.Contains(endpointStatuses, strings.ToUpper(strings.TrimSpace(st))):
			add("remove_statuses: write %q in upper case, as Cortex reports it: %s", st, strings.ToUpper(strings.TrimSpace(st)))
		default:
			add("remove_statuses: %q is not an endpoint status; use some of %s", st, strings.Join(endpointStatuses, ", "))
		}
	}
	switch {
	case s.PageSize == 0:
		s.PageSize = 100
	case s.PageSize < 1 || s.PageSize > 100:
		add("page_size is %d; get_endpoint returns 1 to 100 endpoints a page", s.PageSize)
	}
	switch {
	case s.MaxAttempts == 0:
		s.MaxAttempts = 8
	case s.MaxAttempts < 1 || s.MaxAttempts > 20:
		add("max_attempts is %d; set 1 (no retry) to 20", s.MaxAttempts)
	}
	if _, p := s.XQLPollTimeout.parse("xql_poll_timeout", defaultPollTimeout, time.Second, "10m"); p != "" {
		add("%s", p)
	}
	if _, p := s.RequestTimeout.parse("request_timeout", defaultRequestTimeout, time.Second, "1m"); p != "" {
		add("%s", p)
	}
	switch {
	case s.RequestsPerSecond == 0:
		s.RequestsPerSecond = 10
	case s.RequestsPerSecond < 1 || s.RequestsPerSecond > 10:
		add("requests_per_second is %d; Cortex XDR allows at most 10 per tenant, so set 1 to 10", s.RequestsPerSecond)
	}
	if s.AssetRetentionDays < 0 {
		add("asset_retention_days must be 0 (never) or more")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// fqdnProblem says what is wrong with an fqdn setting, or "".
func fqdnProblem(fqdn string) string {
	switch {
	case strings.Contains(fqdn, "://") || strings.ContainsAny(fqdn, "/?#@ "):
		return fmt.Sprintf("fqdn %q is not a host name; write the FQDN alone (acme.xdr.us.paloaltonetworks.com), or use base_url for a full URL", fqdn)
	case strings.HasPrefix(strings.ToLower(fqdn), "api-"):
		// The API host is api-<fqdn>: building it from a value that already has the
		// prefix doubles it (a bug third-party collectors have shipped).
		return fmt.Sprintf("fqdn %q already starts with api-, which Tributary adds itself; write it without the prefix (fqdn: %s) or set base_url: https://%s instead", fqdn, fqdn[len("api-"):], fqdn)
	case !strings.Contains(fqdn, "."):
		return fmt.Sprintf("fqdn %q is not a fully qualified name; copy the FQDN Cortex XDR shows with the API key, e.g. acme.xdr.us.paloaltonetworks.com", fqdn)
	}
	return ""
}

// baseURLProblem says what is wrong with a base_url setting, or "".
func baseURLProblem(base string) string {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("base_url %q is not a URL like https://api-acme.xdr.us.paloaltonetworks.com", base)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case strings.Contains(u.Path, "/public_api"):
		return fmt.Sprintf("base_url %q includes the API path; stop at the host (%s://%s): Tributary adds /public_api/v1/...", base, u.Scheme, u.Host)
	case strings.HasPrefix(host, "api-api-"):
		return fmt.Sprintf("base_url %q repeats the api- prefix; the host is api- followed by the tenant FQDN, e.g. https://api-acme.xdr.us.paloaltonetworks.com", base)
	case strings.HasSuffix(host, ".paloaltonetworks.com") && !strings.HasPrefix(host, "api-"):
		return fmt.Sprintf("base_url %q is the console's address; the API is at https://api-%s (or set fqdn: %s)", base, u.Host, u.Host)
	}
	return ""
}

// notHeaderSafe reports a rune that cannot be sent in an HTTP header value as is.
func notHeaderSafe(r rune) bool { return r < 0x21 || r > 0x7e }

// Source fetches the endpoints and vulnerabilities of one cortex_xdr connector.
type Source struct {
	inst     connector.Instance
	settings Settings
	scope    string // the tenant's API host name, e.g. api-acme.xdr.us.paloaltonetworks.com
	remove   map[string]bool
	client   *client
	// tune, when set, adjusts the client before each sync: a seam for tests (clock,
	// nonce, backoff, transport); nil in production.
	tune func(*client)
}

var _ connector.Source = (*Source)(nil)

func newSource(inst connector.Instance, decode func(any) error) (connector.Source, error) {
	var s Settings
	if err := decode(&s); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	if err := s.APIKey.Resolve(); err != nil {
		return nil, fmt.Errorf("api_key: %w", err)
	}
	u, _ := url.Parse(s.BaseURL) // validate parsed it
	src := &Source{inst: inst, settings: s, scope: u.Hostname(), remove: map[string]bool{}}
	for _, st := range s.RemoveStatuses {
		src.remove[st] = true
	}
	return src, nil
}

// Initiate re-reads the API key (a rotated key file is picked up) and checks that it
// can be sent as the key type says. It makes no network call.
func (s *Source) Initiate(ctx context.Context) error {
	if err := s.settings.APIKey.Resolve(); err != nil {
		return &connector.Error{
			Class:   connector.ClassConfig,
			Message: fmt.Sprintf("reading the connector's api_key: %v", err),
			Action:  "make the api_key's environment variable or file hold the Cortex XDR API key",
			Cause:   err,
		}
	}
	key := s.settings.APIKey.Value()
	if strings.ContainsFunc(key, notHeaderSafe) {
		return &connector.Error{
			Class:   connector.ClassCredentials,
			Message: "the connector's api_key contains spaces or control characters, which no Cortex XDR key has",
			Action:  "check the api_key's environment variable or file: it must hold the key alone, as Cortex XDR showed it when the key was created",
		}
	}
	c := newClient(s.settings, key, s.inst.Requests)
	if s.tune != nil {
		s.tune(c)
	}
	s.client = c
	return nil
}

// Test asks get_endpoint for one endpoint: the cheapest call the connector needs.
func (s *Source) Test(ctx context.Context) []connector.Check {
	_, err := s.endpointPage(ctx, 0, 1)
	return []connector.Check{{Name: "endpoints/get_endpoint", Scope: s.scope, Err: asConnectorError(err)}}
}

// asConnectorError returns err as a *connector.Error, nil for nil.
func asConnectorError(err error) *connector.Error {
	if err == nil {
		return nil
	}
	return connector.AsError(err)
}

// AssetRetentionDays implements connector.AssetRetention.
func (s *Source) AssetRetentionDays() int { return s.settings.AssetRetentionDays }
