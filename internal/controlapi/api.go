// Package controlapi is the fetcher's control API and the Connector Logs page: list
// connectors and their last sync, test a connector's connectivity, start a sync, read
// the sync log and the data validations. JSON over HTTP, documented in docs/api.md.
package controlapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// Connector is a configured connector as the API lists it.
type Connector struct {
	ID            string        `json:"id"`
	Name          string        `json:"name"`
	Type          string        `json:"type"`
	Schedule      string        `json:"schedule"`
	RunningSyncID string        `json:"running_sync_id,omitempty"`
	LastSync      *synclog.Sync `json:"last_sync"`
}

// Check is one check of a connectivity test.
type Check struct {
	Stage string            `json:"stage"`
	Name  string            `json:"name"`
	Scope string            `json:"scope"`
	OK    bool              `json:"ok"`
	Error *model.ErrorBlock `json:"error,omitempty"`
}

// Runner runs the fetcher's side of syncs; the fetcher implements it.
type Runner interface {
	// Connectors lists the configured connectors (LastSync left nil).
	Connectors() []Connector
	// Test runs Initiating and Connectivity Test of a connector and reports each check.
	Test(ctx context.Context, connectorID string) ([]Check, error)
	// Start starts a sync and returns its id without waiting for it.
	Start(ctx context.Context, connectorID string, typ model.SyncType) (syncID string, err error)
}

// ErrUnknownConnector is returned by a Runner for an id it does not have.
var ErrUnknownConnector = errors.New("unknown connector")

// BusyError is returned by Runner.Start when a sync of the connector is already running.
type BusyError struct{ SyncID string }

func (e *BusyError) Error() string {
	if e.SyncID == "" {
		return "a connectivity test of this connector is running; try again in a moment"
	}
	return fmt.Sprintf("a sync of this connector is already running (sync %s); wait for it to end", e.SyncID)
}

// Config is what the API serves from.
type Config struct {
	Store  synclog.Store
	Runner Runner
	// Token, when set, is required as "Authorization: Bearer <token>" on every request.
	Token string
	Log   *slog.Logger
}

// New returns the API and page handler.
func New(cfg Config) http.Handler {
	a := &api{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/connectors", a.connectors)
	mux.HandleFunc("POST /api/v1/connectors/{id}/test", a.test)
	mux.HandleFunc("POST /api/v1/connectors/{id}/syncs", a.start)
	mux.HandleFunc("GET /api/v1/syncs", a.syncs)
	mux.HandleFunc("GET /api/v1/syncs/{id}", a.sync)
	mux.HandleFunc("GET /api/v1/validations", a.validations)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s; the endpoints are listed in docs/api.md", r.Method, r.URL.Path))
	})
	mux.Handle("/", pageHandler())
	return a.authorize(mux)
}

type api struct{ cfg Config }

// authorize requires the bearer token on the API when one is configured. The page itself
// is served without it (it holds no data) and asks for the token.
func (a *api) authorize(next http.Handler) http.Handler {
	if a.cfg.Token == "" {
		return next
	}
	want := []byte("Bearer " + a.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tributary"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token; send Authorization: Bearer <token> with the fetcher's TRIBUTARY_API_TOKEN")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *api) connectors(w http.ResponseWriter, r *http.Request) {
	last, err := a.cfg.Store.LastSyncs(r.Context())
	if err != nil {
		a.storeError(w, err)
		return
	}
	list := a.cfg.Runner.Connectors()
	for i := range list {
		if s, ok := last[list[i].ID]; ok {
			list[i].LastSync = &s
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"connectors": list})
}

func (a *api) test(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	checks, err := a.cfg.Runner.Test(r.Context(), id)
	if errors.Is(err, ErrUnknownConnector) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no connector %q; list them with GET /api/v1/connectors", id))
		return
	}
	var busy *BusyError
	if errors.As(err, &busy) {
		writeJSON(w, http.StatusConflict, map[string]any{"error": busy.Error(), "running_sync_id": busy.SyncID})
		return
	}
	if err != nil {
		a.internalError(w, err)
		return
	}
	ok := true
	for _, c := range checks {
		ok = ok && c.OK
	}
	writeJSON(w, http.StatusOK, map[string]any{"connector_id": id, "ok": ok, "checks": checks})
}

func (a *api) start(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var body struct {
		Type model.SyncType `json:"type"`
	}
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("reading the request body: %v; send {\"type\": \"full\"} or {\"type\": \"incremental\"}", err))
			return
		}
	}
	if body.Type == "" {
		body.Type = model.SyncFull
	}
	if body.Type != model.SyncFull && body.Type != model.SyncIncremental {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("sync type %q is not known; use full or incremental", body.Type))
		return
	}
	syncID, err := a.cfg.Runner.Start(r.Context(), id, body.Type)
	var busy *BusyError
	switch {
	case errors.Is(err, ErrUnknownConnector):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no connector %q; list them with GET /api/v1/connectors", id))
	case errors.As(err, &busy):
		writeJSON(w, http.StatusConflict, map[string]any{"error": busy.Error(), "running_sync_id": busy.SyncID})
	case err != nil:
		a.internalError(w, err)
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"connector_id": id, "sync_id": syncID, "type": body.Type})
	}
}

func (a *api) syncs(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := a.cfg.Store.Syncs(r.Context(), f)
	if err != nil {
		a.storeError(w, err)
		return
	}
	if list == nil {
		list = []synclog.Sync{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"syncs": list})
}

func (a *api) sync(w http.ResponseWriter, r *http.Request) {
	level, err := synclog.ParseLevel(r.URL.Query().Get("level"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s, entries, err := a.cfg.Store.Sync(r.Context(), r.PathValue("id"), level)
	if errors.Is(err, synclog.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no sync %q in the log; sync logs are kept 14 days", r.PathValue("id")))
		return
	}
	if err != nil {
		a.storeError(w, err)
		return
	}
	if entries == nil {
		entries = []synclog.Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sync": s, "entries": entries})
}

// validation is a data validation as the API writes it: each line also says whether it
// matches, so API users need not compare the counts themselves.
type validation struct {
	synclog.Validation
	Lines []validationLine `json:"lines"` // hides the embedded Lines
}

type validationLine struct {
	synclog.ValidationLine
	Match bool `json:"match"`
}

// validations answers each configured connector's newest data validation, sorted by
// connector id; a connector without one is absent. Validations of connectors no longer
// configured are left out.
func (a *api) validations(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("connector")
	configured := a.cfg.Runner.Connectors()
	if id != "" && !slices.ContainsFunc(configured, func(c Connector) bool { return c.ID == id }) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no connector %q; list them with GET /api/v1/connectors", id))
		return
	}
	last, err := a.cfg.Store.LastValidations(r.Context())
	if err != nil {
		a.storeError(w, err)
		return
	}
	slices.SortFunc(configured, func(x, y Connector) int { return strings.Compare(x.ID, y.ID) })
	list := []validation{}
	for _, c := range configured {
		v, ok := last[c.ID]
		if !ok || (id != "" && c.ID != id) {
			continue
		}
		out := validation{Validation: v, Lines: make([]validationLine, len(v.Lines))}
		for i, l := range v.Lines {
			out.Lines[i] = validationLine{ValidationLine: l, Match: l.Match()}
		}
		list = append(list, out)
	}
	writeJSON(w, http.StatusOK, map[string]any{"validations": list})
}

// parseFilter reads the query parameters of GET /api/v1/syncs.
func parseFilter(r *http.Request) (synclog.Filter, error) {
	q := r.URL.Query()
	f := synclog.Filter{ConnectorID: q.Get("connector")}
	switch t := model.SyncType(strings.ToLower(q.Get("type"))); t {
	case "", model.SyncFull, model.SyncIncremental:
		f.Type = t
	default:
		return f, fmt.Errorf("type is %q; use full or incremental", q.Get("type"))
	}
	var err error
	if f.Status, err = synclog.ParseStatus(q.Get("status")); err != nil {
		return f, err
	}
	if f.Level, err = synclog.ParseLevel(q.Get("level")); err != nil {
		return f, err
	}
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, fmt.Errorf("%s is %q; use an RFC 3339 time such as 2026-12-01T00:00:00Z", p.name, v)
			}
			*p.to = t.UTC()
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return f, fmt.Errorf("limit is %q; use a number from 1 to 1000", v)
		}
		f.Limit = n
	}
	return f, nil
}

func (a *api) storeError(w http.ResponseWriter, err error) {
	a.cfg.Log.Error("reading the sync log", "err", err)
	writeError(w, http.StatusServiceUnavailable, "the sync log could not be read from ClickHouse; check that ClickHouse is up and the fetcher's --clickhouse-addr")
}

func (a *api) internalError(w http.ResponseWriter, err error) {
	a.cfg.Log.Error("control API request failed", "err", err)
	writeError(w, http.StatusInternalServerError, err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
