package clickhouse

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

var _ synclog.Store = (*Client)(nil)

// Enum values of the sync-log tables; anything else is refused before a batch is sent or
// a query is run, so the error names the value.
var (
	syncStatuses = []synclog.Status{synclog.StatusInProgress, synclog.StatusDone, synclog.StatusFailed}
	levels       = []model.Level{model.LevelDebug, model.LevelInfo, model.LevelWarn, model.LevelError}
)

const (
	// defaultSyncsLimit and maxSyncsLimit bound how many syncs Syncs returns.
	defaultSyncsLimit = 100
	maxSyncsLimit     = 1000
)

// dayPartition matches the partition id of a table partitioned by toYYYYMMDD.
var dayPartition = regexp.MustCompile(`^[0-9]{8}$`)

// LoggedEntry is a sync-log entry with where it sits in the sync-log topic.
type LoggedEntry struct {
	SyncID, ConnectorID string
	Partition           int32
	Offset              int64
	synclog.Entry
}

// WriteSyncLog inserts syncs into the syncs table and entries into sync_log, one batch
// per table (an empty slice writes nothing); versions[i] is syncs[i]'s version. Writing
// again is harmless: a sync reads back as its highest version, and an entry collapses
// with any other at the same sync, time, partition and offset. Syncs are written before
// entries, so SyncLogHighWater never covers an entry whose sync row failed to be
// written; the two inserts are not atomic together, and writing both again repairs a
// failure between them.
//
// Times are kept to the second, except entry times, which keep milliseconds; they must
// lie in DateTime's range (1970 to 2106). A zero StartedAt or UpdatedAt is stored as
// 1970-01-01 and read back as zero; an entry needs a Time. Status and Level must be
// known values; an Error with only empty fields reads back as nil.
func (c *Client) WriteSyncLog(ctx context.Context, syncs []synclog.Sync, versions []uint64, entries []LoggedEntry) error {
	if len(versions) != len(syncs) {
		return fmt.Errorf("writing sync log: %d versions for %d syncs", len(versions), len(syncs))
	}
	err := write(ctx, c, "syncs", syncs, func(s []synclog.Sync) ([]column, error) { return syncColumns(s, versions) })
	if err != nil {
		return err
	}
	return write(ctx, c, "sync_log", entries, entryColumns)
}

// syncColumns validates syncs and returns the syncs table's columns for them, rows in
// input order.
func syncColumns(syncs []synclog.Sync, versions []uint64) ([]column, error) {
	n := len(syncs)
	var (
		syncID            = make([]string, n)
		connectorID       = make([]string, n)
		connectorType     = make([]string, n)
		syncType          = make([]string, n)
		status            = make([]string, n)
		failedStage       = make([]string, n)
		startedAt         = make([]time.Time, n)
		endedAt           = make([]*time.Time, n)
		ingestionSeconds  = make([]float64, n)
		processingSeconds = make([]float64, n)
		recordsFetched    = make([]int64, n)
		recordsWritten    = make([]int64, n)
		recordsFailed     = make([]int64, n)
		stageName         = make([][]string, n)
		stageState        = make([][]string, n)
		stageStartedAt    = make([][]*time.Time, n)
		stageEndedAt      = make([][]*time.Time, n)
		stageSeconds      = make([][]float64, n)
		stageIn           = make([][]int64, n)
		stageOut          = make([][]int64, n)
		stageFailed       = make([][]int64, n)
		updatedAt         = make([]time.Time, n)
		ended             = make([]time.Time, n) // backing for endedAt
	)
	for i := range syncs {
		s := &syncs[i]
		if !slices.Contains(syncStatuses, s.Status) {
			return nil, fmt.Errorf("sync %s: unknown status %q", s.ID, s.Status)
		}
		var err error
		if startedAt[i], err = zeroableTime("started_at", s.StartedAt); err != nil {
			return nil, fmt.Errorf("sync %s: %w", s.ID, err)
		}
		if updatedAt[i], err = zeroableTime("updated_at", s.UpdatedAt); err != nil {
			return nil, fmt.Errorf("sync %s: %w", s.ID, err)
		}
		if endedAt[i], err = nullableTimePtr("ended_at", s.EndedAt, &ended[i]); err != nil {
			return nil, fmt.Errorf("sync %s: %w", s.ID, err)
		}
		k := len(s.Stages)
		stageName[i], stageState[i] = make([]string, k), make([]string, k)
		stageStartedAt[i], stageEndedAt[i] = make([]*time.Time, k), make([]*time.Time, k)
		stageSeconds[i] = make([]float64, k)
		stageIn[i], stageOut[i], stageFailed[i] = make([]int64, k), make([]int64, k), make([]int64, k)
		times := make([]time.Time, 2*k) // backing for the stage times
		for j, st := range s.Stages {
			if stageStartedAt[i][j], err = nullableTimePtr("stage started_at", st.StartedAt, &times[2*j]); err != nil {
				return nil, fmt.Errorf("sync %s stage %s: %w", s.ID, st.Name, err)
			}
			if stageEndedAt[i][j], err = nullableTimePtr("stage ended_at", st.EndedAt, &times[2*j+1]); err != nil {
				return nil, fmt.Errorf("sync %s stage %s: %w", s.ID, st.Name, err)
			}
			stageName[i][j] = st.Name
			stageState[i][j] = string(st.State)
			stageSeconds[i][j] = st.Seconds
			stageIn[i][j], stageOut[i][j], stageFailed[i][j] = st.RecordsIn, st.RecordsOut, st.RecordsFailed
		}
		syncID[i] = s.ID
		connectorID[i] = s.ConnectorID
		connectorType[i] = s.ConnectorType
		syncType[i] = string(s.Type)
		status[i] = string(s.Status)
		failedStage[i] = s.FailedStage
		ingestionSeconds[i] = s.IngestionSeconds
		processingSeconds[i] = s.ProcessingSeconds
		recordsFetched[i] = s.RecordsFetched
		recordsWritten[i] = s.RecordsWritten
		recordsFailed[i] = s.RecordsFailed
	}
	columns := []column{
		{"sync_id", syncID},
		{"connector_id", connectorID},
		{"connector_type", connectorType},
		{"type", syncType},
		{"status", status},
		{"failed_stage", failedStage},
		{"started_at", startedAt},
		{"ended_at", endedAt},
		{"ingestion_seconds", ingestionSeconds},
		{"processing_seconds", processingSeconds},
		{"records_fetched", recordsFetched},
		{"records_written", recordsWritten},
		{"records_failed", recordsFailed},
	}
	columns = append(columns, errorColumns(n, func(i int) *model.ErrorBlock { return syncs[i].Error })...)
	return append(columns,
		column{"`stages.name`", stringPtrs(stageName)},
		column{"`stages.state`", stringPtrs(stageState)},
		column{"`stages.started_at`", stageStartedAt},
		column{"`stages.ended_at`", stageEndedAt},
		column{"`stages.seconds`", stageSeconds},
		column{"`stages.records_in`", stageIn},
		column{"`stages.records_out`", stageOut},
		column{"`stages.records_failed`", stageFailed},
		column{"updated_at", updatedAt},
		column{"version", versions},
	), nil
}

// entryColumns validates entries and returns the sync_log table's columns for them, rows
// in input order.
func entryColumns(entries []LoggedEntry) ([]column, error) {
	n := len(entries)
	var (
		syncID      = make([]string, n)
		connectorID = make([]string, n)
		entryTime   = make([]time.Time, n)
		timeMS      = make([]uint16, n)
		level       = make([]string, n)
		stage       = make([]string, n)
		state       = make([]string, n)
		message     = make([]string, n)
		partition   = make([]int32, n)
		offset      = make([]int64, n)
	)
	for i := range entries {
		e := &entries[i]
		if !slices.Contains(levels, e.Level) {
			return nil, fmt.Errorf("entry %d@%d of sync %s: unknown level %q", e.Partition, e.Offset, e.SyncID, e.Level)
		}
		if err := checkDateTime("time", e.Time); err != nil {
			return nil, fmt.Errorf("entry %d@%d of sync %s: %w", e.Partition, e.Offset, e.SyncID, err)
		}
		t := e.Time.UTC()
		entryTime[i] = t.Truncate(time.Second)
		timeMS[i] = uint16(t.Nanosecond() / int(time.Millisecond))
		syncID[i] = e.SyncID
		connectorID[i] = e.ConnectorID
		level[i] = string(e.Level)
		stage[i] = e.Stage
		state[i] = string(e.State)
		message[i] = e.Message
		partition[i] = e.Partition
		offset[i] = e.Offset
	}
	columns := []column{
		{"sync_id", syncID},
		{"connector_id", connectorID},
		{"time", entryTime},
		{"time_ms", timeMS},
		{"level", level},
		{"stage", stage},
		{"state", state},
		{"message", message},
	}
	columns = append(columns, errorColumns(n, func(i int) *model.ErrorBlock { return entries[i].Error })...)
	return append(columns,
		column{"log_partition", partition},
		column{"log_offset", offset},
	), nil
}

// errorColumns returns the flattened error block columns for n rows, each row's block
// given by block (nil for none: every column empty).
func errorColumns(n int, block func(i int) *model.ErrorBlock) []column {
	var (
		class     = make([]string, n)
		message   = make([]string, n)
		action    = make([]string, n)
		rootCause = make([]string, n)
		code      = make([]string, n)
		details   = make([]string, n)
		payload   = make([]string, n)
	)
	for i := range n {
		if b := block(i); b != nil {
			class[i], message[i], action[i], rootCause[i] = b.Class, b.Message, b.RecommendedAction, b.RootCause
			code[i], details[i], payload[i] = b.Code, b.Details, b.ResponsePayload
		}
	}
	keys, values := sortedPairs(n, func(i int) map[string]string {
		if b := block(i); b != nil {
			return b.ResponseHeaders
		}
		return nil
	})
	return []column{
		{"error_class", class},
		{"error_message", message},
		{"error_action", action},
		{"error_root_cause", rootCause},
		{"error_code", code},
		{"error_details", details},
		{"`error_headers.key`", stringPtrs(keys)},
		{"`error_headers.value`", stringPtrs(values)},
		{"error_payload", payload},
	}
}

// zeroableTime maps the zero time to the Unix epoch, DateTime's zero, and checks any
// other time fits a DateTime.
func zeroableTime(column string, t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Unix(0, 0).UTC(), nil
	}
	if err := checkDateTime(column, t); err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// nullableTimePtr is nullableTime for an optional time: nil (or the zero time) is NULL.
func nullableTimePtr(column string, t *time.Time, slot *time.Time) (*time.Time, error) {
	if t == nil {
		return nil, nil
	}
	return nullableTime(column, *t, slot)
}

// syncSelect lists the syncs columns scanSync reads, in its order.
const syncSelect = `sync_id, connector_id, connector_type, type, status, failed_stage, started_at, ended_at,
	ingestion_seconds, processing_seconds, records_fetched, records_written, records_failed,
	error_class, error_message, error_action, error_root_cause, error_code, error_details,
	error_headers.key, error_headers.value, error_payload,
	stages.name, stages.state, stages.started_at, stages.ended_at, stages.seconds,
	stages.records_in, stages.records_out, stages.records_failed, updated_at`

// latestSyncs selects the newest version of every sync. It picks it explicitly rather
// than with FINAL because a sync's started_at, and so its day partition, may change
// between versions (zero until its first stage starts), and FINAL may collapse rows only
// within a partition (do_not_merge_across_partitions_select_final, and background merges
// never cross partitions).
func (c *Client) latestSyncs() string {
	return "SELECT " + syncSelect + " FROM " + c.db + ".syncs ORDER BY version DESC LIMIT 1 BY sync_id"
}

// Syncs lists the syncs matching f, newest (by start, to the second) first: at most
// f.Limit, 100 when it is 0 and never more than 1000. From and To compare at whole
// seconds.
func (c *Client) Syncs(ctx context.Context, f synclog.Filter) ([]synclog.Sync, error) {
	var (
		where []string
		args  []any
	)
	if f.ConnectorID != "" {
		where, args = append(where, "connector_id = ?"), append(args, f.ConnectorID)
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, string(f.Type))
	}
	if f.Status != "" {
		if !slices.Contains(syncStatuses, f.Status) {
			return nil, fmt.Errorf("listing syncs: unknown status %q", f.Status)
		}
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.Level != "" {
		if !slices.Contains(levels, f.Level) {
			return nil, fmt.Errorf("listing syncs: unknown level %q", f.Level)
		}
		where = append(where, "sync_id IN (SELECT sync_id FROM "+c.db+".sync_log WHERE level = ?)")
		args = append(args, string(f.Level))
	}
	// Bound as Unix seconds, clamped to DateTime's range, which the driver would wrap.
	if !f.From.IsZero() && f.From.Unix() > 0 {
		where, args = append(where, "started_at >= toDateTime(?)"), append(args, min(f.From.Unix(), maxDateTimeSec))
	}
	if !f.To.IsZero() {
		if f.To.Unix() <= 0 {
			return nil, nil // nothing started before 1970
		}
		where, args = append(where, "started_at < toDateTime(?)"), append(args, min(f.To.Unix(), maxDateTimeSec))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultSyncsLimit
	}
	limit = min(limit, maxSyncsLimit)

	query := "SELECT * FROM (" + c.latestSyncs() + ")"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY started_at DESC, updated_at DESC, sync_id DESC LIMIT " + strconv.Itoa(limit)
	syncs, err := c.querySyncs(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing syncs: %w", err)
	}
	return syncs, nil
}

// Sync returns the sync with the given id and its entries, oldest first (by time, then by position in
// the sync-log topic); level, when set, keeps only entries at that level. It returns
// synclog.ErrNotFound for a sync the syncs table does not hold.
func (c *Client) Sync(ctx context.Context, id string, level model.Level) (synclog.Sync, []synclog.Entry, error) {
	if level != "" && !slices.Contains(levels, level) {
		return synclog.Sync{}, nil, fmt.Errorf("reading sync %s: unknown level %q", id, level)
	}
	syncs, err := c.querySyncs(ctx, "SELECT "+syncSelect+" FROM "+c.db+".syncs WHERE sync_id = ? ORDER BY version DESC LIMIT 1", id)
	if err != nil {
		return synclog.Sync{}, nil, fmt.Errorf("reading sync %s: %w", id, err)
	}
	if len(syncs) == 0 {
		return synclog.Sync{}, nil, fmt.Errorf("reading sync %s: %w", id, synclog.ErrNotFound)
	}
	query := `SELECT time, time_ms, level, stage, state, message,
		error_class, error_message, error_action, error_root_cause, error_code, error_details,
		error_headers.key, error_headers.value, error_payload
		FROM ` + c.db + `.sync_log FINAL WHERE sync_id = ?`
	args := []any{id}
	if level != "" {
		query, args = query+" AND level = ?", append(args, string(level))
	}
	query += " ORDER BY time, time_ms, log_partition, log_offset"
	entries, err := c.queryEntries(ctx, query, args...)
	if err != nil {
		return synclog.Sync{}, nil, fmt.Errorf("reading entries of sync %s: %w", id, err)
	}
	return syncs[0], entries, nil
}

// LastSyncs returns each connector's newest sync (by start, to the second), by
// connector id.
func (c *Client) LastSyncs(ctx context.Context) (map[string]synclog.Sync, error) {
	syncs, err := c.querySyncs(ctx, "SELECT * FROM ("+c.latestSyncs()+
		") ORDER BY connector_id, started_at DESC, updated_at DESC, sync_id DESC LIMIT 1 BY connector_id")
	if err != nil {
		return nil, fmt.Errorf("reading each connector's last sync: %w", err)
	}
	out := make(map[string]synclog.Sync, len(syncs))
	for _, s := range syncs {
		out[s.ConnectorID] = s
	}
	return out, nil
}

// SyncLogHighWater returns, per sync-log topic partition, the highest offset stored in
// sync_log, so a writer replaying the topic can skip what is already stored. Partitions
// without a stored entry (including those whose entries retention dropped) are absent.
func (c *Client) SyncLogHighWater(ctx context.Context) (map[int32]int64, error) {
	rows, err := c.conn.Query(ctx, "SELECT log_partition, max(log_offset) FROM "+c.db+".sync_log GROUP BY log_partition")
	if err != nil {
		return nil, fmt.Errorf("reading sync log high water: %w", err)
	}
	defer rows.Close()
	out := map[int32]int64{}
	for rows.Next() {
		var (
			partition int32
			offset    int64
		)
		if err := rows.Scan(&partition, &offset); err != nil {
			return nil, fmt.Errorf("reading sync log high water: %w", err)
		}
		out[partition] = offset
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading sync log high water: %w", err)
	}
	return out, nil
}

// DropExpiredSyncLog drops the day partitions of syncs and sync_log that lie entirely
// before now-keep (days as the server's time zone counts them) and returns what it
// dropped as "<table> <partition id>", e.g. "syncs 20261101", in that order. Running it
// again drops nothing more. On error it returns what it dropped before the error.
func (c *Client) DropExpiredSyncLog(ctx context.Context, now time.Time, keep time.Duration) (dropped []string, err error) {
	if keep <= 0 {
		return nil, fmt.Errorf("dropping expired sync log: keep is %s, want a positive duration", keep)
	}
	cutoff := now.Add(-keep).Unix()
	if cutoff <= 0 {
		return nil, nil // nothing is stored before 1970
	}
	expired, err := c.expiredSyncLogPartitions(ctx, cutoff)
	if err != nil {
		return nil, fmt.Errorf("listing expired sync log partitions: %w", err)
	}
	for _, p := range expired {
		// The id is spliced in as the partition's UInt32 value; it is eight digits.
		if !dayPartition.MatchString(p.id) {
			return dropped, fmt.Errorf("dropping %s partition %q: not a day partition", p.table, p.id)
		}
		if err := c.conn.Exec(ctx, "ALTER TABLE "+c.db+"."+p.table+" DROP PARTITION "+p.id); err != nil {
			return dropped, fmt.Errorf("dropping %s partition %s: %w", p.table, p.id, err)
		}
		dropped = append(dropped, p.table+" "+p.id)
	}
	return dropped, nil
}

// dayPartitionOf is one day partition of a table.
type dayPartitionOf struct{ table, id string }

// expiredSyncLogPartitions lists the active day partitions of syncs and sync_log that end
// by the cutoff's day, ordered by table and id.
func (c *Client) expiredSyncLogPartitions(ctx context.Context, cutoff int64) ([]dayPartitionOf, error) {
	// A day partition D lies entirely before the cutoff when D < toYYYYMMDD(cutoff): it
	// ends by the start of the cutoff's day. toDateTime of Unix seconds makes the server
	// count days in its own time zone, as it does for the partition keys.
	rows, err := c.conn.Query(ctx, `SELECT table, partition_id FROM system.parts
		WHERE database = ? AND table IN ('syncs', 'sync_log') AND active
		AND match(partition_id, '^[0-9]{8}$') AND toUInt32OrZero(partition_id) < toYYYYMMDD(toDateTime(?))
		GROUP BY table, partition_id ORDER BY table, partition_id`, c.db, min(cutoff, maxDateTimeSec))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []dayPartitionOf
	for rows.Next() {
		var p dayPartitionOf
		if err := rows.Scan(&p.table, &p.id); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// querySyncs runs a query selecting syncSelect's columns and returns its syncs.
func (c *Client) querySyncs(ctx context.Context, query string, args ...any) ([]synclog.Sync, error) {
	rows, err := c.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []synclog.Sync
	for rows.Next() {
		var (
			s                    synclog.Sync
			syncType, status     string
			startedAt, updated   time.Time
			endedAt              *time.Time
			e                    model.ErrorBlock
			headerK, headerV     []string
			names, states        []string
			stageStart, stageEnd []*time.Time
			seconds              []float64
			in, outs, failed     []int64
		)
		if err := rows.Scan(&s.ID, &s.ConnectorID, &s.ConnectorType, &syncType, &status, &s.FailedStage,
			&startedAt, &endedAt, &s.IngestionSeconds, &s.ProcessingSeconds,
			&s.RecordsFetched, &s.RecordsWritten, &s.RecordsFailed,
			&e.Class, &e.Message, &e.RecommendedAction, &e.RootCause, &e.Code, &e.Details,
			&headerK, &headerV, &e.ResponsePayload,
			&names, &states, &stageStart, &stageEnd, &seconds, &in, &outs, &failed, &updated); err != nil {
			return nil, err
		}
		s.Type, s.Status = model.SyncType(syncType), synclog.Status(status)
		s.StartedAt, s.UpdatedAt, s.EndedAt = fromZeroable(startedAt), fromZeroable(updated), utcPtr(endedAt)
		s.Error = errorBlock(e, headerK, headerV)
		// The five stages in order, whatever was stored; Nested keeps its arrays aligned.
		s.Stages = synclog.NewSync(s.ID).Stages
		for j, name := range names {
			k := slices.IndexFunc(s.Stages, func(st synclog.Stage) bool { return st.Name == name })
			if k < 0 {
				continue
			}
			s.Stages[k] = synclog.Stage{
				Name:          name,
				State:         model.StageState(states[j]),
				StartedAt:     utcPtr(stageStart[j]),
				EndedAt:       utcPtr(stageEnd[j]),
				Seconds:       seconds[j],
				RecordsIn:     in[j],
				RecordsOut:    outs[j],
				RecordsFailed: failed[j],
			}
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// queryEntries runs a query selecting an entry's columns, as Sync does, and returns its
// entries.
func (c *Client) queryEntries(ctx context.Context, query string, args ...any) ([]synclog.Entry, error) {
	rows, err := c.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []synclog.Entry
	for rows.Next() {
		var (
			en               synclog.Entry
			t                time.Time
			ms               uint16
			level, state     string
			e                model.ErrorBlock
			headerK, headerV []string
		)
		if err := rows.Scan(&t, &ms, &level, &en.Stage, &state, &en.Message,
			&e.Class, &e.Message, &e.RecommendedAction, &e.RootCause, &e.Code, &e.Details,
			&headerK, &headerV, &e.ResponsePayload); err != nil {
			return nil, err
		}
		en.Time = time.Unix(t.Unix(), int64(ms)*int64(time.Millisecond)).UTC()
		en.Level, en.State = model.Level(level), model.StageState(state)
		en.Error = errorBlock(e, headerK, headerV)
		out = append(out, en)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// errorBlock rebuilds an error block from its flattened columns: nil when every one is
// empty.
func errorBlock(e model.ErrorBlock, keys, values []string) *model.ErrorBlock {
	if len(keys) > 0 {
		e.ResponseHeaders = make(map[string]string, len(keys))
		for i, k := range keys {
			e.ResponseHeaders[k] = values[i]
		}
	}
	if e.Class == "" && e.Message == "" && e.RecommendedAction == "" && e.RootCause == "" && e.Code == "" &&
		e.Details == "" && e.ResponsePayload == "" && e.ResponseHeaders == nil {
		return nil
	}
	return &e
}

// fromZeroable undoes zeroableTime: the epoch is the zero time.
func fromZeroable(t time.Time) time.Time {
	if t.Unix() == 0 {
		return time.Time{}
	}
	return t.UTC()
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
