package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConsumerOpts are the options a group consumer needs for Consume's at-least-once
// contract: no auto-commit, and no rebalance while a polled batch is being handled.
func ConsumerOpts(group string, topics ...string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		// Offsets are committed only after the batch's output is durable.
		kgo.DisableAutoCommit(),
		// Hold partitions until the polled batch is handled and committed, so a
		// rebalance never hands a partition over mid-batch.
		kgo.BlockRebalanceOnPoll(),
		// A new group starts at the beginning: nothing already produced is skipped.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Fetches amortise per-request work during a sync's bursts, but a consumer that
		// lags keeps a fetch buffered, decompressed (compressed vendor JSON grows ~5x): bounded
		// so that buffer stays a small part of a service's memory.
		kgo.FetchMaxBytes(6 << 20),
		kgo.FetchMaxPartitionBytes(2 << 20),
	}
}

// Handler handles one polled batch of records. Before it returns, everything the batch
// leads to must be durable (produced and flushed, or written); Consume then commits the
// batch's offsets. An error stops Consume: nothing of the batch is committed, so the
// records are redelivered after a restart.
//
// A handler that keeps state across batches returns holds: per topic and partition,
// the lowest offset that must be delivered again after a restart because its effect
// lives only in memory so far. Consume never commits a held partition past its hold.
type Handler func(ctx context.Context, records []*kgo.Record) (holds Offsets, err error)

// Offsets are offsets by topic and partition.
type Offsets map[string]map[int32]int64

// Batch sizes what Consume hands a handler.
type Batch struct {
	// MaxRecords bounds the memory a batch holds and what the handler writes at once.
	MaxRecords int
	// Linger is how long Consume keeps polling to fill a batch after its first records:
	// fewer, larger writes for a sink that pays per write, at the cost of latency.
	Linger time.Duration
}

// Consume polls cl (built with ConsumerOpts) until ctx ends, handing each batch to handle
// and committing it afterwards. It returns nil when ctx ends.
func Consume(ctx context.Context, cl *kgo.Client, b Batch, handle Handler) error {
	return consume(ctx, cl, b, handle, true)
}

// ConsumeUncommitted is Consume for a consumer whose state is the topic itself: it
// never commits, so every assignment re-reads its partitions from the start.
func ConsumeUncommitted(ctx context.Context, cl *kgo.Client, b Batch, handle Handler) error {
	return consume(ctx, cl, b, handle, false)
}

func consume(ctx context.Context, cl *kgo.Client, b Batch, handle Handler, commitBatches bool) error {
	for {
		records, err := poll(ctx, cl, b)
		if err != nil || ctx.Err() != nil {
			cl.AllowRebalance()
			return err
		}
		if len(records) > 0 {
			holds, err := handle(ctx, records)
			if err != nil {
				cl.AllowRebalance()
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if commitBatches {
				if err := commit(ctx, cl, commitOffsets(records, holds)); err != nil && ctx.Err() == nil {
					cl.AllowRebalance()
					return fmt.Errorf("committing offsets: %w", err)
				}
			}
		}
		cl.AllowRebalance()
	}
}

// poll returns the next batch: the records buffered now, topped up for b.Linger until
// b.MaxRecords. It returns no records and no error when ctx ends or cl is closed.
func poll(ctx context.Context, cl *kgo.Client, b Batch) ([]*kgo.Record, error) {
	var (
		records  []*kgo.Record
		deadline time.Time
	)
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if len(records) > 0 {
			pollCtx, cancel = context.WithDeadline(ctx, deadline)
		}
		fetches := cl.PollRecords(pollCtx, b.MaxRecords-len(records))
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil, nil
		}
		var fetchErr error
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				fetchErr = errors.Join(fetchErr, fmt.Errorf("fetching %s/%d: %w", topic, partition, err))
			}
		})
		if fetchErr != nil {
			return nil, fetchErr
		}
		if len(records) == 0 {
			deadline = time.Now().Add(b.Linger)
		}
		records = append(records, fetches.Records()...)
		if len(records) >= b.MaxRecords || !time.Now().Before(deadline) {
			return records, nil
		}
	}
}

// commitOffsets is, per partition of the batch, the offset after its last record, or
// the partition's hold when that is lower.
func commitOffsets(records []*kgo.Record, holds Offsets) map[string]map[int32]kgo.EpochOffset {
	out := map[string]map[int32]kgo.EpochOffset{}
	for _, r := range records {
		parts := out[r.Topic]
		if parts == nil {
			parts = map[int32]kgo.EpochOffset{}
			out[r.Topic] = parts
		}
		if cur, ok := parts[r.Partition]; !ok || r.Offset+1 > cur.Offset {
			parts[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		}
	}
	for topic, parts := range out {
		for p, eo := range parts {
			if hold, ok := holds[topic][p]; ok && hold < eo.Offset {
				parts[p] = kgo.EpochOffset{Epoch: -1, Offset: hold}
			}
		}
	}
	return out
}

// commit commits offsets and returns the request's or any partition's error.
func commit(ctx context.Context, cl *kgo.Client, offsets map[string]map[int32]kgo.EpochOffset) error {
	var commitErr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil && commitErr == nil {
					commitErr = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, perr)
				}
			}
		}
	})
	return commitErr
}

// ReadAll reads topic from its start up to its end at the time of the call, without a
// consumer group, calling fn for each record (in order within a partition). A service
// uses it at start-up to rebuild state kept in a topic.
func ReadAll(ctx context.Context, cfg Config, topic string, fn func(*kgo.Record)) error {
	cl, err := NewClient(ctx, cfg, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := EndOffsets(ctx, cl, topic)
	if err != nil {
		return err
	}
	left := map[int32]int64{}
	for p, end := range ends {
		if end > 0 {
			left[p] = end
		}
	}
	for len(left) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			fetchErr = errors.Join(fetchErr, fmt.Errorf("reading %s/%d: %w", t, p, err))
		})
		if fetchErr != nil {
			return fetchErr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			fn(r)
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return nil
}
