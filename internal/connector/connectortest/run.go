package connectortest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

const (
	// connectorID is the id of the configured connector under test.
	connectorID = "conformance"
	// goldenSeed and goldenRecords make the mapping subtest's tenant.
	goldenSeed    = 1
	goldenRecords = 20
	// malformedRecords is how many records the malformed subtest has served malformed.
	malformedRecords = 8
	// exhaust is a fault count that outlasts every retry of every scope.
	exhaust = 1000
	// callTimeout bounds each call into the connector, so a hung connector fails its
	// subtest instead of the whole test binary.
	callTimeout = time.Minute
)

// goldenFetchedAt replaces FetchedAt in the mapping subtest, so the golden is stable.
var goldenFetchedAt = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// Run runs the conformance suite against the connector h describes, one subtest per
// behaviour, through the connector's public contract only: Type.NewSource with the
// tenant's settings, Source.Initiate, Test and Fetch, and Type.Normalizer.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if err := h.validate(); err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		name string
		run  func(*testing.T, *Harness)
	}{
		{"paging", testPaging},
		{"auth_failure", testAuthFailure},
		{"throttling", testThrottling},
		{"malformed_record", testMalformedRecord},
		{"empty_tenant", testEmptyTenant},
		{"mapping_golden", testMappingGolden},
		{"determinism", testDeterminism},
		{"concurrency", testConcurrency},
	} {
		t.Run(st.name, func(t *testing.T) { st.run(t, &h) })
	}
}

// testPaging: a tenant of several pages is fetched whole, each record once, each
// carrying who fetched it and when.
func testPaging(t *testing.T, h *Harness) {
	tn := h.Start(t, 7, 5*h.PageSize+3)
	exp := tn.Expected()
	if exp.Total() < 3*h.PageSize {
		t.Fatalf("harness: the paging tenant holds %d records, fewer than 3 pages of %d", exp.Total(), h.PageSize)
	}
	f := fetch(t, h.ready(t, tn), "conformance-paging")
	if f.err != nil {
		t.Fatalf("Fetch: %v", f.err)
	}
	p, _ := checkRecords(exp, h.instance(), f)
	p.report(t, "records")
	checkScopes(exp, f, model.OutcomeSucceeded).report(t, "FetchResult")
}

// testAuthFailure: a wrong secret fails Initiate or every check of Test as bad
// credentials, saying what to fix, with the vendor's status, and leaking no credential.
func testAuthFailure(t *testing.T, h *Harness) {
	tn := h.Start(t, 3, h.PageSize)
	exp := tn.Expected()
	src := h.newSource(t, tn.WrongCredentials())
	ctx := callContext(t)
	type failure struct {
		where string
		err   error
	}
	var failures []failure
	if err := src.Initiate(ctx); err != nil {
		failures = append(failures, failure{"Initiate", err})
	} else {
		checks := src.Test(ctx)
		for _, scope := range exp.Scopes {
			c, ok := checkOf(checks, scope)
			switch {
			case !ok:
				t.Errorf("Test made no check of scope %s", scope)
			case c.Err == nil:
				t.Errorf("Test: check %q of scope %s passed with a wrong secret", c.Name, scope)
			default:
				failures = append(failures, failure{fmt.Sprintf("Test, check %q of scope %s", c.Name, scope), c.Err})
			}
		}
	}
	for _, f := range failures {
		ce, p := checkError(f.err, connector.ClassCredentials, tn.Sensitive())
		if ce != nil && ce.StatusCode == 0 {
			p.add("no status code: the sync log shows the vendor's (e.g. status_code: 401)")
		}
		p.report(t, f.where)
	}
}

// testThrottling: throttling and server errors within the retries are invisible; beyond
// them the fetch fails with the class that says why.
func testThrottling(t *testing.T, h *Harness) {
	for _, tc := range []struct {
		name   string
		faults Faults
		class  connector.Class // empty: the fetch succeeds whole
		status func(int) bool
	}{
		{"throttled within the retries", Faults{Throttle: h.Retries}, "", nil},
		{"server errors within the retries", Faults{ServerError: h.Retries}, "", nil},
		{"throttled beyond the retries", Faults{Throttle: exhaust}, connector.ClassRateLimited,
			func(s int) bool { return s == 429 }},
		{"server errors beyond the retries", Faults{ServerError: exhaust}, connector.ClassVendorServer,
			func(s int) bool { return s >= 500 && s <= 599 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := h.Start(t, 5, 2*h.PageSize+1)
			src := h.ready(t, tn)
			exp := tn.Expected()
			tn.SetFaults(tc.faults)
			f := fetch(t, src, "conformance-throttling")
			if tc.class == "" {
				if f.err != nil {
					t.Fatalf("Fetch: %v; %+v must be retried away", f.err, tc.faults)
				}
				p, _ := checkRecords(exp, h.instance(), f)
				p.report(t, "records")
				checkScopes(exp, f, model.OutcomeSucceeded).report(t, "FetchResult")
				return
			}
			if f.err == nil {
				t.Fatalf("Fetch succeeded under %+v", tc.faults)
			}
			ce, p := checkError(f.err, tc.class, tn.Sensitive())
			if ce != nil && !tc.status(ce.StatusCode) {
				p.add("status code %d, want the vendor's", ce.StatusCode)
			}
			p.report(t, "Fetch error")
			checkScopes(exp, f, model.OutcomeFailed).report(t, "FetchResult")
		})
	}
}

// testMalformedRecord: malformed records are still emitted (the sync carries on), and
// the normalizer rejects exactly those, without panicking, and maps all the others.
func testMalformedRecord(t *testing.T, h *Harness) {
	tn := h.Start(t, 9, 3*h.PageSize+2*malformedRecords)
	src := h.ready(t, tn)
	tn.SetFaults(Faults{Malformed: malformedRecords})
	exp := tn.Expected()
	if exp.Malformed != malformedRecords {
		t.Fatalf("harness: the tenant serves %d malformed records, the suite asked for %d", exp.Malformed, malformedRecords)
	}
	f := fetch(t, src, "conformance-malformed")
	if f.err != nil {
		t.Fatalf("Fetch: %v; a malformed record must reach the normalizer, not fail the sync", f.err)
	}
	p, bad := checkRecords(exp, h.instance(), f)
	p.report(t, "records")
	checkScopes(exp, f, model.OutcomeSucceeded).report(t, "FetchResult")
	isBad := map[*model.RawRecord]bool{}
	for _, r := range bad {
		isBad[r] = true
	}
	n := h.Type.Normalizer
	var out connector.Normalized
	np := &problems{}
	for _, r := range f.records {
		where := fmt.Sprintf("%s %q of scope %s", r.Kind, r.VendorKey, r.Scope)
		assets, findings := len(out.Assets), len(out.Findings)
		err := normalizeOne(n, r, &out)
		switch {
		case errors.Is(err, errPanicked):
			np.add("%s: %v", where, err)
		case isBad[r] && err == nil:
			np.add("%s is malformed, yet Normalize mapped it: %.200s", where, r.Payload)
		case isBad[r]:
			checkRejected(np, where, err, &out, assets, findings)
		case err != nil:
			np.add("%s is well formed, yet Normalize rejected it: %v", where, err)
		default:
			checkMapped(np, r, &out, assets, findings)
		}
	}
	np.report(t, "Normalize")

	// Whatever else a vendor or a proxy may send: an error, never a panic.
	hp := &problems{}
	for _, r := range samplePerKind(f.records, isBad) {
		for _, hc := range []struct {
			name string
			edit func(r *model.RawRecord)
		}{
			{"nil payload", func(r *model.RawRecord) { r.Payload = nil }},
			{"empty payload", func(r *model.RawRecord) { r.Payload = []byte{} }},
			{"JSON null", func(r *model.RawRecord) { r.Payload = []byte("null") }},
			{"empty object", func(r *model.RawRecord) { r.Payload = []byte("{}") }},
			{"empty array", func(r *model.RawRecord) { r.Payload = []byte("[]") }},
			{"truncated", func(r *model.RawRecord) { r.Payload = r.Payload[:len(r.Payload)/2] }},
			{"HTML", func(r *model.RawRecord) { r.Payload = []byte("<html><body>502 Bad Gateway</body></html>") }},
			{"unknown kind", func(r *model.RawRecord) { r.Kind = "conformance-unknown-kind" }},
		} {
			c := *r
			c.Payload = bytes.Clone(r.Payload)
			hc.edit(&c)
			var out connector.Normalized
			err := normalizeOne(n, &c, &out)
			if err == nil {
				hp.add("%s %q with %s: mapped, want an error", r.Kind, r.VendorKey, hc.name)
				continue
			}
			checkRejected(hp, fmt.Sprintf("%s %q with %s", r.Kind, r.VendorKey, hc.name), err, &out, 0, 0)
		}
	}
	if err := normalizeOne(n, nil, &connector.Normalized{}); err == nil || errors.Is(err, errPanicked) {
		hp.add("a nil record: %v, want an error", err)
	}
	hp.report(t, "Normalize of hostile input")
}

// checkRejected checks a Normalize error: a message, no panic, out left as it was.
func checkRejected(p *problems, where string, err error, out *connector.Normalized, assets, findings int) {
	switch {
	case errors.Is(err, errPanicked):
		p.add("%s: %v", where, err)
	case strings.TrimSpace(err.Error()) == "":
		p.add("%s: rejected with an empty message (it is the dead letter's reason)", where)
	case len(out.Assets) != assets || len(out.Findings) != findings:
		p.add("%s: rejected, yet Normalize appended to its output", where)
	}
}

// samplePerKind returns the first well-formed record of each kind.
func samplePerKind(records []*model.RawRecord, bad map[*model.RawRecord]bool) []*model.RawRecord {
	seen := map[string]bool{}
	var out []*model.RawRecord
	for _, r := range records {
		if !bad[r] && !seen[r.Kind] {
			seen[r.Kind] = true
			out = append(out, r)
		}
	}
	return out
}

// testEmptyTenant: a tenant with no data passes Test, and a fetch succeeds on every
// scope with no record.
func testEmptyTenant(t *testing.T, h *Harness) {
	tn := h.Start(t, 1, 0)
	exp := tn.Expected()
	if exp.Total() != 0 {
		t.Fatalf("harness: the empty tenant holds %d records", exp.Total())
	}
	f := fetch(t, h.ready(t, tn), "conformance-empty")
	if f.err != nil {
		t.Fatalf("Fetch: %v", f.err)
	}
	if len(f.records) != 0 {
		t.Errorf("Fetch emitted %d records from an empty tenant", len(f.records))
	}
	if f.result.Skipped != 0 {
		t.Errorf("FetchResult says %d records were skipped from an empty tenant", f.result.Skipped)
	}
	checkScopes(exp, f, model.OutcomeSucceeded).report(t, "FetchResult")
}

// testMappingGolden: every record of a small seeded tenant normalizes to the assets and
// findings of the golden file.
func testMappingGolden(t *testing.T, h *Harness) {
	tn := h.Start(t, goldenSeed, goldenRecords)
	exp := tn.Expected()
	f := fetch(t, h.ready(t, tn), "conformance-golden")
	if f.err != nil {
		t.Fatalf("Fetch: %v", f.err)
	}
	p, _ := checkRecords(exp, h.instance(), f)
	p.report(t, "records")
	var out connector.Normalized
	np := &problems{}
	for _, r := range f.records {
		c := *r
		c.FetchedAt = goldenFetchedAt
		assets, findings := len(out.Assets), len(out.Findings)
		if err := normalizeOne(h.Type.Normalizer, &c, &out); err != nil {
			np.add("%s %q: %v", r.Kind, r.VendorKey, err)
			continue
		}
		checkMapped(np, &c, &out, assets, findings)
	}
	np.report(t, "Normalize")
	if !np.ok() || !p.ok() {
		return
	}
	got, err := goldenJSON(&out)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, h.Golden, got)
}

// testDeterminism: fetches of one seed, a second sync of the same Source and a fresh
// simulator alike, give the same records in the same order per scope, and the same
// normalized output apart from SyncID and FetchedAt.
func testDeterminism(t *testing.T, h *Harness) {
	n := 2*h.PageSize + 5
	a, b := h.Start(t, 11, n), h.Start(t, 11, n)
	srcA := h.ready(t, a)
	first := fetch(t, srcA, "conformance-determinism-1")
	// The fetcher runs Initiate before every sync of a Source.
	if err := srcA.Initiate(callContext(t)); err != nil {
		t.Fatalf("Initiate for a second sync: %v", err)
	}
	second := fetch(t, srcA, "conformance-determinism-2")
	fresh := fetch(t, h.ready(t, b), "conformance-determinism-3")
	for _, f := range []*fetched{first, second, fresh} {
		if f.err != nil {
			t.Fatalf("Fetch %s: %v", f.syncID, f.err)
		}
	}
	scopes := a.Expected().Scopes
	want := first.byScope()
	for _, c := range []struct {
		what string
		f    *fetched
	}{{"a second sync of the same Source", second}, {"a fresh simulator of the same seed", fresh}} {
		got := c.f.byScope()
		for _, scope := range scopes {
			if diff := diffRecords(want[scope], got[scope]); diff != "" {
				t.Errorf("%s, scope %s: %s", c.what, scope, diff)
				continue
			}
			wn, gn := mapScope(h.Type.Normalizer, want[scope]), mapScope(h.Type.Normalizer, got[scope])
			if !bytes.Equal(wn, gn) {
				t.Errorf("%s, scope %s: the same records normalize differently:\n got %.300s\nwant %.300s", c.what, scope, gn, wn)
			}
		}
	}
}

// diffRecords describes the first difference between two scopes' records, kind, key
// and payload, in order; "" when there is none.
func diffRecords(want, got []*model.RawRecord) string {
	for i := range min(len(want), len(got)) {
		w, g := want[i], got[i]
		if w.Kind != g.Kind || w.VendorKey != g.VendorKey || !bytes.Equal(w.Payload, g.Payload) {
			return fmt.Sprintf("record %d is %s %q (%.120s), want %s %q (%.120s)", i, g.Kind, g.VendorKey, g.Payload, w.Kind, w.VendorKey, w.Payload)
		}
	}
	if len(want) != len(got) {
		return fmt.Sprintf("%d records, want %d", len(got), len(want))
	}
	return ""
}

// mapped is one record's normalized output or error, as compared across runs.
type mapped struct {
	Kind, VendorKey string
	Out             connector.Normalized
	Err             string
}

// mapScope normalizes records in order, SyncID and FetchedAt blanked, and renders the
// outcome of each.
func mapScope(n connector.Normalizer, records []*model.RawRecord) []byte {
	out := make([]mapped, len(records))
	for i, r := range records {
		c := *r
		c.SyncID, c.FetchedAt = "", time.Time{}
		out[i] = mapped{Kind: r.Kind, VendorKey: r.VendorKey}
		if err := normalizeOne(n, &c, &out[i].Out); err != nil {
			out[i].Err = err.Error()
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return []byte(err.Error())
	}
	return b
}

// testConcurrency: one Normalizer used from several goroutines on the same records (some
// malformed) maps each exactly as it does alone, and never writes to a record.
func testConcurrency(t *testing.T, h *Harness) {
	tn := h.Start(t, 13, 2*h.PageSize+malformedRecords)
	src := h.ready(t, tn)
	tn.SetFaults(Faults{Malformed: 2})
	f := fetch(t, src, "conformance-concurrency")
	if f.err != nil {
		t.Fatalf("Fetch: %v", f.err)
	}
	n := h.Type.Normalizer
	render := func(r *model.RawRecord, out *connector.Normalized) []byte {
		out.Reset()
		m := mapped{Kind: r.Kind, VendorKey: r.VendorKey}
		if err := normalizeOne(n, r, out); err != nil {
			m.Err = err.Error()
		}
		// An empty output renders alike whether it is fresh (nil) or Reset (empty).
		if len(out.Assets) > 0 {
			m.Out.Assets = out.Assets
		}
		if len(out.Findings) > 0 {
			m.Out.Findings = out.Findings
		}
		b, err := json.Marshal(m)
		if err != nil {
			return []byte(err.Error())
		}
		return b
	}
	want := make([][]byte, len(f.records))
	var alone connector.Normalized
	for i, r := range f.records {
		want[i] = render(r, &alone)
	}
	const workers, rounds = 8, 3
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var out connector.Normalized // reused, as the normalizer service does
			for k := range rounds * len(f.records) {
				i := (k + w*len(f.records)/workers) % len(f.records)
				if got := render(f.records[i], &out); !bytes.Equal(got, want[i]) {
					t.Errorf("goroutine %d, record %d: concurrent output differs:\n got %.300s\nwant %.300s", w, i, got, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	for i, r := range f.records {
		if !bytes.Equal(r.Payload, f.payloads[i]) {
			t.Errorf("record %d (%s %q): Normalize wrote to the record's payload", i, r.Kind, r.VendorKey)
		}
	}
}

func (h *Harness) instance() connector.Instance {
	return connector.Instance{ID: connectorID, Name: "Conformance " + h.Type.Name, Type: h.Type.Name}
}

// newSource builds a Source from settings as the fetcher does, refusing unknown keys.
func (h *Harness) newSource(t *testing.T, settings string) connector.Source {
	t.Helper()
	decode := func(v any) error {
		dec := yaml.NewDecoder(strings.NewReader(settings))
		dec.KnownFields(true)
		return dec.Decode(v)
	}
	src, err := h.Type.NewSource(h.instance(), decode)
	if err != nil {
		t.Fatalf("NewSource: %v\nsettings:\n%s", err, settings)
	}
	if src == nil {
		t.Fatal("NewSource returned a nil Source and no error")
	}
	return src
}

// ready builds a Source from the tenant's settings and runs Initiate, then Test, which
// must pass with one check at least of every scope.
func (h *Harness) ready(t *testing.T, tn Tenant) connector.Source {
	t.Helper()
	src := h.newSource(t, tn.Settings())
	ctx := callContext(t)
	if err := src.Initiate(ctx); err != nil {
		t.Fatalf("Initiate: %v", err)
	}
	checks := src.Test(ctx)
	for _, scope := range tn.Expected().Scopes {
		if _, ok := checkOf(checks, scope); !ok {
			t.Errorf("Test made no check of scope %s", scope)
		}
	}
	for _, c := range checks {
		if c.Name == "" {
			t.Errorf("Test: a check of scope %s has no name", c.Scope)
		}
		if c.Err != nil {
			t.Fatalf("Test: check %q of scope %s: %v", c.Name, c.Scope, c.Err)
		}
	}
	return src
}

// checkOf returns the first check of scope.
func checkOf(checks []connector.Check, scope string) (connector.Check, bool) {
	for _, c := range checks {
		if c.Scope == scope {
			return c, true
		}
	}
	return connector.Check{}, false
}

// fetch runs one Full fetch, collecting every record emitted.
func fetch(t *testing.T, src connector.Source, syncID string) *fetched {
	t.Helper()
	f := &fetched{syncID: syncID}
	var mu sync.Mutex
	emit := func(r *model.RawRecord) error {
		if r == nil {
			return errors.New("conformance: emit got a nil record")
		}
		mu.Lock()
		defer mu.Unlock()
		f.records = append(f.records, r)
		f.payloads = append(f.payloads, bytes.Clone(r.Payload))
		return nil
	}
	f.start = time.Now()
	f.result, f.err = src.Fetch(callContext(t), connector.FetchRequest{SyncID: syncID, Type: model.SyncFull}, emit)
	f.end = time.Now()
	return f
}

func callContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}
