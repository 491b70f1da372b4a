// Package kafkatest runs an in-process Kafka (kfake, the real wire protocol) for tests.
package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/tributary-sec/tributary/internal/kafka"
)

// New starts a fresh in-process Kafka cluster for the test and returns a kafka.Config
// that points at it, with the given topic partition count (default 6 when 0).
func New(t testing.TB, partitions int32) kafka.Config {
	t.Helper()
	if partitions == 0 {
		partitions = 6
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(int(partitions)))
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	cfg := kafka.Config{Brokers: c.ListenAddrs(), Partitions: partitions}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}
