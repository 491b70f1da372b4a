package controlapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/controlapi"
	"github.com/tributary-sec/tributary/internal/controlapi/controlapitest"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

const (
	clientDoneID    = "0193a1c2-7d40-7b3e-9f21-5c8e2a6b4d10"
	clientFailedID  = "0193a3f0-1a22-7c05-8e47-3b9d0c1f7e55"
	clientRunningID = "0193a410-55e1-7a9c-b2d3-9e0f1a2b3c4d"
)

var clientT0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// clientSync gives events to sync id.
func clientSync(id string, evs ...model.StageEvent) []model.StageEvent {
	for i := range evs {
		evs[i].SyncID = id
	}
	return evs
}

func clientEvent(connectorID string, typ model.SyncType, stage string, state model.StageState, level model.Level, at, started, ended time.Duration, out int64, msg string) model.StageEvent {
	ev := model.StageEvent{
		ConnectorID: connectorID, ConnectorType: "aws_inspector2", SyncType: typ,
		Stage: stage, State: state, Level: level, Message: msg, Time: clientT0.Add(at), RecordsOut: out,
	}
	if started >= 0 {
		ev.StartedAt = clientT0.Add(started)
	}
	if ended >= 0 {
		ev.EndedAt = clientT0.Add(ended)
	}
	return ev
}

// clientCredentialsError is how the fetcher reports AWS refusing the access key.
func clientCredentialsError() *model.ErrorBlock {
	return &model.ErrorBlock{
		Class:             "invalid_credentials",
		Message:           "AWS rejected the connector's credentials (UnrecognizedClientException)",
		RecommendedAction: "check the connector's access_key_id and the secret_access_key it reads from its env variable or file; create a new access key in IAM if it was deleted or rotated",
		RootCause:         "UnrecognizedClientException: The security token included in the request is invalid.",
		Code:              "status_code: 403",
		Details:           "operation error Inspector2: ListFindings, https response error StatusCode: 403, RequestID: 5f0c2a7e-2b1d-4c39-9a57-0d6e8f1b2c3a, UnrecognizedClientException: The security token included in the request is invalid.",
		ResponseHeaders: map[string]string{
			"Authorization":    "[redacted]",
			"Content-Type":     "application/x-amz-json-1.1",
			"X-Amzn-Requestid": "5f0c2a7e-2b1d-4c39-9a57-0d6e8f1b2c3a",
		},
		ResponsePayload: `{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}`,
	}
}

// clientEvents is the log of two syncs: aws-prod's Done and aws-staging's Failed.
func clientEvents() []model.StageEvent {
	const s = time.Second
	done := clientSync(clientDoneID,
		clientEvent("aws-prod", model.SyncFull, model.StageInitiating, model.StateSucceeded, model.LevelInfo, 800*time.Millisecond, 0, 800*time.Millisecond, 0, "credentials resolved"),
		clientEvent("aws-prod", model.SyncFull, model.StageConnectivity, model.StateSucceeded, model.LevelInfo, 2*s, 800*time.Millisecond, 2*s, 0, "passed: inspector2:ListFindings on us-east-1, inspector2:ListFindings on eu-west-1"),
		clientEvent("aws-prod", model.SyncFull, model.StageFetching, model.StateSucceeded, model.LevelInfo, 94*s, 2*s, 94*s, 12480, "fetched 12480 records from eu-west-1 (4113), us-east-1 (8367)"),
		clientEvent("aws-prod", model.SyncFull, model.StageNormalizing, model.StateSucceeded, model.LevelInfo, 95*s, 3*s, 95*s, 12480, "normalized 12480 records"),
		clientEvent("aws-prod", model.SyncFull, model.StageProcessing, model.StateSucceeded, model.LevelInfo, 97*s, 4*s, 97*s, 12480, "wrote 12480 findings"),
	)
	failedEv := clientEvent("aws-staging", model.SyncIncremental, model.StageConnectivity, model.StateFailed, model.LevelError, 3*time.Hour+2*s, 3*time.Hour+s, 3*time.Hour+2*s, 0, "")
	failedEv.Error = clientCredentialsError()
	failedEv.Error.Message = "inspector2:ListFindings on us-east-1: " + failedEv.Error.Message // as the fetcher logs it
	failedEv.Message = failedEv.Error.Message
	failed := clientSync(clientFailedID,
		clientEvent("aws-staging", model.SyncIncremental, model.StageInitiating, model.StateSucceeded, model.LevelInfo, 3*time.Hour+s, 3*time.Hour, 3*time.Hour+s, 0, "credentials resolved"),
		failedEv,
		clientEvent("aws-staging", model.SyncIncremental, model.StageFetching, model.StateSkipped, model.LevelWarn, 3*time.Hour+2*s, -1, -1, 0, "skipped: Connectivity Test failed"),
		clientEvent("aws-staging", model.SyncIncremental, model.StageNormalizing, model.StateSkipped, model.LevelWarn, 3*time.Hour+2*s, -1, -1, 0, "skipped: Connectivity Test failed"),
		clientEvent("aws-staging", model.SyncIncremental, model.StageProcessing, model.StateSkipped, model.LevelWarn, 3*time.Hour+2*s, -1, -1, 0, "skipped: Connectivity Test failed"),
	)
	return slices.Concat(done, failed)
}

// clientRunner has two AWS Inspector connectors; aws-staging's key was revoked and
// xdr-prod has a sync running.
func clientRunner() *controlapitest.Runner {
	const started = "0193a500-0000-7000-8000-000000000001"
	return &controlapitest.Runner{
		List: []controlapi.Connector{
			{ID: "aws-prod", Name: "AWS Inspector (production)", Type: "aws_inspector2", Schedule: "every 6h"},
			{ID: "aws-staging", Name: "AWS Inspector (staging)", Type: "aws_inspector2", Schedule: "every 24h"},
			{ID: "xdr-prod", Name: "Cortex XDR", Type: "cortex_xdr", Schedule: "every 1h"},
		},
		Checks: map[string][]controlapi.Check{
			"aws-prod": {
				{Stage: model.StageInitiating, Name: "credentials", Scope: "", OK: true},
				{Stage: model.StageConnectivity, Name: "inspector2:ListFindings", Scope: "us-east-1", OK: true},
			},
			"aws-staging": {
				{Stage: model.StageInitiating, Name: "credentials", OK: true},
				{Stage: model.StageConnectivity, Name: "inspector2:ListFindings", Scope: "us-east-1", Error: clientCredentialsError()},
			},
		},
		Running: map[string]string{"xdr-prod": clientRunningID},
		SyncIDs: map[string]string{"aws-prod": started, "aws-staging": started},
	}
}

// clientValidations are the data validations of the log: aws-prod's newest sync differs
// from AWS by 12 container findings, xdr-prod's matches, aws-staging has none, and
// aws-retired is no longer configured.
func clientValidations() []synclog.Validation {
	const olderID = "01939b00-0000-7000-8000-000000000001"
	return []synclog.Validation{
		{SyncID: clientDoneID, ConnectorID: "aws-prod", Time: clientT0.Add(97 * time.Second), Lines: []synclog.ValidationLine{
			{Object: model.ObjectFindings, Class: model.ClassDevice, Vendor: 1204, Stored: 1204, Source: "ListFindingAggregations ACCOUNT: AWS_EC2_INSTANCE"},
			{Object: model.ObjectFindings, Class: model.ClassContainer, Vendor: 310, Stored: 298, Source: "ListFindingAggregations ACCOUNT: AWS_ECR_CONTAINER_IMAGE"},
		}},
		{SyncID: olderID, ConnectorID: "aws-prod", Time: clientT0.Add(-6 * time.Hour), Lines: []synclog.ValidationLine{
			{Object: model.ObjectFindings, Class: model.ClassDevice, Vendor: 1180, Stored: 1180, Source: "ListFindingAggregations ACCOUNT: AWS_EC2_INSTANCE"},
		}},
		{SyncID: olderID, ConnectorID: "xdr-prod", Time: clientT0.Add(-time.Hour), Lines: []synclog.ValidationLine{
			{Object: model.ObjectAssets, Vendor: 812, Stored: 812, Source: "get_endpoint total_count"},
			{Object: model.ObjectFindings, Vendor: 5130, Stored: 5130, Source: "XQL number_of_results"},
		}},
		{SyncID: olderID, ConnectorID: "aws-retired", Time: clientT0.Add(-time.Hour), Lines: []synclog.ValidationLine{
			{Object: model.ObjectFindings, Vendor: 3, Stored: 3, Source: "ListFindingAggregations ACCOUNT"},
		}},
	}
}

func clientTestServer(t *testing.T, token string) (*httptest.Server, *controlapitest.Store, *controlapitest.Runner) {
	t.Helper()
	store := controlapitest.NewStore(clientEvents()...)
	store.AddValidations(clientValidations()...)
	runner := clientRunner()
	srv := httptest.NewServer(controlapi.New(controlapi.Config{Store: store, Runner: runner, Token: token, Log: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv, store, runner
}

// clientWantAPIError fails t unless err is an *APIError with the status and, when set, the
// running sync.
func clientWantAPIError(t *testing.T, err error, status int, running string) {
	t.Helper()
	var apiErr *controlapi.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v (%T), want *controlapi.APIError", err, err)
	}
	if apiErr.StatusCode != status || apiErr.Message == "" || apiErr.RunningSyncID != running {
		t.Fatalf("error = %+v, want status %d, a message and running sync %q", apiErr, status, running)
	}
}

func TestClientConnectors(t *testing.T) {
	srv, _, _ := clientTestServer(t, "")
	got, err := controlapi.NewClient(srv.URL+"/", "", srv.Client()).Connectors(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d connectors, want 3", len(got))
	}
	if got[0].ID != "aws-prod" || got[0].LastSync == nil || got[0].LastSync.ID != clientDoneID || got[0].LastSync.Status != synclog.StatusDone || got[0].LastSync.RecordsWritten != 12480 {
		t.Errorf("aws-prod = %+v, want its last sync Done with 12480 records written", got[0])
	}
	if s := got[1].LastSync; s == nil || s.Status != synclog.StatusFailed || s.FailedStage != model.StageConnectivity || s.Error == nil || s.Error.Code != "status_code: 403" {
		t.Errorf("aws-staging last sync = %+v, want Failed at Connectivity Test with status_code: 403", s)
	}
	if got[2].RunningSyncID != clientRunningID || got[2].LastSync != nil {
		t.Errorf("xdr-prod = %+v, want running %s and no last sync", got[2], clientRunningID)
	}
}

func TestClientTest(t *testing.T) {
	srv, _, _ := clientTestServer(t, "")
	c := controlapi.NewClient(srv.URL, "", srv.Client())

	res, err := c.Test(t.Context(), "aws-staging")
	if err != nil {
		t.Fatal(err)
	}
	want := controlapi.TestResult{ConnectorID: "aws-staging", OK: false, Checks: []controlapi.Check{
		{Stage: model.StageInitiating, Name: "credentials", OK: true},
		{Stage: model.StageConnectivity, Name: "inspector2:ListFindings", Scope: "us-east-1", Error: clientCredentialsError()},
	}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Test(aws-staging) = %+v, want %+v", res, want)
	}
	if res, err := c.Test(t.Context(), "aws-prod"); err != nil || !res.OK {
		t.Errorf("Test(aws-prod) = %+v, %v; want ok", res, err)
	}

	_, err = c.Test(t.Context(), "aws-qa")
	clientWantAPIError(t, err, http.StatusNotFound, "")
	_, err = c.Test(t.Context(), "xdr-prod")
	clientWantAPIError(t, err, http.StatusConflict, clientRunningID)
}

func TestClientStartSync(t *testing.T) {
	srv, _, runner := clientTestServer(t, "")
	c := controlapi.NewClient(srv.URL, "", srv.Client())

	got, err := c.StartSync(t.Context(), "aws-prod", model.SyncIncremental)
	if err != nil {
		t.Fatal(err)
	}
	want := controlapi.StartedSync{ConnectorID: "aws-prod", SyncID: "0193a500-0000-7000-8000-000000000001", Type: model.SyncIncremental}
	if got != want {
		t.Errorf("StartSync = %+v, want %+v", got, want)
	}
	if started := runner.Started(); !reflect.DeepEqual(started, []controlapi.StartedSync{want}) {
		t.Errorf("runner started %v, want [%v]", started, want)
	}

	tests := []struct {
		name, connector string
		typ             model.SyncType
		status          int
		running         string
	}{
		{"unknown connector", "aws-qa", model.SyncFull, http.StatusNotFound, ""},
		{"already running", "xdr-prod", model.SyncFull, http.StatusConflict, clientRunningID},
		{"unknown type", "aws-prod", "weekly", http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.StartSync(t.Context(), tt.connector, tt.typ)
			clientWantAPIError(t, err, tt.status, tt.running)
		})
	}
}

func TestClientSyncs(t *testing.T) {
	srv, store, _ := clientTestServer(t, "")
	c := controlapi.NewClient(srv.URL, "", srv.Client())

	all, err := c.Syncs(t.Context(), synclog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != clientFailedID || all[1].ID != clientDoneID {
		t.Fatalf("Syncs() = %d syncs, want the failed then the done one", len(all))
	}
	if all[1].RecordsFetched != 12480 || all[1].IngestionSeconds != 94 || all[1].ProcessingSeconds != 3 || len(all[1].Stages) != 5 {
		t.Errorf("done sync = %+v, want 12480 records fetched, 94 s ingestion, 3 s processing, five stages", all[1])
	}

	// Every field of the filter makes the round trip through the query string.
	f := synclog.Filter{
		ConnectorID: "aws-staging",
		Type:        model.SyncIncremental,
		Status:      synclog.StatusFailed,
		Level:       model.LevelError,
		From:        clientT0.Add(-24 * time.Hour),
		To:          clientT0.Add(24*time.Hour + 500*time.Millisecond),
		Limit:       20,
	}
	got, err := c.Syncs(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != clientFailedID {
		t.Errorf("Syncs(failed aws-staging) = %v, want the failed sync", got)
	}
	if gotFilter := store.LastFilter(); !reflect.DeepEqual(gotFilter, f) {
		t.Errorf("store got filter %+v, want %+v", gotFilter, f)
	}

	_, err = c.Syncs(t.Context(), synclog.Filter{Level: "TRACE"})
	clientWantAPIError(t, err, http.StatusBadRequest, "")
	if _, err := c.Syncs(t.Context(), synclog.Filter{Status: "Stuck"}); err == nil {
		t.Error("Syncs(status Stuck) succeeded, want an error before any request")
	}
}

func TestClientSync(t *testing.T) {
	srv, store, _ := clientTestServer(t, "")
	c := controlapi.NewClient(srv.URL, "", srv.Client())
	failed, failedEntries, err := store.Sync(t.Context(), clientFailedID, "")
	if err != nil {
		t.Fatal(err)
	}

	s, entries, err := c.Sync(t.Context(), clientFailedID, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, failed) {
		t.Errorf("Sync = %+v, want %+v", s, failed)
	}
	if !reflect.DeepEqual(entries, failedEntries) {
		t.Errorf("entries = %+v, want %+v", entries, failedEntries)
	}

	_, entries, err = c.Sync(t.Context(), clientFailedID, model.LevelError)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Error == nil || entries[0].Error.ResponseHeaders["Authorization"] != "[redacted]" {
		t.Errorf("ERROR entries = %+v, want the one failure with its redacted headers", entries)
	}

	_, _, err = c.Sync(t.Context(), "0193a000-dead-7000-8000-000000000000", "")
	clientWantAPIError(t, err, http.StatusNotFound, "")
	_, _, err = c.Sync(t.Context(), clientFailedID, "LOUD")
	clientWantAPIError(t, err, http.StatusBadRequest, "")
}

func TestClientValidations(t *testing.T) {
	srv, _, _ := clientTestServer(t, "")
	c := controlapi.NewClient(srv.URL, "", srv.Client())
	vs := clientValidations()

	all, err := c.Validations(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	// Newest per configured connector, by connector id: not aws-prod's older one, not
	// aws-retired's, and nothing for aws-staging.
	if want := []synclog.Validation{vs[0], vs[2]}; !reflect.DeepEqual(all, want) {
		t.Errorf("Validations() = %+v, want %+v", all, want)
	}

	one, err := c.Validations(t.Context(), "xdr-prod")
	if err != nil {
		t.Fatal(err)
	}
	if want := []synclog.Validation{vs[2]}; !reflect.DeepEqual(one, want) {
		t.Errorf("Validations(xdr-prod) = %+v, want %+v", one, want)
	}
	if none, err := c.Validations(t.Context(), "aws-staging"); err != nil || len(none) != 0 {
		t.Errorf("Validations(aws-staging) = %+v, %v; want none", none, err)
	}
	_, err = c.Validations(t.Context(), "aws-retired")
	clientWantAPIError(t, err, http.StatusNotFound, "")
	_, err = c.Validations(t.Context(), "aws-qa")
	clientWantAPIError(t, err, http.StatusNotFound, "")
}

// TestValidationsJSON checks the answer's shape: each line says whether it matches, and
// a connector without a validation gets an empty list, not null.
func TestValidationsJSON(t *testing.T) {
	srv, _, _ := clientTestServer(t, "")
	down := &controlapitest.Store{Err: errors.New("dial tcp 127.0.0.1:9000: connect: connection refused")}
	downSrv := httptest.NewServer(controlapi.New(controlapi.Config{Store: down, Runner: clientRunner(), Log: slog.New(slog.DiscardHandler)}))
	defer downSrv.Close()
	get := func(base, query string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + "/api/v1/validations" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}

	status, body := get(srv.URL, "?connector=aws-prod")
	var got struct {
		Validations []struct {
			SyncID      string    `json:"sync_id"`
			ConnectorID string    `json:"connector_id"`
			Time        time.Time `json:"time"`
			Lines       []struct {
				Object string `json:"object"`
				Class  string `json:"class"`
				Vendor int64  `json:"vendor"`
				Stored int64  `json:"stored"`
				Source string `json:"source"`
				Match  *bool  `json:"match"`
			} `json:"lines"`
		} `json:"validations"`
	}
	if err := json.Unmarshal([]byte(body), &got); status != http.StatusOK || err != nil {
		t.Fatalf("GET ?connector=aws-prod = %d %s (%v), want 200 and JSON", status, body, err)
	}
	if len(got.Validations) != 1 || got.Validations[0].SyncID != clientDoneID || len(got.Validations[0].Lines) != 2 {
		t.Fatalf("got %s, want aws-prod's newest validation with two lines", body)
	}
	for i, want := range []bool{true, false} {
		l := got.Validations[0].Lines[i]
		if l.Match == nil || *l.Match != want {
			t.Errorf("line %d %+v: match is %v, want %v", i, l, l.Match, want)
		}
	}
	if l := got.Validations[0].Lines[1]; l.Object != "findings" || l.Class != "Container" || l.Vendor != 310 || l.Stored != 298 {
		t.Errorf("line 1 = %+v, want findings Container 310 vendor, 298 stored", l)
	}

	if status, body := get(srv.URL, "?connector=aws-staging"); status != http.StatusOK || !strings.Contains(body, `"validations": []`) {
		t.Errorf("GET ?connector=aws-staging = %d %s, want 200 and an empty list", status, body)
	}
	if status, body := get(downSrv.URL, ""); status != http.StatusServiceUnavailable || !strings.Contains(body, "ClickHouse") {
		t.Errorf("GET with the store down = %d %s, want 503 naming ClickHouse", status, body)
	}
}

func TestClientToken(t *testing.T) {
	srv, _, _ := clientTestServer(t, "s3cr3t-api-token")
	for _, tt := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "guess", http.StatusUnauthorized},
		{"right token", "s3cr3t-api-token", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := controlapi.NewClient(srv.URL, tt.token, srv.Client()).Connectors(t.Context())
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			clientWantAPIError(t, err, tt.status, "")
		})
	}
}

func TestClientNotTheAPI(t *testing.T) {
	// A proxy in front of the fetcher answers with its own page.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html><body>502 Bad Gateway</body></html>", http.StatusBadGateway)
	}))
	defer proxy.Close()
	_, err := controlapi.NewClient(proxy.URL, "", proxy.Client()).Connectors(t.Context())
	clientWantAPIError(t, err, http.StatusBadGateway, "")

	// Something else answers 200 with HTML.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>hello</html>"))
	}))
	defer other.Close()
	if _, err := controlapi.NewClient(other.URL, "", other.Client()).Connectors(t.Context()); err == nil {
		t.Error("Connectors against an HTML page succeeded, want a decoding error")
	}
}

func TestClientUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = controlapi.NewClient("http://"+addr, "", nil).Connectors(t.Context())
	var urlErr *url.Error
	var opErr *net.OpError
	if !errors.As(err, &urlErr) || !errors.As(err, &opErr) {
		t.Fatalf("error = %v, want a *url.Error wrapping a *net.OpError", err)
	}
}
