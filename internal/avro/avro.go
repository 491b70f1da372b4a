// Package avro encodes and decodes every Kafka message Tributary writes, using the
// schemas in schemas/: in Avro single-object encoding (a fingerprint-stamped header, so a
// reader needs no registry), or with a schema registry in the Confluent wire format.
package avro

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/linkedin/goavro/v2"

	"github.com/tributary-sec/tributary/schemas"
)

// Codec encodes the records of package model to Avro and back.
// It is safe for concurrent use.
type Codec struct {
	byName        map[string]*schema
	byFingerprint map[uint64]*schema

	// registry looks up the schema ids of Confluent-framed messages (registry.go); nil
	// when none is configured, and such messages do not decode.
	registry Registry
	ids      sync.Map       // uint32 schema id → *idEntry, the ids met so far
	lookup   sync.Mutex     // one registry look-up at a time, so a burst of one id asks once
	written  map[string]int // the id each record is written with; nil: single-object
}

type schema struct {
	name        string
	codec       *goavro.Codec
	fingerprint uint64
	// text is the schema as compiled (references inlined): what a registry gets.
	text string
	// header starts every message Encode writes: single-object (C3 01 + fingerprint)
	// or Confluent (00 + schema id).
	header []byte
	// decode is the specialised decoder of a hot record (hot.go); nil for the others,
	// which goavro decodes.
	decode func(body []byte) (any, error)
}

// singleObjectMagic starts every single-object encoded message (Avro spec).
var singleObjectMagic = [2]byte{0xC3, 0x01}

// headerLen is the magic plus the 8-byte CRC-64-AVRO fingerprint.
const headerLen = 10

// maxBlockCount caps the items of one array or map block goavro decodes. goavro
// preallocates a block's items before reading them, and its default cap (2^31-1) lets a
// 20-byte message make the decoder allocate 32 GiB. goavro's encoder and hot.go's split
// longer arrays and maps into blocks of at most this many items, so what we write still
// reads; hot.go's decoder applies the same cap, to reject what goavro rejects.
const maxBlockCount = 1 << 16

func init() {
	// This package is the only goavro importer, so the global is ours to set.
	goavro.MaxBlockCount = maxBlockCount
}

// New loads the embedded schemas.
func New() (*Codec, error) {
	docs, err := readSchemas(schemas.FS)
	if err != nil {
		return nil, err
	}
	c := &Codec{byName: map[string]*schema{}, byFingerprint: map[uint64]*schema{}}
	for name, doc := range docs {
		inlined := inlineReferences(doc.body, docs, map[string]bool{name: true})
		text, err := json.Marshal(inlined)
		if err != nil {
			return nil, fmt.Errorf("rendering schema %s: %w", name, err)
		}
		codec, err := goavro.NewCodec(string(text))
		if err != nil {
			return nil, fmt.Errorf("compiling schema %s (%s): %w", name, doc.file, err)
		}
		s := &schema{name: name, codec: codec, fingerprint: uint64(codec.Rabin), text: string(text)}
		s.header = binary.LittleEndian.AppendUint64(append([]byte(nil), singleObjectMagic[:]...), s.fingerprint)
		if decode, ok := hotDecoders[name]; ok {
			if err := checkLayout(inlined); err != nil {
				return nil, fmt.Errorf("checking schema %s (%s) against the specialised codec in hot.go: %w", name, doc.file, err)
			}
			s.decode = decode
		}
		c.byName[name] = s
		c.byFingerprint[s.fingerprint] = s
	}
	for name := range hotDecoders {
		if c.byName[name] == nil {
			return nil, fmt.Errorf("checking schemas: no schema for %s, which the specialised codec in hot.go encodes", name)
		}
	}
	return c, nil
}

// Names lists the full names of the record types the codec knows, sorted.
func (c *Codec) Names() []string {
	names := make([]string, 0, len(c.byName))
	for n := range c.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CanonicalSchema returns the parsing canonical form of the named record type.
func (c *Codec) CanonicalSchema(name string) (string, error) {
	s, ok := c.byName[name]
	if !ok {
		return "", fmt.Errorf("unknown avro record type %q", name)
	}
	return s.codec.CanonicalSchema(), nil
}

// Encode appends the encoding of msg, a pointer to one of the records of package model,
// to buf: single-object, or the Confluent wire format for a codec of NewWithRegistry.
func (c *Codec) Encode(buf []byte, msg any) ([]byte, error) {
	if out, ok := c.appendHot(buf, msg); ok {
		return out, nil
	}
	return c.encodeNative(buf, msg)
}

// encodeNative encodes msg through goavro's native form: the path of the records
// hot.go does not specialise, and the tests' oracle for those it does.
func (c *Codec) encodeNative(buf []byte, msg any) ([]byte, error) {
	name, native, err := toNative(msg)
	if err != nil {
		return nil, err
	}
	s := c.byName[name]
	out, err := s.codec.BinaryFromNative(append(buf, s.header...), native)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", name, err)
	}
	return out, nil
}

// Decode decodes one message, single-object encoded or (given a registry) in the
// Confluent wire format, into a pointer to the matching record of package model
// (*model.RawRecord, *model.SyncEnd, ...). Times come back in UTC at millisecond
// precision; empty arrays, maps and bytes come back nil. The record shares no memory
// with b.
func (c *Codec) Decode(b []byte) (any, error) {
	var s *schema
	var body []byte
	switch {
	case len(b) >= headerLen && b[0] == singleObjectMagic[0] && b[1] == singleObjectMagic[1]:
		fp := binary.LittleEndian.Uint64(b[2:headerLen])
		var ok bool
		if s, ok = c.byFingerprint[fp]; !ok {
			return nil, fmt.Errorf("decoding avro message: unknown schema fingerprint %016x; the writer uses a schema this build does not know (upgrade this service)", fp)
		}
		body = b[headerLen:]
	case len(b) >= confluentHeaderLen && b[0] == confluentMagic:
		var err error
		if s, err = c.schemaByID(binary.BigEndian.Uint32(b[1:confluentHeaderLen])); err != nil {
			return nil, err
		}
		body = b[confluentHeaderLen:]
	default:
		return nil, fmt.Errorf("decoding avro message: neither Avro single-object encoded nor in the Confluent wire format (%d bytes, header % x)", len(b), b[:min(len(b), 2)])
	}
	if s.decode == nil {
		return decodeNative(s, body)
	}
	msg, err := s.decode(body)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", s.name, err)
	}
	return msg, nil
}

// decodeNative decodes the body of a message through goavro's native form: the path
// of the records hot.go does not specialise, and the tests' oracle for those it does.
func decodeNative(s *schema, body []byte) (any, error) {
	native, rest, err := s.codec.NativeFromBinary(body)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", s.name, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("decoding %s: %d trailing bytes", s.name, len(rest))
	}
	m, ok := native.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decoding %s: got %T, want a record", s.name, native)
	}
	return fromNative(s.name, m)
}

type schemaDoc struct {
	file string
	body map[string]any
}

// readSchemas parses every .avsc file and indexes each named record, nested ones too,
// by full name.
func readSchemas(fsys fs.FS) (map[string]schemaDoc, error) {
	files, err := fs.Glob(fsys, "*.avsc")
	if err != nil {
		return nil, fmt.Errorf("listing schemas: %w", err)
	}
	top := map[string]schemaDoc{}
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("reading schema %s: %w", f, err)
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, fmt.Errorf("parsing schema %s: %w", f, err)
		}
		top[fullName(body, "")] = schemaDoc{file: f, body: body}
	}
	return top, nil
}

func fullName(def map[string]any, enclosingNamespace string) string {
	name, _ := def["name"].(string)
	if strings.Contains(name, ".") {
		return name
	}
	ns, _ := def["namespace"].(string)
	if ns == "" {
		ns = enclosingNamespace
	}
	return ns + "." + name
}

// inlineReferences replaces references to named records defined in other schema files
// with their definitions, since goavro compiles one self-contained schema at a time.
// defined tracks the names already defined in the schema being built.
func inlineReferences(node any, docs map[string]schemaDoc, defined map[string]bool) any {
	switch n := node.(type) {
	case string:
		if defined[n] {
			return n
		}
		if def, ok := findDefinition(n, docs); ok {
			defined[n] = true
			return inlineReferences(def, docs, defined)
		}
		return n
	case []any:
		out := make([]any, len(n))
		for i, v := range n {
			out[i] = inlineReferences(v, docs, defined)
		}
		return out
	case map[string]any:
		t, _ := n["type"].(string)
		isRecord := t == "record"
		if isRecord {
			defined[fullName(n, "tributary.v1")] = true
		}
		out := make(map[string]any, len(n))
		for k, v := range n {
			if k == "type" || k == "items" || k == "values" || k == "fields" {
				out[k] = inlineReferences(v, docs, defined)
			} else {
				out[k] = v
			}
		}
		if isRecord {
			// Spell out the full name instead of a namespace: goavro's canonical form
			// appends a nested record's namespace to the enclosing one
			// ("tributary.v1.tributary.v1.Finding"), a fingerprint no other Avro
			// implementation computes.
			out["name"] = fullName(n, "tributary.v1")
			delete(out, "namespace")
		}
		return out
	}
	return node
}

// findDefinition finds the record called name anywhere in the schema files.
func findDefinition(name string, docs map[string]schemaDoc) (map[string]any, bool) {
	if d, ok := docs[name]; ok {
		return d.body, true
	}
	for _, d := range docs {
		if def, ok := findNested(d.body, name, "tributary.v1"); ok {
			return def, true
		}
	}
	return nil, false
}

func findNested(node any, name, ns string) (map[string]any, bool) {
	switch n := node.(type) {
	case []any:
		for _, v := range n {
			if def, ok := findNested(v, name, ns); ok {
				return def, true
			}
		}
	case map[string]any:
		if t, _ := n["type"].(string); t == "record" && fullName(n, ns) == name {
			return n, true
		}
		for _, k := range []string{"type", "items", "values", "fields"} {
			if def, ok := findNested(n[k], name, ns); ok {
				return def, true
			}
		}
	}
	return nil, false
}
