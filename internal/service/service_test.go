package service

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/kafka/kafkatest"
)

func TestMemoryLimit(t *testing.T) {
	// Restore the test binary's settings.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC") // Setenv restores it afterwards
	tests := []struct {
		name    string
		args    []string
		env     string
		want    int64
		wantGC  int
		wantErr string
	}{
		{name: "default keeps a service under 256 MiB", want: defaultMemoryLimitMiB << 20, wantGC: gcPercentUnderLimit},
		{name: "flag", args: []string{"--memory-limit-mib", "512"}, want: 512 << 20, wantGC: gcPercentUnderLimit},
		{name: "environment", env: "64", want: 64 << 20, wantGC: gcPercentUnderLimit},
		{name: "no limit, Go's default collector", args: []string{"--memory-limit-mib", "0"}, want: math.MaxInt64, wantGC: 100},
		{name: "negative", args: []string{"--memory-limit-mib", "-1"}, wantErr: "0 for no limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			debug.SetGCPercent(100)
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
			if got := debug.SetGCPercent(100); got != tt.wantGC {
				t.Errorf("GC percent %d, want %d", got, tt.wantGC)
			}
		})
	}
}

// TestKafkaMetrics gives two clients of one service their kprom metrics on the service's
// registry, told apart by the client label; closing one leaves the other's.
func TestKafkaMetrics(t *testing.T) {
	cfg := kafkatest.New(t, 1)
	c := Flags("test", "127.0.0.1:0")
	if err := c.Parse([]string{"--kafka-brokers", strings.Join(cfg.Brokers, ","), "--memory-limit-mib", "0"}); err != nil {
		t.Fatal(err)
	}
	rt, err := c.Start() // no memory limit: the test binary's settings stay
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	stop()
	_ = rt.Admin.Serve(ctx) // closes the listener
	clients := map[string]*kgo.Client{}
	for _, role := range []string{"main", "finisher"} {
		cl, err := kafka.NewClient(t.Context(), cfg, rt.KafkaMetrics(role))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		clients[role] = cl
	}
	connects := func() map[string]bool {
		t.Helper()
		fams, err := rt.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		roles := map[string]bool{}
		for _, f := range fams {
			if f.GetName() != "tributary_test_kafka_connects_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "client" {
						roles[l.GetValue()] = true
					}
				}
			}
		}
		return roles
	}
	if got := connects(); !got["main"] || !got["finisher"] {
		t.Errorf("connects_total by client: %v, want main and finisher", got)
	}
	clients["finisher"].Close()
	if got := connects(); !got["main"] || got["finisher"] {
		t.Errorf("after closing the finisher's client, connects_total by client: %v, want main alone", got)
	}
}

// TestBadEnvironmentStopsParse: a variable that does not parse is an error naming it and
// the form wanted, not silently the default.
func TestBadEnvironmentStopsParse(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"TRIBUTARY_TOPIC_PARTITIONS", "six", `env TRIBUTARY_TOPIC_PARTITIONS is "six": want a whole number`},
		{"TRIBUTARY_MEMORY_LIMIT_MIB", "1.5", `env TRIBUTARY_MEMORY_LIMIT_MIB is "1.5": want a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			err := Flags("test", "127.0.0.1:0").Parse([]string{"--kafka-brokers", "127.0.0.1:9092"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse with %s=%q: %v; want an error saying %s", tt.key, tt.value, err, tt.want)
			}
		})
	}
	if err := Flags("test", "127.0.0.1:0").Parse([]string{"--kafka-brokers", "127.0.0.1:9092"}); err != nil {
		t.Errorf("Parse once the variables are restored: %v", err)
	}
	t.Setenv("TRIBUTARY_TEST_TIMEOUT", "2h")
	t.Setenv("TRIBUTARY_TEST_FLAG", "maybe")
	if d, b := EnvDuration("TRIBUTARY_TEST_TIMEOUT", time.Minute), EnvBool("TRIBUTARY_TEST_FLAG", true); d != 2*time.Hour || !b {
		t.Errorf("EnvDuration = %s, EnvBool = %v; want 2h and the default, true", d, b)
	}
	if err := EnvErr(); err == nil || !strings.Contains(err.Error(), `env TRIBUTARY_TEST_FLAG is "maybe": want true or false`) {
		t.Errorf("EnvErr() = %v", err)
	}
}
