package stack_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/clickhouse/clickhousetest"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/kafka/kafkatest"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
	"github.com/tributary-sec/tributary/internal/stack"
	"github.com/tributary-sec/tributary/internal/syncevent"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// newSim returns a simulator of n findings over the e2e test's two regions.
func newSim(t *testing.T, n int, faults inspector.Faults) *inspector.Simulator {
	t.Helper()
	sim, err := inspector.New(inspector.Config{Seed: 5, Findings: n, Regions: []string{"us-east-1", "eu-west-1"}, AccessKeyID: e2eAccessKey, SecretAccessKey: e2eSecret})
	if err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(faults)
	return sim
}

// start starts the services over p with cfg's instance counts and extra flags.
func (p *pipeline) start(ctx context.Context, cfg stack.Config) *stack.Services {
	p.t.Helper()
	cfg.BinDir, cfg.LogDir, cfg.Kafka = binDir, p.t.TempDir(), p.kafka
	cfg.ClickHouseAddr, cfg.Database, cfg.Connectors = clickhousetest.Addr(p.t), p.database, p.connectors
	cfg.FetcherEnv = []string{e2eSecretEnv + "=" + e2eSecret}
	svc, err := stack.Start(ctx, cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { svc.Stop() })
	return svc
}

// waitSync polls the syncs table until aws-e2e's newest sync satisfies done.
func (p *pipeline) waitSync(ctx context.Context, svc *stack.Services, what string, done func(synclog.Sync) bool) synclog.Sync {
	p.t.Helper()
	return p.waitSyncOf(ctx, svc, "aws-e2e", what, done)
}

// waitSyncOf polls the syncs table until the connector's newest sync satisfies done.
func (p *pipeline) waitSyncOf(ctx context.Context, svc *stack.Services, connectorID, what string, done func(synclog.Sync) bool) synclog.Sync {
	p.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last []synclog.Sync
	for time.Now().Before(deadline) {
		syncs, err := p.store.Syncs(ctx, synclog.Filter{ConnectorID: connectorID})
		if err != nil {
			p.t.Fatal(err)
		}
		last = syncs
		if len(syncs) > 0 && done(syncs[0]) && p.entriesWritten(ctx, syncs[0]) {
			return syncs[0]
		}
		if err := svc.Exited(); err != nil {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("waiting for %s: timed out; syncs table: %+v", what, last)
	return synclog.Sync{}
}

// entriesWritten says whether an ended sync's entries are all in ClickHouse: its syncs
// row is written just before them, so a read may see the row first.
func (p *pipeline) entriesWritten(ctx context.Context, s synclog.Sync) bool {
	if s.Status == synclog.StatusInProgress {
		return true
	}
	_, entries, err := p.store.Sync(ctx, s.ID, "")
	return err == nil && slices.ContainsFunc(entries, func(e synclog.Entry) bool {
		return e.Stage == model.StageProcessing && synclog.IsFinal(e.State)
	})
}

func stageStates(s synclog.Sync) map[string]model.StageState {
	out := map[string]model.StageState{}
	for _, st := range s.Stages {
		out[st.Name] = st.State
	}
	return out
}

// TestSyncEndsAcrossInstances runs a sync over six partitions with two normalizers and
// two processors: it ends Done only once every partition has reported, its row and
// entries land in ClickHouse, and finishing it a second time changes nothing.
func TestSyncEndsAcrossInstances(t *testing.T) {
	ctx := context.Background()
	sim := newSim(t, 300, inspector.Faults{Malformed: 1})
	p := newPipeline(t, sim)
	p.kafka = kafkatest.New(t, 6)
	svc := p.start(ctx, stack.Config{SyncAtStart: "full", Instances: map[string]int{"normalizer": 2, "processor": 2}})

	s := p.waitSync(ctx, svc, "the sync to end", func(s synclog.Sync) bool { return s.Status != synclog.StatusInProgress })
	served := int64(len(sim.Findings("us-east-1")) + len(sim.Findings("eu-west-1")))
	if s.Status != synclog.StatusDone || s.FailedStage != "" || s.Error != nil {
		t.Fatalf("sync status %s, failed stage %q, error %+v; want Done", s.Status, s.FailedStage, s.Error)
	}
	for name, state := range stageStates(s) {
		if state != model.StateSucceeded {
			t.Errorf("stage %s is %s, want succeeded", name, state)
		}
	}
	if s.RecordsFetched != served || s.RecordsFailed != 1 || s.EndedAt == nil || s.IngestionSeconds <= 0 {
		t.Errorf("fetched %d (want %d), failed %d (want 1), ended %v, ingestion %.3fs", s.RecordsFetched, served, s.RecordsFailed, s.EndedAt, s.IngestionSeconds)
	}
	if n := s.Stage(model.StageNormalizing); n.RecordsIn != served || n.RecordsFailed != 1 {
		t.Errorf("Normalizing: %d in, %d failed; want %d and 1", n.RecordsIn, n.RecordsFailed, served)
	}
	if got, want := s.RecordsWritten, s.Stage(model.StageNormalizing).RecordsOut; got != want || got == 0 {
		t.Errorf("Processing wrote %d records, Normalizing produced %d", got, want)
	}

	_, entries, err := p.store.Sync(ctx, s.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	var rawDone, normalizedDone, warns int
	for _, e := range entries {
		switch {
		case e.Level == model.LevelDebug && strings.HasPrefix(e.Message, "raw partition"):
			rawDone++
		case e.Level == model.LevelDebug && strings.HasPrefix(e.Message, "normalized partition"):
			normalizedDone++
		case e.Level == model.LevelWarn && strings.Contains(e.Message, "could not be normalized"):
			warns++
		}
	}
	if rawDone != 6 || normalizedDone != 6 || warns != 1 {
		t.Errorf("entries: %d raw partitions done, %d normalized partitions done, %d dead-letter warnings; want 6, 6, 1", rawDone, normalizedDone, warns)
	}

	// Finishing the sync again (a finisher restarted between two events would) leaves one
	// row, still Done.
	codec, err := avro.New()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kafka.NewClient(ctx, p.kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ev := syncevent.Stage(&model.SyncEnd{SyncID: s.ID, ConnectorID: s.ConnectorID, ConnectorType: s.ConnectorType, SyncType: s.Type}, model.StageProcessing)
	ev.State, ev.Level, ev.Time, ev.Message = model.StateSucceeded, model.LevelInfo, time.Now().UTC(), "finished again"
	ev.StartedAt, ev.EndedAt = time.Now().UTC(), time.Now().UTC()
	if err := syncevent.NewPublisher(cl, codec, p.kafka.Topics().SyncLog).Publish(ctx, s.ID, ev); err != nil {
		t.Fatal(err)
	}
	again := p.waitSync(ctx, svc, "the second finish to be logged", func(got synclog.Sync) bool {
		_, es, err := p.store.Sync(ctx, got.ID, "")
		return err == nil && len(es) == len(entries)+1
	})
	all, err := p.store.Syncs(ctx, synclog.Filter{ConnectorID: "aws-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || again.ID != s.ID || again.Status != synclog.StatusDone || again.RecordsWritten != s.RecordsWritten {
		t.Errorf("after finishing twice: %d syncs, status %s, written %d; want 1 sync, Done, %d", len(all), again.Status, again.RecordsWritten, s.RecordsWritten)
	}
}

// fetchingStarted says the sync is fetching and some of its records are written.
func (p *pipeline) fetchingStarted(ctx context.Context) func(synclog.Sync) bool {
	return func(s synclog.Sync) bool {
		return s.Stage(model.StageFetching).State == model.StateRunning && p.count(p.t, "SELECT count() FROM findings") > 0
	}
}

// TestRestartedFetcherFailsItsSync kills the fetcher in the middle of Fetching and starts
// it again: it fails the sync it left behind, and what was fetched is still written.
func TestRestartedFetcherFailsItsSync(t *testing.T) {
	ctx := context.Background()
	sim := newSim(t, 400, inspector.Faults{PageDelay: 250 * time.Millisecond})
	p := newPipeline(t, sim)
	svc := p.start(ctx, stack.Config{SyncAtStart: "full"})
	p.waitSync(ctx, svc, "Fetching to write records", p.fetchingStarted(ctx))
	svc.Kill("fetcher")
	if err := svc.Restart(ctx, "fetcher"); err != nil {
		t.Fatal(err)
	}

	s := p.waitSync(ctx, svc, "the sync to end", func(s synclog.Sync) bool { return s.Status != synclog.StatusInProgress })
	if s.Status != synclog.StatusFailed || s.FailedStage != model.StageFetching || s.Error == nil ||
		!strings.Contains(s.Error.Message, "the fetcher stopped during Fetching") || !strings.Contains(s.Error.RecommendedAction, "Run the sync again") {
		t.Fatalf("sync %s, failed stage %q, error %+v; want Failed at Fetching because the fetcher stopped", s.Status, s.FailedStage, s.Error)
	}
	states := stageStates(s)
	if states[model.StageNormalizing] != model.StateSucceeded || states[model.StageProcessing] != model.StateSucceeded {
		t.Errorf("stages %v: what was fetched should still be normalized and processed", states)
	}
	written := p.count(t, "SELECT count() FROM findings FINAL")
	if written == 0 || written >= 400 {
		t.Errorf("%d findings written; want the ones fetched before the kill, more than 0 and fewer than 400", written)
	}
}

// TestStalledSyncFails kills the fetcher in the middle of Fetching for good: after the
// processor's --sync-timeout the sync is failed with a reason that says what happened.
func TestStalledSyncFails(t *testing.T) {
	ctx := context.Background()
	sim := newSim(t, 400, inspector.Faults{PageDelay: 250 * time.Millisecond})
	p := newPipeline(t, sim)
	svc := p.start(ctx, stack.Config{SyncAtStart: "full", ExtraArgs: map[string][]string{"processor": {"--sync-timeout", "3s"}}})
	p.waitSync(ctx, svc, "Fetching to write records", p.fetchingStarted(ctx))
	svc.Kill("fetcher")

	s := p.waitSync(ctx, svc, "the sync to time out", func(s synclog.Sync) bool { return s.Status != synclog.StatusInProgress })
	if s.Status != synclog.StatusFailed || s.FailedStage != model.StageFetching || s.Error == nil ||
		!strings.Contains(s.Error.Message, "made no progress") || !strings.Contains(s.Error.Message, "fetcher") {
		t.Fatalf("sync %s, failed stage %q, error %+v; want Failed at Fetching for lack of progress", s.Status, s.FailedStage, s.Error)
	}
	states := stageStates(s)
	if states[model.StageNormalizing] != model.StateSkipped || states[model.StageProcessing] != model.StateSkipped {
		t.Errorf("stages %v: Normalizing and Processing should be skipped", states)
	}
}
