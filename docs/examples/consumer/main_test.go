package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/registry"
)

// schemaDir is Tributary's schemas/, from this package's directory.
const schemaDir = "../../../schemas"

// TestFingerprints checks that the example compiles each schema to the canonical form,
// and so the fingerprint, that Tributary's own codec writes.
func TestFingerprints(t *testing.T) {
	dec, err := newDecoder(schemaDir)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := avro.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{enrichedFinding, enrichedAsset} {
		want, err := codec.CanonicalSchema(name)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range dec.byFingerprint {
			if s.name == name {
				found = true
				if got := s.codec.CanonicalSchema(); got != want {
					t.Errorf("canonical form of %s:\n got %s\nwant %s", name, got, want)
				}
			}
		}
		if !found {
			t.Errorf("the decoder has no schema for %s", name)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	dec, err := newDecoder(schemaDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		value []byte
		want  string
	}{
		{"empty", nil, "not an Avro single-object encoded message"},
		{"no magic", []byte(`{"uid":"x"}`), "not an Avro single-object encoded message"},
		{"unknown fingerprint", []byte{0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0}, "unknown schema fingerprint 0807060504030201"},
		{"confluent without a registry", []byte{0, 0, 0, 0, 7, 0}, "schema id 7: the value is in Confluent's wire format; give the schema registry's URL (--schema-registry)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := dec.decode(tc.value)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decode error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestConsume runs the example against an in-process Kafka holding records encoded by
// Tributary's own codec, and checks the lines it prints and the offsets it commits: in
// single-object encoding, and in Confluent's wire format with a schema registry (a
// stand-in asking for basic auth).
func TestConsume(t *testing.T) {
	t.Run("single-object", func(t *testing.T) {
		codec, err := avro.New()
		if err != nil {
			t.Fatal(err)
		}
		testConsume(t, codec)
	})
	t.Run("schema registry", func(t *testing.T) {
		reg := srfake.New(srfake.WithAuth("Basic " + base64.StdEncoding.EncodeToString([]byte("consumer:s3cret"))))
		defer reg.Close()
		u, err := url.Parse(reg.URL())
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("consumer", "s3cret")
		codec, err := (&registry.Config{URL: u.String(), Write: true}).Codec(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		testConsume(t, codec, "--schema-registry", u.String())
	})
}

func testConsume(t *testing.T, codec *avro.Codec, args ...string) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, findingsTopic, assetsTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()

	at := func(hour int) time.Time { return time.Date(2026, 12, 2, hour, 0, 0, 0, time.UTC) }
	score := 7.5
	finding := func(uid, syncID string, fetched time.Time, status model.Status, tr *model.Transition) *model.EnrichedFinding {
		return &model.EnrichedFinding{
			Finding: model.Finding{
				ConnectorID: "aws-prod", ConnectorType: "aws_inspector2", SyncID: syncID, Scope: "us-east-1",
				UID: uid, AssetUIDs: []string{"i-0abc"}, AssetClass: model.ClassDevice, AssetName: "web 1",
				Name: "CVE-2026-0001 - openssl", CVEs: []string{"CVE-2026-0001"}, Score: &score,
				VendorSeverity: "HIGH", VendorStatus: "ACTIVE", FetchedAt: fetched,
			},
			Severity: model.SeverityHigh, Status: status, Transition: tr,
		}
	}
	asset := func(uid, syncID, archiveReason string, fetched time.Time, state string, tr *model.AssetTransition) *model.EnrichedAsset {
		return &model.EnrichedAsset{
			Asset: model.Asset{
				ConnectorID: "aws-prod", ConnectorType: "aws_inspector2", SyncID: syncID, Scope: "us-east-1",
				UID: uid, Class: model.ClassDevice, Name: "web 1", FetchedAt: fetched, ArchiveReason: archiveReason,
			},
			State: state, Transition: tr,
		}
	}
	arn := "arn:aws:inspector2:us-east-1:123456789012:finding/0a1b"
	records := []struct {
		topic, uid string
		msg        any
	}{
		{findingsTopic, arn, finding(arn, "s1", at(6), model.StatusActive, &model.Transition{NewStatus: model.StatusActive, Reason: "new"})},
		{findingsTopic, arn, finding(arn, "s2", at(12), model.StatusActive, nil)}, // unchanged: no line
		{findingsTopic, arn, finding(arn, "s2", at(18), model.StatusFixed, &model.Transition{OldStatus: model.StatusActive, NewStatus: model.StatusFixed, Reason: "not_returned"})},
		{findingsTopic, "arn:b", finding("arn:b", "s3", at(19), model.StatusActive, &model.Transition{OldStatus: model.StatusFixed, NewStatus: model.StatusActive, Reason: "reopened"})},
		{assetsTopic, "i-0abc", asset("i-0abc", "s1", "", at(6), model.AssetActive, &model.AssetTransition{NewState: model.AssetActive, Reason: "new"})},
		{assetsTopic, "i-0abc", asset("i-0abc", "s1", "not_returned", at(18), model.AssetArchived, &model.AssetTransition{OldState: model.AssetActive, NewState: model.AssetArchived, Reason: "not_returned"})},
		{assetsTopic, "i-0abc", asset("i-0abc", "s3", "", at(19), model.AssetActive, &model.AssetTransition{OldState: model.AssetArchived, NewState: model.AssetActive, Reason: "restored"})},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, r := range records {
		value, err := codec.Encode(nil, r.msg)
		if err != nil {
			t.Fatal(err)
		}
		// Keyed as Tributary keys them: connector id + "/" + uid.
		rec := &kgo.Record{Topic: r.topic, Key: []byte("aws-prod/" + r.uid), Value: value}
		if err := producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"2026-12-02T06:00:00Z finding aws-prod/" + arn + " none -> Active (new) severity High",
		"2026-12-02T18:00:00Z finding aws-prod/" + arn + " Active -> Fixed (not_returned) severity High",
		"2026-12-02T19:00:00Z finding aws-prod/arn:b Fixed -> Active (reopened) severity High",
		`2026-12-02T06:00:00Z asset aws-prod/i-0abc none -> active (new) Device "web 1"`,
		`2026-12-02T18:00:00Z asset aws-prod/i-0abc active -> archived (not_returned) Device "web 1"`,
		`2026-12-02T19:00:00Z asset aws-prod/i-0abc archived -> active (restored) Device "web 1"`,
	}

	var out syncBuffer
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, append([]string{"--brokers", strings.Join(cluster.ListenAddrs(), ","), "--group", "consumer-test", "--schemas", schemaDir}, args...), &out)
	}()
	for len(out.lines()) < len(want) {
		select {
		case err := <-done:
			t.Fatalf("run returned before printing every line: %v; printed %q", err, out.lines())
		case <-ctx.Done():
			t.Fatalf("timed out; printed %q", out.lines())
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}

	got := out.lines()
	// Topics and partitions interleave in any order; one entity's lines keep its order.
	for _, entity := range []string{"finding aws-prod/" + arn + " ", "asset aws-prod/i-0abc "} {
		if g, w := linesWith(got, entity), linesWith(want, entity); !slices.Equal(g, w) {
			t.Errorf("lines of %s:\n got %q\nwant %q", entity, g, w)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Everything handled is committed, so the group resumes after it.
	adm := kadm.NewClient(producer)
	committed, err := adm.FetchOffsets(ctx, "consumer-test")
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, findingsTopic, assetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(end kadm.ListedOffset) {
		c, _ := committed.Lookup(end.Topic, end.Partition)
		if end.Offset > 0 && c.At != end.Offset {
			t.Errorf("committed offset of %s/%d = %d, want %d (the end)", end.Topic, end.Partition, c.At, end.Offset)
		}
	})
}

// syncBuffer is a bytes.Buffer that run writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(b.buf.String(), "\n"), "\n")
}

func linesWith(lines []string, s string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}
