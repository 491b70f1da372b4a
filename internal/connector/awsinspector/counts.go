package awsinspector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/inspector2"
	"github.com/aws/aws-sdk-go-v2/service/inspector2/types"
	"github.com/aws/smithy-go"

	"github.com/tributary-sec/tributary/internal/connector"
	"github.com/tributary-sec/tributary/internal/model"
)

// countedResourceTypes are the resource types AWS Inspector's totals are read for; each
// counts toward the asset class resourceClass maps it to.
var countedResourceTypes = []types.AggregationResourceType{
	types.AggregationResourceTypeAwsEc2Instance,
	types.AggregationResourceTypeAwsEcrContainerImage,
	types.AggregationResourceTypeAwsLambdaFunction,
	types.AggregationResourceTypeCodeRepository,
}

// countsLead opens every CountsUnavailable message.
const countsLead = "AWS Inspector's finding totals could not be read"

// vendorCounts reads AWS Inspector's own count of ACTIVE findings for data validation:
// in every region, concurrently, one ACCOUNT ListFindingAggregations per resource type,
// paged, its severityCounts.all summed over accounts and regions. It returns one count
// per asset class, zero ones included, or, when any call fails, none and why.
func (s *Source) vendorCounts(ctx context.Context) ([]model.VendorCount, string) {
	type regionTotals struct {
		byType      []int64 // by countedResourceTypes index
		unavailable string
	}
	results := make([]regionTotals, len(s.settings.Regions))
	var wg sync.WaitGroup
	for i, region := range s.settings.Regions {
		wg.Go(func() {
			results[i].byType, results[i].unavailable = s.regionCounts(ctx, region)
		})
	}
	wg.Wait()

	// One count per class, in the order countedResourceTypes first names it.
	var (
		counts  []model.VendorCount
		sources [][]string
		countOf = make([]int, len(countedResourceTypes)) // resource type → index into counts
		index   = map[model.AssetClass]int{}
	)
	for j, rt := range countedResourceTypes {
		class := resourceClass(string(rt))
		k, ok := index[class]
		if !ok {
			k = len(counts)
			index[class] = k
			counts = append(counts, model.VendorCount{Object: model.ObjectFindings, Class: class})
			sources = append(sources, nil)
		}
		countOf[j] = k
		sources[k] = append(sources[k], string(rt))
	}
	for _, r := range results {
		if r.unavailable != "" {
			return nil, r.unavailable // the first region's, in configuration order
		}
		for j, n := range r.byType {
			counts[countOf[j]].Count += n
		}
	}
	for k := range counts {
		counts[k].Source = "ListFindingAggregations ACCOUNT: " + strings.Join(sources[k], ", ")
	}
	return counts, ""
}

// regionCounts returns a region's count of ACTIVE findings by resource type, or why it
// could not be read.
func (s *Source) regionCounts(ctx context.Context, region string) ([]int64, string) {
	client := s.clients[region]
	totals := make([]int64, len(countedResourceTypes))
	for i, rt := range countedResourceTypes {
		input := &inspector2.ListFindingAggregationsInput{
			AggregationType:    types.AggregationTypeAccount,
			AggregationRequest: &types.AggregationRequestMemberAccountAggregation{Value: types.AccountAggregation{ResourceType: rt}},
			MaxResults:         aws.Int32(100),
		}
		seenTokens := map[string]bool{}
		for {
			out, err := client.ListFindingAggregations(ctx, input)
			if err != nil {
				return nil, countsUnavailable(ctx, region, err)
			}
			for _, r := range out.Responses {
				acc, ok := r.(*types.AggregationResponseMemberAccountAggregation)
				if !ok || acc.Value.SeverityCounts == nil || acc.Value.SeverityCounts.All == nil {
					return nil, fmt.Sprintf("%s: ListFindingAggregations in %s answered without an account's severityCounts.all; "+
						"retry the sync, and if it persists check that the connector's endpoint setting is AWS Inspector's", countsLead, region)
				}
				totals[i] += *acc.Value.SeverityCounts.All
			}
			next := aws.ToString(out.NextToken)
			if next == "" {
				break
			}
			if seenTokens[next] {
				return nil, fmt.Sprintf("%s: ListFindingAggregations in %s returned the same nextToken twice; "+
					"retry the sync, and if it persists report it to AWS support with the region and time", countsLead, region)
			}
			seenTokens[next] = true
			input.NextToken = out.NextToken
		}
	}
	return totals, ""
}

// countsUnavailable says, in one sentence, why a ListFindingAggregations call of region
// failed and what fixes it. Like classify's messages, it carries no credential.
func countsUnavailable(ctx context.Context, region string, err error) string {
	if ctx.Err() != nil {
		return countsLead + ": the sync was cancelled while reading them"
	}
	ce := classify(err, nil)
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException":
		return fmt.Sprintf("%s: the connector's AWS principal may not call ListFindingAggregations in %s (AccessDeniedException); "+
			"grant inspector2:ListFindingAggregations to the IAM user or role of the connector", countsLead, region)
	case ce.Class == connector.ClassRateLimited:
		return fmt.Sprintf("%s: AWS kept throttling ListFindingAggregations in %s after every retry (ThrottlingException); "+
			"the next sync reads them again, and if it persists schedule the connector's sync at a quieter time", countsLead, region)
	case ce.Class == connector.ClassVendorServer:
		return fmt.Sprintf("%s: AWS Inspector kept failing ListFindingAggregations in %s with a server error after every retry (%s); "+
			"this is on AWS's side and the next sync reads them again", countsLead, region, apiCodeOf(err))
	case ce.Class == connector.ClassInternal:
		return fmt.Sprintf("%s: ListFindingAggregations in %s failed (%s); this is likely a Tributary bug, report it with this sync's log",
			countsLead, region, ce.Message)
	default: // credentials, unreachable: classify's message and action say it
		return fmt.Sprintf("%s: ListFindingAggregations in %s failed: %s; %s", countsLead, region, ce.Message, ce.Action)
	}
}

// apiCodeOf returns the AWS error code of err, or "no error code".
func apiCodeOf(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return "no error code"
}
