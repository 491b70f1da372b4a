package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/kafka/kafkatest"
)

// TestPartitioner checks keyed records land where Kafka's Java
// client would put them (murmur2), and keyless ones where they ask.
func TestPartitioner(t *testing.T) {
	ctx := context.Background()
	cfg := kafkatest.New(t, 5)
	cl, err := kafka.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kafka.EnsureTopics(ctx, cl, cfg, "t"); err != nil {
		t.Fatal(err)
	}
	// Partitions from Kafka's own DefaultPartitioner for these keys and 5 partitions:
	// toPositive(murmur2(key)) % 5, with murmur2 values from Kafka's UtilsTest.
	for key, want := range map[string]int32{
		"21":                       (-973932308 & 0x7fffffff) % 5,
		"foobar":                   (-790332482 & 0x7fffffff) % 5,
		"a-little-bit-long-string": (-985981536 & 0x7fffffff) % 5,
		"abc":                      479470107 % 5,
	} {
		r := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Key: []byte(key)})
		rec, err := r.First()
		if err != nil {
			t.Fatal(err)
		}
		if rec.Partition != want {
			t.Errorf("key %q went to partition %d, Kafka's partitioner says %d", key, rec.Partition, want)
		}
	}
	rec, err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: 3}).First()
	if err != nil || rec.Partition != 3 {
		t.Errorf("keyless record: partition %d, err %v; want partition 3", rec.Partition, err)
	}
}

func TestConsumeCommitsAfterHandlingAndHonoursHolds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, admin := filledTopic(ctx, t, 1, "in", 10)
	committed := func() int64 {
		offsets, err := kadm.NewClient(admin).FetchOffsets(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offsets.Lookup("in", 0)
		if !ok {
			return -1
		}
		return o.At
	}
	// consume runs a group member until the group's committed offset is stopAt, and
	// returns the offsets it was handed.
	consume := func(handle kafka.Handler, stopAt int64) ([]int64, error) {
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		cl, err := kafka.NewClient(runCtx, cfg, kafka.ConsumerOpts("g", "in")...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		var got []int64
		done := make(chan error, 1)
		go func() {
			done <- kafka.Consume(runCtx, cl, kafka.Batch{MaxRecords: 100}, func(ctx context.Context, recs []*kgo.Record) (kafka.Offsets, error) {
				for _, r := range recs {
					got = append(got, r.Offset)
				}
				return handle(ctx, recs)
			})
		}()
		for {
			select {
			case err := <-done:
				return got, err
			case <-time.After(20 * time.Millisecond):
				if committed() == stopAt {
					stop()
					return got, <-done
				}
			}
		}
	}

	// A handler holding offset 4 (say, a marker whose effect is still in memory): the
	// group commits 4, not 10.
	got, err := consume(func(context.Context, []*kgo.Record) (kafka.Offsets, error) {
		return kafka.Offsets{"in": {0: 4}}, nil
	}, 4)
	if err != nil || len(got) != 10 {
		t.Fatalf("first run: handled %v, err %v; want all 10 records", got, err)
	}

	// After a restart the held records come again, then everything is committed.
	got, err = consume(func(context.Context, []*kgo.Record) (kafka.Offsets, error) { return nil, nil }, 10)
	if err != nil || len(got) == 0 || got[0] != 4 || got[len(got)-1] != 9 {
		t.Fatalf("second run: handled %v, err %v; want offsets 4 to 9 again", got, err)
	}

	// A failing handler stops Consume with its error and commits nothing.
	for i := range 3 {
		if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "in", Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	errBroken := errors.New("clickhouse is down")
	_, err = consume(func(context.Context, []*kgo.Record) (kafka.Offsets, error) { return nil, errBroken }, -2)
	if !errors.Is(err, errBroken) {
		t.Fatalf("Consume returned %v, want the handler's error", err)
	}
	if c := committed(); c != 10 {
		t.Errorf("committed offset after a failed batch = %d, want 10", c)
	}
}

func TestNewClientUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := kafka.NewClient(ctx, kafka.Config{Brokers: []string{"127.0.0.1:1"}})
	if err == nil || !strings.Contains(err.Error(), "connecting to Kafka at 127.0.0.1:1") || !strings.Contains(err.Error(), "--kafka-brokers") {
		t.Errorf("error %v should name the address and the flag to fix", err)
	}
}

func TestGroupLag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, cl := filledTopic(ctx, t, 2, "t", 8)
	lag := func() int64 {
		t.Helper()
		n, err := kafka.GroupLag(ctx, cl, "g", "t")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := lag(); n != 8 {
		t.Errorf("lag of a group that has committed nothing: %d, want every record (8)", n)
	}
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "t", Partition: 0, At: 3, LeaderEpoch: -1})
	if err := kadm.NewClient(cl).CommitAllOffsets(ctx, "g", offsets); err != nil {
		t.Fatal(err)
	}
	if n := lag(); n != 5 {
		t.Errorf("lag after committing 3 of partition 0's 4 records: %d, want 1 + 4", n)
	}
}

// filledTopic starts a cluster whose topic has the given partitions and holds n records,
// record i (value i) in partition i modulo partitions, and returns a client of it.
func filledTopic(ctx context.Context, t *testing.T, partitions int32, topic string, n int) (kafka.Config, *kgo.Client) {
	t.Helper()
	cfg := kafkatest.New(t, partitions)
	cl, err := kafka.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kafka.EnsureTopics(ctx, cl, cfg, topic); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rec := &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: []byte{byte(i)}}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return cfg, cl
}
