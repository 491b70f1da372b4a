package stack_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tributary-sec/tributary/internal/metricsdoc"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
	"github.com/tributary-sec/tributary/internal/stack"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// exposition is what each service's /metrics answered, by service and family name.
type exposition map[string]map[string]*dto.MetricFamily

func scrape(svc *stack.Services) (exposition, error) {
	out := exposition{}
	for _, name := range stack.ServiceNames {
		resp, err := http.Get("http://" + svc.AdminAddr(name) + "/metrics")
		if err != nil {
			return nil, err
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("parsing the metrics of %s: %w", name, err)
		}
		out[name] = fams
	}
	return out, nil
}

// family returns the family of a metric as the text format names it.
func (e exposition) family(service, name string) *dto.MetricFamily {
	return e[service][name]
}

// sum adds the values of a metric's series whose labels match: a counter's or a
// gauge's value, a histogram's count of observations.
func (e exposition) sum(service, name string, match map[string]string) float64 {
	f := e.family(service, name)
	if f == nil {
		return math.NaN()
	}
	var total float64
	for _, m := range f.GetMetric() {
		if !matches(m, match) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

func matches(m *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// conforms lists how the exposition departs from the contract: a documented metric
// missing, of another type, with other labels, or with a label value not documented.
func (e exposition) conforms(contract []metricsdoc.Metric) []string {
	var problems []string
	types := map[string]dto.MetricType{"counter": dto.MetricType_COUNTER, "gauge": dto.MetricType_GAUGE, "histogram": dto.MetricType_HISTOGRAM}
	for _, d := range contract {
		f := e.family(d.Service, d.Name)
		if f == nil || len(f.GetMetric()) == 0 {
			problems = append(problems, fmt.Sprintf("%s does not export %s", d.Service, d.Name))
			continue
		}
		if want, ok := types[d.Type]; !ok || f.GetType() != want {
			problems = append(problems, fmt.Sprintf("%s is a %s, documented as a %s", d.Name, f.GetType(), d.Type))
		}
		for _, m := range f.GetMetric() {
			var names []string
			for _, lp := range m.GetLabel() {
				names = append(names, lp.GetName())
				allowed, documented := d.Labels[lp.GetName()]
				if documented && allowed != nil && !slices.Contains(allowed, lp.GetValue()) {
					problems = append(problems, fmt.Sprintf("%s{%s=%q}: a value docs/metrics.md does not list (%s)", d.Name, lp.GetName(), lp.GetValue(), strings.Join(allowed, ", ")))
				}
			}
			want := make([]string, 0, len(d.Labels))
			for l := range d.Labels {
				want = append(want, l)
			}
			sort.Strings(names)
			sort.Strings(want)
			if !slices.Equal(names, want) {
				problems = append(problems, fmt.Sprintf("%s has labels %v, documented %v", d.Name, names, want))
				break
			}
		}
	}
	return slices.Compact(problems) // one line for a value repeated across series
}

// TestMetricsContract syncs an Inspector connector (through an assumed role, with a
// server error to retry and a malformed finding), a Cortex XDR connector and an
// Inspector connector whose key is wrong, and holds the three services' /metrics to
// docs/metrics.md: every documented metric is exported with its type, its labels and
// their documented values, and the values agree with what the syncs did.
func TestMetricsContract(t *testing.T) {
	ctx := context.Background()
	contract, err := metricsdoc.Read("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()

	sim := newSim(t, 120, inspector.Faults{Malformed: 1, ServerError: 1, Region: "eu-west-1"})
	awsSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(awsSrv.Close)
	_, xdrSrv := newXDRTenant(t, false)
	p := newPipeline(t, nil)
	p.connectors = filepath.Join(t.TempDir(), "connectors.yaml")
	conf := fmt.Sprintf(`connectors:
  - id: aws-e2e
    type: aws_inspector2
    schedule: {disabled: true}
    settings:
      regions: [us-east-1, eu-west-1]
      access_key_id: %[1]s
      secret_access_key: {env: %[2]s}
      role_arn: arn:aws:iam::111122223333:role/TributaryReader
      endpoint: %[3]s
      sts_endpoint: %[3]s
      max_attempts: 3
  - id: xdr-e2e
    type: cortex_xdr
    schedule: {disabled: true}
    settings:
      base_url: %[4]s
      api_key_id: "42"
      api_key: {env: %[5]s}
  - id: aws-wrong
    type: aws_inspector2
    schedule: {disabled: true}
    settings:
      regions: [us-east-1]
      access_key_id: %[1]s
      secret_access_key: {env: WRONG_SECRET}
      endpoint: %[3]s
      max_attempts: 1
`, e2eAccessKey, e2eSecretEnv, awsSrv.URL, xdrSrv.URL, xdrKeyEnv)
	if err := os.WriteFile(p.connectors, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WRONG_SECRET", "not-the-secret")
	svc := p.start(ctx, stack.Config{SyncAtStart: "full"})

	ended := func(s synclog.Sync) bool { return s.Status != synclog.StatusInProgress }
	syncs := map[string]synclog.Sync{}
	for id, want := range map[string]synclog.Status{"aws-e2e": synclog.StatusDone, "xdr-e2e": synclog.StatusDone, "aws-wrong": synclog.StatusFailed} {
		s := p.waitSyncOf(ctx, svc, id, "the sync of "+id+" to end", ended)
		if s.Status != want || s.EndedAt == nil {
			t.Fatalf("sync of %s: %s at %q (%+v), want %s", id, s.Status, s.FailedStage, s.Error, want)
		}
		syncs[id] = s
	}
	findings := map[string]float64{}
	for _, id := range []string{"aws-e2e", "xdr-e2e"} {
		findings[id] = float64(p.count(t, fmt.Sprintf("SELECT count() FROM findings FINAL WHERE connector_id = '%s'", id)))
	}

	// What the syncs did, metric by metric. Each check returns a problem or "".
	type check func(e exposition) string
	equal := func(service, name string, match map[string]string, want float64) check {
		return func(e exposition) string {
			if got := e.sum(service, name, match); got != want {
				return fmt.Sprintf("%s %s%v = %v, want %v", service, name, match, got, want)
			}
			return ""
		}
	}
	atLeast := func(service, name string, match map[string]string, least float64) check {
		return func(e exposition) string {
			if got := e.sum(service, name, match); !(got >= least) {
				return fmt.Sprintf("%s %s%v = %v, want at least %v", service, name, match, got, least)
			}
			return ""
		}
	}
	same := func(service, name string, match map[string]string, otherService, other string, otherMatch map[string]string) check {
		return func(e exposition) string {
			if a, b := e.sum(service, name, match), e.sum(otherService, other, otherMatch); a != b || a == 0 {
				return fmt.Sprintf("%s %s%v = %v, but %s %s%v = %v", service, name, match, a, otherService, other, otherMatch, b)
			}
			return ""
		}
	}
	type labels = map[string]string
	const aws, cortexType = "aws_inspector2", "cortex_xdr"
	fetched := func(id string) float64 { return float64(syncs[id].RecordsFetched) }
	checks := []check{
		// fetcher
		equal("fetcher", "tributary_fetcher_syncs_started_total", nil, 3),
		equal("fetcher", "tributary_fetcher_syncs_finished_total", labels{"connector": "aws-e2e", "outcome": "succeeded"}, 1),
		equal("fetcher", "tributary_fetcher_syncs_finished_total", labels{"connector": "xdr-e2e", "outcome": "succeeded"}, 1),
		equal("fetcher", "tributary_fetcher_syncs_finished_total", labels{"connector": "aws-wrong", "outcome": "failed"}, 1),
		equal("fetcher", "tributary_fetcher_syncs_finished_total", labels{"outcome": "failed"}, 1),
		equal("fetcher", "tributary_fetcher_sync_failures_total", labels{"connector_type": aws, "connector": "aws-wrong", "stage": "Connectivity Test", "class": "invalid_credentials"}, 1),
		equal("fetcher", "tributary_fetcher_sync_failures_total", nil, 1),
		equal("fetcher", "tributary_fetcher_stage_duration_seconds", labels{"connector_type": aws, "stage": "Initiating", "state": "succeeded"}, 2),
		equal("fetcher", "tributary_fetcher_stage_duration_seconds", labels{"connector_type": aws, "stage": "Connectivity Test", "state": "failed"}, 1),
		equal("fetcher", "tributary_fetcher_stage_duration_seconds", labels{"connector_type": aws, "stage": "Fetching", "state": "succeeded"}, 1),
		equal("fetcher", "tributary_fetcher_stage_duration_seconds", labels{"connector_type": cortexType, "stage": "Fetching", "state": "succeeded"}, 1),
		equal("fetcher", "tributary_fetcher_records_total", labels{"connector": "aws-e2e", "result": "produced"}, fetched("aws-e2e")),
		equal("fetcher", "tributary_fetcher_records_total", labels{"connector": "xdr-e2e", "result": "produced"}, fetched("xdr-e2e")),
		equal("fetcher", "tributary_fetcher_records_total", labels{"connector": "aws-wrong"}, 0),
		// Every attempt the simulator saw, the failed one and its retry included.
		equal("fetcher", "tributary_fetcher_vendor_requests_total", labels{"endpoint": "ListFindings"}, float64(sim.ListFindingsRequests())),
		equal("fetcher", "tributary_fetcher_vendor_requests_total", labels{"endpoint": "ListFindingAggregations"}, float64(sim.ListFindingAggregationsRequests())),
		equal("fetcher", "tributary_fetcher_vendor_requests_total", labels{"endpoint": "ListFindings", "status_class": "5xx", "retry": "false"}, 1),
		atLeast("fetcher", "tributary_fetcher_vendor_requests_total", labels{"endpoint": "ListFindings", "status_class": "2xx", "retry": "true"}, 1),
		atLeast("fetcher", "tributary_fetcher_vendor_requests_total", labels{"endpoint": "ListFindings", "status_class": "4xx"}, 1),
		atLeast("fetcher", "tributary_fetcher_vendor_requests_total", labels{"endpoint": "AssumeRole", "status_class": "2xx", "retry": "false"}, 1),
		atLeast("fetcher", "tributary_fetcher_vendor_requests_total", labels{"connector_type": cortexType, "endpoint": "get_endpoint", "status_class": "2xx"}, 1),
		atLeast("fetcher", "tributary_fetcher_vendor_requests_total", labels{"connector_type": cortexType, "endpoint": "start_xql_query", "status_class": "2xx"}, 1),
		atLeast("fetcher", "tributary_fetcher_vendor_requests_total", labels{"connector_type": cortexType, "endpoint": "get_query_results", "status_class": "2xx"}, 1),
		same("fetcher", "tributary_fetcher_vendor_request_duration_seconds", labels{"connector_type": aws, "endpoint": "ListFindings"},
			"fetcher", "tributary_fetcher_vendor_requests_total", labels{"connector_type": aws, "endpoint": "ListFindings"}),
		same("fetcher", "tributary_fetcher_vendor_request_duration_seconds", labels{"connector_type": cortexType},
			"fetcher", "tributary_fetcher_vendor_requests_total", labels{"connector_type": cortexType}),
		atLeast("fetcher", "tributary_fetcher_kafka_connects_total", labels{"client": "main"}, 1),
		atLeast("fetcher", "tributary_fetcher_kafka_produce_bytes_total", labels{"client": "main", "topic": "tributary.raw.v1"}, 1),
		// normalizer
		equal("normalizer", "tributary_normalizer_records_in_total", labels{"connector_type": aws}, fetched("aws-e2e")),
		equal("normalizer", "tributary_normalizer_records_in_total", labels{"connector_type": cortexType}, fetched("xdr-e2e")),
		equal("normalizer", "tributary_normalizer_records_failed_total", labels{"connector_type": aws}, 1),
		equal("normalizer", "tributary_normalizer_records_failed_total", nil, 1),
		equal("normalizer", "tributary_normalizer_dead_letters_total", labels{"reason": "malformed"}, 1),
		equal("normalizer", "tributary_normalizer_dead_letters_total", labels{"reason": "undecodable"}, 0),
		equal("normalizer", "tributary_normalizer_records_out_total", labels{"connector_type": aws, "kind": "finding"}, fetched("aws-e2e")-1),
		atLeast("normalizer", "tributary_normalizer_records_out_total", labels{"connector_type": cortexType, "kind": "asset"}, 1),
		atLeast("normalizer", "tributary_normalizer_kafka_fetch_bytes_total", labels{"client": "main", "topic": "tributary.raw.v1"}, 1),
		atLeast("normalizer", "tributary_normalizer_kafka_produce_bytes_total", labels{"client": "main", "topic": "tributary.normalized.v1"}, 1),
		// processor
		equal("processor", "tributary_processor_records_out_total", labels{"connector_type": aws, "kind": "finding"}, findings["aws-e2e"]),
		equal("processor", "tributary_processor_records_out_total", labels{"connector_type": cortexType, "kind": "finding"}, findings["xdr-e2e"]),
		atLeast("processor", "tributary_processor_records_out_total", labels{"connector_type": cortexType, "kind": "asset"}, 12),
		equal("processor", "tributary_processor_records_failed_total", nil, 0),
		equal("processor", "tributary_processor_dead_letters_total", nil, 0),
		same("processor", "tributary_processor_clickhouse_batch_duration_seconds", labels{"table": "findings"},
			"processor", "tributary_processor_clickhouse_batches_total", labels{"table": "findings", "result": "ok"}),
		atLeast("processor", "tributary_processor_clickhouse_rows_total", labels{"table": "findings"}, findings["aws-e2e"]+findings["xdr-e2e"]),
		equal("processor", "tributary_processor_syncs_finished_total", labels{"connector": "aws-e2e", "status": "done"}, 1),
		equal("processor", "tributary_processor_syncs_finished_total", labels{"connector": "xdr-e2e", "status": "done"}, 1),
		equal("processor", "tributary_processor_syncs_finished_total", labels{"connector": "aws-wrong", "status": "failed"}, 1),
		equal("processor", "tributary_processor_syncs_finished_total", nil, 3),
		equal("processor", "tributary_processor_stage_duration_seconds", labels{"connector_type": aws, "stage": "Normalizing", "state": "succeeded"}, 1),
		equal("processor", "tributary_processor_stage_duration_seconds", labels{"connector_type": aws, "stage": "Processing", "state": "succeeded"}, 1),
		equal("processor", "tributary_processor_stage_duration_seconds", labels{"connector_type": cortexType, "stage": "Processing", "state": "succeeded"}, 1),
		atLeast("processor", "tributary_processor_consumer_lag_records", labels{"group": "tributary-normalizer", "topic": "tributary.raw.v1"}, 0),
		atLeast("processor", "tributary_processor_consumer_lag_records", labels{"group": "tributary-processor", "topic": "tributary.normalized.v1"}, 0),
		atLeast("processor", "tributary_processor_kafka_fetch_bytes_total", labels{"client": "main", "topic": "tributary.normalized.v1"}, 1),
		atLeast("processor", "tributary_processor_kafka_fetch_bytes_total", labels{"client": "finisher", "topic": "tributary.sync-log.v1"}, 1),
		atLeast("processor", "tributary_processor_kafka_produce_bytes_total", labels{"client": "main", "topic": "tributary.findings.v1"}, 1),
	}
	for _, kind := range []string{"asset", "finding"} {
		for _, typ := range []string{aws, cortexType} {
			checks = append(checks, same("processor", "tributary_processor_records_in_total", labels{"connector_type": typ, "kind": kind},
				"normalizer", "tributary_normalizer_records_out_total", labels{"connector_type": typ, "kind": kind}))
		}
	}
	for _, table := range []string{"assets", "findings", "asset_history", "finding_history"} {
		checks = append(checks, atLeast("processor", "tributary_processor_clickhouse_batches_total", labels{"table": table, "result": "ok"}, 1))
	}
	for _, name := range stack.ServiceNames {
		checks = append(checks, atLeast(name, "go_goroutines", nil, 1), atLeast(name, "process_cpu_seconds_total", nil, 0))
	}
	// The last successful sync time is the Done sync's end, as the sync log holds it.
	lastSuccess := func(ids ...string) check {
		return func(e exposition) string {
			for _, id := range ids {
				s := syncs[id]
				got := e.sum("processor", "tributary_processor_last_successful_sync_timestamp_seconds", labels{"connector": id})
				// ClickHouse keeps the end to the second.
				if want := float64(s.EndedAt.Unix()); got < want || got >= want+1 || got < float64(started.Add(-time.Minute).Unix()) {
					return fmt.Sprintf("last successful sync of %s at %v, want its end %v (%s)", id, got, want, s.EndedAt)
				}
			}
			if f := e.family("processor", "tributary_processor_last_successful_sync_timestamp_seconds"); f != nil {
				for _, m := range f.GetMetric() {
					if matches(m, labels{"connector": "aws-wrong"}) {
						return "aws-wrong has a last successful sync; it never had one"
					}
				}
			}
			return ""
		}
	}
	checks = append(checks, lastSuccess("aws-e2e", "xdr-e2e"), func(e exposition) string { return strings.Join(e.conforms(contract), "\n") })

	// The services update some metrics just after the sync log says a sync ended (the
	// lag every 15 s): scrape until everything holds, and report what does not.
	holds := func(checks []check) []string {
		t.Helper()
		var problems []string
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
			e, err := scrape(svc)
			if err != nil {
				t.Fatal(err)
			}
			problems = nil
			for _, c := range checks {
				if p := c(e); p != "" {
					problems = append(problems, p)
				}
			}
			if len(problems) == 0 || time.Now().After(deadline) {
				return problems
			}
		}
	}
	for _, p := range holds(checks) {
		t.Error(p)
	}
	if t.Failed() {
		return
	}

	// A restarted processor rebuilds the last successful sync times from the sync log,
	// and does not count the syncs it replays as ended again.
	if err := svc.StopProcess("processor"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Restart(ctx, "processor"); err != nil {
		t.Fatal(err)
	}
	restarted := []check{
		lastSuccess("aws-e2e", "xdr-e2e"),
		func(e exposition) string {
			if n := e.sum("processor", "tributary_processor_syncs_finished_total", nil); n > 0 {
				return fmt.Sprintf("%v syncs counted as ended again", n)
			}
			return ""
		},
	}
	for _, p := range holds(restarted) {
		t.Errorf("after a restart of the processor: %s", p)
	}
}
