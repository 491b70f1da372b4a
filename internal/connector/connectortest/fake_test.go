package connectortest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

// A fake connector type over an in-memory vendor, for testing the suite itself: with no
// bug it passes Run; each bug is one a real connector could have, which Run must catch.
// Its records are of two kinds (devices → assets, vulns → findings) over two scopes.

const (
	fakeTypeName = "fake"
	fakePageSize = 4
	fakeRetries  = 2
	fakeToken    = "fake-token-0123456789abcdef"
	fakeWrong    = "fake-wrong-fedcba9876543210"
)

var fakeScopes = []string{"north", "south"}

// fakeHarness is the Harness of the fake connector with bug.
func fakeHarness(bug string) Harness {
	return Harness{
		Type: connector.Type{
			Name: fakeTypeName,
			NewSource: func(inst connector.Instance, decode func(any) error) (connector.Source, error) {
				return newFakeSource(bug, inst, decode)
			},
			Normalizer: fakeNormalizer{bug: bug},
		},
		Start:    startFakeTenant,
		PageSize: fakePageSize,
		Retries:  fakeRetries,
	}
}

// fakeVendors holds the running fake vendors by name, as a network holds servers.
var (
	fakeVendors sync.Map
	fakeNext    atomic.Int64
)

type fakeRecord struct {
	kind, key string
	payload   []byte
}

// fakeVendor is the vendor API: pages of records per scope, with faults.
type fakeVendor struct {
	data map[string][]fakeRecord // by scope

	mu        sync.Mutex
	faults    Faults
	malformed map[string]bool // keys served malformed
	presented map[string]bool // Authorization values received
}

type fakeVendorError struct {
	status int
	header http.Header
	body   []byte
}

func startFakeTenant(t *testing.T, seed int64, n int) Tenant {
	v := &fakeVendor{data: map[string][]fakeRecord{}, malformed: map[string]bool{}, presented: map[string]bool{}}
	for i := range n {
		scope := fakeScopes[i%len(fakeScopes)]
		kind := "vuln"
		if i%3 == 0 {
			kind = "device"
		}
		key := fmt.Sprintf("%s-%d-%04d", kind, seed, i)
		payload := fmt.Sprintf(`{"id":%q,"name":"%s %d","score":%d.%d,"device":"device-%d-%04d"}`, key, kind, i, (int(seed)+i)%10, i%10, seed, i-i%3)
		v.data[scope] = append(v.data[scope], fakeRecord{kind, key, []byte(payload)})
	}
	name := fmt.Sprintf("vendor-%d", fakeNext.Add(1))
	fakeVendors.Store(name, v)
	t.Cleanup(func() { fakeVendors.Delete(name) })
	t.Setenv("FAKE_TOKEN", fakeToken)
	t.Setenv("FAKE_WRONG_TOKEN", fakeWrong)
	return &fakeTenant{name: name, v: v}
}

// call serves one page of scope from offset; next is -1 after the last page.
func (v *fakeVendor) call(token, scope string, offset, limit int) ([]fakeRecord, int, *fakeVendorError) {
	v.mu.Lock()
	defer v.mu.Unlock()
	auth := "Bearer " + token
	v.presented[auth] = true
	h := http.Header{"Content-Type": {"application/json"}, "Authorization": {auth}} // echoed, as some gateways do
	switch {
	case token != fakeToken:
		return nil, 0, &fakeVendorError{401, h, []byte(`{"error":"invalid token"}`)}
	case v.faults.Throttle > 0:
		v.faults.Throttle--
		h.Set("Retry-After", "0")
		return nil, 0, &fakeVendorError{429, h, []byte(`{"error":"slow down"}`)}
	case v.faults.ServerError > 0:
		v.faults.ServerError--
		return nil, 0, &fakeVendorError{503, h, []byte(`{"error":"unavailable"}`)}
	}
	recs := v.data[scope]
	end := min(offset+limit, len(recs))
	page := make([]fakeRecord, 0, end-offset)
	for _, r := range recs[offset:end] {
		r.payload = bytes.Clone(r.payload)
		if v.malformed[r.key] {
			r.payload = []byte(`{"name":"lost its id","score":"high"}`)
		}
		page = append(page, r)
	}
	if end == len(recs) {
		return page, -1, nil
	}
	return page, end, nil
}

type fakeTenant struct {
	name string
	v    *fakeVendor
}

func (tn *fakeTenant) settings(env string) string {
	return fmt.Sprintf("vendor: %s\nscopes: [%s]\ntoken: {env: %s}\nretries: %d\n", tn.name, strings.Join(fakeScopes, ", "), env, fakeRetries)
}

func (tn *fakeTenant) Settings() string         { return tn.settings("FAKE_TOKEN") }
func (tn *fakeTenant) WrongCredentials() string { return tn.settings("FAKE_WRONG_TOKEN") }

func (tn *fakeTenant) SetFaults(f Faults) {
	tn.v.mu.Lock()
	defer tn.v.mu.Unlock()
	tn.v.faults = f
	tn.v.malformed = map[string]bool{}
	for _, scope := range fakeScopes {
		for i, r := range tn.v.data[scope] {
			if len(tn.v.malformed) < f.Malformed && i%3 == 1 {
				tn.v.malformed[r.key] = true
			}
		}
	}
}

func (tn *fakeTenant) Expected() Expected {
	tn.v.mu.Lock()
	defer tn.v.mu.Unlock()
	exp := Expected{Scopes: fakeScopes, Keys: map[string][]string{}, Malformed: len(tn.v.malformed)}
	for _, scope := range fakeScopes {
		for _, r := range tn.v.data[scope] {
			if !tn.v.malformed[r.key] {
				exp.Keys[r.kind] = append(exp.Keys[r.kind], r.key)
			}
		}
	}
	return exp
}

func (tn *fakeTenant) Sensitive() []string {
	tn.v.mu.Lock()
	defer tn.v.mu.Unlock()
	out := []string{fakeToken, fakeWrong}
	for a := range tn.v.presented {
		out = append(out, a)
	}
	return out
}

type fakeSettings struct {
	Vendor  string           `yaml:"vendor"`
	Scopes  []string         `yaml:"scopes"`
	Token   connector.Secret `yaml:"token"`
	Retries int              `yaml:"retries"`
}

type fakeSource struct {
	bug      string
	inst     connector.Instance
	settings fakeSettings
	vendor   *fakeVendor
}

// fetches counts Fetch calls, so the shuffled bug orders each fetch differently.
var fetches atomic.Int64

func newFakeSource(bug string, inst connector.Instance, decode func(any) error) (connector.Source, error) {
	s := &fakeSource{bug: bug, inst: inst}
	if err := decode(&s.settings); err != nil {
		return nil, err
	}
	if err := s.settings.Token.Resolve(); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	return s, nil
}

func (s *fakeSource) Initiate(context.Context) error {
	v, ok := fakeVendors.Load(s.settings.Vendor)
	if !ok {
		return &connector.Error{Class: connector.ClassUnreachable, Message: "no such vendor", Action: "check vendor"}
	}
	s.vendor = v.(*fakeVendor)
	return nil
}

func (s *fakeSource) Test(context.Context) []connector.Check {
	var checks []connector.Check
	for _, scope := range s.settings.Scopes {
		_, _, verr := s.vendor.call(s.settings.Token.Value(), scope, 0, 1)
		checks = append(checks, connector.Check{Name: "list", Scope: scope, Err: s.classify(verr)})
	}
	return checks
}

func (s *fakeSource) classify(verr *fakeVendorError) *connector.Error {
	if verr == nil {
		return nil
	}
	ce := &connector.Error{StatusCode: verr.status, Headers: connector.Redact(verr.header), Payload: verr.body}
	switch {
	case verr.status == 401:
		ce.Class, ce.Message, ce.Action = connector.ClassCredentials, "the vendor refused the token", "check the token setting"
	case verr.status == 429 && s.bug != "throttle_as_server_error":
		ce.Class, ce.Message, ce.Action = connector.ClassRateLimited, "throttled after every retry", "sync later"
	default:
		ce.Class, ce.Message, ce.Action = connector.ClassVendorServer, "vendor server error", "retry later"
	}
	switch s.bug {
	case "unredacted_headers":
		ce.Headers = verr.header
	case "no_status_code":
		ce.StatusCode = 0
	}
	return ce
}

func (s *fakeSource) Fetch(ctx context.Context, req connector.FetchRequest, emit func(*model.RawRecord) error) (connector.FetchResult, error) {
	nth := int(fetches.Add(1))
	var res connector.FetchResult
	errs := make([]error, len(s.settings.Scopes))
	counts := make([]int64, len(s.settings.Scopes))
	var wg sync.WaitGroup
	for i, scope := range s.settings.Scopes {
		wg.Go(func() { counts[i], errs[i] = s.fetchScope(ctx, scope, req, nth, emit) })
	}
	wg.Wait()
	var first error
	for i, scope := range s.settings.Scopes {
		outcome := model.OutcomeSucceeded
		if errs[i] != nil {
			outcome = model.OutcomeFailed
			first = cmpOr(first, errs[i])
		}
		res.Scopes = append(res.Scopes, model.ScopeOutcome{Scope: scope, Outcome: outcome, Records: counts[i]})
	}
	return res, first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (s *fakeSource) fetchScope(ctx context.Context, scope string, req connector.FetchRequest, nth int, emit func(*model.RawRecord) error) (int64, error) {
	var (
		emitted int64
		buf     []byte
	)
	for offset := 0; ; {
		var (
			page []fakeRecord
			next int
			verr *fakeVendorError
		)
		for attempt := 0; ; attempt++ {
			page, next, verr = s.vendor.call(s.settings.Token.Value(), scope, offset, fakePageSize)
			if verr == nil || verr.status == 401 || attempt >= s.settings.Retries || s.bug == "no_retry" {
				break
			}
			if err := ctx.Err(); err != nil {
				return emitted, err
			}
		}
		if verr != nil {
			return emitted, s.classify(verr)
		}
		if s.bug == "empty_scope_fails" && offset == 0 && len(page) == 0 {
			return emitted, &connector.Error{Class: connector.ClassMalformed, Message: "no records", Action: "none"}
		}
		if s.bug == "drops_last_page" && next < 0 && offset > 0 {
			return emitted, nil
		}
		if s.bug == "shuffled" && len(page) > 1 {
			k := nth % len(page)
			page = append(page[k:], page[:k]...)
		}
		for j, r := range page {
			var id struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(r.payload, &id); err != nil || id.ID == "" {
				if s.bug == "fails_on_malformed" {
					return emitted, &connector.Error{Class: connector.ClassMalformed, Message: "record without id", Action: "none"}
				}
			}
			payload := r.payload
			if s.bug == "reuses_buffer" {
				buf = append(buf[:0], r.payload...)
				payload = buf
			}
			rec := &model.RawRecord{SyncID: req.SyncID, ConnectorID: s.inst.ID, ConnectorType: fakeTypeName, Scope: scope,
				Kind: r.kind, VendorKey: id.ID, FetchedAt: time.Now().UTC(), Payload: payload}
			if err := emit(rec); err != nil {
				return emitted, err
			}
			emitted++
			if s.bug == "duplicates_first" && j == 0 {
				if err := emit(rec); err != nil {
					return emitted, err
				}
				emitted++
			}
		}
		if next < 0 {
			return emitted, nil
		}
		offset = next
	}
}

type fakeNormalizer struct{ bug string }

func (n fakeNormalizer) Normalize(raw *model.RawRecord, out *connector.Normalized) error {
	if raw == nil || out == nil {
		return errors.New("nil record or output")
	}
	if i := bytes.Index(raw.Payload, []byte(`"name":"`)) + 8; n.bug == "writes_payload" && i >= 8 && i < len(raw.Payload) {
		raw.Payload[i] = byte(unicode.ToUpper(rune(raw.Payload[i]))) // capitalizes the name in the vendor's bytes
	}
	var p struct {
		ID     string   `json:"id"`
		Name   string   `json:"name"`
		Score  *float64 `json:"score"`
		Device string   `json:"device"`
	}
	if err := json.Unmarshal(raw.Payload, &p); err != nil && n.bug != "maps_malformed" {
		return fmt.Errorf("decoding %s: %w", raw.Kind, err)
	}
	if p.ID == "" {
		switch n.bug {
		case "normalizer_panics":
			panic("no id")
		case "maps_malformed":
			p.ID = "unknown"
		default:
			return fmt.Errorf("%s has no id", raw.Kind)
		}
	}
	if n.bug == "renamed" {
		p.Name = strings.ToUpper(p.Name)
	}
	switch raw.Kind {
	case "device":
		out.Assets = append(out.Assets, model.Asset{ConnectorID: raw.ConnectorID, ConnectorType: raw.ConnectorType, SyncID: raw.SyncID,
			Scope: raw.Scope, UID: p.ID, Class: model.ClassDevice, Name: p.Name, FetchedAt: raw.FetchedAt})
	case "vuln":
		out.Findings = append(out.Findings, model.Finding{ConnectorID: raw.ConnectorID, ConnectorType: raw.ConnectorType, SyncID: raw.SyncID,
			Scope: raw.Scope, UID: p.ID, AssetUIDs: []string{p.Device}, Name: p.Name, Score: p.Score, FetchedAt: raw.FetchedAt})
	default:
		return fmt.Errorf("unknown record kind %q", raw.Kind)
	}
	return nil
}
