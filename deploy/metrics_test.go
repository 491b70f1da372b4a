package deploy_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tributary-sec/tributary/internal/metricsdoc"
	"github.com/tributary-sec/tributary/internal/stack"
)

// documentedMetrics reads the metric contract, docs/metrics.md: each metric's type by
// name.
func documentedMetrics(t *testing.T) map[string]string {
	t.Helper()
	contract, err := metricsdoc.Read("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	metrics := map[string]string{}
	for _, m := range contract {
		metrics[m.Name] = m.Type
	}
	return metrics
}

// kpromMetric is franz-go's kprom metrics of a service (docs/metrics.md, "Every service").
var kpromMetric = regexp.MustCompile(`^tributary_(` + strings.Join(stack.ServiceNames, "|") + `)_kafka_[a-z0-9_]+$`)

// documented reports whether a dashboard or alert rule may select metric name: it is in
// docs/metrics.md's tables (a histogram with its _bucket, _sum and _count series), a
// kprom metric, a Go runtime or process metric, or Prometheus's up.
func documented(doc map[string]string, name string) bool {
	if _, ok := doc[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && (doc[base] == "histogram" || doc[base] == "summary" && suffix != "_bucket") {
			return true
		}
	}
	return name == "up" || strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || kpromMetric.MatchString(name)
}

// PromQL words that are not metric names. Aggregations and functions are recognised by
// the parenthesis that follows them (aggregations also by a following by/without).
var (
	promKeywords = map[string]bool{
		"bool": true, "offset": true, "and": true, "or": true, "unless": true, "atan2": true, "inf": true, "nan": true,
	}
	promLabelListKeywords = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
	promAggregations = map[string]bool{
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
		"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
	}
)

// selectedMetrics returns the metric names a PromQL expression selects, in order. It is a
// lexer, not a parser: it skips strings, comments, durations, label matchers and the
// label lists of by, without, on, ignoring and group_left/right, and takes every other
// identifier not followed by a parenthesis (a function or aggregation) as a metric name.
// Whether the expression is valid PromQL is checked apart, by promtool and Prometheus.
func selectedMetrics(expr string) ([]string, error) {
	var names []string
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{':
			end, name, err := labelMatchers(s, i)
			if err != nil {
				return nil, err
			}
			if name != "" {
				names = append(names, name)
			}
			i = end
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ at %d in %q", i, expr)
			}
			i += end + 1
		case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]):
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.') { // numbers, durations (1h30m), 1e3, 0x1F
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
			word := strings.ToLower(s[start:i])
			next := i
			for next < len(s) && strings.IndexByte(" \t\r\n", s[next]) >= 0 {
				next++
			}
			paren := next < len(s) && s[next] == '('
			switch {
			case promLabelListKeywords[word]:
				if paren {
					end := strings.IndexByte(s[next:], ')')
					if end < 0 {
						return nil, fmt.Errorf("unclosed label list after %s in %q", word, expr)
					}
					i = next + end + 1
				}
			case promKeywords[word], promAggregations[word], paren:
			default:
				names = append(names, s[start:i])
			}
		default:
			i++
		}
	}
	return names, nil
}

// labelMatchers reads the label matchers that open at s[i] == '{' and returns the index
// after the closing brace and the metric name of a __name__="..." matcher.
func labelMatchers(s string, i int) (int, string, error) {
	var name string
	i++
	for {
		for i < len(s) && strings.IndexByte(" \t\r\n,", s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return 0, "", fmt.Errorf("unclosed { in %q", s)
		}
		if s[i] == '}' {
			return i + 1, name, nil
		}
		start := i
		for i < len(s) && isIdentChar(s[i]) {
			i++
		}
		label := s[start:i]
		if label == "" {
			return 0, "", fmt.Errorf("expected a label name at %d in %q", i, s)
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
		opStart := i
		for i < len(s) && strings.IndexByte("=!~", s[i]) >= 0 {
			i++
		}
		op := s[opStart:i]
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) || strings.IndexByte("\"'`", s[i]) < 0 {
			return 0, "", fmt.Errorf("expected a string after %s%s in %q", label, op, s)
		}
		end, err := skipString(s, i)
		if err != nil {
			return 0, "", err
		}
		if label == "__name__" {
			if op != "=" {
				return 0, "", fmt.Errorf("__name__%s selects metrics by pattern in %q: name each metric", op, s)
			}
			name = s[i+1 : end-1]
		}
		i = end
	}
}

// skipString returns the index after the string literal that opens at s[i].
func skipString(s string, i int) (int, error) {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unclosed string at %d in %q", i, s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

// checkDocumented fails the test for each metric expr selects that docs/metrics.md does
// not list; where names the expression in messages.
func checkDocumented(t *testing.T, doc map[string]string, where, expr string) []string {
	t.Helper()
	names, err := selectedMetrics(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return nil
	}
	if len(names) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	for _, n := range names {
		if !documented(doc, n) {
			t.Errorf("%s: %s is not in docs/metrics.md (expression %q)", where, n, expr)
		}
	}
	return names
}

func TestSelectedMetrics(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up{job=~"fetcher|normalizer"} == 0`, []string{"up"}},
		{`sum by (le, stage) (rate(tributary_fetcher_stage_duration_seconds_bucket{connector_type=~".*"}[5m]))`,
			[]string{"tributary_fetcher_stage_duration_seconds_bucket"}},
		{`histogram_quantile(0.95, sum(rate(a_bucket[1h30m])) by (le)) > 1e3`, []string{"a_bucket"}},
		{`a unless on (connector) b offset 26h or max_over_time(c[2h:1m] offset -5m) * 2`, []string{"a", "b", "c"}},
		{`x * on (g) group_left (h) y`, []string{"x", "y"}},
		{`x * ignoring(g) group_right y`, []string{"x", "y"}},
		{`{__name__="named", a="}{"} + time() - count without (x) (z)`, []string{"named", "z"}},
		{`sum(m{a="say \"by (x)\""}) # a comment naming not_a_metric`, []string{"m"}},
		{`vector(1) + scalar(q @ start())`, []string{"q"}},
		{`topk(5, w) and bool v`, []string{"w", "v"}},
	}
	for _, tt := range tests {
		got, err := selectedMetrics(tt.expr)
		if err != nil {
			t.Errorf("selectedMetrics(%q): %v", tt.expr, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("selectedMetrics(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
	for _, bad := range []string{`x{a="b"`, `x{a="b}`, `{__name__=~"tributary_.*"}`, `rate(x[5m)`} {
		if got, err := selectedMetrics(bad); err == nil {
			t.Errorf("selectedMetrics(%q) = %q, want an error", bad, got)
		}
	}
}

func TestDocumented(t *testing.T) {
	doc := map[string]string{
		"tributary_fetcher_syncs_started_total":                 "counter",
		"tributary_processor_clickhouse_batch_duration_seconds": "histogram",
	}
	for name, want := range map[string]bool{
		"tributary_fetcher_syncs_started_total":                        true,
		"tributary_processor_clickhouse_batch_duration_seconds_bucket": true,
		"tributary_processor_clickhouse_batch_duration_seconds_count":  true,
		"tributary_fetcher_syncs_started_total_bucket":                 false,
		"tributary_fetcher_syncs_total":                                false,
		"tributary_normalizer_kafka_fetch_bytes_total":                 true,
		"tributary_simulator_kafka_fetch_bytes_total":                  false,
		"go_goroutines":                 true,
		"process_resident_memory_bytes": true,
		"up":                            true,
		"node_cpu_seconds_total":        false,
	} {
		if got := documented(doc, name); got != want {
			t.Errorf("documented(%s) = %v, want %v", name, got, want)
		}
	}
}
