package inspector

import (
	"fmt"
	"regexp"
	"time"
)

// Config configures a Simulator. Zero fields take the documented defaults.
type Config struct {
	Seed            int64
	Findings        int      // scale knob: total findings across all regions (default 200)
	Regions         []string // default ["us-east-1"]; findings are spread over them; the region of a request comes from the SigV4 credential scope
	AccountID       string   // default "111122223333"
	AccessKeyID     string   // base credentials accepted on Inspector and STS requests (default AWS's documented example key pair)
	SecretAccessKey string
	RoleARN         string    // when set, STS AssumeRole accepts this role only (empty = any well-formed role ARN) ...
	ExternalID      string    // ... with this external ID (empty = none required)
	PageCap         int       // max findings per page; default 25, at most 100
	Now             time.Time // reference time for generated timestamps; default 2026-11-01T00:00:00Z so output is deterministic
	MaxRPS          float64   // token-bucket limit on requests a second of each Inspector operation, a bucket each (burst of max(1, MaxRPS)); 0 = off
}

// Defaults of Config.
const (
	DefaultFindings        = 200
	DefaultRegion          = "us-east-1"
	DefaultAccountID       = "111122223333"
	DefaultAccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	DefaultSecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	DefaultPageCap         = 25
)

// DefaultNow is the default reference time of generated timestamps.
var DefaultNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

var (
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$`)
	accountPattern = regexp.MustCompile(`^\d{12}$`)
	roleARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$`)
)

// withDefaults fills the zero fields of c and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Findings == 0 {
		c.Findings = DefaultFindings
	}
	if c.Findings < 0 {
		return c, fmt.Errorf("checking config: findings must not be negative, got %d", c.Findings)
	}
	if len(c.Regions) == 0 {
		c.Regions = []string{DefaultRegion}
	}
	seen := make(map[string]bool, len(c.Regions))
	for _, r := range c.Regions {
		if !regionPattern.MatchString(r) {
			return c, fmt.Errorf("checking config: region %q is not an AWS region name like us-east-1", r)
		}
		if seen[r] {
			return c, fmt.Errorf("checking config: region %q is listed twice", r)
		}
		seen[r] = true
	}
	c.Regions = append([]string(nil), c.Regions...)
	if c.AccountID == "" {
		c.AccountID = DefaultAccountID
	}
	if !accountPattern.MatchString(c.AccountID) {
		return c, fmt.Errorf("checking config: account id must be 12 digits, got %q", c.AccountID)
	}
	if c.AccessKeyID == "" && c.SecretAccessKey == "" {
		c.AccessKeyID, c.SecretAccessKey = DefaultAccessKeyID, DefaultSecretAccessKey
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, fmt.Errorf("checking config: access key id and secret access key must be set together")
	}
	if c.RoleARN != "" && !roleARNPattern.MatchString(c.RoleARN) {
		return c, fmt.Errorf("checking config: role ARN %q is not like arn:aws:iam::111122223333:role/Name", c.RoleARN)
	}
	if c.PageCap == 0 {
		c.PageCap = DefaultPageCap
	}
	if c.PageCap < 1 || c.PageCap > 100 {
		return c, fmt.Errorf("checking config: page cap must be 1..100, got %d", c.PageCap)
	}
	if c.Now.IsZero() {
		c.Now = DefaultNow
	}
	c.Now = c.Now.UTC()
	if c.MaxRPS < 0 {
		return c, fmt.Errorf("checking config: max rps must not be negative, got %g", c.MaxRPS)
	}
	return c, nil
}
