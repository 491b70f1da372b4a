package cortexxdr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

// envelopeOf splits a vulnerability record's payload.
func envelopeOf(t *testing.T, r *model.RawRecord) (host string, ids []string, row string) {
	t.Helper()
	var e struct {
		EndpointName string          `json:"endpoint_name"`
		EndpointIDs  []string        `json:"endpoint_ids"`
		Row          json.RawMessage `json:"row"`
	}
	if err := json.Unmarshal(r.Payload, &e); err != nil {
		t.Fatalf("%s: envelope %s: %v", r.VendorKey, r.Payload, err)
	}
	if e.EndpointIDs == nil {
		t.Errorf("%s: endpoint_ids is not an array: %s", r.VendorKey, r.Payload)
	}
	return e.EndpointName, e.EndpointIDs, string(e.Row)
}

func byKind(recs []*model.RawRecord, kind string) []*model.RawRecord {
	var out []*model.RawRecord
	for _, r := range recs {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

func TestFetchPagesEndpointsThenFindings(t *testing.T) {
	for _, advanced := range []bool{false, true} {
		t.Run(fmt.Sprintf("advanced=%v", advanced), func(t *testing.T) {
			f, url := newFakeTenant(t)
			f.advanced = advanced
			for i := range 250 {
				status := "CONNECTED"
				if i%50 == 7 {
					status = "LOST"
				}
				f.endpoints = append(f.endpoints, endpointJSON(fmt.Sprintf("%032x", i), fmt.Sprintf("HOST-%03d", i), status, int64(1720000000000+i)))
			}
			f.rows = []string{rowJSON("CVE-2024-0001", "HOST-001"), rowJSON("CVE-2024-0002", "HOST-007"), rowJSON("CVE-2024-0002", "HOST-249")}
			f.pendingPolls = 2
			extra := []string{"remove_statuses: [LOST, UNINSTALLED]"}
			if advanced {
				extra = append(extra, "key_type: advanced")
			}
			src := sourceFor(t, url, extra...)
			got, res, err := fetchAll(t, src)
			if err != nil {
				t.Fatal(err)
			}
			eps := append(byKind(got, KindEndpoint), byKind(got, KindEndpointRemoved)...)
			slices.SortFunc(eps, func(a, b *model.RawRecord) int { return strings.Compare(a.VendorKey, b.VendorKey) })
			if len(eps) != 250 || len(byKind(got, KindEndpointRemoved)) != 5 {
				t.Fatalf("%d endpoints (%d removed), want 250 (5 removed)", len(eps), len(byKind(got, KindEndpointRemoved)))
			}
			for i, r := range eps {
				if string(r.Payload) != f.endpoints[i] {
					t.Fatalf("endpoint %d: payload differs from the vendor's bytes:\n got %s\nwant %s", i, r.Payload, f.endpoints[i])
				}
				wantKind := KindEndpoint
				if i%50 == 7 {
					wantKind = KindEndpointRemoved
				}
				if r.Kind != wantKind || r.VendorKey != fmt.Sprintf("%032x", i) || r.SyncID != "s1" || r.ConnectorID != "cortex-test" ||
					r.ConnectorType != TypeName || r.Scope != "127.0.0.1" || r.FetchedAt.IsZero() {
					t.Errorf("endpoint %d: %+v", i, r)
				}
			}
			pages := f.calls(apiGetEndpoint)
			if len(pages) != 3 {
				t.Fatalf("%d get_endpoint calls, want 3", len(pages))
			}
			for i, p := range pages {
				if p.data["search_from"] != float64(100*i) || p.data["search_to"] != float64(100*i+100) {
					t.Errorf("page %d asked for [%v, %v)", i, p.data["search_from"], p.data["search_to"])
				}
			}
			if n := len(f.calls(apiQueryResults)); n != 3 {
				t.Errorf("%d get_query_results calls, want 3 (two PENDING, then SUCCESS)", n)
			}
			vulns := byKind(got, KindVulnerability)
			if len(vulns) != 3 {
				t.Fatalf("%d vulnerability records, want 3", len(vulns))
			}
			for i, r := range vulns {
				host, ids, row := envelopeOf(t, r)
				if row != f.rows[i] || r.VendorKey != host+"/"+[]string{"CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0002"}[i] {
					t.Errorf("vulnerability %d: key %s, row %s", i, r.VendorKey, row)
				}
				if want := []string{fmt.Sprintf("%032x", []int{1, 7, 249}[i])}; !slices.Equal(ids, want) {
					t.Errorf("vulnerability %d: endpoint ids %v, want %v", i, ids, want)
				}
			}
			if len(res.Scopes) != 1 || res.Scopes[0] != (model.ScopeOutcome{Scope: "127.0.0.1", Outcome: model.OutcomeSucceeded, Records: 253}) {
				t.Errorf("FetchResult %+v", res)
			}
			wantCounts := []model.VendorCount{
				{Object: model.ObjectAssets, Count: 250, Source: "get_endpoint total_count"},
				{Object: model.ObjectFindings, Count: 3, Source: "XQL va_cves number_of_results"},
			}
			if !slices.Equal(res.VendorCounts, wantCounts) || res.CountsUnavailable != "" {
				t.Errorf("vendor counts %+v (unavailable %q), want %+v", res.VendorCounts, res.CountsUnavailable, wantCounts)
			}
			if advanced {
				nonces := map[string]bool{}
				for _, r := range f.calls(apiGetEndpoint) {
					nonces[r.header.Get("x-xdr-nonce")] = true
				}
				if len(nonces) != 3 {
					t.Errorf("advanced key: %d distinct nonces over 3 calls; want a fresh one per request", len(nonces))
				}
			}
		})
	}
}

func TestFetchWithoutVendorTotals(t *testing.T) {
	f, url := newFakeTenant(t)
	f.noTotals = true
	f.endpoints = []string{endpointJSON(fmt.Sprintf("%032x", 1), "HOST-001", "CONNECTED", 1720000000000)}
	f.rows = []string{rowJSON("CVE-2024-0001", "HOST-001")}
	_, res, err := fetchAll(t, sourceFor(t, url))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.VendorCounts) != 0 {
		t.Errorf("vendor counts %+v from a tenant that reported none", res.VendorCounts)
	}
	if want := "Cortex XDR did not report get_endpoint's total_count or the vulnerability query's number_of_results; nothing to fix on the connector"; res.CountsUnavailable != want {
		t.Errorf("CountsUnavailable = %q, want %q", res.CountsUnavailable, want)
	}
}

func TestFetchJoinsFindingsToEndpointsByName(t *testing.T) {
	f, url := newFakeTenant(t)
	f.endpoints = []string{
		endpointJSON("id-a", "KIOSK", "CONNECTED", 100),
		endpointJSON("id-b", "kiosk", "LOST", 300), // the same host name, another agent
		endpointJSON("id-c", "KIOSK", "CONNECTED", 200),
		endpointJSON("id-d", "DB-01", "CONNECTED", 100),
	}
	f.rows = []string{
		`{"cve_id": "CVE-1", "affected_hosts": "KIOSK", "severity_score": 9.1}`,
		`{"name": "CVE-2", "affected_hosts": ["DB-01", "GHOST"]}`,
		`{"cve_id": "CVE-3", "affected_hosts": null}`,
		`{"cve_id":"CVE-4","endpoint_name":"db-01"}`,
	}
	src := sourceFor(t, url, "remove_statuses: [LOST]")
	got, res, err := fetchAll(t, src)
	if err != nil {
		t.Fatal(err)
	}
	type link struct {
		key, host string
		ids       []string
		row       string
	}
	var links []link
	for _, r := range byKind(got, KindVulnerability) {
		host, ids, row := envelopeOf(t, r)
		links = append(links, link{r.VendorKey, host, ids, row})
	}
	want := []link{
		// Active endpoints first, the most recently seen first; then the removed one.
		{"KIOSK/CVE-1", "KIOSK", []string{"id-c", "id-a", "id-b"}, f.rows[0]},
		{"DB-01/CVE-2", "DB-01", []string{"id-d"}, f.rows[1]},
		{"GHOST/CVE-2", "GHOST", []string{}, f.rows[1]},
		{"db-01/CVE-4", "db-01", []string{"id-d"}, f.rows[3]},
	}
	if len(links) != len(want) {
		t.Fatalf("links %+v\nwant %+v", links, want)
	}
	for i := range want {
		if links[i].key != want[i].key || links[i].host != want[i].host || !slices.Equal(links[i].ids, want[i].ids) || links[i].row != want[i].row {
			t.Errorf("record %d: %+v\nwant %+v", i, links[i], want[i])
		}
	}
	if res.Skipped != 1 || !strings.Contains(res.SkipReason, "no affected host") {
		t.Errorf("skipped %d (%q), want the row without a host", res.Skipped, res.SkipReason)
	}
	// What the fetcher emits, the normalizer maps: the finding links both KIOSK agents.
	var out connector.Normalized
	for _, r := range got {
		if err := (Normalizer{}).Normalize(r, &out); err != nil {
			t.Errorf("normalizing %s: %v", r.VendorKey, err)
		}
	}
	if len(out.Assets) != 4 || len(out.Findings) != 4 || !slices.Equal(out.Findings[0].AssetUIDs, []string{"id-c", "id-a", "id-b"}) {
		t.Errorf("normalized %d assets, %d findings; first finding %+v", len(out.Assets), len(out.Findings), out.Findings[0])
	}
}

func TestFetchStreamsResultsOverAThousandRows(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain=%v", plain), func(t *testing.T) {
			f, url := newFakeTenant(t)
			f.plainStream = plain
			f.endpoints = []string{endpointJSON("id-1", "HOST-1", "CONNECTED", 1)}
			for i := range 2345 {
				f.rows = append(f.rows, rowJSON(fmt.Sprintf("CVE-2024-%04d", i), "HOST-1"))
			}
			f.rows[1000] = `{"cve_id": "CVE-BROKEN", "affected_hosts": "HOST-1", "severity_score": 7.` // cut short
			got, _, err := fetchAll(t, sourceFor(t, url))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(f.calls(apiResultsStream)); n != 1 {
				t.Fatalf("%d stream calls, want 1", n)
			}
			vulns := byKind(got, KindVulnerability)
			if len(vulns) != len(f.rows) {
				t.Fatalf("%d vulnerability records, want %d", len(vulns), len(f.rows))
			}
			for i, r := range vulns {
				if i == 1000 {
					// Not JSON: emitted as it came, so the normalizer dead-letters it.
					if string(r.Payload) != f.rows[i] || r.VendorKey != "xql-row/1001" {
						t.Errorf("malformed row: key %s, payload %s", r.VendorKey, r.Payload)
					}
					if err := (Normalizer{}).Normalize(r, &connector.Normalized{}); err == nil {
						t.Error("the malformed row normalized without error")
					}
					continue
				}
				if _, _, row := envelopeOf(t, r); row != f.rows[i] {
					t.Fatalf("row %d: %s, want %s", i, row, f.rows[i])
				}
			}
		})
	}
}

// TestStreamMemoryDoesNotGrowWithRows streams ~100 MB of rows and checks the heap
// stays far below that: rows are decoded one by one, never gathered.
func TestStreamMemoryDoesNotGrowWithRows(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MB")
	}
	const rows = 400_000
	f, url := newFakeTenant(t)
	f.endpoints = []string{endpointJSON("id-1", "HOST-1", "CONNECTED", 1)}
	n := rows
	f.reportedRows = &n
	pad := strings.Repeat("x", 160)
	f.streamGen = func(w io.Writer) {
		for i := range rows {
			fmt.Fprintf(w, `{"name": "CVE-2024-%06d", "severity": "HIGH", "severity_score": 7.5, "affected_hosts": "HOST-1", "description": "%s"}`+"\n", i, pad)
		}
	}
	src := sourceFor(t, url)
	if err := src.Initiate(context.Background()); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	var count int
	_, err := src.Fetch(context.Background(), connector.FetchRequest{SyncID: "s"}, func(r *model.RawRecord) error {
		count++
		if count%20_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count != rows+1 {
		t.Fatalf("%d records, want %d", count, rows+1)
	}
	grew := int64(peak) - int64(base)
	t.Logf("heap grew by %.1f MiB at most while streaming %d rows", float64(grew)/(1<<20), rows)
	if grew > 48<<20 {
		t.Errorf("the heap grew by %d MiB while streaming %d rows (~%d MB); rows must not be held", grew>>20, rows, rows*230/1_000_000)
	}
}

func TestFetchFailsAtOnceAboveMaxEndpoints(t *testing.T) {
	f, url := newFakeTenant(t)
	f.endpoints = []string{endpointJSON("id-1", "A", "CONNECTED", 1), endpointJSON("id-2", "B", "CONNECTED", 1)}
	f.totalCount = func(int) int { return 120_000 }
	got, res, err := fetchAll(t, sourceFor(t, url, "max_endpoints: 100000"))
	var cerr *connector.Error
	if !errors.As(err, &cerr) || cerr.Class != connector.ClassLimit {
		t.Fatalf("error %v, want a limit_exceeded error", err)
	}
	const want = "the tenant has 120,000 endpoints, more than max_endpoints 100,000: raise max_endpoints in the connector's settings or set it to 0"
	if !strings.HasPrefix(cerr.Error(), want) {
		t.Errorf("error %q\nwant it to start %q", cerr.Error(), want)
	}
	if len(got) != 0 || res.Scopes[0].Outcome != model.OutcomeFailed || res.Scopes[0].Records != 0 {
		t.Errorf("emitted %d records, result %+v; want none, failed", len(got), res)
	}
	if len(f.calls(apiGetEndpoint)) != 1 || len(f.calls(apiStartQuery)) != 0 {
		t.Errorf("calls after the first page: get_endpoint %d, start_xql_query %d", len(f.calls(apiGetEndpoint)), len(f.calls(apiStartQuery)))
	}

	// At the limit, the sync goes through.
	f.totalCount = nil
	if _, _, err := fetchAll(t, sourceFor(t, url, "max_endpoints: 2")); err != nil {
		t.Errorf("at max_endpoints: %v", err)
	}
}

func TestFetchEndpointCountChangingMidSync(t *testing.T) {
	for _, tc := range []struct {
		name  string
		total func(int) int
	}{
		{"count over what is served", func(n int) int { return n + 500 }},
		{"count missing", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeTenant(t)
			for i := range 150 {
				f.endpoints = append(f.endpoints, endpointJSON(fmt.Sprintf("id-%03d", i), "H", "CONNECTED", 1))
			}
			f.totalCount = tc.total
			got, _, err := fetchAll(t, sourceFor(t, url))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(byKind(got, KindEndpoint)); n != 150 {
				t.Errorf("%d endpoints, want 150", n)
			}
			if n := len(f.calls(apiGetEndpoint)); n > 3 {
				t.Errorf("%d get_endpoint calls; paging must stop at the empty page", n)
			}
		})
	}
	t.Run("offsets ignored", func(t *testing.T) {
		f, url := newFakeTenant(t)
		for i := range 150 {
			f.endpoints = append(f.endpoints, endpointJSON(fmt.Sprintf("id-%03d", i), "H", "CONNECTED", 1))
		}
		f.ignoreOffset = true
		got, _, err := fetchAll(t, sourceFor(t, url))
		var cerr *connector.Error
		if !errors.As(err, &cerr) || cerr.Class != connector.ClassMalformed || !strings.Contains(cerr.Message, "paging would not end") {
			t.Fatalf("error %v, want malformed_vendor_data about paging", err)
		}
		if len(got) != 100 {
			t.Errorf("emitted %d endpoints, want the first page's 100 once", len(got))
		}
	})
}

func TestFetchQueryFailures(t *testing.T) {
	two := 2
	for _, tc := range []struct {
		name    string
		setup   func(f *fakeTenant, src *Source)
		class   connector.Class
		says    string
		records int // emitted before the failure
	}{
		{"status FAIL", func(f *fakeTenant, _ *Source) {
			f.finalStatus, f.finalExtra = "FAIL", `"error": "internal engine error"`
		},
			connector.ClassVendorServer, "ended with status FAIL: internal engine error", 1},
		{"quota used up", func(f *fakeTenant, _ *Source) {
			f.finalStatus, f.finalExtra = "FAIL", `"error": "Quota exceeded: the tenant has no query units left"`
		}, connector.ClassLimit, "quota", 1},
		{"no va_cves dataset", func(f *fakeTenant, _ *Source) {
			f.finalStatus, f.finalExtra = "FAIL", `"error": "Unknown dataset va_cves"`
		}, connector.ClassLimit, "va_cves", 1},
		{"never finishes", func(f *fakeTenant, src *Source) {
			f.pendingPolls = 1 << 30
			src.tune = func(c *client) { fast(c); c.pollTimeout = 30 * time.Millisecond }
		}, connector.ClassVendorServer, "xql_poll_timeout", 1},
		{"fewer rows than reported", func(f *fakeTenant, _ *Source) {
			f.rows = []string{rowJSON("CVE-1", "H")}
			f.reportedRows = &two
		}, connector.ClassMalformed, "reported 2 rows", 2},
		{"no query id", func(f *fakeTenant, _ *Source) {
			f.fail(apiStartQuery, fault{status: 200, body: `{"reply": null}`})
		}, connector.ClassMalformed, "no query id", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newFakeTenant(t)
			f.endpoints = []string{endpointJSON("id-1", "H", "CONNECTED", 1)}
			src := sourceFor(t, url)
			tc.setup(f, src)
			got, res, err := fetchAll(t, src)
			var cerr *connector.Error
			if !errors.As(err, &cerr) || cerr.Class != tc.class || !strings.Contains(cerr.Error(), tc.says) {
				t.Fatalf("error %v (%T), want class %s saying %q", err, err, tc.class, tc.says)
			}
			if len(got) != tc.records || res.Scopes[0].Outcome != model.OutcomeFailed || res.Scopes[0].Records != int64(tc.records) {
				t.Errorf("emitted %d, result %+v; want %d and failed", len(got), res, tc.records)
			}
		})
	}
}

func TestFetchReturnsEmitsErrorUnchanged(t *testing.T) {
	f, url := newFakeTenant(t)
	f.endpoints = []string{endpointJSON("id-1", "H", "CONNECTED", 1), endpointJSON("id-2", "H", "CONNECTED", 1)}
	src := sourceFor(t, url)
	if err := src.Initiate(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("kafka is gone")
	n := 0
	_, err := src.Fetch(context.Background(), connector.FetchRequest{}, func(*model.RawRecord) error { n++; return stop })
	if err != stop || n != 1 {
		t.Errorf("error %v after %d emits, want emit's own error after the first", err, n)
	}
}

func TestFetchBeforeInitiate(t *testing.T) {
	_, url := newFakeTenant(t)
	src := sourceFor(t, url)
	_, err := src.Fetch(context.Background(), connector.FetchRequest{}, func(*model.RawRecord) error { return nil })
	if cerr := connector.AsError(err); cerr == nil || cerr.Class != connector.ClassInternal {
		t.Errorf("Fetch before Initiate: %v", err)
	}
	if checks := src.Test(context.Background()); len(checks) != 1 || checks[0].Err == nil {
		t.Errorf("Test before Initiate: %+v", checks)
	}
}
