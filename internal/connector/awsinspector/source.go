// Package awsinspector is the AWS Inspector v2 connector: through the aws-sdk-go-v2 inspector2
// client it lists findings (inspector2:ListFindings, one scope per region) and AWS's own totals
// (inspector2:ListFindingAggregations), and maps findings to assets and findings per SPEC §1.1.
package awsinspector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"

	"github.com/tributary-sec/tributary/internal/connector"
)

// TypeName is the connector type in the connectors file.
const TypeName = "aws_inspector2"

// Type registers the connector.
var Type = connector.Type{
	Name:        TypeName,
	NewSource:   newSource,
	Normalizer:  Normalizer{},
	Incremental: true, // filterCriteria.updatedAt
}

// Settings are the aws_inspector2 keys of a connector in the connectors file.
type Settings struct {
	Regions []string `yaml:"regions"`
	// Access keys; when absent the SDK's default chain (environment, shared config,
	// instance or task role) provides the base credentials.
	AccessKeyID     string           `yaml:"access_key_id"`
	SecretAccessKey connector.Secret `yaml:"secret_access_key"`
	SessionToken    connector.Secret `yaml:"session_token"`
	// Role to assume on top of the base credentials, with the external ID its trust
	// policy requires.
	RoleARN    string `yaml:"role_arn"`
	ExternalID string `yaml:"external_id"`
	// Endpoint and STSEndpoint override the SDK's endpoints (tests, the demo, VPC
	// endpoints); empty in production.
	Endpoint    string `yaml:"endpoint"`
	STSEndpoint string `yaml:"sts_endpoint"`
	// MaxResults is the page size asked of ListFindings (1–100, default 100).
	MaxResults int32 `yaml:"max_results"`
	// MaxAttempts bounds the tries of one API call on throttling and 5xx (default 8).
	MaxAttempts int `yaml:"max_attempts"`
	// MaxFindings fails a sync at Fetching once its regions together have fetched more
	// findings than this (0 = no limit); findings that require_exploitability_and_
	// remediation skips count too. The findings within the limit are still emitted.
	MaxFindings int `yaml:"max_findings"`
	// RequireExploitabilityAndRemediation skips findings that lack exploitAvailable or
	// fixAvailable, as the reference connector does; the skipped count is logged.
	RequireExploitabilityAndRemediation bool `yaml:"require_exploitability_and_remediation"`
	// AssetRetentionDays archives assets not seen for this many days (0 = never).
	AssetRetentionDays int `yaml:"asset_retention_days"`
}

func (s *Settings) validate() error {
	var problems []string
	if len(s.Regions) == 0 {
		problems = append(problems, "regions is empty; list the AWS regions to read, e.g. regions: [us-east-1]")
	}
	for _, r := range s.Regions {
		if r == "" || strings.ContainsAny(r, " /") {
			problems = append(problems, fmt.Sprintf("region %q is not an AWS region name like us-east-1", r))
		}
	}
	if s.AccessKeyID != "" && !s.SecretAccessKey.Set() {
		problems = append(problems, "access_key_id is set but secret_access_key is not; add secret_access_key: {env: VARIABLE}")
	}
	if s.AccessKeyID == "" && s.SecretAccessKey.Set() {
		problems = append(problems, "secret_access_key is set but access_key_id is not")
	}
	if s.ExternalID != "" && s.RoleARN == "" {
		problems = append(problems, "external_id is set but role_arn is not; the external ID is only used when assuming a role")
	}
	if s.RoleARN != "" && !strings.HasPrefix(s.RoleARN, "arn:") {
		problems = append(problems, fmt.Sprintf("role_arn %q is not an ARN like arn:aws:iam::111122223333:role/InspectorReadOnly", s.RoleARN))
	}
	for key, u := range map[string]string{"endpoint": s.Endpoint, "sts_endpoint": s.STSEndpoint} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || p.Scheme == "" || p.Host == "" {
			problems = append(problems, fmt.Sprintf("%s %q is not a URL like https://inspector2.us-east-1.amazonaws.com", key, u))
		}
	}
	switch {
	case s.MaxResults == 0:
		s.MaxResults = 100
	case s.MaxResults < 1 || s.MaxResults > 100:
		problems = append(problems, fmt.Sprintf("max_results is %d; ListFindings accepts 1 to 100", s.MaxResults))
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = 8
	}
	if s.MaxFindings < 0 {
		problems = append(problems, fmt.Sprintf("max_findings is %d; set it to the most findings one sync may fetch, or 0 for no limit", s.MaxFindings))
	}
	if s.AssetRetentionDays < 0 {
		problems = append(problems, "asset_retention_days must be 0 (never) or more")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Source lists the findings of one aws_inspector2 connector.
type Source struct {
	inst     connector.Instance
	settings Settings
	clients  map[string]*inspector2.Client // by region, built by Initiate
	creds    aws.CredentialsProvider
	// stsErrors keeps the body of a refused AssumeRole for the sync log.
	stsErrors errorCapture
	// tuneTransport, when set, adjusts the HTTP transport of every AWS client: a seam
	// for tests (a resolver, a trusted CA); nil in production.
	tuneTransport func(*http.Transport)
}

var _ connector.Source = (*Source)(nil)

func newSource(inst connector.Instance, decode func(any) error) (connector.Source, error) {
	var s Settings
	if err := decode(&s); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	for name, secret := range map[string]*connector.Secret{"secret_access_key": &s.SecretAccessKey, "session_token": &s.SessionToken} {
		if err := secret.Resolve(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return &Source{inst: inst, settings: s}, nil
}

// Initiate builds the credentials (assuming the role when one is configured) and one
// inspector2 client per region.
func (s *Source) Initiate(ctx context.Context) error {
	creds, err := s.credentials(ctx)
	if err != nil {
		return err
	}
	if _, err := creds.Retrieve(ctx); err != nil {
		return classify(err, &pageCapture{errorBody: s.stsErrors.last()})
	}
	s.creds = creds
	s.clients = make(map[string]*inspector2.Client, len(s.settings.Regions))
	for _, region := range s.settings.Regions {
		s.clients[region] = s.newClient(region)
	}
	return nil
}

// Test lists one finding per region: the cheapest call inspector2:ListFindings allows.
func (s *Source) Test(ctx context.Context) []connector.Check {
	checks := make([]connector.Check, 0, len(s.settings.Regions))
	for _, region := range s.settings.Regions {
		var capture pageCapture
		_, err := s.clients[region].ListFindings(ctx, &inspector2.ListFindingsInput{MaxResults: aws.Int32(1)}, capture.option())
		checks = append(checks, connector.Check{
			Name:  "inspector2:ListFindings",
			Scope: region,
			Err:   classify(err, &capture),
		})
	}
	return checks
}

// AssetRetentionDays implements connector.AssetRetention.
func (s *Source) AssetRetentionDays() int { return s.settings.AssetRetentionDays }
