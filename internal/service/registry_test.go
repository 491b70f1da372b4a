package service

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// TestSchemaRegistryFlag: --schema-registry-url makes Start register the schemas and
// build a codec that writes with their ids; a registry that is down stops the start.
func TestSchemaRegistryFlag(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	start := func(url string) (*Runtime, error) {
		c := Flags("test", "127.0.0.1:0")
		if err := c.Parse([]string{"--kafka-brokers", "127.0.0.1:9092", "--memory-limit-mib", "0", "--schema-registry-url", url}); err != nil {
			t.Fatal(err)
		}
		return c.Start()
	}
	rt, err := start(reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	stop()
	_ = rt.Admin.Serve(ctx) // closes the listener
	if ids := rt.Codec.SchemaIDs(); len(ids) != len(rt.Codec.Names()) {
		t.Errorf("SchemaIDs = %v, want an id for every record type", ids)
	}
	if !reg.SubjectExists("tributary.v1.Finding") {
		t.Error("no subject tributary.v1.Finding in the registry")
	}

	reg.Close()
	if _, err := start(reg.URL()); err == nil || !strings.Contains(err.Error(), "the schema registry at "+reg.URL()+" is unreachable") {
		t.Errorf("Start with the registry down: %v, want an error naming it", err)
	}
}
