package connectortest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tributary-sec/tributary/internal/connector"
)

// updateConformance has its own name: connector packages may define -update for their
// other goldens, and one flag name cannot be registered twice in a test binary.
var updateConformance = flag.Bool("update-conformance", false, "rewrite the connector conformance golden files")

// updating reports whether the goldens are to be rewritten: -update-conformance, or
// -update when the connector's package defines it.
func updating() bool {
	if *updateConformance {
		return true
	}
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// goldenJSON renders out with its assets and findings each sorted by scope, unique id
// and then content, so that the order records were fetched in does not matter.
func goldenJSON(out *connector.Normalized) ([]byte, error) {
	sorted := connector.Normalized{
		Assets:   slices.Clone(out.Assets),
		Findings: slices.Clone(out.Findings),
	}
	if err := sortBy(sorted.Assets, func(i int) (string, string) { return sorted.Assets[i].Scope, sorted.Assets[i].UID }); err != nil {
		return nil, err
	}
	if err := sortBy(sorted.Findings, func(i int) (string, string) { return sorted.Findings[i].Scope, sorted.Findings[i].UID }); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(sorted, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// sortBy sorts s by (scope, uid) of each element, then by its JSON.
func sortBy[T any](s []T, key func(int) (scope, uid string)) error {
	type keyed struct {
		scope, uid string
		js         []byte
		v          T
	}
	ks := make([]keyed, len(s))
	for i := range s {
		js, err := json.Marshal(s[i])
		if err != nil {
			return err
		}
		scope, uid := key(i)
		ks[i] = keyed{scope, uid, js, s[i]}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		return cmp.Or(strings.Compare(a.scope, b.scope), strings.Compare(a.uid, b.uid), bytes.Compare(a.js, b.js))
	})
	for i := range ks {
		s[i] = ks[i].v
	}
	return nil
}

// Golden compares got, marshalled as two-space indented JSON ending in a newline, with
// the golden file at path, or rewrites the file when update is true.
func Golden(t testing.TB, path string, got any, update bool) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, path, append(b, '\n'), update, "-update")
}

// checkGolden compares got with the conformance golden file at path, or rewrites it when
// updating.
func checkGolden(t testing.TB, path string, got []byte) {
	t.Helper()
	compareGolden(t, path, got, updating(), "-update-conformance")
}

// compareGolden compares got with the golden file at path, or rewrites it when update
// is true; updateFlag names the flag that rewrites it, for the failure messages.
func compareGolden(t testing.TB, path string, got []byte, update bool, updateFlag string) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden file (go test %s writes it): %v", updateFlag, err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s: the output differs at line %d (go test %s rewrites the file after a deliberate change)\n got: %s\nwant: %s", path, i+1, updateFlag, g, w)
		}
	}
}
