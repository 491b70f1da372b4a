package model

import "time"

// Stage names, in the order a sync runs them.
const (
	StageInitiating   = "Initiating"
	StageConnectivity = "Connectivity Test"
	StageFetching     = "Fetching"
	StageNormalizing  = "Normalizing"
	StageProcessing   = "Processing"
)

// StageState is where a stage stands.
type StageState string

// Stage states.
const (
	StatePending   StageState = "pending"
	StateRunning   StageState = "running"
	StateSucceeded StageState = "succeeded"
	StateFailed    StageState = "failed"
	StateSkipped   StageState = "skipped"
)

// Level is a sync-log entry's level.
type Level string

// Levels.
const (
	LevelDebug Level = "DEBUG"
	LevelInfo  Level = "INFO"
	LevelWarn  Level = "WARN"
	LevelError Level = "ERROR"
)

// StageEvent is one entry of a sync's log: a stage starting, progressing or ending.
type StageEvent struct {
	SyncID        string
	ConnectorID   string
	ConnectorType string
	SyncType      SyncType
	Stage         string
	State         StageState
	Level         Level
	Message       string
	Time          time.Time
	StartedAt     time.Time // zero when not started
	EndedAt       time.Time // zero while running
	RecordsIn     int64
	RecordsOut    int64
	RecordsFailed int64
	Error         *ErrorBlock
}

// ErrorBlock is the technical detail of a failure, shown to the person who configured
// the connector. It never holds credentials: headers are redacted before they get here.
type ErrorBlock struct {
	Class             string
	Message           string
	RecommendedAction string
	RootCause         string
	Code              string // e.g. "status_code: 401"
	Details           string
	ResponseHeaders   map[string]string
	ResponsePayload   string // truncated
}

// PartitionDone says a stage has handled one partition of a sync entirely: the
// normalizer a raw partition (its end marker passed, everything it produced flushed), or
// the processor a normalized partition (every raw partition's marker arrived and its
// rows are written).
type PartitionDone struct {
	Stage         string // StageNormalizing or StageProcessing
	SyncID        string
	ConnectorID   string
	ConnectorType string
	SyncType      SyncType
	Partition     int32
	Partitions    int32 // how many partitions of the stage's input topic the sync spans
	RecordsIn     int64 // records read (the normalizer's raw records)
	Assets        int64 // assets produced or written
	Findings      int64 // findings produced or written
	RecordsFailed int64 // records dead-lettered
	FirstFailure  string
	// AssetRetentionDays comes from the sync's end-of-sync markers (SyncEnd).
	AssetRetentionDays int32
	Outcome            Outcome // the fetch outcome carried by the markers
	Scopes             []ScopeOutcome
	Time               time.Time
}

// Objects a vendor count is about.
const (
	ObjectAssets   = "assets"
	ObjectFindings = "findings"
)

// VendorCounts carries the totals the vendor reported during a sync's Fetching (topic
// sync-log.v1, keyed by sync id); the processor compares them with what Tributary holds
// once the sync is processed (data validation).
type VendorCounts struct {
	SyncID        string
	ConnectorID   string
	ConnectorType string
	SyncType      SyncType
	Counts        []VendorCount
	// Unavailable says why the vendor's totals could not be read, with the fix; empty
	// when Counts holds them.
	Unavailable string
	Time        time.Time
}

// VendorCount is a total the vendor itself reports for a connector's data, read during
// Fetching and compared at the end of the sync with what Tributary holds (data
// validation). Findings counts are of active findings.
type VendorCount struct {
	Object string     // ObjectAssets or ObjectFindings
	Class  AssetClass // the asset class counted; "" counts every class
	Count  int64
	// Source says where the figure comes from, in the vendor's terms, e.g.
	// "get_endpoint total_count" or "ListFindingAggregations: AWS_LAMBDA_FUNCTION, CODE_REPOSITORY".
	Source string
}

// DeadLetter is a record a stage could not handle, kept with the reason.
type DeadLetter struct {
	Topic       string
	Partition   int32
	Offset      int64
	Key         []byte
	Value       []byte
	Reason      string
	Stage       string
	SyncID      string
	ConnectorID string
	VendorKey   string
	Time        time.Time
}

// Severity is the unified severity band.
type Severity string

// Severity bands, lowest first.
const (
	SeverityNone     Severity = "None"
	SeverityLow      Severity = "Low"
	SeverityMedium   Severity = "Medium"
	SeverityHigh     Severity = "High"
	SeverityCritical Severity = "Critical"
)

// Status is the unified finding status.
type Status string

// Finding statuses.
const (
	StatusActive Status = "Active"
	StatusFixed  Status = "Fixed"
)

// EnrichedFinding is a processed finding as downstream services see it.
type EnrichedFinding struct {
	Finding    Finding
	Severity   Severity
	Status     Status
	Transition *Transition // set when the finding's status changed
}

// Asset lifecycle states.
const (
	AssetActive   = "active"
	AssetArchived = "archived"
)

// EnrichedAsset is a processed asset as downstream services see it.
type EnrichedAsset struct {
	Asset      Asset
	State      string           // AssetActive or AssetArchived
	Transition *AssetTransition // set when the asset's state changed (or it is new)
}

// AssetTransition is a change of an asset's lifecycle state.
type AssetTransition struct {
	OldState string // empty for a new asset
	NewState string
	Reason   string // new, status, not_returned, retention or restored
}

// Transition is a status change of a finding.
type Transition struct {
	OldStatus Status
	NewStatus Status
	Reason    string
}
