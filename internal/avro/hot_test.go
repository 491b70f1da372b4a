package avro

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
)

// decodeGoavro decodes a message with a known header through goavro, the oracle.
func (c *Codec) decodeGoavro(b []byte) (any, error) {
	return decodeNative(c.byFingerprint[binary.LittleEndian.Uint64(b[2:headerLen])], b[headerLen:])
}

// hotCases are hot records chosen to reach every branch of hot.go's encoder and decoder:
// the round-trip cases, and edges of strings, numbers, times, unions and blocks.
func hotCases() []struct {
	name string
	msg  any
} {
	var cases []struct {
		name string
		msg  any
	}
	add := func(name string, msg any) {
		cases = append(cases, struct {
			name string
			msg  any
		}{name, msg})
	}
	for _, tc := range roundTripCases() {
		switch tc.msg.(type) {
		case *model.RawRecord, *model.Asset, *model.Finding, *model.EnrichedFinding:
			add(tc.name, tc.msg)
		}
	}

	finding := func(edit func(f *model.Finding)) *model.Finding {
		f := fullFinding()
		edit(f)
		return f
	}
	for _, s := range []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64} {
		add(fmt.Sprintf("finding score %v", s), finding(func(f *model.Finding) { f.Score = ptr(s) }))
	}
	for _, p := range []int32{0, -1, 63, 64, -65, 8191, 8192, math.MaxInt32, math.MinInt32} {
		add(fmt.Sprintf("finding port %d", p), finding(func(f *model.Finding) { f.Port = ptr(p) }))
	}
	times := map[string]time.Time{
		"zero":                   {},
		"epoch":                  time.Unix(0, 0),
		"a millisecond before":   time.UnixMilli(-1),
		"before 1970 sub-ms":     time.Date(1969, 12, 31, 23, 59, 59, 999_500_000, time.UTC),
		"sub-ms in a zone":       time.Date(2025, 3, 14, 17, 9, 26, 535_999_999, time.FixedZone("CEST", 2*3600)),
		"with a monotonic clock": time.Now(),
		"year 9999":              time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		"year 1":                 time.Date(1, 1, 1, 0, 0, 0, 1_000_000, time.UTC),
	}
	for name, tm := range times {
		add("finding times "+name, finding(func(f *model.Finding) { f.FirstSeen, f.LastSeen, f.FetchedAt = tm, time.Time{}, tm }))
		add("asset times "+name, &model.Asset{FirstObservedAt: time.Time{}, LastObservedAt: tm, FetchedAt: tm})
		add("raw record time "+name, &model.RawRecord{FetchedAt: tm})
	}

	long := strings.Repeat("ü✓", 5000) // lengths of 2- and 3-byte varints
	add("finding long and odd strings", &model.Finding{
		ConnectorID: long, UID: long[:200], Description: "\x00\xff\xfe not UTF-8", Name: "ünïcödé ✓ 🛡",
		AssetUIDs: []string{long, "", "\xff"}, CVEs: []string{""},
		CustomAttributes: map[string]string{long: long},
	})
	add("finding nil collections", finding(func(f *model.Finding) { f.AssetUIDs, f.CVEs, f.CustomAttributes = nil, nil, nil }))
	add("finding empty collections", finding(func(f *model.Finding) {
		f.AssetUIDs, f.CVEs, f.CustomAttributes = []string{}, []string{}, map[string]string{}
	}))
	add("finding one attribute", finding(func(f *model.Finding) { f.CustomAttributes = map[string]string{"": ""} }))
	add("finding only first seen", finding(func(f *model.Finding) { f.LastSeen = time.Time{} }))
	add("finding only last seen", finding(func(f *model.Finding) { f.FirstSeen = time.Time{} }))
	add("asset long strings", &model.Asset{Name: long, IPv6: []string{long}, ExternalTags: map[string]string{"k": long}})

	// goavro writes arrays and maps of more than maxBlockCount items in several blocks.
	many := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprint(i)
		}
		return s
	}
	manyTags := map[string]string{}
	for _, k := range many(maxBlockCount + 1) {
		manyTags[k] = k
	}
	add("finding one full block", finding(func(f *model.Finding) { f.AssetUIDs = many(maxBlockCount) }))
	add("finding three blocks", finding(func(f *model.Finding) { f.CVEs = many(2*maxBlockCount + 1) }))
	add("asset two blocks", &model.Asset{IPv4: many(maxBlockCount + 1), ImageTags: many(3), ExternalTags: manyTags})

	add("enriched finding nil transition", &model.EnrichedFinding{Finding: *fullFinding(), Severity: model.SeverityHigh, Status: model.StatusActive})
	add("enriched finding zero finding", &model.EnrichedFinding{Transition: &model.Transition{Reason: long}})
	add("raw record nil payload", &model.RawRecord{SyncID: "s", FetchedAt: t0})
	add("raw record empty payload", &model.RawRecord{SyncID: "s", FetchedAt: t0, Payload: []byte{}})
	add("raw record 2.5 KiB payload", benchRawRecord())
	return cases
}

// TestHotMatchesGoavro holds the specialised codec to goavro's: the same bytes (or,
// where goavro's map order makes its bytes vary, the same length and decoded record),
// and the same record from goavro's bytes.
func TestHotMatchesGoavro(t *testing.T) {
	c := newCodec(t)
	for _, tc := range hotCases() {
		t.Run(tc.name, func(t *testing.T) {
			fast, err := c.Encode(nil, tc.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			slow, err := c.encodeNative(nil, tc.msg)
			if err != nil {
				t.Fatalf("encodeNative: %v", err)
			}
			if !bytes.Equal(fast, slow) && (mapsOrdered(tc.msg) || len(fast) != len(slow)) {
				t.Errorf("Encode differs from goavro (%d and %d bytes)\n got: % x\nwant: % x", len(fast), len(slow), head(fast), head(slow))
			}
			if got, want := len(fast)-headerLen, hotSize(tc.msg); got != want {
				t.Errorf("Encode wrote %d bytes, the size function says %d", got, want)
			}
			prefixed, err := c.Encode([]byte("prefix"), tc.msg)
			if err != nil || !bytes.HasPrefix(prefixed, []byte("prefix")) || len(prefixed) != len("prefix")+len(fast) {
				t.Errorf("Encode(prefix) = %d bytes, %v; want prefix and %d bytes", len(prefixed), err, len(fast))
			}

			want, err := c.decodeGoavro(slow)
			if err != nil {
				t.Fatalf("goavro decoding goavro's bytes: %v", err)
			}
			got, err := c.Decode(slow)
			if err != nil {
				t.Fatalf("Decode of goavro's bytes: %v", err)
			}
			if !sameRecord(got, want) {
				t.Errorf("Decode of goavro's bytes differs from goavro\n got: %+v\nwant: %+v", got, want)
			}
			ofFast, err := c.decodeGoavro(fast)
			if err != nil {
				t.Fatalf("goavro decoding Encode's bytes: %v", err)
			}
			if !sameRecord(ofFast, want) {
				t.Errorf("goavro decodes Encode's bytes to\n%+v\nwant %+v", ofFast, want)
			}
		})
	}
}

// mapsOrdered reports whether msg's maps have at most one entry, so that goavro, which
// writes them in Go's random map order, always writes the same bytes.
func mapsOrdered(msg any) bool {
	switch m := msg.(type) {
	case *model.Asset:
		return len(m.ExternalTags) <= 1 && len(m.CustomAttributes) <= 1
	case *model.Finding:
		return len(m.CustomAttributes) <= 1
	case *model.EnrichedFinding:
		return len(m.Finding.CustomAttributes) <= 1
	}
	return true
}

func hotSize(msg any) int {
	switch m := msg.(type) {
	case *model.RawRecord:
		return rawRecordSize(m)
	case *model.Asset:
		return assetSize(m)
	case *model.Finding:
		return findingSize(m)
	case *model.EnrichedFinding:
		return enrichedFindingSize(m)
	}
	panic(fmt.Sprintf("not a hot record: %T", msg))
}

func head(b []byte) []byte { return b[:min(len(b), 200)] }

// sameRecord is reflect.DeepEqual, but compares scores by their bits: NaN != NaN.
func sameRecord(a, b any) bool {
	sa, oka := scoreBits(a)
	sb, okb := scoreBits(b)
	return sa == sb && oka == okb && reflect.DeepEqual(withoutScore(a), withoutScore(b))
}

func scoreBits(msg any) (uint64, bool) {
	var score *float64
	switch m := msg.(type) {
	case *model.Finding:
		score = m.Score
	case *model.EnrichedFinding:
		score = m.Finding.Score
	}
	if score == nil {
		return 0, false
	}
	return math.Float64bits(*score), true
}

func withoutScore(msg any) any {
	switch m := msg.(type) {
	case *model.Finding:
		cp := *m
		cp.Score = nil
		return &cp
	case *model.EnrichedFinding:
		cp := *m
		cp.Finding.Score = nil
		return &cp
	}
	return msg
}

// body concatenates pieces of a hand-made message body: []byte as is, int and int64 as
// an Avro long, string as an Avro string.
func body(pieces ...any) []byte {
	var b []byte
	for _, p := range pieces {
		switch p := p.(type) {
		case []byte:
			b = append(b, p...)
		case int:
			b = appendLong(b, int64(p))
		case int64:
			b = appendLong(b, p)
		case string:
			b = appendString(b, p)
		default:
			panic(fmt.Sprintf("body: %T", p))
		}
	}
	return b
}

// findingUpTo returns the body of a Finding with empty fields up to field, the first
// of which is connector_id.
func findingUpTo(field string) []byte {
	var b []byte
	for _, f := range hotLayouts[nameFinding] {
		name, typ, _ := strings.Cut(f, " ")
		if name == field {
			return b
		}
		b = append(b, 0) // "", [], {}, null
		if strings.HasPrefix(typ, "long") {
			b = append(b[:len(b)-1], body(t0.UnixMilli())...)
		}
	}
	panic("no field " + field)
}

// TestHotDecodeHandMade feeds the specialised decoder messages no encoder here writes,
// some valid, most hostile, and holds it to goavro: the same record, or an error that
// names the field. Where goavro silently truncates an overflowing integer, it errs.
func TestHotDecodeHandMade(t *testing.T) {
	c := newCodec(t)
	overflow := bytes.Repeat([]byte{0xff}, 10)
	overflow = append(overflow, 0x01) // 11 bytes
	raw := func(pieces ...any) []byte {
		return body(append([]any{"", "", "", "", "", ""}, pieces...)...)
	}
	tests := []struct {
		name          string
		record        string
		body          []byte
		want          string // in the error; "" when the message is valid
		goavroAccepts bool
	}{
		{"raw record minimal", nameRawRecord, raw(0, 0), "", true},
		{"raw record non-minimal varints", nameRawRecord, raw([]byte{0x80, 0x80, 0x00}, []byte{0x82, 0x00}, []byte("x")), "", true},
		{"empty body", nameRawRecord, nil, "field sync_id: length: short buffer", false},
		{"negative string length", nameRawRecord, body(-1), "field sync_id: negative length -1", false},
		{"string past the end", nameRawRecord, body(100, []byte("ab")), "field sync_id: length 100 with 2 bytes left: short buffer", false},
		{"varint overflow", nameRawRecord, raw(overflow, 0), "field fetched_at: varint longer than 64 bits: integer overflow", true},
		{"varint cut short", nameRawRecord, raw([]byte{0x80, 0x80}), "field fetched_at: short buffer", false},
		{"negative payload length", nameRawRecord, raw(0, -3), "field payload: negative length -3", false},
		{"trailing bytes", nameRawRecord, raw(0, 0, []byte{1, 2}), "2 trailing bytes", false},

		{"score branch 2", nameFinding, body(findingUpTo("score"), 2), "field score: union branch 2 of 2", false},
		{"score branch -1", nameFinding, body(findingUpTo("score"), -1), "field score: union branch -1 of 2", false},
		{"score cut short", nameFinding, body(findingUpTo("score"), 1, []byte{1, 2, 3}), "field score: short buffer", false},
		{"port over int32", nameFinding, body(findingUpTo("port"), 1, int64(1)<<31, 0, 0, 0), "field port: int 2147483648: integer overflow", true},
		{"port under int32", nameFinding, body(findingUpTo("port"), 1, int64(math.MinInt32)-1, 0, 0, 0), "field port: int -2147483649: integer overflow", true},
		{"block count over the limit", nameFinding, body(findingUpTo("asset_uids"), maxBlockCount+1), "field asset_uids: block count 65537 over the limit of 65536", false},
		{"block count past the end", nameFinding, body(findingUpTo("asset_uids"), 1000, "a", "b"), "field asset_uids: block count 1000 with 4 bytes left: short buffer", false},
		{"block count MinInt64", nameFinding, body(findingUpTo("asset_uids"), int64(math.MinInt64)), "field asset_uids: block count -9223372036854775808", false},
		{"block size missing", nameFinding, body(findingUpTo("asset_uids"), -1), "field asset_uids: block size: short buffer", false},
		{"array item cut short", nameFinding, body(findingUpTo("cves"), 2, "a", 5, "b"), "field cves: item 2: length 5 with 2 bytes left: short buffer", false},
		{"map count past the end", nameFinding, body(findingUpTo("custom_attributes"), 3, "k", "v", 0), "field custom_attributes: block count 3 with 5 bytes left", false},
		{"map value cut short", nameFinding, body(findingUpTo("custom_attributes"), 1, "k", 9, 0), "field custom_attributes: value of key \"k\": length 9", false},
		{"duplicate map key", nameFinding, body(findingUpTo("custom_attributes"), 2, "k", "v", "k", "w", 0, 0), "field custom_attributes: duplicate key \"k\"", false},
		{"time overflow", nameFinding, body(findingUpTo("fetched_at"), overflow), "field fetched_at: varint longer than 64 bits", true},

		{"negative counts with block sizes", nameFinding, body(findingUpTo("asset_uids"), -2, 4, "a", "b", -1, 2, "c", 0,
			findingUpTo("custom_attributes")[len(findingUpTo("asset_uids"))+1:], -1, 4, "k", "v", 0, 0), "", true},
		{"several blocks", nameFinding, body(findingUpTo("asset_uids"), 1, "a", 2, "b", "c", 0,
			findingUpTo("custom_attributes")[len(findingUpTo("asset_uids"))+1:], 1, "k", "v", 1, "l", "w", 0, 0), "", true},
		{"zero-length block size ignored", nameFinding, body(findingUpTo("asset_uids"), -1, 0, "a", 0,
			findingUpTo("fetched_at")[len(findingUpTo("asset_uids"))+1:], 0), "", true},

		{"nested field", nameEnrichedFinding, body(findingUpTo("uid"), 7), "field finding.uid: length 7 with 0 bytes left", false},
		{"transition branch 5", nameEnrichedFinding, body(findingUpTo("fetched_at"), 0, "", "", 5), "field transition: union branch 5 of 2", false},
		{"transition field cut short", nameEnrichedFinding, body(findingUpTo("fetched_at"), 0, "", "", 1, "a", "b", 3), "field transition.reason: length 3 with 0 bytes left", false},
		{"transition", nameEnrichedFinding, body(findingUpTo("fetched_at"), 0, "High", "Fixed", 1, "Active", "Fixed", "gone"), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := append(binary.LittleEndian.AppendUint64(singleObjectMagic[:], c.byName[tc.record].fingerprint), tc.body...)
			got, err := c.Decode(msg)
			want, goavroErr := c.decodeGoavro(msg)
			if (goavroErr == nil) != tc.goavroAccepts {
				t.Errorf("goavro: %v, want accepted = %t", goavroErr, tc.goavroAccepts)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !sameRecord(got, want) {
					t.Errorf("Decode = %+v\ngoavro: %+v", got, want)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "decoding "+tc.record+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode = %+v, %v; want an error containing %q", got, err, tc.want)
			}
			if got != nil {
				t.Errorf("Decode returned %+v with its error", got)
			}
			if tc.goavroAccepts && !errors.Is(err, errOverflow) {
				t.Errorf("Decode rejects what goavro accepts, and not for an overflow: %v", err)
			}
		})
	}
}

// allocated returns the bytes f allocates: the least of three runs, as the counter is
// the process's, which other goroutines (the fuzzing engine's) add to.
func allocated(f func()) uint64 {
	least := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// allocBound is how many bytes decoding a message of n bytes may allocate: each item
// of an array takes at least a byte of the message and 16 of memory, whose slice grows
// by doubling; each map entry takes at least 2 bytes and its share of a hash table.
func allocBound(n int) uint64 { return 64*uint64(n) + 8192 }

// TestHotDecodeAllocation checks that what the specialised decoder allocates follows
// the message's size, not the counts and lengths a message claims. goavro allocates
// 1 MiB for the first of these.
func TestHotDecodeAllocation(t *testing.T) {
	c := newCodec(t)
	distinct := func(n int) []any {
		var out []any
		for i := range n {
			out = append(out, fmt.Sprintf("%x", i), "")
		}
		return out
	}
	tests := []struct {
		name   string
		record string
		body   []byte
	}{
		{"array count beyond the message", nameFinding, body(findingUpTo("asset_uids"), maxBlockCount, "x")},
		{"map count beyond the message", nameFinding, body(findingUpTo("custom_attributes"), maxBlockCount, "k", "v")},
		{"string length beyond the message", nameRawRecord, body(1 << 40)},
		{"payload length beyond the message", nameRawRecord, body("", "", "", "", "", "", 0, 1<<30)},
		{"full blocks of empty strings", nameFinding, body(findingUpTo("asset_uids"), maxBlockCount, make([]byte, maxBlockCount), maxBlockCount, make([]byte, maxBlockCount), 0)},
		{"blocks of one empty string", nameFinding, body(findingUpTo("asset_uids"), bytes.Repeat([]byte{2, 0}, 1<<14), 0)},
		{"map of short keys", nameFinding, body(append(append([]any{findingUpTo("custom_attributes"), maxBlockCount / 4}, distinct(maxBlockCount/4)...), 0, 0)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := append(binary.LittleEndian.AppendUint64(singleObjectMagic[:], c.byName[tc.record].fingerprint), tc.body...)
			var err error
			n := allocated(func() { _, err = c.Decode(msg) })
			if n > allocBound(len(msg)) {
				t.Errorf("decoding %d bytes (error %v) allocated %d bytes, more than %d", len(msg), err, n, allocBound(len(msg)))
			}
		})
	}
}

// TestCheckLayout checks that New's check of the schemas against hotLayouts catches
// the edits that would make the specialised code read or write the wrong bytes.
func TestCheckLayout(t *testing.T) {
	c := newCodec(t)
	for _, name := range c.Names() {
		if got, want := c.byName[name].decode != nil, hotDecoders[name] != nil; got != want {
			t.Errorf("%s specialised = %t, want %t", name, got, want)
		}
	}
	enriched := c.byName[nameEnrichedFinding].codec.Schema()
	tests := []struct {
		name      string
		old, edit string // replaced in the compiled EnrichedFinding schema
		want      string // "" when the layout still matches
	}{
		{"unchanged", "", "", ""},
		{"docs and defaults changed", `"default":"","doc":"the primary asset's name",`, ``, ""},
		{"fields swapped", `{"name":"connector_id","type":"string"},{"name":"connector_type","type":"string"}`,
			`{"name":"connector_type","type":"string"},{"name":"connector_id","type":"string"}`,
			`record tributary.v1.Finding field 1 is "connector_type string" in the schema but "connector_id string" in hotLayouts`},
		{"field renamed", `"name":"uid"`, `"name":"uuid"`, `field 5 is "uuid string" in the schema but "uid string"`},
		{"field retyped", `"name":"scope","type":"string"`, `"name":"scope","type":"bytes"`, `field 4 is "scope bytes"`},
		{"union reordered", `["null","double"]`, `["double","null"]`, `"score double|null" in the schema but "score null|double"`},
		{"union widened", `["null","int"]`, `["null","int","string"]`, `"port null|int|string"`},
		{"logical type changed", `"logicalType":"timestamp-millis","type":"long"}}],"name":"tributary.v1.Finding"`,
			`"logicalType":"timestamp-micros","type":"long"}}],"name":"tributary.v1.Finding"`, `"fetched_at long.timestamp-micros"`},
		{"logical type dropped", `{"logicalType":"timestamp-millis","type":"long"}]`, `{"type":"long"}]`, `"first_seen null|long"`},
		{"array items retyped", `{"items":"string","type":"array"}`, `{"items":"bytes","type":"array"}`, `"asset_uids array<bytes>"`},
		{"map values retyped", `{"type":"map","values":"string"}`, `{"type":"map","values":"long"}`, `"custom_attributes map<long>"`},
		{"field added", `{"name":"protocol","type":"string"},`, `{"name":"protocol","type":"string"},{"default":"","name":"extra","type":"string"},`,
			`field 19 is "extra string" in the schema but "custom_attributes map<string>"`},
		{"field appended", `{"name":"reason","type":"string"}`, `{"name":"reason","type":"string"},{"default":0,"name":"n","type":"int"}`,
			`record tributary.v1.Transition field 4 is "n int" in the schema but "nothing"`},
		{"field removed", `,{"name":"reason","type":"string"}`, ``, `record tributary.v1.Transition field 3 is "nothing" in the schema but "reason string"`},
		{"nested record renamed", `"name":"tributary.v1.Transition"`, `"name":"tributary.v1.Change"`, `"transition null|tributary.v1.Change"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(enriched, tc.old) {
				t.Fatalf("compiled schema has no %s", tc.old)
			}
			var def any
			if err := json.Unmarshal([]byte(strings.Replace(enriched, tc.old, tc.edit, 1)), &def); err != nil {
				t.Fatal(err)
			}
			err := checkLayout(def)
			if tc.want == "" {
				if err != nil {
					t.Errorf("checkLayout: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("checkLayout = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// FuzzHotDecode decodes a body after a valid header of each hot record both ways: the
// specialised decoder must agree with goavro on every body goavro accepts (bar integers
// goavro truncates), accept nothing goavro rejects, and allocate within allocBound.
func FuzzHotDecode(f *testing.F) {
	c := newCodec(f)
	hot := []string{nameRawRecord, nameAsset, nameFinding, nameEnrichedFinding}
	for _, tc := range hotCases() {
		b, err := c.encodeNative(nil, tc.msg)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 4096 {
			for i, name := range hot {
				if c.byName[name].fingerprint == binary.LittleEndian.Uint64(b[2:headerLen]) {
					f.Add(byte(i), b[headerLen:])
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, record byte, body []byte) {
		s := c.byName[hot[int(record)%len(hot)]]
		msg := append(binary.LittleEndian.AppendUint64(singleObjectMagic[:], s.fingerprint), body...)
		var got any
		var err error
		if n := allocated(func() { got, err = c.Decode(msg) }); n > allocBound(len(msg)) {
			t.Fatalf("decoding %d bytes allocated %d", len(msg), n)
		}
		want, goavroErr := c.decodeGoavro(msg)
		switch {
		case err != nil && got != nil:
			t.Fatalf("Decode returned %+v with error %v", got, err)
		case err == nil && goavroErr != nil:
			t.Fatalf("Decode accepts what goavro rejects (%v): %+v", goavroErr, got)
		case err != nil && goavroErr == nil && !errors.Is(err, errOverflow):
			t.Fatalf("Decode rejects what goavro accepts: %v\ngoavro: %+v", err, want)
		case err == nil && !sameRecord(got, want):
			t.Fatalf("Decode = %+v\ngoavro: %+v", got, want)
		}
	})
}

// TestEncodeSortsMapKeys pins that a record always encodes the same, whatever Go's map
// order.
func TestEncodeSortsMapKeys(t *testing.T) {
	c := newCodec(t)
	f := &model.Finding{CustomAttributes: map[string]string{"b": "2", "c": "3", "a": "1", "": "0"}}
	want := body(4, "", "0", "a", "1", "b", "2", "c", "3", 0)
	for range 20 {
		b, err := c.Encode(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, want) {
			t.Fatalf("Encode = % x, want custom_attributes % x", b, want)
		}
	}
}
