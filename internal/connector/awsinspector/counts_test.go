package awsinspector

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

// Sources of the vendor counts, by class.
const (
	sourceDevice    = "ListFindingAggregations ACCOUNT: AWS_EC2_INSTANCE"
	sourceContainer = "ListFindingAggregations ACCOUNT: AWS_ECR_CONTAINER_IMAGE"
	sourceResource  = "ListFindingAggregations ACCOUNT: AWS_LAMBDA_FUNCTION, CODE_REPOSITORY"
)

// wantCounts returns the vendor counts of device, container and resource findings.
func wantCounts(device, container, resource int64) []model.VendorCount {
	return []model.VendorCount{
		{Object: model.ObjectFindings, Class: model.ClassDevice, Count: device, Source: sourceDevice},
		{Object: model.ObjectFindings, Class: model.ClassContainer, Count: container, Source: sourceContainer},
		{Object: model.ObjectFindings, Class: model.ClassResource, Count: resource, Source: sourceResource},
	}
}

// activeByClass counts the ACTIVE findings among raw findings by the class of their
// resource.
func activeByClass(t *testing.T, raws [][]byte) []model.VendorCount {
	t.Helper()
	n := map[model.AssetClass]int64{}
	for _, raw := range raws {
		var f struct {
			Status    string `json:"status"`
			Resources []struct {
				Type string `json:"type"`
			} `json:"resources"`
		}
		if err := json.Unmarshal(raw, &f); err != nil || len(f.Resources) == 0 {
			t.Fatalf("decoding finding (%v): %.200s", err, raw)
		}
		if f.Status == "ACTIVE" {
			n[resourceClass(f.Resources[0].Type)]++
		}
	}
	return wantCounts(n[model.ClassDevice], n[model.ClassContainer], n[model.ClassResource])
}

func payloads(recs []*model.RawRecord) [][]byte {
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = r.Payload
	}
	return out
}

func simFindings(sim *inspector.Simulator, regions ...string) [][]byte {
	var out [][]byte
	for _, region := range regions {
		for _, f := range sim.Findings(region) {
			out = append(out, f)
		}
	}
	return out
}

func TestFetchReportsVendorCounts(t *testing.T) {
	sim, url := newSimulator(t, 400)
	src := newTestSource(t, settingsYAML(url))
	check := func(when string) {
		t.Helper()
		got, res, err := fetchAll(t, src, connector.FetchRequest{SyncID: "s", Type: model.SyncFull})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		want := activeByClass(t, simFindings(sim, testRegions...))
		if !slices.Equal(res.VendorCounts, want) || res.CountsUnavailable != "" {
			t.Errorf("%s: vendor counts %+v (unavailable %q), want %+v", when, res.VendorCounts, res.CountsUnavailable, want)
		}
		// What data validation compares: the ACTIVE findings fetched.
		if fetched := activeByClass(t, payloads(got)); !slices.Equal(res.VendorCounts, fetched) {
			t.Errorf("%s: vendor counts %+v, the fetched ACTIVE findings %+v", when, res.VendorCounts, fetched)
		}
		for _, c := range want {
			if c.Count == 0 {
				t.Fatalf("%s: no ACTIVE %s finding; the test needs some of each class", when, c.Class)
			}
		}
	}
	check("as generated")
	if n := sim.ListFindingAggregationsRequests(); n != int64(len(testRegions)*len(countedResourceTypes)) {
		t.Errorf("%d ListFindingAggregations requests, want one per resource type and region", n)
	}

	var active []string
	for _, region := range testRegions {
		for _, raw := range sim.Findings(region) {
			var f struct{ FindingArn, Status string }
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			if f.Status == "ACTIVE" {
				active = append(active, f.FindingArn)
			}
		}
	}
	if err := sim.Mutate(inspector.Mutation{Close: active[:20], Suppress: active[20:35], Remove: active[35:40], Add: 9}); err != nil {
		t.Fatal(err)
	}
	check("after closing, suppressing, removing and adding findings")
}

func TestFetchReportsZeroCountsForEveryClass(t *testing.T) {
	_, url := newSimulator(t, 30)
	// ap-south-1 is a region the simulator holds no finding in.
	src := newTestSource(t, strings.Replace(settingsYAML(url), "regions: [us-east-1, eu-west-1]", "regions: [ap-south-1]", 1))
	_, res, err := fetchAll(t, src, connector.FetchRequest{SyncID: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if want := wantCounts(0, 0, 0); !slices.Equal(res.VendorCounts, want) || res.CountsUnavailable != "" {
		t.Errorf("vendor counts %+v (unavailable %q), want %+v", res.VendorCounts, res.CountsUnavailable, want)
	}
}

func TestFetchWithoutAggregationPermission(t *testing.T) {
	sim, url := newSimulator(t, 60)
	sim.SetFaults(inspector.Faults{DeniedOperation: "ListFindingAggregations"})
	src := newTestSource(t, settingsYAML(url))
	got, res, err := fetchAll(t, src, connector.FetchRequest{SyncID: "s"})
	if err != nil {
		t.Fatalf("Fetch failed for want of the counts: %v", err)
	}
	if want := len(simFindings(sim, testRegions...)); len(got) != want {
		t.Errorf("fetched %d findings, want all %d", len(got), want)
	}
	for _, sc := range res.Scopes {
		if sc.Outcome != model.OutcomeSucceeded {
			t.Errorf("scope %+v, want succeeded", sc)
		}
	}
	want := "AWS Inspector's finding totals could not be read: the connector's AWS principal may not call ListFindingAggregations in us-east-1 (AccessDeniedException); grant inspector2:ListFindingAggregations to the IAM user or role of the connector"
	if res.VendorCounts != nil || res.CountsUnavailable != want {
		t.Errorf("vendor counts %+v, unavailable %q; want none and %q", res.VendorCounts, res.CountsUnavailable, want)
	}
	// Not retried: one call per region, the first resource type's.
	if n := sim.ListFindingAggregationsRequests(); n != int64(len(testRegions)) {
		t.Errorf("%d ListFindingAggregations requests, want %d", n, len(testRegions))
	}
}

func TestFetchReadsNoCountsAfterAFailedRegion(t *testing.T) {
	sim, url := newSimulator(t, 60)
	sim.SetFaults(inspector.Faults{Region: "eu-west-1", ServerError: 100})
	src := newTestSource(t, settingsYAML(url))
	src.settings.MaxAttempts = 1
	res, _ := fetchErr(t, src)
	if scopeOf(res, "us-east-1").Outcome != model.OutcomeSucceeded || scopeOf(res, "eu-west-1").Outcome != model.OutcomeFailed {
		t.Fatalf("scopes %+v, want us-east-1 fetched and eu-west-1 failed", res.Scopes)
	}
	if res.VendorCounts != nil || !strings.Contains(res.CountsUnavailable, "a region failed to fetch") {
		t.Errorf("vendor counts %+v, unavailable %q; want none, because a region failed to fetch", res.VendorCounts, res.CountsUnavailable)
	}
	if n := sim.ListFindingAggregationsRequests(); n != 0 {
		t.Errorf("%d ListFindingAggregations requests, want none", n)
	}
}

// newAggregationStub serves the simulator, but with agg answering ListFindingAggregations
// (unchecked signatures): answers the simulator never gives.
func newAggregationStub(t *testing.T, agg http.HandlerFunc) string {
	t.Helper()
	sim, _ := newSimulator(t, 30)
	h := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/findings/aggregation/list") {
			agg(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeAWSError(w http.ResponseWriter, status int, errType string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-ErrorType", errType)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"message":"` + errType + `"}`))
}

func TestVendorCountsOfAWSAnswers(t *testing.T) {
	page := func(account string, all int, next string) string {
		b := `{"aggregationType":"ACCOUNT","responses":[{"accountAggregation":{"accountId":"` + account +
			`","severityCounts":{"all":` + strconv.Itoa(all) + `,"critical":1,"high":0,"medium":0},"exploitAvailableCount":0,"fixAvailableCount":0}}]`
		if next != "" {
			b += `,"nextToken":"` + next + `"`
		}
		return b + "}"
	}
	tests := []struct {
		name            string
		agg             http.HandlerFunc
		wantCounts      []model.VendorCount
		unavailableSays string
	}{
		{"accounts over two pages are summed", func(w http.ResponseWriter, r *http.Request) {
			var in struct{ NextToken string }
			_ = json.NewDecoder(r.Body).Decode(&in)
			w.Header().Set("Content-Type", "application/json")
			if in.NextToken == "" {
				_, _ = w.Write([]byte(page("111122223333", 5, "page-2")))
			} else {
				_, _ = w.Write([]byte(page("444455556666", 7, "")))
			}
		}, wantCounts(2*12, 2*12, 2*2*12), ""},
		{"no account", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"aggregationType":"ACCOUNT","responses":[]}`))
		}, wantCounts(0, 0, 0), ""},
		{"throttled beyond the retries", func(w http.ResponseWriter, _ *http.Request) {
			writeAWSError(w, http.StatusTooManyRequests, "ThrottlingException")
		}, nil, "AWS kept throttling ListFindingAggregations in us-east-1 after every retry (ThrottlingException); the next sync reads them again"},
		{"server errors beyond the retries", func(w http.ResponseWriter, _ *http.Request) {
			writeAWSError(w, http.StatusInternalServerError, "InternalServerException")
		}, nil, "with a server error after every retry (InternalServerException); this is on AWS's side"},
		{"the same nextToken twice", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(page("111122223333", 5, "again")))
		}, nil, "returned the same nextToken twice"},
		{"no severityCounts", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"aggregationType":"ACCOUNT","responses":[{"accountAggregation":{"accountId":"111122223333"}}]}`))
		}, nil, "without an account's severityCounts.all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newTestSource(t, settingsYAML(newAggregationStub(t, tt.agg)))
			src.settings.MaxAttempts = 2
			_, res, err := fetchAll(t, src, connector.FetchRequest{SyncID: "s"})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if !slices.Equal(res.VendorCounts, tt.wantCounts) {
				t.Errorf("vendor counts %+v, want %+v", res.VendorCounts, tt.wantCounts)
			}
			switch {
			case tt.unavailableSays == "" && res.CountsUnavailable != "":
				t.Errorf("unavailable %q, want none", res.CountsUnavailable)
			case tt.unavailableSays != "" && (!strings.Contains(res.CountsUnavailable, tt.unavailableSays) || !strings.HasPrefix(res.CountsUnavailable, countsLead)):
				t.Errorf("unavailable %q, want it to say %q", res.CountsUnavailable, tt.unavailableSays)
			}
			if strings.Contains(res.CountsUnavailable, testSecret) || strings.Contains(res.CountsUnavailable, testKeyID) {
				t.Errorf("unavailable leaks a credential: %q", res.CountsUnavailable)
			}
		})
	}
}

func TestVendorCountsWhenCancelled(t *testing.T) {
	_, url := newSimulator(t, 30)
	src := newTestSource(t, settingsYAML(url))
	if err := src.Initiate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	counts, unavailable := src.vendorCounts(ctx)
	if counts != nil || unavailable != countsLead+": the sync was cancelled while reading them" {
		t.Errorf("counts %+v, unavailable %q", counts, unavailable)
	}
}
