package main

import (
	"sync"
	"time"
)

// maxRememberedAssets bounds the memory of one sync's set: past it the set starts over,
// which costs only duplicate (idempotent) asset records.
const maxRememberedAssets = 250_000

// assetFilterIdle is how long a sync's set is kept after its last use.
const assetFilterIdle = 30 * time.Minute

// assetFilter remembers which assets this instance has produced for each sync.
// Inspector repeats an asset in every finding on it; sending it once per sync instead
// cuts the normalized topic and the processor's work several times over. Skipping is
// safe: an asset produced earlier was flushed before its batch was committed. It is
// safe for concurrent use.
type assetFilter struct {
	mu    sync.Mutex
	syncs map[string]*assetSet
	now   func() time.Time
}

type assetSet struct {
	keys     map[string]struct{}
	lastUsed time.Time
}

func newAssetFilter(now func() time.Time) *assetFilter {
	return &assetFilter{syncs: map[string]*assetSet{}, now: now}
}

// seen reports whether the asset keyed connector id + "/" + uid was already produced for
// the sync, and remembers it otherwise.
func (f *assetFilter) seen(syncID string, key []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.syncs[syncID]
	if set == nil || len(set.keys) >= maxRememberedAssets {
		set = &assetSet{keys: map[string]struct{}{}}
		f.syncs[syncID] = set
	}
	set.lastUsed = f.now()
	if _, ok := set.keys[string(key)]; ok {
		return true
	}
	set.keys[string(key)] = struct{}{}
	return false
}

// forget drops one asset of a sync, to be sent again.
func (f *assetFilter) forget(syncID string, key []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if set := f.syncs[syncID]; set != nil {
		delete(set.keys, string(key))
	}
}

// expire forgets the syncs not seen for a while: their records have all passed.
func (f *assetFilter) expire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	cutoff := f.now().Add(-assetFilterIdle)
	for id, set := range f.syncs {
		if set.lastUsed.Before(cutoff) {
			delete(f.syncs, id)
		}
	}
}
