package awsinspector

import (
	"bytes"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// The wire types below hold only the ListFindings members the normalizer maps; the
// decoder skips the rest. JSON member names are the vendor's, case included.

// Resource types of the Inspector ResourceType enum; the enum grows, so others are kept.
const (
	resourceEC2Instance    = "AWS_EC2_INSTANCE"
	resourceECRImage       = "AWS_ECR_CONTAINER_IMAGE"
	resourceECRRepository  = "AWS_ECR_REPOSITORY"
	resourceLambdaFunction = "AWS_LAMBDA_FUNCTION"
	resourceCodeRepository = "CODE_REPOSITORY"
)

// wireFinding is one element of ListFindings' findings array.
type wireFinding struct {
	FindingArn            string                   `json:"findingArn"`
	Type                  string                   `json:"type"`
	Title                 string                   `json:"title"`
	Description           string                   `json:"description"`
	Severity              string                   `json:"severity"`
	Status                string                   `json:"status"`
	FirstObservedAt       wireTime                 `json:"firstObservedAt"`
	LastObservedAt        wireTime                 `json:"lastObservedAt"`
	InspectorScore        *float64                 `json:"inspectorScore"` // nil when absent; 0 is a score
	InspectorScoreDetails wireScoreDetails         `json:"inspectorScoreDetails"`
	PackageVulnerability  wirePackageVulnerability `json:"packageVulnerabilityDetails"`
	NetworkReachability   wireNetworkReachability  `json:"networkReachabilityDetails"`
	Remediation           wireRemediation          `json:"remediation"`
	Resources             []wireResource           `json:"resources"`
}

type wireScoreDetails struct {
	AdjustedCvss wireAdjustedCvss `json:"adjustedCvss"`
}

type wireAdjustedCvss struct {
	ScoringVector string `json:"scoringVector"`
}

type wirePackageVulnerability struct {
	VulnerabilityID    string                  `json:"vulnerabilityId"`
	Source             string                  `json:"source"`
	SourceURL          string                  `json:"sourceUrl"`
	VulnerablePackages []wireVulnerablePackage `json:"vulnerablePackages"`
}

type wireVulnerablePackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type wireNetworkReachability struct {
	NetworkPath   wireNetworkPath `json:"networkPath"`
	OpenPortRange wirePortRange   `json:"openPortRange"`
	Protocol      string          `json:"protocol"`
}

type wireNetworkPath struct {
	Steps []wireNetworkStep `json:"steps"`
}

type wireNetworkStep struct {
	ComponentID string `json:"componentId"`
}

type wirePortRange struct {
	Begin *int64 `json:"begin"` // nil when absent; wider than a port so range errors name the value
}

type wireRemediation struct {
	Recommendation wireRecommendation `json:"recommendation"`
}

type wireRecommendation struct {
	Text string `json:"text"`
	URL  string `json:"Url"` // capital U on the wire
}

type wireResource struct {
	ID      string              `json:"id"`
	Type    string              `json:"type"`
	Region  string              `json:"region"`
	Tags    map[string]string   `json:"tags"`
	Details wireResourceDetails `json:"details"`
}

type wireResourceDetails struct {
	EC2Instance    wireEC2Instance    `json:"awsEc2Instance"`
	ECRImage       wireECRImage       `json:"awsEcrContainerImage"`
	LambdaFunction wireLambdaFunction `json:"awsLambdaFunction"`
	CodeRepository wireCodeRepository `json:"codeRepository"`
}

type wireEC2Instance struct {
	Type          string   `json:"type"`
	Platform      string   `json:"platform"`
	KeyName       string   `json:"keyName"`
	IPv4Addresses []string `json:"ipV4Addresses"`
	IPv6Addresses []string `json:"ipV6Addresses"`
	LaunchedAt    wireTime `json:"launchedAt"`
}

type wireECRImage struct {
	RepositoryName string   `json:"repositoryName"`
	ImageHash      string   `json:"imageHash"`
	ImageTags      []string `json:"imageTags"`
	Platform       string   `json:"platform"`
}

type wireLambdaFunction struct {
	FunctionName string `json:"functionName"`
}

type wireCodeRepository struct {
	ProjectName string `json:"projectName"`
}

// wireTime is an Inspector timestamp: epoch seconds as a JSON number, fractional or in
// exponent form. It never fails decoding: fault says what was wrong, and check reports it
// in its turn, naming the finding.
type wireTime struct {
	ms    int64
	set   bool
	fault string
}

// Years 1–9999: what time.Time marshals to JSON and ClickHouse can hold.
const (
	minEpochMillis = -62135596800000
	maxEpochMillis = 253402300799999
)

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (t *wireTime) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	t.decode(v)
	return nil
}

// decode sets t from v, one whole JSON value.
func (t *wireTime) decode(v jsontext.Value) {
	*t = wireTime{}
	switch v.Kind() {
	case 'n': // null means absent, as in the SDK
	case '"':
		t.fault = "want epoch seconds as a JSON number, got string " + clipLiteral(v)
	case '{':
		t.fault = "want epoch seconds as a JSON number, got object"
	case '[':
		t.fault = "want epoch seconds as a JSON number, got array"
	case 't', 'f':
		t.fault = "want epoch seconds as a JSON number, got boolean " + string(v)
	default:
		ms, ok := parseEpochMillis(v)
		if !ok {
			t.fault = "epoch seconds " + clipLiteral(v) + " out of range (years 1-9999)"
			return
		}
		t.ms, t.set = ms, true
	}
}

// time returns the timestamp in UTC, the zero time when absent.
func (t wireTime) time() time.Time {
	if !t.set {
		return time.Time{}
	}
	return time.UnixMilli(t.ms).UTC()
}

// parseEpochMillis converts a JSON number literal of epoch seconds to epoch milliseconds,
// truncating toward zero. It works on the decimal digits, not a float64, so that
// 1718035795.235 is exactly ...235 ms. ok is false outside years 1–9999.
func parseEpochMillis(lit []byte) (ms int64, ok bool) {
	neg := len(lit) > 0 && lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	mant, exp := lit, 0
	if i := bytes.IndexAny(lit, "eE"); i >= 0 {
		mant = lit[:i]
		e := lit[i+1:]
		expNeg := len(e) > 0 && e[0] == '-'
		if len(e) > 0 && (e[0] == '-' || e[0] == '+') {
			e = e[1:]
		}
		for _, c := range e {
			if c < '0' || c > '9' {
				return 0, false
			}
			// Past the literal's own length (plus slack) the value is 0 or out of
			// range whatever the exponent, so stop before it can overflow.
			if exp <= len(lit)+20 {
				exp = exp*10 + int(c-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	intPart, frac := mant, []byte(nil)
	if i := bytes.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	n := len(intPart) + len(frac)
	if n == 0 {
		return 0, false
	}
	// value = digits × 10^(exp−len(frac)) seconds, so the first keep digits are whole ms.
	keep := n + exp + 3 - len(frac)
	limit := int64(maxEpochMillis)
	if neg {
		limit = -minEpochMillis
	}
	for k := 0; k < keep; k++ {
		if k >= n && ms == 0 {
			break // only the trailing zeros of a zero value remain
		}
		d := byte('0')
		if k < len(intPart) {
			d = intPart[k]
		} else if k < n {
			d = frac[k-len(intPart)]
		}
		if d < '0' || d > '9' {
			return 0, false
		}
		ms = ms*10 + int64(d-'0')
		if ms > limit {
			return 0, false
		}
	}
	if neg {
		ms = -ms
	}
	return ms, true
}

// clipLiteral renders at most 64 bytes of a JSON literal for an error message.
func clipLiteral(b []byte) string {
	const n = 64
	if len(b) <= n {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(b[:n]), "\uFFFD") + "..."
}
