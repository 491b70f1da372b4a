package main

import (
	"math"
	"testing"

	"github.com/tributary-sec/tributary/internal/model"
)

func TestSeverity(t *testing.T) {
	score := func(v float64) *float64 { return &v }
	tests := []struct {
		name  string
		score *float64
		label string
		want  model.Severity
	}{
		{"zero is None", score(0), "MEDIUM", model.SeverityNone},
		{"0.1 is Low", score(0.1), "", model.SeverityLow},
		{"3.9 is Low", score(3.9), "", model.SeverityLow},
		{"4.0 is Medium", score(4.0), "", model.SeverityMedium},
		{"6.9 is Medium", score(6.9), "", model.SeverityMedium},
		{"7.0 is High", score(7.0), "", model.SeverityHigh},
		{"8.9 is High", score(8.9), "", model.SeverityHigh},
		{"between bands rounds down: 8.95 is High", score(8.95), "", model.SeverityHigh},
		{"9.0 is Critical", score(9.0), "", model.SeverityCritical},
		{"10 is Critical", score(10), "", model.SeverityCritical},
		{"the score wins over the label", score(2.0), "CRITICAL", model.SeverityLow},
		{"no score: CRITICAL label", nil, "CRITICAL", model.SeverityCritical},
		{"no score: HIGH label", nil, "HIGH", model.SeverityHigh},
		{"no score: medium label in lower case", nil, "medium", model.SeverityMedium},
		{"no score: LOW label", nil, "LOW", model.SeverityLow},
		{"no score: UNTRIAGED is None", nil, "UNTRIAGED", model.SeverityNone},
		{"no score: INFORMATIONAL is None", nil, "INFORMATIONAL", model.SeverityNone},
		{"no score, no label", nil, "", model.SeverityNone},
		{"out of range score falls back to the label", score(42), "HIGH", model.SeverityHigh},
		{"NaN falls back to the label", score(math.NaN()), "LOW", model.SeverityLow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := severity(tt.score, tt.label); got != tt.want {
				t.Errorf("severity(%v, %q) = %s, want %s", tt.score, tt.label, got, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	for vendor, want := range map[string]model.Status{
		"ACTIVE":     model.StatusActive,
		"CLOSED":     model.StatusFixed,
		"SUPPRESSED": model.StatusFixed,
		"closed":     model.StatusFixed,
		"vulnerable": model.StatusActive,
		"":           model.StatusActive,
	} {
		if got := status(vendor); got != want {
			t.Errorf("status(%q) = %s, want %s", vendor, got, want)
		}
	}
}
