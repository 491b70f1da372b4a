package awsinspector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"
	"github.com/aws/aws-sdk-go-v2/service/inspector2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tributary-sec/tributary/internal/connector"
)

// credentials returns the base credentials (configured keys, else the SDK's default
// chain), wrapped in an AssumeRole provider when a role is configured.
func (s *Source) credentials(ctx context.Context) (aws.CredentialsProvider, error) {
	st := s.settings
	var base aws.CredentialsProvider
	if st.AccessKeyID != "" {
		base = credentials.NewStaticCredentialsProvider(st.AccessKeyID, st.SecretAccessKey.Value(), st.SessionToken.Value())
	} else {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(st.Regions[0]))
		if err != nil {
			return nil, fmt.Errorf("loading the default AWS configuration: %w", err)
		}
		base = cfg.Credentials
	}
	if st.RoleARN == "" {
		return aws.NewCredentialsCache(base), nil
	}
	stsClient := sts.New(sts.Options{
		Region:      st.Regions[0],
		Credentials: base,
		Retryer:     s.retryer(),
		HTTPClient:  newHTTPClient(s.tuneTransport, s.inst.Requests),
		APIOptions:  []func(*middleware.Stack) error{s.stsErrors.add, countAttempts},
	}, func(o *sts.Options) {
		if st.STSEndpoint != "" {
			o.BaseEndpoint = aws.String(st.STSEndpoint)
		}
	})
	role := stscreds.NewAssumeRoleProvider(stsClient, st.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "tributary-" + s.inst.ID
		if st.ExternalID != "" {
			o.ExternalID = aws.String(st.ExternalID)
		}
	})
	return aws.NewCredentialsCache(role), nil
}

func (s *Source) newClient(region string) *inspector2.Client {
	return inspector2.New(inspector2.Options{
		Region:      region,
		Credentials: s.creds,
		Retryer:     s.retryer(),
		HTTPClient:  newHTTPClient(s.tuneTransport, s.inst.Requests),
		APIOptions:  []func(*middleware.Stack) error{countAttempts},
	}, func(o *inspector2.Options) {
		if s.settings.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.settings.Endpoint)
		}
	})
}

// NewHTTPClient returns the HTTP client for AWS calls. It works around a client-side
// race of aws-sdk-go-v2 (aws/aws-sdk-go-v2#1825, #2737): smithy-go closes the request
// body as soon as http.Client.Do returns, and when the response arrives before the
// transport's write loop has made its end-of-body check, the transport closes the
// connection under the response being read ("use of closed network connection"). A
// fast endpoint hits it on a few percent of requests, each costing a retry and its
// backoff. Giving the transport its own in-memory copy of the body removes the race.
func NewHTTPClient() *http.Client { return newHTTPClient(nil, nil) }

// newHTTPClient is NewHTTPClient with its transport adjusted by tune, when not nil,
// and every attempt reported to observe.
func newHTTPClient(tune func(*http.Transport), observe connector.RequestObserver) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if tune != nil {
		tune(t)
	}
	var rt http.RoundTripper = bufferedBodies{next: t}
	if observe != nil {
		rt = observed{next: rt, observe: observe}
	}
	return &http.Client{Transport: rt}
}

// observed reports every HTTP attempt of the SDK: the operation's name comes from the
// SDK's context, and whether the attempt is a retry from countAttempts.
type observed struct {
	next    http.RoundTripper
	observe connector.RequestObserver
}

func (o observed) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := o.next.RoundTrip(r)
	req := connector.Request{Endpoint: middleware.GetOperationName(r.Context()), Duration: time.Since(start)}
	if n, ok := middleware.GetStackValue(r.Context(), attemptsKey{}).(*int); ok {
		req.Retry = *n > 1
	}
	if err == nil {
		req.Status = resp.StatusCode
	}
	o.observe(req)
	return resp, err
}

type attemptsKey struct{}

// countAttempts numbers the attempts of each call: one middleware before the SDK's
// retry loop gives the call a counter, one inside the loop counts each attempt. Attempts
// of a call are sequential, so the counter needs no lock.
func countAttempts(stack *middleware.Stack) error {
	start := middleware.FinalizeMiddlewareFunc("tributaryAttemptCounter", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		return next.HandleFinalize(middleware.WithStackValue(ctx, attemptsKey{}, new(int)), in)
	})
	count := middleware.FinalizeMiddlewareFunc("tributaryAttempt", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if n, ok := middleware.GetStackValue(ctx, attemptsKey{}).(*int); ok {
			*n++
		}
		return next.HandleFinalize(ctx, in)
	})
	if err := stack.Finalize.Insert(start, "Retry", middleware.Before); err != nil {
		return err
	}
	return stack.Finalize.Insert(count, "Retry", middleware.After)
}

type bufferedBodies struct{ next http.RoundTripper }

func (b bufferedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return b.next.RoundTrip(r)
}

// retryer retries throttling and 5xx with jittered exponential backoff, waiting at
// least what a Retry-After header asks. The SDK's client-side retry quota is off: a
// bulk sync would exhaust it under sustained throttling and fail needlessly.
func (s *Source) retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = s.settings.MaxAttempts
		o.MaxBackoff = 20 * time.Second
		o.RateLimiter = ratelimit.None
		o.Backoff = retryAfterBackoff{max: 20 * time.Second}
	})
}

type retryAfterBackoff struct{ max time.Duration }

func (b retryAfterBackoff) BackoffDelay(attempt int, err error) (time.Duration, error) {
	if d := retryAfter(err); d > 0 {
		return d, nil
	}
	d := min(b.max, 100*time.Millisecond<<min(attempt, 10))
	return d/2 + rand.N(d/2+1), nil
}

// retryAfter reads the Retry-After seconds AWS sends with throttling and 5xx errors.
func retryAfter(err error) time.Duration {
	var throttled *types.ThrottlingException
	if errors.As(err, &throttled) && throttled.RetryAfterSeconds != nil {
		return time.Duration(*throttled.RetryAfterSeconds) * time.Second
	}
	var internal *types.InternalServerException
	if errors.As(err, &internal) && internal.RetryAfterSeconds != nil {
		return time.Duration(*internal.RetryAfterSeconds) * time.Second
	}
	return 0
}

// pageCapture takes the raw body of a ListFindings response before the SDK decodes it.
// On success it keeps each finding's JSON exactly as AWS sent it and hands the SDK only
// {"nextToken": ...}: the raw topic keeps vendor bytes, the SDK's generic JSON decoding
// (the largest cost of a sync) is skipped, and one malformed finding reaches the
// normalizer's dead-letter path instead of failing the whole page in the SDK. Error
// responses pass through unchanged, so the SDK still classifies them; their status,
// headers and body are kept for the sync log.
type pageCapture struct {
	findings  []rawFinding
	status    int
	header    http.Header
	errorBody []byte
	splitErr  error
}

// errorCapture keeps the body of the last failed response of a client whose calls the
// SDK makes for us (AssumeRole, through the credentials provider).
type errorCapture struct {
	mu   sync.Mutex
	body []byte
}

func (c *errorCapture) add(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("tributaryErrorCapture", c.handle), middleware.After)
}

func (c *errorCapture) handle(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && err == nil && (resp.StatusCode < 200 || resp.StatusCode >= 300) {
		body, readErr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if readErr == nil {
			c.mu.Lock()
			c.body = body
			c.mu.Unlock()
		}
	}
	return out, md, err
}

func (c *errorCapture) last() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.body
}

func (c *pageCapture) option() func(*inspector2.Options) {
	return func(o *inspector2.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			// After the operation deserializer: this one sees the response first.
			return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("tributaryPageCapture", c.handle), middleware.After)
		})
	}
}

func (c *pageCapture) handle(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok {
		return out, md, err
	}
	body, readErr := readBody(resp)
	resp.Body.Close()
	if readErr != nil {
		return out, md, fmt.Errorf("reading ListFindings response: %w", readErr)
	}
	c.status, c.header = resp.StatusCode, resp.Header.Clone()
	c.findings, c.errorBody, c.splitErr = nil, nil, nil
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		c.errorBody = body
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return out, md, err
	}
	findings, nextToken, splitErr := splitPage(body)
	if splitErr != nil {
		c.splitErr = splitErr
		c.errorBody = body
		return out, md, splitErr
	}
	c.findings = findings
	rest := []byte("{}")
	if nextToken != "" {
		rest, _ = jsontext.AppendQuote([]byte(`{"nextToken":`), nextToken)
		rest = append(rest, '}')
	}
	resp.Body = io.NopCloser(bytes.NewReader(rest))
	return out, md, err
}

// readBody reads a response body into a buffer sized by Content-Length, when given, so
// a page costs one allocation instead of io.ReadAll's repeated doubling.
func readBody(resp *smithyhttp.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= maxPageBytes {
		body := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(resp.Body)
}

// maxPageBytes bounds the buffer a Content-Length header can make readBody allocate up
// front; a real page of 100 findings is well under 1 MiB.
const maxPageBytes = 64 << 20
