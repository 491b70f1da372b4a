package awsinspector

// Findings are decoded by hand rather than by json.Unmarshal, whose reflection-based
// arshaling was a third of the normalizer's CPU. readFinding accepts exactly what
// json.Unmarshal into a wireFinding accepts, with the same result (FuzzDecode checks
// it); when it fails, decodeFinding has json.Unmarshal say why. Member names are spelled
// once, in the wire types' json tags: TestDecodeEveryMember checks the switches below.

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// wireDecoder decodes the wire types from JSON in memory. Its scanner accepts exactly
// the JSON a jsontext.Decoder with normalizeDecodeOptions accepts: RFC 8259 with invalid
// UTF-8 in strings, duplicate names and at most maxJSONDepth nested objects and arrays.
type wireDecoder struct {
	b     []byte
	pos   int    // of the next byte to read
	depth int    // of the objects and arrays open at pos
	buf   []byte // strings that unquoting changed
}

// maxJSONDepth is jsontext's limit on nested objects and arrays.
const maxJSONDepth = 10000

var (
	errSyntax   = errors.New("malformed JSON")
	errWireKind = errors.New("JSON value of a kind its member cannot hold")
)

// verbatimByte marks the bytes that stand for themselves in a JSON string: ASCII from
// the space up, but the quote and the backslash.
var verbatimByte = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// readFinding decodes payload into f as json.Unmarshal with normalizeDecodeOptions
// does, but says nothing useful about what is wrong when it fails.
func readFinding(payload []byte, f *wireFinding) error {
	d := wireDecoder{b: payload}
	if err := d.finding(f); err != nil {
		return err
	}
	if !d.atEnd() {
		return errSyntax
	}
	return nil
}

func (d *wireDecoder) finding(f *wireFinding) error {
	return decodeObject(d, f, func(name []byte) error {
		switch string(name) {
		case "findingArn":
			return d.string(&f.FindingArn)
		case "type":
			return d.string(&f.Type)
		case "title":
			return d.string(&f.Title)
		case "description":
			return d.string(&f.Description)
		case "severity":
			return d.string(&f.Severity)
		case "status":
			return d.string(&f.Status)
		case "firstObservedAt":
			return d.time(&f.FirstObservedAt)
		case "lastObservedAt":
			return d.time(&f.LastObservedAt)
		case "inspectorScore":
			return d.float(&f.InspectorScore)
		case "inspectorScoreDetails":
			return d.scoreDetails(&f.InspectorScoreDetails)
		case "packageVulnerabilityDetails":
			return d.packageVulnerability(&f.PackageVulnerability)
		case "networkReachabilityDetails":
			return d.networkReachability(&f.NetworkReachability)
		case "remediation":
			return d.remediation(&f.Remediation)
		case "resources":
			return decodeArray(d, &f.Resources, d.resource)
		}
		return d.skip()
	})
}

func (d *wireDecoder) scoreDetails(sd *wireScoreDetails) error {
	return decodeObject(d, sd, func(name []byte) error {
		if string(name) == "adjustedCvss" {
			return d.adjustedCvss(&sd.AdjustedCvss)
		}
		return d.skip()
	})
}

func (d *wireDecoder) adjustedCvss(c *wireAdjustedCvss) error {
	return decodeObject(d, c, func(name []byte) error {
		if string(name) == "scoringVector" {
			return d.string(&c.ScoringVector)
		}
		return d.skip()
	})
}

func (d *wireDecoder) packageVulnerability(p *wirePackageVulnerability) error {
	return decodeObject(d, p, func(name []byte) error {
		switch string(name) {
		case "vulnerabilityId":
			return d.string(&p.VulnerabilityID)
		case "source":
			return d.string(&p.Source)
		case "sourceUrl":
			return d.string(&p.SourceURL)
		case "vulnerablePackages":
			return decodeArray(d, &p.VulnerablePackages, d.vulnerablePackage)
		}
		return d.skip()
	})
}

func (d *wireDecoder) vulnerablePackage(p *wireVulnerablePackage) error {
	return decodeObject(d, p, func(name []byte) error {
		switch string(name) {
		case "name":
			return d.string(&p.Name)
		case "version":
			return d.string(&p.Version)
		}
		return d.skip()
	})
}

func (d *wireDecoder) networkReachability(n *wireNetworkReachability) error {
	return decodeObject(d, n, func(name []byte) error {
		switch string(name) {
		case "networkPath":
			return d.networkPath(&n.NetworkPath)
		case "openPortRange":
			return d.portRange(&n.OpenPortRange)
		case "protocol":
			return d.string(&n.Protocol)
		}
		return d.skip()
	})
}

func (d *wireDecoder) networkPath(p *wireNetworkPath) error {
	return decodeObject(d, p, func(name []byte) error {
		if string(name) == "steps" {
			return decodeArray(d, &p.Steps, d.networkStep)
		}
		return d.skip()
	})
}

func (d *wireDecoder) networkStep(st *wireNetworkStep) error {
	return decodeObject(d, st, func(name []byte) error {
		if string(name) == "componentId" {
			return d.string(&st.ComponentID)
		}
		return d.skip()
	})
}

func (d *wireDecoder) portRange(r *wirePortRange) error {
	return decodeObject(d, r, func(name []byte) error {
		if string(name) == "begin" {
			return d.int(&r.Begin)
		}
		return d.skip()
	})
}

func (d *wireDecoder) remediation(r *wireRemediation) error {
	return decodeObject(d, r, func(name []byte) error {
		if string(name) == "recommendation" {
			return d.recommendation(&r.Recommendation)
		}
		return d.skip()
	})
}

func (d *wireDecoder) recommendation(r *wireRecommendation) error {
	return decodeObject(d, r, func(name []byte) error {
		switch string(name) {
		case "text":
			return d.string(&r.Text)
		case "Url":
			return d.string(&r.URL)
		}
		return d.skip()
	})
}

func (d *wireDecoder) resource(r *wireResource) error {
	return decodeObject(d, r, func(name []byte) error {
		switch string(name) {
		case "id":
			return d.string(&r.ID)
		case "type":
			return d.string(&r.Type)
		case "region":
			return d.string(&r.Region)
		case "tags":
			return d.tags(&r.Tags)
		case "details":
			return d.resourceDetails(&r.Details)
		}
		return d.skip()
	})
}

func (d *wireDecoder) resourceDetails(r *wireResourceDetails) error {
	return decodeObject(d, r, func(name []byte) error {
		switch string(name) {
		case "awsEc2Instance":
			return d.ec2Instance(&r.EC2Instance)
		case "awsEcrContainerImage":
			return d.ecrImage(&r.ECRImage)
		case "awsLambdaFunction":
			return d.lambdaFunction(&r.LambdaFunction)
		case "codeRepository":
			return d.codeRepository(&r.CodeRepository)
		}
		return d.skip()
	})
}

func (d *wireDecoder) ec2Instance(e *wireEC2Instance) error {
	return decodeObject(d, e, func(name []byte) error {
		switch string(name) {
		case "type":
			return d.string(&e.Type)
		case "platform":
			return d.string(&e.Platform)
		case "keyName":
			return d.string(&e.KeyName)
		case "ipV4Addresses":
			return decodeArray(d, &e.IPv4Addresses, d.string)
		case "ipV6Addresses":
			return decodeArray(d, &e.IPv6Addresses, d.string)
		case "launchedAt":
			return d.time(&e.LaunchedAt)
		}
		return d.skip()
	})
}

func (d *wireDecoder) ecrImage(e *wireECRImage) error {
	return decodeObject(d, e, func(name []byte) error {
		switch string(name) {
		case "repositoryName":
			return d.string(&e.RepositoryName)
		case "imageHash":
			return d.string(&e.ImageHash)
		case "imageTags":
			return decodeArray(d, &e.ImageTags, d.string)
		case "platform":
			return d.string(&e.Platform)
		}
		return d.skip()
	})
}

func (d *wireDecoder) lambdaFunction(l *wireLambdaFunction) error {
	return decodeObject(d, l, func(name []byte) error {
		if string(name) == "functionName" {
			return d.string(&l.FunctionName)
		}
		return d.skip()
	})
}

func (d *wireDecoder) codeRepository(c *wireCodeRepository) error {
	return decodeObject(d, c, func(name []byte) error {
		if string(name) == "projectName" {
			return d.string(&c.ProjectName)
		}
		return d.skip()
	})
}

// tags decodes a map of strings. As json v2 does, a second tags member adds to the first.
func (d *wireDecoder) tags(m *map[string]string) error {
	if *m == nil && d.peek() == '{' {
		*m = make(map[string]string)
	}
	return decodeObject(d, m, func(name []byte) error {
		k := string(name) // before the value overwrites it
		var v string
		if err := d.string(&v); err != nil {
			return err
		}
		(*m)[k] = v
		return nil
	})
}

// decodeObject decodes a JSON object into *v, member reading each member as in
// wireDecoder.object. As json v2 does, it decodes null as the zero value and merges an
// object into what *v holds.
func decodeObject[T any](d *wireDecoder, v *T, member func(name []byte) error) error {
	switch d.peek() {
	case 'n':
		*v = *new(T)
		return d.literal("null")
	case '{':
		return d.object(member)
	}
	return errWireKind
}

// decodeArray decodes a JSON array into *a, elem reading each element into its zero
// value. As json v2 does, it decodes null as nil and [] as an empty, non-nil slice.
func decodeArray[T any](d *wireDecoder, a *[]T, elem func(*T) error) error {
	switch d.peek() {
	case 'n':
		*a = nil
		return d.literal("null")
	case '[':
		*a = []T{}
		return d.array(func() error {
			*a = append(*a, *new(T))
			return elem(&(*a)[len(*a)-1])
		})
	}
	return errWireKind
}

// string decodes a JSON string, or null as "".
func (d *wireDecoder) string(dst *string) error {
	switch d.peek() {
	case 'n':
		*dst = ""
		return d.literal("null")
	case '"':
		v, err := d.unquoted()
		if err != nil {
			return err
		}
		*dst = string(v)
		return nil
	}
	return errWireKind
}

// float decodes a JSON number, or null as nil. As in json v2, a number beyond float64
// is an error.
func (d *wireDecoder) float(p **float64) error {
	switch d.peek() {
	case 'n':
		*p = nil
		return d.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		lit, err := d.number()
		if err != nil {
			return err
		}
		x, err := strconv.ParseFloat(string(lit), 64)
		if err != nil {
			return err
		}
		*p = &x
		return nil
	}
	return errWireKind
}

// int decodes a JSON number, or null as nil. As in json v2, a number with a fraction
// or an exponent (even 22.0 or 2e1) is an error, as is one beyond int64.
func (d *wireDecoder) int(p **int64) error {
	switch d.peek() {
	case 'n':
		*p = nil
		return d.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		lit, err := d.number()
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(string(lit), 10, 64)
		if err != nil {
			return err
		}
		*p = &n
		return nil
	}
	return errWireKind
}

// time decodes a timestamp as wireTime.UnmarshalJSONFrom does.
func (d *wireDecoder) time(t *wireTime) error {
	v, err := d.value()
	if err != nil {
		return err
	}
	t.decode(v)
	return nil
}

// The JSON grammar, as jsontext reads it.

// peek skips whitespace and returns the next byte, 0 at the end of input.
func (d *wireDecoder) peek() byte {
	b, i := d.b, d.pos
	for ; i < len(b); i++ {
		// c > ' ' is redundant but settles most bytes in one comparison.
		if c := b[i]; c > ' ' || c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			d.pos = i
			return c
		}
	}
	d.pos = i
	return 0
}

// atEnd reports whether only whitespace is left.
func (d *wireDecoder) atEnd() bool {
	d.peek()
	return d.pos == len(d.b)
}

// object reads the object at pos, calling member with each member's unquoted name
// (valid until the next string is read) for member to read the value.
func (d *wireDecoder) object(member func(name []byte) error) error {
	if err := d.open(); err != nil {
		return err
	}
	if d.peek() == '}' {
		return d.close()
	}
	for {
		if d.peek() != '"' {
			return errSyntax
		}
		name, err := d.unquoted()
		if err != nil {
			return err
		}
		if d.peek() != ':' {
			return errSyntax
		}
		d.pos++
		if err := member(name); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			return d.close()
		default:
			return errSyntax
		}
	}
}

// array reads the array at pos, calling elem to read each element.
func (d *wireDecoder) array(elem func() error) error {
	if err := d.open(); err != nil {
		return err
	}
	if d.peek() == ']' {
		return d.close()
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			return d.close()
		default:
			return errSyntax
		}
	}
}

// open reads the '{' or '[' at pos.
func (d *wireDecoder) open() error {
	if d.depth == maxJSONDepth {
		return errSyntax
	}
	d.pos++
	d.depth++
	return nil
}

// close reads the '}' or ']' at pos.
func (d *wireDecoder) close() error {
	d.pos++
	d.depth--
	return nil
}

// unquoted reads the string at pos and returns it unquoted as jsontext does: escapes
// decoded, invalid UTF-8 replaced by U+FFFD. The result is valid until the next call.
func (d *wireDecoder) unquoted() ([]byte, error) {
	raw, verbatim, err := d.quoted()
	if err != nil {
		return nil, err
	}
	if verbatim {
		return raw[1 : len(raw)-1], nil
	}
	// raw is well-formed, so the only error left is invalid UTF-8, now replaced.
	d.buf, _ = jsontext.AppendUnquote(d.buf[:0], raw)
	return d.buf, nil
}

// quoted reads the string at pos and returns it quoted, as in the input; verbatim
// reports that it is printable ASCII without escapes, the same unquoted.
func (d *wireDecoder) quoted() (raw []byte, verbatim bool, err error) {
	b, start := d.b, d.pos
	i := start + 1 // past the opening quote
	verbatim = true
	for i < len(b) {
		if i+8 <= len(b) {
			m := nonVerbatim8(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		switch c := b[i]; {
		case verbatimByte[c]:
			i++
		case c == '"':
			d.pos = i + 1
			return b[start : i+1], verbatim, nil
		case c == '\\':
			verbatim = false
			if i = escapeEnd(b, i); i < 0 {
				return nil, false, errSyntax
			}
		case c < ' ':
			return nil, false, errSyntax
		default: // any byte of UTF-8, valid or not
			verbatim = false
			i++
		}
	}
	return nil, false, errSyntax
}

// nonVerbatim8 sets bit 7, and only bit 7, in the bytes of v (8 bytes of input read
// little-endian) that may not be verbatimByte, exactly so in the first. It is Bit
// Twiddling Hacks' "determine if a word has a byte less than n": subtracting 0x20 from
// each byte borrows, setting bit 7, in the bytes below 0x20 and maybe in the bytes above
// them; so does subtracting 1 from the bytes xor made 0, those of '"' and '\\'. Bit 7 of
// v itself marks the bytes that are not ASCII.
func nonVerbatim8(v uint64) uint64 {
	const ones, bit7 = 0x0101010101010101, 0x8080808080808080
	quote, backslash := v^(ones*'"'), v^(ones*'\\')
	return ((v-ones*' ')&^v | (quote-ones)&^quote | (backslash-ones)&^backslash | v) & bit7
}

// escapeEnd returns the end of the escape sequence at b[i], -1 if it is malformed. Any
// \uXXXX is well-formed: with invalid UTF-8 allowed, jsontext does not pair surrogates
// up until it unquotes.
func escapeEnd(b []byte, i int) int {
	if i+1 >= len(b) {
		return -1
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2
	case 'u':
		if i+6 > len(b) {
			return -1
		}
		for _, c := range b[i+2 : i+6] {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return -1
			}
		}
		return i + 6
	}
	return -1
}

// number reads the number at pos and returns its literal.
func (d *wireDecoder) number() ([]byte, error) {
	start := d.pos
	if d.pos < len(d.b) && d.b[d.pos] == '-' {
		d.pos++
	}
	switch {
	case d.pos == len(d.b):
		return nil, errSyntax
	case d.b[d.pos] == '0':
		d.pos++
	case d.digits() == 0:
		return nil, errSyntax
	}
	if d.pos < len(d.b) && d.b[d.pos] == '.' {
		d.pos++
		if d.digits() == 0 {
			return nil, errSyntax
		}
	}
	if d.pos < len(d.b) && (d.b[d.pos] == 'e' || d.b[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.b) && (d.b[d.pos] == '+' || d.b[d.pos] == '-') {
			d.pos++
		}
		if d.digits() == 0 {
			return nil, errSyntax
		}
	}
	return d.b[start:d.pos], nil
}

// digits reads a run of decimal digits and returns its length.
func (d *wireDecoder) digits() int {
	start := d.pos
	for d.pos < len(d.b) && '0' <= d.b[d.pos] && d.b[d.pos] <= '9' {
		d.pos++
	}
	return d.pos - start
}

// literal reads lit, one of true, false and null, at pos.
func (d *wireDecoder) literal(lit string) error {
	if len(d.b)-d.pos < len(lit) || string(d.b[d.pos:d.pos+len(lit)]) != lit {
		return errSyntax
	}
	d.pos += len(lit)
	return nil
}

// value reads the next value, whatever its kind, and returns it as in the input.
func (d *wireDecoder) value() ([]byte, error) {
	d.peek()
	start := d.pos
	if err := d.skip(); err != nil {
		return nil, err
	}
	return d.b[start:d.pos], nil
}

// skip reads the next value, whatever its kind.
func (d *wireDecoder) skip() error {
	switch c := d.peek(); c {
	case '{':
		return d.object(func([]byte) error { return d.skip() })
	case '[':
		return d.array(d.skip)
	case '"':
		_, _, err := d.quoted()
		return err
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		_, err := d.number()
		return err
	}
	return errSyntax
}
