package avro

import (
	"strings"
	"testing"

	"github.com/tributary-sec/tributary/internal/model"
)

func benchFinding() *model.Finding {
	f := fullFinding()
	f.Description = strings.Repeat("A heap overflow in the parser lets a remote attacker run code. ", 8)
	f.CustomAttributes["package_manager"] = "OS"
	f.CustomAttributes["fix_available"] = "YES"
	return f
}

func benchRawRecord() *model.RawRecord {
	payload := []byte(`{"findingArn":"arn:aws:inspector2:eu-west-1:123456789012:finding/0f1e2d","description":"` +
		strings.Repeat("x", 2560) + `"}`)
	return &model.RawRecord{
		SyncID: "sync-1", ConnectorID: "aws-prod", ConnectorType: "awsinspector", Scope: "eu-west-1",
		Kind: "finding", VendorKey: "arn:aws:inspector2:eu-west-1:123456789012:finding/0f1e2d",
		FetchedAt: t0, Payload: payload[:2560],
	}
}

// benchRecords are the hot records, as the pipeline's services encode and decode them.
func benchRecords() []struct {
	name string
	msg  any
} {
	return []struct {
		name string
		msg  any
	}{
		{"Finding", benchFinding()},
		{"Asset", fullAsset()},
		{"RawRecord", benchRawRecord()},
		{"EnrichedFinding", &model.EnrichedFinding{
			Finding: *benchFinding(), Severity: model.SeverityCritical, Status: model.StatusFixed,
			Transition: &model.Transition{OldStatus: model.StatusActive, NewStatus: model.StatusFixed, Reason: "not seen in full sync"},
		}},
	}
}

// BenchmarkEncode compares the specialised encoder of hot.go with goavro's native form,
// and single-object encoding with the Confluent wire format.
func BenchmarkEncode(b *testing.B) {
	c := newCodec(b)
	confluent := newRegistryCodec(b, newFakeRegistry())
	for _, rec := range benchRecords() {
		b.Run(rec.name, func(b *testing.B) {
			b.Run("specialised", func(b *testing.B) { benchEncode(b, c.Encode, rec.msg) })
			b.Run("confluent", func(b *testing.B) { benchEncode(b, confluent.Encode, rec.msg) })
			b.Run("goavro", func(b *testing.B) { benchEncode(b, c.encodeNative, rec.msg) })
		})
	}
}

// BenchmarkDecode compares the specialised decoder of hot.go with goavro's native form,
// and single-object encoding with the Confluent wire format.
func BenchmarkDecode(b *testing.B) {
	c := newCodec(b)
	confluent := newRegistryCodec(b, newFakeRegistry())
	for _, rec := range benchRecords() {
		b.Run(rec.name, func(b *testing.B) {
			b.Run("specialised", func(b *testing.B) { benchDecode(b, c, c.Decode, rec.msg) })
			b.Run("confluent", func(b *testing.B) { benchDecode(b, confluent, confluent.Decode, rec.msg) })
			b.Run("goavro", func(b *testing.B) { benchDecode(b, c, c.decodeGoavro, rec.msg) })
		})
	}
}

func benchEncode(b *testing.B, encode func([]byte, any) ([]byte, error), msg any) {
	b.ReportAllocs()
	for b.Loop() {
		out, err := encode(nil, msg) // as a producer does: every record owns its value
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

func benchDecode(b *testing.B, c *Codec, decode func([]byte) (any, error), msg any) {
	in, err := c.Encode(nil, msg)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(in); err != nil {
			b.Fatal(err)
		}
	}
}
