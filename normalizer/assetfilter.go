package main

// maxRememberedAssets bounds the memory of an assetFilter set: past it the set starts
// over, which costs only duplicate (idempotent) asset records.
const maxRememberedAssets = 250_000

// assetFilter remembers which assets were produced for each sync and raw partition.
// Inspector repeats an asset in every finding on it; sending it once per partition
// instead cuts the normalized topic and the processor's work several times over.
type assetFilter struct {
	sets map[filterKey]map[string]struct{}
}

type filterKey struct {
	sync         string
	rawPartition int32
}

func newAssetFilter() *assetFilter {
	return &assetFilter{sets: map[filterKey]map[string]struct{}{}}
}

// seen reports whether the asset keyed connector id + "/" + uid was already produced from
// rawPartition for the sync, and remembers it otherwise.
func (f *assetFilter) seen(syncID string, key []byte, rawPartition int32) bool {
	k := filterKey{syncID, rawPartition}
	set := f.sets[k]
	if set == nil || len(set) >= maxRememberedAssets {
		set = map[string]struct{}{}
		f.sets[k] = set
	}
	if _, ok := set[string(key)]; ok {
		return true
	}
	set[string(key)] = struct{}{}
	return false
}

// forget drops what was remembered for a sync's raw partition once its end has passed.
func (f *assetFilter) forget(syncID string, rawPartition int32) {
	delete(f.sets, filterKey{syncID, rawPartition})
}
