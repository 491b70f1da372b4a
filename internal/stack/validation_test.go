package stack_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/cortex"
	"github.com/tributary-sec/tributary/internal/stack"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// TestDataValidation: a Cortex XDR sync whose tenant serves one malformed endpoint holds
// one asset fewer than the tenant's total_count, which the sync log reports as a WARN and
// the validation stores; once the endpoint is fixed, the next sync matches everything.
func TestDataValidation(t *testing.T) {
	ctx := context.Background()
	sim, srv := newXDRTenant(t, false)
	sim.SetFaults(cortex.Faults{Malformed: 1})
	p := newXDRPipeline(t, srv.URL)
	svc := p.start(ctx, stack.Config{SyncAtStart: "full"})
	first := p.waitSyncOf(ctx, svc, "xdr-e2e", "the first sync", func(s synclog.Sync) bool { return s.Status != synclog.StatusInProgress })
	if first.Status != synclog.StatusDone {
		t.Fatalf("first sync %s: %+v", first.Status, first.Error)
	}
	endpoints, rows := int64(len(sim.Endpoints())), int64(len(sim.CVERows()))
	lines := func(storedAssets int64) []synclog.ValidationLine {
		return []synclog.ValidationLine{
			{Object: model.ObjectAssets, Vendor: endpoints, Stored: storedAssets, Source: "get_endpoint total_count"},
			{Object: model.ObjectFindings, Vendor: rows, Stored: rows, Source: "XQL va_cves number_of_results"},
		}
	}
	p.checkValidation(ctx, first, lines(endpoints-1), model.LevelWarn,
		fmt.Sprintf("data validation: 1 of 2 vendor totals differ from what Tributary holds: assets: the vendor reports %d, Tributary holds %d (-1).", endpoints, endpoints-1))

	sim.SetFaults(cortex.Faults{})
	second := syncNowOf(t, svc, "xdr-e2e", model.SyncFull)
	if second.Status != synclog.StatusDone {
		t.Fatalf("second sync %s: %+v", second.Status, second.Error)
	}
	p.checkValidation(ctx, second, lines(endpoints), model.LevelInfo,
		fmt.Sprintf("data validation: all 2 vendor totals match: %d assets; %d active findings", endpoints, rows))
}

// checkValidation checks that the connector's newest validation is s's, with lines, and
// that s's log says so at level with a message starting with msg; the vendor's totals
// are logged in Fetching.
func (p *pipeline) checkValidation(ctx context.Context, s synclog.Sync, lines []synclog.ValidationLine, level model.Level, msg string) {
	t := p.t
	t.Helper()
	v := p.validationOf(ctx, s.ConnectorID)
	if v.SyncID != s.ID || !reflect.DeepEqual(v.Lines, lines) {
		t.Errorf("validation of %s: sync %s, lines %+v; want sync %s, lines %+v", s.ConnectorID, v.SyncID, v.Lines, s.ID, lines)
	}
	_, entries, err := p.store.Sync(ctx, s.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	var reported, validated bool
	for _, e := range entries {
		reported = reported || e.Stage == model.StageFetching && strings.HasPrefix(e.Message, "the vendor reports ")
		if e.Stage == model.StageProcessing && strings.HasPrefix(e.Message, "data validation: ") {
			validated = true
			if e.Level != level || !strings.HasPrefix(e.Message, msg) {
				t.Errorf("sync %s logs %s %q; want %s starting %q", s.ID, e.Level, e.Message, level, msg)
			}
		}
	}
	if !reported || !validated {
		t.Errorf("sync %s: vendor totals logged %v, validation logged %v; want both", s.ID, reported, validated)
	}
}

// validationOf returns a connector's newest data validation.
func (p *pipeline) validationOf(ctx context.Context, connectorID string) synclog.Validation {
	p.t.Helper()
	all, err := p.store.LastValidations(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	return all[connectorID]
}
