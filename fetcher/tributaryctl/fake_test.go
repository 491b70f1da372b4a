package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/controlapi"
	"github.com/tributary-sec/tributary/internal/controlapi/controlapitest"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// The fixture: two AWS Inspector connectors and two Cortex XDR ones, as a fetcher shows
// them at 13:00 UTC on 2026-12-01. aws-prod's syncs are Done; aws-staging's access key
// was revoked, so its sync failed its Connectivity Test; xdr-prod is fetching; xdr-lab's
// sync has just started and is not in the log yet.
const (
	prodIncrementalID = "01937e2a-4c80-7d21-9a0e-2f6b8c4d1e93"
	prodFullID        = "0193a1c2-7d40-7b3e-9f21-5c8e2a6b4d10"
	stagingID         = "0193a3f0-1a22-7c05-8e47-3b9d0c1f7e55"
	xdrProdID         = "0193a410-55e1-7a9c-b2d3-9e0f1a2b3c4d"
	xdrLabID          = "0193a414-0b7c-7e6f-8d1a-4c3b2a190807"
	waitProdID        = "0193a416-2f30-7a41-b5c6-7d8e9f0a1b2c" // started by the sync tests
	waitStagingID     = "0193a416-3e51-7c62-a7b8-9c0d1e2f3a4b"
)

var now = time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)

// ev is one stage event, its times relative to the sync's start; a negative start or
// end means none.
type ev struct {
	stage              string
	state              model.StageState
	level              model.Level
	at, started, ended time.Duration
	out, failed        int64
	msg                string
	err                *model.ErrorBlock
}

// events returns the stage events of one sync, its times relative to t0.
func events(id, connectorID, connectorType string, typ model.SyncType, t0 time.Time, evs []ev) []model.StageEvent {
	out := make([]model.StageEvent, 0, len(evs))
	for _, e := range evs {
		se := model.StageEvent{
			SyncID: id, ConnectorID: connectorID, ConnectorType: connectorType, SyncType: typ,
			Stage: e.stage, State: e.state, Level: e.level, Message: e.msg, Time: t0.Add(e.at),
			RecordsOut: e.out, RecordsFailed: e.failed, Error: e.err,
		}
		if e.started >= 0 {
			se.StartedAt = t0.Add(e.started)
		}
		if e.ended >= 0 {
			se.EndedAt = t0.Add(e.ended)
		}
		out = append(out, se)
	}
	return out
}

const ms = time.Millisecond

// credentialsError is how the fetcher reports AWS refusing a revoked access key.
func credentialsError() *model.ErrorBlock {
	return &model.ErrorBlock{
		Class:             "invalid_credentials",
		Message:           "AWS rejected the connector's credentials (UnrecognizedClientException)",
		RecommendedAction: "check the connector's access_key_id and the secret_access_key it reads from its env variable or file; create a new access key in IAM if it was deleted or rotated",
		RootCause:         "api error UnrecognizedClientException: The security token included in the request is invalid.",
		Code:              "status_code: 403",
		Details:           "operation error Inspector2: ListFindings, https response error StatusCode: 403, RequestID: 5f0c2a7e-2b1d-4c39-9a57-0d6e8f1b2c3a, api error UnrecognizedClientException: The security token included in the request is invalid.",
		ResponseHeaders: map[string]string{
			"Authorization":    "[redacted]",
			"Content-Length":   "113",
			"Content-Type":     "application/x-amz-json-1.1",
			"Date":             "Tue, 01 Dec 2026 12:00:01 GMT",
			"X-Amzn-Requestid": "5f0c2a7e-2b1d-4c39-9a57-0d6e8f1b2c3a",
		},
		ResponsePayload: `{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}`,
	}
}

// failedCheck is credentialsError as the sync log has it: the fetcher names the check.
func failedCheck() *model.ErrorBlock {
	e := credentialsError()
	e.Message = "inspector2:ListFindings on us-east-1: " + e.Message
	return e
}

func prodFullEvents() []ev {
	return []ev{
		{model.StageInitiating, model.StateRunning, model.LevelInfo, 0, 0, -1, 0, 0, "resolving credentials", nil},
		{model.StageInitiating, model.StateSucceeded, model.LevelInfo, 812 * ms, 0, 812 * ms, 0, 0, "credentials resolved", nil},
		{model.StageConnectivity, model.StateRunning, model.LevelInfo, 812 * ms, 812 * ms, -1, 0, 0, "testing connectivity", nil},
		{model.StageConnectivity, model.StateSucceeded, model.LevelInfo, 2041 * ms, 812 * ms, 2041 * ms, 0, 0, "passed: inspector2:ListFindings on us-east-1, inspector2:ListFindings on eu-west-1", nil},
		{model.StageFetching, model.StateRunning, model.LevelInfo, 2041 * ms, 2041 * ms, -1, 0, 0, "fetching", nil},
		{model.StageNormalizing, model.StateRunning, model.LevelInfo, 2650 * ms, 2650 * ms, -1, 0, 0, "normalizing", nil},
		{model.StageProcessing, model.StateRunning, model.LevelInfo, 3120 * ms, 3120 * ms, -1, 0, 0, "processing", nil},
		{model.StageFetching, model.StateSucceeded, model.LevelInfo, 94310 * ms, 2041 * ms, 94310 * ms, 12480, 0, "fetched 12480 records from eu-west-1 (4113), us-east-1 (8367)", nil},
		{model.StageNormalizing, model.StateSucceeded, model.LevelInfo, 95702 * ms, 2650 * ms, 95702 * ms, 12480, 0, "normalized 12480 records on 6 partitions", nil},
		{model.StageProcessing, model.StateSucceeded, model.LevelInfo, 97155 * ms, 3120 * ms, 97155 * ms, 12480, 0, "wrote 9215 findings and 3265 assets", nil},
	}
}

func stagingEvents() []ev {
	return []ev{
		{model.StageInitiating, model.StateRunning, model.LevelInfo, 0, 0, -1, 0, 0, "resolving credentials", nil},
		{model.StageInitiating, model.StateSucceeded, model.LevelInfo, 603 * ms, 0, 603 * ms, 0, 0, "credentials resolved", nil},
		{model.StageConnectivity, model.StateRunning, model.LevelInfo, 603 * ms, 603 * ms, -1, 0, 0, "testing connectivity", nil},
		{model.StageConnectivity, model.StateFailed, model.LevelError, 1487 * ms, 603 * ms, 1487 * ms, 0, 0, failedCheck().Message, failedCheck()},
		{model.StageFetching, model.StateSkipped, model.LevelWarn, 1490 * ms, -1, -1, 0, 0, "skipped: Connectivity Test failed", nil},
		{model.StageNormalizing, model.StateSkipped, model.LevelWarn, 1490 * ms, -1, -1, 0, 0, "skipped: Connectivity Test failed", nil},
		{model.StageProcessing, model.StateSkipped, model.LevelWarn, 1491 * ms, -1, -1, 0, 0, "skipped: Connectivity Test failed", nil},
	}
}

func fixtureEvents() []model.StageEvent {
	return slices.Concat( // newest first
		events(xdrProdID, "xdr-prod", "cortex_xdr", model.SyncFull, now.Add(-90*time.Second), []ev{
			{model.StageInitiating, model.StateSucceeded, model.LevelInfo, 402 * ms, 0, 402 * ms, 0, 0, "credentials resolved", nil},
			{model.StageConnectivity, model.StateSucceeded, model.LevelInfo, 1130 * ms, 402 * ms, 1130 * ms, 0, 0, "passed: incidents/get_incidents on api-acme.xdr.eu.paloaltonetworks.com", nil},
			{model.StageFetching, model.StateRunning, model.LevelInfo, 60 * time.Second, 1130 * ms, -1, 5210, 0, "fetched 5210 records so far", nil},
			{model.StageNormalizing, model.StateRunning, model.LevelInfo, 60 * time.Second, 2 * time.Second, -1, 5100, 0, "normalizing", nil},
			{model.StageProcessing, model.StateRunning, model.LevelInfo, 60 * time.Second, 2500 * ms, -1, 4980, 0, "processing", nil},
		}),
		events(stagingID, "aws-staging", "aws_inspector2", model.SyncIncremental, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), stagingEvents()),
		events(prodFullID, "aws-prod", "aws_inspector2", model.SyncFull, time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), prodFullEvents()),
		events(prodIncrementalID, "aws-prod", "aws_inspector2", model.SyncIncremental, time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC), []ev{
			{model.StageInitiating, model.StateSucceeded, model.LevelInfo, 655 * ms, 0, 655 * ms, 0, 0, "credentials resolved", nil},
			{model.StageConnectivity, model.StateSucceeded, model.LevelInfo, 1902 * ms, 655 * ms, 1902 * ms, 0, 0, "passed: inspector2:ListFindings on us-east-1, inspector2:ListFindings on eu-west-1", nil},
			{model.StageNormalizing, "", model.LevelWarn, 30 * time.Second, -1, -1, 0, 3, "3 records could not be normalized (missing packageVulnerabilityDetails.vulnerabilityId); sent to the dead-letter topic", nil},
			{model.StageFetching, model.StateSucceeded, model.LevelInfo, 41307 * ms, 1902 * ms, 41307 * ms, 1032, 0, "fetched 1032 records from eu-west-1 (311), us-east-1 (721)", nil},
			{model.StageNormalizing, model.StateSucceeded, model.LevelInfo, 42012 * ms, 2480 * ms, 42012 * ms, 1029, 3, "normalized 1029 records on 6 partitions", nil},
			{model.StageProcessing, model.StateSucceeded, model.LevelInfo, 43118 * ms, 2990 * ms, 43118 * ms, 1029, 0, "wrote 1010 findings and 19 assets", nil},
		}),
	)
}

// fixtureValidations are the data validations: aws-prod's Full sync found 12 container
// findings fewer than AWS reports active (its Incremental one before matched), and
// xdr-prod's last sync before the running one matched Cortex XDR. aws-staging and xdr-lab
// have none.
func fixtureValidations() []synclog.Validation {
	const xdrEarlierID = "0193a3b1-8c20-7f15-a4e6-1b2c3d4e5f60"
	return []synclog.Validation{
		{SyncID: prodIncrementalID, ConnectorID: "aws-prod", Time: time.Date(2026, 11, 30, 21, 0, 43, 118e6, time.UTC), Lines: []synclog.ValidationLine{
			{Object: model.ObjectFindings, Class: model.ClassDevice, Vendor: 6102, Stored: 6102, Source: "ListFindingAggregations ACCOUNT: AWS_EC2_INSTANCE"},
		}},
		{SyncID: prodFullID, ConnectorID: "aws-prod", Time: time.Date(2026, 12, 1, 9, 1, 37, 155e6, time.UTC), Lines: []synclog.ValidationLine{
			{Object: model.ObjectFindings, Class: model.ClassDevice, Vendor: 6130, Stored: 6130, Source: "ListFindingAggregations ACCOUNT: AWS_EC2_INSTANCE"},
			{Object: model.ObjectFindings, Class: model.ClassContainer, Vendor: 2310, Stored: 2298, Source: "ListFindingAggregations ACCOUNT: AWS_ECR_CONTAINER_IMAGE"},
			{Object: model.ObjectFindings, Class: model.ClassResource, Vendor: 775, Stored: 775, Source: "ListFindingAggregations ACCOUNT: AWS_LAMBDA_FUNCTION, CODE_REPOSITORY"},
		}},
		{SyncID: xdrEarlierID, ConnectorID: "xdr-prod", Time: time.Date(2026, 12, 1, 12, 1, 10, 0, time.UTC), Lines: []synclog.ValidationLine{
			{Object: model.ObjectAssets, Vendor: 812, Stored: 812, Source: "get_endpoint total_count"},
			{Object: model.ObjectFindings, Vendor: 5130, Stored: 5130, Source: "XQL number_of_results"},
		}},
	}
}

// fakeStore serves the fixture and, for the syncs the sync tests start, a script of
// snapshots: one per poll, nil while the log does not show the sync yet.
type fakeStore struct {
	*controlapitest.Store
	mu      sync.Mutex
	filter  synclog.Filter // of the latest Syncs call; TestCommands reads it under mu
	scripts map[string][]*syncLog
}

// syncLog is a snapshot of a sync's log: the events written so far.
type syncLog struct{ events []model.StageEvent }

var _ synclog.Store = (*fakeStore)(nil)

func (s *fakeStore) Syncs(ctx context.Context, f synclog.Filter) ([]synclog.Sync, error) {
	s.mu.Lock()
	s.filter = f
	s.mu.Unlock()
	return s.Store.Syncs(ctx, f)
}

func (s *fakeStore) Sync(ctx context.Context, id string, level model.Level) (synclog.Sync, []synclog.Entry, error) {
	s.mu.Lock()
	script := s.scripts[id]
	if len(script) > 1 {
		s.scripts[id] = script[1:]
	}
	s.mu.Unlock()
	switch {
	case len(script) == 0:
		return s.Store.Sync(ctx, id, level)
	case script[0] == nil:
		return synclog.Sync{}, nil, synclog.ErrNotFound
	}
	return controlapitest.NewStore(script[0].events...).Sync(ctx, id, level)
}

// newRunner is the fetcher's side: the connectors, their checks and sync starts.
func newRunner() *controlapitest.Runner {
	return &controlapitest.Runner{
		List: []controlapi.Connector{
			{ID: "aws-prod", Name: "AWS Inspector (production)", Type: "aws_inspector2", Schedule: "every 6h"},
			{ID: "aws-staging", Name: "AWS Inspector (staging)", Type: "aws_inspector2", Schedule: "every 24h"},
			{ID: "xdr-prod", Name: "Cortex XDR (EU tenant)", Type: "cortex_xdr", Schedule: "every 1h"},
			{ID: "xdr-lab", Name: "Cortex XDR (lab)", Type: "cortex_xdr", Schedule: "manual"},
		},
		Checks: map[string][]controlapi.Check{
			"aws-prod": {
				{Stage: model.StageInitiating, Name: "sts:GetCallerIdentity", OK: true},
				{Stage: model.StageConnectivity, Name: "inspector2:ListFindings", Scope: "us-east-1", OK: true},
				{Stage: model.StageConnectivity, Name: "inspector2:ListFindings", Scope: "eu-west-1", OK: true},
			},
			"aws-staging": {
				{Stage: model.StageInitiating, Name: "sts:GetCallerIdentity", OK: true},
				{Stage: model.StageConnectivity, Name: "inspector2:ListFindings", Scope: "us-east-1", Error: credentialsError()},
				{Stage: model.StageConnectivity, Name: "inspector2:ListFindings", Scope: "eu-west-1", OK: true},
			},
		},
		Running: map[string]string{"xdr-prod": xdrProdID, "xdr-lab": xdrLabID},
		SyncIDs: map[string]string{"aws-prod": waitProdID, "aws-staging": waitStagingID},
	}
}

// newServer serves the control API over the fixture; token, when set, is required.
func newServer(t *testing.T, token string) (*httptest.Server, *fakeStore) {
	t.Helper()
	prod := prodFullEvents()
	staging := stagingEvents()
	snapshot := func(id, connectorID string, typ model.SyncType, evs []ev) *syncLog {
		return &syncLog{events: events(id, connectorID, "aws_inspector2", typ, now.Add(time.Second), evs)}
	}
	store := &fakeStore{
		Store: controlapitest.NewStore(fixtureEvents()...),
		scripts: map[string][]*syncLog{
			waitProdID: {
				nil, // the processor has not written the first entry yet
				snapshot(waitProdID, "aws-prod", model.SyncFull, prod[:5]),
				snapshot(waitProdID, "aws-prod", model.SyncFull, prod[:8]),
				snapshot(waitProdID, "aws-prod", model.SyncFull, prod),
			},
			waitStagingID: {
				snapshot(waitStagingID, "aws-staging", model.SyncIncremental, staging[:1]),
				snapshot(waitStagingID, "aws-staging", model.SyncIncremental, staging),
			},
		},
	}
	store.AddValidations(fixtureValidations()...)
	srv := httptest.NewServer(controlapi.New(controlapi.Config{Store: store, Runner: newRunner(), Token: token, Log: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv, store
}
