package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/controlapi"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// control starts syncs — on demand from the control API, on schedule, at start-up — and
// makes sure a connector never runs two at once (a Source serves one sync at a time).
// It implements controlapi.Runner.
type control struct {
	runner     *runner
	store      synclog.Store // the sync log, for an Incremental sync's cursor
	connectors []configuredConnector
	// ctx is the service's: a sync started on demand outlives the request.
	ctx context.Context
	log *slog.Logger

	mu      sync.Mutex
	running map[string]string // connector id → running sync id, or "" during a connectivity test
	wg      sync.WaitGroup
	// fatal receives the first error that must stop the fetcher (the sync log cannot be
	// written).
	fatal chan error
}

func newControl(ctx context.Context, r *runner, store synclog.Store, connectors []configuredConnector, log *slog.Logger) *control {
	return &control{runner: r, store: store, connectors: connectors, ctx: ctx, log: log, running: map[string]string{}, fatal: make(chan error, 1)}
}

func (c *control) connector(id string) (configuredConnector, bool) {
	for _, cc := range c.connectors {
		if cc.ID == id {
			return cc, true
		}
	}
	return configuredConnector{}, false
}

// acquire marks the connector busy with syncID ("" for a connectivity test).
func (c *control) acquire(id, syncID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if running, busy := c.running[id]; busy {
		return &controlapi.BusyError{SyncID: running}
	}
	c.running[id] = syncID
	return nil
}

func (c *control) release(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.running, id)
}

// Connectors implements controlapi.Runner.
func (c *control) Connectors() []controlapi.Connector {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]controlapi.Connector, 0, len(c.connectors))
	for _, cc := range c.connectors {
		out = append(out, controlapi.Connector{ID: cc.ID, Name: cc.Name, Type: cc.Type, Schedule: cc.Schedule.String(), RunningSyncID: c.running[cc.ID]})
	}
	return out
}

// Test implements controlapi.Runner: Initiating and Connectivity Test, nothing logged to
// the sync log (it is not a sync).
func (c *control) Test(ctx context.Context, id string) ([]controlapi.Check, error) {
	cc, ok := c.connector(id)
	if !ok {
		return nil, controlapi.ErrUnknownConnector
	}
	if err := c.acquire(id, ""); err != nil {
		return nil, err
	}
	defer c.release(id)
	if err := cc.Source.Initiate(ctx); err != nil {
		cerr := connector.AsError(err)
		return []controlapi.Check{{Stage: model.StageInitiating, Name: "credentials", Scope: cc.ID, Error: errorBlock(cerr)}}, nil
	}
	checks := []controlapi.Check{{Stage: model.StageInitiating, Name: "credentials", Scope: cc.ID, OK: true}}
	for _, ch := range cc.Source.Test(ctx) {
		checks = append(checks, controlapi.Check{Stage: model.StageConnectivity, Name: ch.Name, Scope: ch.Scope, OK: ch.Err == nil, Error: errorBlock(ch.Err)})
	}
	return checks, nil
}

// Start implements controlapi.Runner.
func (c *control) Start(_ context.Context, id string, typ model.SyncType) (string, error) {
	cc, ok := c.connector(id)
	if !ok {
		return "", controlapi.ErrUnknownConnector
	}
	syncID, err := newSyncID()
	if err != nil {
		return "", err
	}
	if err := c.acquire(id, syncID); err != nil {
		return "", err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.release(id)
		c.runSync(cc, typ, syncID)
	}()
	return syncID, nil
}

// RunNow runs a sync of connector id and returns when it is over; a busy connector is
// skipped with a log line. The scheduler and the start-up syncs use it.
func (c *control) RunNow(id string, typ model.SyncType, why string) {
	cc, ok := c.connector(id)
	if !ok {
		return
	}
	syncID, err := newSyncID()
	if err != nil {
		c.report(err)
		return
	}
	if err := c.acquire(id, syncID); err != nil {
		c.log.Info("sync not started: the connector is busy", "connector", id, "reason", why, "err", err)
		return
	}
	defer c.release(id)
	c.runSync(cc, typ, syncID)
}

func (c *control) runSync(cc configuredConnector, typ model.SyncType, syncID string) {
	p, err := plan(c.ctx, c.store, cc, typ)
	if err != nil {
		// The sync log cannot be read: an Incremental sync has no cursor, so run Full.
		c.log.Warn("planning the sync; running a Full sync", "connector", cc.ID, "err", err)
		p = syncPlan{Type: model.SyncFull, Note: "Incremental sync requested, but the sync log could not be read for its cursor: running a Full sync"}
	}
	if _, err := c.runner.run(c.ctx, cc, p, syncID); err != nil && c.ctx.Err() == nil {
		c.report(fmt.Errorf("sync %s of %s: %w", syncID, cc.ID, err))
	}
}

func (c *control) report(err error) {
	select {
	case c.fatal <- err:
	default:
	}
}

// wait waits for syncs started on demand, at most until timeout.
func (c *control) wait(timeout time.Duration) {
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}
