package avro

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-sec/tributary/internal/model"
)

// fakeRegistry is an in-memory schema registry: one id per distinct schema text, as
// Confluent's gives, whatever the subject. internal/registry tests the HTTP client
// against a registry stand-in served over HTTP.
type fakeRegistry struct {
	mu       sync.Mutex
	ids      map[string]int      // schema text → id
	schemas  map[int]string      // id → schema text
	subjects map[string][]string // subject → its schema texts, in order
	lookups  int                 // Schema calls
	// reprint, when set, is how Schema returns a schema's text: a registry may lay a
	// schema out other than it was registered.
	reprint func(string) string
	down    error // every call fails with it
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{ids: map[string]int{}, schemas: map[int]string{}, subjects: map[string][]string{}}
}

func (r *fakeRegistry) Register(_ context.Context, subject, schema string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down != nil {
		return 0, r.down
	}
	id, ok := r.ids[schema]
	if !ok {
		id = len(r.ids) + 1
		r.ids[schema], r.schemas[id] = id, schema
	}
	for _, s := range r.subjects[subject] {
		if s == schema {
			return id, nil
		}
	}
	r.subjects[subject] = append(r.subjects[subject], schema)
	return id, nil
}

func (r *fakeRegistry) Schema(_ context.Context, id int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	if r.down != nil {
		return "", r.down
	}
	s, ok := r.schemas[id]
	if !ok {
		return "", fmt.Errorf("no schema id %d", id)
	}
	if r.reprint != nil {
		return r.reprint(s), nil
	}
	return s, nil
}

func (r *fakeRegistry) lookupCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

func newRegistryCodec(t testing.TB, reg Registry) *Codec {
	t.Helper()
	c, err := NewWithRegistry(t.Context(), reg)
	if err != nil {
		t.Fatalf("NewWithRegistry: %v", err)
	}
	return c
}

// TestRegistryRoundTrip encodes every record type in the Confluent wire format: the
// header is 00 and the id registered for the record's full name, the body the one
// single-object encoding has, and the record decodes as it was.
func TestRegistryRoundTrip(t *testing.T) {
	reg := newFakeRegistry()
	c := newRegistryCodec(t, reg)
	single := newCodec(t)
	ids := c.SchemaIDs()
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := c.Encode([]byte("prefix"), tc.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("Encode dropped the buffer's prefix: % x", head(b))
			}
			b = b[len("prefix"):]
			name, _, err := toNative(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != 0 || int(binary.BigEndian.Uint32(b[1:5])) != ids[name] {
				t.Errorf("header % x, want 00 and the id of %s, %d", b[:5], name, ids[name])
			}
			if subjects := reg.subjects[name]; len(subjects) != 1 || reg.ids[subjects[0]] != ids[name] {
				t.Errorf("subject %s holds %d schemas, want the one with id %d", name, len(subjects), ids[name])
			}
			so, err := single.Encode(nil, tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			// goavro writes maps in random order, hot.go sorted: compare what is fixed.
			if _, hot := single.appendHot(nil, tc.msg); hot && !bytes.Equal(b[confluentHeaderLen:], so[headerLen:]) || len(b)-confluentHeaderLen != len(so)-headerLen {
				t.Errorf("body differs from single-object encoding's\n got: % x\nwant: % x", head(b[confluentHeaderLen:]), head(so[headerLen:]))
			}
			got, err := c.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if want := normalized(tc.msg); !reflect.DeepEqual(normalized(got), want) {
				t.Errorf("round trip mismatch\n got: %+v\nwant: %+v", got, want)
			}
		})
	}
	if n := reg.lookupCount(); n != 0 {
		t.Errorf("decoding its own records looked %d ids up in the registry, want none", n)
	}
}

// TestDecodeBothFormats decodes records of both writers in every mode a reader runs:
// a registry codec reads the records written before the switch, and a reading one those
// written after it; a codec without a registry refuses Confluent framing, saying why.
func TestDecodeBothFormats(t *testing.T) {
	reg := newFakeRegistry()
	writer := newRegistryCodec(t, reg)
	finding := fullFinding()
	events := &model.StageEvent{SyncID: "sync-1", Stage: model.StageFetching, Time: t0}
	var messages []struct {
		format string
		b      []byte
		want   any
	}
	for _, w := range []struct {
		format string
		c      *Codec
	}{{"single-object", newCodec(t)}, {"confluent", writer}} {
		for _, msg := range []any{finding, events} {
			b, err := w.c.Encode(nil, msg)
			if err != nil {
				t.Fatal(err)
			}
			messages = append(messages, struct {
				format string
				b      []byte
				want   any
			}{w.format, b, msg})
		}
	}
	reading, err := NewReadingRegistry(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		mode          string
		c             *Codec
		readsRegistry bool
	}{
		{"single-object", newCodec(t), false},
		{"reading a registry", reading, true},
		{"writing to a registry", newRegistryCodec(t, reg), true},
	} {
		for _, m := range messages {
			t.Run(r.mode+" reads "+m.format+fmt.Sprintf(" %T", m.want), func(t *testing.T) {
				got, err := r.c.Decode(m.b)
				if m.format == "confluent" && !r.readsRegistry {
					if err == nil || !strings.Contains(err.Error(), "no schema registry; set --schema-registry-url") {
						t.Fatalf("Decode error = %v, want one naming --schema-registry-url", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !reflect.DeepEqual(normalized(got), normalized(m.want)) {
					t.Errorf("got %+v, want %+v", got, m.want)
				}
			})
		}
	}
	// The reading codec looked each of the two ids up once, however often it met them.
	before := reg.lookupCount()
	for range 3 {
		for _, m := range messages {
			if _, err := reading.Decode(m.b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if before != 2 || reg.lookupCount() != before {
		t.Errorf("registry look-ups: %d, then %d after decoding again; want 2, then no more", before, reg.lookupCount())
	}
	if ids := reading.SchemaIDs(); ids != nil {
		t.Errorf("a reading codec's SchemaIDs = %v, want nil: it writes single-object encoding", ids)
	}
	if b, err := reading.Encode(nil, finding); err != nil || b[0] != singleObjectMagic[0] {
		t.Errorf("a reading codec encodes % x, %v; want single-object encoding", head(b), err)
	}
}

// TestRegisterIdempotent starts twice against one registry: the second start registers
// nothing new and writes with the same ids.
func TestRegisterIdempotent(t *testing.T) {
	reg := newFakeRegistry()
	first := newRegistryCodec(t, reg).SchemaIDs()
	second := newRegistryCodec(t, reg).SchemaIDs()
	if !reflect.DeepEqual(first, second) {
		t.Errorf("ids of the second start %v, want the first's %v", second, first)
	}
	names := newCodec(t).Names()
	if len(first) != len(names) {
		t.Errorf("registered %d schemas, want one per record type, %d", len(first), len(names))
	}
	for _, name := range names {
		if n := len(reg.subjects[name]); n != 1 {
			t.Errorf("subject %s has %d versions after two starts, want 1", name, n)
		}
	}
}

// TestRegistryReprint decodes ids whose schema the registry returns laid out otherwise
// than registered (reindented, the name split into name and namespace, as Confluent's
// registry prints it): the canonical form, so the record type, is the same.
func TestRegistryReprint(t *testing.T) {
	reg := newFakeRegistry()
	writer := newRegistryCodec(t, reg)
	reg.reprint = func(s string) string {
		var doc map[string]any
		if err := json.Unmarshal([]byte(s), &doc); err != nil {
			t.Fatal(err)
		}
		full := doc["name"].(string)
		i := strings.LastIndexByte(full, '.')
		doc["namespace"], doc["name"] = full[:i], full[i+1:]
		out, err := json.MarshalIndent(doc, "", "    ")
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	reading, err := NewReadingRegistry(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range roundTripCases() {
		b, err := writer.Encode(nil, tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := reading.Decode(b)
		if err != nil {
			t.Fatalf("%s: Decode: %v", tc.name, err)
		}
		if !reflect.DeepEqual(normalized(got), normalized(tc.msg)) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.msg)
		}
	}
}

// TestUnknownSchemaID: an id whose schema this build does not have fails with the id
// and the fix, and is asked for once; an id the registry cannot give is asked for again.
func TestUnknownSchemaID(t *testing.T) {
	reg := newFakeRegistry()
	c := newRegistryCodec(t, reg)
	var finding map[string]any
	if err := json.Unmarshal([]byte(c.byName[nameFinding].text), &finding); err != nil {
		t.Fatal(err)
	}
	finding["fields"] = append(finding["fields"].([]any), map[string]any{"name": "added", "type": "string", "default": ""})
	newer, err := json.Marshal(finding)
	if err != nil {
		t.Fatal(err)
	}
	newerID, err := reg.Register(t.Context(), nameFinding, string(newer))
	if err != nil {
		t.Fatal(err)
	}
	foreignID, err := reg.Register(t.Context(), "com.acme.Thing", `{"type":"record","name":"com.acme.Thing","fields":[{"name":"x","type":"int"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	frame := func(id int) []byte { return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), 0, 0, 0) }
	tests := []struct {
		name    string
		id      int
		want    []string
		lookups int // registry look-ups after decoding it twice
	}{
		{"newer version", newerID, []string{"schema id " + fmt.Sprint(newerID), "a version of tributary.v1.Finding this build does not know", "upgrade this service"}, 1},
		{"another producer's record", foreignID, []string{"schema id " + fmt.Sprint(foreignID), `"com.acme.Thing", not a record Tributary writes`}, 1},
		{"not in the registry", 999, []string{"looking up schema id 999: no schema id 999"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := reg.lookupCount()
			for range 2 {
				got, err := c.Decode(frame(tc.id))
				if err == nil {
					t.Fatalf("Decode = %+v, want an error", got)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
			}
			if n := reg.lookupCount() - before; n != tc.lookups {
				t.Errorf("%d registry look-ups for two decodes, want %d", n, tc.lookups)
			}
		})
	}
}

func TestNewWithRegistryErrors(t *testing.T) {
	down := newFakeRegistry()
	down.down = errors.New("the schema registry at http://sr:8081 is unreachable")
	if _, err := NewWithRegistry(t.Context(), down); err == nil ||
		!strings.Contains(err.Error(), "registering schema tributary.v1.Asset: the schema registry at http://sr:8081 is unreachable") {
		t.Errorf("NewWithRegistry error = %v, want one naming the first schema and the registry's error", err)
	}
	for _, tc := range []struct {
		name string
		ids  func(n int) int
		want string
	}{
		{"negative id", func(int) int { return -1 }, "registering schema tributary.v1.Asset: the registry returned id -1, outside the wire format's 0 to 2^31-1"},
		{"id over 2^31-1", func(int) int { return 1 << 31 }, "returned id 2147483648, outside"},
		{"one id for two schemas", func(int) int { return 7 }, "registering schema tributary.v1.DeadLetter: the registry returned id 7, which it gave tributary.v1.Asset too"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			reg := registryFunc(func(string) int { n++; return tc.ids(n) })
			if _, err := NewWithRegistry(t.Context(), reg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewWithRegistry error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// registryFunc is a registry whose Register returns what the function gives.
type registryFunc func(schema string) int

func (f registryFunc) Register(_ context.Context, _, schema string) (int, error) {
	return f(schema), nil
}

func (registryFunc) Schema(context.Context, int) (string, error) {
	return "", errors.New("not implemented")
}

// TestConcurrentLookups decodes one new id on many goroutines at once: it is looked up
// once, and every decode gets the record.
func TestConcurrentLookups(t *testing.T) {
	reg := newFakeRegistry()
	b, err := newRegistryCodec(t, reg).Encode(nil, fullFinding())
	if err != nil {
		t.Fatal(err)
	}
	reading, err := NewReadingRegistry(reg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if got, err := reading.Decode(b); err != nil || !reflect.DeepEqual(normalized(got), normalized(fullFinding())) {
				t.Errorf("Decode = %+v, %v", got, err)
			}
		})
	}
	wg.Wait()
	if n := reg.lookupCount(); n != 1 {
		t.Errorf("%d registry look-ups, want 1", n)
	}
}
