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
)

// normalizer maps raw records to unified assets and findings. Per polled batch it
// produces everything, flushes, and only then lets the batch's offsets be committed.
type normalizer struct {
	client               *kgo.Client
	codec                *avro.Codec
	topics               kafka.Topics
	normalizedPartitions int32
	metrics              *metrics
	log                  *slog.Logger

	// recentAssets remembers assets already produced for a sync, so an asset shared
	// by many findings is sent once per partition rather than once per finding.
	recentAssets *assetFilter

	mu       sync.Mutex
	produced map[producedKey]int64 // normalized records per sync, raw partition and target partition
	firstErr error
}

type producedKey struct {
	sync         string
	rawPartition int32
	partition    int32
}

// handle is the kafka.Handler of the raw topic.
func (n *normalizer) handle(ctx context.Context, records []*kgo.Record) (kafka.Offsets, error) {
	var out connector.Normalized
	for _, r := range records {
		msg, err := n.codec.Decode(r.Value)
		if err != nil {
			n.deadLetter(ctx, r, fmt.Sprintf("undecodable raw record: %v", err), "", "", "")
			continue
		}
		switch m := msg.(type) {
		case *model.RawRecord:
			n.normalize(ctx, r, m, &out)
		case *model.SyncEnd:
			if err := n.forwardMarker(ctx, r, m); err != nil {
				return nil, err
			}
		default:
			n.deadLetter(ctx, r, fmt.Sprintf("unexpected %T on the raw topic", msg), "", "", "")
		}
	}
	// The normalizer keeps no state a restart would need: nothing is held back.
	return nil, n.flush(ctx)
}

func (n *normalizer) normalize(ctx context.Context, r *kgo.Record, raw *model.RawRecord, out *connector.Normalized) {
	typ, err := registry.Lookup(raw.ConnectorType)
	if err != nil {
		n.deadLetter(ctx, r, err.Error(), raw.SyncID, raw.ConnectorID, raw.VendorKey)
		return
	}
	out.Reset()
	if err := typ.Normalizer.Normalize(raw, out); err != nil {
		n.deadLetter(ctx, r, err.Error(), raw.SyncID, raw.ConnectorID, raw.VendorKey)
		return
	}
	n.metrics.records.WithLabelValues(raw.ConnectorType, "normalized").Inc()
	for i := range out.Assets {
		a := &out.Assets[i]
		if n.recentAssets.seen(a, r.Partition) {
			continue
		}
		n.produce(ctx, r.Partition, raw.SyncID, a.ConnectorID, a.UID, a)
	}
	for i := range out.Findings {
		f := &out.Findings[i]
		n.produce(ctx, r.Partition, raw.SyncID, f.ConnectorID, f.UID, f)
	}
}

func (n *normalizer) produce(ctx context.Context, rawPartition int32, syncID, connectorID, uid string, msg any) {
	value, err := n.codec.Encode(nil, msg)
	if err != nil {
		n.fail(fmt.Errorf("encoding normalized record %s/%s: %w", connectorID, uid, err))
		return
	}
	key := make([]byte, 0, len(connectorID)+1+len(uid))
	key = append(append(append(key, connectorID...), '/'), uid...)
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
	n.recentAssets.forget(m.SyncID, r.Partition)
	if err := n.client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("forwarding end-of-sync markers of sync %s: %w", m.SyncID, err)
	}
	n.log.Info("raw partition done", "sync_id", m.SyncID, "connector", m.ConnectorID, "raw_partition", r.Partition)
	return nil
}

// deadLetter sends a record the normalizer cannot handle to the dead-letter topic with
// the reason; the pipeline carries on.
func (n *normalizer) deadLetter(ctx context.Context, r *kgo.Record, reason, syncID, connectorID, vendorKey string) {
	n.metrics.deadLetters.WithLabelValues(model.StageNormalizing).Inc()
	n.log.Warn("dead-lettering record", "reason", reason, "sync_id", syncID, "connector", connectorID, "vendor_key", vendorKey, kafka.LogAttrs(r))
	dl := &model.DeadLetter{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Key: r.Key, Value: r.Value,
		Reason: reason, Stage: model.StageNormalizing,
		SyncID: syncID, ConnectorID: connectorID, VendorKey: vendorKey,
		Time: time.Now().UTC(),
	}
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

// metrics are the normalizer's Prometheus metrics.
type metrics struct {
	records     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_normalizer_records_total",
			Help: "Raw records handled, by connector type and result.",
		}, []string{"connector_type", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_normalizer_dead_letters_total",
			Help: "Records sent to the dead-letter topic, by stage.",
		}, []string{"stage"}),
	}
	reg.MustRegister(m.records, m.deadLetters)
	return m
}
