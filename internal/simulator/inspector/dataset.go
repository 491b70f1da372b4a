package inspector

import (
	"cmp"
	"slices"
	"strconv"
	"sync"

	"github.com/tributary-sec/tributary/internal/simulator/simctl"
)

// Finding statuses.
const (
	statusActive uint8 = iota
	statusSuppressed
	statusClosed
)

var statusNames = [...]string{"ACTIVE", "SUPPRESSED", "CLOSED"}

// Severities; severityRank orders them for sorting (UNTRIAGED lowest).
const (
	sevInformational uint8 = iota
	sevLow
	sevMedium
	sevHigh
	sevCritical
	sevUntriaged
)

var (
	severityNames = [...]string{"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL", "UNTRIAGED"}
	severityRank  = [...]int64{1, 2, 3, 4, 5, 0}
)

// Finding types.
const (
	typePackage uint8 = iota
	typeNetwork
	typeCode
)

var typeNames = [...]string{"PACKAGE_VULNERABILITY", "NETWORK_REACHABILITY", "CODE_VULNERABILITY"}

// Resource types.
const (
	resEC2 uint8 = iota
	resECR
	resLambda
)

var resourceTypeNames = [...]string{"AWS_EC2_INSTANCE", "AWS_ECR_CONTAINER_IMAGE", "AWS_LAMBDA_FUNCTION"}

// Tri-state enum values of exploitAvailable and fixAvailable; 0 means absent.
var availNames = [...]string{"", "YES", "NO", "PARTIAL"}

// dataset is the generated findings of one region, in findingArn order.
//
// A finding is served as head + issue fragment + asset fragment: head holds the members
// unique to the finding, the issue fragment those shared by every finding of the same
// vulnerability, the asset fragment the resources array and the closing brace. Sharing
// keeps 200,000 findings well under 150 MiB.
type dataset struct {
	region  string
	account string
	recs    []record
	assets  []asset
	issues  []issue // shared with every dataset of the simulator

	mu     sync.Mutex
	orders map[string][]int32 // sorted permutations of recs by sort field and order
}

// record is one finding: its unique bytes and the metadata filters and sorts need.
type record struct {
	head    []byte // `{` + unique members, each followed by `,`
	arn     []byte // the findingArn, a subslice of head
	issue   int32
	asset   int32
	first   int64 // unix milliseconds
	last    int64
	updated int64
	score   int16 // inspectorScore in tenths; -1 when absent
	status  uint8
	sev     uint8
	edge    bool
	whole   bool // head carries the issue's members too (a rescored finding): no fragment follows
}

// issue is what findings of one vulnerability, open port or code defect share.
type issue struct {
	frag     []byte // shared members, each followed by `,`; nil when the head carries them
	ftype    uint8
	sev      uint8
	score    int16 // tenths; -1 when absent
	epss     int32 // score × 1e5; -1 when absent
	exploit  uint8 // index into availNames
	fix      uint8
	created  int64 // unix ms; no finding of the issue is first observed before it
	vulnID   string
	source   string
	vendSev  string
	title    string
	related  []string
	pkgs     []vulnPackage
	proto    string
	portLo   uint16
	portHi   uint16
	detector string
	detName  string
	detTags  []string
	codeFile string
}

// vulnPackage is one entry of vulnerablePackages.
type vulnPackage struct {
	name, version, release, arch, fixed, filePath, layerHash, manager, remediation string
	epoch                                                                          int
}

// asset is one resource findings are on.
type asset struct {
	frag  []byte // `"resources":[...]}`
	rtype uint8
	id    string
	since int64 // unix ms; no finding on the asset is first observed before it
	tags  []tag // sorted by key

	platform string
	// EC2
	imageID, subnetID, vpcID, igwID, aclID, sgID, eniID string
	// ECR
	repo, imageHash, arch string
	imageTags             []string
	pushedAt, lastInUseAt int64
	inUseCount            int
	// Lambda
	function, runtime, roleARN string
	layers                     []string
	lastModified               int64

	// generation state: the catalogs findings of the asset draw from
	cats    [2]int8
	ncats   int
	start   [2]uint32
	stride  [2]uint32
	used    uint32
	netUsed uint32
}

type tag struct{ key, value string }

// appendFinding appends the JSON of recs[i] to buf.
func (d *dataset) appendFinding(buf []byte, i int) []byte {
	r := &d.recs[i]
	buf = append(buf, r.head...)
	if !r.whole {
		buf = append(buf, d.issues[r.issue].frag...)
	}
	return append(buf, d.assets[r.asset].frag...)
}

// order returns the permutation of recs sorted by field (ties in findingArn order),
// computing it once per field and direction.
func (d *dataset) order(field string, desc bool) []int32 {
	key := field
	if desc {
		key += "/DESC"
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if o, ok := d.orders[key]; ok {
		return o
	}
	o := make([]int32, len(d.recs))
	for i := range o {
		o[i] = int32(i)
	}
	ints, strs := d.sortKeys(field)
	sign := 1
	if desc {
		sign = -1
	}
	slices.SortStableFunc(o, func(a, b int32) int {
		if ints != nil {
			return sign * cmp.Compare(ints[a], ints[b])
		}
		return sign * cmp.Compare(strs[a], strs[b])
	})
	if d.orders == nil {
		d.orders = make(map[string][]int32)
	}
	d.orders[key] = o
	return o
}

// sortKeys extracts the sort key of every record for a SortField.
func (d *dataset) sortKeys(field string) ([]int64, []string) {
	n := len(d.recs)
	intKey := func(f func(r *record) int64) []int64 {
		out := make([]int64, n)
		for i := range d.recs {
			out[i] = f(&d.recs[i])
		}
		return out
	}
	strKey := func(f func(r *record) string) []string {
		out := make([]string, n)
		for i := range d.recs {
			out[i] = f(&d.recs[i])
		}
		return out
	}
	switch field {
	case "AWS_ACCOUNT_ID":
		return nil, strKey(func(*record) string { return d.account })
	case "FINDING_TYPE":
		return nil, strKey(func(r *record) string { return typeNames[d.issues[r.issue].ftype] })
	case "SEVERITY":
		return intKey(func(r *record) int64 { return severityRank[r.sev] }), nil
	case "FIRST_OBSERVED_AT":
		return intKey(func(r *record) int64 { return r.first }), nil
	case "LAST_OBSERVED_AT":
		return intKey(func(r *record) int64 { return r.last }), nil
	case "FINDING_STATUS":
		return nil, strKey(func(r *record) string { return statusNames[r.status] })
	case "RESOURCE_TYPE":
		return nil, strKey(func(r *record) string { return resourceTypeNames[d.assets[r.asset].rtype] })
	case "ECR_IMAGE_PUSHED_AT":
		return intKey(func(r *record) int64 { return d.assets[r.asset].pushedAt }), nil
	case "ECR_IMAGE_REPOSITORY_NAME":
		return nil, strKey(func(r *record) string { return d.assets[r.asset].repo })
	case "ECR_IMAGE_REGISTRY":
		return nil, strKey(func(r *record) string {
			if d.assets[r.asset].rtype == resECR {
				return d.account
			}
			return ""
		})
	case "NETWORK_PROTOCOL":
		return nil, strKey(func(r *record) string { return d.issues[r.issue].proto })
	case "COMPONENT_TYPE":
		return nil, strKey(func(r *record) string {
			if d.issues[r.issue].ftype == typeNetwork {
				return "AWS::EC2::InternetGateway"
			}
			return ""
		})
	case "VULNERABILITY_ID":
		return nil, strKey(func(r *record) string { return d.issues[r.issue].vulnID })
	case "VULNERABILITY_SOURCE":
		return nil, strKey(func(r *record) string { return d.issues[r.issue].source })
	case "VENDOR_SEVERITY":
		return nil, strKey(func(r *record) string { return d.issues[r.issue].vendSev })
	case "INSPECTOR_SCORE":
		return intKey(func(r *record) int64 { return int64(r.score) }), nil
	case "EPSS_SCORE":
		return intKey(func(r *record) int64 { return int64(d.issues[r.issue].epss) }), nil
	}
	return intKey(func(*record) int64 { return 0 }), nil
}

// JSON writing helpers. The generator writes JSON by appending to byte slices: it is an
// order of magnitude cheaper than encoding/json for 200,000 findings.

// appendKey appends "key": .
func appendKey(buf []byte, key string) []byte {
	buf = append(buf, '"')
	buf = append(buf, key...)
	return append(buf, '"', ':')
}

// appendStringMember appends "key":"value", .
func appendStringMember(buf []byte, key, value string) []byte {
	buf = appendKey(buf, key)
	buf = simctl.AppendString(buf, value)
	return append(buf, ',')
}

// appendStrings appends a JSON array of strings.
func appendStrings(buf []byte, ss []string) []byte {
	buf = append(buf, '[')
	for i, s := range ss {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = simctl.AppendString(buf, s)
	}
	return append(buf, ']')
}

// appendEpoch appends unix milliseconds as epoch seconds with up to 3 fraction digits,
// the way the AWS SDKs write timestamps (1718035795.235, 1718035795.2, 1718035795).
func appendEpoch(buf []byte, ms int64) []byte {
	buf = strconv.AppendInt(buf, ms/1000, 10)
	frac := ms % 1000
	if frac == 0 {
		return buf
	}
	digits := [3]byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 3
	for digits[n-1] == '0' {
		n--
	}
	buf = append(buf, '.')
	return append(buf, digits[:n]...)
}

// appendTenths appends a score in tenths as a JSON number (7.8, 10, 0).
func appendTenths(buf []byte, t int16) []byte {
	buf = strconv.AppendInt(buf, int64(t/10), 10)
	if t%10 != 0 {
		buf = append(buf, '.', byte('0'+t%10))
	}
	return buf
}

// trimComma drops a trailing comma.
func trimComma(buf []byte) []byte {
	if n := len(buf); n > 0 && buf[n-1] == ',' {
		return buf[:n-1]
	}
	return buf
}
