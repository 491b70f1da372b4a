package inspector_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"
	"github.com/aws/aws-sdk-go-v2/service/inspector2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tributary-sec/tributary/internal/connector/awsinspector"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

const (
	testKey    = "AKIATESTKEY000000001"
	testSecret = "testSecret/0123456789abcdefghijklmnopqrs"
	testRole   = "arn:aws:iam::111122223333:role/InspectorReadOnly"
	testExtID  = "ext-123"
)

// env is a simulator behind an httptest server that records ListFindings responses.
type env struct {
	sim *inspector.Simulator
	srv *httptest.Server

	mu       sync.Mutex
	statuses []int    // of every /findings/list response
	bodies   [][]byte // of every /findings/list 200 response
	headers  []http.Header
}

func newEnv(t testing.TB, cfg inspector.Config) *env {
	t.Helper()
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID, cfg.SecretAccessKey = testKey, testSecret
	}
	sim, err := inspector.New(cfg)
	if err != nil {
		t.Fatalf("creating simulator: %v", err)
	}
	e := &env{sim: sim}
	h := sim.Handler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/findings/list") {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		e.mu.Lock()
		e.statuses = append(e.statuses, rec.Code)
		canonical := http.Header{} // as a client sees them
		for k, v := range rec.Header() {
			for _, x := range v {
				canonical.Add(k, x)
			}
		}
		e.headers = append(e.headers, canonical)
		if rec.Code == http.StatusOK {
			e.bodies = append(e.bodies, rec.Body.Bytes())
		}
		e.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.statuses, e.bodies, e.headers = nil, nil, nil
}

func (e *env) recorded() ([]int, [][]byte, []http.Header) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.statuses...), append([][]byte(nil), e.bodies...), append([]http.Header(nil), e.headers...)
}

// retryer retries fast so fault tests stay quick.
func retryer(maxAttempts int) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = 5 * time.Millisecond
	})
}

// httpClient is the connector's, which avoids an SDK race a loopback server hits often.
var httpClient = awsinspector.NewHTTPClient()

func (e *env) client(region string, creds aws.CredentialsProvider, maxAttempts int) *inspector2.Client {
	return inspector2.New(inspector2.Options{
		Region:       region,
		Credentials:  creds,
		BaseEndpoint: aws.String(e.srv.URL),
		Retryer:      retryer(maxAttempts),
		HTTPClient:   httpClient,
	})
}

func (e *env) stsClient(creds aws.CredentialsProvider) *sts.Client {
	return sts.New(sts.Options{
		Region:       "us-east-1",
		Credentials:  creds,
		BaseEndpoint: aws.String(e.srv.URL),
		Retryer:      retryer(1),
		HTTPClient:   httpClient,
	})
}

func static(key, secret, token string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(key, secret, token)
}

// listAll pages until nextToken is absent and returns the findings and page sizes.
func listAll(ctx context.Context, c *inspector2.Client, in *inspector2.ListFindingsInput) ([]types.Finding, []int, error) {
	var out []types.Finding
	var sizes []int
	p := inspector2.NewListFindingsPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return out, sizes, err
		}
		out = append(out, page.Findings...)
		sizes = append(sizes, len(page.Findings))
	}
	return out, sizes, nil
}

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// signedPost sends a SigV4-signed POST, signed with the SDK's signer as a client would.
func (e *env) signedPost(t testing.TB, path, contentType string, body []byte, creds aws.Credentials, region, service string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wireFinding is the part of a served finding the tests look at.
type wireFinding struct {
	FindingArn       string   `json:"findingArn"`
	AwsAccountID     string   `json:"awsAccountId"`
	Status           string   `json:"status"`
	Severity         string   `json:"severity"`
	Type             string   `json:"type"`
	Title            string   `json:"title"`
	Description      string   `json:"description"`
	InspectorScore   *float64 `json:"inspectorScore"`
	FirstObservedAt  float64  `json:"firstObservedAt"`
	LastObservedAt   float64  `json:"lastObservedAt"`
	UpdatedAt        float64  `json:"updatedAt"`
	ExploitAvailable string   `json:"exploitAvailable"`
	FixAvailable     string   `json:"fixAvailable"`
	Remediation      *struct {
		Recommendation *struct {
			Text string `json:"text"`
			URL  string `json:"Url"`
		} `json:"recommendation"`
	} `json:"remediation"`
	PackageVulnerabilityDetails *struct {
		VulnerabilityID    string `json:"vulnerabilityId"`
		Source             string `json:"source"`
		VulnerablePackages []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"vulnerablePackages"`
	} `json:"packageVulnerabilityDetails"`
	NetworkReachabilityDetails *struct {
		OpenPortRange struct {
			Begin int `json:"begin"`
			End   int `json:"end"`
		} `json:"openPortRange"`
		Protocol string `json:"protocol"`
	} `json:"networkReachabilityDetails"`
	CodeVulnerabilityDetails *struct {
		DetectorName string `json:"detectorName"`
	} `json:"codeVulnerabilityDetails"`
	Resources []struct {
		ID      string                     `json:"id"`
		Type    string                     `json:"type"`
		Region  string                     `json:"region"`
		Tags    map[string]string          `json:"tags"`
		Details map[string]json.RawMessage `json:"details"`
	} `json:"resources"`
}

func decodeFindings(t testing.TB, raws []json.RawMessage) []wireFinding {
	t.Helper()
	out := make([]wireFinding, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatalf("decoding finding %d: %v\n%s", i, err, raw)
		}
	}
	return out
}

// pageFindings splits recorded ListFindings bodies into their raw findings.
func pageFindings(t testing.TB, bodies [][]byte) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	for _, b := range bodies {
		var page struct {
			Findings []json.RawMessage `json:"findings"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("decoding page: %v\n%s", err, b)
		}
		out = append(out, page.Findings...)
	}
	return out
}

func arns(fs []types.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = aws.ToString(f.FindingArn)
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
