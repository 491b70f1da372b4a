package avro

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/tributary-sec/tributary/schemas"
)

var update = flag.Bool("update", false, "record the current schemas' canonical forms in testdata/canonical")

const updateHint = "go test ./internal/avro -run TestSchemaCompatibility -update"

// TestSchemaCompatibility holds every topic to its contract. testdata/canonical keeps
// the parsing canonical form of each schema; a changed schema must keep every old field
// with its type and give every new field a default, and is then recorded with -update.
func TestSchemaCompatibility(t *testing.T) {
	c := newCodec(t)
	docs, err := readSchemas(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for name, doc := range docs {
		golden := filepath.Join("testdata", "canonical", doc.file+".canonical")
		known[golden] = true
		t.Run(doc.file, func(t *testing.T) {
			current, err := c.CanonicalSchema(name)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(current), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			old, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v; record a new schema with: %s", err, updateHint)
			}
			if string(old) != current {
				if problems := incompatibilities("", parse(t, string(old)), parse(t, current), docs); len(problems) > 0 {
					t.Fatalf("schema %s changed incompatibly: %s; add new fields with defaults or publish a .v2 topic", name, strings.Join(problems, "; "))
				}
				t.Fatalf("schema %s changed compatibly; record its canonical form with: %s "+
					"(Decode knows only current fingerprints: messages written with the old schema will not decode)", name, updateHint)
			}
			if got, want := c.byName[name].fingerprint, rabin([]byte(old)); got != want {
				t.Errorf("fingerprint of %s = %016x, want %016x (CRC-64-AVRO of its canonical form)", name, got, want)
			}
		})
	}
	goldens, err := filepath.Glob(filepath.Join("testdata", "canonical", "*.canonical"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		switch {
		case known[g]:
		case *update:
			if err := os.Remove(g); err != nil {
				t.Error(err)
			}
		default:
			t.Errorf("%s records a schema that is gone, which breaks its topic's readers; run %s once nothing uses it", g, updateHint)
		}
	}
}

// incompatibilities compares two canonical record schemas: each old field must still be
// there with the same type, and each new field must have a default in the .avsc source.
// Records nested in both are compared the same way.
func incompatibilities(path string, old, cur map[string]any, docs map[string]schemaDoc) []string {
	var out []string
	oldFields, curFields := fields(old), fields(cur)
	for _, f := range old["fields"].([]any) {
		name := f.(map[string]any)["name"].(string)
		if cf, ok := curFields[name]; !ok {
			out = append(out, fmt.Sprintf("field %s%s removed", path, name))
		} else {
			out = append(out, typeChanges(path+name, oldFields[name]["type"], cf["type"], docs)...)
		}
	}
	src, _ := findDefinition(cur["name"].(string), docs)
	srcFields := fields(src)
	for _, f := range cur["fields"].([]any) {
		name := f.(map[string]any)["name"].(string)
		if _, hasDefault := srcFields[name]["default"]; oldFields[name] == nil && !hasDefault {
			out = append(out, fmt.Sprintf("field %s%s added without a default", path, name))
		}
	}
	return out
}

func typeChanges(path string, old, cur any, docs map[string]schemaDoc) []string {
	o, _ := old.(map[string]any)
	c, _ := cur.(map[string]any)
	if kind, _ := o["type"].(string); o != nil && c != nil && kind == c["type"] {
		switch {
		case kind == "record" && o["name"] != c["name"]:
			return []string{fmt.Sprintf("field %s changed record type from %s to %s", path, o["name"], c["name"])}
		case kind == "record":
			return incompatibilities(path+".", o, c, docs)
		case kind == "array":
			return typeChanges(path, o["items"], c["items"], docs)
		case kind == "map":
			return typeChanges(path, o["values"], c["values"], docs)
		}
	}
	ou, _ := old.([]any)
	cu, _ := cur.([]any)
	if ou != nil && len(ou) == len(cu) {
		var out []string
		for i := range ou {
			out = append(out, typeChanges(path, ou[i], cu[i], docs)...)
		}
		return out
	}
	if reflect.DeepEqual(old, cur) {
		return nil
	}
	o2, _ := json.Marshal(old)
	c2, _ := json.Marshal(cur)
	return []string{fmt.Sprintf("field %s changed type from %s to %s", path, o2, c2)}
}

func fields(record map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	fs, _ := record["fields"].([]any)
	for _, f := range fs {
		m := f.(map[string]any)
		out[m["name"].(string)] = m
	}
	return out
}

func parse(t *testing.T, canonical string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(canonical), &m); err != nil {
		t.Fatalf("parsing canonical form %s: %v", canonical, err)
	}
	return m
}

// rabin is the CRC-64-AVRO fingerprint of the Avro specification, written out so the
// test does not trust goavro's.
func rabin(b []byte) uint64 {
	const empty = 0xc15d213aa4d7a795
	var table [256]uint64
	for i := range table {
		fp := uint64(i)
		for range 8 {
			fp = fp>>1 ^ (empty & -(fp & 1))
		}
		table[i] = fp
	}
	fp := uint64(empty)
	for _, c := range b {
		fp = fp>>8 ^ table[byte(fp)^c]
	}
	return fp
}

// TestRabin checks rabin against fingerprints of the Avro specification's test suite.
func TestRabin(t *testing.T) {
	for schema, want := range map[string]uint64{`"null"`: 0x63dd24e7cc258f8a, `"int"`: 0x7275d51a3f395c8f} {
		if got := rabin([]byte(schema)); got != want {
			t.Errorf("rabin(%s) = %016x, want %016x", schema, got, want)
		}
	}
}

// TestIncompatibilities checks the rule TestSchemaCompatibility applies.
func TestIncompatibilities(t *testing.T) {
	const old = `{"type":"record","name":"R","namespace":"tributary.v1","fields":[{"name":"a","type":"string"},
		{"name":"n","type":["null",{"type":"record","name":"N","fields":[{"name":"x","type":"long"}]}]}]}`
	tests := []struct {
		name string
		cur  string
		want []string
	}{
		{"unchanged", old, nil},
		{"field added with a default", strings.Replace(old, `"string"}`, `"string"},{"name":"b","type":"int","default":0}`, 1), nil},
		{"field added without a default", strings.Replace(old, `"string"}`, `"string"},{"name":"b","type":"int"}`, 1), []string{"field b added without a default"}},
		{"field removed", strings.Replace(old, `{"name":"a","type":"string"},`, ``, 1), []string{"field a removed"}},
		{"type changed", strings.Replace(old, `"a","type":"string"`, `"a","type":"bytes"`, 1), []string{`field a changed type from "string" to "bytes"`}},
		{"nested field added without a default", strings.Replace(old, `"long"}`, `"long"},{"name":"y","type":"int"}`, 1), []string{"field n.y added without a default"}},
		{"nested record renamed", strings.Replace(old, `"name":"N"`, `"name":"M"`, 1), []string{"field n changed record type from tributary.v1.N to tributary.v1.M"}},
		{"nested field retyped", strings.Replace(old, `"long"}`, `"int"}`, 1), []string{`field n.x changed type from "long" to "int"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var src map[string]any
			if err := json.Unmarshal([]byte(tc.cur), &src); err != nil {
				t.Fatal(err)
			}
			docs := map[string]schemaDoc{"tributary.v1.R": {file: "r.avsc", body: src}}
			got := incompatibilities("", parse(t, canonicalForm(t, old)), parse(t, canonicalForm(t, tc.cur)), docs)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("incompatibilities = %q, want %q", got, tc.want)
			}
		})
	}
}

func canonicalForm(t *testing.T, schema string) string {
	t.Helper()
	c, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatalf("compiling %s: %v", schema, err)
	}
	return c.CanonicalSchema()
}
