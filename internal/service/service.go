// Package service holds what Tributary's three binaries share at start-up: the common
// flags (each with an environment default), the JSON logger, the metrics registry and
// the admin server.
package service

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tributary-sec/tributary/internal/admin"
	"github.com/tributary-sec/tributary/internal/kafka"
)

// Common are the settings every service takes.
type Common struct {
	Name      string
	Kafka     kafka.Config
	AdminAddr string
	LogLevel  string
	FlagSet   *flag.FlagSet

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
	return c
}

// Parse parses args and validates the common settings.
func (c *Common) Parse(args []string) error {
	if err := c.FlagSet.Parse(args); err != nil {
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
	return nil
}

// Logger returns the service's JSON logger.
func (c *Common) Logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel)) // validated by Parse
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})).With("service", c.Name)
}

// Registry returns a fresh metrics registry with the Go runtime and process collectors.
func (c *Common) Registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ListenAdmin binds the admin server.
func (c *Common) ListenAdmin(reg *prometheus.Registry) (*admin.Server, error) {
	return admin.Listen(c.AdminAddr, reg)
}

// Env returns the environment variable key, or def when it is unset.
func Env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// EnvInt returns the environment variable key as an int, or def when it is unset or
// not a number.
func EnvInt(key string, def int) int {
	v, err := strconv.Atoi(Env(key, strconv.Itoa(def)))
	if err != nil {
		return def
	}
	return v
}
