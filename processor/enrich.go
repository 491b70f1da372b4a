package main

import (
	"math"
	"strings"

	"github.com/tributary-sec/tributary/internal/model"
)

// severity bands a finding by its severity driver score (SPEC §1.1): 9.0–10.0 Critical,
// 7.0–8.9 High, 4.0–6.9 Medium, 0.1–3.9 Low, 0 None. Without a usable score it falls
// back to the vendor's label, and to None when the label is not one of the four.
func severity(score *float64, label string) model.Severity {
	if score != nil && !math.IsNaN(*score) && *score >= 0 && *score <= 10 {
		switch s := *score; {
		case s >= 9:
			return model.SeverityCritical
		case s >= 7:
			return model.SeverityHigh
		case s >= 4:
			return model.SeverityMedium
		case s > 0:
			return model.SeverityLow
		default:
			return model.SeverityNone
		}
	}
	switch strings.ToUpper(strings.TrimSpace(label)) {
	case "CRITICAL":
		return model.SeverityCritical
	case "HIGH":
		return model.SeverityHigh
	case "MEDIUM":
		return model.SeverityMedium
	case "LOW":
		return model.SeverityLow
	}
	return model.SeverityNone
}

// status maps a vendor finding status: closed or suppressed findings are Fixed, any
// other status (ACTIVE, Cortex's vulnerable, ...) is Active.
func status(vendorStatus string) model.Status {
	switch strings.ToUpper(strings.TrimSpace(vendorStatus)) {
	case "CLOSED", "SUPPRESSED":
		return model.StatusFixed
	}
	return model.StatusActive
}

// enrich turns a normalized finding into the processed one.
func enrich(f *model.Finding) model.EnrichedFinding {
	return model.EnrichedFinding{
		Finding:  *f,
		Severity: severity(f.Score, f.VendorSeverity),
		Status:   status(f.VendorStatus),
	}
}
