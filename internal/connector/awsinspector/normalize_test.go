package awsinspector

import (
	"encoding/json"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/connector/connectortest"
	"github.com/tributary-sec/tributary/internal/model"
)

// The -update flag may also be wanted by other tests of the package; register it once.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func normUpdating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const normPageFixture = "testdata/page/list-findings-1.7.json"

func normRecord(payload []byte) *model.RawRecord {
	return &model.RawRecord{
		SyncID:        "sync-0001",
		ConnectorID:   "inspector-prod",
		ConnectorType: "aws_inspector2",
		Scope:         "us-east-1",
		Kind:          KindFinding,
		FetchedAt:     time.Date(2024, 7, 10, 16, 10, 0, 0, time.UTC),
		Payload:       payload,
	}
}

// normFixtures lists testdata/*.json, one finding each, without the goldens.
func normFixtures(tb testing.TB) []string {
	tb.Helper()
	paths, err := filepath.Glob("testdata/*.json")
	if err != nil {
		tb.Fatal(err)
	}
	paths = slices.DeleteFunc(paths, func(p string) bool { return strings.HasSuffix(p, ".golden.json") })
	if len(paths) == 0 {
		tb.Fatal("no fixtures in testdata")
	}
	return paths
}

// normPageFindings splits the ListFindings response of vendor-apis.md §1.7 into its
// findings, each exactly as the fetcher emits it.
func normPageFindings(tb testing.TB) []json.RawMessage {
	tb.Helper()
	b, err := os.ReadFile(normPageFixture)
	if err != nil {
		tb.Fatal(err)
	}
	var page struct {
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		tb.Fatal(err)
	}
	return page.Findings
}

func TestNormalizeGolden(t *testing.T) {
	for _, path := range normFixtures(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			payload, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var out connector.Normalized
			if err := (Normalizer{}).Normalize(normRecord(payload), &out); err != nil {
				t.Fatal(err)
			}
			if len(out.Findings) != 1 || len(out.Assets) != len(out.Findings[0].AssetUIDs) {
				t.Fatalf("got %d findings and %d assets, want 1 finding and one asset per resource",
					len(out.Findings), len(out.Assets))
			}
			connectortest.Golden(t, strings.TrimSuffix(path, ".json")+".golden.json", &out, normUpdating())
		})
	}
}

// TestNormalizeListFindingsPage normalizes the whole §1.7 page into one output, as the
// normalizer service does with a batch.
func TestNormalizeListFindingsPage(t *testing.T) {
	findings := normPageFindings(t)
	if len(findings) != 4 {
		t.Fatalf("page has %d findings, want 4", len(findings))
	}
	var out connector.Normalized
	for _, f := range findings {
		if err := (Normalizer{}).Normalize(normRecord(f), &out); err != nil {
			t.Fatal(err)
		}
	}
	connectortest.Golden(t, strings.TrimSuffix(normPageFixture, ".json")+".golden.json", &out, normUpdating())
}

func TestNormalizeMinimal(t *testing.T) {
	payload := `{"findingArn":"arn:f","firstObservedAt":null,"resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE","tags":{}}]}`
	var out connector.Normalized
	if err := (Normalizer{}).Normalize(normRecord([]byte(payload)), &out); err != nil {
		t.Fatal(err)
	}
	rec := normRecord(nil)
	wantAsset := model.Asset{
		ConnectorID: rec.ConnectorID, ConnectorType: rec.ConnectorType, SyncID: rec.SyncID, Scope: rec.Scope,
		UID: "i-1", Class: model.ClassDevice, Name: "i-1", ExternalID: "i-1", ProviderID: "i-1", FetchedAt: rec.FetchedAt,
	}
	wantFinding := model.Finding{
		ConnectorID: rec.ConnectorID, ConnectorType: rec.ConnectorType, SyncID: rec.SyncID, Scope: rec.Scope,
		UID: "arn:f", AssetUIDs: []string{"i-1"}, AssetClass: model.ClassDevice, AssetName: "i-1", Name: "arn:f", FetchedAt: rec.FetchedAt,
	}
	if !reflect.DeepEqual(out.Assets, []model.Asset{wantAsset}) {
		t.Errorf("assets:\n got %+v\nwant %+v", out.Assets, wantAsset)
	}
	if !reflect.DeepEqual(out.Findings, []model.Finding{wantFinding}) {
		t.Errorf("findings:\n got %+v\nwant %+v", out.Findings, wantFinding)
	}
}

const testFindingArn = "arn:aws:inspector2:us-east-1:111122223333:finding/0a1b2c3d4e5f60718293a4b5c6d7e8f9"

// normMalformedCases are payloads the normalizer must reject, with the exact error.
var normMalformedCases = []struct {
	name    string
	kind    string // KindFinding when empty
	payload string
	want    string
}{
	{"wrong kind", "endpoint", `{}`, `record kind "endpoint" is not a finding`},
	{"empty payload", "", ``, `payload is not a JSON object: empty payload`},
	{"blank payload", "", " \n\t", `payload is not a JSON object: empty payload`},
	{"not JSON", "", `garbage`, `payload is not a JSON object: invalid character 'g' at start of value (byte 0)`},
	{"truncated", "", `{"findingArn":`, `payload is not a JSON object: unexpected end of JSON input, at findingArn (byte 14)`},
	{"trailing data", "", `{"findingArn":"x"} {}`, `payload is not a JSON object: invalid character '{' after top-level value (byte 19)`},
	{"array", "", `[{"findingArn":"x"}]`, `payload is not a JSON object: got array`},
	{"null", "", `null`, `payload is not a JSON object: got null`},
	{"string", "", `"x"`, `payload is not a JSON object: got string`},
	{"number", "", `42`, `payload is not a JSON object: got number`},
	{"no findingArn", "", `{"resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`, `finding has no findingArn`},
	{"empty findingArn", "", `{"findingArn":""}`, `finding has no findingArn`},
	{"findingArn number", "", `{"findingArn":5}`, `finding: findingArn: want string, got number`},
	{"no resources", "", `{"findingArn":"` + testFindingArn + `"}`, `finding ` + testFindingArn + `: resources is empty`},
	{"empty resources", "", `{"findingArn":"` + testFindingArn + `","resources":[]}`, `finding ` + testFindingArn + `: resources is empty`},
	{"null resources", "", `{"findingArn":"` + testFindingArn + `","resources":null}`, `finding ` + testFindingArn + `: resources is empty`},
	{"resources object", "", `{"findingArn":"` + testFindingArn + `","resources":{"id":"i-1"}}`,
		`finding ` + testFindingArn + `: resources: want array, got object`},
	{"resource null", "", `{"findingArn":"` + testFindingArn + `","resources":[null]}`, `finding ` + testFindingArn + `: resources[0] has no id`},
	{"resource without id", "", `{"findingArn":"` + testFindingArn + `","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"},{"type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: resources[1] has no id`},
	{"resource without type", "", `{"findingArn":"` + testFindingArn + `","resources":[{"id":"i-1"}]}`,
		`finding ` + testFindingArn + `: resources[0] (i-1) has no type`},
	{"firstObservedAt string", "", `{"findingArn":"` + testFindingArn + `","firstObservedAt":"2024-06-10T16:09:55Z","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: firstObservedAt: want epoch seconds as a JSON number, got string "2024-06-10T16:09:55Z"`},
	{"firstObservedAt numeric string", "", `{"findingArn":"` + testFindingArn + `","firstObservedAt":"1718035795","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: firstObservedAt: want epoch seconds as a JSON number, got string "1718035795"`},
	{"firstObservedAt long string", "", `{"findingArn":"` + testFindingArn + `","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}],"firstObservedAt":"` + strings.Repeat("x", 100) + `"}`,
		`finding ` + testFindingArn + `: firstObservedAt: want epoch seconds as a JSON number, got string "` + strings.Repeat("x", 63) + `...`},
	{"firstObservedAt out of range", "", `{"findingArn":"` + testFindingArn + `","firstObservedAt":1e300,"resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: firstObservedAt: epoch seconds 1e300 out of range (years 1-9999)`},
	{"lastObservedAt object", "", `{"findingArn":"` + testFindingArn + `","lastObservedAt":{"seconds":1},"resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: lastObservedAt: want epoch seconds as a JSON number, got object`},
	{"lastObservedAt boolean", "", `{"findingArn":"` + testFindingArn + `","lastObservedAt":true,"resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: lastObservedAt: want epoch seconds as a JSON number, got boolean true`},
	{"launchedAt string", "", `{"findingArn":"` + testFindingArn + `","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE","details":{"awsEc2Instance":{"launchedAt":"2024-06-03T16:09:55Z"}}}]}`,
		`finding ` + testFindingArn + `: resources[0].details.awsEc2Instance.launchedAt: want epoch seconds as a JSON number, got string "2024-06-03T16:09:55Z"`},
	{"ipV4Addresses string", "", `{"findingArn":"` + testFindingArn + `","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE","details":{"awsEc2Instance":{"ipV4Addresses":"10.0.0.1"}}}]}`,
		`finding ` + testFindingArn + `: resources[0].details.awsEc2Instance.ipV4Addresses: want array, got string`},
	{"tag value number", "", `{"findingArn":"` + testFindingArn + `","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE","tags":{"Name":1}}]}`,
		`finding ` + testFindingArn + `: resources[0].tags.Name: want string, got number`},
	{"inspectorScore string", "", `{"findingArn":"` + testFindingArn + `","inspectorScore":"7.8","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: inspectorScore: want number, got string`},
	{"title number", "", `{"title":7,"findingArn":"` + testFindingArn + `","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: title: want string, got number`},
	{"port above range", "", `{"findingArn":"` + testFindingArn + `","networkReachabilityDetails":{"openPortRange":{"begin":70000}},"resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: networkReachabilityDetails.openPortRange.begin: 70000 is not a port (0-65535)`},
	{"port negative", "", `{"findingArn":"` + testFindingArn + `","networkReachabilityDetails":{"openPortRange":{"begin":-1}},"resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: networkReachabilityDetails.openPortRange.begin: -1 is not a port (0-65535)`},
	{"port fractional", "", `{"findingArn":"` + testFindingArn + `","networkReachabilityDetails":{"openPortRange":{"begin":22.5}},"resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding ` + testFindingArn + `: networkReachabilityDetails.openPortRange.begin: want integer, got number 22.5`},
	// Member names match exactly, as in the SDK: a case variant is an unknown member.
	{"findingArn in other case", "", `{"FindingArn":"` + testFindingArn + `","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"}]}`,
		`finding has no findingArn`},
	{"ipV4Addresses element number", "", `{"findingArn":"` + testFindingArn + `","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE","details":{"awsEc2Instance":{"ipV4Addresses":["10.0.0.1",7]}}}]}`,
		`finding ` + testFindingArn + `: resources[0].details.awsEc2Instance.ipV4Addresses[1]: want string, got number`},
	{"second resource region array", "", `{"findingArn":"` + testFindingArn + `","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE"},{"id":"i-2","type":"AWS_EC2_INSTANCE","region":["us-east-1"]}]}`,
		`finding ` + testFindingArn + `: resources[1].region: want string, got array`},
	{"tag value boolean under dotted key", "", `{"findingArn":"` + testFindingArn + `","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE","tags":{"app.tier":true}}]}`,
		`finding ` + testFindingArn + `: resources[0].tags["app.tier"]: want string, got boolean`},
	{"type error before findingArn, syntax error after", "", `{"title":7,"findingArn":"` + testFindingArn + `","resources":[}`,
		`payload is not a JSON object: invalid character '}' at start of value, at resources[0] (byte 122)`},
}

func TestNormalizeMalformed(t *testing.T) {
	for _, tc := range normMalformedCases {
		t.Run(tc.name, func(t *testing.T) {
			rec := normRecord([]byte(tc.payload))
			if tc.kind != "" {
				rec.Kind = tc.kind
			}
			out := normSentinel()
			err := (Normalizer{}).Normalize(rec, &out)
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
			if !reflect.DeepEqual(out, normSentinel()) {
				t.Errorf("out changed on error: %+v", out)
			}
		})
	}
}

// TestNormalizeExactNames checks that member names match exactly, as in the SDK, and that
// invalid UTF-8 in a string becomes U+FFFD rather than failing the finding.
func TestNormalizeExactNames(t *testing.T) {
	payload := `{"findingArn":"arn:f","Title":"other case","title":"t` + "\xff" + `itle","severity":"HIGH","Severity":"LOW",` +
		`"remediation":{"recommendation":{"Url":"https://upper.example","url":"https://lower.example"}},` +
		`"resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE","Region":"us-west-2"}]}`
	var out connector.Normalized
	if err := (Normalizer{}).Normalize(normRecord([]byte(payload)), &out); err != nil {
		t.Fatal(err)
	}
	fd := out.Findings[0]
	if fd.Name != "t\uFFFDitle" || fd.VendorSeverity != "HIGH" {
		t.Errorf("name %q, severity %q; want %q, HIGH", fd.Name, fd.VendorSeverity, "t\uFFFDitle")
	}
	if got := fd.CustomAttributes["remediationUrl"]; got != "https://upper.example" {
		t.Errorf("remediationUrl %q, want the Url member's", got)
	}
	if out.Assets[0].CustomAttributes != nil {
		t.Errorf("asset attributes %v, want none: Region is not region", out.Assets[0].CustomAttributes)
	}
}

func TestNormalizeNil(t *testing.T) {
	var out connector.Normalized
	if err := (Normalizer{}).Normalize(nil, &out); err == nil {
		t.Error("nil record: got no error")
	}
	if err := (Normalizer{}).Normalize(normRecord([]byte(`{}`)), nil); err == nil {
		t.Error("nil output: got no error")
	}
}

// normSentinel is what an output holds before a Normalize call that must not touch it.
func normSentinel() connector.Normalized {
	assets := make([]model.Asset, 1, 4)
	assets[0].UID = "earlier-asset"
	findings := make([]model.Finding, 1, 4)
	findings[0].UID = "earlier-finding"
	return connector.Normalized{Assets: assets, Findings: findings}
}

func TestParseEpochMillis(t *testing.T) {
	for _, tc := range []struct {
		lit  string
		want int64
		ok   bool
	}{
		{"1718035795", 1718035795000, true},
		{"1718035795.235", 1718035795235, true},
		{"1.718035795235E9", 1718035795235, true},
		{"1.718035795235e+9", 1718035795235, true},
		{"17180357952350E-4", 1718035795235, true},
		{"1718035795.2359", 1718035795235, true}, // truncated, as the SDK does
		{"1718035795.5e-1", 171803579550, true},
		{"0", 0, true},
		{"-0", 0, true},
		{"0.0009", 0, true},
		{"1e-400", 0, true},
		{"0e999999999", 0, true},
		{"-1.5", -1500, true},
		{"253402300799.999", 253402300799999, true},
		{"253402300800", 0, false},
		{"-62135596800", -62135596800000, true},
		{"-62135596800.001", 0, false},
		{"1e300", 0, false},
		{"1e99999999999999999999", 0, false},
		{"123456789012345678901234567890", 0, false},
	} {
		got, ok := parseEpochMillis([]byte(tc.lit))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseEpochMillis(%s) = %d, %v; want %d, %v", tc.lit, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseEpochMillis checks parseEpochMillis against exact rational arithmetic.
func FuzzParseEpochMillis(f *testing.F) {
	for _, s := range []string{"1718035795.235", "1.718035795235E9", "-1.5", "0e5", "253402300799.9999", "-62135596800"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		// Only what the decoder hands over: one JSON number literal, no whitespace.
		if len(lit) == 0 || len(lit) > 64 || lit != strings.TrimSpace(lit) || !json.Valid([]byte(lit)) ||
			!strings.ContainsRune("-0123456789", rune(lit[0])) {
			return
		}
		if i := strings.IndexAny(lit, "eE"); i >= 0 {
			if e, err := strconv.Atoi(strings.TrimPrefix(lit[i+1:], "+")); err != nil || e < -60 || e > 60 {
				return // keep big.Rat small; the digit loop bounds these anyway
			}
		}
		r, ok := new(big.Rat).SetString(lit)
		if !ok {
			t.Fatalf("big.Rat rejects %q", lit)
		}
		r.Mul(r, big.NewRat(1000, 1))
		exact := new(big.Int).Quo(r.Num(), r.Denom()) // truncates toward zero
		wantOK := exact.IsInt64() && exact.Int64() >= minEpochMillis && exact.Int64() <= maxEpochMillis
		got, gotOK := parseEpochMillis([]byte(lit))
		if gotOK != wantOK || (wantOK && got != exact.Int64()) {
			t.Fatalf("parseEpochMillis(%s) = %d, %v; want %s, %v", lit, got, gotOK, exact, wantOK)
		}
	})
}

// FuzzNormalize checks that no payload panics, that an error leaves the output as it
// was, and that a success yields a well-formed, serializable result.
func FuzzNormalize(f *testing.F) {
	addFindingSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		out := normSentinel()
		err := (Normalizer{}).Normalize(normRecord(payload), &out)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			if !reflect.DeepEqual(out, normSentinel()) {
				t.Fatalf("out changed on error %q", err)
			}
			return
		}
		if len(out.Findings) != 2 || len(out.Assets) < 2 {
			t.Fatalf("got %d findings and %d assets, want one more finding and at least one more asset",
				len(out.Findings)-1, len(out.Assets)-1)
		}
		fd := out.Findings[1]
		if fd.UID == "" || fd.Name == "" || len(fd.AssetUIDs) != len(out.Assets)-1 {
			t.Fatalf("bad finding %+v with %d assets", fd, len(out.Assets)-1)
		}
		for i, a := range out.Assets[1:] {
			if a.UID == "" || a.Name == "" || a.Class == "" || a.UID != fd.AssetUIDs[i] {
				t.Fatalf("bad asset %+v", a)
			}
		}
		if fd.Port != nil && (*fd.Port < 0 || *fd.Port > 65535) {
			t.Fatalf("port %d", *fd.Port)
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("result does not serialize: %v", err)
		}
	})
}

// BenchmarkNormalize normalizes the four findings of the §1.7 page per iteration.
func BenchmarkNormalize(b *testing.B) {
	findings := normPageFindings(b)
	records := make([]*model.RawRecord, len(findings))
	var size int64
	for i, f := range findings {
		records[i] = normRecord(f)
		size += int64(len(f))
	}
	var out connector.Normalized
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		for _, r := range records {
			if err := (Normalizer{}).Normalize(r, &out); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(records)), "ns/finding")
}

// BenchmarkNormalizeDistinct is BenchmarkNormalize over 1024 compact variants of the
// page's findings in which every string but the types differs, so that, as in
// production, no string decoded in one iteration can be reused in the next.
func BenchmarkNormalizeDistinct(b *testing.B) {
	findings := normPageFindings(b)
	const variants = 256
	records := make([]*model.RawRecord, 0, variants*len(findings))
	var size int64
	for i := range variants {
		for _, f := range findings {
			var v any
			if err := json.Unmarshal(f, &v); err != nil {
				b.Fatal(err)
			}
			p, err := json.Marshal(normSuffixStrings(v, "-"+strconv.Itoa(i)))
			if err != nil {
				b.Fatal(err)
			}
			records = append(records, normRecord(p))
			size += int64(len(p))
		}
	}
	var out connector.Normalized
	b.SetBytes(size / variants)
	b.ReportAllocs()
	next := 0
	for b.Loop() {
		out.Reset()
		for range findings {
			if err := (Normalizer{}).Normalize(records[next], &out); err != nil {
				b.Fatal(err)
			}
			next = (next + 1) % len(records)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(findings)), "ns/finding")
}

// normSuffixStrings appends suffix to every string in v but the values of type members.
func normSuffixStrings(v any, suffix string) any {
	switch v := v.(type) {
	case string:
		return v + suffix
	case []any:
		for i := range v {
			v[i] = normSuffixStrings(v[i], suffix)
		}
	case map[string]any:
		for k, e := range v {
			if k != "type" {
				v[k] = normSuffixStrings(e, suffix)
			}
		}
	}
	return v
}

// TestNormalizeDuplicateNames checks a duplicated member is accepted with its last value,
// as the AWS SDK does, rather than dead-lettering the finding.
func TestNormalizeDuplicateNames(t *testing.T) {
	raw := &model.RawRecord{ConnectorID: "c", Kind: KindFinding, Payload: []byte(`{"findingArn":"arn:f","title":"a","title":"b","resources":[{"id":"i-1","type":"AWS_EC2_INSTANCE","tags":{"Name":"x","Name":"y"}}]}`)}
	var out connector.Normalized
	if err := (Normalizer{}).Normalize(raw, &out); err != nil {
		t.Fatal(err)
	}
	if out.Findings[0].Name != "b" || out.Assets[0].Name != "y" {
		t.Errorf("finding name %q, asset name %q; want the last values b and y", out.Findings[0].Name, out.Assets[0].Name)
	}
}

// addFindingSeeds seeds a fuzz test with every fixture, page finding and malformed case.
func addFindingSeeds(f *testing.F) {
	for _, path := range normFixtures(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, b := range normPageFindings(f) {
		f.Add([]byte(b))
	}
	for _, tc := range normMalformedCases {
		f.Add([]byte(tc.payload))
	}
}
