package main

import (
	"time"

	"github.com/tributary-sec/tributary/internal/model"
)

// barrier tracks, per sync and normalized partition, which raw partitions' end-of-sync
// markers have arrived. A normalized partition is complete for a sync once the markers
// of all raw partitions are in (docs/architecture.md, "the barrier").
type barrier struct {
	pending map[barrierKey]*pendingPartition
	// completed remembers finished partitions so that a marker replayed by a restarted
	// normalizer does not open a partition that will never complete.
	completed map[barrierKey]time.Time
	timeout   time.Duration
}

type barrierKey struct {
	sync      string
	partition int32
}

type pendingPartition struct {
	firstOffset int64     // of the first marker seen: replayed after a restart
	firstSeen   time.Time // for the stuck-partition timeout
	sources     map[int32]bool
	marker      model.SyncEnd // the first marker, for the sync's identity
	outcome     model.Outcome // failed when any marker says Fetching failed
}

// newBarrier returns a barrier that gives up on a partition whose markers have not all
// arrived within timeout of the first (a fetcher or normalizer died mid-sync).
func newBarrier(timeout time.Duration) *barrier {
	return &barrier{pending: map[barrierKey]*pendingPartition{}, completed: map[barrierKey]time.Time{}, timeout: timeout}
}

// add records marker m read at offset of normalized partition. When it completes the
// partition it returns the partition's sync identity and true.
func (b *barrier) add(partition int32, offset int64, m *model.SyncEnd, now time.Time) (model.SyncEnd, bool) {
	k := barrierKey{m.SyncID, partition}
	if _, done := b.completed[k]; done {
		return model.SyncEnd{}, false
	}
	p := b.pending[k]
	if p == nil {
		p = &pendingPartition{firstOffset: offset, firstSeen: now, sources: map[int32]bool{}, marker: *m, outcome: model.OutcomeSucceeded}
		b.pending[k] = p
	}
	p.sources[m.SourcePartition] = true
	if m.Outcome == model.OutcomeFailed {
		p.outcome = model.OutcomeFailed
	}
	if int32(len(p.sources)) < m.SourcePartitions {
		return model.SyncEnd{}, false
	}
	delete(b.pending, k)
	b.completed[k] = now
	done := p.marker
	done.Outcome = p.outcome
	return done, true
}

// expire drops partitions waiting longer than the timeout and returns them, and
// forgets completions older than the timeout.
func (b *barrier) expire(now time.Time) []model.SyncEnd {
	var expired []model.SyncEnd
	for k, p := range b.pending {
		if now.Sub(p.firstSeen) > b.timeout {
			expired = append(expired, p.marker)
			delete(b.pending, k)
		}
	}
	for k, t := range b.completed {
		if now.Sub(t) > b.timeout {
			delete(b.completed, k)
		}
	}
	return expired
}

// holds returns, per normalized partition, the offset of the earliest marker of a sync
// not yet complete there: its state is only in memory, so it must be read again after
// a restart.
func (b *barrier) holds() map[int32]int64 {
	out := map[int32]int64{}
	for k, p := range b.pending {
		if cur, ok := out[k.partition]; !ok || p.firstOffset < cur {
			out[k.partition] = p.firstOffset
		}
	}
	return out
}

// drop forgets partitions this instance no longer owns; their new owner replays them
// from the held offset.
func (b *barrier) drop(partitions []int32) {
	gone := map[int32]bool{}
	for _, p := range partitions {
		gone[p] = true
	}
	for k := range b.pending {
		if gone[k.partition] {
			delete(b.pending, k)
		}
	}
}
