package inspector_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"

	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

func TestDeterminism(t *testing.T) {
	regions := []string{"us-east-1", "eu-west-1"}
	gen := func(seed int64, now time.Time) map[string][]json.RawMessage {
		s, err := inspector.New(inspector.Config{Seed: seed, Findings: 500, Regions: regions, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]json.RawMessage{}
		for _, r := range regions {
			out[r] = s.Findings(r)
		}
		return out
	}
	equal := func(a, b map[string][]json.RawMessage) bool {
		for _, r := range regions {
			if len(a[r]) != len(b[r]) {
				return false
			}
			for i := range a[r] {
				if !bytes.Equal(a[r][i], b[r][i]) {
					return false
				}
			}
		}
		return true
	}
	base := gen(42, time.Time{})
	tests := []struct {
		name  string
		other map[string][]json.RawMessage
		same  bool
	}{
		{"same seed", gen(42, time.Time{}), true},
		{"same seed, explicit default now", gen(42, inspector.DefaultNow), true},
		{"different seed", gen(43, time.Time{}), false},
		{"different now", gen(42, inspector.DefaultNow.AddDate(0, 1, 0)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := equal(base, tt.other); got != tt.same {
				t.Errorf("datasets identical: %v, want %v", got, tt.same)
			}
		})
	}
}

func TestEdgeCases(t *testing.T) {
	tests := []struct {
		score    *float64
		severity string
		status   string
		resource string
	}{
		{ptr(0), "INFORMATIONAL", "ACTIVE", "AWS_EC2_INSTANCE"},
		{ptr(0.1), "LOW", "ACTIVE", "AWS_ECR_CONTAINER_IMAGE"},
		{ptr(3.9), "LOW", "ACTIVE", "AWS_LAMBDA_FUNCTION"},
		{ptr(4.0), "MEDIUM", "ACTIVE", "AWS_EC2_INSTANCE"},
		{ptr(6.9), "MEDIUM", "ACTIVE", "AWS_ECR_CONTAINER_IMAGE"},
		{ptr(7.0), "HIGH", "ACTIVE", "AWS_LAMBDA_FUNCTION"},
		{ptr(8.9), "HIGH", "ACTIVE", "AWS_EC2_INSTANCE"},
		{ptr(9.0), "CRITICAL", "ACTIVE", "AWS_ECR_CONTAINER_IMAGE"},
		{ptr(10), "CRITICAL", "ACTIVE", "AWS_LAMBDA_FUNCTION"},
		{nil, "HIGH", "ACTIVE", "AWS_EC2_INSTANCE"},
		{nil, "UNTRIAGED", "ACTIVE", "AWS_ECR_CONTAINER_IMAGE"},
		{ptr(7.5), "HIGH", "CLOSED", "AWS_LAMBDA_FUNCTION"},
		{ptr(5.3), "MEDIUM", "SUPPRESSED", "AWS_EC2_INSTANCE"},
	}
	for _, cfg := range []inspector.Config{
		{Seed: 1, Findings: 13},
		{Seed: 2, Findings: 200, Regions: []string{"ap-south-1", "us-west-2"}},
		{Seed: 3, Findings: 40, Regions: []string{"eu-north-1", "us-east-2", "sa-east-1", "ca-central-1", "me-south-1"}},
	} {
		t.Run(fmt.Sprintf("%d findings in %d regions", cfg.Findings, len(cfg.Regions)), func(t *testing.T) {
			s, err := inspector.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			region := "us-east-1"
			if len(cfg.Regions) > 0 {
				region = cfg.Regions[0]
			}
			s.SetFaults(inspector.Faults{Malformed: 1000}) // edge cases are never malformed
			fs := decodeFindings(t, s.Findings(region)[:len(tests)])
			for i, want := range tests {
				f := fs[i]
				wantARN := fmt.Sprintf("arn:aws:inspector2:%s:111122223333:finding/%032x", region, i+1)
				if f.FindingArn != wantARN {
					t.Errorf("edge case %d: findingArn %s, want %s", i, f.FindingArn, wantARN)
				}
				if (f.InspectorScore == nil) != (want.score == nil) || f.InspectorScore != nil && *f.InspectorScore != *want.score {
					t.Errorf("edge case %d: inspectorScore %v, want %v", i, deref(f.InspectorScore), deref(want.score))
				}
				if f.Severity != want.severity || f.Status != want.status || f.Resources[0].Type != want.resource {
					t.Errorf("edge case %d: %s %s %s, want %s %s %s", i, f.Severity, f.Status, f.Resources[0].Type, want.severity, want.status, want.resource)
				}
				if f.ExploitAvailable == "" || f.FixAvailable == "" || f.Type != "PACKAGE_VULNERABILITY" {
					t.Errorf("edge case %d: exploitAvailable %q fixAvailable %q type %s", i, f.ExploitAvailable, f.FixAvailable, f.Type)
				}
			}
		})
	}
}

func TestDatasetIsRealistic(t *testing.T) {
	const n = 4000
	regions := []string{"us-east-1", "eu-west-1"}
	s, err := inspector.New(inspector.Config{Seed: 11, Findings: n, Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	arnRE := regexp.MustCompile(`^arn:aws:inspector2:[a-z]{2}(-gov)?-[a-z]+-\d{1}:\d{12}:finding/[a-f0-9]{32}$`)
	idRE := map[string]*regexp.Regexp{
		"AWS_EC2_INSTANCE":        regexp.MustCompile(`^i-0[0-9a-f]{16}$`),
		"AWS_ECR_CONTAINER_IMAGE": regexp.MustCompile(`^arn:aws:ecr:[a-z0-9-]+:111122223333:repository/[a-z-]+/[a-z-]+/sha256:[0-9a-f]{64}$`),
		"AWS_LAMBDA_FUNCTION":     regexp.MustCompile(`^arn:aws:lambda:[a-z0-9-]+:111122223333:function:[a-z0-9-]+:\$LATEST$`),
	}
	now := float64(inspector.DefaultNow.Unix())
	byType := map[string]int{}
	byFinding := map[string]int{}
	byStatus := map[string]int{}
	assets := map[string]string{}
	fractional, withExploit, withFix, noName := 0, 0, 0, 0
	total := 0
	for _, region := range regions {
		raws := s.Findings(region)
		fs := decodeFindings(t, raws)
		for i, f := range fs {
			total++
			if !arnRE.MatchString(f.FindingArn) {
				t.Fatalf("findingArn %q does not match the model pattern", f.FindingArn)
			}
			if i > 0 && fs[i-1].FindingArn >= f.FindingArn {
				t.Fatalf("findings not in findingArn order at %d", i)
			}
			if f.AwsAccountID != "111122223333" || f.Description == "" || f.Remediation == nil || len(f.Resources) != 1 || f.Severity == "" || f.Status == "" || f.Type == "" {
				t.Fatalf("finding %s lacks a required member:\n%s", f.FindingArn, raws[i])
			}
			if !(f.FirstObservedAt <= f.LastObservedAt && f.LastObservedAt <= f.UpdatedAt && f.UpdatedAt <= now && f.FirstObservedAt >= now-366*86400) {
				t.Fatalf("timestamps out of order or range: %v %v %v", f.FirstObservedAt, f.LastObservedAt, f.UpdatedAt)
			}
			if f.FirstObservedAt != math.Trunc(f.FirstObservedAt) {
				fractional++
			}
			if bytes.Contains(raws[i], []byte(`"url"`)) || bytes.Contains(raws[i], []byte(`"ipv4Addresses"`)) {
				t.Fatalf("wrong member casing in %s", raws[i])
			}
			r := f.Resources[0]
			if r.Region != region || !idRE[r.Type].MatchString(r.ID) {
				t.Fatalf("resource %s %s in region %s", r.Type, r.ID, r.Region)
			}
			byType[r.Type]++
			byFinding[f.Type]++
			byStatus[f.Status]++
			assets[r.ID] = r.Type
			if f.ExploitAvailable != "" {
				withExploit++
			}
			if f.FixAvailable != "" {
				withFix++
			}
			switch f.Type {
			case "PACKAGE_VULNERABILITY":
				p := f.PackageVulnerabilityDetails
				if p == nil || p.VulnerabilityID == "" || p.Source == "" || len(p.VulnerablePackages) == 0 || !strings.Contains(f.Title, p.VulnerabilityID) {
					t.Fatalf("package finding without details: %s", raws[i])
				}
			case "NETWORK_REACHABILITY":
				d := f.NetworkReachabilityDetails
				if d == nil || r.Type != "AWS_EC2_INSTANCE" || (d.Protocol != "TCP" && d.Protocol != "UDP") || d.OpenPortRange.Begin > d.OpenPortRange.End {
					t.Fatalf("bad network finding: %s", raws[i])
				}
				if f.InspectorScore != nil && *f.InspectorScore != 0 {
					t.Fatalf("network finding with inspectorScore %v", *f.InspectorScore)
				}
			case "CODE_VULNERABILITY":
				if f.CodeVulnerabilityDetails == nil || r.Type != "AWS_LAMBDA_FUNCTION" {
					t.Fatalf("bad code finding: %s", raws[i])
				}
			}
			if r.Type == "AWS_EC2_INSTANCE" && r.Tags["Name"] == "" {
				noName++
			}
			if r.Type == "AWS_EC2_INSTANCE" && len(r.Details["awsEc2Instance"]) == 0 {
				t.Fatalf("EC2 resource without awsEc2Instance details")
			}
		}
	}
	if total != n {
		t.Fatalf("%d findings, want %d", total, n)
	}
	share := func(k string, m map[string]int) float64 { return float64(m[k]) / float64(total) }
	checks := []struct {
		what   string
		got    float64
		lo, hi float64
	}{
		{"EC2 share", share("AWS_EC2_INSTANCE", byType), 0.45, 0.55},
		{"ECR share", share("AWS_ECR_CONTAINER_IMAGE", byType), 0.25, 0.35},
		{"Lambda share", share("AWS_LAMBDA_FUNCTION", byType), 0.15, 0.25},
		{"network share", share("NETWORK_REACHABILITY", byFinding), 0.02, 0.08},
		{"code share", share("CODE_VULNERABILITY", byFinding), 0.001, 0.03},
		{"ACTIVE share", share("ACTIVE", byStatus), 0.75, 0.92},
		{"CLOSED share", share("CLOSED", byStatus), 0.05, 0.15},
		{"SUPPRESSED share", share("SUPPRESSED", byStatus), 0.02, 0.10},
		{"fractional timestamps", float64(fractional) / float64(total), 0.3, 0.7},
		{"findings per asset", float64(total) / float64(len(assets)), 6, 10},
		{"exploitAvailable present", float64(withExploit) / float64(total), 0.8, 0.97},
		{"fixAvailable present", float64(withFix) / float64(total), 0.75, 0.95},
		{"EC2 findings without a Name tag", float64(noName) / float64(byType["AWS_EC2_INSTANCE"]), 0.01, 0.3},
	}
	for _, c := range checks {
		if c.got < c.lo || c.got > c.hi {
			t.Errorf("%s = %.3f, want within [%.3f, %.3f]", c.what, c.got, c.lo, c.hi)
		}
	}
}

func TestMalformed(t *testing.T) {
	regions := []string{"us-east-1", "eu-west-1"}
	e := newEnv(t, inspector.Config{Seed: 5, Findings: 300, Regions: regions})
	malformed := func() (int, map[string]bool) {
		n := 0
		kinds := map[string]bool{}
		for _, r := range regions {
			for _, raw := range e.sim.Findings(r) {
				if k := defect(raw); k != "" {
					n++
					kinds[k] = true
				}
			}
		}
		return n, kinds
	}
	if n, _ := malformed(); n != 0 {
		t.Fatalf("%d malformed findings without the fault", n)
	}
	for _, want := range []int{1, 2, 9, 0} {
		e.sim.SetFaults(inspector.Faults{Malformed: want})
		n, kinds := malformed()
		if n != want {
			t.Errorf("Malformed %d: %d malformed findings", want, n)
		}
		if want >= 4 && len(kinds) != 4 {
			t.Errorf("Malformed %d: kinds %v, want all four", want, kinds)
		}
	}

	// The first two kinds still decode with the SDK, and pages serve what Findings() shows.
	e.sim.SetFaults(inspector.Faults{Malformed: 2})
	for _, r := range regions {
		e.reset()
		got, _, err := listAll(context.Background(), e.client(r, static(testKey, testSecret, ""), 1), &inspector2.ListFindingsInput{MaxResults: aws.Int32(100)})
		if err != nil {
			t.Fatalf("listing %s with two SDK-decodable malformed findings: %v", r, err)
		}
		want := e.sim.Findings(r)
		_, bodies, _ := e.recorded()
		served := pageFindings(t, bodies)
		if len(got) != len(want) || len(served) != len(want) {
			t.Fatalf("%s: got %d findings, want %d", r, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(served[i], want[i]) {
				t.Fatalf("%s finding %d served differs from Findings()", r, i)
			}
		}
	}
}

// defect names what is wrong with a served finding, or "" when nothing is.
func defect(raw json.RawMessage) string {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "not JSON"
	}
	switch {
	case m["findingArn"] == nil:
		return "missing findingArn"
	case len(m["resources"].([]any)) == 0:
		return "empty resources"
	}
	if _, ok := m["firstObservedAt"].(float64); !ok {
		return "firstObservedAt not a number"
	}
	if v, ok := m["inspectorScore"]; ok {
		if _, ok := v.(float64); !ok {
			return "inspectorScore not a number"
		}
	}
	return ""
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  inspector.Config
	}{
		{"bad region", inspector.Config{Regions: []string{"useast1"}}},
		{"duplicate region", inspector.Config{Regions: []string{"us-east-1", "us-east-1"}}},
		{"bad account", inspector.Config{AccountID: "12345"}},
		{"page cap above 100", inspector.Config{PageCap: 101}},
		{"negative findings", inspector.Config{Findings: -1}},
		{"key without secret", inspector.Config{AccessKeyID: "AKIA1"}},
		{"bad role", inspector.Config{RoleARN: "role/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := inspector.New(tt.cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

// BenchmarkGenerate measures building the benchmark's dataset of 200,000 findings and
// reports the heap it keeps.
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	var heap float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, err := inspector.New(inspector.Config{Seed: 1, Findings: 200_000})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
		runtime.KeepAlive(s)
	}
	b.ReportMetric(heap, "heap-MiB")
}

// BenchmarkServePage measures the simulator's own cost of one 25-finding page of a
// 200,000-finding dataset: SigV4 verification, request parsing, filtering, assembly.
func BenchmarkServePage(b *testing.B) {
	sim, err := inspector.New(inspector.Config{Seed: 1, Findings: 200_000, AccessKeyID: testKey, SecretAccessKey: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	h := sim.Handler()
	body := []byte(`{"filterCriteria":{"findingStatus":[{"comparison":"EQUALS","value":"ACTIVE"}]},"maxResults":100}`)
	req := httptest.NewRequest(http.MethodPost, "http://inspector2.us-east-1.amazonaws.com/findings/list", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "inspector2", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkListFindingsSDK measures one page end to end through the real SDK client.
func BenchmarkListFindingsSDK(b *testing.B) {
	e := newEnv(b, inspector.Config{Seed: 1, Findings: 200_000})
	c := e.client("us-east-1", static(testKey, testSecret, ""), 1)
	in := &inspector2.ListFindingsInput{MaxResults: aws.Int32(100)}
	for b.Loop() {
		out, err := c.ListFindings(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
		in.NextToken = out.NextToken
	}
}

func ptr(f float64) *float64 { return &f }

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}
