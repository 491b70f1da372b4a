package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tributary-sec/tributary/internal/connector/registry"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// incrementalOverlap is how far before the previous successful sync's fetch start an
// Incremental sync asks from: a record the vendor updated while that sync was paging may
// have been missed by it, and clocks differ a little.
const incrementalOverlap = 5 * time.Minute

// syncPlan is what a sync will actually do.
type syncPlan struct {
	Type  model.SyncType
	Since time.Time // Incremental: records changed at or after it
	Note  string    // why the requested type changed, for the sync log
}

// plan turns a requested sync type into what runs: an Incremental sync asks for what
// changed since the previous successful sync's fetch start (minus the overlap); it runs
// as Full when the vendor cannot filter by change, or when there is no successful sync
// in the log (a connector's first sync is always Full).
func plan(ctx context.Context, store synclog.Store, c configuredConnector, requested model.SyncType) (syncPlan, error) {
	if requested != model.SyncIncremental {
		return syncPlan{Type: model.SyncFull}, nil
	}
	typ, err := registry.Lookup(c.Type)
	if err != nil {
		return syncPlan{}, err
	}
	if !typ.Incremental {
		return syncPlan{Type: model.SyncFull, Note: fmt.Sprintf("Incremental sync requested, but %s cannot list only what changed: running a Full sync", c.Type)}, nil
	}
	done, err := store.Syncs(ctx, synclog.Filter{ConnectorID: c.ID, Status: synclog.StatusDone, Limit: 1})
	if err != nil {
		return syncPlan{}, fmt.Errorf("finding the last successful sync of %s for an Incremental sync: %w", c.ID, err)
	}
	if len(done) == 0 || done[0].Stage(model.StageFetching).StartedAt == nil {
		return syncPlan{Type: model.SyncFull, Note: "Incremental sync requested, but the connector has no successful sync in the last 14 days: running a Full sync (a connector's first sync is always Full)"}, nil
	}
	since := done[0].Stage(model.StageFetching).StartedAt.Add(-incrementalOverlap)
	return syncPlan{Type: model.SyncIncremental, Since: since,
		Note: fmt.Sprintf("Incremental sync: records changed since %s (sync %s's fetch start minus %s)", since.Format(time.RFC3339), done[0].ID, incrementalOverlap)}, nil
}
