package inspector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/simctl"
)

// Faults are failures the simulator injects into ListFindings; DeniedOperation alone
// reaches other operations. Its JSON form (used by POST /_simulator/faults) has
// snake_case keys and page_delay_ms in milliseconds.
type Faults struct {
	AccessDenied bool          // every ListFindings → 403 AccessDeniedException
	Throttle     int           // the next N ListFindings → 429 ThrottlingException with Retry-After
	RetryAfter   int           // seconds in Retry-After (default 1)
	ServerError  int           // the next N ListFindings → 500 InternalServerException
	PageDelay    time.Duration // sleep before each page
	Malformed    int           // this many findings of the dataset (deterministic choice) are served malformed; Findings() reflects this
	// TruncatedPage cuts the next N pages that get past the faults above off halfway:
	// a 200 with a matching Content-Length whose body is not valid JSON, as a proxy that
	// rewrites responses might leave it.
	TruncatedPage int
	// Region, when set, confines the counted faults (Throttle, ServerError, TruncatedPage)
	// to ListFindings calls of that region; After lets that many of them pass first (a
	// region that answers its connectivity check and first pages, then fails mid-fetch).
	Region string
	After  int
	// DeniedOperation refuses every call of one Inspector operation ("ListFindings" or
	// "ListFindingAggregations") with 403 AccessDeniedException, as IAM does for a
	// principal whose policy lacks just that permission.
	DeniedOperation string
}

// faultsWire is the JSON form of Faults.
type faultsWire struct {
	AccessDenied    bool   `json:"access_denied"`
	Throttle        int    `json:"throttle"`
	RetryAfter      int    `json:"retry_after"`
	ServerError     int    `json:"server_error"`
	PageDelayMS     int64  `json:"page_delay_ms"`
	Malformed       int    `json:"malformed"`
	TruncatedPage   int    `json:"truncated_page"`
	Region          string `json:"region"`
	After           int    `json:"after"`
	DeniedOperation string `json:"denied_operation"`
}

// MarshalJSON writes f in the form POST /_simulator/faults accepts.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsWire{
		AccessDenied: f.AccessDenied, Throttle: f.Throttle, RetryAfter: f.RetryAfter,
		ServerError: f.ServerError, PageDelayMS: f.PageDelay.Milliseconds(), Malformed: f.Malformed,
		Region: f.Region, After: f.After,
		TruncatedPage: f.TruncatedPage, DeniedOperation: f.DeniedOperation,
	})
}

// UnmarshalJSON reads the form POST /_simulator/faults accepts, rejecting unknown keys.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsWire
	if err := simctl.DecodeStrict(bytes.NewReader(b), &w); err != nil {
		return fmt.Errorf("decoding faults: %w", err)
	}
	*f = Faults{
		AccessDenied: w.AccessDenied, Throttle: w.Throttle, RetryAfter: w.RetryAfter,
		ServerError: w.ServerError, PageDelay: time.Duration(w.PageDelayMS) * time.Millisecond, Malformed: w.Malformed,
		Region: w.Region, After: w.After,
		TruncatedPage: w.TruncatedPage, DeniedOperation: w.DeniedOperation,
	}
	return nil
}

// normalized clamps negative counts to zero and defaults RetryAfter.
func (f Faults) normalized() Faults {
	f.Throttle = max(f.Throttle, 0)
	f.ServerError = max(f.ServerError, 0)
	f.Malformed = max(f.Malformed, 0)
	f.TruncatedPage = max(f.TruncatedPage, 0)
	f.PageDelay = max(f.PageDelay, 0)
	if f.RetryAfter <= 0 {
		f.RetryAfter = 1
	}
	return f
}

// fault is what one ListFindings request draws from the active Faults.
type fault int

const (
	faultNone fault = iota
	faultAccessDenied
	faultThrottle
	faultServerError
	faultTruncatedPage
)

// faultState holds the active faults; counters count down as requests consume them.
type faultState struct{ simctl.Guarded[Faults] }

// take returns the fault the next ListFindings request of region suffers, consuming a
// counter.
func (s *faultState) take(region string) (out fault, retryAfter int) {
	s.Update(func(f *Faults) {
		switch {
		case f.AccessDenied, f.DeniedOperation == opListFindings:
			out = faultAccessDenied
		case f.Region != "" && f.Region != region:
		case f.After > 0:
			f.After--
		case f.Throttle > 0:
			f.Throttle--
			out, retryAfter = faultThrottle, f.RetryAfter
		case f.ServerError > 0:
			f.ServerError--
			out = faultServerError
		case f.TruncatedPage > 0:
			f.TruncatedPage--
			out = faultTruncatedPage
		}
	})
	return out, retryAfter
}

// malformedSet holds the served bytes of the findings chosen to be malformed.
type malformedSet struct {
	n     int
	bytes map[uint64][]byte // by region index << 32 | record index
	kinds map[uint64]int    // the malformation of each, so a mutation can render it again
}

func malformedKey(region, rec int) uint64 { return uint64(region)<<32 | uint64(rec) }

// lookup returns the malformed bytes of a record, if it is one.
func (m *malformedSet) lookup(region, rec int) ([]byte, bool) {
	if m == nil || len(m.bytes) == 0 || region < 0 {
		return nil, false
	}
	b, ok := m.bytes[malformedKey(region, rec)]
	return b, ok
}

// Kinds of malformation, cycled through in the order findings are chosen. The first two
// still decode with the AWS SDK (a normalizer must reject them); the last two make the
// SDK fail to deserialize the whole page that carries them.
const (
	malformMissingARN = iota
	malformEmptyResources
	malformWrongType
	malformISOTimestamp
	malformKinds
)

// buildMalformed chooses n findings (never an edge case) across all regions, the same
// ones for a seed, and renders each malformed. The choice for n is a prefix of the
// choice for any larger n.
func buildMalformed(seed int64, datasets []*dataset, n int) (*malformedSet, error) {
	set := &malformedSet{n: n, bytes: make(map[uint64][]byte, n), kinds: make(map[uint64]int, n)}
	if n == 0 {
		return set, nil
	}
	var candidates []uint64
	for ri, d := range datasets {
		for i := range d.recs {
			if !d.recs[i].edge {
				candidates = append(candidates, malformedKey(ri, i))
			}
		}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d616c666f726d))
	n = min(n, len(candidates))
	for j := range n {
		k := j + rng.IntN(len(candidates)-j)
		candidates[j], candidates[k] = candidates[k], candidates[j]
		key := candidates[j]
		d := datasets[key>>32]
		b, err := malform(d.appendFinding(nil, int(key&0xffffffff)), j%malformKinds)
		if err != nil {
			return nil, err
		}
		set.bytes[key] = b
		set.kinds[key] = j % malformKinds
	}
	return set, nil
}

// remap carries the set over to datasets a mutation made from old: each chosen finding
// still served stays malformed, the same way, rendered from its new bytes.
func (m *malformedSet) remap(old, datasets []*dataset) (*malformedSet, error) {
	set := &malformedSet{n: m.n, bytes: make(map[uint64][]byte, len(m.kinds)), kinds: make(map[uint64]int, len(m.kinds))}
	for key, kind := range m.kinds {
		ri := int(key >> 32)
		i, ok := datasets[ri].find(old[ri].recs[key&0xffffffff].arn)
		if !ok {
			continue
		}
		b, err := malform(datasets[ri].appendFinding(nil, i), kind)
		if err != nil {
			return nil, err
		}
		nk := malformedKey(ri, i)
		set.bytes[nk], set.kinds[nk] = b, kind
	}
	return set, nil
}

// malform rewrites a finding's JSON with one defect of kind.
func malform(finding []byte, kind int) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(finding))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding generated finding: %w", err)
	}
	switch kind {
	case malformMissingARN:
		delete(m, "findingArn")
	case malformEmptyResources:
		m["resources"] = []any{}
	case malformWrongType:
		score := "9.8"
		if n, ok := m["inspectorScore"].(json.Number); ok {
			score = n.String()
		}
		m["inspectorScore"] = score // a string where the model has a double
		m["findingFlags"] = []any{1, "two", nil}
	case malformISOTimestamp:
		if n, ok := m["firstObservedAt"].(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				m["firstObservedAt"] = time.UnixMilli(int64(f * 1000)).UTC().Format(time.RFC3339)
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encoding malformed finding: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
