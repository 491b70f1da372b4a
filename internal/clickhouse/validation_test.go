package clickhouse_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/clickhouse/clickhousetest"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

func TestStoredCounts(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	container := func(a model.Asset) model.Asset { a.Class = model.ClassContainer; return a }
	onContainer := func(f model.EnrichedFinding) model.EnrichedFinding {
		f.Finding.AssetClass = model.ClassContainer
		return f
	}
	mustWrite(t, c, []model.Asset{
		lcAsset("conn-1", "a-active", "eu", "sync-1", "", t0),
		lcAsset("conn-1", "a-lost", "eu", "sync-1", "status", t0), // the vendor still lists it
		lcAsset("conn-1", "a-gone", "eu", "sync-1", "not_returned", t0),
		lcAsset("conn-1", "a-retired", "eu", "sync-1", "retention", t0),
		container(lcAsset("conn-1", "a-image", "eu", "sync-1", "", t0)),
		// Archived, then back: only the newest version counts.
		lcAsset("conn-1", "a-restored", "eu", "sync-1", "not_returned", t0),
		lcAsset("conn-1", "a-restored", "eu", "sync-2", "", t1),
		// Written twice: counted once.
		lcAsset("conn-1", "a-twice", "eu", "sync-2", "", t1),
		lcAsset("conn-1", "a-twice", "eu", "sync-2", "", t1),
		lcAsset("conn-2", "a-other", "eu", "sync-1", "", t0),
	}, []model.EnrichedFinding{
		lcFinding("conn-1", "f-active", "eu", "sync-1", "a-active", model.StatusActive, t0),
		lcFinding("conn-1", "f-on-lost", "eu", "sync-1", "a-lost", model.StatusActive, t0), // hidden, still listed by the vendor
		lcFinding("conn-1", "f-on-gone", "eu", "sync-1", "a-gone", model.StatusActive, t0), // gone with its asset
		lcFinding("conn-1", "f-on-retired", "eu", "sync-1", "a-retired", model.StatusActive, t0),
		lcFinding("conn-1", "f-fixed", "eu", "sync-1", "a-active", model.StatusFixed, t0),
		lcFinding("conn-1", "f-fixed-later", "eu", "sync-1", "a-active", model.StatusActive, t0),
		lcFinding("conn-1", "f-fixed-later", "eu", "sync-2", "a-active", model.StatusFixed, t1),
		lcFinding("conn-1", "f-reopened", "eu", "sync-1", "a-active", model.StatusFixed, t0),
		lcFinding("conn-1", "f-reopened", "eu", "sync-2", "a-active", model.StatusActive, t1),
		onContainer(lcFinding("conn-1", "f-image", "eu", "sync-1", "a-image", model.StatusActive, t0)),
		lcFinding("conn-2", "f-other", "eu", "sync-1", "a-other", model.StatusActive, t0),
	})
	got, err := c.StoredCounts(context.Background(), "conn-1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[clickhouse.StoredCount]bool{
		{Object: model.ObjectAssets, Class: model.ClassDevice, Count: 4}:      true,
		{Object: model.ObjectAssets, Class: model.ClassContainer, Count: 1}:   true,
		{Object: model.ObjectFindings, Class: model.ClassDevice, Count: 3}:    true,
		{Object: model.ObjectFindings, Class: model.ClassContainer, Count: 1}: true,
	}
	gotSet := map[clickhouse.StoredCount]bool{}
	for _, sc := range got {
		gotSet[sc] = true
	}
	if !reflect.DeepEqual(gotSet, want) {
		t.Errorf("StoredCounts(conn-1) = %+v, want %+v", got, want)
	}
	none, err := c.StoredCounts(context.Background(), "conn-unknown")
	if err != nil || len(none) != 0 {
		t.Errorf("StoredCounts(unknown connector) = %+v, %v; want nothing", none, err)
	}
}

func TestValidationRoundTrip(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	ctx := context.Background()
	older := synclog.Validation{SyncID: "0190aaaa-0000-7000-8000-000000000001", ConnectorID: "aws-prod", Time: t0, Lines: []synclog.ValidationLine{
		{Object: model.ObjectFindings, Class: model.ClassDevice, Vendor: 10, Stored: 9, Source: "ListFindingAggregations ACCOUNT: AWS_EC2_INSTANCE"},
	}}
	newer := synclog.Validation{SyncID: "0190aaaa-0000-7000-8000-000000000002", ConnectorID: "aws-prod", Time: t1, Lines: []synclog.ValidationLine{
		{Object: model.ObjectFindings, Class: model.ClassContainer, Vendor: 3, Stored: 3, Source: "ListFindingAggregations ACCOUNT: AWS_ECR_CONTAINER_IMAGE"},
		{Object: model.ObjectFindings, Class: model.ClassDevice, Vendor: 12, Stored: 12, Source: "ListFindingAggregations ACCOUNT: AWS_EC2_INSTANCE"},
	}}
	xdr := synclog.Validation{SyncID: "0190aaaa-0000-7000-8000-000000000003", ConnectorID: "xdr", Time: t2, Lines: []synclog.ValidationLine{
		{Object: model.ObjectAssets, Vendor: 100, Stored: 99, Source: "get_endpoint total_count"},
		{Object: model.ObjectFindings, Vendor: 500, Stored: 500, Source: "XQL number_of_results"},
	}}
	// The newer sync is written first and twice (a replay): order and repeats do not matter.
	for _, v := range []synclog.Validation{newer, older, newer, xdr} {
		if err := c.WriteValidation(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.LastValidations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]synclog.Validation{"aws-prod": newer, "xdr": xdr}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LastValidations() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestWriteValidationRejectsUnknownObject(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	err := c.WriteValidation(context.Background(), synclog.Validation{SyncID: "s", ConnectorID: "c", Time: time.Now(),
		Lines: []synclog.ValidationLine{{Object: "endpoints", Vendor: 1}}})
	if err == nil {
		t.Fatal("WriteValidation accepted object \"endpoints\"")
	}
}
