package connectortest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

// problems collects what a check found wrong, keeping the first few in full.
type problems struct {
	list []string
	more int
}

const maxProblems = 15

func (p *problems) add(format string, args ...any) {
	if len(p.list) < maxProblems {
		p.list = append(p.list, fmt.Sprintf(format, args...))
		return
	}
	p.more++
}

func (p *problems) ok() bool { return len(p.list) == 0 }

// report fails t with every problem, each prefixed by what was checked.
func (p *problems) report(t *testing.T, what string) {
	t.Helper()
	for _, s := range p.list {
		t.Errorf("%s: %s", what, s)
	}
	if p.more > 0 {
		t.Errorf("%s: and %d more problems", what, p.more)
	}
}

// fetched is the outcome of one Fetch.
type fetched struct {
	syncID  string
	records []*model.RawRecord // in emit order
	// payloads are the records' payloads copied when emitted: emit owns a record, so
	// Fetch must not write to its buffer afterwards.
	payloads   [][]byte
	result     connector.FetchResult
	err        error
	start, end time.Time
}

// byScope groups f's records by scope, each in emit order (vendor order).
func (f *fetched) byScope() map[string][]*model.RawRecord {
	out := map[string][]*model.RawRecord{}
	for _, r := range f.records {
		out[r.Scope] = append(out[r.Scope], r)
	}
	return out
}

type recordKey struct{ kind, vendorKey string }

// clockSlack allows for a connector that truncates FetchedAt (to the second, say).
const clockSlack = time.Second

// checkRecords checks f's records against exp: who fetched them and when, that each
// expected record came exactly once, and that no payload changed after emit. It returns
// the records whose key exp does not list (the malformed ones, when exp has any).
func checkRecords(exp Expected, inst connector.Instance, f *fetched) (*problems, []*model.RawRecord) {
	p := &problems{}
	want := map[recordKey]int{}
	for kind, keys := range exp.Keys {
		for _, k := range keys {
			want[recordKey{kind, k}] = 0
		}
	}
	var unexpected []*model.RawRecord
	for i, r := range f.records {
		where := fmt.Sprintf("record %d (%s %q, scope %q)", i, r.Kind, r.VendorKey, r.Scope)
		switch {
		case r.SyncID != f.syncID:
			p.add("%s: SyncID %q, want %q", where, r.SyncID, f.syncID)
		case r.ConnectorID != inst.ID:
			p.add("%s: ConnectorID %q, want %q", where, r.ConnectorID, inst.ID)
		case r.ConnectorType != inst.Type:
			p.add("%s: ConnectorType %q, want %q", where, r.ConnectorType, inst.Type)
		case !slices.Contains(exp.Scopes, r.Scope):
			p.add("%s: scope not among the configured scopes %q", where, exp.Scopes)
		case r.FetchedAt.IsZero():
			p.add("%s: FetchedAt is zero", where)
		case r.FetchedAt.Before(f.start.Add(-clockSlack)) || r.FetchedAt.After(f.end.Add(clockSlack)):
			p.add("%s: FetchedAt %s is outside the fetch (%s to %s)", where, r.FetchedAt, f.start, f.end)
		case len(r.Payload) == 0:
			p.add("%s: empty payload", where)
		case !bytes.Equal(r.Payload, f.payloads[i]):
			p.add("%s: payload changed after emit returned (Fetch must not reuse the buffer)", where)
		}
		k := recordKey{r.Kind, r.VendorKey}
		n, ok := want[k]
		if !ok {
			unexpected = append(unexpected, r)
			continue
		}
		if n == 1 {
			p.add("%s: emitted more than once", where)
		}
		want[k] = n + 1
	}
	var missing []string
	for k, n := range want {
		if n == 0 {
			missing = append(missing, k.kind+" "+k.vendorKey)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		p.add("%d of %d expected records not fetched, e.g. %q", len(missing), len(want), missing[:min(3, len(missing))])
	}
	if len(unexpected) != exp.Malformed {
		var keys []string
		for _, r := range unexpected[:min(3, len(unexpected))] {
			keys = append(keys, r.Kind+" "+r.VendorKey)
		}
		p.add("%d records the tenant does not list (e.g. %q), want %d (the malformed ones)", len(unexpected), keys, exp.Malformed)
	}
	return p, unexpected
}

// checkScopes checks that res reports every scope of exp, in configuration order, with
// outcome want and (when it succeeded) the number of records emitted for it.
func checkScopes(exp Expected, f *fetched, want model.Outcome) *problems {
	p := &problems{}
	var got []string
	for _, s := range f.result.Scopes {
		got = append(got, s.Scope)
	}
	if !slices.Equal(got, exp.Scopes) {
		p.add("FetchResult reports scopes %q, want %q in configuration order", got, exp.Scopes)
		return p
	}
	emitted := map[string]int64{}
	for _, r := range f.records {
		emitted[r.Scope]++
	}
	for _, s := range f.result.Scopes {
		if s.Outcome != want {
			p.add("scope %s: outcome %q, want %q", s.Scope, s.Outcome, want)
		}
		if s.Records != emitted[s.Scope] {
			p.add("scope %s: FetchResult says %d records, %d were emitted", s.Scope, s.Records, emitted[s.Scope])
		}
	}
	return p
}

// credentialHeaders may carry credentials; in an error they must read [redacted].
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "X-Amz-Security-Token", "Cookie", "Set-Cookie", "X-Xdr-Auth-Id", "X-Xdr-Nonce"}

// checkError checks that err is a *connector.Error with a message and an action, of
// class want, and that no sensitive string shows anywhere a person could read it.
func checkError(err error, want connector.Class, sensitive []string) (*connector.Error, *problems) {
	p := &problems{}
	var ce *connector.Error
	if !errors.As(err, &ce) {
		p.add("error %v (%T) is not a *connector.Error", err, err)
		return nil, p
	}
	if ce.Class != want {
		p.add("class %q, want %q (%v)", ce.Class, want, ce)
	}
	if strings.TrimSpace(ce.Message) == "" {
		p.add("empty Message")
	}
	if strings.TrimSpace(ce.Action) == "" {
		p.add("empty Action: the error must say what to check")
	}
	checkLeaks(p, ce, sensitive)
	return ce, p
}

// checkLeaks adds a problem for each sensitive string in ce's text, cause, headers or
// payload, and for each credential-bearing header that is not redacted.
func checkLeaks(p *problems, ce *connector.Error, sensitive []string) {
	surfaces := [][2]string{{"Error()", ce.Error()}, {"Message", ce.Message}, {"Action", ce.Action}, {"payload", string(ce.Payload)}}
	if ce.Cause != nil {
		surfaces = append(surfaces, [2]string{"cause", ce.Cause.Error()}, [2]string{"root cause", connector.RootCause(ce.Cause).Error()})
	}
	for name, values := range ce.Headers {
		surfaces = append(surfaces, [2]string{"header " + name, name + ": " + strings.Join(values, ", ")})
		for _, h := range credentialHeaders {
			if strings.EqualFold(name, h) && slices.ContainsFunc(values, func(v string) bool { return v != "[redacted]" }) {
				p.add("header %s is not redacted", name)
			}
		}
	}
	for _, s := range sensitive {
		if s == "" {
			continue
		}
		for _, sf := range surfaces {
			if strings.Contains(sf[1], s) {
				p.add("the %s holds a credential (%s)", sf[0], clip(s))
			}
		}
	}
}

// clip names a credential in a failure message without printing it whole.
func clip(s string) string {
	if len(s) <= 8 {
		return fmt.Sprintf("%d characters", len(s))
	}
	return fmt.Sprintf("%q…, %d characters", s[:4], len(s))
}

// normalizeOne normalizes raw into out, turning a panic into an error saying so.
func normalizeOne(n connector.Normalizer, raw *model.RawRecord, out *connector.Normalized) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanicked, r)
		}
	}()
	return n.Normalize(raw, out)
}

var errPanicked = errors.New("the normalizer panicked")

// checkMapped checks what Normalize appended for raw (out.Assets[assets:],
// out.Findings[findings:]): something, carrying raw's provenance, each with a unique
// id and a name an analyst can read.
func checkMapped(p *problems, raw *model.RawRecord, out *connector.Normalized, assets, findings int) {
	where := fmt.Sprintf("%s %q", raw.Kind, raw.VendorKey)
	if len(out.Assets) == assets && len(out.Findings) == findings {
		p.add("%s: normalized to nothing, without an error", where)
	}
	prov := func(what, connectorID, connectorType, syncID, scope string, fetchedAt time.Time) {
		if connectorID != raw.ConnectorID || connectorType != raw.ConnectorType || syncID != raw.SyncID || scope != raw.Scope || !fetchedAt.Equal(raw.FetchedAt) {
			p.add("%s: %s carries (%q, %q, %q, %q, %s), want the record's (%q, %q, %q, %q, %s)", where, what,
				connectorID, connectorType, syncID, scope, fetchedAt, raw.ConnectorID, raw.ConnectorType, raw.SyncID, raw.Scope, raw.FetchedAt)
		}
	}
	for _, a := range out.Assets[assets:] {
		what := fmt.Sprintf("asset %q", a.UID)
		prov(what, a.ConnectorID, a.ConnectorType, a.SyncID, a.Scope, a.FetchedAt)
		switch {
		case a.UID == "":
			p.add("%s: an asset has no UID", where)
		case a.Name == "":
			p.add("%s: %s has no name", where, what)
		case a.Class != model.ClassDevice && a.Class != model.ClassContainer && a.Class != model.ClassResource:
			p.add("%s: %s has class %q, not Device, Container or Resource", where, what, a.Class)
		}
	}
	for _, fd := range out.Findings[findings:] {
		what := fmt.Sprintf("finding %q", fd.UID)
		prov(what, fd.ConnectorID, fd.ConnectorType, fd.SyncID, fd.Scope, fd.FetchedAt)
		switch {
		case fd.UID == "":
			p.add("%s: a finding has no UID", where)
		case fd.Name == "":
			p.add("%s: %s has no name", where, what)
		}
	}
}
