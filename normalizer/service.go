package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/connector/registry"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/parallel"
	"github.com/tributary-sec/tributary/internal/syncevent"
)

// normalizer maps raw records to unified assets and findings. Per polled batch it
// produces everything, flushes, and only then lets the batch's offsets be committed.
type normalizer struct {
	client               *kgo.Client
	codec                *avro.Codec
	topics               kafka.Topics
	normalizedPartitions int32
	events               *syncevent.Publisher
	metrics              *metrics
	log                  *slog.Logger

	// recentAssets remembers assets already produced for a sync, so an asset shared
	// by many findings is sent once rather than once per finding.
	recentAssets *assetFilter

	mu       sync.Mutex
	produced map[producedKey]int64 // normalized records per sync, raw partition and target partition
	firstErr error

	// handled counts, per sync and raw partition, what the Normalizing stage reports
	// when the partition's end marker passes. Touched only by handle's goroutine.
	handled map[partitionKey]*partitionCounts
}

type partitionKey struct {
	sync         string
	rawPartition int32
}

type partitionCounts struct {
	in, assets, findings, failed int64
	firstFailure                 string
}

func (n *normalizer) counts(syncID string, rawPartition int32) *partitionCounts {
	k := partitionKey{syncID, rawPartition}
	c := n.handled[k]
	if c == nil {
		c = &partitionCounts{}
		n.handled[k] = c
	}
	return c
}

type producedKey struct {
	sync         string
	rawPartition int32
	partition    int32
}

// handle is the kafka.Handler of the raw topic. Decoding, mapping and encoding run in
// parallel over the batch; producing then runs in batch order, so each partition's
// records still precede its end-of-sync marker.
func (n *normalizer) handle(ctx context.Context, records []*kgo.Record) (kafka.Offsets, error) {
	counted := batchCounts{}
	results := make([]prepared, len(records))
	parallel.Chunks(len(records), func(start, end int) {
		var out connector.Normalized
		for i := start; i < end; i++ {
			results[i] = n.prepare(records[i], &out)
		}
	})
	for i, r := range records {
		res := &results[i]
		switch {
		case res.marker != nil:
			if err := n.forwardMarker(ctx, r, res.marker); err != nil {
				return nil, err
			}
		case res.deadLetter != nil:
			counted.add(res.connectorType).in++
			if id := res.deadLetter.SyncID; id != "" {
				c := n.counts(id, r.Partition)
				c.in++
				c.failed++
				if c.firstFailure == "" {
					c.firstFailure = res.deadLetter.Reason
				}
			}
			n.deadLetter(ctx, r, res.connectorType, res.reason, res.deadLetter)
		default:
			c := n.counts(res.syncID, r.Partition)
			c.in++
			c.assets += int64(len(res.assets))
			c.findings += int64(len(res.findings))
			bc := counted.add(res.connectorType)
			bc.in++
			bc.assets += len(res.assets)
			bc.findings += len(res.findings)
			for _, a := range res.assets {
				n.produce(ctx, r.Partition, a.syncID, a.key, a.value)
			}
			for _, f := range res.findings {
				n.produce(ctx, r.Partition, f.syncID, f.key, f.value)
			}
		}
	}
	// The normalizer keeps no state a restart would need: nothing is held back.
	if err := n.flush(ctx); err != nil {
		return nil, err
	}
	n.metrics.add(counted)
	return nil, nil
}

// batchCounts tallies a batch's records per connector type, so that the metrics are
// touched once per batch rather than once per record.
type batchCounts map[string]*typeCounts

type typeCounts struct{ in, assets, findings int }

func (b batchCounts) add(connectorType string) *typeCounts {
	c := b[connectorType]
	if c == nil {
		c = &typeCounts{}
		b[connectorType] = c
	}
	return c
}

// prepared is one raw record made ready to produce: its encoded assets and findings, a
// marker to forward, or the reason to dead-letter it.
type prepared struct {
	connectorType    string
	syncID           string
	assets, findings []encoded
	marker           *model.SyncEnd
	deadLetter       *model.DeadLetter
	reason           string // the dead letter's class: reasonUndecodable or reasonMalformed
}

// Dead-letter classes, the reason label of tributary_normalizer_dead_letters_total.
const (
	reasonUndecodable = "undecodable" // not a record Tributary can decode
	reasonMalformed   = "malformed"   // decoded, but not what the mapping needs
)

type encoded struct {
	syncID string
	key    []byte // connector id + "/" + uid
	value  []byte
}

// prepare decodes, maps and encodes one record. It is safe to call concurrently.
func (n *normalizer) prepare(r *kgo.Record, out *connector.Normalized) prepared {
	msg, err := n.codec.Decode(r.Value)
	if err != nil {
		return prepared{connectorType: unknownType, reason: reasonUndecodable, deadLetter: &model.DeadLetter{Reason: fmt.Sprintf("undecodable raw record: %v", err)}}
	}
	var raw *model.RawRecord
	switch m := msg.(type) {
	case *model.SyncEnd:
		return prepared{marker: m}
	case *model.RawRecord:
		raw = m
	default:
		return prepared{connectorType: unknownType, reason: reasonMalformed, deadLetter: &model.DeadLetter{Reason: fmt.Sprintf("unexpected %T on the raw topic", msg)}}
	}
	badRecord := func(reason string) prepared {
		return prepared{connectorType: raw.ConnectorType, reason: reasonMalformed, deadLetter: &model.DeadLetter{Reason: reason, SyncID: raw.SyncID, ConnectorID: raw.ConnectorID, VendorKey: raw.VendorKey}}
	}
	typ, err := registry.Lookup(raw.ConnectorType)
	if err != nil {
		return badRecord(err.Error())
	}
	out.Reset()
	if err := typ.Normalizer.Normalize(raw, out); err != nil {
		return badRecord(err.Error())
	}
	res := prepared{connectorType: raw.ConnectorType, syncID: raw.SyncID}
	// Assets are checked before encoding: most assets of a sync repeat one already sent.
	// If the record fails after all, its assets are forgotten again so a later finding
	// sends them.
	fail := func(err error) prepared {
		for _, a := range res.assets {
			n.recentAssets.forget(raw.SyncID, a.key)
		}
		return badRecord(err.Error())
	}
	for i := range out.Assets {
		a := &out.Assets[i]
		key := recordKey(a.ConnectorID, a.UID)
		if n.recentAssets.seen(raw.SyncID, key) {
			continue
		}
		if res.assets, err = n.encode(res.assets, raw.SyncID, key, a); err != nil {
			n.recentAssets.forget(raw.SyncID, key)
			return fail(err)
		}
	}
	for i := range out.Findings {
		f := &out.Findings[i]
		if res.findings, err = n.encode(res.findings, raw.SyncID, recordKey(f.ConnectorID, f.UID), f); err != nil {
			return fail(err)
		}
	}
	return res
}

// recordKey is a normalized record's Kafka key: connector id + "/" + uid.
func recordKey(connectorID, uid string) []byte {
	key := make([]byte, 0, len(connectorID)+1+len(uid))
	return append(append(append(key, connectorID...), '/'), uid...)
}

func (n *normalizer) encode(dst []encoded, syncID string, key []byte, msg any) ([]encoded, error) {
	value, err := n.codec.Encode(nil, msg)
	if err != nil {
		return dst, fmt.Errorf("encoding normalized record %s: %w", key, err)
	}
	return append(dst, encoded{syncID: syncID, key: key, value: value}), nil
}

func (n *normalizer) produce(ctx context.Context, rawPartition int32, syncID string, key, value []byte) {
	n.client.Produce(ctx, &kgo.Record{Topic: n.topics.Normalized, Key: key, Value: value}, func(rec *kgo.Record, err error) {
		if err != nil {
			n.fail(fmt.Errorf("producing to %s: %w", n.topics.Normalized, err))
			return
		}
		n.mu.Lock()
		n.produced[producedKey{syncID, rawPartition, rec.Partition}]++
		n.mu.Unlock()
	})
}

// forwardMarker passes the end of a sync on raw partition p to every normalized
// partition, behind everything produced from p for the sync.
func (n *normalizer) forwardMarker(ctx context.Context, r *kgo.Record, m *model.SyncEnd) error {
	if err := n.flush(ctx); err != nil {
		return err
	}
	recs := make([]*kgo.Record, 0, n.normalizedPartitions)
	n.mu.Lock()
	for q := range n.normalizedPartitions {
		fwd := *m
		fwd.Stage = model.StageNormalizing
		fwd.SourcePartition = r.Partition
		k := producedKey{m.SyncID, r.Partition, q}
		fwd.Records = n.produced[k]
		delete(n.produced, k)
		value, err := n.codec.Encode(nil, &fwd)
		if err != nil {
			n.mu.Unlock()
			return err
		}
		recs = append(recs, &kgo.Record{Topic: n.topics.Normalized, Partition: q, Value: value})
	}
	n.mu.Unlock()
	n.recentAssets.expire()
	if err := n.client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("forwarding end-of-sync markers of sync %s: %w", m.SyncID, err)
	}
	return n.partitionDone(ctx, r.Partition, m)
}

// partitionDone reports to the sync log that raw partition p of a sync is normalized:
// everything produced from it is flushed and its markers are forwarded.
func (n *normalizer) partitionDone(ctx context.Context, p int32, m *model.SyncEnd) error {
	k := partitionKey{m.SyncID, p}
	c := n.handled[k]
	delete(n.handled, k)
	if c == nil {
		c = &partitionCounts{}
	}
	done := &model.PartitionDone{
		Stage: model.StageNormalizing, SyncID: m.SyncID, ConnectorID: m.ConnectorID, ConnectorType: m.ConnectorType,
		SyncType: m.SyncType, Partition: p, Partitions: m.SourcePartitions,
		RecordsIn: c.in, Assets: c.assets, Findings: c.findings, RecordsFailed: c.failed, FirstFailure: c.firstFailure,
		Outcome: m.Outcome, Scopes: m.Scopes, Time: time.Now().UTC(),
	}
	if err := n.events.Publish(ctx, m.SyncID, done); err != nil {
		return err
	}
	n.log.Info("raw partition done", "sync_id", m.SyncID, "connector", m.ConnectorID, "raw_partition", p,
		"records", c.in, "assets", c.assets, "findings", c.findings, "dead_lettered", c.failed)
	return nil
}

// deadLetter sends a record the normalizer cannot handle to the dead-letter topic with
// the reason; the pipeline carries on.
func (n *normalizer) deadLetter(ctx context.Context, r *kgo.Record, connectorType, reason string, dl *model.DeadLetter) {
	n.metrics.deadLetters.WithLabelValues(reason).Inc()
	n.metrics.recordsFailed.WithLabelValues(connectorType).Inc()
	n.log.Warn("dead-lettering record", "reason", dl.Reason, "sync_id", dl.SyncID, "connector", dl.ConnectorID, "vendor_key", dl.VendorKey, kafka.LogAttrs(r))
	dl.Topic, dl.Partition, dl.Offset = r.Topic, r.Partition, r.Offset
	dl.Key, dl.Value = r.Key, r.Value
	dl.Stage, dl.Time = model.StageNormalizing, time.Now().UTC()
	value, err := n.codec.Encode(nil, dl)
	if err != nil {
		n.fail(err)
		return
	}
	n.client.Produce(ctx, &kgo.Record{Topic: n.topics.DeadLetter, Key: r.Key, Value: value}, func(_ *kgo.Record, err error) {
		if err != nil {
			n.fail(fmt.Errorf("producing to %s: %w", n.topics.DeadLetter, err))
		}
	})
}

// flush waits until everything produced so far is acknowledged and reports the first
// produce failure, which stops the service before the batch is committed.
func (n *normalizer) flush(ctx context.Context) error {
	if err := n.client.Flush(ctx); err != nil {
		return fmt.Errorf("flushing normalized records: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.firstErr
}

func (n *normalizer) fail(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.firstErr == nil {
		n.firstErr = err
	}
}

// unknownType is the connector_type label of a record whose type cannot be read.
const unknownType = "unknown"

// metrics are the normalizer's Prometheus metrics (docs/metrics.md).
type metrics struct {
	recordsIn     *prometheus.CounterVec
	recordsOut    *prometheus.CounterVec
	recordsFailed *prometheus.CounterVec
	deadLetters   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_normalizer_records_in_total",
			Help: "Raw records read, by connector type.",
		}, []string{"connector_type"}),
		recordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_normalizer_records_out_total",
			Help: "Assets and findings produced to the normalized topic, by connector type and kind (asset or finding).",
		}, []string{"connector_type", "kind"}),
		recordsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_normalizer_records_failed_total",
			Help: "Raw records sent to the dead-letter topic, by connector type.",
		}, []string{"connector_type"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_normalizer_dead_letters_total",
			Help: "Records sent to the dead-letter topic, by reason: undecodable or malformed.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.recordsIn, m.recordsOut, m.recordsFailed, m.deadLetters)
	// Every series starts at zero, so that a rate over it is defined before its first record.
	for _, typ := range registry.Names() {
		m.recordsIn.WithLabelValues(typ)
		m.recordsOut.WithLabelValues(typ, kindAsset)
		m.recordsOut.WithLabelValues(typ, kindFinding)
		m.recordsFailed.WithLabelValues(typ)
	}
	m.deadLetters.WithLabelValues(reasonUndecodable)
	m.deadLetters.WithLabelValues(reasonMalformed)
	return m
}

// Values of the kind label.
const (
	kindAsset   = "asset"
	kindFinding = "finding"
)

// add counts a batch's records.
func (m *metrics) add(b batchCounts) {
	for typ, c := range b {
		m.recordsIn.WithLabelValues(typ).Add(float64(c.in))
		if c.assets > 0 {
			m.recordsOut.WithLabelValues(typ, kindAsset).Add(float64(c.assets))
		}
		if c.findings > 0 {
			m.recordsOut.WithLabelValues(typ, kindFinding).Add(float64(c.findings))
		}
	}
}
