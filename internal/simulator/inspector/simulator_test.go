package inspector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"
	"github.com/aws/aws-sdk-go-v2/service/inspector2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/uuid"

	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

func TestPaginationReturnsDataset(t *testing.T) {
	tests := []struct {
		name       string
		cfg        inspector.Config
		maxResults *int32
		wantPage   int
	}{
		{"default cap 25, maxResults 100", inspector.Config{Seed: 1}, aws.Int32(100), 25},
		{"maxResults below cap", inspector.Config{Seed: 2, Findings: 130}, aws.Int32(10), 10},
		{"cap 100", inspector.Config{Seed: 3, Findings: 1000, PageCap: 100}, aws.Int32(100), 100},
		{"odd cap", inspector.Config{Seed: 4, Findings: 101, PageCap: 7}, aws.Int32(100), 7},
		{"no maxResults uses cap", inspector.Config{Seed: 5, Findings: 60}, nil, 25},
		{"three regions", inspector.Config{Seed: 6, Findings: 300, Regions: []string{"us-east-1", "eu-west-1", "ap-southeast-2"}}, aws.Int32(50), 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			regions := tt.cfg.Regions
			if len(regions) == 0 {
				regions = []string{"us-east-1"}
			}
			total := 0
			for _, region := range regions {
				e.reset()
				c := e.client(region, static(testKey, testSecret, ""), 1)
				got, sizes, err := listAll(context.Background(), c, &inspector2.ListFindingsInput{MaxResults: tt.maxResults})
				if err != nil {
					t.Fatalf("listing %s: %v", region, err)
				}
				want := e.sim.Findings(region)
				total += len(want)
				if len(got) != len(want) {
					t.Fatalf("%s: got %d findings, want %d", region, len(got), len(want))
				}
				for i, s := range sizes {
					if s > tt.wantPage {
						t.Errorf("%s page %d has %d findings, want at most %d", region, i, s, tt.wantPage)
					}
					if i < len(sizes)-1 && s != tt.wantPage {
						t.Errorf("%s page %d has %d findings, want a full page of %d", region, i, s, tt.wantPage)
					}
				}
				_, bodies, _ := e.recorded()
				served := pageFindings(t, bodies)
				for i := range want {
					if !bytes.Equal(served[i], want[i]) {
						t.Fatalf("%s finding %d served differs from Findings():\n%s\n%s", region, i, served[i], want[i])
					}
					if r := aws.ToString(got[i].Resources[0].Region); r != region {
						t.Errorf("finding %d has region %q, want %q", i, r, region)
					}
				}
				if last := bodies[len(bodies)-1]; bytes.Contains(last, []byte(`"nextToken"`)) {
					t.Errorf("%s: last page carries a nextToken", region)
				}
			}
			want := tt.cfg.Findings
			if want == 0 {
				want = inspector.DefaultFindings
			}
			if total != want {
				t.Errorf("total findings across regions %d, want %d", total, want)
			}
		})
	}
}

func TestUnconfiguredRegionIsEmpty(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 20})
	got, sizes, err := listAll(context.Background(), e.client("eu-central-1", static(testKey, testSecret, ""), 1), &inspector2.ListFindingsInput{})
	if err != nil || len(got) != 0 || len(sizes) != 1 {
		t.Fatalf("got %d findings in %d pages, err %v; want one empty page", len(got), len(sizes), err)
	}
}

func TestFilters(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 7, Findings: 800})
	all := decodeFindings(t, e.sim.Findings("us-east-1"))
	mid := all[len(all)/2].UpdatedAt // a real finding's updatedAt, milliseconds included
	start := time.UnixMilli(int64(mid*1000 + 0.5)).UTC()
	end := inspector.DefaultNow.Add(-24 * time.Hour)
	var someVuln, someARN1, someARN2 string
	for _, f := range all[20:] {
		if f.PackageVulnerabilityDetails != nil && someVuln == "" {
			someVuln = f.PackageVulnerabilityDetails.VulnerabilityID
		}
	}
	someARN1, someARN2 = all[3].FindingArn, all[400].FindingArn
	sf := func(cmp types.StringComparison, v string) types.StringFilter {
		return types.StringFilter{Comparison: cmp, Value: aws.String(v)}
	}
	ms := func(f float64) int64 { return int64(f*1000 + 0.5) }
	tests := []struct {
		name   string
		filter *types.FilterCriteria
		want   func(f wireFinding) bool
	}{
		{"status ACTIVE", &types.FilterCriteria{FindingStatus: []types.StringFilter{sf(types.StringComparisonEquals, "ACTIVE")}},
			func(f wireFinding) bool { return f.Status == "ACTIVE" }},
		{"status CLOSED or SUPPRESSED", &types.FilterCriteria{FindingStatus: []types.StringFilter{sf(types.StringComparisonEquals, "CLOSED"), sf(types.StringComparisonEquals, "SUPPRESSED")}},
			func(f wireFinding) bool { return f.Status == "CLOSED" || f.Status == "SUPPRESSED" }},
		{"resource type ECR", &types.FilterCriteria{ResourceType: []types.StringFilter{sf(types.StringComparisonEquals, "AWS_ECR_CONTAINER_IMAGE")}},
			func(f wireFinding) bool { return f.Resources[0].Type == "AWS_ECR_CONTAINER_IMAGE" }},
		{"resource type not EC2", &types.FilterCriteria{ResourceType: []types.StringFilter{sf(types.StringComparisonNotEquals, "AWS_EC2_INSTANCE")}},
			func(f wireFinding) bool { return f.Resources[0].Type != "AWS_EC2_INSTANCE" }},
		{"updatedAt window, inclusive start", &types.FilterCriteria{UpdatedAt: []types.DateFilter{{StartInclusive: aws.Time(start), EndInclusive: aws.Time(end)}}},
			func(f wireFinding) bool {
				return ms(f.UpdatedAt) >= start.UnixMilli() && ms(f.UpdatedAt) <= end.UnixMilli()
			}},
		{"updatedAt open end", &types.FilterCriteria{UpdatedAt: []types.DateFilter{{StartInclusive: aws.Time(start)}}},
			func(f wireFinding) bool { return ms(f.UpdatedAt) >= start.UnixMilli() }},
		{"active ECR high or critical", &types.FilterCriteria{
			FindingStatus: []types.StringFilter{sf(types.StringComparisonEquals, "ACTIVE")},
			ResourceType:  []types.StringFilter{sf(types.StringComparisonEquals, "AWS_ECR_CONTAINER_IMAGE")},
			Severity:      []types.StringFilter{sf(types.StringComparisonEquals, "HIGH"), sf(types.StringComparisonEquals, "CRITICAL")},
		}, func(f wireFinding) bool {
			return f.Status == "ACTIVE" && f.Resources[0].Type == "AWS_ECR_CONTAINER_IMAGE" && (f.Severity == "HIGH" || f.Severity == "CRITICAL")
		}},
		{"resourceId prefix", &types.FilterCriteria{ResourceId: []types.StringFilter{sf(types.StringComparisonPrefix, "arn:aws:lambda:")}},
			func(f wireFinding) bool { return strings.HasPrefix(f.Resources[0].ID, "arn:aws:lambda:") }},
		{"vulnerabilityId", &types.FilterCriteria{VulnerabilityId: []types.StringFilter{sf(types.StringComparisonEquals, someVuln)}},
			func(f wireFinding) bool {
				return f.PackageVulnerabilityDetails != nil && f.PackageVulnerabilityDetails.VulnerabilityID == someVuln
			}},
		{"findingArn", &types.FilterCriteria{FindingArn: []types.StringFilter{sf(types.StringComparisonEquals, someARN1), sf(types.StringComparisonEquals, someARN2)}},
			func(f wireFinding) bool { return f.FindingArn == someARN1 || f.FindingArn == someARN2 }},
		{"findingType network", &types.FilterCriteria{FindingType: []types.StringFilter{sf(types.StringComparisonEquals, "NETWORK_REACHABILITY")}},
			func(f wireFinding) bool { return f.Type == "NETWORK_REACHABILITY" }},
		{"inspectorScore 7.0 to 8.9", &types.FilterCriteria{InspectorScore: []types.NumberFilter{{LowerInclusive: aws.Float64(7), UpperInclusive: aws.Float64(8.9)}}},
			func(f wireFinding) bool {
				return f.InspectorScore != nil && *f.InspectorScore >= 7 && *f.InspectorScore <= 8.9
			}},
		{"firstObservedAt before", &types.FilterCriteria{FirstObservedAt: []types.DateFilter{{EndInclusive: aws.Time(inspector.DefaultNow.Add(-180 * 24 * time.Hour))}}},
			func(f wireFinding) bool {
				return ms(f.FirstObservedAt) <= inspector.DefaultNow.Add(-180*24*time.Hour).UnixMilli()
			}},
		{"resource tag", &types.FilterCriteria{ResourceTags: []types.MapFilter{{Comparison: types.MapComparisonEquals, Key: aws.String("Environment"), Value: aws.String("prod")}}},
			func(f wireFinding) bool { return f.Resources[0].Tags["Environment"] == "prod" }},
		{"account", &types.FilterCriteria{AwsAccountId: []types.StringFilter{sf(types.StringComparisonEquals, "111122223333")}},
			func(wireFinding) bool { return true }},
	}
	c := e.client("us-east-1", static(testKey, testSecret, ""), 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, f := range all {
				if tt.want(f) {
					want = append(want, f.FindingArn)
				}
			}
			if len(want) == 0 || len(want) == len(all) && tt.name != "account" {
				t.Fatalf("test data gives %d of %d findings; pick a filter that selects a proper subset", len(want), len(all))
			}
			got, _, err := listAll(context.Background(), c, &inspector2.ListFindingsInput{MaxResults: aws.Int32(100), FilterCriteria: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			if !sameStrings(arns(got), want) {
				t.Errorf("got %d findings, want %d (in findingArn order)", len(got), len(want))
			}
		})
	}
}

func TestSortCriteria(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 8, Findings: 300})
	c := e.client("us-east-1", static(testKey, testSecret, ""), 1)
	score := func(f types.Finding) float64 {
		if f.InspectorScore == nil {
			return -1
		}
		return *f.InspectorScore
	}
	tests := []struct {
		field types.SortField
		order types.SortOrder
		key   func(f types.Finding) float64
	}{
		{types.SortFieldLastObservedAt, types.SortOrderDesc, func(f types.Finding) float64 { return -float64(f.LastObservedAt.UnixMilli()) }},
		{types.SortFieldFirstObservedAt, types.SortOrderAsc, func(f types.Finding) float64 { return float64(f.FirstObservedAt.UnixMilli()) }},
		{types.SortFieldInspectorScore, types.SortOrderAsc, score},
		{types.SortFieldInspectorScore, types.SortOrderDesc, func(f types.Finding) float64 { return -score(f) }},
	}
	for _, tt := range tests {
		t.Run(string(tt.field)+"_"+string(tt.order), func(t *testing.T) {
			got, _, err := listAll(context.Background(), c, &inspector2.ListFindingsInput{
				MaxResults:   aws.Int32(40),
				SortCriteria: &types.SortCriteria{Field: tt.field, SortOrder: tt.order},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 300 {
				t.Fatalf("got %d findings, want 300", len(got))
			}
			for i := 1; i < len(got); i++ {
				if tt.key(got[i]) < tt.key(got[i-1]) {
					t.Fatalf("finding %d out of order", i)
				}
			}
			seen := map[string]bool{}
			for _, a := range arns(got) {
				if seen[a] {
					t.Fatalf("finding %s served twice", a)
				}
				seen[a] = true
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 20})
	tests := []struct {
		name     string
		creds    aws.CredentialsProvider
		wantCode string
	}{
		{"right credentials", static(testKey, testSecret, ""), ""},
		{"wrong secret", static(testKey, "not-the-secret", ""), "InvalidSignatureException"},
		{"unknown key", static("AKIAUNKNOWNKEY000000", testSecret, ""), "UnrecognizedClientException"},
		{"session token on a base key", static(testKey, testSecret, "IQoJb3JpZ2luX2VjEXAMPLE"), "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client("us-east-1", tt.creds, 1).ListFindings(context.Background(), &inspector2.ListFindingsInput{MaxResults: aws.Int32(5)})
			if got := apiCode(err); got != tt.wantCode {
				t.Fatalf("error code %q (%v), want %q", got, err, tt.wantCode)
			}
		})
	}
}

func TestAuthenticationWire(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 20})
	base := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	body := []byte(`{"maxResults":5}`)
	tests := []struct {
		name     string
		send     func() *http.Response
		status   int
		errType  string
		wantBody string
	}{
		{"missing authorization", func() *http.Response {
			resp, err := http.Post(e.srv.URL+"/findings/list", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}, 403, "MissingAuthenticationTokenException", `{"message":"Missing Authentication Token"}`},
		{"unknown key", func() *http.Response {
			return e.signedPost(t, "/findings/list", "application/json", body, aws.Credentials{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: "x"}, "us-east-1", "inspector2")
		}, 403, "UnrecognizedClientException", `{"message":"The security token included in the request is invalid."}`},
		{"wrong secret", func() *http.Response {
			return e.signedPost(t, "/findings/list", "application/json", body, aws.Credentials{AccessKeyID: testKey, SecretAccessKey: "wrong"}, "us-east-1", "inspector2")
		}, 403, "InvalidSignatureException", `{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}`},
		{"scoped to another service", func() *http.Response {
			return e.signedPost(t, "/findings/list", "application/json", body, base, "us-east-1", "sts")
		}, 403, "InvalidSignatureException", `{"message":"Credential should be scoped to correct service: 'inspector2'. "}`},
		{"right key", func() *http.Response {
			return e.signedPost(t, "/findings/list", "application/json", body, base, "us-east-1", "inspector2")
		}, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.send()
			got := readAll(t, resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, got)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if _, err := uuid.Parse(resp.Header.Get("X-Amzn-Requestid")); err != nil {
				t.Errorf("x-amzn-RequestId %q is not a uuid", resp.Header.Get("X-Amzn-Requestid"))
			}
			if et := resp.Header.Get("X-Amzn-Errortype"); et != tt.errType {
				t.Errorf("x-amzn-ErrorType %q, want %q", et, tt.errType)
			}
			if tt.wantBody != "" && string(got) != tt.wantBody {
				t.Errorf("body %s, want %s", got, tt.wantBody)
			}
		})
	}
}

func TestTamperedBodyFailsSignature(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 20})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/findings/list", nil)
	signed := e.signedPost(t, "/findings/list", "application/json", []byte(`{"maxResults":5}`), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, "us-east-1", "inspector2")
	readAll(t, signed.Body)
	// Replay the signature of that request on a different body.
	req.Header = signed.Request.Header.Clone()
	req.Body = io.NopCloser(strings.NewReader(`{"maxResults":6}`))
	req.ContentLength = 16
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if et := resp.Header.Get("X-Amzn-Errortype"); resp.StatusCode != 403 || et != "InvalidSignatureException" {
		t.Fatalf("status %d type %q, want 403 InvalidSignatureException", resp.StatusCode, et)
	}
}

func TestAssumeRole(t *testing.T) {
	tests := []struct {
		name       string
		cfg        inspector.Config
		role       string
		externalID *string
		wantCode   string
	}{
		{"right role and external id", inspector.Config{RoleARN: testRole, ExternalID: testExtID}, testRole, aws.String(testExtID), ""},
		{"wrong external id", inspector.Config{RoleARN: testRole, ExternalID: testExtID}, testRole, aws.String("ext-999"), "AccessDenied"},
		{"missing external id", inspector.Config{RoleARN: testRole, ExternalID: testExtID}, testRole, nil, "AccessDenied"},
		{"wrong role", inspector.Config{RoleARN: testRole, ExternalID: testExtID}, "arn:aws:iam::111122223333:role/Other", aws.String(testExtID), "AccessDenied"},
		{"no external id required", inspector.Config{RoleARN: testRole}, testRole, nil, ""},
		{"any role when none configured", inspector.Config{}, "arn:aws:iam::444455556666:role/path/Reader", aws.String("whatever"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Seed, tt.cfg.Findings = 3, 40
			e := newEnv(t, tt.cfg)
			provider := stscreds.NewAssumeRoleProvider(e.stsClient(static(testKey, testSecret, "")), tt.role, func(o *stscreds.AssumeRoleOptions) {
				o.ExternalID = tt.externalID
				o.RoleSessionName = "sync"
			})
			creds := aws.NewCredentialsCache(provider)
			got, _, err := listAll(context.Background(), e.client("us-east-1", creds, 1), &inspector2.ListFindingsInput{MaxResults: aws.Int32(100)})
			if code := apiCode(err); code != tt.wantCode {
				t.Fatalf("error code %q (%v), want %q", code, err, tt.wantCode)
			}
			if tt.wantCode != "" {
				return
			}
			if len(got) != 40 {
				t.Errorf("got %d findings with session credentials, want 40", len(got))
			}
			c, err := creds.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(c.AccessKeyID, "ASIA") || c.SessionToken == "" || !c.CanExpire {
				t.Errorf("session credentials look wrong: key %q, token %d chars, expires %v", c.AccessKeyID, len(c.SessionToken), c.CanExpire)
			}
			if d := time.Until(c.Expires); d < 14*time.Minute || d > 16*time.Minute {
				t.Errorf("session expires in %v, want the SDK's 15 minute default", d)
			}
			id, err := e.stsClient(creds).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			roleName := tt.role[strings.LastIndexByte(tt.role, '/')+1:]
			if arn := aws.ToString(id.Arn); !strings.HasSuffix(arn, ":assumed-role/"+roleName+"/sync") {
				t.Errorf("caller identity %q is not the assumed role", arn)
			}
			// The session key is accepted only with its own token.
			_, err = e.client("us-east-1", static(c.AccessKeyID, c.SecretAccessKey, "IQoJb3JpZ2luX2VjTAMPERED"), 1).
				ListFindings(context.Background(), &inspector2.ListFindingsInput{})
			if code := apiCode(err); code != "UnrecognizedClientException" {
				t.Errorf("tampered session token: code %q, want UnrecognizedClientException", code)
			}
		})
	}
}

func TestSTSWire(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 10, RoleARN: testRole, ExternalID: testExtID})
	base := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	form := func(kv ...string) []byte {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return []byte(v.Encode())
	}
	tests := []struct {
		name     string
		body     []byte
		creds    aws.Credentials
		status   int
		contains []string
	}{
		{"assume role", form("Action", "AssumeRole", "Version", "2011-06-15", "RoleArn", testRole, "RoleSessionName", "sync", "ExternalId", testExtID, "DurationSeconds", "900"), base, 200,
			[]string{`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`, "<AccessKeyId>ASIA", "<SessionToken>IQoJb3JpZ2luX2Vj", "<Arn>arn:aws:sts::111122223333:assumed-role/InspectorReadOnly/sync</Arn>", "<RequestId>"}},
		{"wrong external id", form("Action", "AssumeRole", "Version", "2011-06-15", "RoleArn", testRole, "RoleSessionName", "sync", "ExternalId", "nope-1"), base, 403,
			[]string{"<ErrorResponse", "<Type>Sender</Type>", "<Code>AccessDenied</Code>", "is not authorized to perform: sts:AssumeRole on resource: " + testRole}},
		{"unknown action", form("Action", "DecodeAuthorizationMessage", "Version", "2011-06-15"), base, 400,
			[]string{"<Code>InvalidAction</Code>"}},
		{"missing session name", form("Action", "AssumeRole", "Version", "2011-06-15", "RoleArn", testRole), base, 400,
			[]string{"<Code>ValidationError</Code>", "roleSessionName"}},
		{"unknown key", form("Action", "AssumeRole", "Version", "2011-06-15"), aws.Credentials{AccessKeyID: "AKIAOTHER", SecretAccessKey: "x"}, 403,
			[]string{"<Code>InvalidClientTokenId</Code>"}},
		{"wrong secret", form("Action", "AssumeRole", "Version", "2011-06-15"), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: "x"}, 403,
			[]string{"<Code>SignatureDoesNotMatch</Code>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.signedPost(t, "/", "application/x-www-form-urlencoded", tt.body, tt.creds, "us-east-1", "sts")
			got := string(readAll(t, resp.Body))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d:\n%s", resp.StatusCode, tt.status, got)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
				t.Errorf("Content-Type %q, want text/xml", ct)
			}
			for _, s := range tt.contains {
				if !strings.Contains(got, s) {
					t.Errorf("response lacks %q:\n%s", s, got)
				}
			}
		})
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name        string
		faults      inspector.Faults
		maxAttempts int
		wantCode    string
		check       func(t *testing.T, err error, statuses []int, headers []http.Header)
	}{
		{"throttle is retried", inspector.Faults{Throttle: 2, RetryAfter: 1}, 3, "", func(t *testing.T, _ error, statuses []int, headers []http.Header) {
			if n := count(statuses, 429); n != 2 {
				t.Errorf("%d throttled responses, want 2", n)
			}
			if ra := headers[0].Get("Retry-After"); ra != "1" {
				t.Errorf("Retry-After %q, want 1", ra)
			}
		}},
		{"throttle surfaces RetryAfterSeconds", inspector.Faults{Throttle: 1, RetryAfter: 7}, 1, "ThrottlingException", func(t *testing.T, err error, _ []int, _ []http.Header) {
			var te *types.ThrottlingException
			if !errors.As(err, &te) || aws.ToInt32(te.RetryAfterSeconds) != 7 {
				t.Errorf("want *types.ThrottlingException with RetryAfterSeconds 7, got %v", err)
			}
		}},
		{"server error is retried", inspector.Faults{ServerError: 1}, 3, "", func(t *testing.T, _ error, statuses []int, _ []http.Header) {
			if n := count(statuses, 500); n != 1 {
				t.Errorf("%d server errors, want 1", n)
			}
		}},
		{"server errors exhaust retries", inspector.Faults{ServerError: 5}, 2, "InternalServerException", func(t *testing.T, err error, _ []int, _ []http.Header) {
			var ie *types.InternalServerException
			if !errors.As(err, &ie) {
				t.Errorf("want *types.InternalServerException, got %T", err)
			}
		}},
		{"faults of another region do not apply", inspector.Faults{Region: "eu-west-1", ServerError: 5}, 1, "", func(t *testing.T, _ error, statuses []int, _ []http.Header) {
			if n := count(statuses, 500); n != 0 {
				t.Errorf("%d server errors in us-east-1, want none", n)
			}
		}},
		{"After lets the first page through, then fails", inspector.Faults{After: 1, ServerError: 5}, 1, "InternalServerException", func(t *testing.T, _ error, statuses []int, _ []http.Header) {
			if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 500 {
				t.Errorf("statuses %v, want the first page, then a server error", statuses)
			}
		}},
		{"access denied", inspector.Faults{AccessDenied: true}, 3, "AccessDeniedException", func(t *testing.T, err error, statuses []int, headers []http.Header) {
			if len(statuses) != 1 || statuses[0] != 403 {
				t.Errorf("statuses %v, want a single 403 (not retried)", statuses)
			}
			if et := headers[0].Get("X-Amzn-Errortype"); et != "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/" {
				t.Errorf("x-amzn-ErrorType %q", et)
			}
			if !strings.Contains(err.Error(), "is not authorized to perform: inspector2:ListFindings") {
				t.Errorf("message does not name inspector2:ListFindings: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, inspector.Config{Seed: 9, Findings: 60})
			e.sim.SetFaults(tt.faults)
			got, _, err := listAll(context.Background(), e.client("us-east-1", static(testKey, testSecret, ""), tt.maxAttempts), &inspector2.ListFindingsInput{MaxResults: aws.Int32(100)})
			if code := apiCode(err); code != tt.wantCode {
				t.Fatalf("error code %q (%v), want %q", code, err, tt.wantCode)
			}
			if tt.wantCode == "" && len(got) != 60 {
				t.Errorf("got %d findings after recovering, want 60", len(got))
			}
			statuses, _, headers := e.recorded()
			tt.check(t, err, statuses, headers)
		})
	}
}

func TestTruncatedPage(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 30})
	e.sim.SetFaults(inspector.Faults{Throttle: 1, TruncatedPage: 1})
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	list := func() (*http.Response, []byte) {
		resp := e.signedPost(t, "/findings/list", "application/json", []byte(`{"maxResults":10}`), creds, "us-east-1", "inspector2")
		return resp, readAll(t, resp.Body)
	}
	// The throttle comes first: a truncation is drawn only by a page that would succeed.
	if resp, _ := list(); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("first request: status %d, want 429", resp.StatusCode)
	}
	resp, body := list()
	if resp.StatusCode != http.StatusOK || json.Valid(body) || resp.ContentLength != int64(len(body)) || !bytes.HasPrefix(body, []byte(`{"findings":[`)) {
		t.Errorf("truncated page: status %d, Content-Length %d, %d bytes, valid JSON %t; want a 200 that is not valid JSON, of its declared length:\n%.200s",
			resp.StatusCode, resp.ContentLength, len(body), json.Valid(body), body)
	}
	if resp, body := list(); resp.StatusCode != http.StatusOK || !json.Valid(body) {
		t.Errorf("after the truncated page: status %d, valid JSON %t; want a whole page", resp.StatusCode, json.Valid(body))
	}
}

func TestListFindingsRequestsAreCounted(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 10}) // one page
	if n := e.sim.ListFindingsRequests(); n != 0 {
		t.Fatalf("%d requests before any, want 0", n)
	}
	e.sim.SetFaults(inspector.Faults{ServerError: 2})
	if _, _, err := listAll(context.Background(), e.client("us-east-1", static(testKey, testSecret, ""), 3), &inspector2.ListFindingsInput{}); err != nil {
		t.Fatal(err)
	}
	resp := e.signedPost(t, "/findings/list", "application/json", []byte(`{}`), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: "wrong"}, "us-east-1", "inspector2")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong secret: status %d, want 403", resp.StatusCode)
	}
	statuses, _, _ := e.recorded()
	// Two server errors, the retry that succeeds, and the refused signature.
	if n := e.sim.ListFindingsRequests(); n != 4 || len(statuses) != 4 {
		t.Errorf("simulator counted %d requests, the server saw %d (%v); want 4", n, len(statuses), statuses)
	}
}

func TestPageDelay(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 10})
	e.sim.SetFaults(inspector.Faults{PageDelay: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.client("us-east-1", static(testKey, testSecret, ""), 1).ListFindings(ctx, &inspector2.ListFindingsInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the slow page to hit the client deadline, got %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 10, MaxRPS: 0.01})
	c := e.client("us-east-1", static(testKey, testSecret, ""), 1)
	if _, err := c.ListFindings(context.Background(), &inspector2.ListFindingsInput{}); err != nil {
		t.Fatalf("first request: %v", err)
	}
	_, err := c.ListFindings(context.Background(), &inspector2.ListFindingsInput{})
	if code := apiCode(err); code != "ThrottlingException" {
		t.Fatalf("second request: code %q, want ThrottlingException", code)
	}
}

func TestValidation(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 80})
	c := e.client("us-east-1", static(testKey, testSecret, ""), 1)
	active := []types.StringFilter{{Comparison: types.StringComparisonEquals, Value: aws.String("ACTIVE")}}
	first, err := c.ListFindings(context.Background(), &inspector2.ListFindingsInput{MaxResults: aws.Int32(5), FilterCriteria: &types.FilterCriteria{FindingStatus: active}})
	if err != nil || first.NextToken == nil {
		t.Fatalf("first page: %v", err)
	}
	tests := []struct {
		name      string
		in        *inspector2.ListFindingsInput
		wantField string
	}{
		{"maxResults above 100", &inspector2.ListFindingsInput{MaxResults: aws.Int32(500)}, "maxResults"},
		{"maxResults 0", &inspector2.ListFindingsInput{MaxResults: aws.Int32(0)}, "maxResults"},
		{"empty filter list", &inspector2.ListFindingsInput{FilterCriteria: &types.FilterCriteria{FindingStatus: []types.StringFilter{}}}, "filterCriteria.findingStatus"},
		{"eleven filters", &inspector2.ListFindingsInput{FilterCriteria: &types.FilterCriteria{Severity: slices.Repeat([]types.StringFilter{{Comparison: types.StringComparisonEquals, Value: aws.String("HIGH")}}, 11)}}, "filterCriteria.severity"},
		{"unknown comparison", &inspector2.ListFindingsInput{FilterCriteria: &types.FilterCriteria{FindingStatus: []types.StringFilter{{Comparison: "LIKE", Value: aws.String("ACTIVE")}}}}, "filterCriteria.findingStatus.1.member.comparison"},
		{"empty value", &inspector2.ListFindingsInput{FilterCriteria: &types.FilterCriteria{FindingStatus: []types.StringFilter{{Comparison: types.StringComparisonEquals, Value: aws.String("")}}}}, "filterCriteria.findingStatus.1.member.value"},
		{"garbage nextToken", &inspector2.ListFindingsInput{NextToken: aws.String("not-a-token")}, "nextToken"},
		{"nextToken of another filter", &inspector2.ListFindingsInput{MaxResults: aws.Int32(5), NextToken: first.NextToken}, "nextToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ListFindings(context.Background(), tt.in)
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Fatalf("want *types.ValidationException, got %v", err)
			}
			if ve.Reason != types.ValidationExceptionReasonFieldValidationFailed {
				t.Errorf("reason %q", ve.Reason)
			}
			if len(ve.Fields) == 0 || aws.ToString(ve.Fields[0].Name) != tt.wantField {
				t.Errorf("fields %+v, want %s", ve.Fields, tt.wantField)
			}
		})
	}
	t.Run("body that is not JSON", func(t *testing.T) {
		resp := e.signedPost(t, "/findings/list", "application/json", []byte(`{"maxResults":`), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, "us-east-1", "inspector2")
		var body struct{ Reason string }
		_ = json.Unmarshal(readAll(t, resp.Body), &body)
		if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-Errortype") != "ValidationException" || body.Reason != "CANNOT_PARSE" {
			t.Errorf("status %d type %q reason %q, want 400 ValidationException CANNOT_PARSE", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), body.Reason)
		}
	})
}

func TestControlEndpoints(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 1, Findings: 10})
	resp, err := http.Get(e.srv.URL + "/_simulator/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	post := func(body string) *http.Response {
		resp, err := http.Post(e.srv.URL+"/_simulator/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := post(`{"throttle":1,"retry_after":3,"page_delay_ms":5,"malformed":2,"truncated_page":4}`); resp.StatusCode != 200 {
		t.Fatalf("posting faults: status %d", resp.StatusCode)
	}
	resp, err = http.Get(e.srv.URL + "/_simulator/faults")
	if err != nil {
		t.Fatal(err)
	}
	var f inspector.Faults
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := inspector.Faults{Throttle: 1, RetryAfter: 3, PageDelay: 5 * time.Millisecond, Malformed: 2, TruncatedPage: 4}
	if f != want {
		t.Errorf("faults %+v, want %+v", f, want)
	}
	_, err = e.client("us-east-1", static(testKey, testSecret, ""), 1).ListFindings(context.Background(), &inspector2.ListFindingsInput{})
	var te *types.ThrottlingException
	if !errors.As(err, &te) || aws.ToInt32(te.RetryAfterSeconds) != 3 {
		t.Errorf("want ThrottlingException with RetryAfterSeconds 3, got %v", err)
	}
	if resp := post(`{"throttel":1}`); resp.StatusCode != 400 {
		t.Errorf("unknown key: status %d, want 400", resp.StatusCode)
	}
	b, _ := json.Marshal(inspector.Faults{PageDelay: 1500 * time.Millisecond, AccessDenied: true})
	if !strings.Contains(string(b), `"page_delay_ms":1500`) || !strings.Contains(string(b), `"access_denied":true`) {
		t.Errorf("Faults JSON %s", b)
	}
}

func count(xs []int, v int) int {
	n := 0
	for _, x := range xs {
		if x == v {
			n++
		}
	}
	return n
}

func TestConcurrentClients(t *testing.T) {
	regions := []string{"us-east-1", "eu-west-1", "ap-northeast-1"}
	e := newEnv(t, inspector.Config{Seed: 12, Findings: 900, Regions: regions})
	done := make(chan struct{})
	go func() { // faults change under the clients' feet; the retryer absorbs them
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			e.sim.SetFaults(inspector.Faults{Throttle: i % 2, PageDelay: time.Duration(i%3) * time.Millisecond})
			time.Sleep(2 * time.Millisecond)
		}
	}()
	errs := make(chan error, 2*len(regions))
	for _, r := range regions {
		for _, sc := range []*types.SortCriteria{nil, {Field: types.SortFieldSeverity, SortOrder: types.SortOrderDesc}} {
			go func() {
				got, _, err := listAll(context.Background(), e.client(r, static(testKey, testSecret, ""), 10), &inspector2.ListFindingsInput{MaxResults: aws.Int32(100), SortCriteria: sc})
				if err == nil && len(got) != len(e.sim.Findings(r)) {
					err = errors.New(r + ": incomplete listing")
				}
				errs <- err
			}()
		}
	}
	for range 2 * len(regions) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(done)
}
