package inspector_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"
	"github.com/aws/aws-sdk-go-v2/service/inspector2/types"

	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

var aggResourceTypes = []types.AggregationResourceType{
	types.AggregationResourceTypeAwsEc2Instance, types.AggregationResourceTypeAwsEcrContainerImage,
	types.AggregationResourceTypeAwsLambdaFunction, types.AggregationResourceTypeCodeRepository,
}

// accountTotals are the counts of one accountAggregation response.
type accountTotals struct {
	account                        string
	all, critical, high, medium    int64
	exploitAvailable, fixAvailable int64
}

// wantTotals counts the ACTIVE findings of a region's dataset of a resource type and
// finding type ("" for any).
func wantTotals(t testing.TB, sim *inspector.Simulator, region, resourceType, findingType string) accountTotals {
	t.Helper()
	var w accountTotals
	for _, f := range decodeFindings(t, sim.Findings(region)) {
		if f.Status != "ACTIVE" || resourceType != "" && f.Resources[0].Type != resourceType || findingType != "" && f.Type != findingType {
			continue
		}
		w.account = f.AwsAccountID
		w.all++
		switch f.Severity {
		case "CRITICAL":
			w.critical++
		case "HIGH":
			w.high++
		case "MEDIUM":
			w.medium++
		}
		if f.ExploitAvailable == "YES" {
			w.exploitAvailable++
		}
		if f.FixAvailable == "YES" || f.FixAvailable == "PARTIAL" {
			w.fixAvailable++
		}
	}
	return w
}

// aggregate pages through an ACCOUNT aggregation and returns its responses by account.
func aggregate(ctx context.Context, c *inspector2.Client, acc *types.AccountAggregation) (map[string]accountTotals, error) {
	in := &inspector2.ListFindingAggregationsInput{AggregationType: types.AggregationTypeAccount}
	if acc != nil {
		in.AggregationRequest = &types.AggregationRequestMemberAccountAggregation{Value: *acc}
	}
	out := map[string]accountTotals{}
	p := inspector2.NewListFindingAggregationsPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		if page.AggregationType != types.AggregationTypeAccount {
			return nil, errors.New("aggregationType " + string(page.AggregationType) + ", want ACCOUNT")
		}
		for _, r := range page.Responses {
			m, ok := r.(*types.AggregationResponseMemberAccountAggregation)
			if !ok {
				return nil, errors.New("a response that is not an accountAggregation")
			}
			v, sc := m.Value, m.Value.SeverityCounts
			if sc == nil {
				return nil, errors.New("a response without severityCounts")
			}
			id := aws.ToString(v.AccountId)
			out[id] = accountTotals{
				account: id, all: aws.ToInt64(sc.All), critical: aws.ToInt64(sc.Critical), high: aws.ToInt64(sc.High), medium: aws.ToInt64(sc.Medium),
				exploitAvailable: aws.ToInt64(v.ExploitAvailableCount), fixAvailable: aws.ToInt64(v.FixAvailableCount),
			}
		}
	}
	return out, nil
}

// checkAggregations compares every ACCOUNT aggregation of every region, by resource
// type, with the ACTIVE findings the simulator serves.
func checkAggregations(t *testing.T, e *env, regions []string) {
	t.Helper()
	ctx := context.Background()
	for _, region := range regions {
		c := e.client(region, static(testKey, testSecret, ""), 1)
		for _, rt := range aggResourceTypes {
			got, err := aggregate(ctx, c, &types.AccountAggregation{ResourceType: rt})
			if err != nil {
				t.Fatalf("%s %s: %v", region, rt, err)
			}
			want := wantTotals(t, e.sim, region, string(rt), "")
			switch {
			case want.all == 0 && len(got) != 0:
				t.Errorf("%s %s: responses %+v, want none (no ACTIVE finding)", region, rt, got)
			case want.all > 0 && (len(got) != 1 || got[want.account] != want):
				t.Errorf("%s %s: responses %+v, want %+v", region, rt, got, want)
			}
		}
	}
}

func TestListFindingAggregationsCountsActiveFindings(t *testing.T) {
	regions := []string{"us-east-1", "eu-west-1"}
	e := newEnv(t, inspector.Config{Seed: 21, Findings: 600, Regions: regions})
	for _, region := range regions {
		for _, rt := range []string{"AWS_EC2_INSTANCE", "AWS_ECR_CONTAINER_IMAGE", "AWS_LAMBDA_FUNCTION"} {
			if w := wantTotals(t, e.sim, region, rt, ""); w.all == 0 || w.all == int64(len(e.sim.Findings(region))) {
				t.Fatalf("%s %s: %d ACTIVE findings; the test needs some, and some not ACTIVE", region, rt, w.all)
			}
		}
	}
	checkAggregations(t, e, append(regions, "ap-south-1")) // a region with no findings has no response

	t.Run("without a resource type, by finding type", func(t *testing.T) {
		c := e.client("us-east-1", static(testKey, testSecret, ""), 1)
		for _, ft := range []types.AggregationFindingType{"", types.AggregationFindingTypePackageVulnerability, types.AggregationFindingTypeNetworkReachability} {
			got, err := aggregate(context.Background(), c, &types.AccountAggregation{FindingType: ft, SortBy: types.AccountSortByAll, SortOrder: types.SortOrderDesc})
			if err != nil {
				t.Fatal(err)
			}
			if want := wantTotals(t, e.sim, "us-east-1", "", string(ft)); len(got) != 1 || got[want.account] != want {
				t.Errorf("finding type %q: %+v, want %+v", ft, got, want)
			}
		}
		got, err := aggregate(context.Background(), c, nil) // no aggregationRequest at all
		if want := wantTotals(t, e.sim, "us-east-1", "", ""); err != nil || got[want.account] != want {
			t.Errorf("no aggregationRequest: %+v (%v), want %+v", got, err, want)
		}
	})

	t.Run("after Mutate", func(t *testing.T) {
		snap := takeSnapshot(t, e.sim)
		active := snap.pick(30, hasStatus("ACTIVE"))
		closed := snap.pick(2, hasStatus("CLOSED"))
		if err := e.sim.Mutate(inspector.Mutation{
			Close: active[:10], Suppress: active[10:20], Remove: active[20:25], Reopen: closed, Add: 7,
			Rescore: map[string]float64{active[25]: 9.8, active[26]: 0.5},
		}); err != nil {
			t.Fatal(err)
		}
		checkAggregations(t, e, regions)
	})

	t.Run("accountIds", func(t *testing.T) {
		c := e.client("us-east-1", static(testKey, testSecret, ""), 1)
		for _, tc := range []struct {
			filter types.StringFilter
			want   int
		}{
			{types.StringFilter{Comparison: types.StringComparisonEquals, Value: aws.String(inspector.DefaultAccountID)}, 1},
			{types.StringFilter{Comparison: types.StringComparisonNotEquals, Value: aws.String(inspector.DefaultAccountID)}, 0},
			{types.StringFilter{Comparison: types.StringComparisonEquals, Value: aws.String("444455556666")}, 0},
		} {
			out, err := c.ListFindingAggregations(context.Background(), &inspector2.ListFindingAggregationsInput{
				AggregationType: types.AggregationTypeAccount, AccountIds: []types.StringFilter{tc.filter},
			})
			if err != nil || len(out.Responses) != tc.want {
				t.Errorf("accountIds %s %s: %v, %d responses; want %d", tc.filter.Comparison, aws.ToString(tc.filter.Value), err, len(out.Responses), tc.want)
			}
		}
	})
}

// TestListFindingAggregationsWire checks the raw JSON of a response, member by member.
func TestListFindingAggregationsWire(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 22, Findings: 100})
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	resp := e.signedPost(t, "/findings/aggregation/list", "application/json",
		[]byte(`{"aggregationType":"ACCOUNT","aggregationRequest":{"accountAggregation":{"resourceType":"AWS_EC2_INSTANCE"}}}`), creds, "us-east-1", "inspector2")
	body := readAll(t, resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Fatalf("status %d, headers %v: %s", resp.StatusCode, resp.Header, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	w := wantTotals(t, e.sim, "us-east-1", "AWS_EC2_INSTANCE", "")
	want := map[string]any{
		"aggregationType": "ACCOUNT",
		"responses": []any{map[string]any{"accountAggregation": map[string]any{
			"accountId":             inspector.DefaultAccountID,
			"exploitAvailableCount": float64(w.exploitAvailable),
			"fixAvailableCount":     float64(w.fixAvailable),
			"severityCounts": map[string]any{
				"all": float64(w.all), "critical": float64(w.critical), "high": float64(w.high), "medium": float64(w.medium),
			},
		}}},
	}
	g, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(g) != string(wb) {
		t.Errorf("response\n got %s\nwant %s", g, wb)
	}
}

func TestListFindingAggregationsValidation(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 23, Findings: 50})
	c := e.client("us-east-1", static(testKey, testSecret, ""), 1)
	account := func(a types.AccountAggregation) types.AggregationRequest {
		return &types.AggregationRequestMemberAccountAggregation{Value: a}
	}
	tests := []struct {
		name      string
		in        *inspector2.ListFindingAggregationsInput
		wantField string
	}{
		{"AMI aggregation", &inspector2.ListFindingAggregationsInput{AggregationType: types.AggregationTypeAmi}, "aggregationType"},
		{"FINDING_TYPE aggregation", &inspector2.ListFindingAggregationsInput{AggregationType: types.AggregationTypeFindingType}, "aggregationType"},
		{"unknown aggregation type", &inspector2.ListFindingAggregationsInput{AggregationType: "BY_MOOD"}, "aggregationType"},
		{"request of another type", &inspector2.ListFindingAggregationsInput{AggregationType: types.AggregationTypeAccount,
			AggregationRequest: &types.AggregationRequestMemberAmiAggregation{}}, "aggregationRequest.amiAggregation"},
		{"unknown resource type", &inspector2.ListFindingAggregationsInput{AggregationType: types.AggregationTypeAccount,
			AggregationRequest: account(types.AccountAggregation{ResourceType: "AWS_S3_BUCKET"})}, "aggregationRequest.accountAggregation.resourceType"},
		{"maxResults 0", &inspector2.ListFindingAggregationsInput{AggregationType: types.AggregationTypeAccount, MaxResults: aws.Int32(0)}, "maxResults"},
		{"garbage nextToken", &inspector2.ListFindingAggregationsInput{AggregationType: types.AggregationTypeAccount, NextToken: aws.String("not-a-token")}, "nextToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ListFindingAggregations(context.Background(), tt.in)
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Fatalf("want *types.ValidationException, got %v", err)
			}
			if ve.Reason != types.ValidationExceptionReasonFieldValidationFailed || len(ve.Fields) == 0 || aws.ToString(ve.Fields[0].Name) != tt.wantField {
				t.Errorf("reason %q, fields %+v; want FIELD_VALIDATION_FAILED on %s", ve.Reason, ve.Fields, tt.wantField)
			}
		})
	}
}

func TestListFindingAggregationsFaults(t *testing.T) {
	ctx := context.Background()
	ec2 := &types.AccountAggregation{ResourceType: types.AggregationResourceTypeAwsEc2Instance}
	t.Run("ListFindings faults leave it alone", func(t *testing.T) {
		e := newEnv(t, inspector.Config{Seed: 24, Findings: 40})
		c := e.client("us-east-1", static(testKey, testSecret, ""), 1)
		e.sim.SetFaults(inspector.Faults{AccessDenied: true, Throttle: 5, ServerError: 5, TruncatedPage: 5, DeniedOperation: "ListFindings"})
		if _, err := aggregate(ctx, c, ec2); err != nil {
			t.Errorf("aggregation under ListFindings faults: %v", err)
		}
		if _, err := c.ListFindings(ctx, &inspector2.ListFindingsInput{}); apiCode(err) != "AccessDeniedException" {
			t.Errorf("ListFindings: %v, want AccessDeniedException", err)
		}
	})
	t.Run("DeniedOperation ListFindingAggregations", func(t *testing.T) {
		e := newEnv(t, inspector.Config{Seed: 24, Findings: 40})
		c := e.client("eu-west-1", static(testKey, testSecret, ""), 3)
		e.sim.SetFaults(inspector.Faults{DeniedOperation: "ListFindingAggregations"})
		_, err := c.ListFindingAggregations(ctx, &inspector2.ListFindingAggregationsInput{AggregationType: types.AggregationTypeAccount})
		if apiCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "is not authorized to perform: inspector2:ListFindingAggregations on resource: arn:aws:inspector2:eu-west-1:") {
			t.Errorf("got %v, want AccessDeniedException naming inspector2:ListFindingAggregations", err)
		}
		if n := e.sim.ListFindingAggregationsRequests(); n != 1 {
			t.Errorf("%d requests, want 1: an AccessDeniedException is not retried", n)
		}
		if _, _, err := listAll(ctx, c, &inspector2.ListFindingsInput{}); err != nil {
			t.Errorf("ListFindings with only aggregation denied: %v", err)
		}
		resp := e.signedPost(t, "/findings/aggregation/list", "application/json", []byte(`{"aggregationType":"ACCOUNT"}`),
			aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, "eu-west-1", "inspector2")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-Errortype") != "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/" {
			t.Errorf("status %d, x-amzn-ErrorType %q; want 403 AccessDeniedException", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"))
		}
	})
	t.Run("control endpoint", func(t *testing.T) {
		e := newEnv(t, inspector.Config{Seed: 24, Findings: 40})
		resp, err := http.Post(e.srv.URL+"/_simulator/faults", "application/json", strings.NewReader(`{"denied_operation":"ListFindingAggregations"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("posting faults: status %d", resp.StatusCode)
		}
		_, err = aggregate(ctx, e.client("us-east-1", static(testKey, testSecret, ""), 1), ec2)
		if apiCode(err) != "AccessDeniedException" {
			t.Errorf("got %v, want AccessDeniedException", err)
		}
	})
	t.Run("own rate limit", func(t *testing.T) {
		e := newEnv(t, inspector.Config{Seed: 24, Findings: 10, MaxRPS: 0.01})
		c := e.client("us-east-1", static(testKey, testSecret, ""), 1)
		if _, err := c.ListFindings(ctx, &inspector2.ListFindingsInput{}); err != nil {
			t.Fatalf("ListFindings: %v", err)
		}
		if _, err := aggregate(ctx, c, ec2); err != nil {
			t.Fatalf("first aggregation, after a ListFindings: %v", err)
		}
		if _, err := aggregate(ctx, c, ec2); apiCode(err) != "ThrottlingException" {
			t.Fatalf("second aggregation: %v, want ThrottlingException", err)
		}
	})
	t.Run("signature checked", func(t *testing.T) {
		e := newEnv(t, inspector.Config{Seed: 24, Findings: 10})
		_, err := aggregate(ctx, e.client("us-east-1", static(testKey, "wrong", ""), 1), ec2)
		if apiCode(err) != "InvalidSignatureException" {
			t.Fatalf("got %v, want InvalidSignatureException", err)
		}
	})
}
