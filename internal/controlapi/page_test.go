package controlapi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tributary-sec/tributary/internal/controlapi"
	"github.com/tributary-sec/tributary/internal/controlapi/controlapitest"
	"github.com/tributary-sec/tributary/internal/model"
)

// The fixture: three connectors and three syncs, newest first.
const (
	syncRunning = "019ae03f-6f48-7c1d-9b2e-5a4f1c8d7e03" // inspector-prod, Incremental, In Progress
	syncFailed  = "019adda4-1e30-7a85-8f0c-2d6b9e4a3c02" // inspector-staging, Full, Failed at Connectivity Test
	syncDone    = "019ad6c2-9b60-7e44-a1d3-7c0e5f2b8a01" // inspector-prod, Full, Done

	failedPayload = `{"message":"The security token included in the request is invalid."}`
)

// failedError is the classified vendor failure of syncFailed.
var failedError = &model.ErrorBlock{
	Class:             "invalid_credentials",
	Message:           "AWS did not recognise the connector's access key: the security token included in the request is invalid.",
	RecommendedAction: "Check the access key ID and secret access key in the connector settings (or its role ARN and external ID). If the key was rotated or deleted in IAM, enter a new one, then run Test connectivity.",
	RootCause:         "UnrecognizedClientException: The security token included in the request is invalid.",
	Code:              "status_code: 403",
	Details:           "POST https://inspector2.eu-central-1.amazonaws.com/findings/list (scope eu-central-1); not retried: the error is not transient",
	ResponseHeaders: map[string]string{
		"Authorization":    "[redacted]",
		"Content-Type":     "application/json",
		"Date":             "Wed, 02 Dec 2026 08:15:31 GMT",
		"X-Amzn-Errortype": "UnrecognizedClientException",
		"X-Amzn-Requestid": "5e1f8f4c-2b7e-4a0e-9d3b-8c7a1f0e6d21",
	},
	ResponsePayload: failedPayload,
}

// fixtureSync is one sync of the fixture: its stage events.
type fixtureSync struct {
	id, connectorID, connectorType string
	typ                            model.SyncType
	base                           time.Time
	events                         []model.StageEvent
}

// add appends an event ms milliseconds after the sync's start. A running state starts the
// stage; a final state ends it.
func (f *fixtureSync) add(ms int, level model.Level, stage string, state model.StageState, msg string, mods ...func(*model.StageEvent)) {
	at := f.base.Add(time.Duration(ms) * time.Millisecond)
	ev := model.StageEvent{SyncID: f.id, ConnectorID: f.connectorID, ConnectorType: f.connectorType, SyncType: f.typ,
		Stage: stage, State: state, Level: level, Message: msg, Time: at}
	switch state {
	case model.StateRunning:
		ev.StartedAt = at
	case model.StateSucceeded, model.StateFailed, model.StateSkipped:
		ev.EndedAt = at
	}
	for _, m := range mods {
		m(&ev)
	}
	f.events = append(f.events, ev)
}

func records(in, out, failed int64) func(*model.StageEvent) {
	return func(ev *model.StageEvent) { ev.RecordsIn, ev.RecordsOut, ev.RecordsFailed = in, out, failed }
}

func withError(e *model.ErrorBlock) func(*model.StageEvent) {
	return func(ev *model.StageEvent) { ev.Error = e }
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fixtureStore is the sync log of the fixture.
func fixtureStore() *controlapitest.Store {
	const (
		info  = model.LevelInfo
		debug = model.LevelDebug
		warn  = model.LevelWarn
		errl  = model.LevelError
	)
	done := &fixtureSync{id: syncDone, connectorID: "inspector-prod", connectorType: "aws_inspector2", typ: model.SyncFull, base: mustTime("2026-12-01T01:00:00Z")}
	done.add(0, info, model.StageInitiating, model.StateRunning, "loading the configuration and the access key for 2 regions")
	done.add(412, info, model.StageInitiating, model.StateSucceeded, "credentials ready for eu-west-1, us-east-1")
	done.add(412, info, model.StageConnectivity, model.StateRunning, "calling inspector2:ListFindings once per region")
	done.add(1630, info, model.StageConnectivity, model.StateSucceeded, "eu-west-1, us-east-1: reachable and authorized")
	done.add(1630, info, model.StageFetching, model.StateRunning, "fetching every finding of 2 regions")
	done.add(2100, info, model.StageNormalizing, model.StateRunning, "normalizing")
	done.add(2500, info, model.StageProcessing, model.StateRunning, "processing")
	done.add(95000, debug, model.StageFetching, "", "eu-west-1: 64 pages, 6,310 findings")
	done.add(185870, warn, model.StageFetching, "", "vendor reported 12,482 findings, ingested 12,480: 2 skipped by require_exploitability_and_remediation (<exploitAvailable> missing)")
	done.add(185880, info, model.StageFetching, model.StateSucceeded, "fetched 12,480 findings", records(0, 12480, 0))
	done.add(187200, info, model.StageNormalizing, model.StateSucceeded, "normalized 12,480 records", records(12480, 12480, 0))
	done.add(189900, info, model.StageProcessing, model.StateSucceeded, "wrote 12,480 findings and 3,115 assets", records(12480, 12480, 0))

	failed := &fixtureSync{id: syncFailed, connectorID: "inspector-staging", connectorType: "aws_inspector2", typ: model.SyncFull, base: mustTime("2026-12-02T08:15:30Z")}
	failed.add(0, info, model.StageInitiating, model.StateRunning, "loading the configuration and the access key for 1 region")
	failed.add(350, info, model.StageInitiating, model.StateSucceeded, "credentials ready for eu-central-1")
	failed.add(350, info, model.StageConnectivity, model.StateRunning, "calling inspector2:ListFindings once per region")
	failed.add(1102, errl, model.StageConnectivity, model.StateFailed, "eu-central-1: inspector2:ListFindings was refused (HTTP 403)", withError(failedError))
	failed.add(1105, info, model.StageFetching, model.StateSkipped, "skipped: Connectivity Test failed")
	failed.add(1105, info, model.StageNormalizing, model.StateSkipped, "skipped: Connectivity Test failed")
	failed.add(1105, info, model.StageProcessing, model.StateSkipped, "skipped: Connectivity Test failed")

	running := &fixtureSync{id: syncRunning, connectorID: "inspector-prod", connectorType: "aws_inspector2", typ: model.SyncIncremental, base: mustTime("2026-12-02T17:04:05Z")}
	running.add(0, info, model.StageInitiating, model.StateRunning, "loading the configuration and the access key for 2 regions")
	running.add(380, info, model.StageInitiating, model.StateSucceeded, "credentials ready for eu-west-1, us-east-1")
	running.add(380, info, model.StageConnectivity, model.StateRunning, "calling inspector2:ListFindings once per region")
	running.add(1210, info, model.StageConnectivity, model.StateSucceeded, "eu-west-1, us-east-1: reachable and authorized")
	running.add(1210, info, model.StageFetching, model.StateRunning, "fetching findings updated since 2026-12-01T00:45:00Z")
	running.add(1600, info, model.StageNormalizing, model.StateRunning, "normalizing")
	running.add(1900, info, model.StageProcessing, model.StateRunning, "processing")
	running.add(41000, info, model.StageFetching, model.StateRunning, "eu-west-1: 1,840 findings so far", records(0, 1840, 0))
	running.add(41200, info, model.StageProcessing, model.StateRunning, "wrote 1,700 findings so far", records(1700, 1700, 0))
	return controlapitest.NewStore(slices.Concat(done.events, failed.events, running.events)...)
}

// fixtureRunner has three connectors: inspector-prod runs syncRunning, so starting another
// sync of it (or testing it) is refused.
func fixtureRunner() *controlapitest.Runner {
	// checks are the connector's: its credentials, then inspector2:ListFindings in each region.
	checks := func(id string, regions ...controlapi.Check) []controlapi.Check {
		return append([]controlapi.Check{{Stage: model.StageInitiating, Name: "credentials", Scope: id, OK: true}}, regions...)
	}
	reachable := []controlapi.Check{
		{Stage: model.StageConnectivity, Name: "inspector2:ListFindings", Scope: "eu-west-1", OK: true},
		{Stage: model.StageConnectivity, Name: "inspector2:ListFindings", Scope: "us-east-1", OK: true},
	}
	const started = "019ae1aa-0c11-7d2f-8e3a-4b5c6d7e8f90"
	return &controlapitest.Runner{
		List: []controlapi.Connector{
			{ID: "inspector-prod", Name: "AWS Inspector · production", Type: "aws_inspector2", Schedule: "daily at 02:00 Europe/Paris"},
			{ID: "inspector-staging", Name: "AWS Inspector · staging", Type: "aws_inspector2", Schedule: "mon, wed, fri at 06:00 UTC"},
			{ID: "xdr-main", Name: "Cortex XDR", Type: "cortex_xdr", Schedule: "daily at 03:30 UTC"},
		},
		Checks: map[string][]controlapi.Check{
			"inspector-staging": checks("inspector-staging", controlapi.Check{Stage: model.StageConnectivity, Name: "inspector2:ListFindings", Scope: "eu-central-1", Error: failedError}),
			"xdr-main":          checks("xdr-main", reachable...),
		},
		Running: map[string]string{"inspector-prod": syncRunning},
		SyncIDs: map[string]string{"inspector-staging": started, "xdr-main": started},
	}
}

// recorder wraps the API and keeps the requests the page made.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	reqs []*http.Request
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Clone(context.Background()))
		rec.mu.Unlock()
	}
	rec.next.ServeHTTP(w, r)
}

// queries returns the query strings of the page's GET /api/v1/syncs requests.
func (rec *recorder) queries() []url.Values {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var qs []url.Values
	for _, r := range rec.reqs {
		if r.Method == http.MethodGet && r.URL.Path == "/api/v1/syncs" {
			qs = append(qs, r.URL.Query())
		}
	}
	return qs
}

func serve(t *testing.T, cfg controlapi.Config) (*httptest.Server, *recorder) {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	rec := &recorder{next: controlapi.New(cfg)}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return srv, rec
}

// --- the browser ----------------------------------------------------------------------

// chromium finds the browser; without one the test skips, or fails in CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const install = "install it with: sudo apt-get install -y chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed and CI=true; " + install)
	}
	t.Skip("chromium is not installed; " + install)
	return ""
}

// startBrowser starts headless chromium at 1280×900 for the whole test.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// The test often runs as root in a container, where the sandbox cannot start; the
		// browser only loads this test's own page.
		chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting chromium %s: %v", path, err)
	}
	return bctx
}

// tab opens a tab in Paris time with US English formats, the clipboard granted to origin,
// and collects the page's console errors, exceptions and CSP violations; they fail the
// test at its end unless allowed matches them.
func tab(t *testing.T, bctx context.Context, origin string, allowed func(chromedp.ConsoleMessage) bool) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	var (
		mu   sync.Mutex
		bad  []string
		done = make(chan struct{})
	)
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			isErr := m.IsException() || m.Type == chromedp.ConsoleError || strings.Contains(m.Text, "Content Security Policy")
			if isErr && (allowed == nil || !allowed(m)) {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, b := range bad {
			t.Errorf("browser console: %s", b)
		}
	})
	call := func(what string, err error) {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Paris"})
	call("setting the time zone", err)
	_, err = chromedp.Call(ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "en_US"})
	call("setting the locale", err)
	// A headless tab is never focused; the clipboard API needs a focused document.
	_, err = chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
	call("emulating focus", err)
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err = chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted, Origin: origin})
		call("granting "+name, err)
	}
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it holds.
func waitFor(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(5*time.Second), chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, js, err)
	}
}

// choose picks an option of a select as a person would, firing its change event.
func choose(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	eval[chromedp.Void](t, ctx, fmt.Sprintf(`(() => {
		const s = document.getElementById(%q);
		s.value = %q;
		if (s.value !== %[2]q) throw new Error('no option ' + %[2]q);
		s.dispatchEvent(new Event('input', {bubbles: true}));
		s.dispatchEvent(new Event('change', {bubbles: true}));
	})()`, id, value))
}

// screenshot captures the whole page; UPDATE_SCREENSHOTS=1 writes it to docs/.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	path := filepath.Join("..", "..", "docs", "connector-logs-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// fits fails when the page scrolls sideways, naming the elements that stick out.
func fits(t *testing.T, ctx context.Context, state string) {
	t.Helper()
	w := eval[[]int](t, ctx, `[document.documentElement.scrollWidth, window.innerWidth]`)
	if w[0] <= w[1] {
		return
	}
	wide := eval[[]string](t, ctx, `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
		.slice(0, 8).map(e => e.tagName.toLowerCase() + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))`)
	t.Errorf("%s: the page is %d px wide in a %d px window; too wide: %q", state, w[0], w[1], wide)
}

// row is a sync row as a person reads it.
type row struct {
	ID         string `json:"id"`
	Start      string `json:"start"`
	StartISO   string `json:"startISO"`
	End        string `json:"end"`
	Connector  string `json:"connector"`
	Type       string `json:"type"`
	Status     string `json:"status"`
	Ingestion  string `json:"ingestion"`
	Processing string `json:"processing"`
	Records    string `json:"records"`
	Expanded   string `json:"expanded"`
}

const readRows = `[...document.querySelectorAll('#sync-rows tr.sync')].map(tr => {
	const text = (c) => tr.querySelector(c).innerText.trim();
	const time = tr.querySelector('.col-start time');
	return {id: tr.dataset.sync, start: text('.col-start'), startISO: time ? time.title : '', end: text('.col-end'),
		connector: text('.col-connector'), type: text('.col-type'), status: text('.col-status'),
		ingestion: text('.col-ingestion'), processing: text('.col-processing'), records: text('.col-records'),
		expanded: tr.querySelector('button.toggle').getAttribute('aria-expanded')};
})`

func rowIDs(rows []row) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}

func detailSel(id string) string { return fmt.Sprintf(`#sync-rows tr.detail[data-sync=%q]`, id) }
func rowSel(id string) string    { return fmt.Sprintf(`#sync-rows tr.sync[data-sync=%q]`, id) }

// stageRows reads the stage table of an expanded sync: name, state, duration, records.
func stageRows(t *testing.T, ctx context.Context, id string) [][]string {
	t.Helper()
	return eval[[][]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(tr =>
		[...tr.children].map(c => c.innerText.trim()))`, detailSel(id)+" table.stages tbody tr"))
}

// --- the tests --------------------------------------------------------------------------

func TestConnectorLogsPage(t *testing.T) {
	bctx := startBrowser(t)
	runner := fixtureRunner()
	srv, rec := serve(t, controlapi.Config{Store: fixtureStore(), Runner: runner})
	// The page answers the refused Sync now (409) with a message; the browser logs the
	// failed request itself.
	ctx := tab(t, bctx, srv.URL, func(m chromedp.ConsoleMessage) bool {
		return m.Source == "network" && strings.Contains(m.Text, "409")
	})

	do(t, ctx, "loading the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#sync-rows tr.sync")))

	// The list: newest first, times in Paris (CET, UTC+1), ISO in the title.
	waitFor(t, ctx, "three rows", `document.querySelectorAll('#sync-rows tr.sync').length === 3`)
	rows := eval[[]row](t, ctx, readRows)
	want := []row{
		{ID: syncRunning, Start: "Dec 2, 2026, 18:04:05 GMT+1", StartISO: "2026-12-02T17:04:05Z", End: "Running",
			Connector: "AWS Inspector · production\naws_inspector2", Type: "Incremental", Status: "In Progress",
			Ingestion: "—", Processing: "—", Records: "1,840 fetched\n1,700 written", Expanded: "false"},
		{ID: syncFailed, Start: "Dec 2, 2026, 09:15:30 GMT+1", StartISO: "2026-12-02T08:15:30Z", End: "Dec 2, 2026, 09:15:31 GMT+1",
			Connector: "AWS Inspector · staging\naws_inspector2", Type: "Full", Status: "Failed\nat Connectivity Test",
			Ingestion: "1.1 s", Processing: "—", Records: "0 fetched\n0 written", Expanded: "false"},
		{ID: syncDone, Start: "Dec 1, 2026, 02:00:00 GMT+1", StartISO: "2026-12-01T01:00:00Z", End: "Dec 1, 2026, 02:03:09 GMT+1",
			Connector: "AWS Inspector · production\naws_inspector2", Type: "Full", Status: "Done",
			Ingestion: "3 min 6 s", Processing: "4.0 s", Records: "12,480 fetched\n12,480 written", Expanded: "false"},
	}
	if !slices.Equal(rows, want) {
		t.Fatalf("rows:\n got %+v\nwant %+v", rows, want)
	}
	if got := eval[string](t, ctx, `document.getElementById('tz').textContent`); got != " (Europe/Paris)" {
		t.Errorf("time zone shown = %q, want %q", got, " (Europe/Paris)")
	}
	// A sync is running: the page says it refreshes.
	if got := eval[string](t, ctx, `document.getElementById('refresh-note').innerText`); !strings.Contains(got, "every 10 s") {
		t.Errorf("refresh note = %q, want it to say the table refreshes every 10 s", got)
	}
	fits(t, ctx, "the list")
	screenshot(t, ctx, "list")

	// Filters go to the API and reload the table.
	for _, f := range []struct {
		sel, value, param string
		want              []string
	}{
		{"f-type", "incremental", "type", []string{syncRunning}},
		{"f-level", "WARN", "level", []string{syncDone}},
		{"f-level", "ERROR", "level", []string{syncFailed}},
		{"f-status", "done", "status", []string{syncDone}},
		{"f-status", "failed", "status", []string{syncFailed}},
	} {
		choose(t, ctx, f.sel, f.value)
		waitFor(t, ctx, fmt.Sprintf("%s=%s to leave %d rows", f.param, f.value, len(f.want)),
			fmt.Sprintf(`document.querySelectorAll('#sync-rows tr.sync').length === %d && document.querySelector('#sync-rows tr.sync').dataset.sync === %q`, len(f.want), f.want[0]))
		if got := rowIDs(eval[[]row](t, ctx, readRows)); !slices.Equal(got, f.want) {
			t.Errorf("%s=%s: rows %v, want %v", f.param, f.value, got, f.want)
		}
		qs := rec.queries()
		if last := qs[len(qs)-1]; last.Get(f.param) != f.value {
			t.Errorf("%s=%s: the last request asked %q", f.param, f.value, last.Encode())
		}
		if f.sel != "f-status" || f.value != "failed" {
			choose(t, ctx, f.sel, "")
			waitFor(t, ctx, "three rows after clearing "+f.param, `document.querySelectorAll('#sync-rows tr.sync').length === 3`)
		}
	}
	// status=failed is the only filter left: the request carried it and nothing else.
	qs := rec.queries()
	if last := qs[len(qs)-1]; last.Get("status") != "failed" || last.Get("type") != "" || last.Get("level") != "" {
		t.Errorf("the filtered request asked %q, want status=failed only", last.Encode())
	}
	if got := eval[string](t, ctx, `location.search`); got != "?status=failed" {
		t.Errorf("the address keeps the filters as %q, want ?status=failed", got)
	}
	screenshot(t, ctx, "filtered")

	// Expanding the failed sync: the error and the recommended action come first, then
	// the five stages, then the entries with the technical block.
	do(t, ctx, "opening the failed sync", chromedp.Click(chromedp.CSS(rowSel(syncFailed)+" td.col-connector")))
	waitFor(t, ctx, "the failed sync's entries", fmt.Sprintf(`!!document.querySelector(%q)`, detailSel(syncFailed)+" .tech"))
	if got := eval[string](t, ctx, `document.querySelector('#sync-rows button.toggle').getAttribute('aria-expanded')`); got != "true" {
		t.Errorf("aria-expanded of the open row = %q, want true", got)
	}
	detail := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).innerText`, detailSel(syncFailed)))
	order := []string{
		"Failed at Connectivity Test",
		failedError.Message,
		"Recommended action: " + failedError.RecommendedAction,
		"STAGES", // section headings are set in capitals
		"Initiating", "Connectivity Test", "Fetching", "Normalizing", "Processing",
		"LOG ENTRIES",
		"eu-central-1: inspector2:ListFindings was refused (HTTP 403)",
		"Technical details",
	}
	at := 0
	for _, s := range order {
		i := strings.Index(detail[at:], s)
		if i < 0 {
			t.Fatalf("the expanded failed sync does not show %q after %q; it reads:\n%s", s, detail[:at], detail)
		}
		at += i + len(s)
	}
	wantStages := [][]string{
		{"Initiating", "Succeeded", "09:15:30.000", "09:15:30.350", "350 ms", "—"},
		{"Connectivity Test", "Failed", "09:15:30.350", "09:15:31.102", "752 ms", "—"},
		{"Fetching", "Skipped", "—", "09:15:31.105", "—", "—"},
		{"Normalizing", "Skipped", "—", "09:15:31.105", "—", "—"},
		{"Processing", "Skipped", "—", "09:15:31.105", "—", "—"},
	}
	if got := stageRows(t, ctx, syncFailed); !slices.EqualFunc(got, wantStages, slices.Equal) {
		t.Errorf("stages of the failed sync:\n got %q\nwant %q", got, wantStages)
	}
	entry := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).closest('li').querySelector('.entry-line').innerText`, detailSel(syncFailed)+" .tech"))
	for _, s := range []string{"Dec 2, 2026, 09:15:31.102 GMT+1", "ERROR", "Connectivity Test", "inspector2:ListFindings was refused"} {
		if !strings.Contains(entry, s) {
			t.Errorf("the failed entry reads %q; want %q in it", entry, s)
		}
	}
	tech := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).innerText`, detailSel(syncFailed)+" .tech"))
	for _, s := range []string{"invalid_credentials", "status_code: 403", failedError.RootCause, failedError.Details} {
		if !strings.Contains(tech, s) {
			t.Errorf("the technical block does not show %q; it reads:\n%s", s, tech)
		}
	}
	headers := eval[[][]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(tr => [...tr.children].map(c => c.innerText))`, detailSel(syncFailed)+" table.headers tbody tr"))
	wantHeaders := [][]string{
		{"Authorization", "[redacted]"},
		{"Content-Type", "application/json"},
		{"Date", "Wed, 02 Dec 2026 08:15:31 GMT"},
		{"X-Amzn-Errortype", "UnrecognizedClientException"},
		{"X-Amzn-Requestid", "5e1f8f4c-2b7e-4a0e-9d3b-8c7a1f0e6d21"},
	}
	if !slices.EqualFunc(headers, wantHeaders, slices.Equal) {
		t.Errorf("response headers:\n got %q\nwant %q", headers, wantHeaders)
	}
	if got := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).textContent`, detailSel(syncFailed)+" pre.payload")); got != failedPayload {
		t.Errorf("payload = %q, want %q", got, failedPayload)
	}
	fits(t, ctx, "the failed sync open")
	screenshot(t, ctx, "failed")

	// Copy puts the whole block on the clipboard.
	do(t, ctx, "copying the technical block", chromedp.Click(chromedp.CSS(detailSel(syncFailed)+" button.copy")))
	waitFor(t, ctx, "the Copied feedback", fmt.Sprintf(`document.querySelector(%q).textContent === 'Copied'`, detailSel(syncFailed)+" button.copy"))
	clip := eval[string](t, ctx, `navigator.clipboard.readText()`)
	wantClip := strings.Join([]string{
		"ERROR Connectivity Test Dec 2, 2026, 09:15:31.102 GMT+1 (2026-12-02T08:15:31.102Z)",
		"Sync: " + syncFailed + " (Full, connector inspector-staging, aws_inspector2)",
		"Entry: eu-central-1: inspector2:ListFindings was refused (HTTP 403)",
		"Error: " + failedError.Message,
		"Recommended action: " + failedError.RecommendedAction,
		"Class: invalid_credentials",
		"Root cause: " + failedError.RootCause,
		"Error code: status_code: 403",
		"Technical details: " + failedError.Details,
		"Response headers:",
		"  Authorization: [redacted]",
		"  Content-Type: application/json",
		"  Date: Wed, 02 Dec 2026 08:15:31 GMT",
		"  X-Amzn-Errortype: UnrecognizedClientException",
		"  X-Amzn-Requestid: 5e1f8f4c-2b7e-4a0e-9d3b-8c7a1f0e6d21",
		"Response payload (truncated):",
		failedPayload,
	}, "\n")
	if clip != wantClip {
		t.Errorf("clipboard:\n%s\nwant:\n%s", clip, wantClip)
	}
	// Without the clipboard API (plain http on another host), Copy shows the block
	// selected in a text box, and tries the old copy command.
	eval[chromedp.Void](t, ctx, `navigator.clipboard.writeText('').then(() => {
		window.realWriteText = navigator.clipboard.writeText;
		navigator.clipboard.writeText = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));
	})`)
	copyFallback := detailSel(syncFailed) + " textarea.copy-fallback"
	do(t, ctx, "copying without the clipboard API", chromedp.Click(chromedp.CSS(detailSel(syncFailed)+" button.copy")))
	waitFor(t, ctx, "the selected text box", fmt.Sprintf(`!document.querySelector(%q).hidden`, copyFallback))
	fallback := eval[[]string](t, ctx, fmt.Sprintf(`(() => { const ta = document.querySelector(%q);
		return [ta.value, String(ta.selectionStart === 0 && ta.selectionEnd === ta.value.length), document.querySelector(%q).textContent]; })()`,
		copyFallback, detailSel(syncFailed)+" button.copy"))
	if fallback[0] != wantClip || fallback[1] != "true" {
		t.Errorf("the fallback box holds %q (all selected: %s), want the block selected", fallback[0], fallback[1])
	}
	switch fallback[2] {
	case "Copied": // the old copy command worked
		if clip := eval[string](t, ctx, `navigator.clipboard.readText()`); clip != wantClip {
			t.Errorf("after the copy command the clipboard holds %q", clip)
		}
	case "Press Ctrl+C to copy":
	default:
		t.Errorf("the Copy button reads %q after the fallback", fallback[2])
	}
	eval[chromedp.Void](t, ctx, `navigator.clipboard.writeText = window.realWriteText`)
	do(t, ctx, "copying again", chromedp.Click(chromedp.CSS(detailSel(syncFailed)+" button.copy")))
	waitFor(t, ctx, "the text box to go", fmt.Sprintf(`document.querySelector(%q).hidden`, copyFallback))

	// A refresh keeps the open row open.
	before := len(rec.queries())
	do(t, ctx, "refreshing", chromedp.Click(chromedp.ID("refresh")))
	for deadline := time.Now().Add(5 * time.Second); len(rec.queries()) == before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Refresh did not ask the API again")
		}
	}
	waitFor(t, ctx, "the refresh", `!document.getElementById('syncs').hasAttribute('aria-busy')`)
	if got := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).getAttribute('aria-expanded')`, rowSel(syncFailed)+" button.toggle")); got != "true" {
		t.Errorf("after a refresh the failed sync's aria-expanded = %q, want true", got)
	}
	waitFor(t, ctx, "the failed sync's block after the refresh", fmt.Sprintf(`!!document.querySelector(%q)`, detailSel(syncFailed)+" .tech"))
	// A second click closes it.
	do(t, ctx, "closing the failed sync", chromedp.Click(chromedp.CSS(rowSel(syncFailed)+" td.col-start")))
	waitFor(t, ctx, "the failed sync to close", fmt.Sprintf(`!document.querySelector(%q)`, detailSel(syncFailed)))

	// The successful sync, opened with the keyboard: all stages succeeded, no error.
	choose(t, ctx, "f-status", "")
	waitFor(t, ctx, "three rows again", `document.querySelectorAll('#sync-rows tr.sync').length === 3`)
	do(t, ctx, "opening the done sync with Enter", chromedp.SendKeys(chromedp.CSS(rowSel(syncDone)+" button.toggle"), "\r"))
	waitFor(t, ctx, "the done sync's entries", fmt.Sprintf(`!!document.querySelector(%q)`, detailSel(syncDone)+" .entries"))
	wantStages = [][]string{
		{"Initiating", "Succeeded", "02:00:00.000", "02:00:00.412", "412 ms", "—"},
		{"Connectivity Test", "Succeeded", "02:00:00.412", "02:00:01.630", "1.2 s", "—"},
		{"Fetching", "Succeeded", "02:00:01.630", "02:03:05.880", "3 min 4 s", "12,480 out"},
		{"Normalizing", "Succeeded", "02:00:02.100", "02:03:07.200", "3 min 5 s", "12,480 in · 12,480 out"},
		{"Processing", "Succeeded", "02:00:02.500", "02:03:09.900", "3 min 7 s", "12,480 in · 12,480 out"},
	}
	if got := stageRows(t, ctx, syncDone); !slices.EqualFunc(got, wantStages, slices.Equal) {
		t.Errorf("stages of the done sync:\n got %q\nwant %q", got, wantStages)
	}
	if n := eval[int](t, ctx, fmt.Sprintf(`document.querySelectorAll(%q).length`, detailSel(syncDone)+" .error-summary, "+detailSel(syncDone)+" .tech")); n != 0 {
		t.Errorf("the done sync shows %d error blocks, want none", n)
	}
	// Vendor text is text: the WARN entry's angle brackets are shown, not parsed.
	if got := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).innerText`, detailSel(syncDone)+" .entries")); !strings.Contains(got, "(<exploitAvailable> missing)") {
		t.Errorf("the done sync's entries do not show the WARN text as written:\n%s", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('exploitAvailable').length`); n != 0 {
		t.Errorf("an entry's text became %d elements", n)
	}
	if got := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).getAttribute('aria-expanded')`, rowSel(syncDone)+" button.toggle")); got != "true" {
		t.Errorf("aria-expanded after Enter = %q, want true", got)
	}
	fits(t, ctx, "the done sync open")
	screenshot(t, ctx, "done")
	do(t, ctx, "closing the done sync with Enter", chromedp.SendKeys(chromedp.CSS(rowSel(syncDone)+" button.toggle"), "\r"))
	waitFor(t, ctx, "the done sync to close", fmt.Sprintf(`!document.querySelector(%q)`, detailSel(syncDone)))

	// A narrow window: no sideways scrolling, a failed sync still readable.
	do(t, ctx, "narrowing the window", chromedp.EmulateViewport(390, 844),
		chromedp.Click(chromedp.CSS(rowSel(syncFailed)+" td.col-connector")))
	waitFor(t, ctx, "the failed sync on a narrow window", fmt.Sprintf(`!!document.querySelector(%q)`, detailSel(syncFailed)+" .tech"))
	fits(t, ctx, "a narrow window with the failed sync open")
	screenshot(t, ctx, "narrow")
	if _, err := chromedp.Call(ctx, emulation.ClearDeviceMetricsOverride, cdp.Empty{}); err != nil {
		t.Fatalf("widening the window: %v", err)
	}
	waitFor(t, ctx, "the window back at 1280 px", `window.innerWidth === 1280`)
	do(t, ctx, "closing the failed sync", chromedp.Click(chromedp.CSS(rowSel(syncFailed)+" td.col-connector")))

	// One connector: its schedule, Test connectivity, Sync now.
	choose(t, ctx, "connector", "inspector-staging")
	waitFor(t, ctx, "the staging connector's syncs", fmt.Sprintf(`document.querySelectorAll('#sync-rows tr.sync').length === 1 && document.querySelector('#sync-rows tr.sync').dataset.sync === %q`, syncFailed))
	if qs := rec.queries(); qs[len(qs)-1].Get("connector") != "inspector-staging" {
		t.Errorf("the connector's request asked %q", qs[len(qs)-1].Encode())
	}
	if got := eval[string](t, ctx, `document.getElementById('ci-schedule').innerText`); got != "mon, wed, fri at 06:00 UTC" {
		t.Errorf("schedule = %q", got)
	}
	do(t, ctx, "testing connectivity", chromedp.Click(chromedp.ID("test-conn")))
	waitFor(t, ctx, "the test's result", `document.getElementById('action-result').innerText.includes('Connectivity test failed')`)
	result := eval[string](t, ctx, `document.getElementById('action-result').innerText`)
	for _, s := range []string{"1 of 2 checks failed", "Initiating: credentials", "Connectivity Test: inspector2:ListFindings (eu-central-1)", failedError.Message, "Recommended action: " + failedError.RecommendedAction} {
		if !strings.Contains(result, s) {
			t.Errorf("the connectivity result does not show %q; it reads:\n%s", s, result)
		}
	}
	screenshot(t, ctx, "connector")
	choose(t, ctx, "connector", "inspector-prod")
	waitFor(t, ctx, "the production connector's syncs", `document.querySelectorAll('#sync-rows tr.sync').length === 2`)
	do(t, ctx, "starting a sync", chromedp.Click(chromedp.ID("sync-now")))
	waitFor(t, ctx, "the refusal", `document.getElementById('action-result').innerText.includes('Sync not started')`)
	if got := eval[string](t, ctx, `document.getElementById('action-result').innerText`); !strings.Contains(got, "already running (sync "+syncRunning+")") {
		t.Errorf("the 409 reads %q; want the running sync named", got)
	}
	if started := runner.Started(); len(started) != 0 {
		t.Errorf("syncs started: %v", started)
	}
	choose(t, ctx, "connector", "xdr-main")
	waitFor(t, ctx, "no syncs", `!document.getElementById('empty').hidden`)
	do(t, ctx, "starting a sync of xdr-main", chromedp.Click(chromedp.ID("sync-now")))
	waitFor(t, ctx, "the start", `document.getElementById('action-result').innerText.includes('sync of Cortex XDR started')`)
	wantStarted := []controlapi.StartedSync{{ConnectorID: "xdr-main", SyncID: "019ae1aa-0c11-7d2f-8e3a-4b5c6d7e8f90", Type: model.SyncFull}}
	if started := runner.Started(); !slices.Equal(started, wantStarted) {
		t.Errorf("syncs started: %v, want %v", started, wantStarted)
	}
}

// TestConnectorLogsPageRefresh checks the page refreshes on its own while a sync is in
// progress, keeping open rows open, and stops when none is. The page's 10 s timer is
// shortened to 100 ms.
func TestConnectorLogsPageRefresh(t *testing.T) {
	bctx := startBrowser(t)
	srv, rec := serve(t, controlapi.Config{Store: fixtureStore(), Runner: fixtureRunner()})
	ctx := tab(t, bctx, srv.URL, nil)
	const fastTimers = `(() => {
		const setTimeout = window.setTimeout;
		window.setTimeout = (fn, ms, ...args) => setTimeout(fn, ms === 10000 ? 100 : ms, ...args);
	})()`
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: fastTimers}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "loading the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(rowSel(syncDone))))
	do(t, ctx, "opening the done sync", chromedp.Click(chromedp.CSS(rowSel(syncDone)+" td.col-connector")))
	waitFor(t, ctx, "the done sync's entries", fmt.Sprintf(`!!document.querySelector(%q)`, detailSel(syncDone)+" .entries"))

	before := len(rec.queries())
	for deadline := time.Now().Add(5 * time.Second); len(rec.queries()) < before+3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("with a sync in progress the page asked %d times in 5 s, want at least 3", len(rec.queries())-before)
		}
	}
	waitFor(t, ctx, "a refresh to finish", `!document.getElementById('syncs').hasAttribute('aria-busy')`)
	if got := eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q).getAttribute('aria-expanded')`, rowSel(syncDone)+" button.toggle")); got != "true" {
		t.Errorf("after the refreshes the done sync's aria-expanded = %q, want true", got)
	}
	waitFor(t, ctx, "the done sync's entries after the refreshes", fmt.Sprintf(`!!document.querySelector(%q)`, detailSel(syncDone)+" .entries"))

	// The staging connector runs nothing: no more refreshes.
	choose(t, ctx, "connector", "inspector-staging")
	waitFor(t, ctx, "the staging connector's syncs", `document.querySelectorAll('#sync-rows tr.sync').length === 1 && document.getElementById('refresh-note').textContent === ''`)
	before = len(rec.queries())
	time.Sleep(500 * time.Millisecond)
	if n := len(rec.queries()) - before; n != 0 {
		t.Errorf("with no sync in progress the page asked %d times in 500 ms", n)
	}
}

func TestConnectorLogsPageToken(t *testing.T) {
	bctx := startBrowser(t)
	srv, rec := serve(t, controlapi.Config{Store: fixtureStore(), Runner: fixtureRunner(), Token: "s3cret-t0ken"})
	ctx := tab(t, bctx, srv.URL, func(m chromedp.ConsoleMessage) bool {
		return m.Source == "network" && strings.Contains(m.Text, "401")
	})

	do(t, ctx, "loading the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	if n := eval[int](t, ctx, `document.querySelectorAll('#sync-rows tr').length`); n != 0 {
		t.Errorf("%d rows shown without a token", n)
	}
	do(t, ctx, "entering the token",
		chromedp.SendKeys(chromedp.ID("token"), "s3cret-t0ken"),
		chromedp.Click(chromedp.CSS("#auth-form button[type=submit]")))
	waitFor(t, ctx, "the syncs", `document.querySelectorAll('#sync-rows tr.sync').length === 3`)
	if !eval[bool](t, ctx, `document.getElementById('auth').hidden`) {
		t.Error("the token box stays after a good token")
	}
	if got := eval[string](t, ctx, `sessionStorage.getItem('tributary.apiToken')`); got != "s3cret-t0ken" {
		t.Errorf("sessionStorage token = %q", got)
	}
	rec.mu.Lock()
	last := rec.reqs[len(rec.reqs)-1].Header.Get("Authorization")
	rec.mu.Unlock()
	if last != "Bearer s3cret-t0ken" {
		t.Errorf("Authorization = %q, want Bearer s3cret-t0ken", last)
	}

	// A wrong token brings the box back with a message.
	eval[chromedp.Void](t, ctx, `sessionStorage.setItem('tributary.apiToken', 'wrong')`)
	do(t, ctx, "reloading", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("auth-error")))
	if got := eval[string](t, ctx, `document.getElementById('auth-error').innerText`); !strings.Contains(got, "refused this token") {
		t.Errorf("wrong token message = %q", got)
	}
}

func TestConnectorLogsPageStoreDown(t *testing.T) {
	bctx := startBrowser(t)
	srv, _ := serve(t, controlapi.Config{Store: &controlapitest.Store{Err: errors.New("dial tcp 127.0.0.1:9000: connection refused")}, Runner: fixtureRunner()})
	ctx := tab(t, bctx, srv.URL, func(m chromedp.ConsoleMessage) bool {
		return m.Source == "network" && strings.Contains(m.Text, "503")
	})
	do(t, ctx, "loading the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("load-error")))
	if got := eval[string](t, ctx, `document.getElementById('load-error').innerText`); !strings.Contains(got, "could not be read from ClickHouse") {
		t.Errorf("the banner reads %q", got)
	}
	if eval[bool](t, ctx, `!document.getElementById('loading').hidden`) {
		t.Error("the page still says Loading… under the error")
	}
}
