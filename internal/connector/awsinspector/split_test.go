package awsinspector

import (
	"strings"
	"testing"
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
		{name: "not an object", body: `[1]`, wantErr: "not a JSON object"},
		{name: "findings not an array", body: `{"findings":{}}`, wantErr: "want an array"},
		{name: "truncated", body: `{"findings":[{"findingArn":"a"`, wantErr: "reading finding 0"},
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
