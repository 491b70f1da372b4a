package awsinspector

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

func TestSplitPage(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      []rawFinding
		wantToken string
		wantErr   string
	}{
		{
			name: "findings and a token, bytes kept as sent",
			body: `{"findings": [ {"findingArn":"arn:1","exploitAvailable":"YES","fixAvailable":"NO","x":{"y":[1,"]}"]}} ,
				{"fixAvailable":null,"findingArn":"arn:\u0032"}], "nextToken":"tok=="}`,
			want: []rawFinding{
				{arn: "arn:1", exploitable: true, fixable: true, payload: []byte(`{"findingArn":"arn:1","exploitAvailable":"YES","fixAvailable":"NO","x":{"y":[1,"]}"]}}`)},
				{arn: "arn:2", payload: []byte(`{"fixAvailable":null,"findingArn":"arn:\u0032"}`)},
			},
			wantToken: "tok==",
		},
		{name: "last page", body: `{"findings":[]}`},
		{name: "null findings and token", body: `{"findings":null,"nextToken":null}`},
		{name: "unknown keys skipped", body: `{"other":{"a":[1,2]},"findings":[{"findingArn":"a"}]}`, want: []rawFinding{{arn: "a", payload: []byte(`{"findingArn":"a"}`)}}},
		{name: "a finding that is not an object is kept for the dead-letter topic", body: `{"findings":[42,{"findingArn":7}]}`,
			want: []rawFinding{{payload: []byte("42")}, {payload: []byte(`{"findingArn":7}`)}}},
		{name: "a malformed finding fails the page: where the next one starts is unknown", body: `{"findings":[{"a":tru,"findingArn":"x"} , {"findingArn":"y"}]}`,
			wantErr: "finding 0: malformed JSON at byte 18"},
		{name: "escaped names and brackets inside strings", body: `{"findings":[{"finding\u0041rn":"a\"]}","b":"\\"}],"next\u0054oken":"t\/1"}`,
			want:      []rawFinding{{arn: `a"]}`, payload: []byte(`{"finding\u0041rn":"a\"]}","b":"\\"}`)}},
			wantToken: "t/1"},
		{name: "not an object", body: `[1]`, wantErr: "not a JSON object"},
		{name: "brackets closed out of order", body: `{"findings":[{"a":[1}]}`, wantErr: "finding 0: malformed JSON at byte 20"},
		{name: "findings without a comma between them", body: `{"findings":[{} {}]}`, wantErr: "malformed JSON at byte 16"},
		{name: "a leading comma", body: `{"findings":[,{}]}`, wantErr: "finding 0: malformed JSON at byte 13"},
		{name: "members without a comma between them", body: `{"findings":[] "nextToken":"a"}`, wantErr: "malformed JSON at byte 15"},
		{name: "garbage after the object", body: `{"findings":[]} x`, wantErr: "malformed JSON at byte 16"},
		{name: "an unterminated string", body: `{"findings":[{"findingArn":"a}]}`, wantErr: "finding 0: malformed JSON at byte 27"},
		{name: "findings not an array", body: `{"findings":{}}`, wantErr: "want an array"},
		{name: "truncated", body: `{"findings":[{"findingArn":"a"`, wantErr: "finding 0: malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, token, err := splitPage([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if token != tt.wantToken || len(got) != len(tt.want) {
				t.Fatalf("got %d findings and token %q, want %d and %q", len(got), token, len(tt.want), tt.wantToken)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.arn != w.arn || g.exploitable != w.exploitable || g.fixable != w.fixable || string(g.payload) != string(w.payload) {
					t.Errorf("finding %d = {%q %v %v %s}, want {%q %v %v %s}", i, g.arn, g.exploitable, g.fixable, g.payload, w.arn, w.exploitable, w.fixable, w.payload)
				}
			}
		})
	}
}

// FuzzSplitPage checks splitPage against a full JSON decoder: it never panics, fails
// exactly on invalid JSON, and on a valid page finds exactly the decoder's findings,
// byte for byte, and next token.
func FuzzSplitPage(f *testing.F) {
	for _, seed := range []string{
		`{"findings":[{"findingArn":"a","exploitAvailable":"YES"},{"fixAvailable":null}],"nextToken":"t"}`,
		`{"findings":[1, "x", [], {"a":{"b":[{}]}}], "nextToken":null}`,
		`{"findings":[{"findingArn":"a\u0022"}],"findings":[]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, token, err := splitPage(body)
		var want struct {
			Findings  []jsontext.Value `json:"findings"`
			NextToken jsontext.Value   `json:"nextToken"`
		}
		valid := json.Unmarshal(body, &want, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) == nil &&
			bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{"))
		if !valid {
			if err == nil && !jsontext.Value(body).IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) {
				t.Fatalf("splitPage(%q) accepted invalid JSON", body)
			}
			return
		}
		if err != nil {
			t.Fatalf("splitPage(%q) failed on valid JSON: %v", body, err)
		}
		var wantToken string
		_ = json.Unmarshal(want.NextToken, &wantToken)
		if len(got) != len(want.Findings) || token != wantToken {
			t.Fatalf("splitPage(%q) = %d findings, token %q; want %d, %q", body, len(got), token, len(want.Findings), wantToken)
		}
		for i := range got {
			if !bytes.Equal(got[i].payload, want.Findings[i]) {
				t.Errorf("finding %d = %q, want %q", i, got[i].payload, want.Findings[i])
			}
		}
	})
}

// BenchmarkSplitPage splits a page of 25 findings, the service's page size.
func BenchmarkSplitPage(b *testing.B) {
	pretty, err := os.ReadFile("testdata/ec2_package_vulnerability.json")
	if err != nil {
		b.Fatal(err)
	}
	finding := jsontext.Value(pretty)
	if err := finding.Compact(); err != nil { // as ListFindings sends it
		b.Fatal(err)
	}
	page := []byte(`{"findings":[`)
	for i := range 25 {
		if i > 0 {
			page = append(page, ',')
		}
		page = append(page, finding...)
	}
	page = append(page, `],"nextToken":"abc"}`...)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if _, _, err := splitPage(page); err != nil {
			b.Fatal(err)
		}
	}
}
