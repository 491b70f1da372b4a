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

func BenchmarkEncodeFinding(b *testing.B)   { benchEncode(b, benchFinding()) }
func BenchmarkDecodeFinding(b *testing.B)   { benchDecode(b, benchFinding()) }
func BenchmarkEncodeRawRecord(b *testing.B) { benchEncode(b, benchRawRecord()) }
func BenchmarkDecodeRawRecord(b *testing.B) { benchDecode(b, benchRawRecord()) }

func benchEncode(b *testing.B, msg any) {
	c := newCodec(b)
	b.ReportAllocs()
	for b.Loop() {
		out, err := c.Encode(nil, msg) // as a producer does: every record owns its value
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

func benchDecode(b *testing.B, msg any) {
	c := newCodec(b)
	in, err := c.Encode(nil, msg)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}
