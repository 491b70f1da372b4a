// Command processor enriches normalized assets and findings, writes them to ClickHouse,
// and ends each sync once all of its partitions are written.
package main

import (
	"context"
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

func main() { service.Main("processor", run) }

func run(ctx context.Context) error {
	common := service.Flags("processor", "127.0.0.1:9466")
	var ch clickhouse.Options
	var barrierTimeout time.Duration
	fs := common.FlagSet
	fs.StringVar(&ch.Addr, "clickhouse-addr", service.Env("TRIBUTARY_CLICKHOUSE_ADDR", "127.0.0.1:9000"), "ClickHouse native protocol address (env TRIBUTARY_CLICKHOUSE_ADDR)")
	fs.StringVar(&ch.Database, "clickhouse-database", service.Env("TRIBUTARY_CLICKHOUSE_DATABASE", clickhouse.DefaultDatabase), "ClickHouse database (env TRIBUTARY_CLICKHOUSE_DATABASE)")
	fs.StringVar(&ch.Username, "clickhouse-user", service.Env("TRIBUTARY_CLICKHOUSE_USER", "default"), "ClickHouse user (env TRIBUTARY_CLICKHOUSE_USER); the password comes from env TRIBUTARY_CLICKHOUSE_PASSWORD only")
	fs.DurationVar(&barrierTimeout, "barrier-timeout", 2*time.Hour, "how long a partition waits for a sync's end-of-sync markers before giving up")
	if err := common.Parse(os.Args[1:]); err != nil {
		return err
	}
	ch.Password = os.Getenv("TRIBUTARY_CLICKHOUSE_PASSWORD")
	rt, err := common.Start()
	if err != nil {
		return err
	}
	log, adminSrv, codec := rt.Log, rt.Admin, rt.Codec
	store, err := clickhouse.Open(ctx, ch)
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
		barrier: newBarrier(barrierTimeout),
		metrics: newMetrics(rt.Registry),
		log:     log,
		now:     func() time.Time { return time.Now().UTC() },
		written: map[barrierKey]*rowCounts{},
	}
	p.client, err = kafka.NewClient(ctx, common.Kafka, append(kafka.ConsumerOpts("tributary-processor", topics.Normalized),
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

	// The finisher reads the sync log without committing (see finisher), so it has a
	// client of its own.
	logClient, err := kafka.NewClient(ctx, common.Kafka, kafka.ConsumerOpts("tributary-processor-finisher", topics.SyncLog)...)
	if err != nil {
		return err
	}
	defer logClient.Close()
	f := &finisher{codec: codec, events: p.events, metrics: p.metrics, log: log, now: p.now, syncs: map[string]*syncProgress{}}

	adminSrv.SetReady()
	log.Info("processor started", "admin_addr", adminSrv.Addr(), "clickhouse", ch.Addr, "database", store.Database())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adminSrv.Serve(gctx) })
	g.Go(func() error {
		return kafka.Consume(gctx, p.client, kafka.Batch{MaxRecords: pollRecords, Linger: 500 * time.Millisecond}, p.handle)
	})
	g.Go(func() error {
		return kafka.ConsumeUncommitted(gctx, logClient, kafka.Batch{MaxRecords: 1000}, f.handle)
	})
	err = g.Wait()
	log.Info("processor stopped")
	return err
}
