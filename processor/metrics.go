package main

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-sec/tributary/internal/connector/registry"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// metrics are the processor's Prometheus metrics (docs/metrics.md).
type metrics struct {
	recordsIn     *prometheus.CounterVec
	recordsOut    *prometheus.CounterVec
	recordsFailed *prometheus.CounterVec
	deadLetters   *prometheus.CounterVec
	batches       *prometheus.CounterVec
	batchRows     *prometheus.CounterVec
	batchSeconds  *prometheus.HistogramVec
	syncs         *prometheus.CounterVec
	stageSeconds  *prometheus.HistogramVec
	lastSuccess   *prometheus.GaugeVec
	lag           *prometheus.GaugeVec
}

// Values of the kind label.
const (
	kindAsset   = "asset"
	kindFinding = "finding"
)

// Dead-letter classes, the reason label of tributary_processor_dead_letters_total.
const (
	reasonUndecodable = "undecodable" // not a record Tributary can decode
	reasonMalformed   = "malformed"   // decoded, but not what the processor writes
)

// unknownType is the connector_type label of a record whose type cannot be read.
const unknownType = "unknown"

// The ClickHouse tables the processor writes, the table label.
var tables = []string{"assets", "findings", "asset_history", "finding_history"}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_processor_records_in_total",
			Help: "Normalized assets and findings read, by connector type and kind.",
		}, []string{"connector_type", "kind"}),
		recordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_processor_records_out_total",
			Help: "Assets and findings written to ClickHouse, by connector type and kind.",
		}, []string{"connector_type", "kind"}),
		recordsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_processor_records_failed_total",
			Help: "Normalized records sent to the dead-letter topic, by connector type.",
		}, []string{"connector_type"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_processor_dead_letters_total",
			Help: "Records sent to the dead-letter topic, by reason: undecodable or malformed.",
		}, []string{"reason"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_processor_clickhouse_batches_total",
			Help: "ClickHouse insert batches, by table and result (ok or error).",
		}, []string{"table", "result"}),
		batchRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_processor_clickhouse_rows_total",
			Help: "Rows written to ClickHouse, by table.",
		}, []string{"table"}),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tributary_processor_clickhouse_batch_duration_seconds",
			Help:    "Duration of ClickHouse insert batches, by table.",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 10),
		}, []string{"table"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_processor_syncs_finished_total",
			Help: "Syncs that ended, whatever stage ended them, by connector type, connector and the sync's status (done or failed).",
		}, []string{"connector_type", "connector", "status"}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tributary_processor_stage_duration_seconds",
			Help:    "Duration of the Normalizing and Processing stages, from Fetching's start (the stages stream), by connector type, stage and state.",
			Buckets: prometheus.ExponentialBuckets(0.1, 3, 10),
		}, []string{"connector_type", "stage", "state"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tributary_processor_last_successful_sync_timestamp_seconds",
			Help: "End time (Unix seconds) of each connector's newest Done sync in the sync log.",
		}, []string{"connector_type", "connector"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tributary_processor_consumer_lag_records",
			Help: "Records each Tributary consumer group has yet to read, by group and topic.",
		}, []string{"group", "topic"}),
	}
	reg.MustRegister(m.recordsIn, m.recordsOut, m.recordsFailed, m.deadLetters, m.batches, m.batchRows, m.batchSeconds,
		m.syncs, m.stageSeconds, m.lastSuccess, m.lag)
	// Series of fixed label values start at zero, so that a rate over them is defined
	// before their first event.
	for _, typ := range registry.Names() {
		for _, kind := range []string{kindAsset, kindFinding} {
			m.recordsIn.WithLabelValues(typ, kind)
			m.recordsOut.WithLabelValues(typ, kind)
		}
		m.recordsFailed.WithLabelValues(typ)
	}
	m.deadLetters.WithLabelValues(reasonUndecodable)
	m.deadLetters.WithLabelValues(reasonMalformed)
	for _, table := range tables {
		m.batches.WithLabelValues(table, "ok")
		m.batches.WithLabelValues(table, "error")
		m.batchRows.WithLabelValues(table)
		m.batchSeconds.WithLabelValues(table)
	}
	return m
}

// insert runs one ClickHouse insert of rows rows into table and counts it: its rows and
// duration when it succeeded.
func (m *metrics) insert(table string, rows int, write func() error) error {
	start := time.Now()
	if err := write(); err != nil {
		m.batches.WithLabelValues(table, "error").Inc()
		return err
	}
	m.batches.WithLabelValues(table, "ok").Inc()
	m.batchRows.WithLabelValues(table).Add(float64(rows))
	m.batchSeconds.WithLabelValues(table).Observe(time.Since(start).Seconds())
	return nil
}

// written counts the assets and findings of a batch written to ClickHouse.
func (m *metrics) written(assets []model.Asset, findings []model.EnrichedFinding) {
	counts := map[[2]string]int{}
	for i := range assets {
		counts[[2]string{assets[i].ConnectorType, kindAsset}]++
	}
	for i := range findings {
		counts[[2]string{findings[i].Finding.ConnectorType, kindFinding}]++
	}
	for k, n := range counts {
		m.recordsOut.WithLabelValues(k[0], k[1]).Add(float64(n))
	}
}

// stageEnded observes the duration of a Normalizing or Processing stage the finisher
// ended, from started (the stages stream: they start with Fetching). A skipped stage,
// or one without a start, has no duration.
func (m *metrics) stageEnded(connectorType string, ev *model.StageEvent, started time.Time) {
	if (ev.Stage != model.StageNormalizing && ev.Stage != model.StageProcessing) ||
		(ev.State != model.StateSucceeded && ev.State != model.StateFailed) || started.IsZero() || ev.EndedAt.IsZero() {
		return
	}
	m.stageSeconds.WithLabelValues(connectorType, ev.Stage, string(ev.State)).Observe(ev.EndedAt.Sub(started).Seconds())
}

// syncEnded counts a sync whose status has just become Done or Failed.
func (m *metrics) syncEnded(s *synclog.Sync) {
	m.syncs.WithLabelValues(s.ConnectorType, s.ConnectorID, strings.ToLower(string(s.Status))).Inc()
}
