package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tributary-sec/tributary/internal/connector"
)

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{
		0: "error", 101: "error", 200: "2xx", 204: "2xx", 299: "2xx", 301: "3xx", 304: "3xx",
		400: "4xx", 401: "4xx", 403: "4xx", 429: "4xx", 499: "4xx", 500: "5xx", 503: "5xx", 599: "5xx", 600: "error", -1: "error",
	} {
		if got := statusClass(status); got != want {
			t.Errorf("statusClass(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestVendorObserverAndFailures(t *testing.T) {
	m := newMetrics()
	m.register(prometheus.NewRegistry())
	observe := m.vendorObserver("cortex_xdr")
	observe(connector.Request{Endpoint: "get_endpoint", Status: 503, Duration: 20 * time.Millisecond})
	observe(connector.Request{Endpoint: "get_endpoint", Status: 200, Retry: true, Duration: 10 * time.Millisecond})
	observe(connector.Request{Endpoint: "get_endpoint", Retry: true, Duration: time.Second})
	for _, tc := range []struct {
		class, retry string
		want         float64
	}{{"5xx", "false", 1}, {"2xx", "true", 1}, {"error", "true", 1}, {"2xx", "false", 0}} {
		if got := testutil.ToFloat64(m.vendorRequests.WithLabelValues("cortex_xdr", "get_endpoint", tc.class, tc.retry)); got != tc.want {
			t.Errorf("requests with status class %s, retry %s: %v, want %v", tc.class, tc.retry, got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.vendorSeconds); n != 1 {
		t.Errorf("%d latency series, want one per connector type and endpoint", n)
	}

	m.failed("aws_inspector2", "aws-1", "Connectivity Test", &connector.Error{Class: connector.ClassCredentials})
	if got := testutil.ToFloat64(m.syncFailures.WithLabelValues("aws_inspector2", "aws-1", "Connectivity Test", "invalid_credentials")); got != 1 {
		t.Errorf("sync failures %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.syncsFinished.WithLabelValues("aws_inspector2", "aws-1", "failed")); got != 1 {
		t.Errorf("failed syncs %v, want 1", got)
	}
}
