package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

// TestPrepareClassifiesDeadLetters checks the reason class each kind of bad raw record
// is dead-lettered with, and that a good one is mapped.
func TestPrepareClassifiesDeadLetters(t *testing.T) {
	codec, err := avro.New()
	if err != nil {
		t.Fatal(err)
	}
	sim, err := inspector.New(inspector.Config{Seed: 1, Findings: 1})
	if err != nil {
		t.Fatal(err)
	}
	finding := sim.Findings(inspector.DefaultRegion)[0]
	encode := func(msg any) []byte {
		t.Helper()
		b, err := codec.Encode(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	raw := func(typ string, payload []byte) []byte {
		return encode(&model.RawRecord{SyncID: "s1", ConnectorID: "c1", ConnectorType: typ, Kind: "finding", VendorKey: "k", FetchedAt: time.Now().UTC(), Payload: payload})
	}
	n := &normalizer{codec: codec, recentAssets: newAssetFilter(time.Now)}
	for _, tc := range []struct {
		name     string
		value    []byte
		reason   string // "" for a record that is mapped
		typ      string
		findings int
	}{
		{"not Avro", []byte("{\"json\": true}"), reasonUndecodable, unknownType, 0},
		{"unknown schema fingerprint", []byte{0xc3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0}, reasonUndecodable, unknownType, 0},
		{"an asset on the raw topic", encode(&model.Asset{ConnectorID: "c1", ConnectorType: "aws_inspector2", UID: "u", SyncID: "s1"}), reasonMalformed, unknownType, 0},
		{"unknown connector type", raw("qualys", finding), reasonMalformed, "qualys", 0},
		{"vendor JSON the mapping cannot read", raw("aws_inspector2", []byte(`{"findingArn": 7}`)), reasonMalformed, "aws_inspector2", 0},
		{"a finding", raw("aws_inspector2", finding), "", "aws_inspector2", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out connector.Normalized
			got := n.prepare(&kgo.Record{Value: tc.value}, &out)
			if got.reason != tc.reason || got.connectorType != tc.typ || (got.deadLetter != nil) != (tc.reason != "") || len(got.findings) != tc.findings {
				t.Errorf("reason %q, type %q, dead letter %+v, %d findings; want reason %q, type %q, %d findings",
					got.reason, got.connectorType, got.deadLetter, len(got.findings), tc.reason, tc.typ, tc.findings)
			}
		})
	}
}

func TestMetricsCountBatches(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	b := batchCounts{}
	c := b.add("cortex_xdr")
	c.in, c.assets, c.findings = 3, 1, 2
	b.add("cortex_xdr").in++
	m.add(b)
	if got := testutil.ToFloat64(m.recordsIn.WithLabelValues("cortex_xdr")); got != 4 {
		t.Errorf("records in %v, want 4", got)
	}
	if a, f := testutil.ToFloat64(m.recordsOut.WithLabelValues("cortex_xdr", kindAsset)), testutil.ToFloat64(m.recordsOut.WithLabelValues("cortex_xdr", kindFinding)); a != 1 || f != 2 {
		t.Errorf("records out: %v assets, %v findings; want 1 and 2", a, f)
	}
	// Series of every connector type and reason exist from the start.
	if n := testutil.CollectAndCount(m.deadLetters); n != 2 {
		t.Errorf("%d dead-letter series, want undecodable and malformed", n)
	}
}
