package inspector

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// predicate reports whether a finding matches one filterCriteria member.
type predicate func(d *dataset, r *record) bool

// filterKind is the element type of a filterCriteria member.
type filterKind int

const (
	kindString filterKind = iota
	kindDate
	kindNumber
	kindPortRange
	kindMap
	kindPackage
)

// filterSpec says how to read the finding value one filterCriteria member tests.
type filterSpec struct {
	kind  filterKind
	str   func(d *dataset, r *record) string   // single-valued string members
	multi func(d *dataset, r *record) []string // multi-valued string members
	date  func(d *dataset, r *record) (int64, bool)
	num   func(d *dataset, r *record) (float64, bool)
}

func (d *dataset) assetOf(r *record) *asset { return &d.assets[r.asset] }
func (d *dataset) issueOf(r *record) *issue { return &d.issues[r.issue] }

// ifType returns v when the finding's resource is of type t, else "".
func ifType(d *dataset, r *record, t uint8, v string) string {
	if d.assetOf(r).rtype == t {
		return v
	}
	return ""
}

var networkComponentTypes = []string{"AWS::EC2::InternetGateway", "AWS::EC2::NetworkAcl", "AWS::EC2::SecurityGroup", "AWS::EC2::NetworkInterface"}

// filterSpecs lists every filterCriteria member the simulator evaluates. findingArn is
// handled apart (it is matched on bytes). Members of the model not listed here, such as
// the code repository ones, match no finding's value (no resource has them).
var filterSpecs = map[string]filterSpec{
	"awsAccountId":                   {str: func(d *dataset, _ *record) string { return d.account }},
	"findingStatus":                  {str: func(_ *dataset, r *record) string { return statusNames[r.status] }},
	"findingType":                    {str: func(d *dataset, r *record) string { return typeNames[d.issueOf(r).ftype] }},
	"severity":                       {str: func(_ *dataset, r *record) string { return severityNames[r.sev] }},
	"resourceType":                   {str: func(d *dataset, r *record) string { return resourceTypeNames[d.assetOf(r).rtype] }},
	"resourceId":                     {str: func(d *dataset, r *record) string { return d.assetOf(r).id }},
	"vulnerabilityId":                {str: func(d *dataset, r *record) string { return d.issueOf(r).vulnID }},
	"vulnerabilitySource":            {str: func(d *dataset, r *record) string { return d.issueOf(r).source }},
	"vendorSeverity":                 {str: func(d *dataset, r *record) string { return d.issueOf(r).vendSev }},
	"title":                          {str: func(d *dataset, r *record) string { return d.issueOf(r).title }},
	"exploitAvailable":               {str: func(d *dataset, r *record) string { return availNames[d.issueOf(r).exploit] }},
	"fixAvailable":                   {str: func(d *dataset, r *record) string { return availNames[d.issueOf(r).fix] }},
	"ec2InstanceImageId":             {str: func(d *dataset, r *record) string { return ifType(d, r, resEC2, d.assetOf(r).imageID) }},
	"ec2InstanceSubnetId":            {str: func(d *dataset, r *record) string { return ifType(d, r, resEC2, d.assetOf(r).subnetID) }},
	"ec2InstanceVpcId":               {str: func(d *dataset, r *record) string { return ifType(d, r, resEC2, d.assetOf(r).vpcID) }},
	"ecrImageArchitecture":           {str: func(d *dataset, r *record) string { return d.assetOf(r).arch }},
	"ecrImageHash":                   {str: func(d *dataset, r *record) string { return d.assetOf(r).imageHash }},
	"ecrImageRegistry":               {str: func(d *dataset, r *record) string { return ifType(d, r, resECR, d.account) }},
	"ecrImageRepositoryName":         {str: func(d *dataset, r *record) string { return d.assetOf(r).repo }},
	"lambdaFunctionName":             {str: func(d *dataset, r *record) string { return d.assetOf(r).function }},
	"lambdaFunctionRuntime":          {str: func(d *dataset, r *record) string { return d.assetOf(r).runtime }},
	"lambdaFunctionExecutionRoleArn": {str: func(d *dataset, r *record) string { return d.assetOf(r).roleARN }},
	"networkProtocol":                {str: func(d *dataset, r *record) string { return d.issueOf(r).proto }},
	"codeVulnerabilityDetectorName":  {str: func(d *dataset, r *record) string { return d.issueOf(r).detName }},
	"codeVulnerabilityFilePath":      {str: func(d *dataset, r *record) string { return d.issueOf(r).codeFile }},
	"codeRepositoryProjectName":      {str: func(*dataset, *record) string { return "" }},
	"codeRepositoryProviderType":     {str: func(*dataset, *record) string { return "" }},

	"ecrImageTags":                  {multi: func(d *dataset, r *record) []string { return d.assetOf(r).imageTags }},
	"lambdaFunctionLayers":          {multi: func(d *dataset, r *record) []string { return d.assetOf(r).layers }},
	"relatedVulnerabilities":        {multi: func(d *dataset, r *record) []string { return d.issueOf(r).related }},
	"codeVulnerabilityDetectorTags": {multi: func(d *dataset, r *record) []string { return d.issueOf(r).detTags }},
	"componentType": {multi: func(d *dataset, r *record) []string {
		if d.issueOf(r).ftype == typeNetwork {
			return networkComponentTypes
		}
		return nil
	}},
	"componentId": {multi: func(d *dataset, r *record) []string {
		if d.issueOf(r).ftype != typeNetwork {
			return nil
		}
		a := d.assetOf(r)
		return []string{a.igwID, a.aclID, a.sgID, a.eniID}
	}},

	"firstObservedAt": {kind: kindDate, date: func(_ *dataset, r *record) (int64, bool) { return r.first, true }},
	"lastObservedAt":  {kind: kindDate, date: func(_ *dataset, r *record) (int64, bool) { return r.last, true }},
	"updatedAt":       {kind: kindDate, date: func(_ *dataset, r *record) (int64, bool) { return r.updated, true }},
	"ecrImagePushedAt": {kind: kindDate, date: func(d *dataset, r *record) (int64, bool) {
		a := d.assetOf(r)
		return a.pushedAt, a.rtype == resECR
	}},
	"ecrImageLastInUseAt": {kind: kindDate, date: func(d *dataset, r *record) (int64, bool) {
		a := d.assetOf(r)
		return a.lastInUseAt, a.lastInUseAt > 0
	}},
	"lambdaFunctionLastModifiedAt": {kind: kindDate, date: func(d *dataset, r *record) (int64, bool) {
		a := d.assetOf(r)
		return a.lastModified, a.rtype == resLambda
	}},

	"inspectorScore": {kind: kindNumber, num: func(_ *dataset, r *record) (float64, bool) {
		return float64(r.score) / 10, r.score >= 0
	}},
	"epssScore": {kind: kindNumber, num: func(d *dataset, r *record) (float64, bool) {
		e := d.issueOf(r).epss
		return float64(e) / 1e5, e >= 0
	}},
	"ecrImageInUseCount": {kind: kindNumber, num: func(d *dataset, r *record) (float64, bool) {
		a := d.assetOf(r)
		return float64(a.inUseCount), a.rtype == resECR
	}},

	"portRange":          {kind: kindPortRange},
	"resourceTags":       {kind: kindMap},
	"vulnerablePackages": {kind: kindPackage},
}

// Wire shapes of the filter elements; pointers tell absent from zero.
type (
	stringFilter struct {
		Comparison *string `json:"comparison"`
		Value      *string `json:"value"`
	}
	dateFilter struct {
		StartInclusive *json.Number `json:"startInclusive"`
		EndInclusive   *json.Number `json:"endInclusive"`
	}
	numberFilter struct {
		LowerInclusive *float64 `json:"lowerInclusive"`
		UpperInclusive *float64 `json:"upperInclusive"`
	}
	portRangeFilter struct {
		BeginInclusive *int `json:"beginInclusive"`
		EndInclusive   *int `json:"endInclusive"`
	}
	mapFilter struct {
		Comparison *string `json:"comparison"`
		Key        *string `json:"key"`
		Value      *string `json:"value"`
	}
	packageFilter struct {
		Architecture         *stringFilter `json:"architecture"`
		Epoch                *numberFilter `json:"epoch"`
		FilePath             *stringFilter `json:"filePath"`
		Name                 *stringFilter `json:"name"`
		Release              *stringFilter `json:"release"`
		SourceLambdaLayerArn *stringFilter `json:"sourceLambdaLayerArn"`
		SourceLayerHash      *stringFilter `json:"sourceLayerHash"`
		Version              *stringFilter `json:"version"`
	}
)

// stringMatcher is a compiled StringFilter list: EQUALS/PREFIX entries are OR-ed,
// NOT_EQUALS entries exclude.
type stringMatcher struct {
	equals   []string
	prefixes []string
	not      []string
}

func (m *stringMatcher) add(f stringFilter) {
	switch *f.Comparison {
	case "EQUALS":
		m.equals = append(m.equals, *f.Value)
	case "PREFIX":
		m.prefixes = append(m.prefixes, *f.Value)
	default:
		m.not = append(m.not, *f.Value)
	}
}

// positive reports whether v satisfies an EQUALS or PREFIX entry.
func (m *stringMatcher) positive(v string) bool {
	for _, e := range m.equals {
		if v == e {
			return true
		}
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

func (m *stringMatcher) excluded(v string) bool {
	for _, n := range m.not {
		if v == n {
			return true
		}
	}
	return false
}

func (m *stringMatcher) hasPositive() bool { return len(m.equals)+len(m.prefixes) > 0 }

func (m *stringMatcher) match(v string) bool {
	return (!m.hasPositive() || m.positive(v)) && !m.excluded(v)
}

func (m *stringMatcher) matchAny(vs []string) bool {
	if m.hasPositive() {
		found := false
		for _, v := range vs {
			if m.positive(v) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, v := range vs {
		if m.excluded(v) {
			return false
		}
	}
	return true
}

// matchBytes is match for a byte-slice value, without allocating.
func (m *stringMatcher) matchBytes(v []byte) bool {
	if m.hasPositive() {
		found := false
		for _, e := range m.equals {
			if string(v) == e {
				found = true
				break
			}
		}
		for _, p := range m.prefixes {
			if !found && len(v) >= len(p) && string(v[:len(p)]) == p {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	for _, n := range m.not {
		if string(v) == n {
			return false
		}
	}
	return true
}

// compileFilters validates filterCriteria and returns one predicate per member.
func compileFilters(fc map[string]json.RawMessage, v *validator) []predicate {
	var preds []predicate
	for _, key := range sortedKeys(fc) {
		raw := fc[key]
		spec, known := filterSpecs[key]
		if !known && key != "findingArn" {
			continue // unknown members are ignored, as restJson1 services do
		}
		var list []json.RawMessage
		if !v.decode(raw, &list, "filterCriteria."+key) || list == nil {
			continue
		}
		path := "filterCriteria." + key
		if len(list) < 1 || len(list) > 10 {
			v.lengthError(path, list, 1, 10)
			continue
		}
		if p := compileMember(key, spec, list, path, v); p != nil {
			preds = append(preds, p)
		}
	}
	return preds
}

// compileMember compiles the element list of one filterCriteria member.
func compileMember(key string, spec filterSpec, list []json.RawMessage, path string, v *validator) predicate {
	elem := func(i int) string { return path + "." + strconv.Itoa(i+1) + ".member" }
	switch spec.kind {
	case kindString:
		var m stringMatcher
		for i, raw := range list {
			var f stringFilter
			if v.decode(raw, &f, elem(i)) && v.stringFilter(f, elem(i)) {
				m.add(f)
			}
		}
		switch {
		case key == "findingArn":
			return func(_ *dataset, r *record) bool { return m.matchBytes(r.arn) }
		case spec.multi != nil:
			return func(d *dataset, r *record) bool { return m.matchAny(spec.multi(d, r)) }
		default:
			return func(d *dataset, r *record) bool { return m.match(spec.str(d, r)) }
		}
	case kindDate:
		type bounds struct{ lo, hi int64 }
		var bs []bounds
		for i, raw := range list {
			var f dateFilter
			if !v.decode(raw, &f, elem(i)) {
				continue
			}
			b := bounds{math.MinInt64, math.MaxInt64}
			if f.StartInclusive != nil {
				b.lo = v.epochMillis(*f.StartInclusive, elem(i)+".startInclusive")
			}
			if f.EndInclusive != nil {
				b.hi = v.epochMillis(*f.EndInclusive, elem(i)+".endInclusive")
			}
			bs = append(bs, b)
		}
		return func(d *dataset, r *record) bool {
			t, ok := spec.date(d, r)
			if !ok {
				return false
			}
			for _, b := range bs {
				if t >= b.lo && t <= b.hi {
					return true
				}
			}
			return false
		}
	case kindNumber:
		var fs []numberFilter
		for i, raw := range list {
			var f numberFilter
			if v.decode(raw, &f, elem(i)) {
				fs = append(fs, f)
			}
		}
		return func(d *dataset, r *record) bool {
			x, ok := spec.num(d, r)
			return ok && anyNumber(fs, x)
		}
	case kindPortRange:
		var fs []portRangeFilter
		for i, raw := range list {
			var f portRangeFilter
			if !v.decode(raw, &f, elem(i)) {
				continue
			}
			v.intRange(f.BeginInclusive, elem(i)+".beginInclusive", 0, 65535)
			v.intRange(f.EndInclusive, elem(i)+".endInclusive", 0, 65535)
			fs = append(fs, f)
		}
		// A finding matches when its open port range lies within a filter's bounds.
		return func(d *dataset, r *record) bool {
			is := d.issueOf(r)
			if is.ftype != typeNetwork {
				return false
			}
			for _, f := range fs {
				if (f.BeginInclusive == nil || int(is.portLo) >= *f.BeginInclusive) && (f.EndInclusive == nil || int(is.portHi) <= *f.EndInclusive) {
					return true
				}
			}
			return false
		}
	case kindMap:
		var fs []mapFilter
		for i, raw := range list {
			var f mapFilter
			if v.decode(raw, &f, elem(i)) && v.mapFilter(f, elem(i)) {
				fs = append(fs, f)
			}
		}
		// A value-less filter matches any value of the key.
		return func(d *dataset, r *record) bool {
			for _, f := range fs {
				for _, t := range d.assetOf(r).tags {
					if t.key == *f.Key && (f.Value == nil || t.value == *f.Value) {
						return true
					}
				}
			}
			return false
		}
	case kindPackage:
		return compilePackageFilters(list, elem, v)
	}
	return nil
}

// compilePackageFilters compiles vulnerablePackages: a finding matches when one of its
// packages satisfies every member of one filter.
func compilePackageFilters(list []json.RawMessage, elem func(int) string, v *validator) predicate {
	type field struct {
		m   *stringMatcher
		get func(p *vulnPackage) string
	}
	type compiled struct {
		fields []field
		epoch  *numberFilter
	}
	var cs []compiled
	for i, raw := range list {
		var f packageFilter
		if !v.decode(raw, &f, elem(i)) {
			continue
		}
		var c compiled
		for _, sf := range []struct {
			name string
			f    *stringFilter
			get  func(p *vulnPackage) string
		}{
			{"architecture", f.Architecture, func(p *vulnPackage) string { return p.arch }},
			{"filePath", f.FilePath, func(p *vulnPackage) string { return p.filePath }},
			{"name", f.Name, func(p *vulnPackage) string { return p.name }},
			{"release", f.Release, func(p *vulnPackage) string { return p.release }},
			{"sourceLambdaLayerArn", f.SourceLambdaLayerArn, func(*vulnPackage) string { return "" }},
			{"sourceLayerHash", f.SourceLayerHash, func(p *vulnPackage) string { return p.layerHash }},
			{"version", f.Version, func(p *vulnPackage) string { return p.version }},
		} {
			if sf.f != nil && v.stringFilter(*sf.f, elem(i)+"."+sf.name) {
				m := &stringMatcher{}
				m.add(*sf.f)
				c.fields = append(c.fields, field{m, sf.get})
			}
		}
		c.epoch = f.Epoch
		cs = append(cs, c)
	}
	return func(d *dataset, r *record) bool {
		for pi := range d.issueOf(r).pkgs {
			p := &d.issueOf(r).pkgs[pi]
			for _, c := range cs {
				ok := c.epoch == nil || anyNumber([]numberFilter{*c.epoch}, float64(p.epoch))
				for _, f := range c.fields {
					ok = ok && f.m.match(f.get(p))
				}
				if ok {
					return true
				}
			}
		}
		return false
	}
}

// anyNumber reports whether x lies within the inclusive bounds of one of fs.
func anyNumber(fs []numberFilter, x float64) bool {
	for _, f := range fs {
		if (f.LowerInclusive == nil || x >= *f.LowerInclusive) && (f.UpperInclusive == nil || x <= *f.UpperInclusive) {
			return true
		}
	}
	return false
}
