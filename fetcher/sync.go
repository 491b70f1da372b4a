package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/syncevent"
)

// runner runs syncs: Initiating, Connectivity Test and Fetching, producing raw records
// and then one end-of-sync marker into every raw partition.
type runner struct {
	client        *kgo.Client
	codec         *avro.Codec
	rawTopic      string
	rawPartitions int32
	events        *syncevent.Publisher
	metrics       *metrics
	log           *slog.Logger
	now           func() time.Time
	progressEvery time.Duration
}

// syncResult is how a sync's fetcher stages ended.
type syncResult struct {
	SyncID      string
	FailedStage string // empty when the fetcher's stages succeeded
	Err         *connector.Error
	Records     int64
}

// newSyncID returns a new sync id: a UUIDv7, so ids sort by start time.
func newSyncID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("creating sync id: %w", err)
	}
	return id.String(), nil
}

// run runs one sync of c. Errors of the vendor or the configuration end the sync as
// Failed and are reported in the sync log; run returns an error only when the sync log
// itself cannot be written.
func (r *runner) run(ctx context.Context, c configuredConnector, plan syncPlan, syncID string) (syncResult, error) {
	typ := plan.Type
	s := &model.SyncEnd{SyncID: syncID, ConnectorID: c.ID, ConnectorType: c.Type, SyncType: typ}
	if r, ok := c.Source.(connector.AssetRetention); ok {
		s.AssetRetentionDays = int32(r.AssetRetentionDays())
	}
	log := r.log.With("connector", c.ID, "sync_id", s.SyncID, "sync_type", string(typ))
	log.Info("sync started")
	r.metrics.syncsStarted.WithLabelValues(c.Type, c.ID).Inc()
	res := syncResult{SyncID: s.SyncID}

	fail := func(stage string, cerr *connector.Error) (syncResult, error) {
		res.FailedStage, res.Err = stage, cerr
		log.Error("sync failed", "stage", stage, "err", cerr.Error(), "class", string(cerr.Class))
		r.metrics.failed(c.Type, c.ID, stage, cerr)
		return res, r.skipAfter(ctx, s, stage)
	}

	// Initiating.
	started := r.now()
	if err := r.publish(ctx, s, model.StageInitiating, model.StateRunning, started, time.Time{}, "resolving credentials", nil, 0); err != nil {
		return res, err
	}
	if plan.Note != "" {
		note := syncevent.Stage(s, model.StageInitiating)
		note.Level, note.Time, note.Message = model.LevelInfo, r.now(), plan.Note
		if err := r.events.Publish(ctx, s.SyncID, note); err != nil {
			return res, err
		}
	}
	if err := c.Source.Initiate(ctx); err != nil {
		cerr := connector.AsError(err)
		if err := r.publish(ctx, s, model.StageInitiating, model.StateFailed, started, r.now(), cerr.Message, cerr, 0); err != nil {
			return res, err
		}
		return fail(model.StageInitiating, cerr)
	}
	if err := r.publish(ctx, s, model.StageInitiating, model.StateSucceeded, started, r.now(), "credentials resolved", nil, 0); err != nil {
		return res, err
	}

	// Connectivity Test.
	started = r.now()
	if err := r.publish(ctx, s, model.StageConnectivity, model.StateRunning, started, time.Time{}, "testing connectivity", nil, 0); err != nil {
		return res, err
	}
	var failedCheck *connector.Error
	var passed []string
	for _, check := range c.Source.Test(ctx) {
		if check.Err != nil && failedCheck == nil {
			failedCheck = check.Err
			failedCheck.Message = fmt.Sprintf("%s on %s: %s", check.Name, check.Scope, failedCheck.Message)
		} else if check.Err == nil {
			passed = append(passed, check.Name+" on "+check.Scope)
		}
	}
	if failedCheck != nil {
		if err := r.publish(ctx, s, model.StageConnectivity, model.StateFailed, started, r.now(), failedCheck.Message, failedCheck, 0); err != nil {
			return res, err
		}
		return fail(model.StageConnectivity, failedCheck)
	}
	if err := r.publish(ctx, s, model.StageConnectivity, model.StateSucceeded, started, r.now(), "passed: "+strings.Join(passed, ", "), nil, 0); err != nil {
		return res, err
	}

	// Fetching.
	started = r.now()
	s.FetchStartedAt = started
	if err := r.publish(ctx, s, model.StageFetching, model.StateRunning, started, time.Time{}, "fetching", nil, 0); err != nil {
		return res, err
	}
	counts, result, fetchErr := r.fetch(ctx, c, s, plan.Since)
	s.Scopes = result.Scopes
	s.Outcome = model.OutcomeSucceeded
	if fetchErr != nil {
		s.Outcome = model.OutcomeFailed
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	res.Records = total
	// Markers go out even when Fetching failed: what was fetched is still normalized and
	// processed, and the markers tell the next stages that nothing more will come.
	if err := r.writeMarkers(ctx, s, counts); err != nil {
		return res, err
	}
	// The vendor's totals precede Fetching's end, which the processor waits for before it
	// ends the sync and compares them with what it holds.
	if len(result.VendorCounts) > 0 || result.CountsUnavailable != "" {
		vc := &model.VendorCounts{SyncID: s.SyncID, ConnectorID: s.ConnectorID, ConnectorType: s.ConnectorType, SyncType: s.SyncType,
			Counts: result.VendorCounts, Unavailable: result.CountsUnavailable, Time: r.now()}
		if err := r.events.Publish(ctx, s.SyncID, vc); err != nil {
			return res, err
		}
	}
	if fetchErr != nil {
		cerr := connector.AsError(fetchErr)
		if err := r.publish(ctx, s, model.StageFetching, model.StateFailed, started, r.now(), cerr.Message, cerr, total); err != nil {
			return res, err
		}
		res.FailedStage, res.Err = model.StageFetching, cerr
		log.Error("sync failed", "stage", model.StageFetching, "err", cerr.Error(), "class", string(cerr.Class), "records", total)
		r.metrics.failed(c.Type, c.ID, model.StageFetching, cerr)
		return res, nil
	}
	msg := fmt.Sprintf("fetched %d records from %s", total, scopeSummary(result.Scopes))
	if result.Skipped > 0 {
		msg += fmt.Sprintf("; skipped %d: %s", result.Skipped, result.SkipReason)
	}
	if err := r.publish(ctx, s, model.StageFetching, model.StateSucceeded, started, r.now(), msg, nil, total); err != nil {
		return res, err
	}
	log.Info("fetching done", "records", total, "skipped", result.Skipped, "elapsed", r.now().Sub(started).String())
	r.metrics.syncsFinished.WithLabelValues(c.Type, c.ID, "succeeded").Inc()
	return res, nil
}

// fetch runs the Source and produces every record it emits, counting per partition.
// It returns once every produced record is acknowledged by Kafka.
func (r *runner) fetch(ctx context.Context, c configuredConnector, s *model.SyncEnd, since time.Time) (map[int32]int64, connector.FetchResult, error) {
	var (
		mu         sync.Mutex
		counts     = map[int32]int64{}
		produceErr error
	)
	fetchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	records := r.metrics.records.WithLabelValues(c.Type, c.ID, "produced")
	var produced atomic.Int64
	stopProgress := r.reportProgress(fetchCtx, s, &produced)
	defer stopProgress()
	promise := func(rec *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if produceErr == nil {
				produceErr = fmt.Errorf("producing raw records to %s: %w", r.rawTopic, err)
				cancel()
			}
			return
		}
		counts[rec.Partition]++
		produced.Add(1)
		records.Inc()
	}
	// emit may be called from several scopes at once: it shares nothing but the client.
	emit := func(raw *model.RawRecord) error {
		value, err := r.codec.Encode(make([]byte, 0, len(raw.Payload)+256), raw)
		if err != nil {
			return err
		}
		key := make([]byte, 0, len(c.ID)+1+len(raw.VendorKey))
		key = append(append(append(key, c.ID...), '/'), raw.VendorKey...)
		r.client.Produce(fetchCtx, &kgo.Record{Topic: r.rawTopic, Key: key, Value: value}, promise)
		return nil
	}
	result, fetchErr := c.Source.Fetch(fetchCtx, connector.FetchRequest{SyncID: s.SyncID, Type: s.SyncType, Since: since}, emit)
	if err := r.client.Flush(ctx); err != nil {
		return nil, result, fmt.Errorf("flushing raw records: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if produceErr != nil {
		return counts, result, &connector.Error{Class: connector.ClassInternal, Message: produceErr.Error(), Action: "check that Kafka is up and the fetcher can write to the raw topic; then run the sync again", Cause: produceErr}
	}
	return counts, result, fetchErr
}

// reportProgress publishes, every r.progressEvery while Fetching runs, how many records
// it has produced: the sync log shows a long fetch moving, and the processor's finisher
// does not take a quiet but busy sync for a dead one. The returned func stops it.
func (r *runner) reportProgress(ctx context.Context, s *model.SyncEnd, produced *atomic.Int64) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(r.progressEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n := produced.Load()
				if err := r.publish(ctx, s, model.StageFetching, model.StateRunning, s.FetchStartedAt, time.Time{}, fmt.Sprintf("fetched %d records so far", n), nil, n); err != nil && ctx.Err() == nil {
					r.log.Warn("publishing Fetching progress", "sync_id", s.SyncID, "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// writeMarkers writes the end-of-sync marker into every raw partition, after the
// partition's records (see docs/architecture.md, "the barrier").
func (r *runner) writeMarkers(ctx context.Context, s *model.SyncEnd, counts map[int32]int64) error {
	recs := make([]*kgo.Record, 0, r.rawPartitions)
	for p := range r.rawPartitions {
		m := *s
		m.Stage = model.StageFetching
		m.SourcePartition = p
		m.SourcePartitions = r.rawPartitions
		m.Records = counts[p]
		value, err := r.codec.Encode(nil, &m)
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{Topic: r.rawTopic, Partition: p, Value: value})
	}
	if err := r.client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("writing end-of-sync markers of sync %s: %w", s.SyncID, err)
	}
	return nil
}

// skipAfter marks the stages after a failed one as skipped.
func (r *runner) skipAfter(ctx context.Context, s *model.SyncEnd, failed string) error {
	stages := []string{model.StageInitiating, model.StageConnectivity, model.StageFetching, model.StageNormalizing, model.StageProcessing}
	after := false
	for _, st := range stages {
		if after {
			if err := r.publish(ctx, s, st, model.StateSkipped, time.Time{}, time.Time{}, "skipped: "+failed+" failed", nil, 0); err != nil {
				return err
			}
		}
		after = after || st == failed
	}
	return nil
}

func (r *runner) publish(ctx context.Context, s *model.SyncEnd, stage string, state model.StageState, started, ended time.Time, msg string, cerr *connector.Error, records int64) error {
	ev := syncevent.Stage(s, stage)
	ev.State, ev.Message, ev.Time = state, msg, r.now()
	ev.StartedAt, ev.EndedAt = started, ended
	ev.RecordsOut = records
	ev.Level = model.LevelInfo
	if state == model.StateFailed {
		ev.Level = model.LevelError
		ev.Error = errorBlock(cerr)
	}
	if state == model.StateSkipped {
		ev.Level = model.LevelWarn
	}
	if err := r.events.Publish(ctx, s.SyncID, ev); err != nil {
		return err
	}
	if state != model.StateRunning && !ended.IsZero() {
		r.metrics.stageSeconds.WithLabelValues(s.ConnectorType, stage, string(state)).Observe(ended.Sub(started).Seconds())
	}
	return nil
}

// errorBlock is the sync log's view of a connector error; headers arrive redacted.
func errorBlock(e *connector.Error) *model.ErrorBlock {
	if e == nil {
		return nil
	}
	b := &model.ErrorBlock{
		Class:             string(e.Class),
		Message:           e.Message,
		RecommendedAction: e.Action,
		ResponsePayload:   string(connector.TruncatePayload(e.Payload)),
	}
	if e.Cause != nil {
		b.RootCause = connector.RootCause(e.Cause).Error()
		b.Details = e.Cause.Error()
	}
	if e.StatusCode != 0 {
		b.Code = fmt.Sprintf("status_code: %d", e.StatusCode)
	}
	if len(e.Headers) > 0 {
		b.ResponseHeaders = map[string]string{}
		for k, v := range connector.Redact(e.Headers) {
			b.ResponseHeaders[k] = strings.Join(v, ", ")
		}
	}
	return b
}

func scopeSummary(scopes []model.ScopeOutcome) string {
	parts := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		parts = append(parts, fmt.Sprintf("%s (%d)", sc.Scope, sc.Records))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
