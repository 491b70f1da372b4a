package avro

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
)

// Avro timestamp-millis keeps milliseconds and the codec decodes times in UTC, so
// fixtures are built at millisecond precision in UTC and compare exactly.
var (
	t0 = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	t1 = t0.Add(90*time.Minute + 7*time.Millisecond)
	t2 = t1.Add(26 * time.Hour)
)

func newCodec(tb testing.TB) *Codec {
	tb.Helper()
	c, err := New()
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func fullAsset() *model.Asset {
	return &model.Asset{
		ConnectorID:       "aws-prod",
		ConnectorType:     "awsinspector",
		SyncID:            "sync-1",
		Scope:             "eu-west-1",
		UID:               "i-0abc123",
		Class:             model.ClassDevice,
		Name:              "web-1",
		ExternalID:        "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc123",
		ProviderID:        "123456789012",
		OperatingSystem:   "AMAZON_LINUX_2",
		IPv4:              []string{"10.0.0.12", "54.1.2.3"},
		IPv6:              []string{"2001:db8::1"},
		FQDN:              "web-1.eu-west-1.compute.internal",
		MACAddresses:      []string{"02:42:ac:11:00:02"},
		ImageTags:         []string{"latest", "v1.2.3"},
		ImageDigest:       "sha256:0123abcd",
		Provider:          "AWS",
		CloudResourceType: "AWS_EC2_INSTANCE",
		FirstObservedAt:   t0,
		LastObservedAt:    t1,
		VendorStatus:      "ACTIVE",
		ExternalTags:      map[string]string{"env": "prod", "team": "web"},
		CustomAttributes:  map[string]string{"platform": "linux", "": "empty key"},
		FetchedAt:         t2,
		ArchiveReason:     "status",
	}
}

func fullFinding() *model.Finding {
	return &model.Finding{
		ConnectorID:      "aws-prod",
		ConnectorType:    "awsinspector",
		SyncID:           "sync-1",
		Scope:            "eu-west-1",
		UID:              "arn:aws:inspector2:eu-west-1:123456789012:finding/0f1e2d",
		AssetUIDs:        []string{"i-0abc123", "i-0def456"},
		AssetClass:       model.ClassDevice,
		AssetName:        "web-1",
		Name:             "CVE-2024-3094 - xz",
		CVEs:             []string{"CVE-2024-3094", "CVE-2024-0001"},
		Description:      "Malicious code was discovered in the upstream tarballs of xz, ünïcödé ✓.",
		Score:            ptr(9.8),
		VendorSeverity:   "CRITICAL",
		VendorStatus:     "ACTIVE",
		FirstSeen:        t0,
		LastSeen:         t1,
		Port:             ptr(int32(443)),
		Protocol:         "TCP",
		CustomAttributes: map[string]string{"package": "xz-libs", "fixed_in": "5.6.2"},
		FetchedAt:        t2,
	}
}

// roundTripCases covers every record type the codec handles.
func roundTripCases() []struct {
	name string
	msg  any
} {
	noScore := fullFinding()
	noScore.Score, noScore.Port = nil, nil
	noScore.FirstSeen, noScore.LastSeen = time.Time{}, time.Time{}
	zeroScore := fullFinding()
	zeroScore.Score, zeroScore.Port = ptr(0.0), ptr(int32(0))
	negative := fullFinding()
	negative.Score, negative.Port = ptr(-1.5), ptr(int32(-1))

	return []struct {
		name string
		msg  any
	}{
		{"raw record", &model.RawRecord{
			SyncID: "sync-1", ConnectorID: "aws-prod", ConnectorType: "awsinspector", Scope: "eu-west-1",
			Kind: "finding", VendorKey: "arn:aws:inspector2:eu-west-1:123456789012:finding/0f1e2d",
			FetchedAt: t0, Payload: []byte(`{"findingArn":"arn:...","inspectorScore":9.8}`),
		}},
		{"raw record binary payload", &model.RawRecord{SyncID: "s", FetchedAt: t0, Payload: []byte{0, 0xff, 0xc3, 0x01}}},
		{"raw record empty", &model.RawRecord{}},
		{"sync end with scopes", &model.SyncEnd{
			SyncID: "sync-1", ConnectorID: "aws-prod", ConnectorType: "awsinspector", SyncType: model.SyncFull,
			Stage: model.StageFetching, SourcePartition: 3, SourcePartitions: 12, Records: 1 << 40,
			Outcome: model.OutcomeFailed,
			Scopes: []model.ScopeOutcome{
				{Scope: "eu-west-1", Outcome: model.OutcomeSucceeded, Records: 1200},
				{Scope: "us-east-1", Outcome: model.OutcomeFailed, Records: 0},
			},
			FetchStartedAt: t0, AssetRetentionDays: 30,
		}},
		{"sync end without scopes", &model.SyncEnd{SyncID: "sync-2", SyncType: model.SyncIncremental, Stage: model.StageNormalizing, SourcePartition: -1, FetchStartedAt: t1}},
		{"asset all fields", fullAsset()},
		{"asset zero", &model.Asset{}},
		{"asset empty collections", &model.Asset{
			UID: "a", IPv4: []string{}, IPv6: []string{}, MACAddresses: []string{}, ImageTags: []string{},
			ExternalTags: map[string]string{}, CustomAttributes: map[string]string{}, FetchedAt: t0,
		}},
		{"asset empty strings in collections", &model.Asset{IPv4: []string{""}, ExternalTags: map[string]string{"k": ""}}},
		{"enriched asset archived", &model.EnrichedAsset{Asset: *fullAsset(), State: model.AssetArchived,
			Transition: &model.AssetTransition{OldState: model.AssetActive, NewState: model.AssetArchived, Reason: "not_returned"}}},
		{"enriched asset without transition", &model.EnrichedAsset{Asset: model.Asset{UID: "a", FetchedAt: t0}, State: model.AssetActive}},
		{"finding all fields", fullFinding()},
		{"finding nil score and port", noScore},
		{"finding zero score and port", zeroScore},
		{"finding negative score and port", negative},
		{"finding zero", &model.Finding{}},
		{"enriched finding with transition", &model.EnrichedFinding{
			Finding: *fullFinding(), Severity: model.SeverityCritical, Status: model.StatusFixed,
			Transition: &model.Transition{OldStatus: model.StatusActive, NewStatus: model.StatusFixed, Reason: "not seen in full sync"},
		}},
		{"enriched finding without transition", &model.EnrichedFinding{
			Finding: *noScore, Severity: model.SeverityNone, Status: model.StatusActive,
		}},
		{"enriched finding empty transition", &model.EnrichedFinding{Transition: &model.Transition{}}},
		{"stage event with error", &model.StageEvent{
			SyncID: "sync-1", ConnectorID: "aws-prod", ConnectorType: "awsinspector", SyncType: model.SyncFull,
			Stage: model.StageConnectivity, State: model.StateFailed, Level: model.LevelError,
			Message: "connectivity test failed", Time: t1, StartedAt: t0, EndedAt: t1,
			RecordsIn: 10, RecordsOut: 7, RecordsFailed: 3,
			Error: &model.ErrorBlock{
				Class: "auth", Message: "The security token included in the request is invalid",
				RecommendedAction: "rotate the access key", RootCause: "UnrecognizedClientException",
				Code: "status_code: 401", Details: "POST /findings/list",
				ResponseHeaders: map[string]string{"X-Amzn-Requestid": "abc", "Authorization": "[redacted]"},
				ResponsePayload: `{"message":"The security token ..."}`,
			},
		}},
		{"stage event without error", &model.StageEvent{
			SyncID: "sync-1", Stage: model.StageFetching, State: model.StateRunning, Level: model.LevelInfo,
			Message: "page 3", Time: t1, StartedAt: t0, RecordsIn: 300,
		}},
		{"stage event error without headers", &model.StageEvent{Time: t0, Error: &model.ErrorBlock{Class: "timeout"}}},
		{"partition done", &model.PartitionDone{
			SyncID: "sync-1", ConnectorID: "aws-prod", ConnectorType: "awsinspector", SyncType: model.SyncFull,
			Partition: 5, Partitions: 6, Assets: 120, Findings: 4711, Outcome: model.OutcomeSucceeded,
			Scopes: []model.ScopeOutcome{{Scope: "eu-west-1", Outcome: model.OutcomeSucceeded, Records: 4831}},
			Time:   t2, Stage: model.StageProcessing, AssetRetentionDays: 30,
		}},
		{"normalizing partition done", &model.PartitionDone{
			Stage: model.StageNormalizing, SyncID: "sync-1", ConnectorID: "aws-prod", Partition: 2, Partitions: 6,
			RecordsIn: 900, Assets: 40, Findings: 897, RecordsFailed: 3, FirstFailure: "decoding finding: unexpected end of JSON input",
			Outcome: model.OutcomeSucceeded, Time: t2,
		}},
		{"vendor counts", &model.VendorCounts{
			SyncID: "sync-1", ConnectorID: "aws-prod", ConnectorType: "aws_inspector2", SyncType: model.SyncIncremental,
			Counts: []model.VendorCount{
				{Object: model.ObjectFindings, Class: model.ClassDevice, Count: 1204, Source: "ListFindingAggregations ACCOUNT: AWS_EC2_INSTANCE"},
				{Object: model.ObjectAssets, Count: 0, Source: "get_endpoint total_count"},
			},
			Time: t2,
		}},
		{"vendor counts unavailable", &model.VendorCounts{SyncID: "sync-1", Unavailable: "grant inspector2:ListFindingAggregations", Time: t2}},
		{"dead letter", &model.DeadLetter{
			Topic: "tributary.raw.v1", Partition: 2, Offset: 1<<33 + 1, Key: []byte("aws-prod/arn:1"),
			Value: []byte{0xc3, 0x01, 0xde, 0xad}, Reason: "decoding raw record: short buffer", Stage: model.StageNormalizing,
			SyncID: "sync-1", ConnectorID: "aws-prod", VendorKey: "arn:1", Time: t1,
		}},
		{"dead letter nil key and value", &model.DeadLetter{Topic: "t", Time: t1}},
	}
}

func TestRoundTrip(t *testing.T) {
	c := newCodec(t)
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := c.Encode(nil, tc.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := c.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := normalized(tc.msg)
			if !reflect.DeepEqual(normalized(got), want) {
				t.Errorf("round trip mismatch\n got: %+v\nwant: %+v", got, want)
			}
		})
	}
}

// TestRoundTripOptionalFields pins that a score of exactly 0 is not mistaken for an
// absent one, and that a zero time in an optional field stays zero.
func TestRoundTripOptionalFields(t *testing.T) {
	c := newCodec(t)
	f := fullFinding()
	f.Score, f.Port, f.FirstSeen = ptr(0.0), nil, time.Time{}
	b, err := c.Encode(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	g := got.(*model.Finding)
	if g.Score == nil || *g.Score != 0 {
		t.Errorf("Score = %v, want non-nil 0", g.Score)
	}
	if g.Port != nil {
		t.Errorf("Port = %d, want nil", *g.Port)
	}
	if !g.FirstSeen.IsZero() || g.LastSeen != t1 {
		t.Errorf("FirstSeen, LastSeen = %v, %v, want zero, %v", g.FirstSeen, g.LastSeen, t1)
	}
}

// TestTimesDecodeAsUTCMillis pins the time contract: any location and precision in,
// the same instant truncated to milliseconds, in UTC, out.
func TestTimesDecodeAsUTCMillis(t *testing.T) {
	c := newCodec(t)
	now := time.Now() // carries a monotonic reading, which the codec must drop
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"sub-millisecond in a zone", time.Date(2025, 3, 14, 17, 9, 26, 535_999_999, time.FixedZone("CEST", 2*3600)), t0},
		{"local now", now, now.Truncate(time.Millisecond).UTC()},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
		{"zero", time.Time{}, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := c.Encode(nil, &model.StageEvent{Time: tc.in, StartedAt: tc.in})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			ev := got.(*model.StageEvent)
			// == rather than Equal: the location must be UTC too.
			if ev.Time != tc.want || ev.StartedAt != tc.want {
				t.Errorf("Time, StartedAt = %v, %v, want %v", ev.Time, ev.StartedAt, tc.want)
			}
		})
	}
}

// normalized returns a copy of a model record with every empty slice and map set to
// nil. The codec decodes empty arrays, maps and bytes as nil; for every field of the
// model, nil and empty mean the same, so the comparison treats them alike.
func normalized(msg any) any {
	v := reflect.New(reflect.TypeOf(msg).Elem())
	v.Elem().Set(reflect.ValueOf(msg).Elem())
	emptyToNil(v.Elem())
	return v.Interface()
}

func emptyToNil(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				emptyToNil(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			cp := reflect.New(v.Type().Elem())
			cp.Elem().Set(v.Elem())
			emptyToNil(cp.Elem())
			v.Set(cp)
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			v.SetZero()
		}
	}
}

// TestLongArrays checks that arrays and maps longer than maxBlockCount still round-trip:
// the encoder splits them into blocks the decoder accepts.
func TestLongArrays(t *testing.T) {
	c := newCodec(t)
	in := &model.Asset{IPv4: make([]string, maxBlockCount+1), ExternalTags: map[string]string{}, FetchedAt: t0}
	for i := range in.IPv4 {
		in.IPv4[i] = fmt.Sprint(i)
		in.ExternalTags[fmt.Sprint(i)] = "v"
	}
	b, err := c.Encode(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("round trip of %d IPs and tags changed them", len(in.IPv4))
	}
}

// TestDecodeCopiesBytes checks that a decoded record does not alias the message.
func TestDecodeCopiesBytes(t *testing.T) {
	c := newCodec(t)
	b, err := c.Encode(nil, &model.RawRecord{Payload: []byte("vendor json"), FetchedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	payload := got.(*model.RawRecord).Payload
	for i := range b { // as a consumer reusing its fetch buffer would
		b[i] = 0
	}
	if string(payload) != "vendor json" {
		t.Errorf("Payload = %q after clearing the message, want %q", payload, "vendor json")
	}
}

func TestDecodeErrors(t *testing.T) {
	c := newCodec(t)
	finding, err := c.Encode(nil, fullFinding())
	if err != nil {
		t.Fatal(err)
	}
	fp := finding[2:headerLen]
	unknown := append([]byte{0xc3, 0x01}, binary.LittleEndian.AppendUint64(nil, 0x0123456789abcdef)...)
	// A Finding whose asset_uids array claims 2^30 items: it must fail on the missing
	// bytes, not allocate for them.
	hugeArray := append(append([]byte{0xc3, 0x01}, fp...), 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x08)
	// The same for custom_attributes, after 18 fields that are empty or null.
	hugeMap := append(append(append([]byte{0xc3, 0x01}, fp...), make([]byte, 18)...), 0x80, 0x80, 0x80, 0x80, 0x08)

	tests := []struct {
		name string
		in   []byte
		want []string
	}{
		{"nil", nil, []string{"neither Avro single-object encoded nor in the Confluent wire format (0 bytes"}},
		{"garbage", []byte("definitely not avro"), []string{"neither Avro single-object encoded nor in the Confluent wire format (19 bytes, header 64 65)"}},
		{"magic only", []byte{0xc3, 0x01, 0x00}, []string{"neither Avro single-object encoded nor in the Confluent wire format (3 bytes"}},
		{"confluent magic only", []byte{0, 0, 0, 42}, []string{"neither Avro single-object encoded nor in the Confluent wire format (4 bytes, header 00 00)"}},
		{"confluent wire format without a registry", append([]byte{0, 0, 0, 0, 42}, finding[headerLen:]...), []string{"Confluent wire format (schema id 42)", "no schema registry", "set --schema-registry-url"}},
		{"unknown fingerprint", append(unknown, finding[headerLen:]...), []string{"unknown schema fingerprint 0123456789abcdef"}},
		{"header only", finding[:headerLen], []string{"decoding tributary.v1.Finding", "short buffer"}},
		{"truncated", finding[:len(finding)/2], []string{"decoding tributary.v1.Finding", "short buffer"}},
		{"last byte missing", finding[:len(finding)-1], []string{"decoding tributary.v1.Finding", "short buffer"}},
		{"trailing bytes", append(bytes.Clone(finding), 0, 0), []string{"decoding tributary.v1.Finding: 2 trailing bytes"}},
		{"huge array", hugeArray, []string{"decoding tributary.v1.Finding", "block count"}},
		{"huge map", hugeMap, []string{"decoding tributary.v1.Finding", "block count"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Decode(tc.in)
			if err == nil {
				t.Fatalf("Decode = %+v, want an error", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	c := newCodec(t)
	tests := []struct {
		name string
		msg  any
		want string
	}{
		{"nil", nil, "encoding avro message: no schema for <nil>"},
		{"string", "finding", "encoding avro message: no schema for string"},
		{"record by value", model.Finding{}, "encoding avro message: no schema for model.Finding"},
		{"scope outcome", &model.ScopeOutcome{}, "encoding avro message: no schema for *model.ScopeOutcome"},
		{"nil record", (*model.Finding)(nil), "encoding avro message: nil *model.Finding"},
		{"nil enriched finding", (*model.EnrichedFinding)(nil), "encoding avro message: nil *model.EnrichedFinding"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte("prefix")
			b, err := c.Encode(buf, tc.msg)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Encode = %q, %v; want error %q", b, err, tc.want)
			}
		})
	}
}

// TestFromNativeTypeMismatch corrupts one field of a decoded record: the first type
// mismatch must be reported wherever it sits, also beside or inside a nested record.
func TestFromNativeTypeMismatch(t *testing.T) {
	c := newCodec(t)
	enriched := &model.EnrichedFinding{Finding: *fullFinding(), Transition: &model.Transition{}}
	event := &model.StageEvent{Error: &model.ErrorBlock{}}
	tests := []struct {
		name string
		msg  any
		path []string // to the field to corrupt
		want string
	}{
		{"raw record", &model.RawRecord{}, []string{"payload"}, "field payload: got int32, want bytes"},
		{"beside a nested record", enriched, []string{"severity"}, "field severity: got int32, want string"},
		{"inside a nested record", enriched, []string{"finding", "uid"}, "field uid: got int32, want string"},
		{"inside an optional record beside it", enriched, []string{"transition", "tributary.v1.Transition", "reason"}, "field reason: got int32, want string"},
		{"beside an optional record", event, []string{"message"}, "field message: got int32, want string"},
		{"inside an optional record", event, []string{"error", "tributary.v1.ErrorBlock", "class"}, "field class: got int32, want string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := c.Encode(nil, tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			s := c.byFingerprint[binary.LittleEndian.Uint64(b[2:headerLen])]
			native, _, err := s.codec.NativeFromBinary(b[headerLen:])
			if err != nil {
				t.Fatal(err)
			}
			m := native.(map[string]any)
			for _, p := range tc.path[:len(tc.path)-1] {
				m = m[p].(map[string]any)
			}
			m[tc.path[len(tc.path)-1]] = int32(7)
			if _, err := fromNative(s.name, native.(map[string]any)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("fromNative error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	want := []string{nameAsset, nameDeadLetter, nameEnrichedAsset, nameEnrichedFinding, nameFinding, namePartitionDone, nameRawRecord, nameStageEvent, nameSyncEnd, nameVendorCounts}
	if got := newCodec(t).Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
}
