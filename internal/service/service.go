// Package service holds what Tributary's three binaries share at start-up: the common
// flags (each with an environment default), signal handling, the JSON logger, the
// metrics registry, the admin server and the Avro codec.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/tributary-sec/tributary/internal/admin"
	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/registry"
)

// Common are the settings every service takes.
type Common struct {
	Name      string
	Kafka     kafka.Config
	AdminAddr string
	LogLevel  string
	// MemoryLimitMiB is the Go heap's soft limit (0: none). Near it the runtime
	// collects more often instead of letting the heap grow, so a service stays inside a
	// container's memory budget; below it, the collector runs less often than Go's
	// default (gcPercentUnderLimit).
	MemoryLimitMiB int
	// SchemaRegistry says whether records are framed for a schema registry
	// (--schema-registry-url); Start builds the codec from it.
	SchemaRegistry *registry.Config
	FlagSet        *flag.FlagSet

	brokers    string
	partitions int
}

// Flags declares the common flags of service name; the service adds its own to
// FlagSet before calling Parse.
func Flags(name, defaultAdminAddr string) *Common {
	c := &Common{Name: name, FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	fs := c.FlagSet
	fs.StringVar(&c.brokers, "kafka-brokers", Env("TRIBUTARY_KAFKA_BROKERS", "127.0.0.1:9092"), "comma-separated Kafka bootstrap brokers (env TRIBUTARY_KAFKA_BROKERS)")
	fs.StringVar(&c.Kafka.TopicPrefix, "topic-prefix", Env("TRIBUTARY_TOPIC_PREFIX", "tributary."), "prefix of Tributary's topic names (env TRIBUTARY_TOPIC_PREFIX)")
	fs.IntVar(&c.partitions, "topic-partitions", EnvInt("TRIBUTARY_TOPIC_PARTITIONS", 6), "partitions of the topics a service creates when missing (env TRIBUTARY_TOPIC_PARTITIONS)")
	envName := "TRIBUTARY_" + strings.ToUpper(name) + "_ADMIN_ADDR"
	fs.StringVar(&c.AdminAddr, "admin-addr", Env(envName, defaultAdminAddr), "address of /metrics, /healthz and /readyz (env "+envName+")")
	fs.StringVar(&c.LogLevel, "log-level", Env("TRIBUTARY_LOG_LEVEL", "info"), "debug, info, warn or error (env TRIBUTARY_LOG_LEVEL)")
	fs.IntVar(&c.MemoryLimitMiB, "memory-limit-mib", EnvInt("TRIBUTARY_MEMORY_LIMIT_MIB", defaultMemoryLimitMiB), "soft limit of the Go heap in MiB, 0 for none (env TRIBUTARY_MEMORY_LIMIT_MIB)")
	c.SchemaRegistry = registry.RegisterFlags(fs)
	return c
}

// Parse parses args and validates the common settings.
func (c *Common) Parse(args []string) error {
	if err := c.FlagSet.Parse(args); err != nil {
		return err
	}
	if err := EnvErr(); err != nil {
		return err
	}
	c.Kafka.Brokers = strings.Split(c.brokers, ",")
	c.Kafka.Partitions = int32(c.partitions)
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", c.LogLevel)
	}
	if c.MemoryLimitMiB < 0 {
		return fmt.Errorf("--memory-limit-mib %d: use a size in MiB, or 0 for no limit", c.MemoryLimitMiB)
	}
	return c.SchemaRegistry.Validate()
}

// defaultMemoryLimitMiB keeps each service's resident memory under 256 MiB: the heap's
// live data stays near 100 MiB at full throughput, and without a limit the runtime
// lets the heap grow to twice that before collecting.
const defaultMemoryLimitMiB = 192

// gcPercentUnderLimit lets the heap grow to four times its live data between
// collections, instead of Go's default two, while the memory limit caps it: garbage
// collection was ~15 % of the fetcher's and normalizer's CPU at full speed, whose live
// heaps are 20-50 MiB. GOGC in the environment overrides it.
const gcPercentUnderLimit = 300

// logger returns the service's JSON logger.
func (c *Common) logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel)) // validated by Parse
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})).With("service", c.Name)
}

// Runtime is what every service works with once started.
type Runtime struct {
	Log      *slog.Logger
	Registry *prometheus.Registry
	Admin    *admin.Server
	Codec    *avro.Codec

	name string
}

// KafkaMetrics is the client option that exports a Kafka client's metrics (franz-go's
// kprom: connections, bytes and records produced and fetched, buffered records, request
// latencies) on the service's registry as tributary_<service>_kafka_*, with a label
// client=role that tells a service's clients apart. Give each client its own.
func (rt *Runtime) KafkaMetrics(role string) kgo.Opt {
	return kgo.WithHooks(kprom.NewMetrics("tributary_"+rt.name+"_kafka",
		kprom.Registerer(rt.Registry),
		kprom.WithStaticLabel(prometheus.Labels{"client": role})))
}

// Start builds the service's logger, metrics registry, admin server and Avro codec.
func (c *Common) Start() (*Runtime, error) {
	if c.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(int64(c.MemoryLimitMiB) << 20)
		if _, set := os.LookupEnv("GOGC"); !set {
			debug.SetGCPercent(gcPercentUnderLimit)
		}
	}
	// Start takes no context: registering the schemas has a deadline of its own. It comes
	// first, so that a registry error leaves no admin listener behind.
	codec, err := c.SchemaRegistry.Codec(context.Background())
	if err != nil {
		return nil, err
	}
	if ids := codec.SchemaIDs(); ids != nil {
		c.logger().Info("schemas registered", "schema_registry", registry.Redact(c.SchemaRegistry.URL), "schema_ids", ids)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	adminSrv, err := admin.Listen(c.AdminAddr, reg)
	if err != nil {
		return nil, err
	}
	return &Runtime{Log: c.logger(), Registry: reg, Admin: adminSrv, Codec: codec, name: c.Name}, nil
}

// Main runs a service until SIGINT or SIGTERM and exits non-zero, the error on
// stderr, when run fails.
func Main(name string, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Env returns the environment variable key, or def when it is unset.
func Env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// envChecks holds, for each environment variable EnvInt, EnvDuration and EnvBool read,
// how to check its value, for EnvErr.
var envChecks struct {
	sync.Mutex
	byKey map[string]func(string) error
}

// envParse returns the environment variable key parsed, or def when it is unset or does
// not parse; EnvErr reports a value that does not, naming the form wanted.
func envParse[T any](key string, def T, parse func(string) (T, error), want string) T {
	envChecks.Lock()
	if envChecks.byKey == nil {
		envChecks.byKey = map[string]func(string) error{}
	}
	envChecks.byKey[key] = func(v string) error {
		if _, err := parse(v); err != nil {
			return fmt.Errorf("env %s is %q: want %s; fix or unset it", key, v, want)
		}
		return nil
	}
	envChecks.Unlock()
	v, ok := os.LookupEnv(key)
	if !ok {
		return def
	}
	out, err := parse(v)
	if err != nil {
		return def
	}
	return out
}

// EnvInt returns the environment variable key as an int, or def when it is unset.
func EnvInt(key string, def int) int {
	return envParse(key, def, strconv.Atoi, "a whole number")
}

// EnvDuration returns the environment variable key as a duration (e.g. 30s, 2h), or def
// when it is unset.
func EnvDuration(key string, def time.Duration) time.Duration {
	return envParse(key, def, time.ParseDuration, "a duration such as 30s or 2h")
}

// EnvBool returns the environment variable key as a bool, or def when it is unset.
func EnvBool(key string, def bool) bool {
	return envParse(key, def, strconv.ParseBool, "true or false")
}

// EnvErr reports every environment variable EnvInt, EnvDuration or EnvBool read whose
// value does not parse; Common.Parse returns it, so a bad value stops a service at
// start-up instead of being ignored.
func EnvErr() error {
	envChecks.Lock()
	defer envChecks.Unlock()
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(envChecks.byKey)) {
		if v, ok := os.LookupEnv(key); ok {
			errs = append(errs, envChecks.byKey[key](v))
		}
	}
	return errors.Join(errs...)
}
