// Command processor enriches normalized assets and findings, writes them to ClickHouse,
// and ends each sync once all of its partitions are written.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/service"
	"github.com/tributary-sec/tributary/internal/syncevent"
)

// pollRecords bounds a batch, and so the size of a ClickHouse insert: large enough to
// amortise the insert (each makes a part the server merges later), small enough to keep
// the processor's memory modest. Polls linger up to half a second to fill it.
const pollRecords = 10_000

// The consumer groups of the pipeline: the processor's own, and the normalizer's
// (normalizer/main.go), whose lag the processor reports.
const (
	group           = "tributary-processor"
	normalizerGroup = "tributary-normalizer"
)

// lagEvery is how often the processor measures the consumer groups' lag.
const lagEvery = 15 * time.Second

// groupTopic is a consumer group and the topic it reads.
type groupTopic struct{ group, topic string }

// measureLag sets the lag gauge of each group on its topic. A failed measure is logged
// and leaves the gauge as it was; the next one, lagEvery later, tries again.
func measureLag(ctx context.Context, cl *kgo.Client, m *metrics, log *slog.Logger, groups []groupTopic) {
	for _, g := range groups {
		lag, err := kafka.GroupLag(ctx, cl, g.group, g.topic)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("measuring consumer lag", "group", g.group, "topic", g.topic, "err", err)
			}
			continue
		}
		m.lag.WithLabelValues(g.group, g.topic).Set(float64(lag))
	}
}

func main() { service.Main("processor", run) }

// every calls f at once and then every d until ctx ends or f fails.
func every(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		if err := f(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func run(ctx context.Context) error {
	common := service.Flags("processor", "127.0.0.1:9466")
	ch := clickhouse.RegisterFlags(common.FlagSet)
	var syncTimeout time.Duration
	fs := common.FlagSet
	fs.DurationVar(&syncTimeout, "sync-timeout", service.EnvDuration("TRIBUTARY_SYNC_TIMEOUT", 2*time.Hour), "a sync with no new sync-log entry for this long is failed, and its partitions stop waiting for end-of-sync markers (env TRIBUTARY_SYNC_TIMEOUT)")
	if err := common.Parse(os.Args[1:]); err != nil {
		return err
	}
	rt, err := common.Start()
	if err != nil {
		return err
	}
	log, adminSrv, codec := rt.Log, rt.Admin, rt.Codec
	store, err := clickhouse.Open(ctx, *ch)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	topics := common.Kafka.Topics()
	p := &processor{
		codec:   codec,
		store:   store,
		topics:  topics,
		barrier: newBarrier(syncTimeout),
		metrics: newMetrics(rt.Registry),
		log:     log,
		now:     func() time.Time { return time.Now().UTC() },
		written: map[barrierKey]*rowCounts{},
	}
	p.client, err = kafka.NewClient(ctx, common.Kafka, append(kafka.ConsumerOpts(group, topics.Normalized), rt.KafkaMetrics("main"),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			p.barrier.drop(lost[topics.Normalized])
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			p.barrier.drop(lost[topics.Normalized])
		}),
	)...)
	if err != nil {
		return err
	}
	defer p.client.Close()
	counts, err := kafka.EnsureTopics(ctx, p.client, common.Kafka, topics.All()...)
	if err != nil {
		return err
	}
	p.normalizedPartitions = counts[topics.Normalized]
	p.events = syncevent.NewPublisher(p.client, codec, topics.SyncLog)
	p.lifecycle = &lifecycle{store: store, client: p.client, codec: codec, assetsTopic: topics.Assets, findingTopic: topics.Findings, metrics: p.metrics, log: log, now: p.now}

	// The finisher reads the sync log without committing (see finisher), so it has a
	// client of its own.
	f := &finisher{
		codec: codec, events: p.events, store: store, metrics: p.metrics, log: log, now: p.now,
		timeout: syncTimeout,
		retry: func(ctx context.Context, what string, fn func() error) error {
			return retry(ctx, log, what, fn)
		},
		syncs: map[string]*tracked{}, written: map[int32]int64{}, behind: map[int32]int64{}, lastDone: map[string]time.Time{},
		sweepScope: func(ctx context.Context, connectorID, scope, syncID string) (int, int, error) {
			return p.lifecycle.sweep(ctx, connectorID, scope, syncID, p.writeRows)
		},
		retire: func(ctx context.Context, connectorID string, notSeenSince time.Time) (int, error) {
			return p.lifecycle.retire(ctx, connectorID, notSeenSince, p.writeRows)
		},
	}
	logClient, err := kafka.NewClient(ctx, common.Kafka, append(kafka.ConsumerOpts("tributary-processor-finisher", topics.SyncLog), rt.KafkaMetrics("finisher"),
		kgo.OnPartitionsAssigned(func(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
			if err := f.assigned(ctx, assigned[topics.SyncLog]); err != nil && ctx.Err() == nil {
				log.Error("preparing to re-read the sync log", "err", err)
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { f.revoked(lost[topics.SyncLog]) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) { f.revoked(lost[topics.SyncLog]) }),
	)...)
	if err != nil {
		return err
	}
	defer logClient.Close()
	f.endOffsets = func(ctx context.Context) (map[int32]int64, error) {
		return kafka.EndOffsets(ctx, logClient, topics.SyncLog)
	}

	adminSrv.SetReady()
	log.Info("processor started", "admin_addr", adminSrv.Addr(), "clickhouse", ch.Addr, "database", store.Database())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adminSrv.Serve(gctx) })
	g.Go(func() error {
		return kafka.Consume(gctx, p.client, kafka.Batch{MaxRecords: pollRecords, Linger: 500 * time.Millisecond}, p.handle)
	})
	g.Go(func() error {
		// A short linger gathers a sync's entries into fewer sync_log and syncs inserts:
		// each insert makes a part, and a part costs the server far more than its rows.
		return kafka.ConsumeUncommitted(gctx, logClient, kafka.Batch{MaxRecords: 1000, Linger: 250 * time.Millisecond}, f.handle)
	})
	g.Go(func() error { return every(gctx, min(max(syncTimeout/10, time.Second), time.Minute), f.sweep) })
	g.Go(func() error {
		return every(gctx, lagEvery, func(ctx context.Context) error {
			measureLag(ctx, p.client, p.metrics, log, []groupTopic{{normalizerGroup, topics.Raw}, {group, topics.Normalized}})
			return nil
		})
	})
	g.Go(func() error {
		return every(gctx, time.Hour, func(ctx context.Context) error {
			dropped, err := store.DropExpiredSyncLog(ctx, p.now(), kafka.SyncLogRetention)
			if err != nil {
				log.Error("dropping expired sync-log partitions; will retry", "err", err)
			} else if len(dropped) > 0 {
				log.Info("dropped expired sync-log partitions", "partitions", dropped)
			}
			return nil
		})
	})
	err = g.Wait()
	log.Info("processor stopped")
	return err
}
