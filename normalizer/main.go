// Command normalizer maps raw vendor records from Kafka to Tributary's unified assets
// and findings, and passes each sync's end-of-sync markers on.
package main

import (
	"context"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/service"
	"github.com/tributary-sec/tributary/internal/syncevent"
)

// pollRecords bounds a batch: raw records carry vendor JSON of a few KiB each, and the
// batch's output is produced and flushed before the next poll.
const pollRecords = 4000

// group is the normalizer's consumer group; the processor reports its lag.
const group = "tributary-normalizer"

func main() { service.Main("normalizer", run) }

func run(ctx context.Context) error {
	common := service.Flags("normalizer", "127.0.0.1:9465")
	if err := common.Parse(os.Args[1:]); err != nil {
		return err
	}
	rt, err := common.Start()
	if err != nil {
		return err
	}
	log, adminSrv := rt.Log, rt.Admin
	topics := common.Kafka.Topics()
	client, err := kafka.NewClient(ctx, common.Kafka, append(kafka.ConsumerOpts(group, topics.Raw), rt.KafkaMetrics("main"))...)
	if err != nil {
		return err
	}
	defer client.Close()
	counts, err := kafka.EnsureTopics(ctx, client, common.Kafka, topics.All()...)
	if err != nil {
		return err
	}
	n := &normalizer{
		client:               client,
		codec:                rt.Codec,
		topics:               topics,
		normalizedPartitions: counts[topics.Normalized],
		metrics:              newMetrics(rt.Registry),
		log:                  log,
		recentAssets:         newAssetFilter(time.Now),
		produced:             map[producedKey]int64{},
		handled:              map[partitionKey]*partitionCounts{},
		events:               syncevent.NewPublisher(client, rt.Codec, topics.SyncLog),
	}
	adminSrv.SetReady()
	log.Info("normalizer started", "admin_addr", adminSrv.Addr(), "normalized_partitions", n.normalizedPartitions)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return adminSrv.Serve(gctx) })
	g.Go(func() error { return kafka.Consume(gctx, client, kafka.Batch{MaxRecords: pollRecords}, n.handle) })
	err = g.Wait()
	log.Info("normalizer stopped")
	return err
}
