// Package kafka builds the franz-go clients Tributary's services share: topic names and
// creation, a key-or-explicit-partition partitioner, and an at-least-once consume loop.
// It is the only importer of franz-go outside tests.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config says how to reach Kafka and how Tributary's topics are named and sized.
type Config struct {
	Brokers     []string
	TopicPrefix string // default "tributary."
	// Partitions and ReplicationFactor apply when a service creates a missing topic.
	Partitions        int32 // default 6
	ReplicationFactor int16 // default -1: the broker's default
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	if len(c.Brokers) == 0 || c.Brokers[0] == "" {
		return errors.New("no Kafka brokers configured; set --kafka-brokers (env TRIBUTARY_KAFKA_BROKERS), e.g. 127.0.0.1:9092")
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "tributary."
	}
	if c.Partitions == 0 {
		c.Partitions = 6
	}
	if c.Partitions < 0 {
		return fmt.Errorf("kafka partitions must be positive, got %d", c.Partitions)
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	return nil
}

// Topics are the names of Tributary's topics.
type Topics struct {
	Raw, Normalized, Findings, Assets, SyncLog, DeadLetter string
}

// Topics returns the topic names under the configured prefix.
func (c Config) Topics() Topics {
	p := c.TopicPrefix
	return Topics{
		Raw:        p + "raw.v1",
		Normalized: p + "normalized.v1",
		Findings:   p + "findings.v1",
		Assets:     p + "assets.v1",
		SyncLog:    p + "sync-log.v1",
		DeadLetter: p + "dlq.v1",
	}
}

// All lists every topic.
func (t Topics) All() []string {
	return []string{t.Raw, t.Normalized, t.Findings, t.Assets, t.SyncLog, t.DeadLetter}
}

// NewClient builds a client for producing, and for consuming when opts add a group.
// It checks that a broker answers, so a wrong address fails at start-up with a clear
// error rather than on the first record.
func NewClient(ctx context.Context, cfg Config, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RecordPartitioner(keyOrExplicitPartitioner()),
		// Large pipelined batches: a sync produces records in bursts of tens of thousands,
		// a page (25 findings) at a time spread over every partition. With a 5 ms linger
		// a batch held a handful of records, and per-batch work in producer, broker and
		// consumer cost more than the 50 ms a record may now wait.
		kgo.ProducerLinger(50 * time.Millisecond),
		kgo.ProducerBatchMaxBytes(1 << 20),
		// Snappy shrinks the repetitive vendor JSON about five times over; on it, franz-go's
		// snappy (klauspost s2) compresses 2.5x faster than its LZ4 at a slightly better
		// ratio (docs/performance.md).
		kgo.ProducerBatchCompression(kgo.SnappyCompression(), kgo.NoCompression()),
		// A produce must not wait forever on a dead cluster; the caller's retry policy applies.
		kgo.RecordDeliveryTimeout(2 * time.Minute),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating Kafka client: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.Ping(pingCtx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("connecting to Kafka at %s: %w; start Kafka or fix --kafka-brokers", strings.Join(cfg.Brokers, ","), err)
	}
	return cl, nil
}

// SyncLogRetention is how long the sync-log topic keeps entries: sync logs are kept 14
// days (SPEC §2), and the processor's finisher rebuilds its state from the topic.
const SyncLogRetention = 14 * 24 * time.Hour

// EnsureTopics creates the topics that do not exist yet and returns every topic's
// partition count. Several services may race to create a topic; that is harmless.
func EnsureTopics(ctx context.Context, cl *kgo.Client, cfg Config, topics ...string) (map[string]int32, error) {
	adm := kadm.NewClient(cl)
	for _, topic := range topics {
		var configs map[string]*string
		if topic == cfg.Topics().SyncLog {
			configs = map[string]*string{"retention.ms": kadm.StringPtr(strconv.FormatInt(SyncLogRetention.Milliseconds(), 10))}
		}
		resp, err := adm.CreateTopic(ctx, cfg.Partitions, cfg.ReplicationFactor, configs, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return nil, fmt.Errorf("creating topic %s: %w", topic, err)
		}
	}
	return partitionCounts(ctx, cl, topics...)
}

// EndOffsets returns, per partition of topic, the offset the next record will get.
func EndOffsets(ctx context.Context, cl *kgo.Client, topic string) (map[int32]int64, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	var perr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			perr = fmt.Errorf("listing end offset of %s/%d: %w", topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out, perr
}

// GroupLag returns how many records of topic the consumer group has yet to read: per
// partition, the end offset less the group's committed offset, or less the partition's
// start when the group has committed none (a new group reads from the start).
func GroupLag(ctx context.Context, cl *kgo.Client, group, topic string) (int64, error) {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return 0, fmt.Errorf("fetching the offsets group %s committed: %w", group, err)
	}
	var (
		lag  int64
		perr error
	)
	ends.Each(func(end kadm.ListedOffset) {
		start, ok := starts.Lookup(topic, end.Partition)
		if end.Err != nil || !ok || start.Err != nil {
			perr = errors.Join(perr, fmt.Errorf("listing offsets of %s/%d: %w", topic, end.Partition, errors.Join(end.Err, start.Err)))
			return
		}
		from := start.Offset
		if c, ok := committed.Lookup(topic, end.Partition); ok && c.Err == nil && c.At >= 0 {
			from = c.At
		}
		lag += max(0, end.Offset-from)
	})
	return lag, perr
}

// partitionCounts returns how many partitions each topic has.
func partitionCounts(ctx context.Context, cl *kgo.Client, topics ...string) (map[string]int32, error) {
	md, err := kadm.NewClient(cl).ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("reading metadata of topics %s: %w", strings.Join(topics, ", "), err)
	}
	counts := make(map[string]int32, len(topics))
	for _, t := range topics {
		d, ok := md[t]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return nil, fmt.Errorf("topic %s has no partitions (err: %v); create it or let a service create it", t, d.Err)
		}
		counts[t] = int32(len(d.Partitions))
	}
	return counts, nil
}

// keyOrExplicitPartitioner sends a keyed record to its key's partition (Kafka's murmur2,
// so Java clients agree) and a keyless record to the partition it names. Sync markers
// are keyless: each must land in one chosen partition, behind that partition's data.
func keyOrExplicitPartitioner() kgo.Partitioner {
	hash := kgo.KafkaHasher(murmur2)
	return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
		return func(r *kgo.Record, n int) int {
			if r.Key == nil {
				return int(r.Partition)
			}
			return hash(r.Key, n)
		}
	})
}

// murmur2 is Kafka's default partitioning hash (org.apache.kafka.common.utils.Utils.murmur2).
func murmur2(b []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		b = b[4:]
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// LogAttrs is a helper for slog: the topic, partition and offset of a record.
func LogAttrs(r *kgo.Record) slog.Attr {
	return slog.Group("record", slog.String("topic", r.Topic), slog.Int("partition", int(r.Partition)), slog.Int64("offset", r.Offset))
}
