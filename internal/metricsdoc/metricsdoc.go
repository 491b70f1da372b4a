// Package metricsdoc reads docs/metrics.md, the metrics contract: the label values, and
// the metrics of each service with their type and labels. The services' metrics test,
// and the tests of the dashboards and alert rules, hold their side to what it lists.
package metricsdoc

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Metric is one metric of the contract.
type Metric struct {
	Service, Name, Type string
	// Labels maps each label to the values it may take; nil allows any value.
	Labels map[string][]string
}

var (
	backquoted = regexp.MustCompile("`([^`]+)`")
	inParens   = regexp.MustCompile(`\([^)]*\)`)
)

// Read parses the contract at path. A label's values come from its cell in the metric's
// row, in parentheses, or else from the label table; a label table cell without
// backquoted values allows any value.
func Read(path string) ([]Metric, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	values := map[string][]string{}
	var metrics []Metric
	section := ""
	for _, line := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = h
			continue
		}
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cells[0] == "label" || cells[0] == "metric" {
			continue
		}
		switch section {
		case "Label values":
			var vals []string
			for _, m := range backquoted.FindAllStringSubmatch(cells[1], -1) {
				vals = append(vals, m[1])
			}
			values[strings.Trim(cells[0], "`")] = vals
		case "fetcher", "normalizer", "processor":
			if len(cells) != 4 {
				return nil, fmt.Errorf("%s, %s: a metric row has %d cells, want 4: %s", path, section, len(cells), line)
			}
			m := Metric{Service: section, Name: strings.Trim(cells[0], "`"), Type: cells[1], Labels: map[string][]string{}}
			for _, part := range splitOutsideParens(cells[2]) {
				name := backquoted.FindStringSubmatch(part)
				if name == nil {
					return nil, fmt.Errorf("%s: label %q of %s is not in backquotes", path, part, m.Name)
				}
				m.Labels[name[1]] = nil
				if paren := inParens.FindString(part); paren != "" {
					for _, v := range backquoted.FindAllStringSubmatch(paren, -1) {
						m.Labels[name[1]] = append(m.Labels[name[1]], v[1])
					}
				}
			}
			metrics = append(metrics, m)
		}
	}
	for _, m := range metrics {
		for label, vals := range m.Labels {
			if vals != nil {
				continue
			}
			all, ok := values[label]
			if !ok {
				return nil, fmt.Errorf("%s: label %s of %s is not in the label table", path, label, m.Name)
			}
			m.Labels[label] = all
		}
	}
	if len(metrics) < 30 || len(values) < 10 {
		return nil, fmt.Errorf("read %d metrics and %d labels from %s; its tables changed shape", len(metrics), len(values), path)
	}
	return metrics, nil
}

// splitOutsideParens splits s at the commas that are not inside parentheses.
func splitOutsideParens(s string) []string {
	var (
		out   []string
		depth int
		start int
	)
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}
