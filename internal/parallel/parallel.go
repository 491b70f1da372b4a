// Package parallel spreads CPU-bound work over the available cores.
package parallel

import (
	"runtime"
	"sync"
)

// Chunks splits [0, n) into one contiguous chunk per core and calls fn on each chunk
// concurrently, returning when all are done. fn must be safe to run concurrently on
// disjoint chunks; results are usually written to a slice by index, which keeps the
// input's order for whoever applies them afterwards.
func Chunks(n int, fn func(start, end int)) {
	if n == 0 {
		return
	}
	workers := min(runtime.GOMAXPROCS(0), n)
	size := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for start := 0; start < n; start += size {
		wg.Go(func() { fn(start, min(start+size, n)) })
	}
	wg.Wait()
}
