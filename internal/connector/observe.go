package connector

import "time"

// Request is one HTTP attempt of a vendor API call, as a RequestObserver sees it.
type Request struct {
	// Endpoint is the vendor's name of the operation: ListFindings, AssumeRole,
	// get_endpoint. It names the operation, never a resource, so it stays a small set.
	Endpoint string
	// Status is the HTTP status of the answer, 0 when none came (DNS, TLS, connection
	// refused or reset, timeout).
	Status int
	// Retry is false for the first attempt of a call and true for every later one.
	Retry bool
	// Duration runs from sending the request to the answer's headers, or to the failure.
	Duration time.Duration
}

// RequestObserver is told of every HTTP attempt a Source makes, retries included (the
// fetcher counts them in its metrics). A Source calls it from any of its goroutines, so
// it must be safe for concurrent use, and it must return quickly.
type RequestObserver func(Request)

// Observe calls o with r; a nil o observes nothing.
func (o RequestObserver) Observe(r Request) {
	if o != nil {
		o(r)
	}
}
