// Package controlapitest holds test doubles for the control API: a sync log store folded
// from stage events (and holding data validations), and a runner over fixed connectors.
package controlapitest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/tributary-sec/tributary/internal/controlapi"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// Store is an in-memory synclog.Store: it keeps the stage events of each sync and folds
// them with synclog's own Apply, as the processor does, on every query. The zero Store is
// empty and ready to use; it is safe for concurrent use.
type Store struct {
	// Err, when set, is returned by every query: the store is down. Set it before use.
	Err error

	mu          sync.Mutex
	ids         []string // in the order their first event was added
	events      map[string][]model.StageEvent
	filter      synclog.Filter
	validations []synclog.Validation // in the order they were added
}

var _ synclog.Store = (*Store)(nil)

// NewStore returns a Store holding events.
func NewStore(events ...model.StageEvent) *Store {
	s := &Store{}
	s.Add(events...)
	return s
}

// Add appends events, in order, to the log of the sync each names by its SyncID.
func (s *Store) Add(events ...model.StageEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events == nil {
		s.events = map[string][]model.StageEvent{}
	}
	for _, ev := range events {
		if _, ok := s.events[ev.SyncID]; !ok {
			s.ids = append(s.ids, ev.SyncID)
		}
		s.events[ev.SyncID] = append(s.events[ev.SyncID], ev)
	}
}

// AddValidations adds data validations, as the processor writes one at the end of a sync.
// LastValidations answers each connector's newest by Time, the latest added on a tie.
func (s *Store) AddValidations(vs ...synclog.Validation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vs {
		v.Lines = slices.Clone(v.Lines)
		s.validations = append(s.validations, v)
	}
}

// LastFilter returns the filter of the latest Syncs call.
func (s *Store) LastFilter() synclog.Filter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.filter
}

// Syncs implements synclog.Store, honouring every field of f.
func (s *Store) Syncs(_ context.Context, f synclog.Filter) ([]synclog.Sync, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filter = f
	if s.Err != nil {
		return nil, s.Err
	}
	out := s.matching(f)
	if limit := cmp.Or(f.Limit, 100); len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Sync implements synclog.Store.
func (s *Store) Sync(_ context.Context, id string, level model.Level) (synclog.Sync, []synclog.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return synclog.Sync{}, nil, s.Err
	}
	events, ok := s.events[id]
	if !ok {
		return synclog.Sync{}, nil, synclog.ErrNotFound
	}
	sy, entries := fold(id, events)
	if level != "" {
		entries = slices.DeleteFunc(entries, func(e synclog.Entry) bool { return e.Level != level })
	}
	return sy, entries, nil
}

// LastSyncs implements synclog.Store.
func (s *Store) LastSyncs(context.Context) (map[string]synclog.Sync, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	last := map[string]synclog.Sync{}
	for _, sy := range s.matching(synclog.Filter{}) { // newest first
		if _, ok := last[sy.ConnectorID]; !ok {
			last[sy.ConnectorID] = sy
		}
	}
	return last, nil
}

// LastValidations implements synclog.Store.
func (s *Store) LastValidations(context.Context) (map[string]synclog.Validation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err != nil {
		return nil, s.Err
	}
	last := map[string]synclog.Validation{}
	for _, v := range s.validations {
		if prev, ok := last[v.ConnectorID]; !ok || !v.Time.Before(prev.Time) {
			v.Lines = slices.Clone(v.Lines) // the caller may change what it gets
			last[v.ConnectorID] = v
		}
	}
	return last, nil
}

// matching returns every sync f selects, newest first, ignoring f.Limit. s.mu is held.
func (s *Store) matching(f synclog.Filter) []synclog.Sync {
	var out []synclog.Sync
	for _, id := range s.ids {
		sy, entries := fold(id, s.events[id])
		switch {
		case f.ConnectorID != "" && sy.ConnectorID != f.ConnectorID,
			f.Type != "" && sy.Type != f.Type,
			f.Status != "" && sy.Status != f.Status,
			f.Level != "" && !slices.ContainsFunc(entries, func(e synclog.Entry) bool { return e.Level == f.Level }),
			!f.From.IsZero() && sy.StartedAt.Before(f.From),
			!f.To.IsZero() && !sy.StartedAt.Before(f.To):
			continue
		}
		out = append(out, sy)
	}
	slices.SortStableFunc(out, func(a, b synclog.Sync) int { return b.StartedAt.Compare(a.StartedAt) })
	return out
}

// fold folds a sync's events and keeps each as a log entry.
func fold(id string, events []model.StageEvent) (synclog.Sync, []synclog.Entry) {
	sy := synclog.NewSync(id)
	entries := make([]synclog.Entry, 0, len(events))
	for i := range events {
		ev := events[i] // Apply keeps no pointer, but the stored event stays untouched
		sy.Apply(&ev)
		entries = append(entries, synclog.EventEntry(&ev))
	}
	return *sy, entries
}

// Runner is a controlapi.Runner over fixed connectors: it runs nothing, answers as it is
// configured and records the syncs it is asked to start. Set its fields before use; it
// is safe for concurrent use.
type Runner struct {
	// List is the configured connectors, in order.
	List []controlapi.Connector
	// Checks is what Test reports, by connector id; none for a connector missing from it.
	Checks map[string][]controlapi.Check
	// Running marks connectors busy, by id, with the id of the sync each runs ("" for a
	// connectivity test). As in the fetcher, Connectors shows it as the connector's
	// RunningSyncID, and Test and Start answer a *controlapi.BusyError naming it.
	Running map[string]string
	// SyncIDs is the id Start returns, by connector id.
	SyncIDs map[string]string

	mu      sync.Mutex
	started []controlapi.StartedSync
}

var _ controlapi.Runner = (*Runner)(nil)

// Connectors implements controlapi.Runner.
func (r *Runner) Connectors() []controlapi.Connector {
	out := slices.Clone(r.List)
	for i := range out {
		if running, ok := r.Running[out[i].ID]; ok {
			out[i].RunningSyncID = running
		}
	}
	return out
}

// Test implements controlapi.Runner.
func (r *Runner) Test(_ context.Context, id string) ([]controlapi.Check, error) {
	if err := r.available(id); err != nil {
		return nil, err
	}
	return slices.Clone(r.Checks[id]), nil
}

// Start implements controlapi.Runner.
func (r *Runner) Start(_ context.Context, id string, typ model.SyncType) (string, error) {
	if err := r.available(id); err != nil {
		return "", err
	}
	syncID, ok := r.SyncIDs[id]
	if !ok {
		return "", fmt.Errorf("starting a sync of %s: the test runner has no sync id for it in SyncIDs", id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started = append(r.started, controlapi.StartedSync{ConnectorID: id, SyncID: syncID, Type: typ})
	return syncID, nil
}

// Started returns the syncs Start started, in order.
func (r *Runner) Started() []controlapi.StartedSync {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.started)
}

// available returns controlapi.ErrUnknownConnector for an id not in List, and a
// *controlapi.BusyError for a running connector.
func (r *Runner) available(id string) error {
	if !slices.ContainsFunc(r.List, func(c controlapi.Connector) bool { return c.ID == id }) {
		return controlapi.ErrUnknownConnector
	}
	if running, ok := r.Running[id]; ok {
		return &controlapi.BusyError{SyncID: running}
	}
	return nil
}
