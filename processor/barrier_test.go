package main

import (
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
)

func TestBarrier(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	marker := func(sync string, source int32, outcome model.Outcome) *model.SyncEnd {
		return &model.SyncEnd{SyncID: sync, ConnectorID: "c", SourcePartition: source, SourcePartitions: 3, Outcome: outcome}
	}
	b := newBarrier(time.Hour)

	// Partition 0 of sync A completes once the markers of all 3 raw partitions are in,
	// whatever their order and however often one is repeated.
	for i, m := range []*model.SyncEnd{marker("A", 2, model.OutcomeSucceeded), marker("A", 0, model.OutcomeFailed), marker("A", 2, model.OutcomeSucceeded)} {
		if _, done := b.add(0, int64(10+i), m, now); done {
			t.Fatalf("partition complete after %d markers", i+1)
		}
	}
	if got := b.holds(); got[0] != 10 {
		t.Errorf("holds = %v, want partition 0 held at the first marker's offset 10", got)
	}
	s, done := b.add(0, 13, marker("A", 1, model.OutcomeSucceeded), now)
	if !done || s.SyncID != "A" || s.Outcome != model.OutcomeFailed {
		t.Fatalf("add = %+v, %v; want sync A complete with the failed outcome of one marker", s, done)
	}
	if got := b.holds(); len(got) != 0 {
		t.Errorf("holds after completion = %v, want none", got)
	}
	// A marker replayed by a restarted normalizer must not reopen the partition.
	if _, done := b.add(0, 14, marker("A", 0, model.OutcomeSucceeded), now); done || len(b.holds()) != 0 {
		t.Errorf("a replayed marker reopened a completed partition: holds %v", b.holds())
	}

	// A partition whose markers never all arrive is given up after the timeout.
	b.add(1, 20, marker("B", 0, model.OutcomeSucceeded), now)
	if expired := b.expire(now.Add(30 * time.Minute)); len(expired) != 0 {
		t.Errorf("expired early: %v", expired)
	}
	if expired := b.expire(now.Add(2 * time.Hour)); len(expired) != 1 || expired[0].SyncID != "B" {
		t.Errorf("expire = %v, want sync B", expired)
	}
	if got := b.holds(); len(got) != 0 {
		t.Errorf("holds after expiry = %v, want none", got)
	}

	// Partitions handed to another instance are forgotten.
	b.add(2, 30, marker("C", 0, model.OutcomeSucceeded), now)
	b.drop([]int32{2})
	if got := b.holds(); len(got) != 0 {
		t.Errorf("holds after drop = %v, want none", got)
	}
}
