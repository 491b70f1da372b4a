package awsinspector

import (
	"context"
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
// updated since req.Since.
func (s *Source) Fetch(ctx context.Context, req connector.FetchRequest, emit func(*model.RawRecord) error) (connector.FetchResult, error) {
	type regionResult struct {
		emitted, skipped int64
		err              error
	}
	results := make([]regionResult, len(s.settings.Regions))
	var wg sync.WaitGroup
	for i, region := range s.settings.Regions {
		wg.Go(func() {
			r := &results[i]
			r.emitted, r.skipped, r.err = s.fetchRegion(ctx, region, req, emit)
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
	return result, firstErr
}

func (s *Source) fetchRegion(ctx context.Context, region string, req connector.FetchRequest, emit func(*model.RawRecord) error) (emitted, skipped int64, err error) {
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
		var page pageCapture
		out, err := client.ListFindings(ctx, input, page.option())
		if err != nil {
			if ctx.Err() != nil {
				return emitted, skipped, ctx.Err()
			}
			return emitted, skipped, classify(err, &page)
		}
		fetchedAt := time.Now().UTC()
		for _, f := range page.findings {
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
