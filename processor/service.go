package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/parallel"
	"github.com/tributary-sec/tributary/internal/syncevent"
)

// processor enriches normalized records and writes them to ClickHouse, one polled batch
// at a time: decode, enrich, write, then report partitions whose sync is complete.
type processor struct {
	client               *kgo.Client
	codec                *avro.Codec
	store                *clickhouse.Client
	topics               kafka.Topics
	normalizedPartitions int32
	events               *syncevent.Publisher
	barrier              *barrier
	lifecycle            *lifecycle
	metrics              *metrics
	log                  *slog.Logger
	now                  func() time.Time

	// counts of rows written per sync and partition since the partition's last
	// completion, reported in PartitionDone.
	written map[barrierKey]*rowCounts
}

type rowCounts struct{ assets, findings int64 }

// handle is the kafka.Handler of the normalized topic. Records are decoded and enriched
// in parallel, then applied in batch order.
func (p *processor) handle(ctx context.Context, records []*kgo.Record) (kafka.Offsets, error) {
	decoded := make([]any, len(records))
	parallel.Chunks(len(records), func(start, end int) {
		for i := start; i < end; i++ {
			msg, err := p.codec.Decode(records[i].Value)
			if err != nil {
				msg = fmt.Errorf("undecodable normalized record: %w", err)
			} else if f, ok := msg.(*model.Finding); ok {
				e := enrich(f)
				msg = &e
			}
			decoded[i] = msg
		}
	})

	assets := map[string]model.Asset{}
	findings := map[string]model.EnrichedFinding{}
	in := map[[2]string]int{} // records read by connector type and kind
	var done []model.PartitionDone
	for i, r := range records {
		switch m := decoded[i].(type) {
		case *model.Asset:
			// Later records of the same asset replace earlier ones within the batch.
			assets[m.ConnectorID+"/"+m.UID] = *m
			p.count(m.SyncID, r.Partition).assets++
			in[[2]string{m.ConnectorType, kindAsset}]++
		case *model.EnrichedFinding:
			findings[m.Finding.ConnectorID+"/"+m.Finding.UID] = *m
			p.count(m.Finding.SyncID, r.Partition).findings++
			in[[2]string{m.Finding.ConnectorType, kindFinding}]++
		case *model.SyncEnd:
			s, complete := p.barrier.add(r.Partition, r.Offset, m, p.now())
			if complete {
				done = append(done, p.partitionDone(s, r.Partition))
			}
		default:
			reason, text := deadLetterReason(m)
			if err := p.deadLetter(ctx, r, reason, text); err != nil {
				return nil, err
			}
		}
	}
	for k, n := range in {
		p.metrics.recordsIn.WithLabelValues(k[0], k[1]).Add(float64(n))
	}
	if err := p.write(ctx, assets, findings); err != nil {
		return nil, err
	}
	// Only now, with the partition's rows written, may its completion be announced.
	for i := range done {
		if err := p.events.Publish(ctx, done[i].SyncID, &done[i]); err != nil {
			return nil, err
		}
		p.log.Info("partition done", "sync_id", done[i].SyncID, "connector", done[i].ConnectorID, "partition", done[i].Partition, "assets", done[i].Assets, "findings", done[i].Findings)
	}
	for _, s := range p.barrier.expire(p.now()) {
		p.log.Warn("gave up waiting for end-of-sync markers", "sync_id", s.SyncID, "connector", s.ConnectorID, "timeout", p.barrier.timeout.String())
	}
	holds := kafka.Offsets{p.topics.Normalized: p.barrier.holds()}
	return holds, nil
}

func (p *processor) count(syncID string, partition int32) *rowCounts {
	k := barrierKey{syncID, partition}
	c := p.written[k]
	if c == nil {
		c = &rowCounts{}
		p.written[k] = c
	}
	return c
}

func (p *processor) partitionDone(s model.SyncEnd, partition int32) model.PartitionDone {
	k := barrierKey{s.SyncID, partition}
	c := p.written[k]
	delete(p.written, k)
	if c == nil {
		c = &rowCounts{}
	}
	return model.PartitionDone{
		Stage:              model.StageProcessing,
		SyncID:             s.SyncID,
		ConnectorID:        s.ConnectorID,
		ConnectorType:      s.ConnectorType,
		SyncType:           s.SyncType,
		Partition:          partition,
		Partitions:         p.normalizedPartitions,
		Assets:             c.assets,
		Findings:           c.findings,
		Outcome:            s.Outcome,
		Scopes:             s.Scopes,
		AssetRetentionDays: s.AssetRetentionDays,
		Time:               p.now(),
	}
}

// write stores the batch, retrying with backoff while ClickHouse is unavailable: the
// batch's offsets are not committed until it succeeds, so nothing is lost meanwhile.
func (p *processor) write(ctx context.Context, assets map[string]model.Asset, findings map[string]model.EnrichedFinding) error {
	assetRows := make([]model.Asset, 0, len(assets))
	for _, a := range assets {
		assetRows = append(assetRows, a)
	}
	findingRows := make([]model.EnrichedFinding, 0, len(findings))
	for _, f := range findings {
		findingRows = append(findingRows, f)
	}
	return p.writeRows(ctx, assetRows, findingRows)
}

// writeRows applies the lifecycle to a batch (transitions, downstream topics, history)
// and then writes its rows, retrying while ClickHouse is unavailable.
func (p *processor) writeRows(ctx context.Context, assets []model.Asset, findings []model.EnrichedFinding) error {
	if len(assets) == 0 && len(findings) == 0 {
		return nil
	}
	if err := p.lifecycle.apply(ctx, assets, findings); err != nil {
		return err
	}
	if err := retry(ctx, p.log, "writing to ClickHouse", func() error { return p.writeOnce(ctx, assets, findings) }); err != nil {
		return err
	}
	p.metrics.written(assets, findings)
	return nil
}

// retry calls f until it succeeds or ctx ends, backing off from 250 ms to 30 s with
// jitter and logging each failure.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := min(30*time.Second, 250*time.Millisecond<<min(attempt, 7))
		wait = wait/2 + rand.N(wait/2+1)
		log.Error(what+"; retrying", "err", err, "attempt", attempt+1, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// writeOnce inserts the batch's assets and findings, the two tables concurrently.
func (p *processor) writeOnce(ctx context.Context, assets []model.Asset, findings []model.EnrichedFinding) error {
	var g errgroup.Group
	if len(assets) > 0 {
		g.Go(func() error {
			return p.metrics.insert("assets", len(assets), func() error { return p.store.WriteAssets(ctx, assets) })
		})
	}
	if len(findings) > 0 {
		g.Go(func() error {
			return p.metrics.insert("findings", len(findings), func() error { return p.store.WriteFindings(ctx, findings) })
		})
	}
	return g.Wait()
}

// deadLetterReason classifies what the processor cannot write, a decoding error or a
// record of a type the normalized topic does not carry, and says why in words.
func deadLetterReason(decoded any) (reason, text string) {
	if err, ok := decoded.(error); ok {
		return reasonUndecodable, err.Error()
	}
	return reasonMalformed, fmt.Sprintf("unexpected %T on the normalized topic", decoded)
}

// deadLetter keeps a record the processor cannot read on the dead-letter topic, with
// its reason's class and text.
func (p *processor) deadLetter(ctx context.Context, r *kgo.Record, reason, text string) error {
	p.metrics.deadLetters.WithLabelValues(reason).Inc()
	p.metrics.recordsFailed.WithLabelValues(unknownType).Inc()
	p.log.Warn("dead-lettering record", "reason", text, kafka.LogAttrs(r))
	value, err := p.codec.Encode(nil, &model.DeadLetter{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Key: r.Key, Value: r.Value, Reason: text, Stage: model.StageProcessing,
		Time: p.now(),
	})
	if err != nil {
		return err
	}
	if err := p.client.ProduceSync(ctx, &kgo.Record{Topic: p.topics.DeadLetter, Key: r.Key, Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("producing to %s: %w", p.topics.DeadLetter, err)
	}
	return nil
}
