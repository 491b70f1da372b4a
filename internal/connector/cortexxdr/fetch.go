package cortexxdr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

// Raw record kinds.
const (
	KindEndpoint        = "endpoint"
	KindEndpointRemoved = "endpoint_removed"
	KindVulnerability   = "vulnerability"
)

// Query is the XQL query for vulnerabilities: one row per CVE and affected host. It
// names no fields, since an unknown column in a fields stage fails the whole query and
// va_cves's columns are not documented; the normalizer maps whichever are present.
const Query = "dataset = va_cves | arrayexpand affected_hosts"

// API calls.
const (
	apiGetEndpoint   = "endpoints/get_endpoint"
	apiStartQuery    = "xql/start_xql_query"
	apiQueryResults  = "xql/get_query_results"
	apiResultsStream = "xql/get_query_results_stream"
)

// Fetch reads the tenant's endpoints page by page, then its vulnerabilities through
// XQL, as one scope. Both sync types fetch everything: neither get_endpoint's filters
// nor va_cves can say what changed. Endpoints come first because the vulnerability
// records carry the ids of the endpoints with their host name. A tenant with more
// endpoints than max_endpoints fails at once, before anything is emitted.
func (s *Source) Fetch(ctx context.Context, req connector.FetchRequest, emit func(*model.RawRecord) error) (connector.FetchResult, error) {
	f := &fetch{src: s, req: req, emit: emit, byName: map[string][]endpointRef{}, seen: map[string]struct{}{}}
	err := s.initiated()
	if err == nil {
		err = f.endpoints(ctx)
	}
	if err == nil {
		err = f.vulnerabilities(ctx)
	}
	outcome := model.OutcomeSucceeded
	if err != nil {
		outcome = model.OutcomeFailed
	}
	res := connector.FetchResult{Scopes: []model.ScopeOutcome{{Scope: s.scope, Outcome: outcome, Records: f.emitted}}}
	if err == nil {
		res.VendorCounts, res.CountsUnavailable = f.vendorCounts()
	}
	if f.hostless > 0 {
		res.Skipped = f.hostless
		res.SkipReason = "va_cves rows that name no affected host"
	}
	return res, err
}

// initiated fails when Fetch or Test is called before Initiate.
func (s *Source) initiated() error {
	if s.client == nil {
		return &connector.Error{Class: connector.ClassInternal, Message: "the Cortex XDR source was used before Initiate", Action: "this is a Tributary bug; report it with this sync's log"}
	}
	return nil
}

// fetch is the state of one Fetch.
type fetch struct {
	src  *Source
	req  connector.FetchRequest
	emit func(*model.RawRecord) error

	// byName maps a lower-cased endpoint name to its endpoints: 100,000 endpoints take
	// a few MiB. seen holds the ids emitted, against pages that shift mid-sync.
	byName   map[string][]endpointRef
	seen     map[string]struct{}
	emitted  int64
	hostless int64
	// endpointTotal and rowTotal are the tenant's own totals: get_endpoint's total_count
	// and the query's number_of_results; nil when the vendor did not say.
	endpointTotal, rowTotal *int64
}

// vendorCounts returns the tenant's totals for data validation, or why there are none.
func (f *fetch) vendorCounts() ([]model.VendorCount, string) {
	var counts []model.VendorCount
	var missing []string
	if f.endpointTotal != nil {
		counts = append(counts, model.VendorCount{Object: model.ObjectAssets, Count: *f.endpointTotal, Source: "get_endpoint total_count"})
	} else {
		missing = append(missing, "get_endpoint's total_count")
	}
	if f.rowTotal != nil {
		counts = append(counts, model.VendorCount{Object: model.ObjectFindings, Count: *f.rowTotal, Source: "XQL va_cves number_of_results"})
	} else {
		missing = append(missing, "the vulnerability query's number_of_results")
	}
	if len(missing) == 0 {
		return counts, ""
	}
	return counts, "Cortex XDR did not report " + strings.Join(missing, " or ") + "; nothing to fix on the connector"
}

type endpointRef struct {
	id       string
	lastSeen int64
	removed  bool
}

// endpointPage is one get_endpoint reply.
type endpointPage struct {
	Reply *struct {
		TotalCount *int64           `json:"total_count"`
		Endpoints  []jsontext.Value `json:"endpoints"`
	} `json:"reply"`
}

// endpointPage asks get_endpoint for endpoints [from, to).
func (s *Source) endpointPage(ctx context.Context, from, to int) (*endpointPage, error) {
	if err := s.initiated(); err != nil {
		return nil, err
	}
	resp, err := s.client.call(ctx, apiGetEndpoint, map[string]any{
		"search_from": from,
		"search_to":   to,
		// A stable order, so pages do not overlap or skip while paging.
		"sort": map[string]string{"field": "endpoint_id", "keyword": "ASC"},
	})
	if err != nil {
		return nil, err
	}
	var page endpointPage
	if err := json.Unmarshal(resp.body, &page, decodeOptions); err != nil {
		return nil, resp.malformed(apiGetEndpoint, "is not a page of endpoints: "+err.Error())
	}
	if page.Reply == nil {
		return nil, resp.malformed(apiGetEndpoint, "has no reply")
	}
	return &page, nil
}

func (f *fetch) endpoints(ctx context.Context) error {
	s := f.src
	size := s.settings.PageSize
	for from := 0; ; {
		page, err := s.endpointPage(ctx, from, from+size)
		if err != nil {
			return err
		}
		total := page.Reply.TotalCount
		if from == 0 {
			f.endpointTotal = total
		}
		if limit := s.settings.MaxEndpoints; limit > 0 && total != nil && *total > int64(limit) {
			return &connector.Error{
				Class:   connector.ClassLimit,
				Message: fmt.Sprintf("the tenant has %s endpoints, more than max_endpoints %s", thousands(*total), thousands(int64(limit))),
				Action:  "raise max_endpoints in the connector's settings or set it to 0 (no limit)",
			}
		}
		eps := page.Reply.Endpoints
		fetchedAt := time.Now().UTC()
		repeats := 0
		for _, ep := range eps {
			k := endpointKeysOf(ep)
			if k.id != "" {
				if _, dup := f.seen[k.id]; dup {
					repeats++
					continue
				}
				f.seen[k.id] = struct{}{}
			}
			removed := s.remove[strings.ToUpper(strings.TrimSpace(k.status))]
			kind := KindEndpoint
			if removed {
				kind = KindEndpointRemoved
			}
			if k.id != "" {
				name := strings.ToLower(k.name)
				f.byName[name] = append(f.byName[name], endpointRef{id: k.id, lastSeen: k.lastSeen, removed: removed})
			}
			if err := f.send(kind, k.id, fetchedAt, ep); err != nil {
				return err
			}
		}
		from += len(eps)
		switch {
		case len(eps) == 0:
			return nil // the count shrank mid-sync, or the vendor counts loosely
		case repeats == len(eps) && from > len(eps):
			// A page of repeats: the vendor ignores search_from, and the endpoints past
			// the first page would be missed (and archived as not returned).
			return &connector.Error{
				Class:   connector.ClassMalformed,
				Message: fmt.Sprintf("get_endpoint returned only endpoints it had returned already for search_from %d; paging would not end", from-len(eps)),
				Action:  "retry the sync; if it persists, check that base_url points at the Cortex XDR API and report it to Palo Alto Networks support",
			}
		case total == nil && len(eps) < size:
			return nil
		case total != nil && int64(from) >= *total:
			return nil
		}
	}
}

func (f *fetch) send(kind, key string, fetchedAt time.Time, payload []byte) error {
	s := f.src
	err := f.emit(&model.RawRecord{
		SyncID:        f.req.SyncID,
		ConnectorID:   s.inst.ID,
		ConnectorType: TypeName,
		Scope:         s.scope,
		Kind:          kind,
		VendorKey:     key,
		FetchedAt:     fetchedAt,
		Payload:       payload,
	})
	if err == nil {
		f.emitted++
	}
	return err
}

// endpointKeys are the members of an endpoint the fetcher itself needs.
type endpointKeys struct {
	id, name, status string
	lastSeen         int64
}

// endpointKeysOf reads what it can of an endpoint's keys; what it cannot is left for
// the normalizer to report, so the record is dead-lettered rather than the sync failed.
func endpointKeysOf(b []byte) endpointKeys {
	var k endpointKeys
	_ = members(b, func(name string, d *jsontext.Decoder) error {
		var dst *string
		switch name {
		case "endpoint_id":
			dst = &k.id
		case "endpoint_name":
			dst = &k.name
		case "endpoint_status":
			dst = &k.status
		case "last_seen":
			if t, err := readMillis(d); err == nil {
				k.lastSeen = t.UnixMilli()
			}
			return nil
		default:
			return d.SkipValue()
		}
		s, err := readString(d)
		if err == nil {
			*dst = s
		}
		return nil
	})
	return k
}

// rowKeysOf reads the affected hosts and the CVE id of an XQL row. After arrayexpand,
// affected_hosts is one name; an array (the expansion not applied) yields each name.
func rowKeysOf(b []byte) (hosts []string, cve string) {
	var cveID, name, endpointName string
	_ = members(b, func(member string, d *jsontext.Decoder) error {
		var err error
		switch member {
		case "affected_hosts":
			hosts, err = readStrings(d)
		case "endpoint_name":
			endpointName, err = readString(d)
		case "cve_id":
			cveID, err = readString(d)
		case "name":
			name, err = readString(d)
		default:
			return d.SkipValue()
		}
		_ = err // a bad member reads as absent; the normalizer reports it
		return nil
	})
	if len(hosts) == 0 && endpointName != "" {
		hosts = []string{endpointName}
	}
	return hosts, cmp.Or(cveID, name)
}

// vulnerabilities runs the XQL query and emits one record per row and affected host.
func (f *fetch) vulnerabilities(ctx context.Context) error {
	for _, refs := range f.byName {
		slices.SortFunc(refs, func(a, b endpointRef) int {
			if a.removed != b.removed {
				if a.removed {
					return 1
				}
				return -1
			}
			return cmp.Or(cmp.Compare(b.lastSeen, a.lastSeen), strings.Compare(a.id, b.id))
		})
	}
	c := f.src.client
	queryID, err := f.startQuery(ctx)
	if err != nil {
		return err
	}
	results, err := f.awaitQuery(ctx, queryID)
	if err != nil {
		return err
	}
	f.rowTotal = results.count
	fetchedAt := time.Now().UTC()
	var rows int64
	if results.streamID == "" {
		for _, row := range results.data {
			rows++
			if err := f.row(row, rows, fetchedAt); err != nil {
				return err
			}
		}
	} else {
		err := c.stream(ctx, apiResultsStream, map[string]any{"stream_id": results.streamID, "is_gzip_compressed": true},
			func() { rows = 0 },
			func(line []byte) error {
				rows++
				return f.row(line, rows, fetchedAt)
			})
		if err != nil {
			return err
		}
	}
	if results.count != nil && rows < *results.count {
		return &connector.Error{
			Class:   connector.ClassMalformed,
			Message: fmt.Sprintf("the vulnerability query reported %s rows but Cortex XDR delivered %s", thousands(*results.count), thousands(rows)),
			Action:  "retry the sync; the rows delivered were kept, but no finding is marked fixed from an incomplete result",
		}
	}
	return nil
}

// row emits the records of one XQL row: one per affected host. A row that is not JSON
// (possible in the stream, where each line is a row) is emitted as it is, so that the
// normalizer dead-letters it with the reason; a row that names no host is counted.
func (f *fetch) row(row []byte, n int64, fetchedAt time.Time) error {
	if !jsonValid(row) {
		return f.send(KindVulnerability, "xql-row/"+strconv.FormatInt(n, 10), fetchedAt, slices.Clone(row))
	}
	hosts, cve := rowKeysOf(row)
	if len(hosts) == 0 {
		f.hostless++
		return nil
	}
	for _, host := range hosts {
		refs := f.byName[strings.ToLower(host)]
		if err := f.send(KindVulnerability, host+"/"+cve, fetchedAt, envelope(host, refs, row)); err != nil {
			return err
		}
	}
	return nil
}

// envelope wraps an XQL row with the host it is about and that host's endpoint ids:
// {"endpoint_name": host, "endpoint_ids": [...], "row": row}, the row's bytes untouched.
func envelope(host string, refs []endpointRef, row []byte) []byte {
	size := len(row) + len(host) + 64
	for _, r := range refs {
		size += len(r.id) + 3
	}
	b := make([]byte, 0, size)
	b = append(b, `{"endpoint_name":`...)
	b, _ = jsontext.AppendQuote(b, host) // invalid UTF-8 becomes U+FFFD, still JSON
	b = append(b, `,"endpoint_ids":[`...)
	for i, r := range refs {
		if i > 0 {
			b = append(b, ',')
		}
		b, _ = jsontext.AppendQuote(b, r.id)
	}
	b = append(b, `],"row":`...)
	b = append(b, row...)
	return append(b, '}')
}

// startQuery starts the vulnerability query and returns its execution id.
func (f *fetch) startQuery(ctx context.Context) (string, error) {
	resp, err := f.src.client.call(ctx, apiStartQuery, map[string]any{"query": Query, "tenants": []string{}})
	if err != nil {
		return "", err
	}
	// The reply is the execution id; older docs describe {"execution_id": ...}.
	var r struct {
		Reply jsontext.Value `json:"reply"`
	}
	if err := json.Unmarshal(resp.body, &r, decodeOptions); err == nil {
		switch r.Reply.Kind() {
		case '"', '0':
			if id := text(r.Reply); id != "" {
				return id, nil
			}
		case '{':
			var o struct {
				ExecutionID jsontext.Value `json:"execution_id"`
				QueryID     jsontext.Value `json:"query_id"`
			}
			if json.Unmarshal(r.Reply, &o, decodeOptions) == nil {
				if id := cmp.Or(text(o.ExecutionID), text(o.QueryID)); id != "" {
					return id, nil
				}
			}
		}
	}
	return "", resp.malformed(apiStartQuery, "carries no query id")
}

// queryResults is the outcome of a successful query: rows inline, or a stream.
type queryResults struct {
	data     []jsontext.Value
	streamID string
	count    *int64 // number_of_results, when given
}

// awaitQuery polls the query until it succeeds, backing off from pollFirst to pollMax
// between polls, for at most xql_poll_timeout.
func (f *fetch) awaitQuery(ctx context.Context, queryID string) (*queryResults, error) {
	c := f.src.client
	deadline := time.Now().Add(c.pollTimeout)
	wait := c.pollFirst
	for {
		// No limit: a result of more than 1,000 rows then comes as a stream instead of
		// being cut at 1,000.
		resp, err := c.call(ctx, apiQueryResults, map[string]any{"query_id": queryID, "pending_flag": true, "format": "json"})
		if err != nil {
			return nil, err
		}
		var r struct {
			Reply *struct {
				Status          string   `json:"status"`
				NumberOfResults *float64 `json:"number_of_results"`
				Results         struct {
					Data     []jsontext.Value `json:"data"`
					StreamID string           `json:"stream_id"`
				} `json:"results"`
				Error   jsontext.Value `json:"error"`
				ErrMsg  jsontext.Value `json:"err_msg"`
				Message jsontext.Value `json:"message"`
			} `json:"reply"`
		}
		if err := json.Unmarshal(resp.body, &r, decodeOptions); err != nil {
			return nil, resp.malformed(apiQueryResults, "is not a query result: "+err.Error())
		}
		if r.Reply == nil {
			return nil, resp.malformed(apiQueryResults, "has no reply")
		}
		switch strings.ToUpper(r.Reply.Status) {
		case "SUCCESS":
			out := &queryResults{data: r.Reply.Results.Data, streamID: r.Reply.Results.StreamID}
			if n := r.Reply.NumberOfResults; n != nil && *n >= 0 {
				count := int64(*n)
				out.count = &count
			}
			return out, nil
		case "PENDING":
			left := time.Until(deadline)
			if left <= 0 {
				return nil, &connector.Error{
					Class:      connector.ClassVendorServer,
					Message:    fmt.Sprintf("the vulnerability query (XQL %s) did not finish within xql_poll_timeout (%s)", queryID, c.pollTimeout),
					Action:     "raise the connector's xql_poll_timeout, or check the query in Cortex XDR's Query Center: the tenant may be running other queries (at most 4 run at once)",
					StatusCode: resp.status,
					Headers:    connector.Redact(resp.header),
					Payload:    connector.TruncatePayload(resp.body),
				}
			}
			if err := sleep(ctx, min(wait, left)); err != nil {
				return nil, err
			}
			wait = min(wait*2, c.pollMax)
		default:
			msg := cmp.Or(text(r.Reply.Error), text(r.Reply.ErrMsg), text(r.Reply.Message))
			ce := &connector.Error{
				Class:      connector.ClassVendorServer,
				Message:    fmt.Sprintf("the vulnerability query (XQL %s) ended with status %s", queryID, cmp.Or(r.Reply.Status, "(none)")),
				Action:     "check the query in Cortex XDR's Query Center and retry the sync; if it keeps failing, report it with this sync's log",
				StatusCode: resp.status,
				Headers:    connector.Redact(resp.header),
				Payload:    connector.TruncatePayload(resp.body),
				Cause:      errors.New(cmp.Or(msg, "status "+r.Reply.Status)),
			}
			if msg != "" {
				ce.Message += ": " + clip(msg)
			}
			switch lower := strings.ToLower(msg); {
			case strings.Contains(lower, "quota"):
				ce.Class = connector.ClassLimit
				ce.Action = "the tenant's daily XQL quota (query units) is used up; retry the sync once it renews, or raise the quota in Cortex XDR"
			case strings.Contains(lower, "va_cves") || strings.Contains(lower, "dataset"):
				ce.Class = connector.ClassLimit
				ce.Action = "vulnerability data (the va_cves dataset) needs the Host Insights add-on with vulnerability assessment enabled on the agents; check the tenant's licences and settings"
			}
			return nil, ce
		}
	}
}

// thousands writes n (not negative) with comma separators, as in 100,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
