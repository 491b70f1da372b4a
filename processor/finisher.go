package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/syncevent"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// finisher follows the sync-log topic. It writes every entry and each sync's folded state
// to ClickHouse (sync_log and syncs), ends Normalizing and Processing once every partition
// of a sync has reported PartitionDone, and fails a sync that stops making progress.
//
// Its state is the topic itself: it commits no offsets and re-reads its sync-log
// partitions from the start on every assignment, so any processor instance can take
// over. While it re-reads (up to the end offsets at assignment) it only folds and writes
// what ClickHouse lacks; it acts once caught up, so a replay never ends a sync twice.
type finisher struct {
	codec   *avro.Codec
	events  *syncevent.Publisher
	store   *clickhouse.Client
	metrics *metrics
	log     *slog.Logger
	now     func() time.Time
	// timeout fails a sync In Progress whose last entry is older than this.
	timeout time.Duration
	// endOffsets lists a sync-log partition's end offsets, read on assignment.
	endOffsets func(ctx context.Context) (map[int32]int64, error)
	retry      func(ctx context.Context, what string, f func() error) error
	// sweep applies "missing means gone" to one scope of a successful Full sync.
	sweepScope func(ctx context.Context, connectorID, scope, syncID string) (archived, fixed int, err error)
	// retire archives a connector's assets not seen since a time.
	retire func(ctx context.Context, connectorID string, notSeenSince time.Time) (int, error)

	mu      sync.Mutex
	syncs   map[string]*tracked
	written map[int32]int64 // per sync-log partition, the highest offset ClickHouse holds
	behind  map[int32]int64 // assigned partitions not yet read up to their end at assignment
	// lastDone is the end of each connector's newest Done sync folded so far, by id.
	lastDone map[string]time.Time
}

// tracked is one sync as the finisher knows it.
type tracked struct {
	sync      *synclog.Sync
	partition int32  // of the sync-log topic
	version   uint64 // offset of the latest entry folded: the syncs row's version
	// normalized and processed hold the PartitionDone reports of each stage, by partition.
	normalized, processed map[int32]model.PartitionDone
	// counts holds the vendor's totals, when Fetching read them.
	counts *model.VendorCounts
}

func newTracked(id string, partition int32) *tracked {
	return &tracked{sync: synclog.NewSync(id), partition: partition,
		normalized: map[int32]model.PartitionDone{}, processed: map[int32]model.PartitionDone{}}
}

// assigned starts a re-read of partitions: the finisher forgets their syncs, learns what
// ClickHouse already holds and the end offsets to reach before acting.
func (f *finisher) assigned(ctx context.Context, partitions []int32) error {
	ends, err := f.endOffsets(ctx)
	if err != nil {
		return err
	}
	var written map[int32]int64
	if err := f.retry(ctx, "reading the sync log's high-water marks", func() (err error) {
		written, err = f.store.SyncLogHighWater(ctx)
		return err
	}); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgetLocked(partitions)
	for _, p := range partitions {
		f.written[p] = -1
		if w, ok := written[p]; ok {
			f.written[p] = w
		}
		if ends[p] > 0 {
			f.behind[p] = ends[p]
		}
	}
	return nil
}

// revoked forgets partitions another instance now owns.
func (f *finisher) revoked(partitions []int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgetLocked(partitions)
}

func (f *finisher) forgetLocked(partitions []int32) {
	for id, t := range f.syncs {
		if slices.Contains(partitions, t.partition) {
			delete(f.syncs, id)
		}
	}
	for _, p := range partitions {
		delete(f.behind, p)
		delete(f.written, p)
	}
}

// handle is the kafka.Handler of the sync-log topic.
func (f *finisher) handle(ctx context.Context, records []*kgo.Record) (kafka.Offsets, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var (
		entries []clickhouse.LoggedEntry
		dirty   = map[string]*tracked{}
	)
	for _, r := range records {
		// An entry below the end offset at assignment is replayed: what it did was
		// counted when it was first read.
		replayed := false
		if end, ok := f.behind[r.Partition]; ok {
			replayed = r.Offset < end
			if r.Offset+1 >= end {
				delete(f.behind, r.Partition)
			}
		}
		msg, err := f.codec.Decode(r.Value)
		if err != nil {
			f.log.Warn("skipping undecodable sync-log entry", "err", err, kafka.LogAttrs(r))
			continue
		}
		var (
			id    string
			entry synclog.Entry
		)
		switch m := msg.(type) {
		case *model.StageEvent:
			id, entry = m.SyncID, synclog.EventEntry(m)
			f.fold(f.track(m.SyncID, r.Partition), m, !replayed)
		case *model.PartitionDone:
			id, entry = m.SyncID, synclog.PartitionEntry(m)
			t := f.track(m.SyncID, r.Partition)
			if t.sync.ConnectorID == "" {
				t.sync.ConnectorID, t.sync.ConnectorType, t.sync.Type = m.ConnectorID, m.ConnectorType, m.SyncType
			}
			if m.Stage == model.StageNormalizing {
				t.normalized[m.Partition] = *m
			} else {
				t.processed[m.Partition] = *m
			}
		case *model.VendorCounts:
			id, entry = m.SyncID, synclog.CountsEntry(m)
			t := f.track(m.SyncID, r.Partition)
			if t.sync.ConnectorID == "" {
				t.sync.ConnectorID, t.sync.ConnectorType, t.sync.Type = m.ConnectorID, m.ConnectorType, m.SyncType
			}
			t.counts = m
		default:
			continue
		}
		t := f.syncs[id]
		t.version = uint64(r.Offset)
		if w, ok := f.written[r.Partition]; !ok || r.Offset > w {
			entries = append(entries, clickhouse.LoggedEntry{SyncID: id, ConnectorID: t.sync.ConnectorID, Partition: r.Partition, Offset: r.Offset, Entry: entry})
			dirty[id] = t
		}
	}
	if err := f.write(ctx, dirty, entries); err != nil {
		return nil, err
	}
	if len(f.behind) == 0 {
		return nil, f.actLocked(ctx)
	}
	return nil, nil
}

func (f *finisher) track(id string, partition int32) *tracked {
	t := f.syncs[id]
	if t == nil {
		t = newTracked(id, partition)
		f.syncs[id] = t
	}
	return t
}

// write stores the batch's new entries and the state of the syncs they touched.
func (f *finisher) write(ctx context.Context, dirty map[string]*tracked, entries []clickhouse.LoggedEntry) error {
	if len(entries) == 0 {
		return nil
	}
	syncs := make([]synclog.Sync, 0, len(dirty))
	versions := make([]uint64, 0, len(dirty))
	for _, t := range dirty {
		syncs = append(syncs, *t.sync)
		versions = append(versions, t.version)
	}
	if err := f.retry(ctx, "writing the sync log to ClickHouse", func() error {
		return f.store.WriteSyncLog(ctx, syncs, versions, entries)
	}); err != nil {
		return err
	}
	for _, e := range entries {
		f.written[e.Partition] = max(f.written[e.Partition], e.Offset)
	}
	return nil
}

// sweep acts on the current state; the processor calls it on a timer so that a sync
// that went quiet is noticed without new entries.
func (f *finisher) sweep(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.behind) > 0 || len(f.written) == 0 {
		return nil // still re-reading, or nothing assigned
	}
	return f.actLocked(ctx)
}

// actLocked ends the stages whose partitions have all reported and fails syncs that
// stopped making progress. Each event it publishes is folded at once, so the next call
// does not publish it again before it comes back through the topic.
func (f *finisher) actLocked(ctx context.Context) error {
	now := f.now()
	for _, t := range f.syncs {
		s := t.sync
		if s.Status != synclog.StatusInProgress {
			t.normalized, t.processed = nil, nil // over: only the folded state is kept
			continue
		}
		if err := f.endStages(ctx, t, now); err != nil {
			return err
		}
		if s.Status == synclog.StatusInProgress && !s.StartedAt.IsZero() && now.Sub(s.UpdatedAt) > f.timeout {
			if err := f.failStalled(ctx, t, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// endStages publishes the end of Normalizing once every raw partition has reported, and
// then the end of Processing once every normalized partition has.
func (f *finisher) endStages(ctx context.Context, t *tracked, now time.Time) error {
	s := t.sync
	fetching := s.Stage(model.StageFetching)
	started := now
	if fetching.StartedAt != nil {
		started = *fetching.StartedAt // the pipeline streams: both stages start with Fetching
	}
	if n := s.Stage(model.StageNormalizing); !synclog.IsFinal(n.State) && complete(t.normalized) {
		var in, out, failed int64
		var reason string
		for _, pd := range sortedParts(t.normalized) {
			in, out, failed = in+pd.RecordsIn, out+pd.Assets+pd.Findings, failed+pd.RecordsFailed
			if reason == "" {
				reason = pd.FirstFailure
			}
		}
		if failed > 0 {
			warn := f.event(t, model.StageNormalizing, now)
			warn.Level = model.LevelWarn
			warn.RecordsFailed = failed
			warn.Message = fmt.Sprintf("%d records could not be normalized and were sent to the dead-letter topic with the reason; the sync carried on. First reason: %s", failed, reason)
			if err := f.publish(ctx, t, warn); err != nil {
				return err
			}
		}
		ev := f.event(t, model.StageNormalizing, now)
		ev.State, ev.StartedAt, ev.EndedAt = model.StateSucceeded, started, now
		ev.RecordsIn, ev.RecordsOut, ev.RecordsFailed = in, out, failed
		ev.Message = fmt.Sprintf("normalized %d records into %d findings and assets across %d raw partitions", in, out, len(t.normalized))
		if err := f.publish(ctx, t, ev); err != nil {
			return err
		}
	}
	// Processing ends once every normalized partition is written and Fetching's own end
	// is in the log (its markers may overtake it), so a failed Fetching is never swept.
	if p := s.Stage(model.StageProcessing); !synclog.IsFinal(p.State) && synclog.IsFinal(s.Stage(model.StageNormalizing).State) &&
		synclog.IsFinal(fetching.State) && complete(t.processed) {
		var assets, findings int64
		var last model.PartitionDone
		for _, pd := range sortedParts(t.processed) {
			assets, findings = assets+pd.Assets, findings+pd.Findings
			if pd.Time.After(last.Time) {
				last = pd
			}
		}
		swept, err := f.sweepScopes(ctx, t, last)
		if err != nil {
			// Processing stays open; the next sweep tries again (sweeping is idempotent).
			f.log.Error("sweeping a Full sync; will retry", "sync_id", s.ID, "connector", s.ConnectorID, "err", err)
			return nil
		}
		if err := f.validate(ctx, t, last, now); err != nil {
			f.log.Error("validating a sync's data against the vendor's totals; will retry", "sync_id", s.ID, "connector", s.ConnectorID, "err", err)
			return nil
		}
		ev := f.event(t, model.StageProcessing, now)
		ev.State, ev.StartedAt, ev.EndedAt = model.StateSucceeded, started, now
		ev.RecordsIn, ev.RecordsOut = s.Stage(model.StageNormalizing).RecordsOut, assets+findings
		ev.Message = fmt.Sprintf("wrote %d findings and %d asset records across %d partitions%s", findings, assets, len(t.processed), swept)
		if err := f.publish(ctx, t, ev); err != nil {
			return err
		}
		f.log.Info("sync processed", "sync_id", s.ID, "connector", s.ConnectorID, "assets", assets, "findings", findings, "fetch_outcome", string(last.Outcome), "status", string(s.Status))
	}
	return nil
}

// sweepScopes sweeps each scope a successful Full sync fetched without error, and says
// what it did for Processing's message. Incremental syncs and syncs with a failed stage
// never sweep (SPEC §3).
func (f *finisher) sweepScopes(ctx context.Context, t *tracked, last model.PartitionDone) (string, error) {
	s := t.sync
	if s.Type != model.SyncFull || s.FailedStage != "" || last.Outcome != model.OutcomeSucceeded {
		return "", nil
	}
	var archived, fixed int
	for _, sc := range last.Scopes {
		if sc.Outcome != model.OutcomeSucceeded {
			continue
		}
		a, fx, err := f.sweepScope(ctx, s.ConnectorID, sc.Scope, s.ID)
		archived, fixed = archived+a, fixed+fx
		if err != nil {
			return "", err
		}
	}
	msg := fmt.Sprintf("; archived %d assets and fixed %d findings the sync did not return", archived, fixed)
	if days := last.AssetRetentionDays; days > 0 {
		retired, err := f.retire(ctx, s.ConnectorID, f.now().Add(-time.Duration(days)*24*time.Hour))
		if err != nil {
			return "", err
		}
		msg += fmt.Sprintf("; archived %d assets not seen for %d days", retired, days)
	}
	return msg, nil
}

// validate compares the vendor's totals, read during Fetching, with what ClickHouse
// holds now that the sync is written and swept, stores the comparison and logs it: INFO
// when everything matches, WARN naming each difference. A sync whose Fetching failed is
// not validated: it did not fetch everything the totals count.
func (f *finisher) validate(ctx context.Context, t *tracked, last model.PartitionDone, now time.Time) error {
	s := t.sync
	if t.counts == nil || len(t.counts.Counts) == 0 || s.FailedStage != "" || last.Outcome != model.OutcomeSucceeded {
		return nil
	}
	stored, err := f.store.StoredCounts(ctx, s.ConnectorID)
	if err != nil {
		return err
	}
	v := synclog.Validation{SyncID: s.ID, ConnectorID: s.ConnectorID, Time: now}
	var matched, differ []string
	for _, c := range t.counts.Counts {
		line := synclog.ValidationLine{Object: c.Object, Class: c.Class, Vendor: c.Count, Source: c.Source}
		for _, sc := range stored {
			if sc.Object == c.Object && (c.Class == "" || sc.Class == c.Class) {
				line.Stored += sc.Count
			}
		}
		v.Lines = append(v.Lines, line)
		what := synclog.Counted(c.Object, c.Class)
		if line.Match() {
			matched = append(matched, fmt.Sprintf("%d %s", line.Vendor, what))
		} else {
			differ = append(differ, fmt.Sprintf("%s: the vendor reports %d, Tributary holds %d (%+d)", what, line.Vendor, line.Stored, line.Stored-line.Vendor))
		}
	}
	if err := f.store.WriteValidation(ctx, v); err != nil {
		return err
	}
	ev := f.event(t, model.StageProcessing, now)
	hint := "Records dead-lettered (see Normalizing), records the connector's ingest options skip (see Fetching) and changes at the vendor during the sync make such differences"
	if s.Type == model.SyncIncremental {
		hint += "; so do findings that vanished at the vendor, which only a Full sync fixes"
	}
	if len(differ) == 0 {
		ev.Message = fmt.Sprintf("data validation: all %d vendor totals match: %s", len(v.Lines), strings.Join(matched, "; "))
	} else {
		ev.Level = model.LevelWarn
		ev.Message = fmt.Sprintf("data validation: %d of %d vendor totals differ from what Tributary holds: %s. %s; tributaryctl validate %s shows the comparison",
			len(differ), len(v.Lines), strings.Join(differ, "; "), hint, s.ConnectorID)
	}
	return f.publish(ctx, t, ev)
}

// failStalled fails the first stage of a sync that is not over, and skips the rest: the
// service running it stopped, or a partition never reported.
func (f *finisher) failStalled(ctx context.Context, t *tracked, now time.Time) error {
	s := t.sync
	idle := now.Sub(s.UpdatedAt).Round(time.Second)
	failed := ""
	for _, name := range synclog.Stages {
		st := s.Stage(name)
		if synclog.IsFinal(st.State) {
			continue
		}
		ev := f.event(t, name, now)
		if failed != "" {
			ev.State, ev.Level = model.StateSkipped, model.LevelWarn
			ev.Message = "skipped: " + failed + " failed"
		} else {
			failed = name
			ev.State, ev.Level = model.StateFailed, model.LevelError
			if st.StartedAt != nil {
				ev.StartedAt = *st.StartedAt
			}
			ev.Error = stalledError(name, idle, t)
			ev.Message = ev.Error.Message
		}
		ev.EndedAt = now
		if err := f.publish(ctx, t, ev); err != nil {
			return err
		}
	}
	f.log.Warn("sync failed: no progress", "sync_id", s.ID, "connector", s.ConnectorID, "stage", failed, "idle", idle.String())
	return nil
}

func stalledError(stage string, idle time.Duration, t *tracked) *model.ErrorBlock {
	b := &model.ErrorBlock{Class: "internal_error", RootCause: fmt.Sprintf("no sync-log entry for %s (the processor's --sync-timeout)", idle)}
	switch stage {
	case model.StageNormalizing:
		b.Message = fmt.Sprintf("the sync made no progress for %s: raw partitions %s never reported the end of the sync", idle, missing(t.normalized))
		b.RecommendedAction = "check that every normalizer instance is running and its consumer group (tributary-normalizer) is not stuck; records written so far are kept. Run the sync again."
	case model.StageProcessing:
		b.Message = fmt.Sprintf("the sync made no progress for %s: normalized partitions %s never reported the end of the sync", idle, missing(t.processed))
		b.RecommendedAction = "check that every processor instance is running, that ClickHouse accepts writes, and the lag of the consumer group tributary-processor; records written so far are kept. Run the sync again."
	default:
		b.Message = fmt.Sprintf("the sync made no progress for %s: the fetcher running it stopped before %s ended", idle, stage)
		b.RecommendedAction = "check the fetcher's logs for a crash or restart at the time of the sync; records fetched before it stopped are kept. Run the sync again."
	}
	return b
}

// complete says whether every partition of a stage has reported.
func complete(parts map[int32]model.PartitionDone) bool {
	for _, pd := range parts {
		return int32(len(parts)) >= pd.Partitions
	}
	return false
}

// missing names the partitions that have not reported, e.g. "2, 5", or "all" when none has.
func missing(parts map[int32]model.PartitionDone) string {
	var total int32
	for _, pd := range parts {
		total = pd.Partitions
	}
	if total == 0 {
		return "(all)"
	}
	var out []string
	for p := range total {
		if _, ok := parts[p]; !ok {
			out = append(out, fmt.Sprint(p))
		}
	}
	return strings.Join(out, ", ")
}

func sortedParts(parts map[int32]model.PartitionDone) []model.PartitionDone {
	out := make([]model.PartitionDone, 0, len(parts))
	for _, pd := range parts {
		out = append(out, pd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out
}

func (f *finisher) event(t *tracked, stage string, now time.Time) *model.StageEvent {
	s := t.sync
	ev := syncevent.Stage(&model.SyncEnd{SyncID: s.ID, ConnectorID: s.ConnectorID, ConnectorType: s.ConnectorType, SyncType: s.Type}, stage)
	ev.Level, ev.Time = model.LevelInfo, now
	return ev
}

func (f *finisher) publish(ctx context.Context, t *tracked, ev *model.StageEvent) error {
	if err := f.events.Publish(ctx, t.sync.ID, ev); err != nil {
		return err
	}
	started := ev.StartedAt
	if fetching := t.sync.Stage(model.StageFetching); started.IsZero() && fetching.StartedAt != nil {
		started = *fetching.StartedAt
	}
	f.metrics.stageEnded(t.sync.ConnectorType, ev, started)
	f.fold(t, ev, true)
	return nil
}

// fold applies ev to its sync and keeps the sync metrics: a sync whose status becomes
// Done or Failed while live is counted once (a replay of the log counts nothing again),
// and the end of each connector's newest Done sync is kept, replays included, so a
// restarted processor shows it again.
func (f *finisher) fold(t *tracked, ev *model.StageEvent, live bool) {
	s := t.sync
	was := s.Status
	s.Apply(ev)
	if live && was == synclog.StatusInProgress && s.Status != synclog.StatusInProgress {
		f.metrics.syncEnded(s)
	}
	if s.Status == synclog.StatusDone && s.EndedAt != nil && s.EndedAt.After(f.lastDone[s.ConnectorID]) {
		f.lastDone[s.ConnectorID] = *s.EndedAt
		f.metrics.lastSuccess.WithLabelValues(s.ConnectorType, s.ConnectorID).Set(float64(s.EndedAt.UnixMilli()) / 1e3)
	}
}
