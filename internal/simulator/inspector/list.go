package inspector

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	sortFields = []string{"AWS_ACCOUNT_ID", "FINDING_TYPE", "SEVERITY", "FIRST_OBSERVED_AT", "LAST_OBSERVED_AT",
		"FINDING_STATUS", "RESOURCE_TYPE", "ECR_IMAGE_PUSHED_AT", "ECR_IMAGE_REPOSITORY_NAME", "ECR_IMAGE_REGISTRY",
		"NETWORK_PROTOCOL", "COMPONENT_TYPE", "VULNERABILITY_ID", "VULNERABILITY_SOURCE", "INSPECTOR_SCORE",
		"VENDOR_SEVERITY", "EPSS_SCORE"}
	sortOrders  = []string{"ASC", "DESC"}
	comparisons = []string{"EQUALS", "PREFIX", "NOT_EQUALS"}
)

// listQuery is a validated ListFindings request.
type listQuery struct {
	preds     []predicate
	size      int
	cursor    int // position in the (sorted) finding order where the page starts
	hash      uint64
	sortField string // empty: findingArn order
	desc      bool
}

// serveListFindings serves POST /findings/list.
func (s *Simulator) serveListFindings(w http.ResponseWriter, r *http.Request, body []byte) {
	p, region, aerr := s.authenticate(r, body, "inspector2")
	if aerr != nil {
		writeJSONError(w, aerr.status, aerr.jsonType, aerr.jsonMsg)
		return
	}
	if delay := s.faults.Get().PageDelay; delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client is gone; nobody reads an answer
		}
	}
	if s.limiter != nil && !s.limiter.Allow(s.clock()) {
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, http.StatusTooManyRequests, "ThrottlingException", "Rate exceeded")
		return
	}
	f, retryAfter := s.faults.take(region)
	switch f {
	case faultAccessDenied:
		s.writeAccessDenied(w, p, region, opListFindings, "/findings/list")
		return
	case faultThrottle:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		writeJSONError(w, http.StatusTooManyRequests, "ThrottlingException", "Rate exceeded")
		return
	case faultServerError:
		writeJSONError(w, http.StatusInternalServerError, "InternalServerException", "Internal server error")
		return
	}

	q, verr := s.parseList(body, region)
	if verr != nil {
		writeJSONErrorBody(w, http.StatusBadRequest, "ValidationException", verr.body())
		return
	}
	ri, ok := s.regions[region]
	t := s.state.Load()
	d, mal := &dataset{region: region, account: s.cfg.AccountID}, t.malformed
	if ok {
		d = t.datasets[ri]
	} else {
		ri = -1
	}
	page, next := d.page(q)

	bp := s.buffer()
	buf := append((*bp)[:0], `{"findings":[`...)
	for k, i := range page {
		if k > 0 {
			buf = append(buf, ',')
		}
		if b, ok := mal.lookup(ri, int(i)); ok {
			buf = append(buf, b...)
			continue
		}
		buf = d.appendFinding(buf, int(i))
	}
	buf = append(buf, ']')
	if next >= 0 {
		buf = append(buf, `,"nextToken":"`...)
		buf = append(buf, encodeToken(next, q.hash)...)
		buf = append(buf, '"')
	}
	buf = append(buf, '}')
	served := buf
	if f == faultTruncatedPage {
		served = buf[:len(buf)/2] // a proper prefix of a JSON object is never valid JSON
	}

	setRequestID(w)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(served)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(served)
	*bp = buf
	s.bufs.Put(bp)
}

// buffer returns a pooled response buffer.
func (s *Simulator) buffer() *[]byte {
	if bp, ok := s.bufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

// page returns the indexes of the findings of q's page and the position the next page
// starts at, -1 when this is the last page. It scans from the cursor, so paging through
// a whole dataset costs one pass whatever the filter.
func (d *dataset) page(q *listQuery) ([]int32, int) {
	var order []int32
	if q.sortField != "" {
		order = d.order(q.sortField, q.desc)
	}
	at := func(pos int) int32 {
		if order == nil {
			return int32(pos)
		}
		return order[pos]
	}
	matches := func(i int32) bool {
		r := &d.recs[i]
		for _, p := range q.preds {
			if !p(d, r) {
				return false
			}
		}
		return true
	}
	page := make([]int32, 0, q.size)
	pos := q.cursor
	for ; pos < len(d.recs) && len(page) < q.size; pos++ {
		if i := at(pos); matches(i) {
			page = append(page, i)
		}
	}
	for ; pos < len(d.recs); pos++ {
		if matches(at(pos)) {
			return page, pos
		}
	}
	return page, -1
}

// Tokens are base64url of a version byte, the cursor and a hash of the region, filter
// and sort, so that a token is rejected with any other request.
const tokenVersion = 1

func encodeToken(cursor int, hash uint64) string {
	var b [17]byte
	b[0] = tokenVersion
	binary.BigEndian.PutUint64(b[1:], uint64(cursor))
	binary.BigEndian.PutUint64(b[9:], hash)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeToken(tok string) (cursor int, hash uint64, ok bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 17 || b[0] != tokenVersion {
		return 0, 0, false
	}
	c := binary.BigEndian.Uint64(b[1:])
	if c > math.MaxInt32 {
		return 0, 0, false
	}
	return int(c), binary.BigEndian.Uint64(b[9:]), true
}

// requestObject reads a request body as a JSON object; an empty body is an empty one.
func requestObject(body []byte) (map[string]json.RawMessage, *validationError) {
	var top map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &top); err != nil {
			return nil, &validationError{reason: "CANNOT_PARSE", message: "Could not parse the request body: it is not a JSON object"}
		}
	}
	return top, nil
}

// paging validates the paging members every list operation shares, maxResults and
// nextToken, and returns the page size (maxResults, at most pageCap) and the token.
func (v *validator) paging(top map[string]json.RawMessage, pageCap int) (size int, token string) {
	size = pageCap
	var maxResults *int64
	if v.decode(top["maxResults"], &maxResults, "maxResults") && maxResults != nil {
		switch {
		case *maxResults < 1:
			v.add("maxResults", quote(strconv.FormatInt(*maxResults, 10)), "Member must have value greater than or equal to 1")
		case *maxResults > 100:
			v.add("maxResults", quote(strconv.FormatInt(*maxResults, 10)), "Member must have value less than or equal to 100")
		default:
			size = min(int(*maxResults), pageCap)
		}
	}
	var next *string
	if v.decode(top["nextToken"], &next, "nextToken") && next != nil {
		if len(*next) > 1_000_000 {
			v.add("nextToken", "'...'", "Member must have length less than or equal to 1000000")
		}
		token = *next
	}
	return size, token
}

// parseList decodes and validates a ListFindings body.
func (s *Simulator) parseList(body []byte, region string) (*listQuery, *validationError) {
	v := &validator{}
	top, verr := requestObject(body)
	if verr != nil {
		return nil, verr
	}
	q := &listQuery{}

	var token string
	q.size, token = v.paging(top, s.cfg.PageCap)
	var sc *struct {
		Field     *string `json:"field"`
		SortOrder *string `json:"sortOrder"`
	}
	if v.decode(top["sortCriteria"], &sc, "sortCriteria") && sc != nil {
		if v.enum(sc.Field, "sortCriteria.field", sortFields) && v.enum(sc.SortOrder, "sortCriteria.sortOrder", sortOrders) {
			q.sortField, q.desc = *sc.Field, *sc.SortOrder == "DESC"
		}
	}
	var fc map[string]json.RawMessage
	if v.decode(top["filterCriteria"], &fc, "filterCriteria") {
		q.preds = compileFilters(fc, v)
	}
	if v.cannotParse != "" {
		return nil, &validationError{reason: "CANNOT_PARSE", message: v.cannotParse}
	}
	if len(v.errs) > 0 {
		return nil, v.failed()
	}

	canonical, _ := json.Marshal(fc) // sorted keys, compacted values
	q.hash = requestHash(region, canonical, []byte(q.sortField+"/"+strconv.FormatBool(q.desc)))
	if q.cursor, verr = resume(token, q.hash, "filterCriteria and sortCriteria"); verr != nil {
		return nil, verr
	}
	return q, nil
}

// requestHash fingerprints what a paged request asks of a region, so that a nextToken
// is accepted only with the request that it continues.
func requestHash(region string, parts ...[]byte) uint64 {
	h := fnv.New64a()
	h.Write([]byte(region))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write(p)
	}
	return h.Sum64()
}

// resume returns where a request of hash continues from: 0 without a token, else the
// token's cursor. members names what the token is bound to, for the refusal.
func resume(token string, hash uint64, members string) (int, *validationError) {
	if token == "" {
		return 0, nil
	}
	cursor, tokenHash, ok := decodeToken(token)
	switch {
	case !ok:
		return 0, &validationError{reason: "FIELD_VALIDATION_FAILED", message: "The nextToken is not valid.",
			fields: []fieldError{{name: "nextToken", message: "Invalid nextToken"}}}
	case tokenHash != hash:
		return 0, &validationError{reason: "FIELD_VALIDATION_FAILED", message: "The nextToken does not match the " + members + " of the request.",
			fields: []fieldError{{name: "nextToken", message: "Invalid nextToken for this request"}}}
	}
	return cursor, nil
}

// fieldError is one entry of a ValidationException's fields.
type fieldError struct {
	name    string
	value   string // rendered for the message: 'x' or null
	message string
}

// validationError is a ValidationException body.
type validationError struct {
	reason  string
	message string
	fields  []fieldError
}

func (e *validationError) body() []byte {
	type field struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	}
	out := struct {
		Message string  `json:"message"`
		Reason  string  `json:"reason"`
		Fields  []field `json:"fields,omitempty"`
	}{Message: e.message, Reason: e.reason}
	for _, f := range e.fields {
		out.Fields = append(out.Fields, field{f.name, f.message})
	}
	b, _ := json.Marshal(out)
	return b
}

// validator collects the constraint violations of a request, as AWS reports them all.
type validator struct {
	errs        []fieldError
	cannotParse string
}

func (v *validator) add(name, value, message string) {
	v.errs = append(v.errs, fieldError{name: name, value: value, message: message})
}

// failed renders the collected violations the way AWS's front end words them.
func (v *validator) failed() *validationError {
	parts := make([]string, len(v.errs))
	for i, e := range v.errs {
		parts[i] = "Value " + e.value + " at '" + e.name + "' failed to satisfy constraint: " + e.message
	}
	noun := " validation errors detected: "
	if len(v.errs) == 1 {
		noun = " validation error detected: "
	}
	return &validationError{
		reason:  "FIELD_VALIDATION_FAILED",
		message: strconv.Itoa(len(v.errs)) + noun + strings.Join(parts, "; "),
		fields:  v.errs,
	}
}

// decode unmarshals raw into out, recording a parse failure; absent raw decodes nothing
// and reports true.
func (v *validator) decode(raw json.RawMessage, out any, path string) bool {
	if len(raw) == 0 {
		return true
	}
	if err := json.Unmarshal(raw, out); err != nil {
		if v.cannotParse == "" {
			v.cannotParse = "Could not parse the request body: value at '" + path + "' has the wrong type"
		}
		return false
	}
	return true
}

// enum checks a required enum member.
func (v *validator) enum(s *string, path string, allowed []string) bool {
	if s == nil {
		v.add(path, "null", "Member must not be null")
		return false
	}
	if !slices.Contains(allowed, *s) {
		v.add(path, quote(*s), "Member must satisfy enum value set: ["+strings.Join(allowed, ", ")+"]")
		return false
	}
	return true
}

// stringFilter checks a StringFilter element.
func (v *validator) stringFilter(f stringFilter, path string) bool {
	ok := v.enum(f.Comparison, path+".comparison", comparisons)
	switch {
	case f.Value == nil:
		v.add(path+".value", "null", "Member must not be null")
		ok = false
	case len(*f.Value) < 1 || len(*f.Value) > 1024:
		v.add(path+".value", quote(*f.Value), "Member must have length between 1 and 1024")
		ok = false
	}
	return ok
}

// mapFilter checks a MapFilter element.
func (v *validator) mapFilter(f mapFilter, path string) bool {
	ok := v.enum(f.Comparison, path+".comparison", []string{"EQUALS"})
	switch {
	case f.Key == nil:
		v.add(path+".key", "null", "Member must not be null")
		ok = false
	case len(*f.Key) < 1 || len(*f.Key) > 128:
		v.add(path+".key", quote(*f.Key), "Member must have length between 1 and 128")
		ok = false
	}
	if f.Value != nil && len(*f.Value) > 256 {
		v.add(path+".value", quote(*f.Value), "Member must have length less than or equal to 256")
		ok = false
	}
	return ok
}

// intRange checks an optional bounded integer.
func (v *validator) intRange(n *int, path string, lo, hi int) {
	if n != nil && (*n < lo || *n > hi) {
		v.add(path, quote(strconv.Itoa(*n)), "Member must have value between "+strconv.Itoa(lo)+" and "+strconv.Itoa(hi))
	}
}

// lengthError records a list of the wrong length.
func (v *validator) lengthError(path string, list []json.RawMessage, lo, hi int) {
	msg := "Member must have length greater than or equal to " + strconv.Itoa(lo)
	if len(list) > hi {
		msg = "Member must have length less than or equal to " + strconv.Itoa(hi)
	}
	v.add(path, quote("["+strconv.Itoa(len(list))+" elements]"), msg)
}

// epochMillis converts an epoch-seconds timestamp to milliseconds.
func (v *validator) epochMillis(n json.Number, path string) int64 {
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		if v.cannotParse == "" {
			v.cannotParse = "Could not parse the request body: value at '" + path + "' is not a timestamp"
		}
		return 0
	}
	return int64(math.Round(f * 1000))
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return "'" + s + "'"
}

// sortedKeys returns the keys of m in order, for deterministic validation messages.
func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
