package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{"ready", srv.URL + "/readyz", true},
		{"not ready", srv.URL + "/other", false},
		{"nothing listening", closed.URL + "/readyz", false},
		{"bad url", "://", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := probe(ctx, tt.url)
			if (err == nil) != tt.ok {
				t.Errorf("probe(%s) = %v, want ok=%v", tt.url, err, tt.ok)
			}
		})
	}
}
