package main

import (
	"testing"
	"time"
)

func TestAssetFilter(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f := newAssetFilter(func() time.Time { return now })
	if f.seen("s1", []byte("c/i-1")) {
		t.Fatal("a new asset was reported seen")
	}
	if !f.seen("s1", []byte("c/i-1")) {
		t.Error("the same asset of the same sync was not reported seen")
	}
	if f.seen("s2", []byte("c/i-1")) {
		t.Error("an asset of another sync was reported seen: each sync must send its assets")
	}
	f.forget("s1", []byte("c/i-1"))
	if f.seen("s1", []byte("c/i-1")) {
		t.Error("a forgotten asset was still reported seen")
	}
	now = now.Add(assetFilterIdle + time.Minute)
	f.seen("s2", []byte("c/i-2"))
	f.expire()
	if _, ok := f.syncs["s1"]; ok {
		t.Error("an idle sync's set was kept")
	}
	if _, ok := f.syncs["s2"]; !ok {
		t.Error("a sync in use lost its set")
	}
}
