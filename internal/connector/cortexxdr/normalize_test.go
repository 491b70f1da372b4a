package cortexxdr

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/connector/connectortest"
	"github.com/tributary-sec/tributary/internal/model"
)

// The -update flag may also be registered by other tests of the binary; register it once.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// fixtureRecord is one raw record of a testdata fixture: payload holds JSON kept
// byte for byte; payload_text holds a payload that is not JSON.
type fixtureRecord struct {
	Kind        string          `json:"kind"`
	VendorKey   string          `json:"vendor_key"`
	Payload     json.RawMessage `json:"payload"`
	PayloadText *string         `json:"payload_text"`
}

// goldenResult is what the normalizer made of one fixture record.
type goldenResult struct {
	VendorKey string
	Assets    []model.Asset   `json:",omitempty"`
	Findings  []model.Finding `json:",omitempty"`
	Error     string          `json:",omitempty"`
}

func testRecord(kind, key string, payload []byte) *model.RawRecord {
	return &model.RawRecord{
		SyncID:        "sync-0001",
		ConnectorID:   "cortex-prod",
		ConnectorType: TypeName,
		Scope:         "api-acme.xdr.us.paloaltonetworks.com",
		Kind:          kind,
		VendorKey:     key,
		FetchedAt:     time.Date(2024, 7, 10, 16, 10, 0, 0, time.UTC),
		Payload:       payload,
	}
}

func loadFixture(t testing.TB, path string) []*model.RawRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []fixtureRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := make([]*model.RawRecord, len(recs))
	for i, r := range recs {
		payload := []byte(r.Payload)
		if r.PayloadText != nil {
			payload = []byte(*r.PayloadText)
		}
		out[i] = testRecord(r.Kind, r.VendorKey, payload)
	}
	return out
}

func TestNormalizeGolden(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	paths = slices.DeleteFunc(paths, func(p string) bool {
		return strings.HasSuffix(p, ".golden.json") || strings.HasPrefix(filepath.Base(p), "conformance_")
	})
	if len(paths) == 0 {
		t.Fatal("no fixtures in testdata")
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			var results []goldenResult
			for _, rec := range loadFixture(t, path) {
				var out connector.Normalized
				res := goldenResult{VendorKey: rec.VendorKey}
				if err := (Normalizer{}).Normalize(rec, &out); err != nil {
					res.Error = err.Error()
					if len(out.Assets)+len(out.Findings) > 0 {
						t.Errorf("%s: Normalize failed but appended %d assets and %d findings", rec.VendorKey, len(out.Assets), len(out.Findings))
					}
				}
				res.Assets, res.Findings = out.Assets, out.Findings
				results = append(results, res)
			}
			connectortest.Golden(t, strings.TrimSuffix(path, ".json")+".golden.json", results, updating())
		})
	}
}

// TestNormalizeSharedNameStaysDistinct checks the point of the shared-name fixture
// without reading the golden: two assets, one finding linked to both, the most
// recently seen first.
func TestNormalizeSharedNameStaysDistinct(t *testing.T) {
	var out connector.Normalized
	for _, rec := range loadFixture(t, "testdata/shared_name.json") {
		if err := (Normalizer{}).Normalize(rec, &out); err != nil {
			t.Fatal(err)
		}
	}
	if len(out.Assets) != 2 || out.Assets[0].UID == out.Assets[1].UID || out.Assets[0].Name != out.Assets[1].Name {
		t.Fatalf("assets %+v; want two distinct assets with one name", out.Assets)
	}
	f := out.Findings[0]
	if f.UID != "KIOSK/CVE-2023-36884" || !slices.Equal(f.AssetUIDs, []string{out.Assets[0].UID, out.Assets[1].UID}) ||
		f.AssetClass != model.ClassDevice || f.AssetName != "KIOSK" || f.VendorStatus != StatusVulnerable {
		t.Errorf("finding %+v", f)
	}
}

func TestNormalizeRemovedEndpointIsArchivedForStatus(t *testing.T) {
	recs := loadFixture(t, "testdata/endpoint_lost_removed.json")
	var out connector.Normalized
	if err := (Normalizer{}).Normalize(recs[0], &out); err != nil {
		t.Fatal(err)
	}
	if a := out.Assets[0]; a.ArchiveReason != "status" || a.VendorStatus != "LOST" {
		t.Errorf("removed endpoint: archive reason %q, vendor status %q", a.ArchiveReason, a.VendorStatus)
	}
	recs[0].Kind = KindEndpoint
	out.Reset()
	if err := (Normalizer{}).Normalize(recs[0], &out); err != nil {
		t.Fatal(err)
	}
	if a := out.Assets[0]; a.ArchiveReason != "" {
		t.Errorf("endpoint of kind %s: archive reason %q, want none", KindEndpoint, a.ArchiveReason)
	}
}

func TestNormalizeNil(t *testing.T) {
	if err := (Normalizer{}).Normalize(nil, &connector.Normalized{}); err == nil {
		t.Error("nil record: no error")
	}
	if err := (Normalizer{}).Normalize(testRecord(KindEndpoint, "", []byte(`{}`)), nil); err == nil {
		t.Error("nil output: no error")
	}
}

// TestNormalizeNeverPanics feeds truncations and byte flips of every fixture payload:
// each must map or fail with an error, never panic.
func TestNormalizeNeverPanics(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.json")
	for _, path := range paths {
		if strings.HasSuffix(path, ".golden.json") || strings.HasPrefix(filepath.Base(path), "conformance_") {
			continue
		}
		for _, rec := range loadFixture(t, path) {
			p := rec.Payload
			for i := 0; i <= len(p); i += max(1, len(p)/40) {
				for _, payload := range [][]byte{p[:i], flip(p, i)} {
					var out connector.Normalized
					for _, kind := range []string{KindEndpoint, KindVulnerability} {
						_ = (Normalizer{}).Normalize(testRecord(kind, rec.VendorKey, payload), &out)
					}
				}
			}
		}
	}
}

func flip(p []byte, i int) []byte {
	q := slices.Clone(p)
	if i < len(q) {
		q[i] ^= 0x5a
	}
	return q
}

func TestNormalizeIsSafeForConcurrentUse(t *testing.T) {
	recs := loadFixture(t, "testdata/shared_name.json")
	var want connector.Normalized
	for _, r := range recs {
		if err := (Normalizer{}).Normalize(r, &want); err != nil {
			t.Fatal(err)
		}
	}
	wantJSON, _ := json.Marshal(want)
	var n Normalizer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				var out connector.Normalized
				for _, r := range recs {
					if err := n.Normalize(r, &out); err != nil {
						t.Error(err)
						return
					}
				}
				if got, _ := json.Marshal(out); !bytes.Equal(got, wantJSON) {
					t.Error("concurrent Normalize gave a different result")
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkNormalize(b *testing.B) {
	for _, path := range []string{"testdata/endpoint_full.json", "testdata/vulnerability.json"} {
		b.Run(strings.TrimSuffix(filepath.Base(path), ".json"), func(b *testing.B) {
			rec := loadFixture(b, path)[0]
			var out connector.Normalized
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				if err := (Normalizer{}).Normalize(rec, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
