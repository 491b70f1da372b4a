// Command fetcher runs Tributary's connectors: for each sync it runs Initiating,
// Connectivity Test and Fetching, producing raw vendor records to Kafka.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/service"
	"github.com/tributary-sec/tributary/internal/syncevent"
)

func main() { service.Main("fetcher", run) }

type options struct {
	*service.Common
	connectorsPath string
	syncAtStart    string
	exitAfterSync  bool
}

func parseFlags() (options, error) {
	o := options{Common: service.Flags("fetcher", "127.0.0.1:9464")}
	fs := o.FlagSet
	fs.StringVar(&o.connectorsPath, "connectors", service.Env("TRIBUTARY_CONNECTORS", "connectors.yaml"), "connectors YAML file (env TRIBUTARY_CONNECTORS)")
	fs.StringVar(&o.syncAtStart, "sync-at-start", service.Env("TRIBUTARY_SYNC_AT_START", ""), "run a sync of every connector at start-up: full or incremental (env TRIBUTARY_SYNC_AT_START)")
	fs.BoolVar(&o.exitAfterSync, "exit-after-sync", false, "exit once the start-up syncs are done (batch use and benchmarks)")
	if err := o.Parse(os.Args[1:]); err != nil {
		return o, err
	}
	switch model.SyncType(o.syncAtStart) {
	case "", model.SyncFull, model.SyncIncremental:
	default:
		return o, fmt.Errorf("--sync-at-start is %q; use full or incremental", o.syncAtStart)
	}
	return o, nil
}

func run(ctx context.Context) error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	connectors, err := loadConnectors(o.connectorsPath)
	if err != nil {
		return err
	}
	rt, err := o.Start()
	if err != nil {
		return err
	}
	log, adminSrv, codec := rt.Log, rt.Admin, rt.Codec
	client, err := kafka.NewClient(ctx, o.Kafka)
	if err != nil {
		return err
	}
	defer client.Close()
	topics := o.Kafka.Topics()
	counts, err := kafka.EnsureTopics(ctx, client, o.Kafka, topics.All()...)
	if err != nil {
		return err
	}
	r := &runner{
		client:        client,
		codec:         codec,
		rawTopic:      topics.Raw,
		rawPartitions: counts[topics.Raw],
		events:        syncevent.NewPublisher(client, codec, topics.SyncLog),
		metrics:       newMetrics(rt.Registry),
		log:           log,
		now:           func() time.Time { return time.Now().UTC() },
	}
	adminSrv.SetReady()
	log.Info("fetcher started", "connectors", len(connectors), "admin_addr", adminSrv.Addr(), "raw_partitions", r.rawPartitions)

	g, gctx := errgroup.WithContext(ctx)
	serveCtx, stopServing := context.WithCancel(gctx)
	defer stopServing()
	g.Go(func() error { return adminSrv.Serve(serveCtx) })
	g.Go(func() error {
		if o.syncAtStart != "" {
			for _, c := range connectors {
				if _, err := r.run(gctx, c, model.SyncType(o.syncAtStart)); err != nil {
					return err
				}
			}
		}
		if o.exitAfterSync {
			stopServing()
			return nil
		}
		<-gctx.Done()
		return nil
	})
	err = g.Wait()
	flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ferr := client.Flush(flushCtx); ferr != nil && err == nil {
		err = fmt.Errorf("flushing Kafka producer: %w", ferr)
	}
	log.Info("fetcher stopped")
	return err
}
