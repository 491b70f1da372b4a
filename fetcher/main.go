// Command fetcher runs Tributary's connectors: for each sync it runs Initiating,
// Connectivity Test and Fetching, producing raw vendor records to Kafka.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
	_ "time/tzdata" // schedules name IANA time zones; a container image may have no zoneinfo

	"golang.org/x/sync/errgroup"

	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/controlapi"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/schedule"
	"github.com/tributary-sec/tributary/internal/service"
	"github.com/tributary-sec/tributary/internal/syncevent"
)

func main() { service.Main("fetcher", run) }

type options struct {
	*service.Common
	connectorsPath string
	syncAtStart    string
	exitAfterSync  bool
	apiAddr        string
	apiToken       string
	clickhouse     *clickhouse.Options
	progressEvery  time.Duration
}

func parseFlags() (options, error) {
	o := options{Common: service.Flags("fetcher", "127.0.0.1:9464")}
	fs := o.FlagSet
	fs.StringVar(&o.connectorsPath, "connectors", service.Env("TRIBUTARY_CONNECTORS", "connectors.yaml"), "connectors YAML file (env TRIBUTARY_CONNECTORS)")
	fs.StringVar(&o.syncAtStart, "sync-at-start", service.Env("TRIBUTARY_SYNC_AT_START", ""), "run a sync of every connector at start-up: full or incremental (env TRIBUTARY_SYNC_AT_START)")
	fs.BoolVar(&o.exitAfterSync, "exit-after-sync", service.EnvBool("TRIBUTARY_EXIT_AFTER_SYNC", false), "exit once the start-up syncs are done (batch use and benchmarks); no schedule runs (env TRIBUTARY_EXIT_AFTER_SYNC)")
	fs.StringVar(&o.apiAddr, "api-addr", service.Env("TRIBUTARY_API_ADDR", "127.0.0.1:8480"), "control API and Connector Logs page address (env TRIBUTARY_API_ADDR); off loopback, env TRIBUTARY_API_TOKEN must set a bearer token")
	fs.DurationVar(&o.progressEvery, "progress-every", service.EnvDuration("TRIBUTARY_PROGRESS_EVERY", 30*time.Second), "how often a running Fetching stage logs its record count (env TRIBUTARY_PROGRESS_EVERY)")
	o.clickhouse = clickhouse.RegisterFlags(fs)
	o.apiToken = os.Getenv("TRIBUTARY_API_TOKEN")
	if err := o.Parse(os.Args[1:]); err != nil {
		return o, err
	}
	if err := checkAPIAddr(o.apiAddr, o.apiToken); err != nil {
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
	metrics := newMetrics()
	connectors, err := loadConnectors(o.connectorsPath, metrics.vendorObserver)
	if err != nil {
		return err
	}
	rt, err := o.Start()
	if err != nil {
		return err
	}
	log, adminSrv, codec := rt.Log, rt.Admin, rt.Codec
	metrics.register(rt.Registry)
	metrics.connectors(connectors)
	client, err := kafka.NewClient(ctx, o.Kafka, rt.KafkaMetrics("main"))
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
		metrics:       metrics,
		log:           log,
		now:           func() time.Time { return time.Now().UTC() },
		progressEvery: o.progressEvery,
	}
	hist, err := readHistory(ctx, o.Kafka, topics.SyncLog, r, connectors)
	if err != nil {
		return err
	}
	if err := r.failUnfinished(ctx, hist.unfinished); err != nil {
		return err
	}
	store, err := clickhouse.Open(ctx, *o.clickhouse)
	if err != nil {
		return err
	}
	defer store.Close()
	apiLn, err := net.Listen("tcp", o.apiAddr)
	if err != nil {
		return fmt.Errorf("listening on the control API address %s: %w; pick a free one with --api-addr", o.apiAddr, err)
	}

	g, gctx := errgroup.WithContext(ctx)
	serveCtx, stopServing := context.WithCancel(gctx)
	defer stopServing()
	ctl := newControl(serveCtx, r, store, connectors, log)
	apiSrv := &http.Server{Handler: controlapi.New(controlapi.Config{Store: store, Runner: ctl, Token: o.apiToken, Log: log}), ReadHeaderTimeout: 5 * time.Second}
	adminSrv.SetReady()
	log.Info("fetcher started", "connectors", len(connectors), "admin_addr", adminSrv.Addr(), "api_addr", apiLn.Addr().String(), "raw_partitions", r.rawPartitions)

	g.Go(func() error { return adminSrv.Serve(serveCtx) })
	g.Go(func() error {
		go func() { <-serveCtx.Done(); apiSrv.Close() }()
		if err := apiSrv.Serve(apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving the control API: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		select {
		case err := <-ctl.fatal:
			return err
		case <-serveCtx.Done():
			return nil
		}
	})
	g.Go(func() error {
		if o.syncAtStart != "" {
			for _, c := range connectors {
				ctl.RunNow(c.ID, model.SyncType(o.syncAtStart), "--sync-at-start")
				hist.lastStarted[c.ID] = time.Now()
			}
		}
		if o.exitAfterSync {
			select {
			case err := <-ctl.fatal:
				return err
			default:
			}
			stopServing()
			return nil
		}
		jobs := make([]schedule.Job, 0, len(connectors))
		for _, c := range connectors {
			jobs = append(jobs, schedule.Job{ConnectorID: c.ID, Schedule: c.Schedule, LastStarted: hist.lastStarted[c.ID]})
		}
		return schedule.Run(serveCtx, jobs, func(_ context.Context, id string, at time.Time, typ string) {
			log.Info("scheduled sync", "connector", id, "scheduled_at", at.Format(time.RFC3339))
			ctl.RunNow(id, model.SyncType(typ), "schedule")
		}, log)
	})
	err = g.Wait()
	ctl.wait(10 * time.Second)
	flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ferr := client.Flush(flushCtx); ferr != nil && err == nil {
		err = fmt.Errorf("flushing Kafka producer: %w", ferr)
	}
	log.Info("fetcher stopped")
	return err
}

// checkAPIAddr refuses a control API reachable from other hosts without a token: it
// starts syncs and shows vendor error details.
func checkAPIAddr(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--api-addr %q is not host:port: %w", addr, err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if !loopback && token == "" {
		return fmt.Errorf("--api-addr %s listens beyond this host but no token is set; set env TRIBUTARY_API_TOKEN to a long random string (clients send it as a bearer token), or listen on 127.0.0.1", addr)
	}
	return nil
}
