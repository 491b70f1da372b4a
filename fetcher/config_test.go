package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConnectors(t *testing.T) {
	t.Setenv("TEST_AWS_SECRET", "s3cr3t-value")
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := `connectors:
  - id: aws-prod
    name: AWS production
    type: aws_inspector2
    schedule: {at: "02:30", days: [mon, fri], time_zone: Europe/Paris}
    settings:
      regions: [us-east-1]
      access_key_id: AKIAEXAMPLE
      secret_access_key: {env: TEST_AWS_SECRET}
  - id: aws-role
    type: aws_inspector2
    settings:
      regions: [eu-west-1, us-east-1]
      access_key_id: AKIAEXAMPLE
      secret_access_key: {file: ` + secretFile + `}
      role_arn: arn:aws:iam::111122223333:role/InspectorReadOnly
      external_id: ext-1
`
	tests := []struct {
		name    string
		file    string
		wantErr []string // substrings of the error; none means success
	}{
		{name: "valid", file: valid},
		{name: "inline secret refused", file: strings.Replace(valid, "{env: TEST_AWS_SECRET}", "plain-text-secret", 1),
			wantErr: []string{"line 9", "secrets may not be written inline", "{env: VARIABLE_NAME}"}},
		{name: "missing environment variable", file: strings.Replace(valid, "TEST_AWS_SECRET", "NOT_SET_ANYWHERE", 1),
			wantErr: []string{"aws-prod", "secret_access_key", "NOT_SET_ANYWHERE is not set"}},
		{name: "missing secret file", file: strings.Replace(valid, secretFile, "/nonexistent/secret", 1),
			wantErr: []string{"aws-role", "/nonexistent/secret", "create it or fix the path"}},
		{name: "misspelt setting", file: strings.Replace(valid, "role_arn:", "rol_arn:", 1),
			wantErr: []string{"aws-role", `unknown setting "rol_arn"`, "known settings:"}},
		{name: "unknown type", file: strings.Replace(valid, "type: aws_inspector2", "type: aws_inspector", 1),
			wantErr: []string{`unknown connector type "aws_inspector"`, "aws_inspector2"}},
		{name: "duplicate id", file: strings.Replace(valid, "id: aws-role", "id: aws-prod", 1),
			wantErr: []string{"id is used twice"}},
		{name: "bad id", file: strings.Replace(valid, "id: aws-prod", "id: AWS Prod", 1),
			wantErr: []string{"id must be"}},
		{name: "no regions", file: strings.Replace(valid, "regions: [us-east-1]", "regions: []", 1),
			wantErr: []string{"regions is empty"}},
		{name: "external id without role", file: strings.Replace(valid, "      role_arn: arn:aws:iam::111122223333:role/InspectorReadOnly\n", "", 1),
			wantErr: []string{"external_id is set but role_arn is not"}},
		{name: "page size out of range", file: strings.Replace(valid, "regions: [us-east-1]", "regions: [us-east-1]\n      max_results: 500", 1),
			wantErr: []string{"max_results is 500", "1 to 100"}},
		{name: "bad schedule", file: strings.Replace(valid, "    type: aws_inspector2\n    settings:\n      regions: [eu-west-1", "    type: aws_inspector2\n    schedule: {at: \"25:00\", time_zone: Mars/Olympus}\n    settings:\n      regions: [eu-west-1", 1),
			wantErr: []string{"aws-role", `schedule.at is "25:00"`, "Mars/Olympus"}},
		{name: "not YAML", file: "connectors: [", wantErr: []string{"parsing connectors file"}},
		{name: "no connectors", file: "connectors: []\n", wantErr: []string{"lists no connectors"}},
		{name: "settings missing", file: "connectors:\n  - id: a\n    type: aws_inspector2\n", wantErr: []string{"settings is missing"}},
		{name: "two problems reported together", file: strings.Replace(strings.Replace(valid, "regions: [us-east-1]", "regions: []", 1), "rol_arn", "x", 1) + "  - id: bad id\n    type: aws_inspector2\n",
			wantErr: []string{"regions is empty", "id must be"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "connectors.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := loadConnectors(path, nil)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("loadConnectors: %v", err)
				}
				if len(got) != 2 || got[0].ID != "aws-prod" || got[0].Name != "AWS production" || got[1].Name != "aws-role" {
					t.Errorf("connectors = %+v", got)
				}
				if a, b := got[0].Schedule.String(), got[1].Schedule.String(); a != "mon, fri at 02:30 Europe/Paris" || b != "daily at 00:00 UTC" {
					t.Errorf("schedules %q and %q", a, b)
				}
				return
			}
			if err == nil {
				t.Fatalf("loadConnectors succeeded, want an error with %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t-value") || strings.Contains(err.Error(), "file-secret") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestLoadConnectorsMissingFile(t *testing.T) {
	_, err := loadConnectors("/nonexistent/connectors.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "--connectors") {
		t.Errorf("error %v should say how to pass the file", err)
	}
}
