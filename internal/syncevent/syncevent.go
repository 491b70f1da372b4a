// Package syncevent publishes the entries of a sync's log (stage events and partition
// completions, vendor totals) to the sync-log topic, keyed by sync id so each sync's entries stay in
// order on one partition.
package syncevent

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/model"
)

// Publisher writes sync-log entries.
type Publisher struct {
	client *kgo.Client
	codec  *avro.Codec
	topic  string
}

// NewPublisher returns a publisher writing to topic through client.
func NewPublisher(client *kgo.Client, codec *avro.Codec, topic string) *Publisher {
	return &Publisher{client: client, codec: codec, topic: topic}
}

// Publish writes one entry (*model.StageEvent, *model.PartitionDone or
// *model.VendorCounts) and waits until
// Kafka has it: sync-log entries are few and each one matters.
func (p *Publisher) Publish(ctx context.Context, syncID string, entry any) error {
	value, err := p.codec.Encode(nil, entry)
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: p.topic, Key: []byte(syncID), Value: value}
	if err := p.client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("publishing sync-log entry of sync %s: %w", syncID, err)
	}
	return nil
}

// Stage starts a stage event for sync s; callers fill the rest.
func Stage(s *model.SyncEnd, stage string) *model.StageEvent {
	return &model.StageEvent{
		SyncID:        s.SyncID,
		ConnectorID:   s.ConnectorID,
		ConnectorType: s.ConnectorType,
		SyncType:      s.SyncType,
		Stage:         stage,
	}
}
