package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Job is one connector's schedule and when it last started a sync (zero if never, as far as the fetcher knows).
type Job struct {
	ConnectorID string
	Schedule    Schedule
	LastStarted time.Time
}

// Run runs jobs until ctx ends, calling trigger for each scheduled sync with the instant it was scheduled for.
//
// At start, a job whose latest instant (Prev of now) is after its LastStarted, because the fetcher was down
// or the connector never synced, is triggered once right away, however many instants it missed. After that
// each job fires at each Next instant. trigger must block until the sync it starts is over (or return at once
// if the connector is busy) and should return promptly once ctx ends. A job calls trigger from one goroutine,
// so it never overlaps itself; an instant that passes while its previous sync runs is skipped, not queued,
// and logged at Info. Disabled jobs never fire.
//
// Run returns an error, before triggering anything, if a job has no ConnectorID or shares one with another
// job. Otherwise it returns nil once ctx is done and every trigger call has returned.
func Run(ctx context.Context, jobs []Job, trigger func(ctx context.Context, connectorID string, scheduledAt time.Time, syncType string), log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	seen := make(map[string]bool, len(jobs))
	for i, j := range jobs {
		if j.ConnectorID == "" {
			return fmt.Errorf("scheduling job %d: connector id is empty", i)
		}
		if seen[j.ConnectorID] {
			// Two jobs for one connector would overlap its syncs.
			return fmt.Errorf("scheduling connector %s: it has more than one job; give each connector one schedule", j.ConnectorID)
		}
		seen[j.ConnectorID] = true
	}
	if trigger == nil {
		return errors.New("scheduling connector syncs: trigger is nil")
	}

	var wg sync.WaitGroup
	for _, j := range jobs {
		jlog := log.With("connector_id", j.ConnectorID)
		if j.Schedule.Disabled() {
			jlog.Info("connector syncs on demand only")
			continue
		}
		wg.Go(func() { runJob(ctx, j, trigger, jlog) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// runJob fires one job's syncs until ctx ends.
func runJob(ctx context.Context, j Job, trigger func(context.Context, string, time.Time, string), log *slog.Logger) {
	s := j.Schedule
	now := time.Now()
	due := s.Next(now)
	if prev := s.Prev(now); prev.After(j.LastStarted) {
		due = prev
		log.Info("running a missed scheduled sync", "scheduled_at", prev, "last_started", j.LastStarted)
	}
	log.Info("scheduling connector sync", "schedule", s.String(), "sync_type", s.SyncType(), "first_at", due)
	for sleepUntil(ctx, due) {
		trigger(ctx, j.ConnectorID, due, s.SyncType())
		ended := time.Now()
		next := s.Next(due)
		for next.Before(ended) {
			log.Info("skipping scheduled sync, the previous one was still running", "scheduled_at", next, "previous_scheduled_at", due)
			next = s.Next(next)
		}
		due = next
	}
}

// sleepUntil waits until the wall clock reaches t and reports whether ctx is still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	// Loop because t has no monotonic reading: a wall clock stepped back means the timer fires early.
	for d := time.Until(t); d > 0; d = time.Until(t) {
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
	return ctx.Err() == nil
}
