package awsinspector

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tributary-sec/tributary/internal/connector"
)

// classify turns an SDK error into a connector.Error with an action for the person who
// configured the connector. capture, when not nil, holds the failed response.
func classify(err error, capture *pageCapture) *connector.Error {
	if err == nil {
		return nil
	}
	ce := &connector.Error{Cause: err}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.Response != nil {
		ce.StatusCode = respErr.HTTPStatusCode()
		ce.Headers = connector.Redact(respErr.Response.Header)
	}
	if capture != nil && capture.errorBody != nil {
		ce.Payload = connector.TruncatePayload(capture.errorBody)
	}
	var apiErr smithy.APIError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var urlErr *url.Error
	var tlsErr *tls.CertificateVerificationError
	var notTLS tls.RecordHeaderError
	switch {
	case capture != nil && capture.splitErr != nil:
		// The page came with a success status: keep it with its headers for the sync log.
		ce.StatusCode, ce.Headers = capture.status, connector.Redact(capture.header)
		ce.Class = connector.ClassMalformed
		ce.Message = fmt.Sprintf("AWS Inspector returned a page that is not valid JSON: %v", capture.splitErr)
		ce.Action = "retry the sync; if it persists, the endpoint may not be AWS Inspector (check the connector's endpoint setting) or a proxy is rewriting responses"
	case errors.As(err, &apiErr):
		classifyAPIError(ce, apiErr)
	case errors.As(err, &tlsErr):
		ce.Class = connector.ClassUnreachable
		ce.Message = fmt.Sprintf("the TLS certificate of %s is not trusted: %v", endpointName(err), tlsErr.Err)
		ce.Action = "check the connector's endpoint setting (leave it empty for AWS's own endpoints); if a TLS-intercepting proxy sits between the fetcher and AWS, add its CA certificate to the fetcher host's trusted certificates (the system CA bundle, or a file named by SSL_CERT_FILE)"
	case errors.Is(err, http.ErrSchemeMismatch), errors.As(err, &notTLS):
		ce.Class = connector.ClassUnreachable
		ce.Message = fmt.Sprintf("%s did not answer with TLS", endpointName(err))
		ce.Action = "check the connector's endpoint setting: it says https:// but the server there speaks plain HTTP"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		ce.Class = connector.ClassUnreachable
		ce.Message = fmt.Sprintf("the AWS endpoint host %s does not exist (no such host)", dnsErr.Name)
		ce.Action = "check the connector's regions (AWS region names like us-east-1) and its endpoint setting"
	case errors.As(err, &dnsErr):
		ce.Class = connector.ClassUnreachable
		ce.Message = fmt.Sprintf("the AWS endpoint host %s could not be resolved: %s", dnsErr.Name, dnsErr.Err)
		ce.Action = "check the DNS of the fetcher's host (its resolvers, e.g. /etc/resolv.conf, and the network path to them), then the connector's regions and endpoint setting"
	case errors.As(err, &opErr), errors.As(err, &urlErr):
		ce.Class = connector.ClassUnreachable
		ce.Message = fmt.Sprintf("AWS could not be reached: %v", connector.RootCause(err))
		ce.Action = "check the fetcher's network access to AWS (firewall, proxy, VPC endpoint) and the connector's endpoint setting"
	case errors.Is(err, context.DeadlineExceeded):
		ce.Class = connector.ClassUnreachable
		ce.Message = "AWS did not answer in time"
		ce.Action = "check the fetcher's network access to AWS; retry the sync"
	default:
		ce.Class = connector.ClassInternal
		ce.Message = fmt.Sprintf("calling AWS Inspector: %v", err)
		ce.Action = "check the fetcher's logs; this is likely a Tributary bug"
	}
	return ce
}

// endpointName names the endpoint a failed request went to, with its host when err
// carries the URL.
func endpointName(err error) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		if u, perr := url.Parse(urlErr.URL); perr == nil && u.Host != "" {
			return "the AWS endpoint " + u.Host
		}
	}
	return "the AWS endpoint"
}

func classifyAPIError(ce *connector.Error, apiErr smithy.APIError) {
	code := apiErr.ErrorCode()
	switch code {
	case "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
		"SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationTokenException", "MissingAuthenticationToken":
		ce.Class = connector.ClassCredentials
		ce.Message = fmt.Sprintf("AWS rejected the connector's credentials (%s)", code)
		ce.Action = "check the connector's access_key_id and the secret_access_key it reads from its env variable or file; create a new access key in IAM if it was deleted or rotated"
	case "ExpiredTokenException", "ExpiredToken", "RequestExpired":
		ce.Class = connector.ClassCredentials
		ce.Message = fmt.Sprintf("the connector's AWS credentials have expired (%s)", code)
		ce.Action = "refresh the session token, or use long-lived access keys or a role ARN so Tributary renews credentials itself; check the fetcher host's clock"
	case "AccessDenied":
		ce.Class = connector.ClassPermission
		ce.Message = "AWS STS refused to let the connector assume its role (AccessDenied)"
		ce.Action = "check role_arn and external_id of the connector, and that the role's trust policy allows the base principal with that external ID (sts:AssumeRole)"
	case "AccessDeniedException":
		ce.Class = connector.ClassPermission
		ce.Message = "the connector's AWS principal may not list Inspector findings (AccessDeniedException)"
		ce.Action = "grant inspector2:ListFindings to the IAM user or role of the connector, and check that Amazon Inspector is enabled in each configured region"
	case "ThrottlingException", "Throttling", "TooManyRequestsException":
		ce.Class = connector.ClassRateLimited
		ce.Message = "AWS kept throttling ListFindings after every retry (ThrottlingException)"
		ce.Action = "schedule the connector's sync at a quieter time, or check what else calls Inspector in this account; Tributary honours Retry-After and retries with backoff"
	case "InternalServerException", "ServiceUnavailable", "InternalFailure":
		ce.Class = connector.ClassVendorServer
		ce.Message = fmt.Sprintf("AWS Inspector kept failing with a server error after every retry (%s)", code)
		ce.Action = "this is on AWS's side; check the AWS Health Dashboard for Inspector in the region and retry the sync later"
	case "ValidationException":
		ce.Class = connector.ClassInternal
		ce.Message = fmt.Sprintf("AWS Inspector refused the request as invalid: %s", apiErr.ErrorMessage())
		ce.Action = "check the connector's max_results; otherwise this is a Tributary bug, report it with this sync's log"
	default:
		if ce.StatusCode >= 500 {
			ce.Class = connector.ClassVendorServer
			ce.Action = "this is on AWS's side; retry the sync later"
		} else {
			ce.Class = connector.ClassInternal
			ce.Action = "check the connector's configuration; if it looks right, report this sync's log"
		}
		ce.Message = fmt.Sprintf("AWS Inspector returned %s: %s", code, apiErr.ErrorMessage())
	}
}
