package inspector

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Operation names, as Faults.DeniedOperation and AccessDeniedException messages spell them.
const (
	opListFindings            = "ListFindings"
	opListFindingAggregations = "ListFindingAggregations"
)

var (
	aggregationTypes = []string{"FINDING_TYPE", "PACKAGE", "TITLE", "REPOSITORY", "AMI", "AWS_EC2_INSTANCE",
		"AWS_ECR_CONTAINER", "IMAGE_LAYER", "ACCOUNT", "AWS_LAMBDA_FUNCTION", "LAMBDA_LAYER", "CODE_REPOSITORY"}
	aggregationResourceTypes = []string{"AWS_EC2_INSTANCE", "AWS_ECR_CONTAINER_IMAGE", "AWS_LAMBDA_FUNCTION", "CODE_REPOSITORY"}
	accountSortBys           = []string{"CRITICAL", "HIGH", "ALL"}
)

// aggregationQuery is a validated ACCOUNT ListFindingAggregations request.
type aggregationQuery struct {
	accounts     *stringMatcher // nil: every account
	resourceType string         // "" counts every resource type
	findingType  string         // "" counts every finding type
	size         int
	cursor       int // index of the first account of the page
	hash         uint64
}

// aggregationResponse is one member of responses: a union with one member set.
type aggregationResponse struct {
	AccountAggregation accountCounts `json:"accountAggregation"`
}

// accountCounts is an AccountAggregationResponse.
type accountCounts struct {
	AccountID             string         `json:"accountId"`
	ExploitAvailableCount int64          `json:"exploitAvailableCount"`
	FixAvailableCount     int64          `json:"fixAvailableCount"`
	SeverityCounts        severityCounts `json:"severityCounts"`
}

type severityCounts struct {
	All      int64 `json:"all"`
	Critical int64 `json:"critical"`
	High     int64 `json:"high"`
	Medium   int64 `json:"medium"`
}

// serveListFindingAggregations serves POST /findings/aggregation/list for the ACCOUNT
// aggregation type: per account, counts of the region's ACTIVE findings, optionally of
// one resource type and one finding type. An account with no such finding is left out,
// as a group-by leaves out an empty group. Of the faults, only DeniedOperation applies.
func (s *Simulator) serveListFindingAggregations(w http.ResponseWriter, r *http.Request, body []byte) {
	p, region, aerr := s.authenticate(r, body, "inspector2")
	if aerr != nil {
		writeJSONError(w, aerr.status, aerr.jsonType, aerr.jsonMsg)
		return
	}
	if s.aggLimiter != nil && !s.aggLimiter.Allow(s.clock()) {
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, http.StatusTooManyRequests, "ThrottlingException", "Rate exceeded")
		return
	}
	if s.faults.Get().DeniedOperation == opListFindingAggregations {
		s.writeAccessDenied(w, p, region, opListFindingAggregations, "/findings/aggregation/list")
		return
	}
	q, verr := s.parseAggregation(body, region)
	if verr != nil {
		writeJSONErrorBody(w, http.StatusBadRequest, "ValidationException", verr.body())
		return
	}
	d := &dataset{region: region, account: s.cfg.AccountID}
	if ri, ok := s.regions[region]; ok {
		d = s.state.Load().datasets[ri]
	}
	// A dataset holds the findings of one account, so there is at most one response and
	// sortBy has nothing to order.
	var accounts []accountCounts
	if c := d.accountCounts(q); c.SeverityCounts.All > 0 && (q.accounts == nil || q.accounts.match(c.AccountID)) {
		accounts = append(accounts, c)
	}
	out := struct {
		AggregationType string                `json:"aggregationType"`
		Responses       []aggregationResponse `json:"responses"`
		NextToken       string                `json:"nextToken,omitempty"`
	}{AggregationType: "ACCOUNT", Responses: []aggregationResponse{}}
	end := min(len(accounts), q.cursor+q.size)
	for _, c := range accounts[min(q.cursor, end):end] {
		out.Responses = append(out.Responses, aggregationResponse{c})
	}
	if end < len(accounts) {
		out.NextToken = encodeToken(end, q.hash)
	}
	b, _ := json.Marshal(out)
	setRequestID(w)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// accountCounts counts the ACTIVE findings of d that q selects. exploitAvailableCount
// counts exploitAvailable YES, fixAvailableCount fixAvailable YES or PARTIAL.
func (d *dataset) accountCounts(q *aggregationQuery) accountCounts {
	c := accountCounts{AccountID: d.account}
	for i := range d.recs {
		r := &d.recs[i]
		if r.status != statusActive {
			continue
		}
		is := d.issueOf(r)
		if q.resourceType != "" && resourceTypeNames[d.assetOf(r).rtype] != q.resourceType ||
			q.findingType != "" && typeNames[is.ftype] != q.findingType {
			continue
		}
		c.SeverityCounts.All++
		switch r.sev {
		case sevCritical:
			c.SeverityCounts.Critical++
		case sevHigh:
			c.SeverityCounts.High++
		case sevMedium:
			c.SeverityCounts.Medium++
		}
		if availNames[is.exploit] == "YES" {
			c.ExploitAvailableCount++
		}
		if f := availNames[is.fix]; f == "YES" || f == "PARTIAL" {
			c.FixAvailableCount++
		}
	}
	return c
}

// parseAggregation decodes and validates a ListFindingAggregations body. Aggregation
// types other than ACCOUNT are refused: the simulator does not serve them.
func (s *Simulator) parseAggregation(body []byte, region string) (*aggregationQuery, *validationError) {
	v := &validator{}
	top, verr := requestObject(body)
	if verr != nil {
		return nil, verr
	}
	q := &aggregationQuery{}

	var aggType *string
	if v.decode(top["aggregationType"], &aggType, "aggregationType") && v.enum(aggType, "aggregationType", aggregationTypes) && *aggType != "ACCOUNT" {
		return nil, &validationError{reason: "FIELD_VALIDATION_FAILED",
			message: "The simulator serves ACCOUNT aggregations only, not " + *aggType + ".",
			fields:  []fieldError{{name: "aggregationType", message: "Unsupported aggregationType " + *aggType}}}
	}
	var token string
	q.size, token = v.paging(top, s.cfg.PageCap)
	var accountIDs []json.RawMessage
	if v.decode(top["accountIds"], &accountIDs, "accountIds") && accountIDs != nil {
		if len(accountIDs) < 1 || len(accountIDs) > 100 {
			v.lengthError("accountIds", accountIDs, 1, 100)
		}
		q.accounts = &stringMatcher{}
		for i, raw := range accountIDs {
			path := "accountIds." + strconv.Itoa(i+1) + ".member"
			var f stringFilter
			if v.decode(raw, &f, path) && v.stringFilter(f, path) {
				q.accounts.add(f)
			}
		}
	}
	var req map[string]json.RawMessage
	if v.decode(top["aggregationRequest"], &req, "aggregationRequest") && req != nil {
		members := sortedKeys(req)
		switch {
		case len(members) != 1:
			v.add("aggregationRequest", quote("["+strings.Join(members, ", ")+"]"), "Member must have exactly one member set")
		case members[0] != "accountAggregation":
			v.add("aggregationRequest."+members[0], quote(members[0]), "Member must match aggregationType ACCOUNT")
		default:
			var acc struct {
				FindingType  *string `json:"findingType"`
				ResourceType *string `json:"resourceType"`
				SortBy       *string `json:"sortBy"`
				SortOrder    *string `json:"sortOrder"`
			}
			const path = "aggregationRequest.accountAggregation"
			if v.decode(req["accountAggregation"], &acc, path) {
				q.findingType = v.optionalEnum(acc.FindingType, path+".findingType", typeNames[:])
				q.resourceType = v.optionalEnum(acc.ResourceType, path+".resourceType", aggregationResourceTypes)
				v.optionalEnum(acc.SortBy, path+".sortBy", accountSortBys)
				v.optionalEnum(acc.SortOrder, path+".sortOrder", sortOrders)
			}
		}
	}
	if v.cannotParse != "" {
		return nil, &validationError{reason: "CANNOT_PARSE", message: v.cannotParse}
	}
	if len(v.errs) > 0 {
		return nil, v.failed()
	}

	canonical, _ := json.Marshal([]any{accountIDs, req}) // sorted keys, compacted values
	q.hash = requestHash(region, canonical)
	if q.cursor, verr = resume(token, q.hash, "accountIds and aggregationRequest"); verr != nil {
		return nil, verr
	}
	return q, nil
}

// optionalEnum checks an optional enum member and returns its value, "" when absent or
// not allowed.
func (v *validator) optionalEnum(s *string, path string, allowed []string) string {
	if s == nil {
		return ""
	}
	if !slices.Contains(allowed, *s) {
		v.add(path, quote(*s), "Member must satisfy enum value set: ["+strings.Join(allowed, ", ")+"]")
		return ""
	}
	return *s
}

// writeAccessDenied refuses an operation as IAM does when the signer lacks its permission.
func (s *Simulator) writeAccessDenied(w http.ResponseWriter, p *principal, region, op, path string) {
	writeJSONError(w, http.StatusForbidden, "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/",
		"User: "+p.arn+" is not authorized to perform: inspector2:"+op+" on resource: arn:aws:inspector2:"+region+":"+s.cfg.AccountID+":"+path)
}
