package cortexxdr

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tributary-sec/tributary/internal/connector"
)

// client calls the Cortex XDR public API of one tenant: it signs each request for the
// key type, spaces requests to the connector's rate, retries what may pass and
// classifies what does not.
type client struct {
	baseURL  string
	keyID    string
	key      string
	advanced bool

	http           *http.Client
	limiter        *limiter
	maxAttempts    int
	requestTimeout time.Duration
	// backoff is the first retry's wait; it doubles per attempt up to maxBackoff.
	backoff, maxBackoff time.Duration
	// maxRetryAfter caps how long one Retry-After may hold a call.
	maxRetryAfter time.Duration
	// pollFirst and pollMax bound the wait between polls of a pending XQL query.
	pollFirst, pollMax time.Duration
	pollTimeout        time.Duration

	now   func() time.Time
	nonce func() string
	// observe is told of every attempt (the fetcher's vendor API metrics).
	observe connector.RequestObserver
}

func newClient(s Settings, key string, observe connector.RequestObserver) *client {
	return &client{
		baseURL:  s.BaseURL,
		keyID:    string(s.APIKeyID),
		key:      key,
		advanced: s.KeyType == KeyAdvanced,
		http: &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A redirect would turn the POST into a GET (and drop the key on another
			// host); report it instead, so base_url can be corrected.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		limiter:        &limiter{interval: time.Second / time.Duration(s.RequestsPerSecond)},
		maxAttempts:    s.MaxAttempts,
		requestTimeout: s.requestTimeout(),
		backoff:        500 * time.Millisecond,
		maxBackoff:     20 * time.Second,
		maxRetryAfter:  5 * time.Minute,
		pollFirst:      time.Second,
		pollMax:        10 * time.Second,
		pollTimeout:    s.pollTimeout(),
		now:            time.Now,
		nonce:          newNonce,
		observe:        observe,
	}
}

// sign sets the authentication headers of one request. An advanced key signs a fresh
// nonce and timestamp: Authorization = hex(SHA-256(key + nonce + timestamp)).
func (c *client) sign(h http.Header) {
	h.Set("x-xdr-auth-id", c.keyID)
	if !c.advanced {
		h.Set("Authorization", c.key)
		return
	}
	nonce := c.nonce()
	ts := strconv.FormatInt(c.now().UnixMilli(), 10)
	sum := sha256.Sum256([]byte(c.key + nonce + ts))
	h.Set("x-xdr-nonce", nonce)
	h.Set("x-xdr-timestamp", ts)
	h.Set("Authorization", hex.EncodeToString(sum[:]))
}

const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newNonce returns 64 random characters from [A-Za-z0-9], as Cortex expects.
func newNonce() string {
	out := make([]byte, 0, 64)
	var buf [96]byte
	for len(out) < 64 {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails
		for _, b := range buf {
			// 248 = 4*62: dropping larger bytes keeps every character equally likely.
			if b < 248 && len(out) < 64 {
				out = append(out, nonceAlphabet[b%62])
			}
		}
	}
	return string(out)
}

// limiter spaces request starts at least interval apart: Cortex allows 10 requests a
// second per tenant and sends no rate headers to pace by. Safe for concurrent use.
type limiter struct {
	interval time.Duration

	mu   sync.Mutex
	next time.Time
}

func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	return sleep(ctx, at.Sub(now))
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxBody bounds a JSON response read into memory; a page of 100 endpoints or 1,000
// inline XQL rows is a few MiB at most.
const maxBody = 64 << 20

// response is a 2xx answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// malformed reports that the response is not what api returns.
func (r *response) malformed(api, what string) error {
	return malformed(api, r.status, r.header, r.body, what)
}

// call POSTs {"request_data": data} to api (e.g. "endpoints/get_endpoint") and returns
// its 2xx response, whose body is valid JSON.
func (c *client) call(ctx context.Context, api string, data any) (*response, error) {
	var out *response
	err := c.send(ctx, api, data, func(resp *http.Response) error {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		if err != nil {
			return err // a transport error: retried
		}
		if len(b) > maxBody {
			return malformed(api, resp.StatusCode, resp.Header, b, fmt.Sprintf("is larger than %d MiB", maxBody>>20))
		}
		if !jsonValid(b) {
			return malformed(api, resp.StatusCode, resp.Header, b, "is not valid JSON")
		}
		out = &response{status: resp.StatusCode, header: resp.Header, body: b}
		return nil
	})
	return out, err
}

// stream POSTs to a streaming api and calls line for each non-blank line of the body,
// gunzipped when gzip. A line is only valid during the call. begin is called before
// the first line of each try: a transport failure mid-stream makes the call retry, and
// the lines already passed come again.
func (c *client) stream(ctx context.Context, api string, data any, begin func(), line func([]byte) error) error {
	return c.send(ctx, api, data, func(resp *http.Response) error {
		begin()
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		var r io.Reader = br
		if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
			zr, err := gzip.NewReader(br)
			if err != nil {
				return err
			}
			r = zr
		}
		lr := bufio.NewReaderSize(r, 64<<10)
		var long []byte // a line longer than the buffer, gathered
		for {
			chunk, err := lr.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				if len(long)+len(chunk) > maxBody {
					return malformed(api, resp.StatusCode, resp.Header, nil, fmt.Sprintf("has a line longer than %d MiB", maxBody>>20))
				}
				long = append(long, chunk...)
				continue
			}
			if len(long) > 0 {
				chunk = append(long, chunk...)
				long = long[:0]
			}
			if t := bytes.TrimSpace(chunk); len(t) > 0 {
				if lerr := line(t); lerr != nil {
					return stopError{lerr}
				}
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				var corrupt flate.CorruptInputError
				if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &corrupt) {
					return malformed(api, resp.StatusCode, resp.Header, nil, "is not valid gzip: "+err.Error())
				}
				return err // a transport error: retried
			}
		}
	})
}

// stopError carries an error that must end the call as it is, without a retry: emit's
// own error, or a classified one.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }
func (e stopError) Unwrap() error { return e.err }

// send POSTs {"request_data": data} to api and hands a 2xx response to read. It retries,
// up to maxAttempts tries, on 429, 5xx, a first 401 (PANW's SDK does: a clock or
// nonce hiccup), and transport failures (also those read returns), waiting with
// jittered exponential backoff or what Retry-After asks. Other failures come back as a
// *connector.Error; ctx's own error comes back as it is.
func (c *client) send(ctx context.Context, api string, data any, read func(*http.Response) error) error {
	payload, err := json.Marshal(map[string]any{"request_data": data})
	if err != nil {
		return fmt.Errorf("encoding the %s request: %w", api, err)
	}
	url := c.baseURL + "/public_api/v1/" + api
	unauthorized := 0
	for attempt := 1; ; attempt++ {
		if err := c.limiter.wait(ctx); err != nil {
			return err
		}
		last := attempt >= c.maxAttempts
		retryAfter, err := c.try(ctx, api, url, payload, attempt > 1, read)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var stop stopError
		if errors.As(err, &stop) {
			return stop.err
		}
		var cerr *connector.Error
		if errors.As(err, &cerr) {
			switch {
			case cerr.StatusCode == http.StatusUnauthorized && unauthorized == 0 && !last:
				unauthorized++
			case (cerr.StatusCode == http.StatusTooManyRequests || cerr.StatusCode >= 500) && !last:
			default:
				return cerr
			}
		} else {
			if last || !retryableTransport(err) {
				return classifyTransport(err, api, c.baseURL, c.requestTimeout)
			}
		}
		wait := retryAfter
		if wait <= 0 {
			d := min(c.maxBackoff, c.backoff<<min(attempt-1, 16))
			wait = d/2 + mrand.N(d/2+1)
		}
		if err := sleep(ctx, min(wait, c.maxRetryAfter)); err != nil {
			return err
		}
	}
}

// try makes one attempt of send. It returns how long Retry-After asks to wait, if the
// vendor said, and a *connector.Error for a vendor error status.
func (c *client) try(ctx context.Context, api, url string, payload []byte, retry bool, read func(*http.Response) error) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The timeout restarts whenever the body makes progress, so a long result stream
	// is bounded per chunk rather than as a whole.
	idle := time.AfterFunc(c.requestTimeout, cancel)
	defer idle.Stop()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, fmt.Errorf("building the %s request: %w", api, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tributary-cortex-xdr")
	c.sign(req.Header)
	start := time.Now()
	resp, err := c.http.Do(req)
	attempt := connector.Request{Endpoint: path.Base(api), Retry: retry, Duration: time.Since(start)}
	if err == nil {
		attempt.Status = resp.StatusCode
	}
	c.observe.Observe(attempt)
	if err != nil {
		return 0, timedOut(err, idle)
	}
	defer resp.Body.Close()
	resp.Body = &progressBody{ReadCloser: resp.Body, idle: idle, timeout: c.requestTimeout}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, timedOut(read(resp), idle)
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if rerr != nil && len(body) == 0 {
		body = nil
	}
	return retryAfter(resp.Header, c.now()), c.statusError(api, resp, body)
}

// progressBody restarts the idle timer whenever a read returns data.
type progressBody struct {
	io.ReadCloser
	idle    *time.Timer
	timeout time.Duration
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.idle.Reset(b.timeout)
	}
	return n, err
}

// errIdle marks a call cut by request_timeout.
var errIdle = errors.New("no answer within request_timeout")

// timedOut returns err, marked as a timeout when the idle timer cut the call.
func timedOut(err error, idle *time.Timer) error {
	if err == nil {
		return nil
	}
	var stop stopError
	var cerr *connector.Error
	if errors.As(err, &stop) || errors.As(err, &cerr) {
		return err
	}
	if !idle.Stop() { // the timer fired: the cancel was ours
		return fmt.Errorf("%w: %w", errIdle, err)
	}
	return err
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date; 0 when absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// jsonValid reports whether b is one JSON value, accepting what the decoders accept.
func jsonValid(b []byte) bool {
	return jsontext.Value(b).IsValid(decodeOptions)
}
