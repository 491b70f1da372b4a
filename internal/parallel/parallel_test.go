package parallel

import (
	"sync/atomic"
	"testing"
)

func TestChunksCoversEveryIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 1000} {
		seen := make([]atomic.Int32, n)
		Chunks(n, func(start, end int) {
			if start >= end {
				t.Errorf("n=%d: empty chunk [%d, %d)", n, start, end)
			}
			for i := start; i < end; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			if c := seen[i].Load(); c != 1 {
				t.Errorf("n=%d: index %d visited %d times", n, i, c)
			}
		}
	}
}
