package service

import (
	"context"
	"runtime/debug"
	"strings"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // restore the test binary's limit
	tests := []struct {
		name    string
		args    []string
		env     string
		want    int64
		wantErr string
	}{
		{name: "default keeps a service under 256 MiB", want: defaultMemoryLimitMiB << 20},
		{name: "flag", args: []string{"--memory-limit-mib", "512"}, want: 512 << 20},
		{name: "environment", env: "64", want: 64 << 20},
		{name: "negative", args: []string{"--memory-limit-mib", "-1"}, wantErr: "0 for no limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("TRIBUTARY_MEMORY_LIMIT_MIB", tt.env)
			}
			c := Flags("test", "127.0.0.1:0")
			err := c.Parse(append([]string{"--kafka-brokers", "127.0.0.1:9092"}, tt.args...))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rt, err := c.Start()
			if err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(t.Context())
			stop()
			_ = rt.Admin.Serve(ctx) // closes the listener
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("heap limit %d MiB, want %d MiB", got>>20, tt.want>>20)
			}
		})
	}
}
