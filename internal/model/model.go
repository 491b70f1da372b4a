// Package model holds the unified records that flow between Tributary's services:
// vendor raw records, normalized assets and findings, and the sync control messages.
package model

import "time"

// AssetClass is the unified class of an asset.
type AssetClass string

// Asset classes from SPEC §1.
const (
	ClassDevice    AssetClass = "Device"
	ClassContainer AssetClass = "Container"
	ClassResource  AssetClass = "Resource"
)

// SyncType says whether a sync pulls everything or only what changed.
type SyncType string

// Sync types.
const (
	SyncFull        SyncType = "full"
	SyncIncremental SyncType = "incremental"
)

// RawRecord is one vendor record exactly as the vendor API returned it.
type RawRecord struct {
	SyncID        string
	ConnectorID   string
	ConnectorType string
	Scope         string // e.g. an AWS region
	Kind          string // vendor record kind, e.g. "finding"
	VendorKey     string // the vendor's unique key for the record, e.g. a findingArn
	FetchedAt     time.Time
	Payload       []byte // vendor JSON
}

// Asset is a normalized asset (Device, Container or Resource).
type Asset struct {
	ConnectorID       string
	ConnectorType     string
	SyncID            string
	Scope             string
	UID               string
	Class             AssetClass
	Name              string
	ExternalID        string
	ProviderID        string
	OperatingSystem   string
	IPv4              []string
	IPv6              []string
	FQDN              string
	MACAddresses      []string
	ImageTags         []string
	ImageDigest       string
	Provider          string
	CloudResourceType string
	FirstObservedAt   time.Time // zero when the vendor does not say
	LastObservedAt    time.Time // zero when the vendor does not say
	VendorStatus      string
	ExternalTags      map[string]string
	CustomAttributes  map[string]string
	FetchedAt         time.Time
	// ArchiveReason is empty for an active asset. "status": its vendor status is in the
	// connector's remove set, so it is archived at once.
	ArchiveReason string
}

// Finding is a normalized vulnerability finding on one or more assets.
type Finding struct {
	ConnectorID      string
	ConnectorType    string
	SyncID           string
	Scope            string
	UID              string
	AssetUIDs        []string   // the assets the finding is on, the first one primary
	AssetClass       AssetClass // the primary asset's class, so consumers need no join
	AssetName        string     // the primary asset's name
	Name             string
	CVEs             []string
	Description      string
	Score            *float64 // severity driver (e.g. inspectorScore); nil when absent
	VendorSeverity   string   // vendor severity label, e.g. HIGH
	VendorStatus     string   // vendor status, e.g. ACTIVE, CLOSED
	FirstSeen        time.Time
	LastSeen         time.Time
	Port             *int32
	Protocol         string
	CustomAttributes map[string]string
	FetchedAt        time.Time
}

// Outcome is how a stage or scope ended.
type Outcome string

// Outcomes.
const (
	OutcomeSucceeded Outcome = "succeeded"
	OutcomeFailed    Outcome = "failed"
)

// ScopeOutcome reports how Fetching went for one scope of a sync.
type ScopeOutcome struct {
	Scope   string
	Outcome Outcome
	Records int64
}

// SyncEnd marks, within one partition, that a stage has produced everything it will
// produce for a sync from one source partition (see docs/architecture.md, "the barrier").
type SyncEnd struct {
	SyncID           string
	ConnectorID      string
	ConnectorType    string
	SyncType         SyncType
	Stage            string // the stage that wrote the marker: Fetching or Normalizing
	SourcePartition  int32  // the raw partition whose end this marker carries
	SourcePartitions int32  // how many raw partitions the sync was written to
	Records          int64  // records the writer put into this partition for the sync before the marker
	Outcome          Outcome
	Scopes           []ScopeOutcome
	FetchStartedAt   time.Time
	// AssetRetentionDays is the connector's asset_retention_days: a successful Full sync
	// archives the connector's assets not seen for longer (0 = never).
	AssetRetentionDays int32
}
