// Package registry connects the services to a Confluent-compatible schema registry
// (--schema-registry-url): the client internal/avro registers Tributary's schemas with
// and looks schema ids up in, and the flags every service shares.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/tributary-sec/tributary/internal/avro"
)

// requestTimeout bounds one request to the registry.
const requestTimeout = 10 * time.Second

// Client talks to one schema registry over its REST API. It is safe for concurrent
// use. Its errors name the registry by its URL without credentials.
type Client struct {
	cl  *sr.Client
	url string // without credentials
}

var _ avro.Registry = (*Client)(nil)

// New returns a client of the registry cfg names; cfg has been validated.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("--schema-registry-url %q: not a URL", Redact(cfg.URL))
	}
	user, password := cfg.User, cfg.Password
	if u.User != nil {
		user = u.User.Username()
		password, _ = u.User.Password()
		u.User = nil
	}
	opts := []sr.ClientOpt{
		sr.URLs(u.String()),
		sr.HTTPClient(&http.Client{Timeout: requestTimeout}),
		sr.UserAgent("tributary"),
	}
	if user != "" || password != "" {
		opts = append(opts, sr.BasicAuth(user, password))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the schema registry client of %s: %w", u, err)
	}
	return &Client{cl: cl, url: u.String()}, nil
}

// URL is the registry's URL without credentials.
func (c *Client) URL() string { return c.url }

// Register registers an Avro schema under subject and returns its id; registering a
// schema the subject already has returns the same id (POST /subjects/{subject}/versions).
func (c *Client) Register(ctx context.Context, subject, schema string) (int, error) {
	id, err := c.cl.RegisterSchema(ctx, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro}, -1, -1)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusConflict {
			return 0, fmt.Errorf("the schema registry at %s refuses the schema as incompatible with the versions registered under subject %s (%s); "+
				"change the schema compatibly (docs/consumers.md, Schema changes) or ask the registry's operator about the subject's compatibility level",
				c.url, subject, describe(re))
		}
		return 0, c.explain(err)
	}
	return id, nil
}

// Schema returns the Avro schema registered with id (GET /schemas/ids/{id}).
func (c *Client) Schema(ctx context.Context, id int) (string, error) {
	s, err := c.cl.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return "", fmt.Errorf("the schema registry at %s has no schema id %d (%s); the record was written with another registry, or its schema was deleted",
				c.url, id, describe(re))
		}
		return "", c.explain(err)
	}
	if s.Type != sr.TypeAvro {
		return "", fmt.Errorf("schema id %d in the schema registry at %s is a %s schema, not Avro", id, c.url, s.Type)
	}
	return s.Schema, nil
}

// explain turns an error of the registry client into one that says what to do.
func (c *Client) explain(err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("the schema registry at %s refuses the credentials (%s); give them as user:password@ in env TRIBUTARY_SCHEMA_REGISTRY_URL, "+
				"or in env TRIBUTARY_SCHEMA_REGISTRY_USER and TRIBUTARY_SCHEMA_REGISTRY_PASSWORD", c.url, describe(re))
		}
		return fmt.Errorf("the schema registry at %s answers %s", c.url, describe(re))
	}
	// The request's own error repeats the URL; its cause is what to show.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("the schema registry at %s is unreachable (%w); check that it is up and that --schema-registry-url "+
		"(env TRIBUTARY_SCHEMA_REGISTRY_URL) names it, or unset that to write single-object encoding without a registry", c.url, err)
}

// describe renders a registry's error answer: the HTTP status, the registry's error
// code and its message.
func describe(re *sr.ResponseError) string {
	s := fmt.Sprintf("HTTP %d", re.StatusCode)
	if re.ErrorCode != 0 {
		s += fmt.Sprintf(", error %d", re.ErrorCode)
	}
	if msg := re.Error(); msg != "" {
		if len(msg) > maxMessage { // a proxy's HTML error page, say
			msg = msg[:maxMessage] + "..."
		}
		s += ": " + msg
	}
	return s
}

// maxMessage is the most of a registry's error message an error repeats.
const maxMessage = 300
