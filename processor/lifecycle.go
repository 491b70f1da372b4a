package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/model"
)

// lifecycle applies SPEC §3 to what the processor writes: it compares each asset and
// finding with the state ClickHouse holds, records every change in the history tables,
// and publishes each asset and finding, with its transition, to the downstream topics.
//
// Order matters for at-least-once delivery: the topics and history (in either order)
// before the rows. A crash before the rows are written replays the batch, which finds the
// same old state and repeats the same transitions (consumers may see one twice; history
// rows collapse). Writing the rows first would lose the transition on a replay.
type lifecycle struct {
	store        *clickhouse.Client
	client       *kgo.Client
	codec        *avro.Codec
	assetsTopic  string
	findingTopic string
	metrics      *metrics
	log          *slog.Logger
	now          func() time.Time
}

// apply publishes a batch of assets and findings with their transitions and records the
// changes in history; the caller then writes the rows. ArchiveReason on an asset says
// whether it is archived; a finding's Status is already mapped.
func (l *lifecycle) apply(ctx context.Context, assets []model.Asset, findings []model.EnrichedFinding) error {
	var (
		enriched  []model.EnrichedAsset
		assetHist []clickhouse.AssetChange
		findHist  []clickhouse.FindingChange
	)
	// The two lookups, and then publishing and history, are independent: each pair runs
	// concurrently, so a batch waits on ClickHouse and Kafka twice rather than four times.
	if err := retry(ctx, l.log, "reading asset and finding states from ClickHouse", func() error {
		var g errgroup.Group
		g.Go(func() (err error) {
			enriched, assetHist, err = l.assetTransitions(ctx, assets)
			return err
		})
		g.Go(func() (err error) {
			findHist, err = l.findingTransitions(ctx, findings)
			return err
		})
		return g.Wait()
	}); err != nil {
		return err
	}
	var g errgroup.Group
	g.Go(func() error { return l.publish(ctx, enriched, findings) })
	// The two history tables are written apart, so that each insert is measured.
	history := func(table string, rows int, write func() error) {
		if rows > 0 {
			g.Go(func() error {
				return retry(ctx, l.log, "writing "+table+" to ClickHouse", func() error { return l.metrics.insert(table, rows, write) })
			})
		}
	}
	history("finding_history", len(findHist), func() error { return l.store.WriteHistory(ctx, findHist, nil) })
	history("asset_history", len(assetHist), func() error { return l.store.WriteHistory(ctx, nil, assetHist) })
	return g.Wait()
}

// assetTransitions gives each asset its state and, when it changed, its transition.
func (l *lifecycle) assetTransitions(ctx context.Context, assets []model.Asset) ([]model.EnrichedAsset, []clickhouse.AssetChange, error) {
	out := make([]model.EnrichedAsset, len(assets))
	var changes []clickhouse.AssetChange
	for connectorID, idx := range byConnector(len(assets), func(i int) string { return assets[i].ConnectorID }) {
		uids := make([]string, len(idx))
		for j, i := range idx {
			uids[j] = assets[i].UID
		}
		old, err := l.store.AssetArchiveReasons(ctx, connectorID, uids)
		if err != nil {
			return nil, nil, err
		}
		for _, i := range idx {
			a := assets[i]
			e := model.EnrichedAsset{Asset: a, State: stateOf(a.ArchiveReason)}
			oldReason, seen := old[a.UID]
			switch {
			case !seen:
				e.Transition = &model.AssetTransition{NewState: e.State, Reason: "new"}
			case stateOf(oldReason) != e.State && e.State == model.AssetArchived:
				e.Transition = &model.AssetTransition{OldState: model.AssetActive, NewState: e.State, Reason: a.ArchiveReason}
			case stateOf(oldReason) != e.State:
				e.Transition = &model.AssetTransition{OldState: model.AssetArchived, NewState: e.State, Reason: "restored"}
			}
			if t := e.Transition; t != nil {
				changes = append(changes, clickhouse.AssetChange{ConnectorID: a.ConnectorID, UID: a.UID, OldState: t.OldState, NewState: t.NewState, Reason: t.Reason, SyncID: a.SyncID, Time: l.now()})
			}
			out[i] = e
		}
	}
	return out, changes, nil
}

// findingTransitions sets each finding's transition when its status changed (or it is
// new) and returns the history rows.
func (l *lifecycle) findingTransitions(ctx context.Context, findings []model.EnrichedFinding) ([]clickhouse.FindingChange, error) {
	var changes []clickhouse.FindingChange
	for connectorID, idx := range byConnector(len(findings), func(i int) string { return findings[i].Finding.ConnectorID }) {
		uids := make([]string, len(idx))
		for j, i := range idx {
			uids[j] = findings[i].Finding.UID
		}
		old, err := l.store.FindingStatuses(ctx, connectorID, uids)
		if err != nil {
			return nil, err
		}
		for _, i := range idx {
			f := &findings[i]
			// A sweep presets the reason (not_returned); otherwise a change to Fixed is the
			// vendor's doing.
			reason := "vendor_" + strings.ToLower(strings.TrimSpace(f.Finding.VendorStatus))
			if f.Transition != nil {
				reason = f.Transition.Reason
			}
			f.Transition = nil
			was, seen := old[f.Finding.UID]
			switch {
			case !seen:
				f.Transition = &model.Transition{NewStatus: f.Status, Reason: "new"}
			case was != f.Status && f.Status == model.StatusFixed:
				f.Transition = &model.Transition{OldStatus: was, NewStatus: f.Status, Reason: reason}
			case was != f.Status:
				f.Transition = &model.Transition{OldStatus: was, NewStatus: f.Status, Reason: "reopened"}
			}
			if t := f.Transition; t != nil {
				changes = append(changes, clickhouse.FindingChange{ConnectorID: f.Finding.ConnectorID, UID: f.Finding.UID, Old: t.OldStatus, New: t.NewStatus, Reason: t.Reason, SyncID: f.Finding.SyncID, Time: l.now()})
			}
		}
	}
	return changes, nil
}

// publish produces every asset and finding to the downstream topics and waits until
// Kafka has them.
func (l *lifecycle) publish(ctx context.Context, assets []model.EnrichedAsset, findings []model.EnrichedFinding) error {
	var (
		mu       sync.Mutex
		firstErr error
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	}
	produce := func(topic, connectorID, uid string, msg any) error {
		value, err := l.codec.Encode(nil, msg)
		if err != nil {
			return err
		}
		l.client.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(connectorID + "/" + uid), Value: value}, promise)
		return nil
	}
	for i := range assets {
		if err := produce(l.assetsTopic, assets[i].Asset.ConnectorID, assets[i].Asset.UID, &assets[i]); err != nil {
			return err
		}
	}
	for i := range findings {
		if err := produce(l.findingTopic, findings[i].Finding.ConnectorID, findings[i].Finding.UID, &findings[i]); err != nil {
			return err
		}
	}
	if err := l.client.Flush(ctx); err != nil {
		return fmt.Errorf("flushing the downstream topics: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return fmt.Errorf("producing to %s / %s: %w", l.assetsTopic, l.findingTopic, firstErr)
	}
	return nil
}

func stateOf(archiveReason string) string {
	if archiveReason != "" {
		return model.AssetArchived
	}
	return model.AssetActive
}

// byConnector groups the indexes 0..n-1 by connector id.
func byConnector(n int, connectorOf func(int) string) map[string][]int {
	out := map[string][]int{}
	for i := range n {
		id := connectorOf(i)
		out[id] = append(out[id], i)
	}
	return out
}

// sweepBatch bounds the rows a sweep holds and writes at once.
const sweepBatch = 5000

// writeFunc stores a batch the way the processor stores its own (lifecycle, then rows).
type writeFunc func(context.Context, []model.Asset, []model.EnrichedFinding) error

// inBatches streams the rows read yields, changes each with edit, and hands them to
// write sweepBatch at a time. It returns how many rows it wrote.
func inBatches[T any](read func(each func(T) error) error, edit func(*T), write func([]T) error) (int, error) {
	var batch []T
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n += len(batch)
		err := write(batch)
		batch = batch[:0]
		return err
	}
	err := read(func(row T) error {
		edit(&row)
		if batch = append(batch, row); len(batch) == sweepBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return n, err
}

// sweep applies "missing means gone" to one scope after a successful Full sync (SPEC
// §3): active assets the sync did not return are archived (not_returned), then active
// findings it did not return are Fixed — except those whose asset is archived, which
// are hidden with it.
func (l *lifecycle) sweep(ctx context.Context, connectorID, scope, syncID string, write writeFunc) (archived, fixed int, err error) {
	now := l.now()
	archived, err = inBatches(
		func(each func(model.Asset) error) error {
			return l.store.AssetsNotReturned(ctx, connectorID, scope, syncID, each)
		},
		func(a *model.Asset) { a.ArchiveReason, a.FetchedAt = "not_returned", now },
		func(assets []model.Asset) error { return write(ctx, assets, nil) })
	if err != nil {
		return archived, 0, fmt.Errorf("archiving assets of %s/%s not returned by sync %s: %w", connectorID, scope, syncID, err)
	}
	fixed, err = inBatches(
		func(each func(model.EnrichedFinding) error) error {
			return l.store.FindingsNotReturned(ctx, connectorID, scope, syncID, each)
		},
		func(f *model.EnrichedFinding) {
			f.Status, f.Finding.FetchedAt = model.StatusFixed, now
			f.Transition = &model.Transition{Reason: "not_returned"}
		},
		func(findings []model.EnrichedFinding) error { return write(ctx, nil, findings) })
	if err != nil {
		return archived, fixed, fmt.Errorf("fixing findings of %s/%s not returned by sync %s: %w", connectorID, scope, syncID, err)
	}
	return archived, fixed, nil
}

// retire archives the connector's active assets not seen since notSeenSince (reason
// retention): assets of a scope the connector no longer fetches, say, age out. Only a
// successful Full sync calls it — an Incremental sync does not see unchanged assets.
func (l *lifecycle) retire(ctx context.Context, connectorID string, notSeenSince time.Time, write writeFunc) (int, error) {
	now := l.now()
	retired, err := inBatches(
		func(each func(model.Asset) error) error {
			return l.store.AssetsPastRetention(ctx, connectorID, notSeenSince, each)
		},
		func(a *model.Asset) { a.ArchiveReason, a.FetchedAt = "retention", now },
		func(assets []model.Asset) error { return write(ctx, assets, nil) })
	if err != nil {
		return retired, fmt.Errorf("archiving assets of %s not seen since %s: %w", connectorID, notSeenSince.Format(time.RFC3339), err)
	}
	return retired, nil
}
