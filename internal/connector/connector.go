// Package connector defines the contracts every vendor integration implements (Source
// for the fetcher, Normalizer for the normalizer) and the registry of integration types.
package connector

import (
	"context"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
)

// Source pulls raw records from one vendor API for one configured connector.
//
// The fetcher calls Initiate once per sync, then Test, then Fetch; a Source is used by
// one sync at a time. Every error a Source returns is a *Error that classifies the
// failure for the person who configured the connector.
type Source interface {
	// Initiate checks the configuration and resolves credentials, tokens and roles
	// (stage Initiating). It makes no call that returns vendor data.
	Initiate(ctx context.Context) error
	// Test makes one cheap authorized call per scope (stage Connectivity Test) and
	// reports each check; a check with a non-nil Err failed.
	Test(ctx context.Context) []Check
	// Fetch calls emit for each vendor record and stops at emit's first error, which it
	// returns unchanged. Scopes may be fetched concurrently, so emit must be safe for
	// concurrent use; within a scope, records come in vendor order. A scope that fails
	// does not stop the others: Fetch fetches them all, reports each scope's outcome in
	// FetchResult (in configuration order) and returns the first failed scope's *Error.
	// emit owns the record after the call; Fetch must not reuse the payload buffer.
	Fetch(ctx context.Context, req FetchRequest, emit func(*model.RawRecord) error) (FetchResult, error)
}

// Normalizer maps raw vendor records of one connector type to the unified model.
// It is stateless and safe for concurrent use.
type Normalizer interface {
	// Normalize appends the assets and findings raw describes to out. An error means the
	// record is malformed (out is then left as it was); the caller dead-letters the
	// record with the error as the reason and carries on.
	Normalize(raw *model.RawRecord, out *Normalized) error
}

// Normalized collects a normalizer's output.
type Normalized struct {
	Assets   []model.Asset
	Findings []model.Finding
}

// Reset empties out for reuse, keeping its capacity.
func (n *Normalized) Reset() {
	n.Assets = n.Assets[:0]
	n.Findings = n.Findings[:0]
}

// AssetRetention is implemented by a Source whose connector archives assets not seen for
// a while (the asset_retention_days setting); 0 days means never.
type AssetRetention interface {
	AssetRetentionDays() int
}

// Check is one connectivity check: what was tried, on which scope, and its result.
type Check struct {
	Name  string
	Scope string
	Err   *Error // nil when the check passed
}

// FetchRequest says what one sync asks of a Source.
type FetchRequest struct {
	SyncID string
	Type   model.SyncType
	// Since bounds an Incremental sync: records changed at or after it. Zero for Full.
	Since time.Time
}

// FetchResult reports how Fetching went, scope by scope.
type FetchResult struct {
	Scopes []model.ScopeOutcome
	// Skipped counts records the connector's ingest options left out, and SkipReason
	// says which option, so counts reconcile with the vendor console.
	Skipped    int64
	SkipReason string
	// VendorCounts are the totals the vendor reports for what this connector fetches
	// (data validation), summed over the scopes. Counts of one (Object, Class) appear once.
	VendorCounts []model.VendorCount
	// CountsUnavailable says why the vendor's totals could not be read, with the fix
	// (a missing permission, say). Reading them never fails the sync.
	CountsUnavailable string
}

// Type is one vendor integration: how to build its Source and how to normalize its
// records. Adding a vendor means adding one package that exports a Type and listing it
// in the registry (internal/connector/registry).
type Type struct {
	// Name is the connector type as written in the connectors file, e.g. aws_inspector2.
	Name string
	// NewSource builds the Source of one configured connector. decode decodes the
	// connector's type-specific settings block into the value given; NewSource must
	// validate them and say which key is wrong and how to fix it.
	NewSource func(inst Instance, decode func(any) error) (Source, error)
	// Normalizer maps the type's raw records.
	Normalizer Normalizer
	// Incremental says whether the vendor can list only what changed since a time
	// (FetchRequest.Since); the fetcher runs a Full sync instead when it cannot.
	Incremental bool
}

// Instance is the identity of one configured connector, and what its Source reports to.
type Instance struct {
	ID   string
	Name string
	Type string
	// Requests, when not nil, is told of every HTTP attempt the Source makes.
	Requests RequestObserver
}
