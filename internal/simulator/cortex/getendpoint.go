package cortex

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// endpointPredicate is one compiled get_endpoint filter.
type endpointPredicate func(e *endpoint) bool

// filterField describes a filter field: the operators it takes and how it matches.
type filterField struct {
	time     func(e *endpoint) int64    // gte / lte fields; nil for in / eq fields
	accessor func(e *endpoint) []string // in / eq fields: the values of e a filter compares against
	fold     bool                       // compare case-insensitively
	check    func(v string) error       // validates an enumerated value
}

// enumCheck returns a validator accepting names (case-insensitively).
func enumCheck(field string, names []string) func(string) error {
	return func(v string) error {
		for _, n := range names {
			if strings.EqualFold(v, n) {
				return nil
			}
		}
		return fmt.Errorf("%q is not a valid value of %s; valid values: %s", v, field, strings.Join(names, ", "))
	}
}

// filterFields are the documented get_endpoint filter fields.
var filterFields = map[string]filterField{
	"endpoint_id_list": {accessor: func(e *endpoint) []string { return []string{e.id} }},
	"endpoint_status": {fold: true, check: enumCheck("endpoint_status", statusFilterNames[:]),
		accessor: func(e *endpoint) []string { return []string{statusFilterNames[e.status]} }},
	"dist_name":  {fold: true, accessor: func(e *endpoint) []string { return []string{profiles[e.profile].pkg} }},
	"first_seen": {time: func(e *endpoint) int64 { return e.first }},
	"last_seen":  {time: func(e *endpoint) int64 { return e.last }},
	"ip_list":    {accessor: (*endpoint).ips},
	"group_name": {fold: true, accessor: (*endpoint).groupNames},
	"platform": {fold: true, check: enumCheck("platform", platformFilterNames[:]),
		accessor: func(e *endpoint) []string { return []string{platformFilterNames[e.platform()]} }},
	"alias": {fold: true, accessor: func(e *endpoint) []string { return []string{e.alias} }},
	"isolate": {fold: true, check: enumCheck("isolate", []string{"isolated", "unisolated"}),
		accessor: func(e *endpoint) []string {
			switch e.isolate {
			case isoIsolated:
				return []string{"isolated"}
			case isoUnisolated:
				return []string{"unisolated"}
			}
			return nil
		}},
	"hostname":       {fold: true, accessor: func(e *endpoint) []string { return []string{e.name} }},
	"public_ip_list": {accessor: func(e *endpoint) []string { return []string{formatIPv4(e.publicIP)} }},
	"username": {fold: true, accessor: func(e *endpoint) []string {
		// A user matches by its full name (ACME\jane.doe) or the name without its domain.
		out := append([]string(nil), e.users...)
		for _, u := range e.users {
			if k := strings.LastIndexByte(u, '\\'); k >= 0 {
				out = append(out, u[k+1:])
			}
		}
		return out
	}},
	"scan_status": {fold: true, check: enumCheck("scan_status", scanFilterNames[:]),
		accessor: func(e *endpoint) []string { return []string{scanFilterNames[e.scan]} }},
}

// sortKeys are the fields get_endpoint sorts by.
var sortKeys = map[string]func(e *endpoint) (int64, string){
	"endpoint_id": func(e *endpoint) (int64, string) { return 0, e.id },
	"first_seen":  func(e *endpoint) (int64, string) { return e.first, "" },
	"last_seen":   func(e *endpoint) (int64, string) { return e.last, "" },
	"scan_status": func(e *endpoint) (int64, string) { return 0, scanStatusNames[e.scan] },
}

// compileFilter validates one filter and returns its predicate.
func compileFilter(raw json.RawMessage) (endpointPredicate, string, error) {
	var f struct {
		Field    *string         `json:"field"`
		Operator *string         `json:"operator"`
		Value    json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, "", fmt.Errorf("a filter must be an object with field, operator and value: %v", err)
	}
	if f.Field == nil || f.Operator == nil || f.Value == nil {
		return nil, "", fmt.Errorf("%s", errMissing("field", "operator", "value"))
	}
	field, ok := filterFields[*f.Field]
	if !ok {
		names := make([]string, 0, len(filterFields))
		for n := range filterFields {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, "", fmt.Errorf("unsupported filter field %q; supported fields: %s", *f.Field, strings.Join(names, ", "))
	}
	op := strings.ToLower(*f.Operator)
	key := *f.Field + " " + op + " " + string(compact(f.Value))
	if field.time != nil {
		if op != "gte" && op != "lte" {
			return nil, "", fmt.Errorf("operator %q is not supported for field %s; use gte or lte", *f.Operator, *f.Field)
		}
		ms, err := epochMillis(f.Value)
		if err != nil {
			return nil, "", fmt.Errorf("value of %s must be a timestamp in epoch milliseconds: %v", *f.Field, err)
		}
		get := field.time
		if op == "gte" {
			return func(e *endpoint) bool { return get(e) >= ms }, key, nil
		}
		return func(e *endpoint) bool { return get(e) <= ms }, key, nil
	}
	var values []string
	switch op {
	case "in":
		if err := json.Unmarshal(f.Value, &values); err != nil {
			return nil, "", fmt.Errorf("value of %s with operator in must be a list of strings", *f.Field)
		}
	case "eq":
		var v string
		if err := json.Unmarshal(f.Value, &v); err != nil {
			return nil, "", fmt.Errorf("value of %s with operator eq must be a string", *f.Field)
		}
		values = []string{v}
	default:
		return nil, "", fmt.Errorf("operator %q is not supported for field %s; use in or eq", *f.Operator, *f.Field)
	}
	if field.check != nil {
		for _, v := range values {
			if err := field.check(v); err != nil {
				return nil, "", err
			}
		}
	}
	get, fold := field.accessor, field.fold
	return func(e *endpoint) bool {
		for _, have := range get(e) {
			for _, v := range values {
				if have == v || fold && strings.EqualFold(have, v) {
					return true
				}
			}
		}
		return false
	}, key, nil
}

// epochMillis reads a JSON number (or a string holding one) as epoch milliseconds.
func epochMillis(raw json.RawMessage) (int64, error) {
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case json.Number:
		n = x
	case string:
		n = json.Number(x)
	default:
		return 0, errBadType
	}
	if ms, err := n.Int64(); err == nil {
		return ms, nil
	}
	f, err := n.Float64()
	if err != nil {
		return 0, err
	}
	return int64(f), nil
}

// compact strips insignificant space from a JSON value, for cache keys.
func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// offset reads search_from / search_to: a non-negative integer.
func offset(raw json.RawMessage, name string) (int, bool, error) {
	if raw == nil || string(raw) == "null" {
		return 0, false, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, false, fmt.Errorf("%s must be an integer", name)
	}
	v, err := strconv.Atoi(n.String())
	if err != nil || v < 0 {
		return 0, false, fmt.Errorf("%s must be a non-negative integer, got %s", name, n)
	}
	return v, true, nil
}

// serveGetEndpoint serves POST /public_api/v1/endpoints/get_endpoint.
func (s *Simulator) serveGetEndpoint(w http.ResponseWriter, _ *http.Request, data json.RawMessage) {
	if data == nil {
		writeParamError(w, errMissing("request_data"))
		return
	}
	var req struct {
		Filters    json.RawMessage `json:"filters"`
		SearchFrom json.RawMessage `json:"search_from"`
		SearchTo   json.RawMessage `json:"search_to"`
		Sort       json.RawMessage `json:"sort"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		writeParamError(w, "request_data must be an object: "+err.Error())
		return
	}
	var filters []json.RawMessage
	if req.Filters != nil && string(req.Filters) != "null" {
		if err := json.Unmarshal(req.Filters, &filters); err != nil {
			writeParamError(w, "filters must be a list of {field, operator, value}")
			return
		}
	}
	preds := make([]endpointPredicate, 0, len(filters))
	keys := make([]string, 0, len(filters)+1)
	for _, f := range filters {
		p, key, err := compileFilter(f)
		if err != nil {
			writeParamError(w, err.Error())
			return
		}
		preds = append(preds, p)
		keys = append(keys, key)
	}
	sortField, desc := "", false
	if req.Sort != nil && string(req.Sort) != "null" {
		var srt struct {
			Field   string `json:"field"`
			Keyword string `json:"keyword"`
		}
		if err := json.Unmarshal(req.Sort, &srt); err != nil {
			writeParamError(w, "sort must be {field, keyword}")
			return
		}
		if _, ok := sortKeys[srt.Field]; !ok {
			writeParamError(w, fmt.Sprintf("unsupported sort field %q; supported: endpoint_id, first_seen, last_seen, scan_status", srt.Field))
			return
		}
		switch strings.ToUpper(srt.Keyword) {
		case "ASC", "":
		case "DESC":
			desc = true
		default:
			writeParamError(w, fmt.Sprintf("sort keyword must be ASC or DESC, got %q", srt.Keyword))
			return
		}
		sortField = srt.Field
		keys = append(keys, "sort "+srt.Field+" "+strconv.FormatBool(desc))
	}
	from, _, err := offset(req.SearchFrom, "search_from")
	if err != nil {
		writeParamError(w, err.Error())
		return
	}
	to, hasTo, err := offset(req.SearchTo, "search_to")
	if err != nil {
		writeParamError(w, err.Error())
		return
	}
	if !hasTo {
		to = from + s.cfg.PageCap
	}
	switch {
	case to < from:
		writeParamError(w, fmt.Sprintf("search_to (%d) must not be smaller than search_from (%d)", to, from))
		return
	case to-from > s.cfg.PageCap:
		writeParamError(w, fmt.Sprintf("The maximum result set size is %d: search_to - search_from is %d", s.cfg.PageCap, to-from))
		return
	}

	t := s.state.Load()
	d := t.d
	order := d.matches(preds, keys, sortField, desc)
	total := len(d.eps)
	if order != nil {
		total = len(order)
	}
	lo, hi := min(from, total), min(to, total)

	buf := make([]byte, 0, 2048*(hi-lo)+128)
	buf = append(buf, `{"reply":{"total_count":`...)
	buf = strconv.AppendInt(buf, int64(total), 10)
	buf = append(buf, `,"result_count":`...)
	buf = strconv.AppendInt(buf, int64(hi-lo), 10)
	buf = append(buf, `,"endpoints":[`...)
	mal := t.malformed
	for pos := lo; pos < hi; pos++ {
		if pos > lo {
			buf = append(buf, ',')
		}
		i := pos
		if order != nil {
			i = int(order[pos])
		}
		if b, ok := mal.lookup(i); ok {
			buf = append(buf, b...)
			continue
		}
		b, err := json.Marshal(d.build(i))
		if err != nil {
			writeError(w, http.StatusInternalServerError, msgInternal, err.Error())
			return
		}
		buf = append(buf, b...)
	}
	buf = append(buf, "]}}"...)
	writeJSON(w, buf)
}

// matches returns the endpoint indexes matching preds in the requested order, or nil for
// all endpoints in default order. Results are cached by their filter key, so paging a
// filtered listing scans the dataset once.
func (d *dataset) matches(preds []endpointPredicate, keys []string, sortField string, desc bool) []int32 {
	if len(preds) == 0 && sortField == "" {
		return nil
	}
	key := strings.Join(keys, "\x00")
	if o, ok := d.filters.get(key); ok {
		return o
	}
	order := make([]int32, 0, len(d.eps))
	for i := range d.eps {
		ok := true
		for _, p := range preds {
			if !p(&d.eps[i]) {
				ok = false
				break
			}
		}
		if ok {
			order = append(order, int32(i))
		}
	}
	if sortField != "" {
		get := sortKeys[sortField]
		sign := 1
		if desc {
			sign = -1
		}
		slices.SortStableFunc(order, func(a, b int32) int {
			na, sa := get(&d.eps[a])
			nb, sb := get(&d.eps[b])
			if c := cmp.Compare(na, nb); c != 0 {
				return sign * c
			}
			return sign * cmp.Compare(sa, sb)
		})
	}
	d.filters.put(key, order)
	return order
}

// filterCache keeps the results of the last few filtered listings.
type filterCache struct {
	mu    sync.Mutex
	keys  []string
	order map[string][]int32
}

const filterCacheSize = 8

func (c *filterCache) get(key string) ([]int32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.order[key]
	return o, ok
}

func (c *filterCache) put(key string, o []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.order == nil {
		c.order = make(map[string][]int32)
	}
	if _, ok := c.order[key]; ok {
		return
	}
	if len(c.keys) == filterCacheSize {
		delete(c.order, c.keys[0])
		c.keys = c.keys[1:]
	}
	c.keys = append(c.keys, key)
	c.order[key] = o
}
