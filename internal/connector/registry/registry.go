// Package registry lists the connector types Tributary ships. Adding a vendor means
// adding its package and one line here.
package registry

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/connector/awsinspector"
	"github.com/tributary-sec/tributary/internal/connector/cortexxdr"
)

var types = map[string]connector.Type{
	awsinspector.TypeName: awsinspector.Type,
	cortexxdr.TypeName:    cortexxdr.Type,
}

// Lookup returns the connector type called name.
func Lookup(name string) (connector.Type, error) {
	t, ok := types[name]
	if !ok {
		return connector.Type{}, fmt.Errorf("unknown connector type %q; known types: %s", name, strings.Join(Names(), ", "))
	}
	return t, nil
}

// Names lists the known connector types, sorted.
func Names() []string {
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
