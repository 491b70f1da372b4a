package cortex

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Mutation changes the tenant served from the next call on, as a tenant changes between
// two syncs. Endpoints are named by endpoint_id; a vulnerability row by its host name (as
// affected_hosts carries it) and CVE id. Endpoints not named are served as before, byte
// for byte. Its JSON form (POST /_simulator/mutate) has snake_case keys and now in RFC
// 3339. The parts apply in this order: Restore, SetStatus, FixCVE, AddCVE, Remove.
type Mutation struct {
	// SetStatus sets endpoint_status: CONNECTED, DISCONNECTED, LOST or UNINSTALLED, in any
	// case. An endpoint set CONNECTED reports at Now: its last_seen moves there.
	SetStatus map[string]string `json:"set_status,omitempty"`
	// Remove makes endpoints vanish: from get_endpoint, from va_endpoints, and from the
	// affected_hosts of a va_cves row unless an endpoint left with the same name has the
	// CVE (hosts are names, and several endpoints may share one).
	Remove []string `json:"remove,omitempty"`
	// Restore brings back endpoints an earlier Remove took, as they were then, CVEs
	// included, in their place in the default order.
	Restore []string `json:"restore,omitempty"`
	// FixCVE takes the CVE off every endpoint with the host name: the row leaves va_cves
	// (after arrayexpand affected_hosts), and the CVE leaves their va_endpoints rows.
	FixCVE []HostCVE `json:"fix_cve,omitempty"`
	// AddCVE gives the CVE to the first endpoint (in default order) with the host name: the
	// row appears (again) in va_cves.
	AddCVE []HostCVE `json:"add_cve,omitempty"`
	// Now is when the mutation happens. Zero means an hour after the previous mutation,
	// or after Config.Now for the first.
	Now time.Time `json:"now,omitzero"`
}

// HostCVE names one va_cves row after arrayexpand affected_hosts: an endpoint name and a
// CVE id.
type HostCVE struct {
	Host string `json:"host"`
	CVE  string `json:"cve"`
}

// Mutate applies m: every call from now on, and Endpoints, CVERows and VAEndpointRows,
// see the mutated tenant; an XQL query started before keeps the tenant it ran over. An
// unknown endpoint id, host name, CVE id or row (FixCVE of a row va_cves lacks, AddCVE of
// one it has) is an error naming it, and m then changes nothing. Mutations are
// deterministic. Malformed endpoints (Faults.Malformed) stay malformed, the same way,
// while they are served.
func (s *Simulator) Mutate(m Mutation) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cur := s.state.Load()
	now := s.mutated + hour
	if !m.Now.IsZero() {
		now = m.Now.UnixMilli()
	}
	gone := maps.Clone(s.gone)
	d, err := mutate(cur.d, gone, m, now)
	if err != nil {
		return fmt.Errorf("mutating the tenant: %w", err)
	}
	s.state.Store(&tenant{d: d, malformed: cur.malformed.remap(cur.d, d)})
	s.gone, s.mutated = gone, now
	s.nmut++
	return nil
}

// mutationClock returns how many mutations were applied and the time of the last one.
func (s *Simulator) mutationClock() (int, time.Time) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.nmut, time.UnixMilli(s.mutated).UTC()
}

// goneEndpoint is an endpoint a mutation removed, kept so that it can come back.
type goneEndpoint struct {
	e    endpoint
	cves []uint16
}

// slot is one endpoint of a tenant being mutated, with its CVEs.
type slot struct {
	e    endpoint
	cves []uint16
}

// mutate returns the tenant d becomes under m at now, moving what m removes into (and
// what it restores out of) gone.
func mutate(d *dataset, gone map[string]goneEndpoint, m Mutation, now int64) (*dataset, error) {
	var errs []error
	pos := d.index()
	cves := make(map[string]uint16, len(d.cves))
	for c := range d.cves {
		cves[d.cves[c].id] = uint16(c)
	}

	work := make([]slot, 0, len(d.eps)+len(m.Restore))
	for i := range d.eps {
		work = append(work, slot{e: d.eps[i], cves: d.epCVEs[d.epOff[i]:d.epOff[i+1]:d.epOff[i+1]]})
	}
	restoring := make(map[string]bool)
	for _, id := range m.Restore {
		if restoring[id] {
			continue
		}
		g, isGone := gone[id]
		_, served := pos[id]
		switch {
		case isGone:
			restoring[id] = true
			work = append(work, slot(g))
			delete(gone, id)
		case served:
			errs = append(errs, fmt.Errorf("endpoint %s is served: only a removed endpoint can be restored", id))
		default:
			errs = append(errs, fmt.Errorf("unknown endpoint %s", id))
		}
	}
	// Endpoints keep the order they were generated in.
	slices.SortStableFunc(work, func(a, b slot) int { return int(a.e.idx) - int(b.e.idx) })
	at := make(map[string]int, len(work))
	byName := make(map[string][]int)
	for k := range work {
		at[work[k].e.id] = k
		byName[work[k].e.name] = append(byName[work[k].e.name], k)
	}
	known := func(id string) bool {
		if _, ok := at[id]; ok {
			return true
		}
		if _, ok := gone[id]; ok {
			errs = append(errs, fmt.Errorf("endpoint %s was removed by an earlier mutation", id))
		} else {
			errs = append(errs, fmt.Errorf("unknown endpoint %s", id))
		}
		return false
	}

	for _, id := range slices.Sorted(maps.Keys(m.SetStatus)) {
		name := m.SetStatus[id]
		st := slices.IndexFunc(statusNames[:], func(s string) bool { return strings.EqualFold(s, name) })
		if st < 0 {
			errs = append(errs, fmt.Errorf("setting endpoint %s to status %q: the statuses are %s", id, name, strings.Join(statusNames[:], ", ")))
			continue
		}
		if !known(id) {
			continue
		}
		e := &work[at[id]].e
		e.status = uint8(st)
		if e.status == statusConnected {
			e.last = now
		}
	}
	// row finds the CVE and the endpoints named host, recording what is unknown.
	row := func(what string, r HostCVE) (uint16, []int, bool) {
		c, okCVE := cves[r.CVE]
		ks, okHost := byName[r.Host]
		if !okHost {
			errs = append(errs, fmt.Errorf("%s %s on %s: unknown host %s", what, r.CVE, r.Host, r.Host))
		}
		if !okCVE {
			errs = append(errs, fmt.Errorf("%s %s on %s: unknown CVE %s", what, r.CVE, r.Host, r.CVE))
		}
		return c, ks, okHost && okCVE
	}
	has := func(ks []int, c uint16) bool {
		for _, k := range ks {
			if slices.Contains(work[k].cves, c) {
				return true
			}
		}
		return false
	}
	for _, r := range m.FixCVE {
		c, ks, ok := row("fixing", r)
		switch {
		case !ok:
		case !has(ks, c):
			errs = append(errs, fmt.Errorf("fixing %s on %s: host %s does not have %s", r.CVE, r.Host, r.Host, r.CVE))
		default:
			for _, k := range ks {
				work[k].cves = slices.DeleteFunc(slices.Clone(work[k].cves), func(x uint16) bool { return x == c })
			}
		}
	}
	for _, r := range m.AddCVE {
		c, ks, ok := row("adding", r)
		switch {
		case !ok:
		case has(ks, c):
			errs = append(errs, fmt.Errorf("adding %s on %s: host %s already has %s", r.CVE, r.Host, r.Host, r.CVE))
		default:
			work[ks[0]].cves = append(slices.Clip(work[ks[0]].cves), c)
		}
	}
	remove := make(map[string]bool)
	for _, id := range m.Remove {
		switch {
		case restoring[id]:
			errs = append(errs, fmt.Errorf("endpoint %s is named in both Restore and Remove", id))
		case known(id):
			remove[id] = true
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	nd := &dataset{seed: d.seed, now: d.now, awsAccount: d.awsAccount, cves: d.cves}
	nd.eps = make([]endpoint, 0, len(work))
	nd.epOff = make([]uint32, 1, len(work)+1)
	for _, sl := range work {
		if remove[sl.e.id] {
			gone[sl.e.id] = goneEndpoint(sl)
			continue
		}
		nd.eps = append(nd.eps, sl.e)
		nd.epCVEs = append(nd.epCVEs, sl.cves...)
		nd.epOff = append(nd.epOff, uint32(len(nd.epCVEs)))
	}
	nd.buildViews()
	return nd, nil
}

// index maps each endpoint_id to its position.
func (d *dataset) index() map[string]int {
	out := make(map[string]int, len(d.eps))
	for i := range d.eps {
		out[d.eps[i].id] = i
	}
	return out
}
