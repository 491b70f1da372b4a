// The codec's schema-registry mode: records framed in the Confluent wire format (magic
// byte 0, the schema's 4-byte big-endian registry id, then the same Avro binary body).

package avro

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/linkedin/goavro/v2"
)

// Registry is the part of a Confluent-compatible schema registry the codec uses.
// Implementations are safe for concurrent use; internal/registry's Client is the one
// the services use.
type Registry interface {
	// Register registers an Avro schema, given as its JSON text, under subject and
	// returns the schema's id. Registering a schema the subject already has changes
	// nothing and returns the same id.
	Register(ctx context.Context, subject, schema string) (int, error)
	// Schema returns the JSON text of the Avro schema registered with id.
	Schema(ctx context.Context, id int) (string, error)
}

const (
	confluentMagic     = 0
	confluentHeaderLen = 5
)

// lookupTimeout bounds the registry look-up of an id Decode has not met before:
// Decode takes no context, and a look-up happens once per id.
const lookupTimeout = 10 * time.Second

// idEntry is what an id resolved to: a schema of this build, or the lasting reason it
// is none (a look-up that failed is not kept, and is tried again).
type idEntry struct {
	s   *schema
	err error
}

// NewWithRegistry loads the embedded schemas, registers each in reg under the subject
// named by the record's full name (tributary.v1.Finding: Confluent's
// RecordNameStrategy, since one topic carries several record types), and returns a
// codec that writes the Confluent wire format with those ids. It reads single-object
// messages too, and looks up in reg the ids it did not register. Registering is
// idempotent, so every start of every service gets the same ids.
func NewWithRegistry(ctx context.Context, reg Registry) (*Codec, error) {
	c, err := NewReadingRegistry(reg)
	if err != nil {
		return nil, err
	}
	c.written = map[string]int{}
	for _, name := range c.Names() {
		s := c.byName[name]
		id, err := reg.Register(ctx, name, s.text)
		if err != nil {
			return nil, fmt.Errorf("registering schema %s: %w", name, err)
		}
		if id < 0 || id > math.MaxInt32 {
			return nil, fmt.Errorf("registering schema %s: the registry returned id %d, outside the wire format's 0 to 2^31-1", name, id)
		}
		if prev, dup := c.ids.Load(uint32(id)); dup {
			return nil, fmt.Errorf("registering schema %s: the registry returned id %d, which it gave %s too", name, id, prev.(*idEntry).s.name)
		}
		s.header = binary.BigEndian.AppendUint32([]byte{confluentMagic}, uint32(id))
		c.ids.Store(uint32(id), &idEntry{s: s})
		c.written[name] = id
	}
	return c, nil
}

// NewReadingRegistry returns a codec that writes single-object encoding, as New's
// does, and also reads the Confluent wire format, looking the schema ids up in reg. It
// registers nothing: it serves a service switching to or from a registry while its
// topics hold records of both formats.
func NewReadingRegistry(reg Registry) (*Codec, error) {
	c, err := New()
	if err != nil {
		return nil, err
	}
	c.registry = reg
	return c, nil
}

// SchemaIDs returns the registry id each record type is written with, by full name;
// nil for a codec that writes single-object encoding.
func (c *Codec) SchemaIDs() map[string]int {
	return maps.Clone(c.written)
}

// schemaByID returns the schema of a Confluent-framed message's id: one of this
// build's, whose canonical form the registry's schema of that id has.
func (c *Codec) schemaByID(id uint32) (*schema, error) {
	if e, ok := c.ids.Load(id); ok {
		return e.(*idEntry).s, e.(*idEntry).err
	}
	if c.registry == nil {
		return nil, fmt.Errorf("decoding avro message: Confluent wire format (schema id %d), but this service has no schema registry; "+
			"set --schema-registry-url (env TRIBUTARY_SCHEMA_REGISTRY_URL), with --schema-registry-write=false to keep writing single-object encoding", id)
	}
	c.lookup.Lock()
	defer c.lookup.Unlock()
	if e, ok := c.ids.Load(id); ok {
		return e.(*idEntry).s, e.(*idEntry).err
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	text, err := c.registry.Schema(ctx, int(id))
	if err != nil {
		return nil, fmt.Errorf("decoding avro message: looking up schema id %d: %w", id, err)
	}
	e := &idEntry{}
	e.s, e.err = c.resolve(id, text)
	c.ids.Store(id, e)
	return e.s, e.err
}

// resolve maps the registry's schema of id to the schema of this build with the same
// canonical form. The registry may return a schema in another layout than the one
// registered (a Java registry reprints it); the canonical form does not change.
func (c *Codec) resolve(id uint32, text string) (*schema, error) {
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return nil, fmt.Errorf("decoding avro message: schema id %d of the schema registry is not a valid Avro schema: %w", id, err)
	}
	fp := uint64(codec.Rabin)
	if s, ok := c.byFingerprint[fp]; ok {
		return s, nil
	}
	var canonical struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal([]byte(codec.CanonicalSchema()), &canonical) // a name, or none
	if _, ok := c.byName[canonical.Name]; ok {
		return nil, fmt.Errorf("decoding avro message: schema id %d of the schema registry is a version of %s this build does not know (fingerprint %016x); "+
			"upgrade this service to the Tributary release that writes it", id, canonical.Name, fp)
	}
	return nil, fmt.Errorf("decoding avro message: schema id %d of the schema registry is %q, not a record Tributary writes; only Tributary's services may write to its topics", id, canonical.Name)
}
