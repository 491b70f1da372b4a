// Package synclog is the read side of the sync log: it folds a sync's entries (stage
// events from the sync-log topic) into the sync's status and stages, and defines the
// queries the control API and the Connector Logs page ask of the store that keeps them.
package synclog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
)

// Status is a sync's overall status, as the Connector Logs page shows it.
type Status string

// Sync statuses.
const (
	StatusInProgress Status = "In Progress"
	StatusDone       Status = "Done"
	StatusFailed     Status = "Failed"
)

// Stages are the five stages of every sync, in order.
var Stages = []string{model.StageInitiating, model.StageConnectivity, model.StageFetching, model.StageNormalizing, model.StageProcessing}

// Sync is one sync as the log tells it: its identity, status and the latest state of each
// of its five stages.
type Sync struct {
	ID            string         `json:"id"`
	ConnectorID   string         `json:"connector_id"`
	ConnectorType string         `json:"connector_type"`
	Type          model.SyncType `json:"type"`
	Status        Status         `json:"status"`
	FailedStage   string         `json:"failed_stage,omitempty"`
	StartedAt     time.Time      `json:"started_at"`
	EndedAt       *time.Time     `json:"ended_at,omitempty"` // nil while In Progress
	// IngestionSeconds is Initiating start to Fetching end (or to the end of the stage
	// that failed before it); ProcessingSeconds is Fetching end to Processing end (the pipeline streams, so most processing overlaps fetching).
	IngestionSeconds  float64 `json:"ingestion_seconds"`
	ProcessingSeconds float64 `json:"processing_seconds"`
	RecordsFetched    int64   `json:"records_fetched"`
	RecordsWritten    int64   `json:"records_written"`
	RecordsFailed     int64   `json:"records_failed"`
	// Error is the first failure of the sync, shown above everything else.
	Error *model.ErrorBlock `json:"error,omitempty"`
	// Stages holds the five stages in order, each pending until an entry says otherwise.
	Stages []Stage `json:"stages"`
	// UpdatedAt is the time of the latest entry folded in.
	UpdatedAt time.Time `json:"updated_at"`
}

// Stage is the latest state of one stage of a sync.
type Stage struct {
	Name          string           `json:"name"`
	State         model.StageState `json:"state"`
	StartedAt     *time.Time       `json:"started_at,omitempty"`
	EndedAt       *time.Time       `json:"ended_at,omitempty"`
	Seconds       float64          `json:"seconds"`
	RecordsIn     int64            `json:"records_in"`
	RecordsOut    int64            `json:"records_out"`
	RecordsFailed int64            `json:"records_failed"`
}

// Entry is one line of a sync's log.
type Entry struct {
	Time    time.Time         `json:"time"`
	Level   model.Level       `json:"level"`
	Stage   string            `json:"stage"`
	State   model.StageState  `json:"state"`
	Message string            `json:"message"`
	Error   *model.ErrorBlock `json:"error,omitempty"`
}

// NewSync returns the empty fold of a sync: every stage pending.
func NewSync(id string) *Sync {
	s := &Sync{ID: id, Status: StatusInProgress, Stages: make([]Stage, len(Stages))}
	for i, name := range Stages {
		s.Stages[i] = Stage{Name: name, State: model.StatePending}
	}
	return s
}

// Apply folds one stage event into s. Events may arrive more than once (a replay, a sync
// finished twice); applying one again changes nothing.
func (s *Sync) Apply(ev *model.StageEvent) {
	if s.ConnectorID == "" {
		s.ConnectorID, s.ConnectorType, s.Type = ev.ConnectorID, ev.ConnectorType, ev.SyncType
	}
	if ev.Time.After(s.UpdatedAt) {
		s.UpdatedAt = ev.Time
	}
	st := s.Stage(ev.Stage)
	if st == nil {
		return // a free-standing entry (a WARN about dead letters, say): no stage change
	}
	if ev.State != "" && !(IsFinal(st.State) && ev.State == model.StateRunning) {
		st.State = ev.State
	}
	if !ev.StartedAt.IsZero() && (st.StartedAt == nil || ev.StartedAt.Before(*st.StartedAt)) {
		t := ev.StartedAt
		st.StartedAt = &t
	}
	if !ev.EndedAt.IsZero() && IsFinal(ev.State) {
		t := ev.EndedAt
		st.EndedAt = &t
	}
	st.RecordsIn = max(st.RecordsIn, ev.RecordsIn)
	st.RecordsOut = max(st.RecordsOut, ev.RecordsOut)
	st.RecordsFailed = max(st.RecordsFailed, ev.RecordsFailed)
	if st.StartedAt != nil && st.EndedAt != nil {
		st.Seconds = st.EndedAt.Sub(*st.StartedAt).Seconds()
	}
	if ev.State == model.StateFailed && s.Error == nil {
		s.Error = ev.Error
		s.FailedStage = ev.Stage
	}
	s.derive()
}

// Stage returns the named stage, or nil for a name that is not one of the five.
func (s *Sync) Stage(name string) *Stage {
	for i := range s.Stages {
		if s.Stages[i].Name == name {
			return &s.Stages[i]
		}
	}
	return nil
}

// IsFinal says whether a stage in this state is over.
func IsFinal(st model.StageState) bool {
	return st == model.StateSucceeded || st == model.StateFailed || st == model.StateSkipped
}

// derive computes status, times and counts from the stages. A sync is over when
// Processing is over (it runs, or is skipped, after every other stage); it failed when
// any stage failed.
func (s *Sync) derive() {
	first, fetching, processing := s.Stages[0], s.Stage(model.StageFetching), s.Stage(model.StageProcessing)
	if first.StartedAt != nil {
		s.StartedAt = *first.StartedAt
	}
	s.RecordsFetched = fetching.RecordsOut
	s.RecordsWritten = processing.RecordsOut
	s.RecordsFailed = 0
	for _, st := range s.Stages {
		s.RecordsFailed += st.RecordsFailed
	}

	switch {
	case IsFinal(processing.State) && s.FailedStage != "":
		s.Status = StatusFailed
	case IsFinal(processing.State):
		s.Status = StatusDone
	default:
		s.Status = StatusInProgress
	}
	// Ingestion ends with Fetching, or, in a sync that ended before Fetching did, with
	// the last of the fetcher's stages to end.
	s.IngestionSeconds = 0
	for _, st := range s.Stages[:3] {
		if st.EndedAt != nil && !s.StartedAt.IsZero() && (fetching.EndedAt != nil || s.Status != StatusInProgress) {
			s.IngestionSeconds = max(s.IngestionSeconds, st.EndedAt.Sub(s.StartedAt).Seconds())
		}
	}
	s.EndedAt = nil
	if s.Status != StatusInProgress {
		end := s.UpdatedAt
		if processing.EndedAt != nil {
			end = *processing.EndedAt
		}
		s.EndedAt = &end
		if fetching.EndedAt != nil && end.After(*fetching.EndedAt) {
			s.ProcessingSeconds = end.Sub(*fetching.EndedAt).Seconds()
		}
	}
}

// Filter selects syncs. Zero fields select everything.
type Filter struct {
	ConnectorID string
	Type        model.SyncType
	Status      Status
	Level       model.Level // syncs with at least one entry at this level
	From, To    time.Time   // sync start within [From, To)
	Limit       int         // at most this many, newest first; 0 means 100
}

// ErrNotFound is returned for a sync the store does not hold (unknown, or older than
// the 14-day retention).
var ErrNotFound = errors.New("sync not found")

// Store is where the sync log is kept and queried (ClickHouse's syncs and sync_log
// tables, written by the processor).
type Store interface {
	// Syncs lists syncs matching f, newest first.
	Syncs(ctx context.Context, f Filter) ([]Sync, error)
	// Sync returns one sync and its entries, oldest first; level, when set, keeps only
	// entries at that level. It returns ErrNotFound for an unknown id.
	Sync(ctx context.Context, id string, level model.Level) (Sync, []Entry, error)
	// LastSyncs returns each connector's newest sync, by connector id.
	LastSyncs(ctx context.Context) (map[string]Sync, error)
	// LastValidations returns each connector's newest data validation, by connector id.
	LastValidations(ctx context.Context) (map[string]Validation, error)
}

// Validation is the data validation of one sync: the totals the vendor reported during
// Fetching next to what Tributary held once the sync was processed.
type Validation struct {
	SyncID      string           `json:"sync_id"`
	ConnectorID string           `json:"connector_id"`
	Time        time.Time        `json:"time"`
	Lines       []ValidationLine `json:"lines"`
}

// ValidationLine compares one vendor total with Tributary's count of the same objects:
// assets not archived as not returned or by retention, or active findings.
type ValidationLine struct {
	Object string           `json:"object"` // model.ObjectAssets or model.ObjectFindings
	Class  model.AssetClass `json:"class"`  // "" for every class
	Vendor int64            `json:"vendor"`
	Stored int64            `json:"stored"`
	Source string           `json:"source"` // where the vendor's figure comes from
}

// Match says whether Tributary holds what the vendor reports.
func (l ValidationLine) Match() bool { return l.Vendor == l.Stored }

// EventEntry is the log entry of a stage event.
func EventEntry(ev *model.StageEvent) Entry {
	return Entry{Time: ev.Time, Level: ev.Level, Stage: ev.Stage, State: ev.State, Message: ev.Message, Error: ev.Error}
}

// PartitionEntry is the DEBUG log entry of a partition completion.
func PartitionEntry(pd *model.PartitionDone) Entry {
	what := "raw partition"
	if pd.Stage != model.StageNormalizing {
		what = "normalized partition"
	}
	msg := fmt.Sprintf("%s %d of %d done: %d findings and %d assets", what, pd.Partition, pd.Partitions, pd.Findings, pd.Assets)
	if pd.Stage == model.StageNormalizing {
		msg = fmt.Sprintf("%s %d of %d done: %d records in, %d findings and %d assets out, %d dead-lettered", what, pd.Partition, pd.Partitions, pd.RecordsIn, pd.Findings, pd.Assets, pd.RecordsFailed)
	}
	return Entry{Time: pd.Time, Level: model.LevelDebug, Stage: pd.Stage, Message: msg}
}

// CountsEntry is the log entry of the vendor's totals: INFO listing them, WARN when some
// or all could not be read, saying why.
func CountsEntry(vc *model.VendorCounts) Entry {
	e := Entry{Time: vc.Time, Level: model.LevelInfo, Stage: model.StageFetching}
	var msg []string
	if len(vc.Counts) > 0 {
		parts := make([]string, len(vc.Counts))
		for i, c := range vc.Counts {
			parts[i] = fmt.Sprintf("%d %s (%s)", c.Count, Counted(c.Object, c.Class), c.Source)
		}
		msg = append(msg, "the vendor reports "+strings.Join(parts, "; "))
	}
	if vc.Unavailable != "" {
		e.Level = model.LevelWarn
		msg = append(msg, "vendor totals this sync cannot be validated against: "+vc.Unavailable)
	}
	e.Message = strings.Join(msg, ". ")
	return e
}

// Counted names what a vendor total counts, e.g. "active findings on Device assets".
func Counted(object string, class model.AssetClass) string {
	switch {
	case object == model.ObjectFindings && class == "":
		return "active findings"
	case object == model.ObjectFindings:
		return "active findings on " + string(class) + " assets"
	case class == "":
		return object
	}
	return string(class) + " " + object
}

// Param is the status as written in a query or on a command line: in_progress, done or
// failed.
func (s Status) Param() string { return strings.ToLower(strings.ReplaceAll(string(s), " ", "_")) }

// ParseStatus reads a status written as Param writes it (any case; "-" or " " for "_").
// The empty string is no status.
func ParseStatus(v string) (Status, error) {
	param := strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(v))
	for _, s := range []Status{"", StatusInProgress, StatusDone, StatusFailed} {
		if s.Param() == param {
			return s, nil
		}
	}
	return "", fmt.Errorf("status is %q; use in_progress, done or failed", v)
}

// ParseLevel reads a log level in any case. The empty string is no level.
func ParseLevel(v string) (model.Level, error) {
	switch l := model.Level(strings.ToUpper(v)); l {
	case "", model.LevelDebug, model.LevelInfo, model.LevelWarn, model.LevelError:
		return l, nil
	default:
		return "", fmt.Errorf("level is %q; use DEBUG, INFO, WARN or ERROR", v)
	}
}
