package cortex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/simctl"
)

// Faults are failures the simulator injects into the public API. Its JSON form (used by
// POST /_simulator/faults) has snake_case keys and page_delay_ms in milliseconds.
type Faults struct {
	Unauthorized    bool          // every call → 401, as a revoked key gets
	Forbidden       bool          // every call → 403 (key lacks the RBAC role)
	PaymentRequired bool          // every call → 402 (tenant lacks the license)
	QueryFail       bool          // XQL queries end with status FAIL when they finish
	ServerError     int           // the next N calls → 500
	Throttle        int           // the next N calls → 429
	Malformed       int           // this many endpoints (deterministic choice) are served with fields of the wrong type; see MalformedIDs
	PageDelay       time.Duration // sleep before answering each call
}

// faultsWire is the JSON form of Faults.
type faultsWire struct {
	Unauthorized    bool  `json:"unauthorized"`
	Forbidden       bool  `json:"forbidden"`
	PaymentRequired bool  `json:"payment_required"`
	QueryFail       bool  `json:"query_fail"`
	ServerError     int   `json:"server_error"`
	Throttle        int   `json:"throttle"`
	Malformed       int   `json:"malformed"`
	PageDelayMS     int64 `json:"page_delay_ms"`
}

// MarshalJSON writes f in the form POST /_simulator/faults accepts.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsWire{
		Unauthorized: f.Unauthorized, Forbidden: f.Forbidden, PaymentRequired: f.PaymentRequired,
		QueryFail: f.QueryFail, ServerError: f.ServerError, Throttle: f.Throttle, Malformed: f.Malformed,
		PageDelayMS: f.PageDelay.Milliseconds(),
	})
}

// UnmarshalJSON reads the form POST /_simulator/faults accepts, rejecting unknown keys.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsWire
	if err := simctl.DecodeStrict(bytes.NewReader(b), &w); err != nil {
		return fmt.Errorf("decoding faults: %w", err)
	}
	*f = Faults{
		Unauthorized: w.Unauthorized, Forbidden: w.Forbidden, PaymentRequired: w.PaymentRequired,
		QueryFail: w.QueryFail, ServerError: w.ServerError, Throttle: w.Throttle, Malformed: w.Malformed,
		PageDelay: time.Duration(w.PageDelayMS) * time.Millisecond,
	}
	return nil
}

// normalized clamps negative counts and delays to zero.
func (f Faults) normalized() Faults {
	f.ServerError = max(f.ServerError, 0)
	f.Throttle = max(f.Throttle, 0)
	f.Malformed = max(f.Malformed, 0)
	f.PageDelay = max(f.PageDelay, 0)
	return f
}

// fault is what one call draws from the active Faults.
type fault int

const (
	faultNone fault = iota
	faultUnauthorized
	faultForbidden
	faultPaymentRequired
	faultThrottle
	faultServerError
)

// faultState holds the active faults; counters count down as calls consume them.
type faultState struct{ simctl.Guarded[Faults] }

// take returns the fault the next call suffers, consuming a counter.
func (s *faultState) take() (out fault) {
	s.Update(func(f *Faults) {
		switch {
		case f.Unauthorized:
			out = faultUnauthorized
		case f.Forbidden:
			out = faultForbidden
		case f.PaymentRequired:
			out = faultPaymentRequired
		case f.Throttle > 0:
			f.Throttle--
			out = faultThrottle
		case f.ServerError > 0:
			f.ServerError--
			out = faultServerError
		}
	})
	return out
}

// malformedSet holds the served bytes of the endpoints chosen to be malformed.
type malformedSet struct {
	n     int
	order []int32          // endpoint indexes in the order chosen
	kinds []int            // the malformation of each, parallel to order
	bytes map[int32][]byte // by endpoint index
}

// lookup returns the malformed bytes of endpoint i, if it is one.
func (m *malformedSet) lookup(i int) ([]byte, bool) {
	if len(m.bytes) == 0 {
		return nil, false
	}
	b, ok := m.bytes[int32(i)]
	return b, ok
}

// Kinds of malformation, cycled through in the order endpoints are chosen.
const (
	malformStringTimes   = iota // first_seen / last_seen as ISO-8601 strings
	malformScalarIP             // ip a bare string, mac_address a number
	malformNullID               // endpoint_id null
	malformNumericStatus        // endpoint_status a number, tags a string
	malformKinds
)

// plantedEndpoints is how many endpoints open the generated dataset as documented edge
// cases; they are never chosen to be malformed.
const plantedEndpoints = 6

// buildMalformed chooses n endpoints, the same ones for a seed (and mutations), and
// renders each broken. The choice for n is a prefix of the choice for any larger n.
func buildMalformed(d *dataset, n int) *malformedSet {
	set := &malformedSet{n: n, bytes: make(map[int32][]byte)}
	var perm []int32
	for i := range d.eps {
		if d.eps[i].idx >= plantedEndpoints {
			perm = append(perm, int32(i))
		}
	}
	cands := len(perm)
	n = min(n, cands)
	if n == 0 {
		return set
	}
	rng := rand.New(rand.NewPCG(d.seed, 0x6d616c666f726d))
	for j := range n {
		k := j + rng.IntN(cands-j)
		perm[j], perm[k] = perm[k], perm[j]
		i := perm[j]
		set.order = append(set.order, i)
		set.kinds = append(set.kinds, j%malformKinds)
		set.bytes[i] = malform(d.build(int(i)), j%malformKinds)
	}
	return set
}

// remap carries the set over to the dataset a mutation made from old: each chosen
// endpoint still served stays malformed, the same way, rendered from its new state.
func (m *malformedSet) remap(old, d *dataset) *malformedSet {
	set := &malformedSet{n: m.n, bytes: make(map[int32][]byte, len(m.order))}
	if len(m.order) == 0 {
		return set
	}
	pos := d.index()
	for k, i := range m.order {
		j, ok := pos[old.eps[i].id]
		if !ok {
			continue
		}
		set.order = append(set.order, int32(j))
		set.kinds = append(set.kinds, m.kinds[k])
		set.bytes[int32(j)] = malform(d.build(j), m.kinds[k])
	}
	return set
}

// malform renders e with one defect of kind.
func malform(e Endpoint, kind int) []byte {
	raw, _ := json.Marshal(e)
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&m)
	switch kind {
	case malformStringTimes:
		m["first_seen"] = time.UnixMilli(e.FirstSeen).UTC().Format(time.RFC3339)
		m["last_seen"] = time.UnixMilli(e.LastSeen).UTC().Format(time.RFC3339)
	case malformScalarIP:
		if len(e.IP) > 0 {
			m["ip"] = e.IP[0]
		}
		m["mac_address"] = 42
	case malformNullID:
		m["endpoint_id"] = nil
	case malformNumericStatus:
		m["endpoint_status"] = 1
		m["tags"] = "prod"
	}
	out, _ := json.Marshal(m)
	return out
}
