package awsinspector

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"reflect"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// decodeCases are payloads on which readFinding might part from json.Unmarshal.
var decodeCases = []struct{ name, payload string }{
	{"empty object", `{}`},
	{"top-level null", `null`},
	{"top-level array", `[]`},
	{"top-level string", `""`},
	{"empty", ``},
	{"whitespace around", " \t\r\n{ \"title\" : \"t\" , \"type\"\n:\r\"x\"\t} \n"},
	{"form feed is not whitespace", "{\f}"},
	{"byte order mark", "\uFEFF{}"},
	{"trailing NUL", "{}\x00"},
	{"trailing value", `{} {}`},
	{"trailing garbage", `{}x`},
	{"trailing comma in object", `{"title":"t",}`},
	{"trailing comma in array", `{"resources":[{"id":"i"},]}`},
	{"missing colon", `{"title" "t"}`},
	{"missing comma", `{"title":"t" "type":"x"}`},
	{"name not a string", `{title:"t"}`},
	{"unterminated string", `{"title":"t}`},
	{"unterminated object", `{"title":"t"`},
	{"control character in string", "{\"title\":\"a\x01b\"}"},
	{"tab in string", "{\"title\":\"a\tb\"}"},
	{"escapes", `{"title":"a\"b\\c\/d\be\ff\ng\rh\ti\u00e9\u00E9\ud83d\ude00"}`},
	{"lone surrogates", `{"title":"\ud800x\udc00","description":"\ud800"}`},
	{"reversed surrogates", `{"title":"\udc00\ud800"}`},
	{"escaped NUL", `{"title":"a\u0000b"}`},
	{"bad escape", `{"title":"\x"}`},
	{"short unicode escape", `{"title":"\u12"}`},
	{"bad hex in escape", `{"title":"\u12G4"}`},
	{"escape at end", `{"title":"\`},
	{"escaped name", `{"fi\u006edingArn":"arn:f","\u0074itle":"t"}`},
	{"invalid UTF-8 in value", "{\"title\":\"a\xffb\xc3\",\"type\":\"\xe2\x82\"}"},
	{"invalid UTF-8 in name", "{\"title\xff\":\"t\",\"findingArn\":\"a\"}"},
	{"invalid UTF-8 in tag key", "{\"resources\":[{\"tags\":{\"k\xff\":\"v\",\"k\\ufffd\":\"w\"}}]}"},
	{"non-ASCII", `{"title":"café – ✓","description":"日本語"}`},
	{"name case", `{"FindingArn":"a","Title":"t","remediation":{"recommendation":{"url":"u","URL":"v"}}}`},
	{"duplicate string", `{"title":"a","title":"b","title":null}`},
	{"duplicate objects merge", `{"remediation":{"recommendation":{"text":"a"}},"remediation":{"recommendation":{"Url":"u"}}}`},
	{"object then null", `{"remediation":{"recommendation":{"text":"a"}},"remediation":null}`},
	{"null then object", `{"remediation":null,"remediation":{"recommendation":{"text":"a"}}}`},
	{"duplicate arrays replace", `{"resources":[{"id":"a"},{"id":"b"}],"resources":[{"type":"t"}]}`},
	{"array then null", `{"resources":[{"id":"a"}],"resources":null}`},
	{"duplicate tags merge", `{"resources":[{"tags":{"a":"1","b":"2"},"tags":{"b":"3","a":null}}]}`},
	{"tags then null", `{"resources":[{"tags":{"a":"1"},"tags":null}]}`},
	{"duplicate tag key", `{"resources":[{"tags":{"Name":"x","Name":"y"}}]}`},
	{"empty tags", `{"resources":[{"tags":{}}]}`},
	{"tag value null", `{"resources":[{"tags":{"a":null}}]}`},
	{"tag value number", `{"resources":[{"tags":{"a":1}}]}`},
	{"empty arrays", `{"resources":[{"details":{"awsEc2Instance":{"ipV4Addresses":[],"ipV6Addresses":[]},"awsEcrContainerImage":{"imageTags":[]}}}],"networkReachabilityDetails":{"networkPath":{"steps":[]}}}`},
	{"null elements", `{"resources":[null,{"id":"i"}],"packageVulnerabilityDetails":{"vulnerablePackages":[null]},"networkReachabilityDetails":{"networkPath":{"steps":[null,{"componentId":"c"}]}}}`},
	{"null strings in array", `{"resources":[{"details":{"awsEc2Instance":{"ipV4Addresses":[null,"10.0.0.1"]}}}]}`},
	{"number in string array", `{"resources":[{"details":{"awsEc2Instance":{"ipV4Addresses":["10.0.0.1",7]}}}]}`},
	{"every null", `{"findingArn":null,"type":null,"title":null,"description":null,"severity":null,"status":null,` +
		`"firstObservedAt":null,"lastObservedAt":null,"inspectorScore":null,"inspectorScoreDetails":null,` +
		`"packageVulnerabilityDetails":null,"networkReachabilityDetails":{"networkPath":null,"openPortRange":{"begin":null},"protocol":null},` +
		`"remediation":{"recommendation":null},"resources":[{"id":null,"type":null,"region":null,"tags":null,"details":null}]}`},
	{"string as number", `{"title":7}`},
	{"string as true", `{"title":true}`},
	{"string as object", `{"title":{}}`},
	{"string as array", `{"title":[]}`},
	{"object as string", `{"remediation":"x"}`},
	{"object as array", `{"remediation":[]}`},
	{"object as number", `{"inspectorScoreDetails":0}`},
	{"array as object", `{"resources":{}}`},
	{"array as string", `{"resources":"x"}`},
	{"map as array", `{"resources":[{"tags":[]}]}`},
	{"score", `{"inspectorScore":7.8}`},
	{"score zero", `{"inspectorScore":0}`},
	{"score negative zero", `{"inspectorScore":-0.0}`},
	{"score exponent", `{"inspectorScore":78E-1}`},
	{"score exponent plus", `{"inspectorScore":0.078e+2}`},
	{"score underflow", `{"inspectorScore":1e-400}`},
	{"score overflow", `{"inspectorScore":1e400}`},
	{"score negative overflow", `{"inspectorScore":-1e400}`},
	{"score max", `{"inspectorScore":1.7976931348623157e308}`},
	{"score long", `{"inspectorScore":7.80000000000000000000000000000000000000001}`},
	{"score string", `{"inspectorScore":"7.8"}`},
	{"score boolean", `{"inspectorScore":false}`},
	{"score then null", `{"inspectorScore":7.8,"inspectorScore":null}`},
	{"begin", `{"networkReachabilityDetails":{"openPortRange":{"begin":22}}}`},
	{"begin float", `{"networkReachabilityDetails":{"openPortRange":{"begin":22.0}}}`},
	{"begin exponent", `{"networkReachabilityDetails":{"openPortRange":{"begin":2e1}}}`},
	{"begin negative zero", `{"networkReachabilityDetails":{"openPortRange":{"begin":-0}}}`},
	{"begin int64 max", `{"networkReachabilityDetails":{"openPortRange":{"begin":9223372036854775807}}}`},
	{"begin int64 max+1", `{"networkReachabilityDetails":{"openPortRange":{"begin":9223372036854775808}}}`},
	{"begin int64 min", `{"networkReachabilityDetails":{"openPortRange":{"begin":-9223372036854775808}}}`},
	{"begin int64 min-1", `{"networkReachabilityDetails":{"openPortRange":{"begin":-9223372036854775809}}}`},
	{"begin uint64 max+1", `{"networkReachabilityDetails":{"openPortRange":{"begin":18446744073709551616}}}`},
	{"begin string", `{"networkReachabilityDetails":{"openPortRange":{"begin":"22"}}}`},
	{"begin object", `{"networkReachabilityDetails":{"openPortRange":{"begin":{}}}}`},
	{"numbers", `{"x":[0,-0,1,-1,0.5,1e5,1E+5,1e-5,-1.5e-5,123456789012345678901234567890]}`},
	{"leading zero", `{"x":01}`},
	{"leading zero score", `{"inspectorScore":01}`},
	{"bare minus", `{"x":-}`},
	{"plus sign", `{"x":+1}`},
	{"no integer part", `{"x":.5}`},
	{"no fraction digits", `{"x":1.}`},
	{"no exponent digits", `{"x":1e}`},
	{"no exponent digits after sign", `{"x":1e+}`},
	{"minus then letter", `{"inspectorScore":-x}`},
	{"NaN", `{"inspectorScore":NaN}`},
	{"literals", `{"x":[true,false,null]}`},
	{"short literal", `{"x":tru}`},
	{"long literal", `{"x":nulll}`},
	{"literal case", `{"x":True}`},
	{"times", `{"firstObservedAt":1718035795.235,"lastObservedAt":1.720627795235E9,"resources":[{"details":{"awsEc2Instance":{"launchedAt":-1.5}}}]}`},
	{"times of other kinds", `{"firstObservedAt":"2024-06-10T16:09:55Z","lastObservedAt":{"s":[1]},"resources":[{"details":{"awsEc2Instance":{"launchedAt":true}}}]}`},
	{"times out of range", `{"firstObservedAt":1e300,"lastObservedAt":-1e99999999999999999999}`},
	{"time then null", `{"firstObservedAt":1,"firstObservedAt":null}`},
	{"time malformed", `{"firstObservedAt":[1,}`},
	{"time with spaces", `{"firstObservedAt" :  17 , "lastObservedAt":[ 1 , {"a" : "b"} ] }`},
	{"unknown members", `{"epss":{"score":0.1,"x":[{"y":[[],{}]},"z",null,true,false,-1e-1]},"findingArn":"a"}`},
	{"unknown member malformed", `{"epss":{"score":0.1,},"findingArn":"a"}`},
	{"deepest unknown member", `{"x":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`},
	{"too deep unknown member", `{"x":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`},
	{"too deep unknown object", `{"x":` + strings.Repeat(`{"":`, maxJSONDepth) + `0` + strings.Repeat("}", maxJSONDepth) + `}`},
}

// checkDecode checks that readFinding agrees with json.Unmarshal on payload, failing
// on the same payloads and otherwise decoding the same wireFinding, and that the
// scanner agrees with jsontext on whether payload is well-formed.
func checkDecode(t *testing.T, payload []byte) {
	t.Helper()
	var got, want wireFinding
	errGot := readFinding(payload, &got)
	errWant := json.Unmarshal(payload, &want, normalizeDecodeOptions)
	if (errGot == nil) != (errWant == nil) {
		t.Fatalf("readFinding: %v\njson.Unmarshal: %v\npayload: %q", errGot, errWant, payload)
	}
	if errGot == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("readFinding:\n%#v\njson.Unmarshal:\n%#v\npayload: %q", got, want, payload)
	}
	d := wireDecoder{b: payload}
	wellFormed := d.skip() == nil && d.atEnd()
	if want := jsontext.Value(payload).IsValid(normalizeDecodeOptions); wellFormed != want {
		t.Fatalf("well-formed: %v, jsontext says %v\npayload: %q", wellFormed, want, payload)
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			checkDecode(t, []byte(tc.payload))
		})
	}
}

// TestDecodeEveryMember checks that readFinding decodes every member the wire types'
// json tags name, the one spelling of the member names.
func TestDecodeEveryMember(t *testing.T) {
	var b bytes.Buffer
	n := 0
	writeEveryMember(&b, reflect.TypeFor[wireFinding](), &n)
	var f wireFinding
	if err := json.Unmarshal(b.Bytes(), &f, normalizeDecodeOptions); err != nil {
		t.Fatalf("%v\npayload: %s", err, b.Bytes())
	}
	checkDecode(t, b.Bytes())
}

// writeEveryMember writes a JSON value for Go type t with every member its json tags
// name, each value differing from the others.
func writeEveryMember(b *bytes.Buffer, t reflect.Type, n *int) {
	*n++
	if t == reflect.TypeFor[wireTime]() {
		fmt.Fprintf(b, "%d.5", 1700000000+*n)
		return
	}
	switch t.Kind() {
	case reflect.String:
		fmt.Fprintf(b, `"s%d"`, *n)
	case reflect.Int64:
		fmt.Fprintf(b, "%d", *n)
	case reflect.Float64:
		fmt.Fprintf(b, "%d.25", *n)
	case reflect.Pointer:
		writeEveryMember(b, t.Elem(), n)
	case reflect.Slice:
		b.WriteByte('[')
		writeEveryMember(b, t.Elem(), n)
		b.WriteByte(']')
	case reflect.Map:
		fmt.Fprintf(b, `{"k%d":`, *n)
		writeEveryMember(b, t.Elem(), n)
		b.WriteByte('}')
	case reflect.Struct:
		b.WriteByte('{')
		for i := range t.NumField() {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(b, "%q:", t.Field(i).Tag.Get("json"))
			writeEveryMember(b, t.Field(i).Type, n)
		}
		b.WriteByte('}')
	default:
		panic("no JSON for " + t.String())
	}
}

// TestDecodeNonVerbatim8 checks nonVerbatim8 on every pair of byte values in every pair of
// positions, the other bytes verbatim.
func TestDecodeNonVerbatim8(t *testing.T) {
	for lo := range 8 {
		for hi := lo + 1; hi < 8; hi++ {
			for a := range 256 {
				for c := range 256 {
					w := []byte("abcdefgh")
					w[lo], w[hi] = byte(a), byte(c)
					first := 8
					for i, x := range w {
						if !verbatimByte[x] {
							first = i
							break
						}
					}
					m := nonVerbatim8(binary.LittleEndian.Uint64(w))
					if m&^0x8080808080808080 != 0 || bits.TrailingZeros64(m)/8 != first {
						t.Fatalf("nonVerbatim8(%q) = %#x, want the first flag on byte %d", w, m, first)
					}
				}
			}
		}
	}
}

// FuzzDecode checks readFinding against json.Unmarshal, and the scanner against
// jsontext, on any payload.
func FuzzDecode(f *testing.F) {
	addFindingSeeds(f)
	for _, tc := range decodeCases {
		f.Add([]byte(tc.payload))
	}
	f.Fuzz(checkDecode)
}
