package connector

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Class is the kind of failure; it drives the recommended action.
type Class string

// Error classes, SPEC §2.
const (
	ClassCredentials  Class = "invalid_credentials"
	ClassPermission   Class = "missing_permission"
	ClassUnreachable  Class = "unreachable"
	ClassRateLimited  Class = "rate_limited"
	ClassVendorServer Class = "vendor_server_error"
	ClassMalformed    Class = "malformed_vendor_data"
	ClassLimit        Class = "limit_exceeded"
	ClassConfig       Class = "invalid_configuration"
	ClassInternal     Class = "internal_error"
)

// Error is a classified connector failure. Message says what went wrong, Action what
// the person who configured the connector should check, and where.
type Error struct {
	Class      Class
	Message    string
	Action     string
	Cause      error
	StatusCode int         // HTTP status of the vendor response, 0 when none
	Headers    http.Header // vendor response headers, redacted by Redact before use
	Payload    []byte      // vendor response body, truncated
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Action != "" {
		b.WriteString(": ")
		b.WriteString(e.Action)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Cause }

// AsError returns err as a *Error, classifying an unclassified err as an internal error.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	return &Error{Class: ClassInternal, Message: err.Error(), Action: "this is a Tributary bug or an environment problem; check the service logs", Cause: err}
}

// maxPayload bounds the vendor payload kept with an error.
const maxPayload = 2048

// TruncatePayload keeps at most the first 2 KiB of a vendor response body.
func TruncatePayload(b []byte) []byte {
	if len(b) <= maxPayload {
		return b
	}
	out := make([]byte, maxPayload, maxPayload+3)
	copy(out, b)
	return append(out, "..."...)
}

// sensitiveHeaders are response or request headers that may carry credentials.
var sensitiveHeaders = []string{"Authorization", "X-Amz-Security-Token", "Set-Cookie", "Cookie", "X-Xdr-Auth-Id", "X-Xdr-Nonce", "Proxy-Authorization"}

// Redact returns a copy of h with credential-bearing headers replaced by [redacted].
func Redact(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range sensitiveHeaders {
		if out.Get(k) != "" {
			out.Set(k, "[redacted]")
		}
	}
	return out
}

// RootCause unwraps err to its innermost error, which names a network or system
// failure plainly.
func RootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
