package inspector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/simctl"
)

// Mutation changes the dataset served from the next ListFindings call on, as a vendor's
// tenant changes between two syncs. Findings are named by findingArn, resources by their
// id (resources[0].id). A finding changed moves its updatedAt to Now, so an Incremental
// sync (updatedAt at or after its cursor) sees exactly the changed findings; one already
// as asked (closing a CLOSED finding, rescoring to its own score) is left alone, bytes
// included, and so is every finding not named. Its JSON form (POST /_simulator/mutate) has
// snake_case keys and now in RFC 3339.
type Mutation struct {
	Close    []string `json:"close,omitempty"`    // status → CLOSED
	Suppress []string `json:"suppress,omitempty"` // status → SUPPRESSED
	// Reopen sets status ACTIVE and lastObservedAt to Now. A finding an earlier mutation
	// removed (Remove or RemoveResource) comes back this way, ACTIVE.
	Reopen []string `json:"reopen,omitempty"`
	Remove []string `json:"remove,omitempty"` // the finding vanishes from every answer
	// RemoveResource makes every finding on each resource vanish; RestoreResource brings
	// back those an earlier RemoveResource took, in the status they had (lastObservedAt
	// moves to Now for ACTIVE ones).
	RemoveResource  []string `json:"remove_resource,omitempty"`
	RestoreResource []string `json:"restore_resource,omitempty"`
	// Rescore sets inspectorScore (0 to 10, rounded to tenths) and the severity label that
	// score maps to; a package vulnerability's inspectorScoreDetails.adjustedCvss.score
	// follows. A finding Reopen brings back may be rescored in the same mutation.
	Rescore map[string]float64 `json:"rescore,omitempty"`
	// Add adds this many ACTIVE findings on resources that have findings, each with a new
	// findingArn drawn from the seed and the mutation's number, first and last observed
	// at Now.
	Add int `json:"add,omitempty"`
	// Now is when the mutation happens: the updatedAt of what it changes. Zero means an
	// hour after the previous mutation, or after Config.Now for the first.
	Now time.Time `json:"now,omitzero"`
}

// Mutate applies m: every ListFindings and ListFindingAggregations call from now on, and
// Findings, see the mutated dataset. A finding may be named in only one of Close,
// Suppress, Reopen and Remove. A name that is unknown (or names a finding an earlier
// mutation removed, except in Reopen) is an error naming it, and m then changes nothing.
// A page token issued before keeps its position in the new dataset. Mutations are
// deterministic: the same seed and the same mutations give the same bytes. Malformed
// findings (Faults.Malformed) stay malformed, the same way, while they are served.
func (s *Simulator) Mutate(m Mutation) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cur := s.state.Load()
	now := s.mutated + hour
	if !m.Now.IsZero() {
		now = m.Now.UnixMilli()
	}
	mu := &mutation{
		s: s, cur: cur, now: now, gone: maps.Clone(s.gone),
		edits: make(map[string]*edit), remove: make(map[string]string),
		restored: make([][]record, len(cur.datasets)),
	}
	if err := mu.resolve(m); err != nil {
		return fmt.Errorf("mutating the dataset: %w", err)
	}
	datasets, err := mu.apply(m.Add)
	if err != nil {
		return fmt.Errorf("mutating the dataset: %w", err)
	}
	mal, err := cur.malformed.remap(cur.datasets, datasets)
	if err != nil {
		return fmt.Errorf("mutating the dataset: rendering malformed findings: %w", err)
	}
	s.state.Store(&tenant{datasets: datasets, malformed: mal})
	s.gone, s.mutated = mu.gone, now
	s.nmut++
	return nil
}

// FindingARNs returns the findingArn of every finding a region serves, in serving order;
// nil for a region the simulator was not configured with.
func (s *Simulator) FindingARNs(region string) []string {
	ri, ok := s.regions[region]
	if !ok {
		return nil
	}
	d := s.state.Load().datasets[ri]
	out := make([]string, len(d.recs))
	for i := range d.recs {
		out[i] = string(d.recs[i].arn)
	}
	return out
}

// ResourceIDs returns the id of every resource a region's findings are on, each once, in
// the order of its first finding in serving order; nil for a region the simulator was not
// configured with.
func (s *Simulator) ResourceIDs(region string) []string {
	ri, ok := s.regions[region]
	if !ok {
		return nil
	}
	d := s.state.Load().datasets[ri]
	seen := make(map[int32]bool)
	out := []string{}
	for i := range d.recs {
		if a := d.recs[i].asset; !seen[a] {
			seen[a] = true
			out = append(out, d.assets[a].id)
		}
	}
	return out
}

// mutationClock returns how many mutations were applied and the time of the last one.
func (s *Simulator) mutationClock() (int, time.Time) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.nmut, time.UnixMilli(s.mutated).UTC()
}

// gone is a finding a mutation took away, kept so that it can come back.
type gone struct {
	region   int
	rec      record
	resource string // the resource RemoveResource named; "" when Remove took it
}

// edit is what a mutation does to one finding.
type edit struct {
	status  int8 // the new status; -1 keeps it
	rescore bool
	score   int16 // tenths, when rescore
	observe bool  // lastObservedAt moves to now if the finding is ACTIVE once changed
	touch   bool  // the finding changed even if nothing else does (it came back)
	fresh   bool  // a new finding: firstObservedAt and lastObservedAt are now
}

// mutation is one Mutate call under way. Nothing it does is visible until it is stored.
type mutation struct {
	s        *Simulator
	cur      *tenant
	now      int64
	gone     map[string]gone     // a copy of s.gone
	edits    map[string]*edit    // by findingArn
	remove   map[string]string   // findingArn → the resource RemoveResource named, or ""
	restored [][]record          // by region: findings coming back
	restores map[string]bool     // their arns
	byRes    map[string][]string // resource id → arns of its served findings, built on first use
}

// edit returns the edit of a finding, creating it.
func (mu *mutation) edit(arn string) *edit {
	e, ok := mu.edits[arn]
	if !ok {
		e = &edit{status: -1}
		mu.edits[arn] = e
	}
	return e
}

// region returns the index of the region a findingArn names.
func (mu *mutation) region(arn string) (int, bool) {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 || parts[0] != "arn" || parts[2] != "inspector2" {
		return -1, false
	}
	ri, ok := mu.s.regions[parts[3]]
	return ri, ok
}

// served reports whether the current dataset serves a finding.
func (mu *mutation) served(arn string) bool {
	ri, ok := mu.region(arn)
	if !ok {
		return false
	}
	_, ok = mu.cur.datasets[ri].find([]byte(arn))
	return ok
}

// restore brings a gone finding back, in status st (-1: the one it had).
func (mu *mutation) restore(arn string, st int8) {
	g := mu.gone[arn]
	delete(mu.gone, arn)
	mu.restored[g.region] = append(mu.restored[g.region], g.rec)
	if mu.restores == nil {
		mu.restores = make(map[string]bool)
	}
	mu.restores[arn] = true
	e := mu.edit(arn)
	e.status, e.touch, e.observe = st, true, true
}

// resolve checks every name of m and records what to do to each finding.
func (mu *mutation) resolve(m Mutation) error {
	var errs []error
	named := make(map[string]string)
	lists := []struct {
		name   string
		arns   []string
		status uint8
	}{
		{"Close", m.Close, statusClosed}, {"Suppress", m.Suppress, statusSuppressed},
		{"Reopen", m.Reopen, statusActive}, {"Remove", m.Remove, 0},
	}
	for _, l := range lists {
		for _, arn := range l.arns {
			if prev, dup := named[arn]; dup {
				if prev != l.name {
					errs = append(errs, fmt.Errorf("finding %s is named in both %s and %s", arn, prev, l.name))
				}
				continue
			}
			named[arn] = l.name
			_, isGone := mu.gone[arn]
			switch {
			case mu.served(arn) && l.name == "Remove":
				mu.remove[arn] = ""
			case mu.served(arn):
				e := mu.edit(arn)
				e.status, e.observe = int8(l.status), l.status == statusActive
			case isGone && l.name == "Reopen":
				mu.restore(arn, int8(statusActive))
			case isGone:
				errs = append(errs, fmt.Errorf("finding %s was removed by an earlier mutation", arn))
			default:
				errs = append(errs, fmt.Errorf("unknown finding %s", arn))
			}
		}
	}
	for _, id := range m.RemoveResource {
		arns := mu.resourceFindings()[id]
		if len(arns) == 0 {
			errs = append(errs, fmt.Errorf("unknown resource %s: no finding served is on it", id))
			continue
		}
		for _, arn := range arns {
			if _, ok := mu.remove[arn]; !ok {
				mu.remove[arn] = id
			}
		}
	}
	for _, id := range m.RestoreResource {
		if slices.Contains(m.RemoveResource, id) {
			errs = append(errs, fmt.Errorf("resource %s is named in both RemoveResource and RestoreResource", id))
			continue
		}
		var arns []string
		for arn, g := range mu.gone {
			if g.resource == id {
				arns = append(arns, arn)
			}
		}
		if len(arns) == 0 {
			errs = append(errs, fmt.Errorf("unknown resource %s: no earlier RemoveResource took its findings", id))
			continue
		}
		for _, arn := range arns {
			mu.restore(arn, -1)
		}
	}
	for _, arn := range slices.Sorted(maps.Keys(m.Rescore)) {
		v := m.Rescore[arn]
		tenths := math.Round(v * 10)
		_, isGone := mu.gone[arn]
		switch {
		case !(tenths >= 0 && tenths <= 100):
			errs = append(errs, fmt.Errorf("rescoring finding %s: score %g is not within 0 to 10", arn, v))
		case mu.served(arn) || mu.restores[arn]:
			e := mu.edit(arn)
			e.rescore, e.score = true, int16(tenths)
		case isGone:
			errs = append(errs, fmt.Errorf("finding %s was removed by an earlier mutation", arn))
		default:
			errs = append(errs, fmt.Errorf("unknown finding %s", arn))
		}
	}
	if m.Add < 0 {
		errs = append(errs, fmt.Errorf("adding %d findings: the count must not be negative", m.Add))
	}
	return errors.Join(errs...)
}

// resourceFindings maps each resource id to the findings served on it.
func (mu *mutation) resourceFindings() map[string][]string {
	if mu.byRes == nil {
		mu.byRes = make(map[string][]string)
		for _, d := range mu.cur.datasets {
			for i := range d.recs {
				id := d.assets[d.recs[i].asset].id
				mu.byRes[id] = append(mu.byRes[id], string(d.recs[i].arn))
			}
		}
	}
	return mu.byRes
}

// apply builds the mutated datasets; regions the mutation leaves alone are shared.
func (mu *mutation) apply(add int) ([]*dataset, error) {
	n := len(mu.cur.datasets)
	work := make([][]record, n)
	assets := make([][]asset, n)
	touch := func(ri int) {
		if work[ri] == nil {
			work[ri] = mergeRecords(mu.cur.datasets[ri].recs, sortRecords(mu.restored[ri]))
		}
	}
	for ri := range mu.restored {
		if len(mu.restored[ri]) > 0 {
			touch(ri)
		}
	}
	for _, arn := range slices.Sorted(maps.Keys(mu.edits)) {
		ri, _ := mu.region(arn)
		touch(ri)
		i, _ := findRecord(work[ri], []byte(arn))
		if err := mu.rewrite(mu.cur.datasets[ri], &work[ri][i], *mu.edits[arn]); err != nil {
			return nil, err
		}
	}
	for arn := range mu.remove {
		ri, _ := mu.region(arn)
		touch(ri)
	}
	for ri := range work {
		if work[ri] == nil || len(mu.remove) == 0 {
			continue
		}
		kept := make([]record, 0, len(work[ri]))
		for _, r := range work[ri] {
			if res, ok := mu.remove[string(r.arn)]; ok {
				mu.gone[string(r.arn)] = gone{region: ri, rec: r, resource: res}
				continue
			}
			kept = append(kept, r)
		}
		work[ri] = kept
	}
	if add > 0 {
		if err := mu.add(add, work, assets, touch); err != nil {
			return nil, err
		}
	}
	out := slices.Clone(mu.cur.datasets)
	for ri, recs := range work {
		if recs == nil {
			continue
		}
		d := mu.cur.datasets[ri]
		nd := &dataset{region: d.region, account: d.account, recs: recs, assets: d.assets, issues: d.issues}
		if assets[ri] != nil {
			nd.assets = assets[ri]
		}
		out[ri] = nd
	}
	return out, nil
}

// add adds n findings on resources that have findings, drawn from the seed and the
// mutation's number.
func (mu *mutation) add(n int, work [][]record, assets [][]asset, touch func(int)) error {
	type candidate struct {
		region int
		asset  int32
	}
	var cands []candidate
	for ri, d := range mu.cur.datasets {
		recs := d.recs
		if work[ri] != nil {
			recs = work[ri]
		}
		seen := make(map[int32]bool)
		for _, r := range recs {
			if !seen[r.asset] {
				seen[r.asset] = true
				cands = append(cands, candidate{ri, r.asset})
			}
		}
	}
	if len(cands) == 0 {
		return fmt.Errorf("adding %d findings: no resource has findings", n)
	}
	s := mu.s
	rng := rand.New(rand.NewPCG(uint64(s.cfg.Seed), 0x6d75746174696f6e^uint64(s.nmut+1)))
	added := make([][]record, len(work))
	taken := make(map[string]bool)
	for range n {
		c := cands[rng.IntN(len(cands))]
		d := mu.cur.datasets[c.region]
		if assets[c.region] == nil {
			// Picking an issue advances the asset's walk of its catalogs: copy, not share.
			assets[c.region] = slices.Clone(d.assets)
		}
		rg := &regionGen{generator: s.gen, rng: rng, d: &dataset{region: d.region, account: d.account, assets: assets[c.region]}}
		ii := rg.pickIssue(c.asset, []int32{c.asset}, 0)
		var id [2]uint64
		for {
			id = [2]uint64{rng.Uint64(), rng.Uint64()}
			if id[0]>>32 == 0 {
				id[0] |= 1 << 63 // as generated ids: after the edge cases
			}
			arn := "arn:aws:inspector2:" + d.region + ":" + d.account + ":finding/" + string(appendHex(appendHex(nil, id[0], 16), id[1], 16))
			_, served := d.find([]byte(arn))
			if work[c.region] != nil {
				_, served = findRecord(work[c.region], []byte(arn))
			}
			if _, isGone := mu.gone[arn]; !served && !isGone && !taken[arn] {
				taken[arn] = true
				break
			}
		}
		rg.addRecord(id, ii, c.asset, statusActive, s.gen.issues[ii].score, false)
		r := rg.d.recs[0]
		if err := mu.rewrite(d, &r, edit{status: -1, touch: true, fresh: true}); err != nil {
			return err
		}
		added[c.region] = append(added[c.region], r)
	}
	for ri, recs := range added {
		if len(recs) > 0 {
			touch(ri)
			work[ri] = mergeRecords(work[ri], sortRecords(recs))
		}
	}
	return nil
}

// rewrite applies e to r, rendering its head anew; r stays as it is when e changes nothing.
func (mu *mutation) rewrite(d *dataset, r *record, e edit) error {
	status := r.status
	if e.status >= 0 {
		status = uint8(e.status)
	}
	rescore := e.rescore && e.score != r.score
	if status == r.status && !rescore && !e.touch {
		return nil
	}
	is := &d.issues[r.issue]
	prefix, whole := r.head, r.whole
	if rescore && !whole && len(is.frag) > 0 {
		// The score is among the members the issue's findings share: this one gets its own.
		prefix = append(append(make([]byte, 0, len(r.head)+len(is.frag)), r.head...), is.frag...)
		whole = true
	}
	ms, err := splitMembers(prefix)
	if err != nil {
		return fmt.Errorf("rewriting finding %s: %w", r.arn, err)
	}
	now := appendEpoch(nil, mu.now)
	ms.set("updatedAt", now)
	r.updated = mu.now
	if status != r.status {
		ms.set("status", simctl.AppendString(nil, statusNames[status]))
		r.status = status
	}
	if e.fresh {
		ms.set("firstObservedAt", now)
		r.first = mu.now
	}
	if e.fresh || e.observe && status == statusActive {
		ms.set("lastObservedAt", now)
		r.last = mu.now
	}
	if rescore {
		ms.upsert("inspectorScore", appendTenths(nil, e.score))
		if is.ftype == typePackage {
			details, err := scoreDetails(ms.get("inspectorScoreDetails"), e.score, mu.s.gen.vectors)
			if err != nil {
				return fmt.Errorf("rewriting finding %s: %w", r.arn, err)
			}
			ms.upsert("inspectorScoreDetails", details)
		}
		r.score, r.sev = e.score, severityForScore(e.score)
		ms.set("severity", simctl.AppendString(nil, severityNames[r.sev]))
	}
	head := ms.join()
	k := bytes.Index(head, r.arn)
	r.arn = head[k : k+len(r.arn) : k+len(r.arn)]
	r.head, r.whole = head, whole
	return nil
}

// scoreDetails renders inspectorScoreDetails for a new score: old's, the score changed,
// or (old nil) a new one with the NVD vector nearest the score.
func scoreDetails(old []byte, score int16, vectors map[int16]cvssVector) ([]byte, error) {
	adjustments, source, scoreSource, vector, version := []byte("[]"), "NVD", "NVD", "", "3.1"
	if old != nil {
		var v struct {
			AdjustedCvss struct {
				Adjustments   json.RawMessage `json:"adjustments"`
				CvssSource    string          `json:"cvssSource"`
				ScoreSource   string          `json:"scoreSource"`
				ScoringVector string          `json:"scoringVector"`
				Version       string          `json:"version"`
			} `json:"adjustedCvss"`
		}
		if err := json.Unmarshal(old, &v); err != nil {
			return nil, fmt.Errorf("decoding inspectorScoreDetails: %w", err)
		}
		a := v.AdjustedCvss
		adjustments, source, scoreSource, vector, version = a.Adjustments, a.CvssSource, a.ScoreSource, a.ScoringVector, a.Version
	} else {
		vec, exact := nearestVector(vectors, score)
		vector = vec.String()
		if !exact {
			adjustments = []byte(`[{"metric":"AV","reason":"The score was adjusted for the environment of the resource."}]`)
		}
	}
	b := append([]byte(nil), `{"adjustedCvss":{"adjustments":`...)
	b = append(b, adjustments...)
	b = append(b, `,"cvssSource":`...)
	b = simctl.AppendString(b, source)
	b = append(b, `,"score":`...)
	b = appendTenths(b, score)
	b = append(b, `,"scoreSource":`...)
	b = simctl.AppendString(b, scoreSource)
	b = append(b, `,"scoringVector":`...)
	b = simctl.AppendString(b, vector)
	b = append(b, `,"version":`...)
	b = simctl.AppendString(b, version)
	return append(b, "}}"...), nil
}

// member is one member of a finding's JSON object, its value as served.
type member struct {
	key string
	val []byte
}

type members []member

// splitMembers reads an open object, `{` and members each followed by a comma (a head,
// possibly with its issue's fragment), keeping each value's bytes.
func splitMembers(open []byte) (members, error) {
	if len(open) < 2 || open[0] != '{' || open[len(open)-1] != ',' {
		return nil, errors.New("decoding finding head: not an open JSON object")
	}
	obj := bytes.Clone(open)
	obj[len(obj)-1] = '}'
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("decoding finding head: %w", err)
	}
	var ms members
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("decoding finding head: %w", err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("decoding finding head member %v: %w", t, err)
		}
		ms = append(ms, member{key: t.(string), val: raw})
	}
	return ms, nil
}

// join renders ms as an open object, the form heads take.
func (ms members) join() []byte {
	n := 1
	for _, m := range ms {
		n += len(m.key) + len(m.val) + 4
	}
	b := append(make([]byte, 0, n), '{')
	for _, m := range ms {
		b = appendKey(b, m.key)
		b = append(b, m.val...)
		b = append(b, ',')
	}
	return b
}

func (ms members) get(key string) []byte {
	for _, m := range ms {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// set replaces the value of a member ms has.
func (ms members) set(key string, val []byte) {
	for i := range ms {
		if ms[i].key == key {
			ms[i].val = val
			return
		}
	}
}

// upsert sets a member, adding it where it sorts among the members after updatedAt (the
// head's fixed members come first, the rest in alphabetical order) when ms lacks it.
func (ms *members) upsert(key string, val []byte) {
	if ms.get(key) != nil {
		ms.set(key, val)
		return
	}
	at := len(*ms)
	after := false
	for i, m := range *ms {
		if after && m.key > key {
			at = i
			break
		}
		after = after || m.key == "updatedAt"
	}
	*ms = slices.Insert(*ms, at, member{key: key, val: val})
}

// find returns the index of the finding with this findingArn.
func (d *dataset) find(arn []byte) (int, bool) { return findRecord(d.recs, arn) }

// findRecord binary-searches records in findingArn order.
func findRecord(recs []record, arn []byte) (int, bool) {
	return slices.BinarySearchFunc(recs, arn, func(r record, t []byte) int { return bytes.Compare(r.arn, t) })
}

// sortRecords sorts records into findingArn order.
func sortRecords(recs []record) []record {
	slices.SortFunc(recs, func(a, b record) int { return bytes.Compare(a.arn, b.arn) })
	return recs
}

// mergeRecords merges two lists in findingArn order into a new one.
func mergeRecords(a, b []record) []record {
	out := make([]record, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if bytes.Compare(a[0].arn, b[0].arn) <= 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}
