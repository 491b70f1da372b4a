package inspector_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

var mutRegions = []string{"us-east-1", "eu-west-1"}

// edgeARN is the findingArn of edge case k (see Simulator.Findings).
func edgeARN(k int) string {
	return fmt.Sprintf("arn:aws:inspector2:us-east-1:111122223333:finding/%032x", k)
}

// served lists every finding of a region matching filter (nil: all) with signed raw
// requests, and returns them as the pages carried them.
func (e *env) served(t testing.TB, region string, filter map[string]any) []json.RawMessage {
	t.Helper()
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	var out []json.RawMessage
	token := ""
	for {
		req := map[string]any{"maxResults": 100}
		if filter != nil {
			req["filterCriteria"] = filter
		}
		if token != "" {
			req["nextToken"] = token
		}
		body, _ := json.Marshal(req)
		resp := e.signedPost(t, "/findings/list", "application/json", body, creds, region, "inspector2")
		b := readAll(t, resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("listing %s: status %d: %s", region, resp.StatusCode, b)
		}
		var page struct {
			Findings  []json.RawMessage `json:"findings"`
			NextToken string            `json:"nextToken"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("decoding page: %v\n%.300s", err, b)
		}
		out = append(out, page.Findings...)
		if page.NextToken == "" {
			return out
		}
		token = page.NextToken
	}
}

// snapshot is a simulator's dataset at one moment, as Findings returns it.
type snapshot struct {
	order map[string][]string // region → findingArns in serving order
	raw   map[string]json.RawMessage
	dec   map[string]wireFinding
	res   map[string][]string // resource id → findingArns on it
}

func takeSnapshot(t testing.TB, sim *inspector.Simulator) *snapshot {
	t.Helper()
	s := &snapshot{order: map[string][]string{}, raw: map[string]json.RawMessage{}, dec: map[string]wireFinding{}, res: map[string][]string{}}
	for _, region := range mutRegions {
		for _, raw := range sim.Findings(region) {
			var f wireFinding
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatalf("decoding finding: %v\n%s", err, raw)
			}
			s.order[region] = append(s.order[region], f.FindingArn)
			s.raw[f.FindingArn], s.dec[f.FindingArn] = raw, f
			s.res[f.Resources[0].ID] = append(s.res[f.Resources[0].ID], f.FindingArn)
		}
	}
	return s
}

// pick returns the first n findingArns, region by region, satisfying ok.
func (s *snapshot) pick(n int, ok func(f wireFinding) bool) []string {
	var out []string
	for _, region := range mutRegions {
		for _, arn := range s.order[region] {
			if len(out) < n && ok(s.dec[arn]) {
				out = append(out, arn)
			}
		}
	}
	return out
}

// busiestResource returns the resource with the most findings.
func (s *snapshot) busiestResource() string {
	best := ""
	for _, id := range slices.Sorted(maps.Keys(s.res)) {
		if best == "" || len(s.res[id]) > len(s.res[best]) {
			best = id
		}
	}
	return best
}

func hasStatus(st string) func(wireFinding) bool {
	return func(f wireFinding) bool { return f.Status == st }
}

// millis converts a served epoch-seconds timestamp to unix milliseconds.
func millis(f float64) int64 { return int64(math.Round(f * 1000)) }

// changedKeys returns the members whose value differs between two findings' JSON.
func changedKeys(t testing.TB, a, b json.RawMessage) []string {
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
	for k := range y {
		if _, ok := x[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// scoreDetailsScore returns inspectorScoreDetails.adjustedCvss.score, or NaN.
func scoreDetailsScore(t testing.TB, raw json.RawMessage) float64 {
	t.Helper()
	var f struct {
		Details *struct {
			Adjusted struct {
				Score         float64 `json:"score"`
				ScoringVector string  `json:"scoringVector"`
			} `json:"adjustedCvss"`
		} `json:"inspectorScoreDetails"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if f.Details == nil || f.Details.Adjusted.ScoringVector == "" {
		return math.NaN()
	}
	return f.Details.Adjusted.Score
}

// change is what a test expects of one changed finding.
type change struct {
	keys  []string // members that differ from before, sorted
	check func(t *testing.T, f wireFinding, raw json.RawMessage)
}

// expectation is what a mutation must do to the served dataset.
type expectation struct {
	changed map[string]change
	removed []string
	added   int
}

func statusChange(st string, keys ...string) change {
	return change{keys: keys, check: func(t *testing.T, f wireFinding, _ json.RawMessage) {
		if f.Status != st {
			t.Errorf("%s: status %s, want %s", f.FindingArn, f.Status, st)
		}
	}}
}

// rescoredFrom expects a finding of b rescored: the members that change depend on what
// it had.
func rescoredFrom(b *snapshot, arn string, score float64, sev string) change {
	f := b.dec[arn]
	keys := []string{"inspectorScore", "updatedAt"}
	if f.Type == "PACKAGE_VULNERABILITY" {
		keys = append(keys, "inspectorScoreDetails")
	}
	if f.Severity != sev {
		keys = append(keys, "severity")
	}
	slices.Sort(keys)
	return rescored(score, sev, keys...)
}

func rescored(score float64, sev string, keys ...string) change {
	return change{keys: keys, check: func(t *testing.T, f wireFinding, raw json.RawMessage) {
		if f.InspectorScore == nil || *f.InspectorScore != score || f.Severity != sev {
			t.Errorf("%s: inspectorScore %v severity %s, want %v %s", f.FindingArn, deref(f.InspectorScore), f.Severity, score, sev)
		}
		if f.Type == "PACKAGE_VULNERABILITY" {
			if got := scoreDetailsScore(t, raw); got != score {
				t.Errorf("%s: inspectorScoreDetails score %v, want %v", f.FindingArn, got, score)
			}
		}
	}}
}

// checkMutation checks the dataset served after a mutation at now against the one before.
func checkMutation(t *testing.T, e *env, before *snapshot, now time.Time, want expectation) {
	t.Helper()
	after := takeSnapshot(t, e.sim)
	for _, region := range mutRegions {
		// Served pages are Findings, byte for byte.
		served, findings := e.served(t, region, nil), e.sim.Findings(region)
		if len(served) != len(findings) {
			t.Fatalf("%s: served %d findings, Findings has %d", region, len(served), len(findings))
		}
		for i := range served {
			if !bytes.Equal(served[i], findings[i]) {
				t.Fatalf("%s finding %d served differs from Findings():\n%s\n%s", region, i, served[i], findings[i])
			}
		}
		if got := e.sim.FindingARNs(region); !slices.Equal(got, after.order[region]) {
			t.Errorf("%s: FindingARNs differ from the served order", region)
		}
		var resources []string
		for _, arn := range after.order[region] {
			if id := after.dec[arn].Resources[0].ID; !slices.Contains(resources, id) {
				resources = append(resources, id)
			}
		}
		if got := e.sim.ResourceIDs(region); !slices.Equal(got, resources) {
			t.Errorf("%s: ResourceIDs %d ids, want the %d served in order", region, len(got), len(resources))
		}
		// Serving order stays findingArn order.
		if !slices.IsSorted(after.order[region]) {
			t.Errorf("%s: findings are not in findingArn order", region)
		}
	}

	for arn, old := range before.raw {
		raw, ok := after.raw[arn]
		switch c, changed := want.changed[arn]; {
		case slices.Contains(want.removed, arn):
			if ok {
				t.Errorf("%s: still served after removal", arn)
			}
		case !ok:
			t.Errorf("%s: vanished", arn)
		case changed:
			if got := changedKeys(t, old, raw); !slices.Equal(got, c.keys) {
				t.Errorf("%s: changed members %v, want %v", arn, got, c.keys)
			}
			f := after.dec[arn]
			if millis(f.UpdatedAt) != now.UnixMilli() {
				t.Errorf("%s: updatedAt %v, want %v", arn, f.UpdatedAt, now)
			}
			if slices.Contains(c.keys, "lastObservedAt") && millis(f.LastObservedAt) != now.UnixMilli() {
				t.Errorf("%s: lastObservedAt %v, want %v", arn, f.LastObservedAt, now)
			}
			if c.check != nil {
				c.check(t, f, raw)
			}
		case !bytes.Equal(old, raw):
			t.Errorf("%s: unchanged finding served differently:\n%s\n%s", arn, old, raw)
		}
	}
	var added []string
	for arn, f := range after.dec {
		if _, ok := before.raw[arn]; ok {
			continue
		}
		added = append(added, arn)
		if f.Status != "ACTIVE" || millis(f.FirstObservedAt) != now.UnixMilli() || millis(f.LastObservedAt) != now.UnixMilli() || millis(f.UpdatedAt) != now.UnixMilli() {
			t.Errorf("added %s: status %s first %v last %v updated %v, want ACTIVE and all at %v", arn, f.Status, f.FirstObservedAt, f.LastObservedAt, f.UpdatedAt, now)
		}
		if _, ok := before.res[f.Resources[0].ID]; !ok {
			t.Errorf("added %s is on %s, a resource that had no findings", arn, f.Resources[0].ID)
		}
		if !strings.Contains(arn, ":"+f.Resources[0].Region+":") {
			t.Errorf("added %s is on a resource of region %s", arn, f.Resources[0].Region)
		}
	}
	if len(added) != want.added {
		t.Errorf("%d findings added, want %d", len(added), want.added)
	}

	// An Incremental sync from now gets exactly the changed and added findings; the
	// status and resource type filters select from the mutated data.
	var incremental []string
	for _, region := range mutRegions {
		for _, raw := range e.served(t, region, map[string]any{"updatedAt": []any{map[string]any{"startInclusive": float64(now.UnixMilli()) / 1000}}}) {
			var f wireFinding
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			incremental = append(incremental, f.FindingArn)
		}
		for _, fl := range []struct{ key, value string }{
			{"findingStatus", "ACTIVE"}, {"findingStatus", "CLOSED"}, {"findingStatus", "SUPPRESSED"}, {"resourceType", "AWS_EC2_INSTANCE"},
		} {
			var got, wantARNs []string
			for _, raw := range e.served(t, region, map[string]any{fl.key: []any{map[string]any{"comparison": "EQUALS", "value": fl.value}}}) {
				var f wireFinding
				if err := json.Unmarshal(raw, &f); err != nil {
					t.Fatal(err)
				}
				got = append(got, f.FindingArn)
			}
			for _, arn := range after.order[region] {
				f := after.dec[arn]
				if fl.key == "findingStatus" && f.Status == fl.value || fl.key == "resourceType" && f.Resources[0].Type == fl.value {
					wantARNs = append(wantARNs, arn)
				}
			}
			if !slices.Equal(got, wantARNs) {
				t.Errorf("%s %s=%s: %d findings, want %d", region, fl.key, fl.value, len(got), len(wantARNs))
			}
		}
	}
	wantIncr := append(slices.Collect(maps.Keys(want.changed)), added...)
	slices.Sort(incremental)
	slices.Sort(wantIncr)
	if !slices.Equal(incremental, wantIncr) {
		t.Errorf("updatedAt >= %v returns %d findings %v, want the %d changed %v", now, len(incremental), incremental, len(wantIncr), wantIncr)
	}
}

func TestMutate(t *testing.T) {
	now := inspector.DefaultNow.Add(36*time.Hour + 250*time.Millisecond)
	tests := []struct {
		name  string
		build func(b *snapshot) (inspector.Mutation, expectation)
	}{
		{"close", func(b *snapshot) (inspector.Mutation, expectation) {
			arns := b.pick(3, hasStatus("ACTIVE"))
			c := statusChange("CLOSED", "status", "updatedAt")
			return inspector.Mutation{Close: arns}, expectation{changed: map[string]change{arns[0]: c, arns[1]: c, arns[2]: c}}
		}},
		{"suppress", func(b *snapshot) (inspector.Mutation, expectation) {
			arns := b.pick(2, hasStatus("ACTIVE"))
			c := statusChange("SUPPRESSED", "status", "updatedAt")
			return inspector.Mutation{Suppress: arns}, expectation{changed: map[string]change{arns[0]: c, arns[1]: c}}
		}},
		{"reopen", func(b *snapshot) (inspector.Mutation, expectation) {
			closed, suppressed := b.pick(1, hasStatus("CLOSED")), b.pick(1, hasStatus("SUPPRESSED"))
			c := statusChange("ACTIVE", "lastObservedAt", "status", "updatedAt")
			return inspector.Mutation{Reopen: append(closed, suppressed...)}, expectation{changed: map[string]change{closed[0]: c, suppressed[0]: c}}
		}},
		{"remove", func(b *snapshot) (inspector.Mutation, expectation) {
			arns := []string{b.order["us-east-1"][20], b.order["us-east-1"][21], edgeARN(1), b.order["eu-west-1"][len(b.order["eu-west-1"])-1]}
			return inspector.Mutation{Remove: arns}, expectation{removed: arns}
		}},
		{"remove resource", func(b *snapshot) (inspector.Mutation, expectation) {
			id := b.busiestResource()
			return inspector.Mutation{RemoveResource: []string{id}}, expectation{removed: b.res[id]}
		}},
		{"rescore", func(b *snapshot) (inspector.Mutation, expectation) {
			m := inspector.Mutation{Rescore: map[string]float64{}}
			want := expectation{changed: map[string]change{}}
			rescore := func(arn string, score, served float64, sev string) {
				m.Rescore[arn] = score
				want.changed[arn] = rescoredFrom(b, arn, served, sev)
			}
			rescore(edgeARN(7), 9.5, 9.5, "CRITICAL")  // 8.9 HIGH
			rescore(edgeARN(1), 6, 6, "MEDIUM")        // 0 INFORMATIONAL
			rescore(edgeARN(8), 0, 0, "INFORMATIONAL") // 9.0 CRITICAL
			rescore(edgeARN(11), 4.2, 4.2, "MEDIUM")   // unscored UNTRIAGED: the score appears
			rescore(edgeARN(10), 8.9, 8.9, "HIGH")     // unscored HIGH: the label stays
			rescore(edgeARN(12), 3.96, 4, "MEDIUM")    // CLOSED 7.5: stays CLOSED
			for _, typ := range []string{"NETWORK_REACHABILITY", "CODE_VULNERABILITY"} {
				for _, arn := range b.pick(1, func(f wireFinding) bool { return f.Type == typ }) {
					rescore(arn, 7.14, 7.1, "HIGH")
				}
			}
			return m, want
		}},
		{"add", func(*snapshot) (inspector.Mutation, expectation) {
			return inspector.Mutation{Add: 7}, expectation{added: 7}
		}},
		{"already as asked", func(b *snapshot) (inspector.Mutation, expectation) {
			return inspector.Mutation{
				Close: b.pick(2, hasStatus("CLOSED")), Suppress: b.pick(1, hasStatus("SUPPRESSED")), Reopen: b.pick(2, hasStatus("ACTIVE")),
				Rescore: map[string]float64{edgeARN(7): 8.9, edgeARN(9): 10.04},
			}, expectation{}
		}},
		{"everything at once", func(b *snapshot) (inspector.Mutation, expectation) {
			active := b.pick(4, hasStatus("ACTIVE"))
			closed := b.pick(1, hasStatus("CLOSED"))
			id := b.busiestResource()
			var removed []string
			removed = append(removed, b.res[id]...)
			removed = append(removed, active[3])
			m := inspector.Mutation{
				Close: active[:1], Suppress: active[1:2], Reopen: closed, Remove: active[3:],
				RemoveResource: []string{id}, Rescore: map[string]float64{active[2]: 9.8}, Add: 3,
			}
			want := expectation{removed: removed, added: 3, changed: map[string]change{
				active[0]: statusChange("CLOSED", "status", "updatedAt"),
				active[1]: statusChange("SUPPRESSED", "status", "updatedAt"),
				closed[0]: statusChange("ACTIVE", "lastObservedAt", "status", "updatedAt"),
			}}
			want.changed[active[2]] = rescoredFrom(b, active[2], 9.8, "CRITICAL")
			for _, arn := range b.res[id] {
				delete(want.changed, arn) // removed with their resource
			}
			return m, want
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, inspector.Config{Seed: 11, Findings: 300, Regions: mutRegions})
			before := takeSnapshot(t, e.sim)
			m, want := tt.build(before)
			m.Now = now
			if err := e.sim.Mutate(m); err != nil {
				t.Fatalf("mutating: %v", err)
			}
			checkMutation(t, e, before, now, want)
		})
	}
}

func TestMutateComesBack(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 12, Findings: 200, Regions: mutRegions})
	orig := takeSnapshot(t, e.sim)
	id := orig.busiestResource()
	gone := orig.pick(1, func(f wireFinding) bool { return f.Status == "ACTIVE" && f.Resources[0].ID != id })[0]
	if err := e.sim.Mutate(inspector.Mutation{Remove: []string{gone}, RemoveResource: []string{id}}); err != nil {
		t.Fatal(err)
	}
	first := inspector.DefaultNow.Add(time.Hour) // zero Now: an hour after Config.Now
	removed := append([]string{gone}, orig.res[id]...)
	checkMutation(t, e, orig, first, expectation{removed: removed})
	if slices.Contains(e.sim.ResourceIDs(orig.dec[orig.res[id][0]].Resources[0].Region), id) {
		t.Errorf("ResourceIDs still lists %s", id)
	}

	// Gone findings can only be reopened; an unknown resource cannot be restored.
	for _, m := range []inspector.Mutation{{Close: []string{gone}}, {Rescore: map[string]float64{gone: 1}}, {Remove: []string{gone}}, {RemoveResource: []string{id}}, {RestoreResource: []string{"i-0000000000000000"}}} {
		if err := e.sim.Mutate(m); err == nil {
			t.Errorf("%+v: no error", m)
		}
	}

	second := first.Add(time.Hour)
	if err := e.sim.Mutate(inspector.Mutation{Reopen: []string{gone}, Rescore: map[string]float64{gone: 9.9}, RestoreResource: []string{id}}); err != nil {
		t.Fatal(err)
	}
	after := takeSnapshot(t, e.sim)
	for _, region := range mutRegions {
		if !slices.Equal(after.order[region], orig.order[region]) {
			t.Errorf("%s: findings came back out of order (%d findings, want %d)", region, len(after.order[region]), len(orig.order[region]))
		}
	}
	// What came back differs from the original in what the mutations changed; the rest is
	// as it always was.
	for arn, raw := range orig.raw {
		if !slices.Contains(removed, arn) {
			if !bytes.Equal(raw, after.raw[arn]) {
				t.Errorf("%s changed", arn)
			}
			continue
		}
		c := change{keys: []string{"updatedAt"}}
		switch {
		case arn == gone:
			c = rescoredFrom(orig, arn, 9.9, "CRITICAL")
			c.keys = append(c.keys, "lastObservedAt")
			slices.Sort(c.keys)
		case orig.dec[arn].Status == "ACTIVE":
			c.keys = []string{"lastObservedAt", "updatedAt"}
		}
		if got := changedKeys(t, raw, after.raw[arn]); !slices.Equal(got, c.keys) {
			t.Errorf("%s came back with %v changed, want %v", arn, got, c.keys)
		}
		f := after.dec[arn]
		if c.check != nil {
			c.check(t, f, after.raw[arn])
		}
		if arn != gone && f.Status != orig.dec[arn].Status || arn == gone && f.Status != "ACTIVE" {
			t.Errorf("%s came back %s (was %s)", arn, f.Status, orig.dec[arn].Status)
		}
		if millis(f.UpdatedAt) != second.UnixMilli() || slices.Contains(c.keys, "lastObservedAt") && millis(f.LastObservedAt) != second.UnixMilli() {
			t.Errorf("%s came back with updatedAt %v lastObservedAt %v, want %v", arn, f.UpdatedAt, f.LastObservedAt, second)
		}
	}
	// An Incremental sync from the second mutation gets exactly what came back.
	var incremental []string
	for _, region := range mutRegions {
		for _, raw := range e.served(t, region, map[string]any{"updatedAt": []any{map[string]any{"startInclusive": float64(second.Unix())}}}) {
			var f wireFinding
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			incremental = append(incremental, f.FindingArn)
		}
	}
	slices.Sort(incremental)
	if want := slices.Sorted(slices.Values(removed)); !slices.Equal(incremental, want) {
		t.Errorf("incremental: %v, want %v", incremental, want)
	}
}

func TestMutateErrors(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 13, Findings: 100, Regions: mutRegions})
	before := takeSnapshot(t, e.sim)
	active := before.pick(2, hasStatus("ACTIVE"))
	unknown := "arn:aws:inspector2:us-east-1:111122223333:finding/ffffffffffffffffffffffffffffffff"
	tests := []struct {
		name string
		m    inspector.Mutation
		want []string // in the error
	}{
		{"unknown finding", inspector.Mutation{Close: []string{active[0], unknown}}, []string{"unknown finding " + unknown}},
		{"unconfigured region", inspector.Mutation{Suppress: []string{strings.Replace(active[0], "us-east-1", "ap-south-1", 1)}}, []string{"unknown finding arn:aws:inspector2:ap-south-1"}},
		{"not an arn", inspector.Mutation{Reopen: []string{"finding-1"}}, []string{"unknown finding finding-1"}},
		{"unknown rescore", inspector.Mutation{Rescore: map[string]float64{unknown: 5}}, []string{"unknown finding " + unknown}},
		{"unknown removal", inspector.Mutation{Remove: []string{unknown}}, []string{unknown}},
		{"unknown resource", inspector.Mutation{RemoveResource: []string{"i-0123456789abcdef0"}}, []string{"unknown resource i-0123456789abcdef0"}},
		{"restore never removed", inspector.Mutation{RestoreResource: []string{before.busiestResource()}}, []string{"unknown resource " + before.busiestResource()}},
		{"named twice", inspector.Mutation{Close: active[:1], Remove: active[:1]}, []string{active[0] + " is named in both Close and Remove"}},
		{"remove and restore", inspector.Mutation{RemoveResource: []string{before.busiestResource()}, RestoreResource: []string{before.busiestResource()}}, []string{"both RemoveResource and RestoreResource"}},
		{"score out of range", inspector.Mutation{Rescore: map[string]float64{active[0]: 10.5, active[1]: -1}}, []string{"score 10.5", "score -1"}},
		{"negative add", inspector.Mutation{Add: -1}, []string{"adding -1"}},
		{"every problem", inspector.Mutation{Close: []string{unknown}, RemoveResource: []string{"nope"}, Add: -2}, []string{unknown, "nope", "adding -2"}},
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
			after := takeSnapshot(t, e.sim)
			for _, region := range mutRegions {
				if !slices.Equal(after.order[region], before.order[region]) {
					t.Fatalf("%s: a failed mutation changed the dataset", region)
				}
			}
			for arn, raw := range before.raw {
				if !bytes.Equal(raw, after.raw[arn]) {
					t.Fatalf("%s: a failed mutation changed it", arn)
				}
			}
		})
	}
}

func TestMutateDeterminism(t *testing.T) {
	run := func(seed int64) (*inspector.Simulator, map[string][]json.RawMessage) {
		sim, err := inspector.New(inspector.Config{Seed: seed, Findings: 400, Regions: mutRegions})
		if err != nil {
			t.Fatal(err)
		}
		arns := sim.FindingARNs("eu-west-1")
		ms := []inspector.Mutation{
			{Add: 5, Close: arns[:3]},
			{Add: 4, Rescore: map[string]float64{arns[3]: 2.5, arns[4]: 9.1}, RemoveResource: sim.ResourceIDs("us-east-1")[:2]},
			{Add: 6, Reopen: arns[:2], Now: inspector.DefaultNow.Add(50 * time.Hour)},
			{Add: 1},
		}
		for k, m := range ms {
			before := takeSnapshot(t, sim)
			gone := 0
			for _, id := range m.RemoveResource {
				gone += len(before.res[id])
			}
			if err := sim.Mutate(m); err != nil {
				t.Fatal(err)
			}
			// Every finding added has a findingArn of its own.
			if got, want := len(takeSnapshot(t, sim).raw), len(before.raw)-gone+m.Add; got != want {
				t.Errorf("mutation %d: %d findings, want %d", k, got, want)
			}
		}
		out := map[string][]json.RawMessage{}
		for _, r := range mutRegions {
			out[r] = sim.Findings(r)
		}
		return sim, out
	}
	simA, a := run(21)
	_, b := run(21)
	for _, r := range mutRegions {
		if len(a[r]) != len(b[r]) {
			t.Fatalf("%s: %d and %d findings", r, len(a[r]), len(b[r]))
		}
		for i := range a[r] {
			if !bytes.Equal(a[r][i], b[r][i]) {
				t.Fatalf("%s finding %d differs:\n%s\n%s", r, i, a[r][i], b[r][i])
			}
		}
	}
	// The last mutation happened an hour after the explicit Now of the one before.
	last := takeSnapshot(t, simA)
	latest := int64(0)
	for _, f := range last.dec {
		latest = max(latest, millis(f.UpdatedAt))
	}
	if want := inspector.DefaultNow.Add(51 * time.Hour).UnixMilli(); latest != want {
		t.Errorf("latest updatedAt %d, want %d", latest, want)
	}
}

// isMalformed reports whether a served finding is one of the malformed kinds.
func isMalformed(raw json.RawMessage) bool {
	var f wireFinding
	return json.Unmarshal(raw, &f) != nil || f.FindingArn == "" || len(f.Resources) == 0
}

func countMalformed(sim *inspector.Simulator) int {
	n := 0
	for _, r := range mutRegions {
		for _, raw := range sim.Findings(r) {
			if isMalformed(raw) {
				n++
			}
		}
	}
	return n
}

func TestMutateKeepsMalformed(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 14, Findings: 200, Regions: mutRegions})
	e.sim.SetFaults(inspector.Faults{Malformed: 8})
	if n := countMalformed(e.sim); n != 8 {
		t.Fatalf("%d malformed findings, want 8", n)
	}
	var all, malformedARNs []string
	for _, r := range mutRegions {
		all = append(all, e.sim.FindingARNs(r)...)
		for i, raw := range e.sim.Findings(r) {
			if isMalformed(raw) && bytes.Contains(raw, []byte(`"findingArn"`)) {
				malformedARNs = append(malformedARNs, e.sim.FindingARNs(r)[i])
			}
		}
	}
	if err := e.sim.Mutate(inspector.Mutation{Close: all, Add: 5}); err != nil {
		t.Fatal(err)
	}
	if n := countMalformed(e.sim); n != 8 {
		t.Errorf("%d malformed findings after closing everything, want 8", n)
	}
	for _, r := range mutRegions {
		served, findings := e.served(t, r, nil), e.sim.Findings(r)
		for i := range findings {
			if !bytes.Equal(served[i], findings[i]) {
				t.Fatalf("%s finding %d served differs from Findings()", r, i)
			}
			if isMalformed(findings[i]) && bytes.Contains(findings[i], []byte(`"findingArn"`)) && !bytes.Contains(findings[i], []byte(`"status":"CLOSED"`)) {
				t.Errorf("malformed %s was not closed", findings[i])
			}
		}
	}
	if err := e.sim.Mutate(inspector.Mutation{Remove: malformedARNs[:2]}); err != nil {
		t.Fatal(err)
	}
	if n := countMalformed(e.sim); n != 6 {
		t.Errorf("%d malformed findings after removing two, want 6", n)
	}
	e.sim.SetFaults(inspector.Faults{})
	if n := countMalformed(e.sim); n != 0 {
		t.Errorf("%d malformed findings with the fault off", n)
	}
	e.sim.SetFaults(inspector.Faults{Malformed: 3})
	if n := countMalformed(e.sim); n != 3 {
		t.Errorf("%d malformed findings chosen over the mutated dataset, want 3", n)
	}
}

func TestMutateControlEndpoint(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 15, Findings: 50})
	arn := e.sim.FindingARNs("us-east-1")[0]
	post := func(body string) (int, string) {
		resp, err := http.Post(e.srv.URL+"/_simulator/mutate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, string(readAll(t, resp.Body))
	}
	status, body := post(`{"close":["` + arn + `"],"rescore":{"` + arn + `":7.5},"now":"2026-11-03T04:05:06.789Z"}`)
	if status != http.StatusOK || !strings.Contains(body, `"mutations":1`) || !strings.Contains(body, `"now":"2026-11-03T04:05:06.789Z"`) {
		t.Fatalf("posting a mutation: %d %s", status, body)
	}
	var f wireFinding
	if err := json.Unmarshal(e.sim.Findings("us-east-1")[0], &f); err != nil {
		t.Fatal(err)
	}
	if at := time.Date(2026, 11, 3, 4, 5, 6, 789e6, time.UTC); f.Status != "CLOSED" || deref(f.InspectorScore) != 7.5 || millis(f.UpdatedAt) != at.UnixMilli() {
		t.Errorf("finding after the mutation: %s %v %v", f.Status, deref(f.InspectorScore), f.UpdatedAt)
	}
	tests := []struct{ body, want string }{
		{`{"close":["arn:nope"]}`, "unknown finding arn:nope"},
		{`{"clsoe":[]}`, "unknown field"},
		{`{"add":"two"}`, "decoding mutation"},
	}
	for _, tt := range tests {
		if status, body := post(tt.body); status != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", tt.body, status, body, tt.want)
		}
	}
	if status, body := post(`{"add":2}`); status != http.StatusOK || !strings.Contains(body, `"mutations":2`) || !strings.Contains(body, `"now":"2026-11-03T05:05:06.789Z"`) {
		t.Errorf("second mutation: %d %s", status, body)
	}
}

// TestMutateWhileServing pages through the dataset while it is mutated: every page is
// whole, whichever version of the dataset served it (run with -race).
func TestMutateWhileServing(t *testing.T) {
	e := newEnv(t, inspector.Config{Seed: 16, Findings: 300, Regions: mutRegions})
	arns := e.sim.FindingARNs("us-east-1")
	var wg sync.WaitGroup
	for _, region := range mutRegions {
		wg.Go(func() {
			for range 3 {
				for _, raw := range e.served(t, region, nil) {
					var f wireFinding
					if err := json.Unmarshal(raw, &f); err != nil {
						t.Errorf("decoding a finding served during mutations: %v", err)
						return
					}
				}
			}
		})
	}
	for k := range 10 {
		if err := e.sim.Mutate(inspector.Mutation{Close: arns[k : k+1], Add: 2, Remove: arns[20+k : 21+k]}); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}
