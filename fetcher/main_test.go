package main

import (
	"strings"
	"testing"
)

func TestCheckAPIAddr(t *testing.T) {
	tests := []struct {
		addr, token string
		wantErr     string
	}{
		{addr: "127.0.0.1:8480"},
		{addr: "localhost:8480"},
		{addr: "[::1]:8480"},
		{addr: "0.0.0.0:8480", token: "a-long-random-token"},
		{addr: "0.0.0.0:8480", wantErr: "TRIBUTARY_API_TOKEN"},
		{addr: ":8480", wantErr: "TRIBUTARY_API_TOKEN"},
		{addr: "10.1.2.3:8480", wantErr: "or listen on 127.0.0.1"},
		{addr: "8480", wantErr: "not host:port"},
	}
	for _, tt := range tests {
		err := checkAPIAddr(tt.addr, tt.token)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkAPIAddr(%q, token set %v) = %v, want error containing %q", tt.addr, tt.token != "", err, tt.wantErr)
		}
	}
}
