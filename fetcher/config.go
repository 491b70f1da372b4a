package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/connector/registry"
	"github.com/tributary-sec/tributary/internal/schedule"
)

// connectorsFile is the layout of the connectors YAML file.
type connectorsFile struct {
	Connectors []struct {
		ID       string        `yaml:"id"`
		Name     string        `yaml:"name"`
		Type     string        `yaml:"type"`
		Schedule schedule.Spec `yaml:"schedule"`
		Settings yaml.Node     `yaml:"settings"`
	} `yaml:"connectors"`
}

// configuredConnector is one connector ready to sync.
type configuredConnector struct {
	connector.Instance
	Schedule schedule.Schedule
	Source   connector.Source
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// loadConnectors reads and validates the connectors file, resolving every secret, so
// that a bad file stops the fetcher at start-up with every problem named. requests, when
// not nil, gives each connector type the observer of its vendor API requests.
func loadConnectors(path string, requests func(connectorType string) connector.RequestObserver) ([]configuredConnector, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading connectors file: %w; pass the file with --connectors", err)
	}
	var file connectorsFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("parsing connectors file %s: %w", path, err)
	}
	if len(file.Connectors) == 0 {
		return nil, fmt.Errorf("connectors file %s lists no connectors; add at least one under the connectors key", path)
	}
	var (
		out  []configuredConnector
		errs []error
		seen = map[string]bool{}
	)
	for i, c := range file.Connectors {
		where := fmt.Sprintf("%s: connector %d (%q)", path, i+1, c.ID)
		if !idPattern.MatchString(c.ID) {
			errs = append(errs, fmt.Errorf("%s: id must be 1-63 lower-case letters, digits, - or _, starting with a letter or digit", where))
			continue
		}
		if seen[c.ID] {
			errs = append(errs, fmt.Errorf("%s: id is used twice; connector ids must be unique", where))
			continue
		}
		seen[c.ID] = true
		typ, err := registry.Lookup(c.Type)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		name := c.Name
		if name == "" {
			name = c.ID
		}
		inst := connector.Instance{ID: c.ID, Name: name, Type: c.Type}
		if requests != nil {
			inst.Requests = requests(c.Type)
		}
		sched, err := schedule.Parse(c.Schedule)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		settings := c.Settings
		decode := func(v any) error {
			if settings.Kind == 0 {
				return errors.New("settings is missing")
			}
			return decodeStrict(&settings, v)
		}
		src, err := typ.NewSource(inst, decode)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: settings: %w", where, err))
			continue
		}
		out = append(out, configuredConnector{Instance: inst, Schedule: sched, Source: src})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// decodeStrict decodes n into v, a pointer to a struct, refusing keys the struct does
// not have: a misspelt option must not be silently ignored.
func decodeStrict(n *yaml.Node, v any) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: settings must be a mapping of keys to values", n.Line)
	}
	known := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		known[name] = true
	}
	for i := 0; i < len(n.Content); i += 2 {
		if key := n.Content[i]; !known[key.Value] {
			names := slices.Sorted(maps.Keys(known))
			return fmt.Errorf("line %d: unknown setting %q; known settings: %s", key.Line, key.Value, strings.Join(names, ", "))
		}
	}
	return n.Decode(v)
}
