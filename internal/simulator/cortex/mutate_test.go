package cortex_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/cortex"
)

// mutCfg is a tenant whose XQL results all come inline.
func mutCfg(seed int64) cortex.Config {
	return cortex.Config{Seed: seed, Endpoints: 150, InlineRows: 100_000, PendingPolls: -1, QueryQuota: 1000}
}

// tenantView is what a tenant serves, read back over the API.
type tenantView struct {
	ids     []string                   // endpoint ids in default order
	raw     map[string]json.RawMessage // endpoints by id, as served
	eps     map[string]cortex.Endpoint
	cveRaw  []json.RawMessage // va_cves rows after arrayexpand, as served
	cves    []cortex.CVERow
	vaEPs   []cortex.VAEndpointRow
	vaEPRaw []json.RawMessage
}

// queryRows runs an XQL query and returns its rows as served inline.
func (e *env) queryRows(q string) []json.RawMessage {
	e.t.Helper()
	r, _ := e.poll(e.startQuery(q), 0)
	if r.Reply.Status != cortex.StatusSuccess || r.Reply.Results == nil || r.Reply.Results.StreamID != "" {
		e.t.Fatalf("query %q: %+v", q, r.Reply)
	}
	return r.Reply.Results.Data
}

func (e *env) view() *tenantView {
	e.t.Helper()
	v := &tenantView{raw: map[string]json.RawMessage{}, eps: map[string]cortex.Endpoint{}}
	for from := 0; ; from += 100 {
		p, status, body := e.getEndpoint(cortex.PathGetEndpoint, map[string]any{"search_from": from, "search_to": from + 100})
		if status != http.StatusOK {
			e.t.Fatalf("get_endpoint: %d %s", status, body)
		}
		for _, raw := range p.Reply.Endpoints {
			var ep cortex.Endpoint
			if err := json.Unmarshal(raw, &ep); err != nil {
				e.t.Fatalf("decoding endpoint: %v\n%s", err, raw)
			}
			v.ids = append(v.ids, ep.EndpointID)
			v.raw[ep.EndpointID], v.eps[ep.EndpointID] = raw, ep
		}
		if from+100 >= *p.Reply.TotalCount {
			break
		}
	}
	v.cveRaw = e.queryRows("dataset = va_cves | arrayexpand affected_hosts")
	for _, raw := range v.cveRaw {
		var r cortex.CVERow
		if err := json.Unmarshal(raw, &r); err != nil {
			e.t.Fatal(err)
		}
		v.cves = append(v.cves, r)
	}
	v.vaEPRaw = e.queryRows("dataset = va_endpoints")
	for _, raw := range v.vaEPRaw {
		var r cortex.VAEndpointRow
		if err := json.Unmarshal(raw, &r); err != nil {
			e.t.Fatal(err)
		}
		v.vaEPs = append(v.vaEPs, r)
	}
	return v
}

// hostCVEs returns the (host, CVE) pairs of the va_cves rows, and the raw rows by CVE.
func (v *tenantView) hostCVEs() (map[cortex.HostCVE]bool, map[string][]json.RawMessage) {
	pairs, byCVE := map[cortex.HostCVE]bool{}, map[string][]json.RawMessage{}
	for i, r := range v.cves {
		pairs[cortex.HostCVE{Host: r.AffectedHosts, CVE: r.CVEID}] = true
		byCVE[r.CVEID] = append(byCVE[r.CVEID], v.cveRaw[i])
	}
	return pairs, byCVE
}

// model is the tenant as a test sees it: endpoints in order with their names and CVEs.
type model struct {
	ids   []string
	names map[string]string
	cves  map[string][]string
}

func (v *tenantView) model() *model {
	m := &model{ids: slices.Clone(v.ids), names: map[string]string{}, cves: map[string][]string{}}
	for _, id := range v.ids {
		m.names[id] = v.eps[id].EndpointName
	}
	for _, r := range v.vaEPs {
		m.cves[r.EndpointID] = slices.Clone(r.CVEs)
	}
	return m
}

// apply applies the CVE and removal parts of a mutation the way Mutation documents them.
func (m *model) apply(mu cortex.Mutation) {
	for _, r := range mu.FixCVE {
		for _, id := range m.ids {
			if m.names[id] == r.Host {
				m.cves[id] = slices.DeleteFunc(m.cves[id], func(c string) bool { return c == r.CVE })
			}
		}
	}
	for _, r := range mu.AddCVE {
		for _, id := range m.ids {
			if m.names[id] == r.Host {
				m.cves[id] = append(m.cves[id], r.CVE)
				break
			}
		}
	}
	m.ids = slices.DeleteFunc(m.ids, func(id string) bool { return slices.Contains(mu.Remove, id) })
}

// pairs returns the va_cves (host, CVE) pairs the model has.
func (m *model) pairs() map[cortex.HostCVE]bool {
	out := map[cortex.HostCVE]bool{}
	for _, id := range m.ids {
		for _, c := range m.cves[id] {
			out[cortex.HostCVE{Host: m.names[id], CVE: c}] = true
		}
	}
	return out
}

func rawEqual(a, b json.RawMessage) bool { return bytes.Equal(a, b) }

// changedFields returns the members whose value differs between two endpoints' JSON.
func changedFields(t testing.TB, a, b json.RawMessage) []string {
	t.Helper()
	var x, y map[string]json.RawMessage
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range x {
		if !bytes.Equal(x[k], y[k]) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// reconnectFields may change when an endpoint reports again: they follow last_seen.
var reconnectFields = []string{"content_release_timestamp", "content_status", "content_version", "endpoint_status",
	"endpoint_version", "isolated_date", "last_content_update_time", "last_seen"}

// checkTenant checks that the tenant serves what the simulator's accessors return, that
// va_cves and va_endpoints follow its endpoints and their CVEs, and that want holds.
func checkTenant(t *testing.T, e *env, before *tenantView, mu cortex.Mutation, now time.Time, status map[string]string) *tenantView {
	t.Helper()
	after := e.view()
	// Served = accessors.
	if want := e.sim.Endpoints(); len(want) != len(after.ids) {
		t.Fatalf("served %d endpoints, Endpoints() has %d", len(after.ids), len(want))
	} else {
		for i, ep := range want {
			if !reflect.DeepEqual(after.eps[after.ids[i]], ep) {
				t.Fatalf("endpoint %d served differs from Endpoints():\n%+v\n%+v", i, after.eps[after.ids[i]], ep)
			}
		}
	}
	if !reflect.DeepEqual(after.cves, e.sim.CVERows()) {
		t.Errorf("va_cves served (%d rows) differs from CVERows() (%d rows)", len(after.cves), len(e.sim.CVERows()))
	}
	if !reflect.DeepEqual(after.vaEPs, e.sim.VAEndpointRows()) {
		t.Errorf("va_endpoints served differs from VAEndpointRows()")
	}

	// Endpoints: removed ones gone, set ones changed as documented, the rest byte-identical.
	m := before.model()
	m.apply(mu)
	if !slices.Equal(after.ids, m.ids) {
		t.Errorf("endpoints served %d, want %d in the same order", len(after.ids), len(m.ids))
	}
	for _, id := range after.ids {
		old, raw := before.raw[id], after.raw[id]
		st, set := status[id]
		switch ep := after.eps[id]; {
		case !set:
			if !bytes.Equal(old, raw) {
				t.Errorf("endpoint %s changed: %v", id, changedFields(t, old, raw))
			}
		case st == "CONNECTED":
			if ep.EndpointStatus != st || ep.LastSeen != now.UnixMilli() {
				t.Errorf("endpoint %s: status %s last_seen %d, want %s %d", id, ep.EndpointStatus, ep.LastSeen, st, now.UnixMilli())
			}
			for _, f := range changedFields(t, old, raw) {
				if !slices.Contains(reconnectFields, f) {
					t.Errorf("endpoint %s reconnecting changed %s", id, f)
				}
			}
		default:
			if ep.EndpointStatus != st || ep.LastSeen != before.eps[id].LastSeen {
				t.Errorf("endpoint %s: status %s last_seen %d, want %s and last_seen kept", id, ep.EndpointStatus, ep.LastSeen, st)
			}
			for _, f := range changedFields(t, old, raw) {
				if f != "endpoint_status" && f != "content_status" {
					t.Errorf("endpoint %s set %s changed %s", id, st, f)
				}
			}
		}
	}

	// va_cves: the (host, CVE) pairs of the endpoints left; rows of a CVE whose hosts did
	// not change are byte-identical; rows stay in catalog order, hosts in endpoint order.
	got, afterByCVE := after.hostCVEs()
	if want := m.pairs(); !maps.Equal(got, want) {
		for p := range want {
			if !got[p] {
				t.Errorf("va_cves lacks %v", p)
			}
		}
		for p := range got {
			if !want[p] {
				t.Errorf("va_cves has %v", p)
			}
		}
	}
	_, beforeByCVE := before.hostCVEs()
	hosts := func(v *tenantView, cve string) []string {
		var out []string
		for _, r := range v.cves {
			if r.CVEID == cve {
				out = append(out, r.AffectedHosts)
			}
		}
		return out
	}
	for cve, rows := range afterByCVE {
		old := beforeByCVE[cve]
		if !slices.Equal(hosts(before, cve), hosts(after, cve)) {
			continue // its hosts changed
		}
		for i := range rows {
			if !bytes.Equal(rows[i], old[i]) {
				t.Errorf("va_cves row of %s changed though its hosts did not:\n%s\n%s", cve, old[i], rows[i])
			}
		}
	}
	for _, r := range after.cves {
		if n := len(afterByCVE[r.CVEID]); r.AffectedHostsCount != n {
			t.Errorf("%s: affected_hosts_count %d, %d rows", r.CVEID, r.AffectedHostsCount, n)
		}
	}
	// va_endpoints: one row per endpoint left with CVEs, its CVEs in order.
	var wantEPs []string
	for _, id := range m.ids {
		if len(m.cves[id]) > 0 {
			wantEPs = append(wantEPs, id)
		}
	}
	var gotEPs []string
	for _, r := range after.vaEPs {
		gotEPs = append(gotEPs, r.EndpointID)
		if !slices.Equal(r.CVEs, m.cves[r.EndpointID]) {
			t.Errorf("va_endpoints %s: cves %v, want %v", r.EndpointID, r.CVEs, m.cves[r.EndpointID])
		}
	}
	if !slices.Equal(gotEPs, wantEPs) {
		t.Errorf("va_endpoints rows %v, want %v", gotEPs, wantEPs)
	}

	// Filters see the mutated tenant: by status, and last_seen from the mutation on (what
	// reported since) gets exactly the endpoints set CONNECTED.
	for _, st := range []string{"connected", "lost"} {
		listed, _ := e.listAll(cortex.PathGetEndpoint, []map[string]any{filter("endpoint_status", "in", []string{st})}, nil)
		var want []string
		for _, id := range after.ids {
			if strings.EqualFold(after.eps[id].EndpointStatus, st) {
				want = append(want, id)
			}
		}
		var gotIDs []string
		for _, ep := range listed {
			gotIDs = append(gotIDs, ep.EndpointID)
		}
		if !slices.Equal(gotIDs, want) {
			t.Errorf("endpoint_status in [%s]: %d endpoints, want %d", st, len(gotIDs), len(want))
		}
	}
	listed, _ := e.listAll(cortex.PathGetEndpoint, []map[string]any{filter("last_seen", "gte", now.UnixMilli())}, nil)
	var since, wantSince []string
	for _, ep := range listed {
		since = append(since, ep.EndpointID)
	}
	for _, id := range after.ids {
		if status[id] == "CONNECTED" {
			wantSince = append(wantSince, id)
		}
	}
	if !slices.Equal(since, wantSince) {
		t.Errorf("last_seen gte now: %v, want %v", since, wantSince)
	}
	return after
}

// withCVEs returns the ids of endpoints (after the first skip) that have CVEs.
func (v *tenantView) withCVEs() []string {
	var out []string
	for _, r := range v.vaEPs {
		out = append(out, r.EndpointID)
	}
	return out
}

func TestMutate(t *testing.T) {
	now := cortex.DefaultNow.Add(30*time.Hour + 7*time.Millisecond)
	tests := []struct {
		name  string
		build func(b *tenantView) (cortex.Mutation, map[string]string) // the mutation, and the statuses it sets
	}{
		{"status", func(b *tenantView) (cortex.Mutation, map[string]string) {
			// Endpoints 0-3 are CONNECTED, DISCONNECTED, LOST and UNINSTALLED.
			ids := b.ids
			return cortex.Mutation{SetStatus: map[string]string{ids[0]: "LOST", ids[1]: "connected", ids[2]: "Connected", ids[3]: "DISCONNECTED"}},
				map[string]string{ids[0]: "LOST", ids[1]: "CONNECTED", ids[2]: "CONNECTED", ids[3]: "DISCONNECTED"}
		}},
		{"heartbeat", func(b *tenantView) (cortex.Mutation, map[string]string) {
			return cortex.Mutation{SetStatus: map[string]string{b.ids[0]: "CONNECTED", b.ids[5]: "CONNECTED"}},
				map[string]string{b.ids[0]: "CONNECTED", b.ids[5]: "CONNECTED"}
		}},
		{"status already set", func(b *tenantView) (cortex.Mutation, map[string]string) {
			return cortex.Mutation{SetStatus: map[string]string{b.ids[2]: "LOST", b.ids[3]: "uninstalled"}}, nil
		}},
		{"remove one of two sharing a name", func(b *tenantView) (cortex.Mutation, map[string]string) {
			// Endpoint 5 is the agent reinstalled on endpoint 2: the name stays where 5 has the CVE.
			return cortex.Mutation{Remove: []string{b.ids[2]}}, nil
		}},
		{"remove both sharing a name", func(b *tenantView) (cortex.Mutation, map[string]string) {
			return cortex.Mutation{Remove: []string{b.ids[2], b.ids[5], b.ids[len(b.ids)-1]}}, nil
		}},
		{"fix CVEs", func(b *tenantView) (cortex.Mutation, map[string]string) {
			var fix []cortex.HostCVE
			for _, id := range b.withCVEs()[:3] {
				r := b.model()
				fix = append(fix, cortex.HostCVE{Host: r.names[id], CVE: r.cves[id][0]})
			}
			// A name two endpoints share, whichever of them has the CVE.
			if cves := b.model().cves[b.ids[5]]; len(cves) > 0 {
				fix = append(fix, cortex.HostCVE{Host: b.eps[b.ids[5]].EndpointName, CVE: cves[len(cves)-1]})
			}
			return cortex.Mutation{FixCVE: fix}, nil
		}},
		{"add CVEs", func(b *tenantView) (cortex.Mutation, map[string]string) {
			m := b.model()
			var add []cortex.HostCVE
			for _, id := range []string{b.ids[0], b.ids[5], b.ids[40]} {
				name := m.names[id]
				pairs := m.pairs()
				for _, r := range b.cves {
					if !pairs[cortex.HostCVE{Host: name, CVE: r.CVEID}] {
						add = append(add, cortex.HostCVE{Host: name, CVE: r.CVEID})
						break
					}
				}
			}
			return cortex.Mutation{AddCVE: add}, nil
		}},
		{"everything at once", func(b *tenantView) (cortex.Mutation, map[string]string) {
			m := b.model()
			ids := b.withCVEs()
			return cortex.Mutation{
					SetStatus: map[string]string{b.ids[0]: "DISCONNECTED", b.ids[2]: "CONNECTED"},
					Remove:    []string{b.ids[5], ids[4]},
					FixCVE:    []cortex.HostCVE{{Host: m.names[ids[6]], CVE: m.cves[ids[6]][0]}},
					AddCVE:    []cortex.HostCVE{{Host: m.names[ids[7]], CVE: m.cves[ids[6]][0]}},
				},
				map[string]string{b.ids[0]: "DISCONNECTED", b.ids[2]: "CONNECTED"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, mutCfg(31))
			before := e.view()
			m, status := tt.build(before)
			m.Now = now
			if err := e.sim.Mutate(m); err != nil {
				t.Fatalf("mutating: %v", err)
			}
			checkTenant(t, e, before, m, now, status)
		})
	}
}

// TestMutateRemoveSharedName removes, one after the other, two endpoints that share a name
// and a CVE: the row of that host and CVE stays until neither is left.
func TestMutateRemoveSharedName(t *testing.T) {
	var e *env
	var first, second string
	var row cortex.HostCVE
	for seed := int64(1); seed < 100 && first == ""; seed++ {
		e = newEnv(t, mutCfg(seed))
		m := e.view().model()
		for i, a := range m.ids {
			for _, b := range m.ids[i+1:] {
				if m.names[a] != m.names[b] || first != "" {
					continue
				}
				for _, c := range m.cves[a] {
					if slices.Contains(m.cves[b], c) && first == "" {
						first, second, row = a, b, cortex.HostCVE{Host: m.names[a], CVE: c}
					}
				}
			}
		}
	}
	if first == "" {
		t.Fatal("no tenant has two endpoints sharing a name and a CVE")
	}
	for k, id := range []string{first, second} {
		before := e.view()
		mu := cortex.Mutation{Remove: []string{id}, Now: cortex.DefaultNow.Add(time.Duration(k+1) * time.Hour)}
		if err := e.sim.Mutate(mu); err != nil {
			t.Fatal(err)
		}
		after := checkTenant(t, e, before, mu, mu.Now, nil)
		pairs, _ := after.hostCVEs()
		if pairs[row] != (k == 0) {
			t.Errorf("after removing %d of the two endpoints named %s, va_cves has %s on it: %v", k+1, row.Host, row.CVE, pairs[row])
		}
	}
}

func TestMutateRestore(t *testing.T) {
	e := newEnv(t, mutCfg(32))
	orig := e.view()
	gone := []string{orig.ids[2], orig.ids[9]}
	if err := e.sim.Mutate(cortex.Mutation{Remove: gone}); err != nil {
		t.Fatal(err)
	}
	checkTenant(t, e, orig, cortex.Mutation{Remove: gone}, cortex.DefaultNow.Add(time.Hour), nil)
	for _, m := range []cortex.Mutation{{Remove: gone[:1]}, {SetStatus: map[string]string{gone[1]: "LOST"}}, {Restore: orig.ids[:1]}, {Restore: gone[:1], Remove: gone[:1]}} {
		if err := e.sim.Mutate(m); err == nil {
			t.Errorf("%+v: no error", m)
		}
	}
	// Back as they were: the tenant serves what it served before the removal, byte for byte.
	if err := e.sim.Mutate(cortex.Mutation{Restore: gone}); err != nil {
		t.Fatal(err)
	}
	back := e.view()
	if !slices.Equal(back.ids, orig.ids) {
		t.Fatalf("endpoints after restoring differ in order or number")
	}
	for id, raw := range orig.raw {
		if !bytes.Equal(raw, back.raw[id]) {
			t.Errorf("endpoint %s came back different", id)
		}
	}
	if !slices.EqualFunc(back.cveRaw, orig.cveRaw, rawEqual) || !slices.EqualFunc(back.vaEPRaw, orig.vaEPRaw, rawEqual) {
		t.Errorf("vulnerability rows after restoring differ from the original ones")
	}

	// A fixed CVE comes back on the host.
	m := orig.model()
	id := orig.withCVEs()[0]
	row := cortex.HostCVE{Host: m.names[id], CVE: m.cves[id][0]}
	for _, mu := range []cortex.Mutation{{FixCVE: []cortex.HostCVE{row}}, {AddCVE: []cortex.HostCVE{row}}} {
		if err := e.sim.Mutate(mu); err != nil {
			t.Fatal(err)
		}
		pairs, _ := e.view().hostCVEs()
		if pairs[row] != (mu.AddCVE != nil) {
			t.Errorf("after %+v: va_cves has %v: %v", mu, row, pairs[row])
		}
	}
}

func TestMutateErrors(t *testing.T) {
	e := newEnv(t, mutCfg(33))
	before := e.view()
	m := before.model()
	id := before.withCVEs()[0]
	name, cve := m.names[id], m.cves[id][0]
	var lacking string
	for _, r := range before.cves {
		if !slices.Contains(m.cves[id], r.CVEID) && r.AffectedHosts != name {
			lacking = r.CVEID
		}
	}
	unknown := "00000000000000000000000000000000"
	tests := []struct {
		name string
		m    cortex.Mutation
		want []string
	}{
		{"unknown endpoint status", cortex.Mutation{SetStatus: map[string]string{unknown: "LOST"}}, []string{"unknown endpoint " + unknown}},
		{"bad status", cortex.Mutation{SetStatus: map[string]string{id: "GONE"}}, []string{`status "GONE"`, "CONNECTED, DISCONNECTED, LOST, UNINSTALLED"}},
		{"unknown removal", cortex.Mutation{Remove: []string{unknown}}, []string{"unknown endpoint " + unknown}},
		{"unknown restore", cortex.Mutation{Restore: []string{unknown}}, []string{"unknown endpoint " + unknown}},
		{"restore a served endpoint", cortex.Mutation{Restore: []string{id}}, []string{"endpoint " + id + " is served"}},
		{"unknown host", cortex.Mutation{FixCVE: []cortex.HostCVE{{Host: "NO-SUCH-HOST", CVE: cve}}}, []string{"unknown host NO-SUCH-HOST"}},
		{"unknown CVE", cortex.Mutation{AddCVE: []cortex.HostCVE{{Host: name, CVE: "CVE-1999-0001"}}}, []string{"unknown CVE CVE-1999-0001"}},
		{"fix a row va_cves lacks", cortex.Mutation{FixCVE: []cortex.HostCVE{{Host: name, CVE: lacking}}}, []string{"host " + name + " does not have " + lacking}},
		{"add a row va_cves has", cortex.Mutation{AddCVE: []cortex.HostCVE{{Host: name, CVE: cve}}}, []string{"host " + name + " already has " + cve}},
		{"every problem", cortex.Mutation{Remove: []string{unknown}, FixCVE: []cortex.HostCVE{{Host: "x", CVE: cve}}}, []string{unknown, "unknown host x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.sim.Mutate(tt.m)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			after := e.view()
			if !maps.EqualFunc(after.raw, before.raw, rawEqual) || !slices.EqualFunc(after.cveRaw, before.cveRaw, rawEqual) {
				t.Errorf("a failed mutation changed the tenant")
			}
		})
	}
}

func TestMutateDeterminism(t *testing.T) {
	run := func() []byte {
		e := newEnv(t, mutCfg(34))
		b := e.view()
		m := b.model()
		ids := b.withCVEs()
		for _, mu := range []cortex.Mutation{
			{SetStatus: map[string]string{b.ids[1]: "CONNECTED", b.ids[0]: "LOST"}, Remove: ids[3:5]},
			{FixCVE: []cortex.HostCVE{{Host: m.names[ids[6]], CVE: m.cves[ids[6]][0]}}, SetStatus: map[string]string{b.ids[7]: "connected"}},
			{Restore: ids[3:4], AddCVE: []cortex.HostCVE{{Host: m.names[ids[8]], CVE: m.cves[ids[6]][0]}}},
		} {
			if err := e.sim.Mutate(mu); err != nil {
				t.Fatal(err)
			}
		}
		v := e.view()
		var out bytes.Buffer
		for _, id := range v.ids {
			out.Write(v.raw[id])
		}
		for _, r := range append(v.cveRaw, v.vaEPRaw...) {
			out.Write(r)
		}
		// The last mutation happened two hours after Config.Now: endpoint 7 reported at the second.
		if got, want := v.eps[b.ids[7]].LastSeen, cortex.DefaultNow.Add(2*time.Hour).UnixMilli(); got != want {
			t.Errorf("last_seen %d, want %d", got, want)
		}
		return out.Bytes()
	}
	if a, b := run(), run(); !bytes.Equal(a, b) {
		t.Errorf("the same mutations of the same tenant serve different bytes")
	}
}

func TestMutateKeepsMalformed(t *testing.T) {
	e := newEnv(t, mutCfg(35))
	e.sim.SetFaults(cortex.Faults{Malformed: 8})
	ids := e.sim.MalformedIDs()
	if err := e.sim.Mutate(cortex.Mutation{Remove: ids[:2], SetStatus: map[string]string{ids[2]: "LOST"}}); err != nil {
		t.Fatal(err)
	}
	if got := e.sim.MalformedIDs(); !slices.Equal(got, ids[2:]) {
		t.Errorf("MalformedIDs after the mutation %v, want %v", got, ids[2:])
	}
	all := e.sim.Endpoints()
	broken := 0
	for from := 0; from < len(all); from += 100 {
		p, _, _ := e.getEndpoint(cortex.PathGetEndpoint, map[string]any{"search_from": from, "search_to": from + 100})
		for k, raw := range p.Reply.Endpoints {
			good, err := json.Marshal(all[from+k])
			if err != nil {
				t.Fatal(err)
			}
			isMal := slices.Contains(ids[2:], all[from+k].EndpointID)
			if isMal == bytes.Equal(raw, good) {
				t.Errorf("endpoint %s: malformed %v, but served %s", all[from+k].EndpointID, isMal, raw)
			}
			if isMal {
				broken++
			}
		}
	}
	if broken != 6 {
		t.Errorf("%d malformed endpoints served, want 6", broken)
	}
	e.sim.SetFaults(cortex.Faults{Malformed: 3})
	if got := e.sim.MalformedIDs(); len(got) != 3 {
		t.Errorf("%d malformed endpoints chosen over the mutated tenant, want 3", len(got))
	}
}

// TestQueryKeepsItsTenant checks that a query started before a mutation returns the rows
// of the tenant it started on.
func TestQueryKeepsItsTenant(t *testing.T) {
	cfg := mutCfg(36)
	cfg.PendingPolls = 2
	e := newEnv(t, cfg)
	want := e.sim.CVERows()
	id := e.startQuery("dataset = va_cves | arrayexpand affected_hosts")
	if err := e.sim.Mutate(cortex.Mutation{Remove: []string{e.sim.Endpoints()[0].EndpointID, e.sim.Endpoints()[2].EndpointID}}); err != nil {
		t.Fatal(err)
	}
	r, _ := e.poll(id, 0)
	var got []cortex.CVERow
	for _, raw := range r.Reply.Results.Data {
		var row cortex.CVERow
		if err := json.Unmarshal(raw, &row); err != nil {
			t.Fatal(err)
		}
		got = append(got, row)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("a query started before the mutation returned %d rows, want the %d it started on", len(got), len(want))
	}
	if reflect.DeepEqual(e.sim.CVERows(), want) {
		t.Errorf("the mutation changed no va_cves row")
	}
}

func TestMutateControlEndpoint(t *testing.T) {
	e := newEnv(t, mutCfg(37))
	eps := e.sim.Endpoints()
	post := func(body string) (int, string) {
		resp, err := http.Post(e.srv.URL+"/_simulator/mutate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	status, body := post(`{"set_status":{"` + eps[0].EndpointID + `":"lost"},"remove":["` + eps[9].EndpointID + `"],"now":"2026-11-04T00:00:00Z"}`)
	if status != http.StatusOK || !strings.Contains(body, `"mutations":1`) || !strings.Contains(body, `"now":"2026-11-04T00:00:00Z"`) {
		t.Fatalf("posting a mutation: %d %s", status, body)
	}
	after := e.sim.Endpoints()
	if after[0].EndpointStatus != "LOST" || len(after) != len(eps)-1 {
		t.Errorf("after the mutation: status %s, %d endpoints", after[0].EndpointStatus, len(after))
	}
	tests := []struct{ body, want string }{
		{`{"remove":["nope"]}`, "unknown endpoint nope"},
		{`{"fix_cve":[{"host":"h","cve":"CVE-1-1","extra":1}]}`, "unknown field"},
		{`{"set_status":["x"]}`, "decoding mutation"},
	}
	for _, tt := range tests {
		if status, body := post(tt.body); status != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", tt.body, status, body, tt.want)
		}
	}
}

// TestMutateWhileServing pages and queries while the tenant is mutated (run with -race).
func TestMutateWhileServing(t *testing.T) {
	e := newEnv(t, mutCfg(38))
	ids := make([]string, 0, 20)
	for _, ep := range e.sim.Endpoints()[10:30] {
		ids = append(ids, ep.EndpointID)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 3 {
			e.listAll(cortex.PathGetEndpoint, nil, nil)
			e.listAll(cortex.PathGetEndpoint, []map[string]any{filter("endpoint_status", "in", []string{"connected"})}, nil)
		}
	})
	for k := range 10 {
		mu := cortex.Mutation{Remove: ids[2*k : 2*k+1], SetStatus: map[string]string{ids[2*k+1]: "LOST"}}
		if k > 0 {
			mu.Restore = ids[2*k-2 : 2*k-1]
		}
		if err := e.sim.Mutate(mu); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}
