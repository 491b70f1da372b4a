package awsinspector

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"
	"github.com/aws/aws-sdk-go-v2/service/inspector2/types"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

// allStatuses is sent explicitly: ListFindings does not document which statuses it
// returns by default, and Tributary needs CLOSED and SUPPRESSED to mark findings Fixed.
var allStatuses = []types.StringFilter{
	{Comparison: types.StringComparisonEquals, Value: aws.String("ACTIVE")},
	{Comparison: types.StringComparisonEquals, Value: aws.String("SUPPRESSED")},
	{Comparison: types.StringComparisonEquals, Value: aws.String("CLOSED")},
}

// Fetch lists every finding of every region, the regions concurrently and each page by
// page until nextToken is absent. For an Incremental sync it asks only for findings
// updated since req.Since. With max_findings set, the sync stops once the regions
// together have fetched more findings than that: each region emits what falls within
// the limit, asks for no further page and fails with a limit_exceeded error.
//
// Once every region has been fetched without error, Fetch reads AWS Inspector's own
// count of ACTIVE findings per asset class (ListFindingAggregations, see vendorCounts)
// into the result's VendorCounts. When a region failed, or reading the counts fails,
// CountsUnavailable says why instead; it never fails the sync.
func (s *Source) Fetch(ctx context.Context, req connector.FetchRequest, emit func(*model.RawRecord) error) (connector.FetchResult, error) {
	type regionResult struct {
		emitted, skipped int64
		err              error
	}
	results := make([]regionResult, len(s.settings.Regions))
	budget := &findingBudget{limit: int64(s.settings.MaxFindings)}
	var wg sync.WaitGroup
	for i, region := range s.settings.Regions {
		wg.Go(func() {
			r := &results[i]
			r.emitted, r.skipped, r.err = s.fetchRegion(ctx, region, req, budget, emit)
		})
	}
	wg.Wait()
	var (
		result   connector.FetchResult
		firstErr error
	)
	for i, r := range results {
		outcome := model.OutcomeSucceeded
		if r.err != nil {
			outcome = model.OutcomeFailed
			if firstErr == nil {
				firstErr = r.err
			}
		}
		result.Scopes = append(result.Scopes, model.ScopeOutcome{Scope: s.settings.Regions[i], Outcome: outcome, Records: r.emitted})
		result.Skipped += r.skipped
	}
	if result.Skipped > 0 {
		result.SkipReason = "findings without exploitAvailable or fixAvailable (require_exploitability_and_remediation is on)"
	}
	if firstErr != nil {
		result.CountsUnavailable = "AWS Inspector's finding totals were not read because a region failed to fetch, " +
			"which would make comparing them meaningless; once the region's error is fixed the next sync reads them"
		return result, firstErr
	}
	result.VendorCounts, result.CountsUnavailable = s.vendorCounts(ctx)
	return result, nil
}

func (s *Source) fetchRegion(ctx context.Context, region string, req connector.FetchRequest, budget *findingBudget, emit func(*model.RawRecord) error) (emitted, skipped int64, err error) {
	filter := &types.FilterCriteria{FindingStatus: allStatuses}
	if req.Type == model.SyncIncremental && !req.Since.IsZero() {
		filter.UpdatedAt = []types.DateFilter{{StartInclusive: aws.Time(req.Since)}}
	}
	input := &inspector2.ListFindingsInput{
		MaxResults:     aws.Int32(s.settings.MaxResults),
		FilterCriteria: filter,
	}
	client := s.clients[region]
	seenTokens := map[string]bool{}
	for {
		if err := budget.exceeded(); err != nil {
			return emitted, skipped, err // another region went past max_findings
		}
		var page pageCapture
		out, err := client.ListFindings(ctx, input, page.option())
		if err != nil {
			if ctx.Err() != nil {
				return emitted, skipped, ctx.Err()
			}
			return emitted, skipped, classify(err, &page)
		}
		fetchedAt := time.Now().UTC()
		findings, overLimit := budget.take(page.findings)
		for _, f := range findings {
			if s.settings.RequireExploitabilityAndRemediation && !(f.exploitable && f.fixable) {
				skipped++
				continue
			}
			rec := &model.RawRecord{
				SyncID:        req.SyncID,
				ConnectorID:   s.inst.ID,
				ConnectorType: TypeName,
				Scope:         region,
				Kind:          KindFinding,
				VendorKey:     f.arn,
				FetchedAt:     fetchedAt,
				Payload:       f.payload,
			}
			if err := emit(rec); err != nil {
				return emitted, skipped, err
			}
			emitted++
		}
		if overLimit != nil {
			return emitted, skipped, overLimit
		}
		next := aws.ToString(out.NextToken)
		if next == "" {
			return emitted, skipped, nil
		}
		if seenTokens[next] {
			return emitted, skipped, &connector.Error{
				Class:   connector.ClassMalformed,
				Message: "AWS Inspector returned the same nextToken twice; paging would never end",
				Action:  "retry the sync; if it persists, report it to AWS support with the region and time",
			}
		}
		seenTokens[next] = true
		input.NextToken = out.NextToken
	}
}

// findingBudget counts the findings one sync fetches, all regions together, against
// max_findings. It is safe for concurrent use.
type findingBudget struct {
	limit int64 // 0: no limit

	mu      sync.Mutex
	fetched int64
	err     *connector.Error // set once fetched has gone past limit
}

// take counts the findings of a page and returns those that fall within the limit. When
// the page goes past it, take also returns the limit error, and every later call
// returns no finding and the same error.
func (b *findingBudget) take(page []rawFinding) ([]rawFinding, error) {
	if b.limit == 0 {
		return page, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return nil, b.err
	}
	room := b.limit - b.fetched
	b.fetched += int64(len(page))
	if b.fetched <= b.limit {
		return page, nil
	}
	b.err = &connector.Error{
		Class: connector.ClassLimit,
		Message: fmt.Sprintf("the connector's findings exceed max_findings: fetched %s so far, limit %s",
			thousands(b.fetched), thousands(b.limit)),
		Action: "if the account really has this many findings, raise max_findings in the connector's settings " +
			"(0 means no limit); otherwise narrow the connector: fewer regions in its regions list, or the regions " +
			"split across several connectors",
	}
	return page[:room], b.err
}

// exceeded returns the limit error once some region has gone past the limit, else nil.
func (b *findingBudget) exceeded() error {
	if b.limit == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		return nil
	}
	return b.err
}

// thousands writes n (not negative) with comma separators, as in 1,025.
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
