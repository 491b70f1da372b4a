package main

import "github.com/prometheus/client_golang/prometheus"

// metrics are the fetcher's Prometheus metrics.
type metrics struct {
	syncsStarted  *prometheus.CounterVec
	syncsFinished *prometheus.CounterVec
	records       *prometheus.CounterVec
	stageSeconds  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		syncsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_fetcher_syncs_started_total",
			Help: "Syncs started, by connector type and connector.",
		}, []string{"connector_type", "connector"}),
		syncsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_fetcher_syncs_finished_total",
			Help: "Syncs whose fetcher stages ended, by connector type, connector and outcome (succeeded or failed).",
		}, []string{"connector_type", "connector", "outcome"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_fetcher_records_total",
			Help: "Raw records, by connector type, connector and result.",
		}, []string{"connector_type", "connector", "result"}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tributary_fetcher_stage_duration_seconds",
			Help:    "Duration of the fetcher's sync stages, by connector type, stage and state.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"connector_type", "stage", "state"}),
	}
	reg.MustRegister(m.syncsStarted, m.syncsFinished, m.records, m.stageSeconds)
	return m
}
