// A hand-specialised binary codec for the hot records (RawRecord, Asset, Finding,
// EnrichedFinding): going through goavro's map-based native form cost ~30 µs per finding
// across the pipeline. goavro stays the schema authority (New checks hotLayouts against
// the schemas it compiles), the codec of the other records, and the tests' oracle.

package avro

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
)

const nameTransition = "tributary.v1.Transition"

// hotLayouts are the fields, in schema order, that the code below writes and reads for
// each record, as describeType renders the compiled schema. New fails when a schema no
// longer matches, so a schema edit needs an edit here and in the code.
var hotLayouts = map[string][]string{
	nameRawRecord: {
		"sync_id string",
		"connector_id string",
		"connector_type string",
		"scope string",
		"kind string",
		"vendor_key string",
		"fetched_at long.timestamp-millis",
		"payload bytes",
	},
	nameAsset: {
		"connector_id string",
		"connector_type string",
		"sync_id string",
		"scope string",
		"uid string",
		"class string",
		"name string",
		"external_id string",
		"provider_id string",
		"operating_system string",
		"ipv4 array<string>",
		"ipv6 array<string>",
		"fqdn string",
		"mac_addresses array<string>",
		"image_tags array<string>",
		"image_digest string",
		"provider string",
		"cloud_resource_type string",
		"first_observed_at null|long.timestamp-millis",
		"last_observed_at null|long.timestamp-millis",
		"vendor_status string",
		"external_tags map<string>",
		"custom_attributes map<string>",
		"fetched_at long.timestamp-millis",
		"archive_reason string",
	},
	nameFinding: {
		"connector_id string",
		"connector_type string",
		"sync_id string",
		"scope string",
		"uid string",
		"asset_uids array<string>",
		"asset_class string",
		"asset_name string",
		"name string",
		"cves array<string>",
		"description string",
		"score null|double",
		"vendor_severity string",
		"vendor_status string",
		"first_seen null|long.timestamp-millis",
		"last_seen null|long.timestamp-millis",
		"port null|int",
		"protocol string",
		"custom_attributes map<string>",
		"fetched_at long.timestamp-millis",
	},
	nameEnrichedFinding: {
		"finding " + nameFinding,
		"severity string",
		"status string",
		"transition null|" + nameTransition,
	},
	nameTransition: {
		"old_status string",
		"new_status string",
		"reason string",
	},
}

// hotDecoders decode the body of a hot record (the message after its header).
var hotDecoders = map[string]func(body []byte) (any, error){
	nameRawRecord: func(body []byte) (any, error) {
		d := decoder{b: body}
		r := d.rawRecord()
		return r, d.done()
	},
	nameAsset: func(body []byte) (any, error) {
		d := decoder{b: body}
		a := d.asset()
		return a, d.done()
	},
	nameFinding: func(body []byte) (any, error) {
		d := decoder{b: body}
		f := &model.Finding{}
		d.finding(f)
		return f, d.done()
	},
	nameEnrichedFinding: func(body []byte) (any, error) {
		d := decoder{b: body}
		ef := d.enrichedFinding()
		return ef, d.done()
	},
}

// checkLayout checks a record definition of a compiled schema, and the records nested
// in it, against hotLayouts.
func checkLayout(def any) error {
	rec, _ := def.(map[string]any)
	name, _ := rec["name"].(string)
	want, ok := hotLayouts[name]
	if !ok {
		return fmt.Errorf("record %s has no layout in hotLayouts", name)
	}
	fields, _ := rec["fields"].([]any)
	var nested []any
	got := make([]string, len(fields))
	for i, f := range fields {
		field, _ := f.(map[string]any)
		fieldName, _ := field["name"].(string)
		got[i] = fieldName + " " + describeType(field["type"], &nested)
	}
	for i := range max(len(got), len(want)) {
		g, w := "nothing", "nothing"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Errorf("record %s field %d is %q in the schema but %q in hotLayouts", name, i+1, g, w)
		}
	}
	for _, n := range nested {
		if err := checkLayout(n); err != nil {
			return err
		}
	}
	return nil
}

// describeType renders an Avro type of a compiled schema compactly, with its logical
// type, which the canonical form drops but which changes what the bytes mean. It
// renders records defined inline by name and appends them to nested.
func describeType(t any, nested *[]any) string {
	switch t := t.(type) {
	case string:
		return t
	case []any:
		s := ""
		for i, branch := range t {
			if i > 0 {
				s += "|"
			}
			s += describeType(branch, nested)
		}
		return s
	case map[string]any:
		kind, _ := t["type"].(string)
		switch kind {
		case "record":
			*nested = append(*nested, t)
			name, _ := t["name"].(string)
			return name
		case "array":
			return "array<" + describeType(t["items"], nested) + ">"
		case "map":
			return "map<" + describeType(t["values"], nested) + ">"
		}
		if logical, ok := t["logicalType"].(string); ok {
			return kind + "." + logical
		}
		return describeType(t["type"], nested)
	}
	return fmt.Sprint(t)
}

// appendHot appends the encoding of msg and reports true if msg is a non-nil hot
// record. Encoding one cannot fail.
func (c *Codec) appendHot(buf []byte, msg any) ([]byte, bool) {
	switch m := msg.(type) {
	case *model.RawRecord:
		if m != nil {
			return appendRawRecord(c.appendHeader(buf, nameRawRecord, rawRecordSize(m)), m), true
		}
	case *model.Asset:
		if m != nil {
			return appendAsset(c.appendHeader(buf, nameAsset, assetSize(m)), m), true
		}
	case *model.Finding:
		if m != nil {
			return appendFinding(c.appendHeader(buf, nameFinding, findingSize(m)), m), true
		}
	case *model.EnrichedFinding:
		if m != nil {
			return appendEnrichedFinding(c.appendHeader(buf, nameEnrichedFinding, enrichedFindingSize(m)), m), true
		}
	}
	return buf, false
}

// appendHeader appends the record's header (single-object or Confluent) and makes room
// for a body of size bytes, so that encoding allocates once.
func (c *Codec) appendHeader(buf []byte, name string, size int) []byte {
	h := c.byName[name].header
	return append(slices.Grow(buf, len(h)+size), h...)
}

// Each appendX writes the fields of hotLayouts in order; its xSize returns exactly the
// bytes it writes.

func appendRawRecord(b []byte, r *model.RawRecord) []byte {
	b = appendString(b, r.SyncID)
	b = appendString(b, r.ConnectorID)
	b = appendString(b, r.ConnectorType)
	b = appendString(b, r.Scope)
	b = appendString(b, r.Kind)
	b = appendString(b, r.VendorKey)
	b = appendTime(b, r.FetchedAt)
	return appendString(b, r.Payload)
}

func rawRecordSize(r *model.RawRecord) int {
	return stringSize(r.SyncID) + stringSize(r.ConnectorID) + stringSize(r.ConnectorType) +
		stringSize(r.Scope) + stringSize(r.Kind) + stringSize(r.VendorKey) +
		timeSize(r.FetchedAt) + stringSize(r.Payload)
}

func appendAsset(b []byte, a *model.Asset) []byte {
	b = appendString(b, a.ConnectorID)
	b = appendString(b, a.ConnectorType)
	b = appendString(b, a.SyncID)
	b = appendString(b, a.Scope)
	b = appendString(b, a.UID)
	b = appendString(b, string(a.Class))
	b = appendString(b, a.Name)
	b = appendString(b, a.ExternalID)
	b = appendString(b, a.ProviderID)
	b = appendString(b, a.OperatingSystem)
	b = appendStrings(b, a.IPv4)
	b = appendStrings(b, a.IPv6)
	b = appendString(b, a.FQDN)
	b = appendStrings(b, a.MACAddresses)
	b = appendStrings(b, a.ImageTags)
	b = appendString(b, a.ImageDigest)
	b = appendString(b, a.Provider)
	b = appendString(b, a.CloudResourceType)
	b = appendOptionalTime(b, a.FirstObservedAt)
	b = appendOptionalTime(b, a.LastObservedAt)
	b = appendString(b, a.VendorStatus)
	b = appendStringMap(b, a.ExternalTags)
	b = appendStringMap(b, a.CustomAttributes)
	b = appendTime(b, a.FetchedAt)
	return appendString(b, a.ArchiveReason)
}

func assetSize(a *model.Asset) int {
	return stringSize(a.ConnectorID) + stringSize(a.ConnectorType) + stringSize(a.SyncID) +
		stringSize(a.Scope) + stringSize(a.UID) + stringSize(string(a.Class)) + stringSize(a.Name) +
		stringSize(a.ExternalID) + stringSize(a.ProviderID) + stringSize(a.OperatingSystem) +
		stringsSize(a.IPv4) + stringsSize(a.IPv6) + stringSize(a.FQDN) +
		stringsSize(a.MACAddresses) + stringsSize(a.ImageTags) + stringSize(a.ImageDigest) +
		stringSize(a.Provider) + stringSize(a.CloudResourceType) +
		optionalTimeSize(a.FirstObservedAt) + optionalTimeSize(a.LastObservedAt) +
		stringSize(a.VendorStatus) + stringMapSize(a.ExternalTags) + stringMapSize(a.CustomAttributes) +
		timeSize(a.FetchedAt) + stringSize(a.ArchiveReason)
}

func appendFinding(b []byte, f *model.Finding) []byte {
	b = appendString(b, f.ConnectorID)
	b = appendString(b, f.ConnectorType)
	b = appendString(b, f.SyncID)
	b = appendString(b, f.Scope)
	b = appendString(b, f.UID)
	b = appendStrings(b, f.AssetUIDs)
	b = appendString(b, string(f.AssetClass))
	b = appendString(b, f.AssetName)
	b = appendString(b, f.Name)
	b = appendStrings(b, f.CVEs)
	b = appendString(b, f.Description)
	if f.Score == nil {
		b = appendLong(b, 0)
	} else {
		b = appendLong(b, 1)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*f.Score))
	}
	b = appendString(b, f.VendorSeverity)
	b = appendString(b, f.VendorStatus)
	b = appendOptionalTime(b, f.FirstSeen)
	b = appendOptionalTime(b, f.LastSeen)
	if f.Port == nil {
		b = appendLong(b, 0)
	} else {
		b = appendLong(b, 1)
		b = appendLong(b, int64(*f.Port))
	}
	b = appendString(b, f.Protocol)
	b = appendStringMap(b, f.CustomAttributes)
	return appendTime(b, f.FetchedAt)
}

func findingSize(f *model.Finding) int {
	n := stringSize(f.ConnectorID) + stringSize(f.ConnectorType) + stringSize(f.SyncID) +
		stringSize(f.Scope) + stringSize(f.UID) + stringsSize(f.AssetUIDs) +
		stringSize(string(f.AssetClass)) + stringSize(f.AssetName) + stringSize(f.Name) +
		stringsSize(f.CVEs) + stringSize(f.Description) + 1 +
		stringSize(f.VendorSeverity) + stringSize(f.VendorStatus) +
		optionalTimeSize(f.FirstSeen) + optionalTimeSize(f.LastSeen) + 1 +
		stringSize(f.Protocol) + stringMapSize(f.CustomAttributes) + timeSize(f.FetchedAt)
	if f.Score != nil {
		n += 8
	}
	if f.Port != nil {
		n += longSize(int64(*f.Port))
	}
	return n
}

func appendEnrichedFinding(b []byte, ef *model.EnrichedFinding) []byte {
	b = appendFinding(b, &ef.Finding)
	b = appendString(b, string(ef.Severity))
	b = appendString(b, string(ef.Status))
	if ef.Transition == nil {
		return appendLong(b, 0)
	}
	b = appendLong(b, 1)
	b = appendString(b, string(ef.Transition.OldStatus))
	b = appendString(b, string(ef.Transition.NewStatus))
	return appendString(b, ef.Transition.Reason)
}

func enrichedFindingSize(ef *model.EnrichedFinding) int {
	n := findingSize(&ef.Finding) + stringSize(string(ef.Severity)) + stringSize(string(ef.Status)) + 1
	if t := ef.Transition; t != nil {
		n += stringSize(string(t.OldStatus)) + stringSize(string(t.NewStatus)) + stringSize(t.Reason)
	}
	return n
}

// appendLong appends v zigzag varint encoded, as Avro writes int and long.
func appendLong(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64(v<<1)^uint64(v>>63))
}

func longSize(v int64) int {
	return (bits.Len64((uint64(v<<1)^uint64(v>>63))|1) + 6) / 7
}

// appendString appends an Avro string or bytes: its length, then its bytes.
func appendString[S string | []byte](b []byte, s S) []byte {
	return append(appendLong(b, int64(len(s))), s...)
}

func stringSize[S string | []byte](s S) int {
	return longSize(int64(len(s))) + len(s)
}

// appendStrings appends an array of strings in blocks of at most maxBlockCount items,
// as goavro does, so that goavro and this decoder read it.
func appendStrings(b []byte, ss []string) []byte {
	for i, s := range ss {
		if i%maxBlockCount == 0 {
			b = appendLong(b, int64(min(len(ss)-i, maxBlockCount)))
		}
		b = appendString(b, s)
	}
	return append(b, 0)
}

func stringsSize(ss []string) int {
	n := 1
	for i, s := range ss {
		if i%maxBlockCount == 0 {
			n += longSize(int64(min(len(ss)-i, maxBlockCount)))
		}
		n += stringSize(s)
	}
	return n
}

// appendStringMap appends a map of strings in blocks like appendStrings, keys sorted so
// that the same record always encodes the same (goavro writes map order).
func appendStringMap(b []byte, m map[string]string) []byte {
	var stack [16]string // no allocation for the small maps records carry
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i%maxBlockCount == 0 {
			b = appendLong(b, int64(min(len(keys)-i, maxBlockCount)))
		}
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return append(b, 0)
}

func stringMapSize(m map[string]string) int {
	n, i := 1, 0
	for k, v := range m {
		if i%maxBlockCount == 0 {
			n += longSize(int64(min(len(m)-i, maxBlockCount)))
		}
		n += stringSize(k) + stringSize(v)
		i++
	}
	return n
}

// appendTime appends a timestamp-millis the way goavro does; the zero time too, as
// its (negative) milliseconds since 1970, which decode to the zero time again.
func appendTime(b []byte, t time.Time) []byte {
	return appendLong(b, t.UnixMilli())
}

func timeSize(t time.Time) int {
	return longSize(t.UnixMilli())
}

// appendOptionalTime appends a ["null", timestamp-millis] union, the zero time as null.
func appendOptionalTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return appendLong(b, 0)
	}
	return appendTime(appendLong(b, 1), t)
}

func optionalTimeSize(t time.Time) int {
	if t.IsZero() {
		return 1
	}
	return 1 + timeSize(t)
}

// errOverflow marks a varint longer than 64 bits or an int outside int32, which no Avro
// writer produces. goavro drops the excess bits silently; decoder rejects the message.
var errOverflow = errors.New("integer overflow")

// decoder reads the body of a hot record into model structs. It remembers the first
// error, naming the field; after it, reads return zero values and consume nothing.
// Every length and count is checked against the bytes left before anything is
// allocated for it, so a message cannot make the decoder allocate more than a small
// multiple of its own size.
type decoder struct {
	b      []byte // unread rest of the body
	err    error
	prefix string // path of the nested record being read, for errors
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("field %s%s: %w", d.prefix, field, err)
	}
	d.b = nil
}

// done returns the first error, or an error if bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return d.err
}

// Each record reader reads the fields of hotLayouts in order.

func (d *decoder) rawRecord() *model.RawRecord {
	r := &model.RawRecord{}
	r.SyncID = d.str("sync_id")
	r.ConnectorID = d.str("connector_id")
	r.ConnectorType = d.str("connector_type")
	r.Scope = d.str("scope")
	r.Kind = d.str("kind")
	r.VendorKey = d.str("vendor_key")
	r.FetchedAt = d.time("fetched_at")
	r.Payload = d.bytes("payload")
	return r
}

func (d *decoder) asset() *model.Asset {
	a := &model.Asset{}
	a.ConnectorID = d.str("connector_id")
	a.ConnectorType = d.str("connector_type")
	a.SyncID = d.str("sync_id")
	a.Scope = d.str("scope")
	a.UID = d.str("uid")
	a.Class = model.AssetClass(d.str("class"))
	a.Name = d.str("name")
	a.ExternalID = d.str("external_id")
	a.ProviderID = d.str("provider_id")
	a.OperatingSystem = d.str("operating_system")
	a.IPv4 = d.strs("ipv4")
	a.IPv6 = d.strs("ipv6")
	a.FQDN = d.str("fqdn")
	a.MACAddresses = d.strs("mac_addresses")
	a.ImageTags = d.strs("image_tags")
	a.ImageDigest = d.str("image_digest")
	a.Provider = d.str("provider")
	a.CloudResourceType = d.str("cloud_resource_type")
	a.FirstObservedAt = d.optionalTime("first_observed_at")
	a.LastObservedAt = d.optionalTime("last_observed_at")
	a.VendorStatus = d.str("vendor_status")
	a.ExternalTags = d.strMap("external_tags")
	a.CustomAttributes = d.strMap("custom_attributes")
	a.FetchedAt = d.time("fetched_at")
	a.ArchiveReason = d.str("archive_reason")
	return a
}

func (d *decoder) finding(f *model.Finding) {
	f.ConnectorID = d.str("connector_id")
	f.ConnectorType = d.str("connector_type")
	f.SyncID = d.str("sync_id")
	f.Scope = d.str("scope")
	f.UID = d.str("uid")
	f.AssetUIDs = d.strs("asset_uids")
	f.AssetClass = model.AssetClass(d.str("asset_class"))
	f.AssetName = d.str("asset_name")
	f.Name = d.str("name")
	f.CVEs = d.strs("cves")
	f.Description = d.str("description")
	if d.branch("score") {
		f.Score = d.doublePtr("score")
	}
	f.VendorSeverity = d.str("vendor_severity")
	f.VendorStatus = d.str("vendor_status")
	f.FirstSeen = d.optionalTime("first_seen")
	f.LastSeen = d.optionalTime("last_seen")
	if d.branch("port") {
		f.Port = d.int32Ptr("port")
	}
	f.Protocol = d.str("protocol")
	f.CustomAttributes = d.strMap("custom_attributes")
	f.FetchedAt = d.time("fetched_at")
}

func (d *decoder) enrichedFinding() *model.EnrichedFinding {
	ef := &model.EnrichedFinding{}
	d.prefix = "finding."
	d.finding(&ef.Finding)
	d.prefix = ""
	ef.Severity = model.Severity(d.str("severity"))
	ef.Status = model.Status(d.str("status"))
	if d.branch("transition") {
		t := &model.Transition{}
		d.prefix = "transition."
		t.OldStatus = model.Status(d.str("old_status"))
		t.NewStatus = model.Status(d.str("new_status"))
		t.Reason = d.str("reason")
		d.prefix = ""
		ef.Transition = t
	}
	return ef
}

// long reads a zigzag varint.
func (d *decoder) long() (int64, error) {
	if len(d.b) > 0 && d.b[0] < 0x80 { // most varints here are lengths below 64
		u := d.b[0]
		d.b = d.b[1:]
		return int64(u>>1) ^ -int64(u&1), nil
	}
	u, n := binary.Uvarint(d.b)
	if n == 0 {
		return 0, io.ErrShortBuffer
	}
	if n < 0 {
		return 0, fmt.Errorf("varint longer than 64 bits: %w", errOverflow)
	}
	d.b = d.b[n:]
	return int64(u>>1) ^ -int64(u&1), nil
}

// length reads the length of a string or bytes, at most the bytes left.
func (d *decoder) length() (int, error) {
	n, err := d.long()
	if err != nil {
		return 0, fmt.Errorf("length: %w", err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative length %d", n)
	}
	if n > int64(len(d.b)) {
		return 0, fmt.Errorf("length %d with %d bytes left: %w", n, len(d.b), io.ErrShortBuffer)
	}
	return int(n), nil
}

func (d *decoder) readString() (string, error) {
	n, err := d.length()
	if err != nil {
		return "", err
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s, nil
}

// blockCount reads the item count of an array or map block. Per the Avro spec a
// negative count is followed by the block's size in bytes, which only readers that
// skip blocks need (goavro also ignores it). itemSize is the fewest bytes an item takes.
func (d *decoder) blockCount(itemSize int) (int, error) {
	n, err := d.long()
	if err != nil {
		return 0, fmt.Errorf("block count: %w", err)
	}
	if n < 0 {
		if n == math.MinInt64 {
			return 0, fmt.Errorf("block count %d", n)
		}
		n = -n
		if _, err := d.long(); err != nil {
			return 0, fmt.Errorf("block size: %w", err)
		}
	}
	if n > maxBlockCount {
		return 0, fmt.Errorf("block count %d over the limit of %d", n, maxBlockCount)
	}
	if n > int64(len(d.b)/itemSize) {
		return 0, fmt.Errorf("block count %d with %d bytes left: %w", n, len(d.b), io.ErrShortBuffer)
	}
	return int(n), nil
}

func (d *decoder) str(field string) string {
	s, err := d.readString()
	if err != nil {
		d.fail(field, err)
	}
	return s
}

// bytes reads a bytes field into a copy, nil when empty.
func (d *decoder) bytes(field string) []byte {
	n, err := d.length()
	if err != nil {
		d.fail(field, err)
		return nil
	}
	if n == 0 {
		return nil
	}
	out := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return out
}

// time reads a timestamp-millis the way goavro does, in UTC.
func (d *decoder) time(field string) time.Time {
	ms, err := d.long()
	if err != nil {
		d.fail(field, err)
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// branch reads the branch index of a ["null", T] union and reports whether it is T.
func (d *decoder) branch(field string) bool {
	i, err := d.long()
	if err != nil {
		d.fail(field, fmt.Errorf("union branch: %w", err))
		return false
	}
	if i != 0 && i != 1 {
		d.fail(field, fmt.Errorf("union branch %d of 2", i))
		return false
	}
	return i == 1
}

func (d *decoder) optionalTime(field string) time.Time {
	if !d.branch(field) {
		return time.Time{}
	}
	return d.time(field)
}

func (d *decoder) doublePtr(field string) *float64 {
	if len(d.b) < 8 {
		d.fail(field, io.ErrShortBuffer)
		return nil
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return &v
}

func (d *decoder) int32Ptr(field string) *int32 {
	n, err := d.long()
	if err == nil && n != int64(int32(n)) {
		err = fmt.Errorf("int %d: %w", n, errOverflow)
	}
	if err != nil {
		d.fail(field, err)
		return nil
	}
	v := int32(n)
	return &v
}

func (d *decoder) strs(field string) []string {
	var out []string
	for {
		n, err := d.blockCount(1)
		if err != nil {
			d.fail(field, err)
			return nil
		}
		if n == 0 {
			return out
		}
		out = slices.Grow(out, n)
		for range n {
			s, err := d.readString()
			if err != nil {
				d.fail(field, fmt.Errorf("item %d: %w", len(out)+1, err))
				return nil
			}
			out = append(out, s)
		}
	}
}

func (d *decoder) strMap(field string) map[string]string {
	var out map[string]string
	for {
		n, err := d.blockCount(2)
		if err != nil {
			d.fail(field, err)
			return nil
		}
		if n == 0 {
			return out
		}
		if out == nil {
			out = make(map[string]string, n)
		}
		for range n {
			k, err := d.readString()
			if err != nil {
				d.fail(field, fmt.Errorf("key: %w", err))
				return nil
			}
			if _, dup := out[k]; dup {
				d.fail(field, fmt.Errorf("duplicate key %q", k)) // goavro rejects them too
				return nil
			}
			v, err := d.readString()
			if err != nil {
				d.fail(field, fmt.Errorf("value of key %q: %w", k, err))
				return nil
			}
			out[k] = v
		}
	}
}
