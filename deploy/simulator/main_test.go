package main

import (
	"testing"

	"github.com/tributary-sec/tributary/internal/simulator/cortex"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(c config) bool
		wantErr bool
	}{
		{"defaults", nil, nil, func(c config) bool {
			return c.addr == "127.0.0.1:8481" && c.inspector && c.insp.Findings == inspector.DefaultFindings &&
				len(c.insp.Regions) == 1 && c.insp.Regions[0] == "us-east-1" && c.insp.PageCap == 25 && c.insp.Seed == 1
		}, false},
		{"env", nil, map[string]string{"TRIBUTARY_SIM_FINDINGS": "200000", "TRIBUTARY_SIM_REGIONS": "us-east-1, eu-west-1", "TRIBUTARY_SIM_SECRET_ACCESS_KEY": "s3cret"}, func(c config) bool {
			return c.insp.Findings == 200000 && len(c.insp.Regions) == 2 && c.insp.Regions[1] == "eu-west-1" && c.insp.SecretAccessKey == "s3cret"
		}, false},
		{"flags win over env", []string{"-findings", "10", "-external-id", "ext-1", "-role-arn", "arn:aws:iam::111122223333:role/R"}, map[string]string{"TRIBUTARY_SIM_FINDINGS": "99"}, func(c config) bool {
			return c.insp.Findings == 10 && c.insp.ExternalID == "ext-1" && c.insp.RoleARN != ""
		}, false},
		{"bad env number", nil, map[string]string{"TRIBUTARY_SIM_PAGE_CAP": "lots"}, nil, true},
		{"bad log level", []string{"-log-level", "loud"}, nil, nil, true},
		{"nothing enabled", []string{"-inspector=false"}, nil, nil, true},
		{"inspector is the default vendor", nil, nil, func(c config) bool { return c.vendor == "inspector" }, false},
		{"cortex defaults", []string{"--vendor", "cortex"}, nil, func(c config) bool {
			return c.vendor == "cortex" && c.cortex.Endpoints == cortex.DefaultEndpoints && c.cortex.APIKeyID == cortex.DefaultAPIKeyID &&
				c.cortex.APIKey == cortex.DefaultAPIKey && !c.cortex.Advanced && c.cortex.RequestsPerSecond == 10 && c.cortex.Seed == 1 &&
				c.cortex.PendingPolls == 1
		}, false},
		{"cortex flags", []string{"--vendor=cortex", "--endpoints", "100000", "--api-key-id", "42", "--advanced-key", "--seed", "9", "--cortex-rps", "-1"},
			map[string]string{"TRIBUTARY_SIM_CORTEX_API_KEY": "k3y"}, func(c config) bool {
				return c.cortex.Endpoints == 100000 && c.cortex.APIKeyID == "42" && c.cortex.APIKey == "k3y" && c.cortex.Advanced &&
					c.cortex.Seed == 9 && c.cortex.RequestsPerSecond == -1
			}, false},
		{"cortex env", nil, map[string]string{"TRIBUTARY_SIM_VENDOR": "cortex", "TRIBUTARY_SIM_ENDPOINTS": "0", "TRIBUTARY_SIM_CORTEX_ADVANCED_KEY": "true"},
			func(c config) bool { return c.vendor == "cortex" && c.cortex.Endpoints == 0 && c.cortex.Advanced }, false},
		{"cortex ignores -inspector", []string{"-vendor", "cortex", "-inspector=false"}, nil, func(c config) bool { return c.vendor == "cortex" }, false},
		{"unknown vendor", []string{"-vendor", "qualys"}, nil, nil, true},
		{"empty key id", []string{"-vendor", "cortex", "-api-key-id", ""}, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if tt.want != nil && !tt.want(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}
