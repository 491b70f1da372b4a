package awsinspector

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

// KindFinding is the RawRecord.Kind of one ListFindings finding.
const KindFinding = "finding"

// Normalizer maps raw Inspector findings (RawRecord.Kind == KindFinding, Payload = one
// finding's JSON exactly as ListFindings returned it) to assets and findings.
type Normalizer struct{}

var _ connector.Normalizer = Normalizer{}

// Normalize appends one asset per entry of the finding's resources, then the finding;
// on error it appends nothing.
func (Normalizer) Normalize(raw *model.RawRecord, out *connector.Normalized) error {
	if raw == nil || out == nil {
		return errors.New("normalizing an Inspector finding: nil record or output")
	}
	if raw.Kind != KindFinding {
		return fmt.Errorf("record kind %q is not a finding", raw.Kind)
	}
	var f wireFinding
	if err := decodeFinding(raw.Payload, &f); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	// Nothing below fails, so out only ever grows by a whole finding.
	first := len(out.Assets)
	out.Assets = slices.Grow(out.Assets, len(f.Resources))
	for i := range f.Resources {
		out.Assets = append(out.Assets, f.Resources[i].asset(&f, raw))
	}
	fd := f.finding(raw)
	// The first resource is the finding's primary asset.
	fd.AssetClass, fd.AssetName = out.Assets[first].Class, out.Assets[first].Name
	out.Findings = append(out.Findings, fd)
	return nil
}

// decodeFinding decodes payload into f, saying precisely what is wrong when it can't.
func decodeFinding(payload []byte, f *wireFinding) error {
	p := bytes.TrimLeft(payload, " \t\r\n")
	if len(p) == 0 {
		return errors.New("payload is not a JSON object: empty payload")
	}
	if p[0] != '{' {
		if err := json.Unmarshal(payload, new(jsontext.Value), normalizeDecodeOptions); err != nil {
			return normalizeSyntaxError(payload, err)
		}
		return fmt.Errorf("payload is not a JSON object: got %s", jsonKind(p[0]))
	}
	if readFinding(payload, f) == nil {
		return nil
	}
	// readFinding fails where json.Unmarshal does, which says why. Unmarshaling into f
	// itself would make f escape, even on the fast path.
	g := new(wireFinding)
	if err := json.Unmarshal(payload, g, normalizeDecodeOptions); err != nil {
		return normalizeDecodeError(payload, err)
	}
	*f = *g
	return nil
}

// normalizeDecodeOptions decode a finding, and scan any JSON to explain a decoding
// error. Member names match exactly, as in the SDK; unknown members are skipped. As in
// the SDK, a duplicate name is accepted and the last value wins: one odd member is no
// reason to lose a finding. Invalid UTF-8 becomes U+FFFD rather than failing, as
// encoding/json (v1) did.
var normalizeDecodeOptions = json.JoinOptions(jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))

// normalizeDecodeError explains err, the first error decoding payload into a wireFinding.
// It is off the hot path: it scans payload again, since the decoder stops at the first
// error and findingArn may come after it. As with encoding/json (v1), a syntax error
// anywhere in payload wins over a type error.
func normalizeDecodeError(payload []byte, err error) error {
	var scan struct {
		FindingArn jsontext.Value `json:"findingArn"`
	}
	if err := json.Unmarshal(payload, &scan, normalizeDecodeOptions); err != nil {
		return normalizeSyntaxError(payload, err)
	}
	label := "finding"
	var arn string
	if scan.FindingArn.Kind() == '"' && json.Unmarshal(scan.FindingArn, &arn, normalizeDecodeOptions) == nil && arn != "" {
		label = "finding " + arn
	}
	var serr *json.SemanticError
	var xerr *jsontext.SyntacticError
	switch {
	case errors.As(err, &xerr) && xerr.Err == jsontext.ErrDuplicateName:
		path, _ := normalizePath(payload, xerr.JSONPointer)
		return fmt.Errorf("%s: %s: duplicate member name", label, path)
	case errors.As(err, &xerr):
		return normalizeSyntaxError(payload, err)
	case errors.As(err, &serr):
		path, kind := normalizePath(payload, serr.JSONPointer)
		kind = cmp.Or(serr.JSONKind, kind)
		want, got := wantKind(serr.GoType), jsonKind(byte(kind))
		if kind == '0' && (want == "integer" || want == "number") && len(serr.JSONValue) > 0 {
			got += " " + clipLiteral(serr.JSONValue) // the number that does not fit
		}
		if path == "" {
			return fmt.Errorf("%s: want %s, got %s", label, want, got)
		}
		return fmt.Errorf("%s: %s: want %s, got %s", label, path, want, got)
	default:
		return fmt.Errorf("decoding %s: %w", label, err)
	}
}

// normalizeSyntaxError explains err, a syntax error in payload, by what, where and the
// byte offset.
func normalizeSyntaxError(payload []byte, err error) error {
	var xerr *jsontext.SyntacticError
	if !errors.As(err, &xerr) {
		return fmt.Errorf("payload is not a JSON object: %w", err)
	}
	what := "syntax error"
	switch {
	case errors.Is(xerr.Err, io.ErrUnexpectedEOF):
		what = "unexpected end of JSON input"
	case xerr.Err != nil:
		what = xerr.Err.Error()
	}
	if path, _ := normalizePath(payload, xerr.JSONPointer); path != "" {
		what += ", at " + path
	}
	return fmt.Errorf("payload is not a JSON object: %s (byte %d)", what, xerr.ByteOffset)
}

// normalizePath renders ptr, a JSON pointer into payload, as a field path such as
// resources[0].details.awsEc2Instance.ipV4Addresses, and returns the kind of the value
// there (0 when unknown). It walks payload, since a pointer does not tell array indices
// from member names; where the walk fails it returns ptr itself.
func normalizePath(payload []byte, ptr jsontext.Pointer) (string, jsontext.Kind) {
	dec := jsontext.NewDecoder(bytes.NewReader(payload), normalizeDecodeOptions)
	var b strings.Builder
	for tok := range ptr.Tokens() {
		switch dec.PeekKind() {
		case '{':
			if _, err := dec.ReadToken(); err != nil {
				return string(ptr), 0
			}
			for {
				if dec.PeekKind() != '"' {
					return string(ptr), 0
				}
				name, err := dec.ReadToken()
				if err != nil {
					return string(ptr), 0
				}
				if name.String() == tok {
					break
				}
				if err := dec.SkipValue(); err != nil {
					return string(ptr), 0
				}
			}
			if tok != "" && !strings.ContainsAny(tok, ".[]\"\\ \t\r\n") {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(tok)
			} else {
				b.WriteString("[" + strconv.Quote(tok) + "]")
			}
		case '[':
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 {
				return string(ptr), 0
			}
			if _, err := dec.ReadToken(); err != nil {
				return string(ptr), 0
			}
			for range n {
				if dec.PeekKind() == ']' || dec.SkipValue() != nil {
					return string(ptr), 0
				}
			}
			b.WriteString("[" + tok + "]")
		default:
			return string(ptr), 0
		}
	}
	return b.String(), dec.PeekKind()
}

// check reports the first way f is too malformed to map.
func (f *wireFinding) check() error {
	if f.FindingArn == "" {
		return errors.New("finding has no findingArn")
	}
	if len(f.Resources) == 0 {
		return fmt.Errorf("finding %s: resources is empty", f.FindingArn)
	}
	for i := range f.Resources {
		r := &f.Resources[i]
		switch {
		case r.ID == "":
			return fmt.Errorf("finding %s: resources[%d] has no id", f.FindingArn, i)
		case r.Type == "":
			return fmt.Errorf("finding %s: resources[%d] (%s) has no type", f.FindingArn, i, r.ID)
		case r.Details.EC2Instance.LaunchedAt.fault != "":
			return fmt.Errorf("finding %s: resources[%d].details.awsEc2Instance.launchedAt: %s",
				f.FindingArn, i, r.Details.EC2Instance.LaunchedAt.fault)
		}
	}
	if fault := f.FirstObservedAt.fault; fault != "" {
		return fmt.Errorf("finding %s: firstObservedAt: %s", f.FindingArn, fault)
	}
	if fault := f.LastObservedAt.fault; fault != "" {
		return fmt.Errorf("finding %s: lastObservedAt: %s", f.FindingArn, fault)
	}
	if b := f.NetworkReachability.OpenPortRange.Begin; b != nil && (*b < 0 || *b > 65535) {
		return fmt.Errorf("finding %s: networkReachabilityDetails.openPortRange.begin: %d is not a port (0-65535)",
			f.FindingArn, *b)
	}
	return nil
}

// asset maps one resource of f.
func (r *wireResource) asset(f *wireFinding, raw *model.RawRecord) model.Asset {
	a := model.Asset{
		ConnectorID:   raw.ConnectorID,
		ConnectorType: raw.ConnectorType,
		SyncID:        raw.SyncID,
		Scope:         raw.Scope,
		UID:           r.ID,
		Class:         resourceClass(r.Type),
		ExternalID:    r.ID,
		ProviderID:    r.ID,
		ExternalTags:  r.Tags,
		FetchedAt:     raw.FetchedAt,
	}
	if len(a.ExternalTags) == 0 {
		a.ExternalTags = nil
	}
	switch d := &r.Details; r.Type {
	case resourceEC2Instance:
		ec2 := &d.EC2Instance
		// Without a Name tag the instance id names it, so analysts never see an empty name.
		a.Name = cmp.Or(r.Tags["Name"], r.ID)
		a.OperatingSystem = ec2.Platform
		a.IPv4 = nilIfEmpty(ec2.IPv4Addresses)
		a.IPv6 = nilIfEmpty(ec2.IPv6Addresses)
		a.FirstObservedAt = ec2.LaunchedAt.time()
		a.CustomAttributes = nonEmptyAttrs("region", r.Region, "type", ec2.Type, "keyName", ec2.KeyName)
	case resourceECRImage:
		img := &d.ECRImage
		// Without a Name tag repository:tag names it, so analysts never see an empty name.
		a.Name = cmp.Or(r.Tags["Name"], imageName(img.RepositoryName, img.ImageTags), r.ID)
		a.OperatingSystem = img.Platform
		a.ImageTags = nilIfEmpty(img.ImageTags)
		a.ImageDigest = img.ImageHash
		a.CustomAttributes = nonEmptyAttrs("region", r.Region, "repositoryName", img.RepositoryName)
	case resourceLambdaFunction:
		a.Name = cmp.Or(d.LambdaFunction.FunctionName, r.ID)
		a.Provider = "AWS"
		a.CloudResourceType = "AWS::Lambda::Function"
		a.CustomAttributes = nonEmptyAttrs("region", r.Region)
	default:
		a.Name = cmp.Or(d.CodeRepository.ProjectName, r.ID)
		a.Provider = "AWS"
		a.CloudResourceType = cloudResourceType(r.Type)
		a.CustomAttributes = nonEmptyAttrs("region", r.Region)
	}
	return a
}

// finding maps f itself.
func (f *wireFinding) finding(raw *model.RawRecord) model.Finding {
	pv, nr := &f.PackageVulnerability, &f.NetworkReachability
	fd := model.Finding{
		ConnectorID:    raw.ConnectorID,
		ConnectorType:  raw.ConnectorType,
		SyncID:         raw.SyncID,
		Scope:          raw.Scope,
		UID:            f.FindingArn,
		AssetUIDs:      make([]string, len(f.Resources)),
		Name:           cmp.Or(f.Title, pv.VulnerabilityID, f.Type, f.FindingArn),
		Description:    f.Description,
		Score:          f.InspectorScore,
		VendorSeverity: f.Severity,
		VendorStatus:   f.Status,
		FirstSeen:      f.FirstObservedAt.time(),
		LastSeen:       f.LastObservedAt.time(),
		Protocol:       nr.Protocol,
		FetchedAt:      raw.FetchedAt,
	}
	for i := range f.Resources {
		fd.AssetUIDs[i] = f.Resources[i].ID
	}
	if pv.VulnerabilityID != "" {
		fd.CVEs = []string{pv.VulnerabilityID}
	}
	if b := nr.OpenPortRange.Begin; b != nil {
		port := int32(*b) // check bounded it to 0–65535
		fd.Port = &port
	}
	var networkPath string
	if c := resourceClass(f.Resources[0].Type); c == model.ClassDevice || c == model.ClassResource {
		steps := nr.NetworkPath.Steps
		networkPath = joinNonEmpty(len(steps), " > ", func(i int) string { return steps[i].ComponentID })
	}
	pkgs := pv.VulnerablePackages
	fd.CustomAttributes = nonEmptyAttrs(
		"networkPath", networkPath,
		"severity", f.Severity,
		"type", f.Type,
		"vulnerablePackages.name", joinNonEmpty(len(pkgs), ",", func(i int) string { return pkgs[i].Name }),
		"vulnerablePackages.version", joinNonEmpty(len(pkgs), ",", func(i int) string { return pkgs[i].Version }),
		"source", pv.Source,
		"sourceUrl", pv.SourceURL,
		"remediation", f.Remediation.Recommendation.Text,
		"remediationUrl", f.Remediation.Recommendation.URL,
		"scoringVector", f.InspectorScoreDetails.AdjustedCvss.ScoringVector,
	)
	return fd
}

// resourceClass is the asset class of an Inspector resource type.
func resourceClass(resourceType string) model.AssetClass {
	switch resourceType {
	case resourceEC2Instance:
		return model.ClassDevice
	case resourceECRImage:
		return model.ClassContainer
	default:
		return model.ClassResource
	}
}

// cloudResourceType is the CloudFormation-style type of a resource mapped to a Resource.
func cloudResourceType(resourceType string) string {
	switch resourceType {
	case resourceLambdaFunction:
		return "AWS::Lambda::Function"
	case resourceECRRepository:
		return "AWS::ECR::Repository"
	case resourceCodeRepository:
		return "AWS::CodeRepository"
	default:
		return "AWS::" + resourceType
	}
}

// imageName is repository:firstTag, or the repository alone when the image has no tag.
func imageName(repository string, tags []string) string {
	if repository == "" || len(tags) == 0 || tags[0] == "" {
		return repository
	}
	return repository + ":" + tags[0]
}

// nonEmptyAttrs builds custom attributes from key, value pairs, leaving out empty
// values; it returns nil when all are empty.
func nonEmptyAttrs(kv ...string) map[string]string {
	n := 0
	for i := 1; i < len(kv); i += 2 {
		if kv[i] != "" {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := 1; i < len(kv); i += 2 {
		if kv[i] != "" {
			m[kv[i-1]] = kv[i]
		}
	}
	return m
}

// joinNonEmpty joins elem(0..n-1) with sep, keeping empty elements so that parallel
// lists stay aligned, but returns "" when every element is empty.
func joinNonEmpty(n int, sep string, elem func(int) string) string {
	size := 0
	for i := range n {
		size += len(elem(i))
	}
	if size == 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(size + (n-1)*len(sep))
	for i := range n {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(elem(i))
	}
	return b.String()
}

// nilIfEmpty normalizes an empty JSON array to nil, as an absent one decodes.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// jsonKind names the JSON value that starts with c (a jsontext.Kind), for error messages.
func jsonKind(c byte) string {
	switch c {
	case 0:
		return "something else"
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// wantKind names the JSON value a Go type decodes from, for error messages.
func wantKind(t reflect.Type) string {
	if t == nil {
		return "a different value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Pointer:
		return wantKind(t.Elem())
	default:
		return t.String()
	}
}
