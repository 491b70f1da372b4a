package registry

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/tributary-sec/tributary/internal/avro"
)

// startupTimeout bounds registering the schemas at start-up, so a registry that
// accepts connections but does not answer stops the service with an error.
const startupTimeout = 30 * time.Second

// Config says whether and how a service uses a schema registry.
type Config struct {
	// URL is the registry's base URL, empty for none: records are then single-object
	// encoded. It may carry credentials (https://user:password@host), which take
	// precedence over User and Password.
	URL string
	// User and Password authenticate with HTTP basic auth; Password comes from the
	// environment only, so it never shows in a process list.
	User, Password string
	// Write makes a service with a URL write the Confluent wire format. Without it, the
	// service writes single-object encoding and only reads Confluent-framed records.
	Write bool

	envErr error // an unreadable TRIBUTARY_SCHEMA_REGISTRY_WRITE, reported by Validate
}

// RegisterFlags adds the schema-registry flags every service shares to fs, with
// defaults from the environment. It returns the Config the parsed flags fill.
func RegisterFlags(fs *flag.FlagSet) *Config {
	c := &Config{Password: os.Getenv("TRIBUTARY_SCHEMA_REGISTRY_PASSWORD"), Write: true}
	if v, ok := os.LookupEnv("TRIBUTARY_SCHEMA_REGISTRY_WRITE"); ok {
		w, err := strconv.ParseBool(v)
		if err != nil {
			c.envErr = fmt.Errorf("env TRIBUTARY_SCHEMA_REGISTRY_WRITE is %q: use true or false", v)
		}
		c.Write = w || err != nil
	}
	fs.StringVar(&c.URL, "schema-registry-url", os.Getenv("TRIBUTARY_SCHEMA_REGISTRY_URL"),
		"Confluent-compatible schema registry: when set, schemas are registered at start-up and records are written in the Confluent wire format; "+
			"empty for Avro single-object encoding (env TRIBUTARY_SCHEMA_REGISTRY_URL, which keeps credentials in the URL out of process lists)")
	fs.StringVar(&c.User, "schema-registry-user", os.Getenv("TRIBUTARY_SCHEMA_REGISTRY_USER"),
		"schema registry user for HTTP basic auth (env TRIBUTARY_SCHEMA_REGISTRY_USER); the password comes from env TRIBUTARY_SCHEMA_REGISTRY_PASSWORD only")
	fs.BoolVar(&c.Write, "schema-registry-write", c.Write,
		"with --schema-registry-url: write the Confluent wire format; false keeps writing single-object encoding and only reads Confluent-framed records, "+
			"for switching a registry on or off service by service (env TRIBUTARY_SCHEMA_REGISTRY_WRITE)")
	return c
}

// Validate checks the settings; it never puts credentials in an error.
func (c *Config) Validate() error {
	if c.envErr != nil {
		return c.envErr
	}
	if c.URL == "" {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--schema-registry-url %q: use http://host:port or https://host, optionally with user:password@ before the host", Redact(c.URL))
	}
	return nil
}

// Codec returns the Avro codec the settings call for: single-object encoding without
// a URL; with one, a codec that registers Tributary's schemas at start-up and writes the
// Confluent wire format, or with Write false one that only reads it.
func (c *Config) Codec(ctx context.Context) (*avro.Codec, error) {
	if c.URL == "" {
		return avro.New()
	}
	cl, err := New(*c)
	if err != nil {
		return nil, err
	}
	if !c.Write {
		return avro.NewReadingRegistry(cl)
	}
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	return avro.NewWithRegistry(ctx, cl)
}

// Redact returns rawURL without its credentials, fit for logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)" // it may hold a password in a form url cannot find
	}
	u.User = nil
	return u.String()
}
