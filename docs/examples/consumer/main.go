// Command consumer is an example of a service downstream of Tributary: it reads
// tributary.findings.v1 and tributary.assets.v1 in its own consumer group and prints one
// line per finding status change and asset state change. See docs/consumers.md.
//
// It uses franz-go and goavro directly, as a team outside Tributary would.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The topics, under Tributary's default prefix "tributary.".
const (
	findingsTopic = "tributary.findings.v1"
	assetsTopic   = "tributary.assets.v1"
)

// The records those topics carry, by full Avro name.
const (
	enrichedFinding = "tributary.v1.EnrichedFinding"
	enrichedAsset   = "tributary.v1.EnrichedAsset"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

// run parses args, then consumes until ctx ends (a clean stop, which returns nil) or a
// record cannot be handled. Lines go to stdout, logs to stderr.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("consumer", flag.ContinueOnError)
	brokers := flags.String("brokers", "127.0.0.1:19092", "Kafka seed brokers, comma-separated (the default is the local stack's)")
	group := flags.String("group", "example-consumer", "consumer group id: your own, never one of Tributary's services")
	schemaDirs := flags.String("schemas", "schemas", "directories of Tributary's .avsc files, comma-separated: one per schema version still in the topics")
	registryURL := flags.String("schema-registry", "", "URL of the schema registry Tributary writes with, if it does (user:password@ for basic auth)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	dec, err := newDecoder(strings.Split(*schemaDirs, ",")...)
	if err != nil {
		return err
	}
	dec.registry = strings.TrimSuffix(*registryURL, "/")
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(findingsTopic, assetsTopic),
		// The default, spelled out: a new group reads the topics from their start, so it
		// sees every entity the topics still hold, not only what changes after it joins.
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		// Commit only records handle has finished with (consume marks them): a crash then
		// replays a record rather than skipping it.
		kgo.AutoCommitMarks(),
	)
	if err != nil {
		return fmt.Errorf("creating Kafka client: %w", err)
	}
	defer client.Close()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	return consume(ctx, client, dec, stdout, log)
}

// consume polls client until ctx ends, handles every record in order and marks it for
// committing once handled. It commits what it handled before it returns.
func consume(ctx context.Context, client *kgo.Client, dec *decoder, out io.Writer, log *slog.Logger) (err error) {
	defer func() {
		// ctx may be over already; the final commit gets a few seconds of its own.
		commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if cerr := client.CommitMarkedOffsets(commitCtx); cerr != nil && err == nil {
			err = fmt.Errorf("committing offsets: %w", cerr)
		}
	}()
	for {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			// Informational: franz-go retries or resumes by itself (see kgo.Fetches.Errors).
			log.Error("fetching", "topic", topic, "partition", partition, "err", err)
		})
		for r := range fetches.RecordsAll() {
			if err := handle(out, dec, r.Value); err != nil {
				// Stop without marking it: after a fix (often: add the new schema files),
				// a restart resumes at this record.
				return fmt.Errorf("handling %s/%d@%d (key %s): %w", r.Topic, r.Partition, r.Offset, r.Key, err)
			}
			client.MarkCommitRecords(r)
		}
	}
}

// handle prints one line for a record that carries a transition. Every finding and asset
// Tributary writes is published, changed or not; most records carry none.
//
// A real handler must be idempotent: after a Tributary restart the same transition may
// come twice. Key what you store by (connector_id, uid, sync_id, new status or state).
func handle(out io.Writer, dec *decoder, value []byte) error {
	name, rec, err := dec.decode(value)
	if err != nil {
		return err
	}
	switch name {
	case enrichedFinding:
		f := rec.record("finding")
		t := rec.union("transition")
		if t == nil {
			return nil
		}
		_, err = fmt.Fprintf(out, "%s finding %s/%s %s -> %s (%s) severity %s\n",
			f.time("fetched_at").Format(time.RFC3339), f.str("connector_id"), f.str("uid"),
			orNone(t.str("old_status")), t.str("new_status"), t.str("reason"), rec.str("severity"))
	case enrichedAsset:
		a := rec.record("asset")
		t := rec.union("transition")
		if t == nil {
			return nil
		}
		_, err = fmt.Fprintf(out, "%s asset %s/%s %s -> %s (%s) %s %q\n",
			a.time("fetched_at").Format(time.RFC3339), a.str("connector_id"), a.str("uid"),
			orNone(t.str("old_state")), t.str("new_state"), t.str("reason"), a.str("class"), a.str("name"))
	}
	return err
}

// orNone names the empty old status or state of a new finding or asset.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// record is an Avro record decoded by goavro (its "native" form). Its accessors return
// the zero value for a field the writer's schema does not have, so a record written with
// an older schema reads as if it had the defaults.
type record map[string]any

func (r record) str(field string) string {
	s, _ := r[field].(string)
	return s
}

func (r record) time(field string) time.Time {
	t, _ := r[field].(time.Time) // timestamp-millis, in UTC
	return t
}

func (r record) record(field string) record {
	m, _ := r[field].(map[string]any)
	return m
}

// union returns the record in a ["null", record] field, or nil. goavro gives a non-null
// union value as a one-entry map from the branch's type name to the value.
func (r record) union(field string) record {
	for _, v := range r.record(field) {
		m, _ := v.(map[string]any)
		return m
	}
	return nil
}

// decoder decodes Tributary's values in either framing. Avro single-object encoding (C3
// 01, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer's schema, then the
// Avro binary body): it picks the schema by the fingerprint. Confluent's wire format,
// when Tributary writes with a schema registry (00, the 4-byte big-endian schema id, then
// the same body): it fetches the schema of the id from the registry.
type decoder struct {
	byFingerprint map[uint64]schema
	registry      string            // the schema registry's URL, "" for none
	byID          map[uint32]schema // the registry's schemas fetched so far
}

type schema struct {
	name  string
	codec *goavro.Codec
}

// newDecoder compiles EnrichedFinding and EnrichedAsset from each directory of
// Tributary's .avsc files. Several directories let it read records written with every
// schema version a topic still holds.
func newDecoder(dirs ...string) (*decoder, error) {
	d := &decoder{byFingerprint: map[uint64]schema{}, byID: map[uint32]schema{}}
	for _, dir := range dirs {
		docs, err := readSchemas(dir)
		if err != nil {
			return nil, err
		}
		for _, name := range []string{enrichedFinding, enrichedAsset} {
			codec, err := compile(name, docs)
			if err != nil {
				return nil, fmt.Errorf("compiling %s from %s: %w", name, dir, err)
			}
			d.byFingerprint[codec.Rabin] = schema{name: name, codec: codec}
		}
	}
	return d, nil
}

// decode returns the full name of the message's record type and the record.
func (d *decoder) decode(b []byte) (string, record, error) {
	var s schema
	var body []byte
	switch {
	case len(b) >= 10 && b[0] == 0xC3 && b[1] == 0x01:
		fp := binary.LittleEndian.Uint64(b[2:10])
		var ok bool
		if s, ok = d.byFingerprint[fp]; !ok {
			return "", nil, fmt.Errorf("unknown schema fingerprint %016x: add the .avsc files of the Tributary release that wrote it (--schemas)", fp)
		}
		body = b[10:]
	case len(b) >= 5 && b[0] == 0:
		var err error
		if s, err = d.schemaByID(binary.BigEndian.Uint32(b[1:5])); err != nil {
			return "", nil, err
		}
		body = b[5:]
	default:
		return "", nil, errors.New("not an Avro single-object encoded message, nor one in Confluent's wire format")
	}
	native, rest, err := s.codec.NativeFromBinary(body)
	if err != nil {
		return "", nil, fmt.Errorf("decoding %s: %w", s.name, err)
	}
	if len(rest) > 0 {
		return "", nil, fmt.Errorf("decoding %s: %d bytes after the record", s.name, len(rest))
	}
	rec, ok := native.(map[string]any)
	if !ok {
		return "", nil, fmt.Errorf("decoding %s: got %T, want a record", s.name, native)
	}
	return s.name, rec, nil
}

// schemaByID fetches the schema registered with id (GET /schemas/ids/{id}), once per
// id: a schema id never changes meaning. The body is decoded with the writer's schema
// as the registry has it, so no .avsc file is needed for it.
func (d *decoder) schemaByID(id uint32) (schema, error) {
	if s, ok := d.byID[id]; ok {
		return s, nil
	}
	if d.registry == "" {
		return schema{}, fmt.Errorf("schema id %d: the value is in Confluent's wire format; give the schema registry's URL (--schema-registry)", id)
	}
	client := &http.Client{Timeout: 10 * time.Second} // net/http sends the URL's user:password as basic auth
	resp, err := client.Get(fmt.Sprintf("%s/schemas/ids/%d", d.registry, id))
	if err != nil {
		return schema{}, fmt.Errorf("fetching schema id %d: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return schema{}, fmt.Errorf("fetching schema id %d: the registry answers %s", id, resp.Status)
	}
	var answer struct {
		Schema string `json:"schema"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&answer); err != nil {
		return schema{}, fmt.Errorf("reading schema id %d: %w", id, err)
	}
	codec, err := goavro.NewCodec(answer.Schema)
	if err != nil {
		return schema{}, fmt.Errorf("compiling schema id %d: %w", id, err)
	}
	var canonical struct {
		Name string `json:"name"` // the record's full name
	}
	if err := json.Unmarshal([]byte(codec.CanonicalSchema()), &canonical); err != nil {
		return schema{}, fmt.Errorf("reading the name of schema id %d: %w", id, err)
	}
	s := schema{name: canonical.Name, codec: codec}
	d.byID[id] = s
	return s, nil
}

// readSchemas parses every .avsc file of dir, by the full name of its record.
func readSchemas(dir string) (map[string]map[string]any, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.avsc"))
	if err != nil {
		return nil, fmt.Errorf("listing schemas in %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .avsc files in %s (--schemas names Tributary's schemas/ directory)", dir)
	}
	docs := map[string]map[string]any{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading schema: %w", err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("parsing schema %s: %w", f, err)
		}
		docs[fullName(doc, "")] = doc
	}
	return docs, nil
}

// compile builds the codec of the named record. Tributary's schemas refer to records of
// other files by full name (EnrichedFinding's finding field is a tributary.v1.Finding),
// and goavro compiles one self-contained schema at a time, so each reference is replaced
// by the definition it names before compiling.
func compile(name string, docs map[string]map[string]any) (*goavro.Codec, error) {
	doc, ok := docs[name]
	if !ok {
		return nil, fmt.Errorf("no schema file defines %s", name)
	}
	text, err := json.Marshal(inline(doc, "", docs, map[string]bool{}))
	if err != nil {
		return nil, err
	}
	return goavro.NewCodec(string(text))
}

// inline copies a schema, replacing the first reference to each record of another file
// with its definition (Avro allows one definition, then references by name; defined
// holds the names defined so far). Every record is named by its full name with no
// namespace: with a nested namespace, goavro's canonical form would name the record
// tributary.v1.tributary.v1.Finding, and the fingerprint would not be the one
// Tributary writes. Tributary's schemas define records only, no enums or fixed types.
func inline(node any, namespace string, docs map[string]map[string]any, defined map[string]bool) any {
	switch n := node.(type) {
	case string:
		if def, ok := docs[n]; ok && !defined[n] {
			return inline(def, namespace, docs, defined)
		}
		return n
	case []any:
		out := make([]any, len(n))
		for i, v := range n {
			out[i] = inline(v, namespace, docs, defined)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(n))
		for k, v := range n {
			out[k] = v
		}
		if n["type"] == "record" {
			full := fullName(n, namespace)
			defined[full] = true
			out["name"] = full
			delete(out, "namespace")
			namespace = full[:max(strings.LastIndexByte(full, '.'), 0)]
		}
		for _, k := range []string{"type", "items", "values", "fields"} {
			if v, ok := n[k]; ok {
				out[k] = inline(v, namespace, docs, defined)
			}
		}
		return out
	}
	return node
}

// fullName is a record's name qualified by its namespace, or by the enclosing one.
func fullName(def map[string]any, enclosing string) string {
	name, _ := def["name"].(string)
	if strings.Contains(name, ".") {
		return name
	}
	ns, _ := def["namespace"].(string)
	if ns == "" {
		ns = enclosing
	}
	if ns == "" {
		return name
	}
	return ns + "." + name
}
