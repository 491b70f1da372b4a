package connector

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is a credential taken from an environment variable or a file, never written
// inline in the connectors file. It prints as [redacted] everywhere.
//
//	secret_access_key: {env: AWS_PROD_SECRET_ACCESS_KEY}
//	secret_access_key: {file: /run/secrets/aws-prod}
type Secret struct {
	Env   string
	File  string
	value string
}

// UnmarshalYAML refuses inline values so that credentials stay out of config files.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return fmt.Errorf("line %d: secrets may not be written inline in the connectors file; use {env: VARIABLE_NAME} or {file: /path/to/secret}", n.Line)
	}
	var ref struct {
		Env  string `yaml:"env"`
		File string `yaml:"file"`
	}
	if err := n.Decode(&ref); err != nil {
		return err
	}
	if (ref.Env == "") == (ref.File == "") {
		return fmt.Errorf("line %d: a secret needs exactly one of env or file, e.g. {env: VARIABLE_NAME}", n.Line)
	}
	s.Env, s.File = ref.Env, ref.File
	return nil
}

// Set reports whether the secret was configured.
func (s *Secret) Set() bool { return s.Env != "" || s.File != "" }

// Resolve reads the secret's value from its variable or file.
func (s *Secret) Resolve() error {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return fmt.Errorf("environment variable %s is not set; export it before starting the fetcher", s.Env)
		}
		s.value = v
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return fmt.Errorf("reading secret file: %w; create it or fix the path", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return fmt.Errorf("secret file %s is empty", s.File)
		}
		s.value = v
	}
	return nil
}

// Value returns the resolved secret. Pass it only to the vendor client.
func (s *Secret) Value() string { return s.value }

// String keeps the value out of fmt output.
func (s Secret) String() string { return "[redacted]" }

// GoString keeps the value out of %#v output.
func (s Secret) GoString() string { return "[redacted]" }

// LogValue keeps the value out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }
