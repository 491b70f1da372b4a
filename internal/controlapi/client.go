package controlapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// TestResult is the answer to a connectivity test.
type TestResult struct {
	ConnectorID string  `json:"connector_id"`
	OK          bool    `json:"ok"`
	Checks      []Check `json:"checks"`
}

// StartedSync is the answer to starting a sync: the sync runs on after it.
type StartedSync struct {
	ConnectorID string         `json:"connector_id"`
	SyncID      string         `json:"sync_id"`
	Type        model.SyncType `json:"type"`
}

// APIError is an error answer of the control API.
type APIError struct {
	StatusCode int
	// Message is the server's "error" field, or the status text and the start of the
	// body when the answer is not the API's JSON (a proxy's error page, say).
	Message string
	// RunningSyncID is the sync already running, on 409 Conflict.
	RunningSyncID string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("control API answered %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// maxBody bounds an answer; a page of 1000 syncs is about 2 MB.
const maxBody = 64 << 20

// Client calls the fetcher's control API. It reads every response body to its end, so a
// RoundTripper of the http.Client it is given sees each body whole.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client of the API at baseURL (such as http://127.0.0.1:8480). A
// non-empty token is sent as "Authorization: Bearer <token>"; a nil httpClient means
// http.DefaultClient.
func NewClient(baseURL, token string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: httpClient}
}

// Connectors lists the configured connectors, each with its newest sync.
func (c *Client) Connectors(ctx context.Context) ([]Connector, error) {
	var out struct {
		Connectors []Connector `json:"connectors"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/connectors", nil, nil, &out)
	return out.Connectors, err
}

// Test runs the Initiating and Connectivity Test stages of a connector and reports each
// check. A failed check is not an error: see TestResult.OK.
func (c *Client) Test(ctx context.Context, connectorID string) (TestResult, error) {
	var out TestResult
	err := c.do(ctx, http.MethodPost, "/api/v1/connectors/"+url.PathEscape(connectorID)+"/test", nil, nil, &out)
	return out, err
}

// StartSync starts a sync of a connector and returns without waiting for it. When a sync
// of the connector is already running the error is an *APIError with RunningSyncID set.
func (c *Client) StartSync(ctx context.Context, connectorID string, typ model.SyncType) (StartedSync, error) {
	var out StartedSync
	body := map[string]model.SyncType{"type": typ}
	err := c.do(ctx, http.MethodPost, "/api/v1/connectors/"+url.PathEscape(connectorID)+"/syncs", nil, body, &out)
	return out, err
}

// Syncs lists the syncs f selects, newest first.
func (c *Client) Syncs(ctx context.Context, f synclog.Filter) ([]synclog.Sync, error) {
	q, err := filterQuery(f)
	if err != nil {
		return nil, err
	}
	var out struct {
		Syncs []synclog.Sync `json:"syncs"`
	}
	err = c.do(ctx, http.MethodGet, "/api/v1/syncs", q, nil, &out)
	return out.Syncs, err
}

// Sync returns one sync and its entries, oldest first; level, when set, keeps only the
// entries at that level. An unknown or expired sync is an *APIError with status 404.
func (c *Client) Sync(ctx context.Context, id string, level model.Level) (synclog.Sync, []synclog.Entry, error) {
	q := url.Values{}
	if level != "" {
		q.Set("level", string(level))
	}
	var out struct {
		Sync    synclog.Sync    `json:"sync"`
		Entries []synclog.Entry `json:"entries"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/syncs/"+url.PathEscape(id), q, nil, &out)
	return out.Sync, out.Entries, err
}

// Validations returns the newest data validation of each configured connector, sorted
// by connector id; a connector without one yet is absent. A non-empty connectorID keeps
// that connector's only: none when it has no validation yet, an *APIError with status
// 404 when the fetcher has no such connector.
func (c *Client) Validations(ctx context.Context, connectorID string) ([]synclog.Validation, error) {
	q := url.Values{}
	if connectorID != "" {
		q.Set("connector", connectorID)
	}
	var out struct {
		Validations []synclog.Validation `json:"validations"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/validations", q, nil, &out)
	return out.Validations, err
}

// filterQuery is the query string of GET /api/v1/syncs for f.
func filterQuery(f synclog.Filter) (url.Values, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("connector", f.ConnectorID)
	set("type", string(f.Type))
	if _, err := synclog.ParseStatus(f.Status.Param()); err != nil {
		return nil, fmt.Errorf("sync %w", err)
	}
	set("status", f.Status.Param())
	set("level", string(f.Level))
	if !f.From.IsZero() {
		q.Set("from", f.From.UTC().Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit != 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q, nil
}

// do sends one request and decodes a 2xx answer into out, any other into an *APIError.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding the body of %s %s: %w", method, path, err)
		}
		reqBody = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reqBody)
	if err != nil {
		return fmt.Errorf("building %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err // a *url.Error naming the method and URL
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("reading the answer of %s %s: %w", method, path, err)
	}
	if len(raw) > maxBody {
		return fmt.Errorf("reading the answer of %s %s: longer than %d MiB; narrow the query", method, path, maxBody>>20)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding the answer of %s %s: %w; is %s the fetcher's control API?", method, path, err, c.base)
	}
	return nil
}

func apiError(status int, body []byte) *APIError {
	var e struct {
		Error         string `json:"error"`
		RunningSyncID string `json:"running_sync_id"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &APIError{StatusCode: status, Message: e.Error, RunningSyncID: e.RunningSyncID}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "..."
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &APIError{StatusCode: status, Message: msg}
}
