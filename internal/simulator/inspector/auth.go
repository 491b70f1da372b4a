package inspector

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// principal is an identity requests can be signed as: the base credentials or a session
// issued by AssumeRole.
type principal struct {
	accessKeyID string
	secret      string
	token       string // session token; empty for the base credentials
	arn         string
	userID      string
	account     string
	expires     time.Time // zero for the base credentials
}

// authError is a SigV4 failure, rendered as restJson1 (Inspector) or awsQuery XML (STS).
type authError struct {
	status   int
	jsonType string
	xmlCode  string
	jsonMsg  string
	xmlMsg   string
}

const (
	msgInvalidToken = "The security token included in the request is invalid."
	msgExpiredToken = "The security token included in the request is expired"
	msgBadSignature = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	amzDateFormat   = "20060102T150405Z"
)

var (
	errMissingAuth  = &authError{http.StatusForbidden, "MissingAuthenticationTokenException", "MissingAuthenticationToken", "Missing Authentication Token", "Request is missing Authentication Token"}
	errUnknownKey   = &authError{http.StatusForbidden, "UnrecognizedClientException", "InvalidClientTokenId", msgInvalidToken, msgInvalidToken}
	errExpiredToken = &authError{http.StatusForbidden, "ExpiredTokenException", "ExpiredToken", msgExpiredToken, msgExpiredToken}
	errBadSignature = &authError{http.StatusForbidden, "InvalidSignatureException", "SignatureDoesNotMatch", msgBadSignature, msgBadSignature}
)

func incompleteSignature(msg string) *authError {
	return &authError{http.StatusForbidden, "IncompleteSignatureException", "IncompleteSignature", msg, msg}
}

func signatureError(msg string) *authError {
	return &authError{http.StatusForbidden, "InvalidSignatureException", "SignatureDoesNotMatch", msg, msg}
}

// sigV4Header is a parsed Authorization header.
type sigV4Header struct {
	accessKeyID, date, region, service string
	signedHeaders                      string
	signature                          string
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
// SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (sigV4Header, *authError) {
	var out sigV4Header
	algo, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if algo != "AWS4-HMAC-SHA256" {
		return out, incompleteSignature("Unsupported AWS 'algorithm': '" + algo + "'")
	}
	var credential string
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			out.signedHeaders = v
		case "Signature":
			out.signature = v
		}
	}
	var missing []string
	for _, p := range [][2]string{{"Credential", credential}, {"Signature", out.signature}, {"SignedHeaders", out.signedHeaders}} {
		if p[1] == "" {
			missing = append(missing, "Authorization header requires '"+p[0]+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return out, incompleteSignature(strings.Join(missing, " "))
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return out, incompleteSignature("Credential should be of the form AccessKeyId/yyyymmdd/region/service/aws4_request, got '" + strings.Join(scope[1:], "/") + "'.")
	}
	out.accessKeyID, out.date, out.region, out.service = scope[0], scope[1], scope[2], scope[3]
	return out, nil
}

// authenticate checks r's SigV4 signature for service and returns the signer and the
// region of the credential scope.
func (s *Simulator) authenticate(r *http.Request, body []byte, service string) (*principal, string, *authError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, "", errMissingAuth
	}
	auth, aerr := parseAuthorization(h)
	if aerr != nil {
		return nil, "", aerr
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return nil, "", incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	signingTime, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, "", incompleteSignature("Date must be in ISO-8601 'basic format'. Got '" + amzDate + "'.")
	}

	p := s.lookup(auth.accessKeyID)
	if p == nil {
		return nil, "", errUnknownKey
	}
	token := r.Header.Get("X-Amz-Security-Token")
	if !hmac.Equal([]byte(token), []byte(p.token)) {
		return nil, "", errUnknownKey
	}
	if !p.expires.IsZero() && !s.clock().Before(p.expires) {
		return nil, "", errExpiredToken
	}
	if auth.service != service {
		return nil, "", signatureError("Credential should be scoped to correct service: '" + service + "'. ")
	}
	if !regionPattern.MatchString(auth.region) {
		return nil, "", signatureError("Credential should be scoped to a valid region. ")
	}
	if auth.date != signingTime.Format("20060102") {
		return nil, "", signatureError("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" + auth.date + "' != '" + signingTime.Format("20060102") + "', from '" + amzDate + "'.")
	}
	if !s.signatureMatches(r, body, auth, p, signingTime) {
		return nil, "", errBadSignature
	}
	return p, auth.region, nil
}

// signatureMatches re-signs a copy of r that carries only the signed headers with the
// secret of p, using the SDK's own signer, and compares the result with r's signature.
func (s *Simulator) signatureMatches(r *http.Request, body []byte, auth sigV4Header, p *principal, signingTime time.Time) bool {
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	clone := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: make(http.Header)}
	signsToken := false
	for name := range strings.SplitSeq(auth.signedHeaders, ";") {
		switch name {
		case "host":
		case "content-length":
			clone.ContentLength = int64(len(body))
		default:
			if name == "x-amz-security-token" {
				signsToken = true
			}
			if v := r.Header.Values(name); len(v) > 0 {
				clone.Header[http.CanonicalHeaderKey(name)] = v
			}
		}
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if v := r.Header.Get("X-Amz-Content-Sha256"); v != "" && v != payloadHash {
		return false
	}
	creds := aws.Credentials{AccessKeyID: p.accessKeyID, SecretAccessKey: p.secret}
	if signsToken {
		creds.SessionToken = p.token
	}
	if err := s.signer.SignHTTP(r.Context(), creds, clone, payloadHash, auth.service, auth.region, signingTime); err != nil {
		return false
	}
	want, err := parseAuthorization(clone.Header.Get("Authorization"))
	if err != nil {
		return false
	}
	return want.signedHeaders == auth.signedHeaders && hmac.Equal([]byte(want.signature), []byte(auth.signature))
}

// lookup returns the principal of an access key id, or nil.
func (s *Simulator) lookup(accessKeyID string) *principal {
	if accessKeyID == s.base.accessKeyID {
		return &s.base
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sessions[accessKeyID]
}

// idFromHash derives n upper-case alphanumerics from s, for stable AWS-style ids.
func idFromHash(s string, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	sum := sha256.Sum256([]byte(s))
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[sum[i%len(sum)]%32]
	}
	return string(out)
}
