package cortexxdr

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tributary-sec/tributary/internal/connector"
)

// statusError classifies a vendor error status, keeping the response (credential
// headers redacted, body truncated, the key scrubbed should a proxy echo it) for the
// sync log.
func (c *client) statusError(api string, resp *http.Response, body []byte) *connector.Error {
	if len(c.key) >= 8 {
		body = bytes.ReplaceAll(body, []byte(c.key), []byte("[redacted]"))
	}
	msg := vendorMessage(body)
	ce := &connector.Error{
		StatusCode: resp.StatusCode,
		Headers:    connector.Redact(resp.Header),
		Payload:    connector.TruncatePayload(body),
		Cause:      fmt.Errorf("POST /public_api/v1/%s: HTTP %d", api, resp.StatusCode),
	}
	detail := ""
	if msg != "" {
		detail = ": " + msg
	}
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		ce.Class = connector.ClassCredentials
		ce.Message = "Cortex XDR refused the connector's API key" + detail
		ce.Action = "check api_key_id and the key that api_key's variable or file holds, and that key_type (standard or advanced) is the type chosen when the key was created (Settings → Configurations → Integrations → API Keys); replace an expired or deleted key; an advanced key also needs the fetcher host's clock to be right"
	case code == http.StatusPaymentRequired:
		ce.Class = connector.ClassLimit
		ce.Message = fmt.Sprintf("the Cortex XDR tenant's licence does not cover %s%s", api, detail)
		ce.Action = "the connector needs a Cortex XDR Pro per endpoint licence, and for vulnerabilities the Host Insights add-on; check the tenant's licences with your Palo Alto Networks administrator"
	case code == http.StatusForbidden:
		ce.Class = connector.ClassPermission
		ce.Message = fmt.Sprintf("the API key's role may not call %s%s", api, detail)
		ce.Action = "give the API key a role that can view endpoints (Endpoint Administration) and run XQL queries (Query Center), or create a key with such a role, in Settings → Configurations → Integrations → API Keys"
	case code >= 300 && code < 400:
		ce.Class = connector.ClassConfig
		ce.Message = fmt.Sprintf("%s answered %s with a redirect to %q", c.baseURL, api, resp.Header.Get("Location"))
		ce.Action = "set the connector's base_url to the tenant's API address, https://api- followed by the tenant FQDN (a redirect usually means http:// instead of https://, or the console's address)"
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		ce.Class = connector.ClassConfig
		ce.Message = fmt.Sprintf("there is no Cortex XDR API %s at %s", api, c.baseURL)
		ce.Action = "check the connector's fqdn or base_url: the API host is api- followed by the tenant FQDN that Cortex XDR shows with the API key"
	case code == http.StatusTooManyRequests:
		ce.Class = connector.ClassRateLimited
		ce.Message = fmt.Sprintf("Cortex XDR kept answering %s with Too many requests after every retry%s", api, detail)
		ce.Action = "Cortex XDR allows 10 requests a second per tenant across all API clients: lower the connector's requests_per_second, or schedule its sync when other integrations call less; Tributary honours Retry-After and retries with backoff"
	case code >= 500:
		ce.Class = connector.ClassVendorServer
		ce.Message = fmt.Sprintf("Cortex XDR kept failing on %s with a server error after every retry%s", api, detail)
		ce.Action = "this is on Palo Alto Networks' side; check the Cortex XDR status page and retry the sync later"
	default:
		ce.Class = connector.ClassInternal
		ce.Message = fmt.Sprintf("Cortex XDR refused the %s request%s", api, detail)
		ce.Action = "this is likely a Tributary bug or a change of the Cortex XDR API; report it with this sync's log"
	}
	if strings.Contains(strings.ToLower(msg), "quota") {
		ce.Class = connector.ClassLimit
		ce.Action = "the tenant's daily XQL quota (query units) is used up; retry the sync once it renews, or raise the quota in Cortex XDR"
	}
	return ce
}

// vendorMessage pulls err_msg (and err_extra) out of a Cortex error body:
// {"reply": {"err_code", "err_msg", "err_extra"}}, or the same members at the root, or
// {"errorCode", "message"}. It returns "" when the body says nothing readable.
func vendorMessage(body []byte) string {
	type errBody struct {
		ErrMsg   jsontext.Value `json:"err_msg"`
		ErrExtra jsontext.Value `json:"err_extra"`
		Message  jsontext.Value `json:"message"`
	}
	var b struct {
		Reply jsontext.Value `json:"reply"`
		errBody
	}
	if json.Unmarshal(body, &b, decodeOptions) != nil {
		return ""
	}
	e := b.errBody
	if b.Reply.Kind() == '{' {
		var r errBody
		if json.Unmarshal(b.Reply, &r, decodeOptions) == nil {
			e = r
		}
	}
	msg := text(e.ErrMsg)
	if msg == "" {
		msg = text(e.Message)
	}
	if extra := text(e.ErrExtra); extra != "" && msg != "" {
		msg += " (" + extra + ")"
	}
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	return msg
}

// text renders a JSON value for a message: a string unquoted, null as "", anything
// else as its JSON.
func text(v jsontext.Value) string {
	switch v.Kind() {
	case 0, 'n':
		return ""
	case '"':
		var s string
		if json.Unmarshal(v, &s, decodeOptions) == nil {
			return strings.TrimSpace(s)
		}
	}
	return string(bytes.TrimSpace(v))
}

// malformed reports a 2xx response whose body is not what the API returns.
func malformed(api string, status int, header http.Header, body []byte, what string) *connector.Error {
	return &connector.Error{
		Class:      connector.ClassMalformed,
		Message:    fmt.Sprintf("Cortex XDR's answer to %s %s", api, what),
		Action:     "retry the sync; if it persists, check that base_url points at the Cortex XDR API and that no proxy rewrites its responses",
		StatusCode: status,
		Headers:    connector.Redact(header),
		Payload:    connector.TruncatePayload(body),
	}
}

// retryableTransport reports whether a transport failure may pass on a retry: not a
// host that does not exist nor a TLS mismatch, which are configuration.
func retryableTransport(err error) bool {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var notTLS tls.RecordHeaderError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound,
		errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr),
		errors.As(err, &notTLS), errors.Is(err, http.ErrSchemeMismatch):
		return false
	}
	return true
}

// classifyTransport classifies a failure to reach the tenant or to read its answer.
func classifyTransport(err error, api, baseURL string, timeout time.Duration) *connector.Error {
	host := baseURL
	if u, perr := url.Parse(baseURL); perr == nil && u.Host != "" {
		host = u.Host
	}
	ce := &connector.Error{Class: connector.ClassUnreachable, Cause: err}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var notTLS tls.RecordHeaderError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		ce.Message = fmt.Sprintf("the TLS certificate of %s is not trusted: %v", host, connector.RootCause(err))
		ce.Action = "check the connector's fqdn or base_url; if a TLS-intercepting proxy sits between the fetcher and Cortex XDR, add its CA certificate to the fetcher host's trusted certificates (the system CA bundle, or a file named by SSL_CERT_FILE)"
	case errors.Is(err, http.ErrSchemeMismatch), errors.As(err, &notTLS):
		ce.Message = fmt.Sprintf("%s did not answer with TLS", host)
		ce.Action = "check the connector's base_url: it says https:// but the server there speaks plain HTTP"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		ce.Message = fmt.Sprintf("the Cortex XDR host %s does not exist (no such host)", dnsErr.Name)
		ce.Action = "check the connector's fqdn or base_url against the FQDN Cortex XDR shows with the API key; the API host is api-<fqdn>"
	case errors.As(err, &dnsErr):
		ce.Message = fmt.Sprintf("the Cortex XDR host %s could not be resolved: %s", dnsErr.Name, dnsErr.Err)
		ce.Action = "check the DNS of the fetcher's host (its resolvers and the network path to them), then the connector's fqdn or base_url"
	case errors.Is(err, errIdle), errors.Is(err, context.DeadlineExceeded):
		ce.Message = fmt.Sprintf("%s did not answer %s within request_timeout (%s), after every retry", host, api, timeout)
		ce.Action = "check the fetcher's network access to Cortex XDR; if the tenant is just slow, raise the connector's request_timeout"
	default:
		ce.Message = fmt.Sprintf("Cortex XDR at %s could not be reached for %s: %v", host, api, connector.RootCause(err))
		ce.Action = "check the fetcher's network access to Cortex XDR (firewall, proxy) and the connector's fqdn or base_url"
	}
	return ce
}
