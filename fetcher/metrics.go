package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-sec/tributary/internal/connector"
)

// metrics are the fetcher's Prometheus metrics (docs/metrics.md).
type metrics struct {
	syncsStarted   *prometheus.CounterVec
	syncsFinished  *prometheus.CounterVec
	syncFailures   *prometheus.CounterVec
	records        *prometheus.CounterVec
	stageSeconds   *prometheus.HistogramVec
	vendorRequests *prometheus.CounterVec
	vendorSeconds  *prometheus.HistogramVec
	connectorInfo  *prometheus.GaugeVec
}

// newMetrics builds the metrics; register adds them to the service's registry. The
// connectors are loaded, with their vendor request observers, before the registry exists.
func newMetrics() *metrics {
	return &metrics{
		syncsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_fetcher_syncs_started_total",
			Help: "Syncs started, by connector type and connector.",
		}, []string{"connector_type", "connector"}),
		syncsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_fetcher_syncs_finished_total",
			Help: "Syncs whose fetcher stages ended, by connector type, connector and outcome (succeeded or failed).",
		}, []string{"connector_type", "connector", "outcome"}),
		syncFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_fetcher_sync_failures_total",
			Help: "Syncs that failed in a fetcher stage, by connector type, connector, stage and the failure's class.",
		}, []string{"connector_type", "connector", "stage", "class"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_fetcher_records_total",
			Help: "Raw records, by connector type, connector and result (produced: written to the raw topic).",
		}, []string{"connector_type", "connector", "result"}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tributary_fetcher_stage_duration_seconds",
			Help:    "Duration of the fetcher's sync stages, by connector type, stage and state.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"connector_type", "stage", "state"}),
		connectorInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tributary_fetcher_connector_info",
			Help: "1 for each configured connector, by connector type, connector and whether a schedule syncs it (false: on demand only).",
		}, []string{"connector_type", "connector", "scheduled"}),
		vendorRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_fetcher_vendor_requests_total",
			Help: "Vendor API requests, each attempt counted, by connector type, endpoint (the vendor's operation), status class and whether the attempt is a retry.",
		}, []string{"connector_type", "endpoint", "status_class", "retry"}),
		vendorSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tributary_fetcher_vendor_request_duration_seconds",
			Help:    "Latency of vendor API requests, each attempt, to the response's headers, by connector type and endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 10),
		}, []string{"connector_type", "endpoint"}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) {
	reg.MustRegister(m.syncsStarted, m.syncsFinished, m.syncFailures, m.records, m.stageSeconds, m.vendorRequests, m.vendorSeconds, m.connectorInfo)
}

// connectors starts the per-connector series at zero, so that a rate or an increase
// over them is defined before a connector's first sync ends.
func (m *metrics) connectors(cs []configuredConnector) {
	for _, c := range cs {
		m.connectorInfo.WithLabelValues(c.Type, c.ID, strconv.FormatBool(!c.Schedule.Disabled())).Set(1)
		m.syncsStarted.WithLabelValues(c.Type, c.ID)
		m.syncsFinished.WithLabelValues(c.Type, c.ID, "succeeded")
		m.syncsFinished.WithLabelValues(c.Type, c.ID, "failed")
		m.records.WithLabelValues(c.Type, c.ID, "produced")
	}
}

// failed counts a sync that failed in a fetcher stage.
func (m *metrics) failed(connectorType, connectorID, stage string, cerr *connector.Error) {
	m.syncsFinished.WithLabelValues(connectorType, connectorID, "failed").Inc()
	m.syncFailures.WithLabelValues(connectorType, connectorID, stage, string(cerr.Class)).Inc()
}

// vendorObserver returns the observer of a connector type's vendor API requests.
func (m *metrics) vendorObserver(connectorType string) connector.RequestObserver {
	return func(r connector.Request) {
		m.vendorRequests.WithLabelValues(connectorType, r.Endpoint, statusClass(r.Status), strconv.FormatBool(r.Retry)).Inc()
		m.vendorSeconds.WithLabelValues(connectorType, r.Endpoint).Observe(r.Duration.Seconds())
	}
}

// statusClass is the status_class label of an HTTP status: 2xx to 5xx, and error when
// no answer came (status 0) or the status is not one HTTP defines.
func statusClass(status int) string {
	switch {
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 300 && status < 400:
		return "3xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	default:
		return "error"
	}
}
