package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/go-faster/city"

	"github.com/tributary-sec/tributary/internal/model"
)

// FindingChange is one status change of a finding: a row of finding_history.
type FindingChange struct {
	ConnectorID string
	UID         string
	Old         model.Status // empty for a new finding
	New         model.Status
	Reason      string // new, vendor_closed, vendor_suppressed, reopened or not_returned
	SyncID      string
	Time        time.Time
}

// AssetChange is one lifecycle state change of an asset: a row of asset_history.
type AssetChange struct {
	ConnectorID string
	UID         string
	OldState    string // empty for a new asset, else model.AssetActive or model.AssetArchived
	NewState    string // model.AssetActive or model.AssetArchived
	Reason      string // new, status, not_returned, retention or restored
	SyncID      string
	Time        time.Time
}

// Values the history tables accept; anything else is refused before the batch is sent.
var (
	findingReasons = []string{"new", "vendor_closed", "vendor_suppressed", "reopened", "not_returned"}
	assetReasons   = []string{"new", "status", "not_returned", "retention", "restored"}
	assetStates    = []string{model.AssetActive, model.AssetArchived}
)

// maxInListHashes bounds the uid hashes one lookup query lists: each is an element of
// the query's syntax tree, which the server caps at 50,000 (max_ast_elements), and takes
// up to 21 bytes, so the query raises max_query_size (256 KiB by default on every
// release). A processor batch fits in one query: each query costs the server a pass
// over the parts it touches.
const maxInListHashes = 40_000

// inListSettings lets a query carry maxInListHashes hashes.
var inListSettings = ch.Settings{"max_query_size": 24 * maxInListHashes}

// FindingStatuses returns the current status (that of the newest version) of each of
// the connector's findings among uids, by uid. A uid absent from the map has no row: the
// finding is new. Any number of uids may be asked for; they are queried in chunks.
func (c *Client) FindingStatuses(ctx context.Context, connectorID string, uids []string) (map[string]model.Status, error) {
	out := make(map[string]model.Status, len(uids))
	err := c.lookupStates(ctx, "finding_state", "status", connectorID, uids, func(uid, status string) { out[uid] = model.Status(status) })
	if err != nil {
		return nil, fmt.Errorf("reading statuses of %d findings of connector %s: %w", len(uids), connectorID, err)
	}
	return out, nil
}

// AssetArchiveReasons returns the current archive reason (that of the newest version;
// "" for an active asset) of each of the connector's assets among uids, by uid. A uid
// absent from the map has no row: the asset is new. Any number of uids may be asked for.
func (c *Client) AssetArchiveReasons(ctx context.Context, connectorID string, uids []string) (map[string]string, error) {
	out := make(map[string]string, len(uids))
	err := c.lookupStates(ctx, "asset_state", "archive_reason", connectorID, uids, func(uid, reason string) { out[uid] = reason })
	if err != nil {
		return nil, fmt.Errorf("reading archive reasons of %d assets of connector %s: %w", len(uids), connectorID, err)
	}
	return out, nil
}

// uidHash is ClickHouse's cityHash64 of a uid: the key of the state tables (migration
// 0006), which materialized views fill from findings and assets.
func uidHash(uid string) uint64 { return city.CH64([]byte(uid)) }

// lookupStates reads column's newest value (by version) from a state table for each of
// the connector's uids that has a row, in chunks, calling found for each. Two uids of a
// batch sharing a hash (about one chance in 10^10 for a million uids) both get the
// value stored under it.
func (c *Client) lookupStates(ctx context.Context, table, column, connectorID string, uids []string, found func(uid, value string)) error {
	// argMax over the primary key's granules rather than FINAL, which merges every part.
	query := "SELECT uid_hash, toString(argMax(" + column + ", version)) FROM " + c.db + "." + table +
		" WHERE connector_id = ? AND uid_hash IN ? GROUP BY uid_hash"
	for len(uids) > 0 {
		chunk := uids[:min(len(uids), maxInListHashes)]
		uids = uids[len(chunk):]
		byHash := make(map[uint64][]string, len(chunk))
		hashes := make([]any, 0, len(chunk))
		for _, uid := range chunk {
			h := uidHash(uid)
			if _, seen := byHash[h]; !seen {
				hashes = append(hashes, h)
			}
			byHash[h] = append(byHash[h], uid)
		}
		rows, err := c.conn.Query(ch.Context(ctx, ch.WithSettings(inListSettings)), query, connectorID, ch.GroupSet{Value: hashes})
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				h     uint64
				value string
			)
			if err := rows.Scan(&h, &value); err != nil {
				rows.Close()
				return err
			}
			for _, uid := range byHash[h] {
				found(uid, value)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteHistory appends findings to finding_history and assets to asset_history, one
// batch each. Writing a change again (same connector, uid, sync, new status or state
// and time) adds no row visible through FINAL, so a failed call may be retried whole.
// Every change needs a connector id, uid, sync id and time (in DateTime's range), a
// known reason and a new status or state that differs from the old one. Changes are
// validated before anything is written; the second batch is not written when the first
// fails. Empty slices write nothing.
func (c *Client) WriteHistory(ctx context.Context, findings []FindingChange, assets []AssetChange) error {
	fc, err := findingHistoryColumns(findings)
	if err != nil {
		return fmt.Errorf("writing finding_history batch of %d rows: %w", len(findings), err)
	}
	ac, err := assetHistoryColumns(assets)
	if err != nil {
		return fmt.Errorf("writing asset_history batch of %d rows: %w", len(assets), err)
	}
	if len(findings) > 0 {
		if err := c.insert(ctx, "finding_history", fc); err != nil {
			return fmt.Errorf("writing finding_history batch of %d rows: %w", len(findings), err)
		}
	}
	if len(assets) > 0 {
		if err := c.insert(ctx, "asset_history", ac); err != nil {
			return fmt.Errorf("writing asset_history batch of %d rows: %w", len(assets), err)
		}
	}
	return nil
}

// historyRow is one change of a finding's status or an asset's state.
type historyRow struct {
	connectorID, uid, old, new, reason, syncID string
	at                                         time.Time
}

// historyKind is what one history table holds: its state columns and allowed values.
type historyKind struct {
	entity               string // finding or asset, for errors
	oldColumn, newColumn string
	states, reasons      []string
}

var (
	findingHistory = historyKind{"finding", "old_status", "new_status", []string{string(model.StatusActive), string(model.StatusFixed)}, findingReasons}
	assetHistory   = historyKind{"asset", "old_state", "new_state", assetStates, assetReasons}
)

// findingHistoryColumns validates changes and returns finding_history's columns for them.
func findingHistoryColumns(changes []FindingChange) ([]column, error) {
	rows := make([]historyRow, len(changes))
	for i, c := range changes {
		rows[i] = historyRow{c.ConnectorID, c.UID, string(c.Old), string(c.New), c.Reason, c.SyncID, c.Time}
	}
	return findingHistory.columns(rows)
}

// assetHistoryColumns validates changes and returns asset_history's columns for them.
func assetHistoryColumns(changes []AssetChange) ([]column, error) {
	rows := make([]historyRow, len(changes))
	for i, c := range changes {
		rows[i] = historyRow{c.ConnectorID, c.UID, c.OldState, c.NewState, c.Reason, c.SyncID, c.Time}
	}
	return assetHistory.columns(rows)
}

// columns validates rows (known states and reasons, a real change, the fields every row
// needs) and returns the table's columns for them.
func (k historyKind) columns(rows []historyRow) ([]column, error) {
	n := len(rows)
	var (
		connectorID = make([]string, n)
		uid         = make([]string, n)
		oldState    = make([]string, n)
		newState    = make([]string, n)
		reason      = make([]string, n)
		syncID      = make([]string, n)
		at          = make([]time.Time, n)
	)
	for i, r := range rows {
		switch {
		case r.old != "" && !slices.Contains(k.states, r.old):
			return nil, fmt.Errorf("%s %s: unknown old %s %q", k.entity, r.uid, k.what(), r.old)
		case !slices.Contains(k.states, r.new):
			return nil, fmt.Errorf("%s %s: unknown new %s %q", k.entity, r.uid, k.what(), r.new)
		case r.old == r.new:
			return nil, fmt.Errorf("%s %s: %s %s to %s is no change", k.entity, r.uid, k.what(), r.old, r.new)
		case !slices.Contains(k.reasons, r.reason):
			return nil, fmt.Errorf("%s %s: unknown reason %q (want one of %s)", k.entity, r.uid, r.reason, strings.Join(k.reasons, ", "))
		}
		if err := checkChange(r.connectorID, r.uid, r.syncID, r.at); err != nil {
			return nil, fmt.Errorf("%s %s: %w", k.entity, r.uid, err)
		}
		connectorID[i], uid[i], syncID[i], at[i] = r.connectorID, r.uid, r.syncID, r.at.UTC()
		oldState[i], newState[i], reason[i] = r.old, r.new, r.reason
	}
	return []column{
		{"connector_id", connectorID},
		{"uid", uid},
		{k.oldColumn, oldState},
		{k.newColumn, newState},
		{"reason", reason},
		{"sync_id", syncID},
		{"time", at},
	}, nil
}

// what names the state column's meaning in errors: status or state.
func (k historyKind) what() string {
	if k.entity == "finding" {
		return "status"
	}
	return "state"
}

// checkChange checks the fields every history row needs.
func checkChange(connectorID, uid, syncID string, at time.Time) error {
	switch {
	case connectorID == "":
		return errors.New("no connector id")
	case uid == "":
		return errors.New("no uid")
	case syncID == "":
		return errors.New("no sync id")
	}
	return checkDateTime("time", at)
}

// AssetsNotReturned calls each, in no particular order, for every asset (its newest
// version, complete) of the connector and scope that is active and was last written by
// another sync than syncID: at the end of a successful Full sync of the scope, the
// assets that sync did not return. Rows are streamed, not loaded at once; each may write
// through the client (another connection). It stops at each's first error and returns
// that error as is.
func (c *Client) AssetsNotReturned(ctx context.Context, connectorID, scope, syncID string, each func(model.Asset) error) error {
	if connectorID == "" || syncID == "" {
		return fmt.Errorf("listing assets not returned by sync %q of connector %q: connector and sync id are required", syncID, connectorID)
	}
	pick := "SELECT uid FROM (SELECT uid, argMax(scope, version) AS sc, argMax(archive_reason, version) AS reason," +
		" argMax(sync_id, version) AS sid FROM " + c.db + ".assets WHERE connector_id = ? GROUP BY uid)" +
		" WHERE sc = ? AND reason = '' AND sid != ?"
	err := c.pickThenRead(ctx, pick, []any{connectorID, scope, syncID}, "assets", assetSelect, connectorID,
		func(ctx context.Context, query string, args ...any) error {
			return c.streamAssets(ctx, query, each, args...)
		})
	if err != nil {
		return wrapStream(err, "listing assets of connector %s scope %q not returned by sync %s", connectorID, scope, syncID)
	}
	return nil
}

// FindingsNotReturned calls each, in no particular order, for every finding (its newest
// version, complete) of the connector and scope that is Active, was last written by
// another sync than syncID, and whose primary asset is not archived: the findings a
// successful Full sync of the scope did not return and that are therefore Fixed. A
// finding of an archived asset is hidden with it, not Fixed, so call this after the
// sweep's assets are archived. A finding without an asset row counts. Streaming and
// errors are as for AssetsNotReturned.
func (c *Client) FindingsNotReturned(ctx context.Context, connectorID, scope, syncID string, each func(model.EnrichedFinding) error) error {
	if connectorID == "" || syncID == "" {
		return fmt.Errorf("listing findings not returned by sync %q of connector %q: connector and sync id are required", syncID, connectorID)
	}
	archived := "SELECT uid FROM (SELECT uid, argMax(archive_reason, version) AS reason FROM " + c.db +
		".assets WHERE connector_id = ? GROUP BY uid) WHERE reason != ''"
	pick := "SELECT uid FROM (SELECT uid, argMax(scope, version) AS sc, argMax(status, version) AS st," +
		" argMax(sync_id, version) AS sid, argMax(asset_uid, version) AS primary_asset FROM " + c.db + ".findings WHERE connector_id = ? GROUP BY uid)" +
		" WHERE sc = ? AND st = 'Active' AND sid != ? AND primary_asset NOT IN (" + archived + ")"
	err := c.pickThenRead(ctx, pick, []any{connectorID, scope, syncID, connectorID}, "findings", findingSelect, connectorID,
		func(ctx context.Context, query string, args ...any) error {
			return c.streamFindings(ctx, query, each, args...)
		})
	if err != nil {
		return wrapStream(err, "listing findings of connector %s scope %q not returned by sync %s", connectorID, scope, syncID)
	}
	return nil
}

// AssetsPastRetention calls each, in no particular order, for every active asset (its
// newest version, complete) of the connector, in any scope, last fetched (fetched_at,
// the time of the last sync that returned it) before notSeenSince, to the second.
// Streaming and errors are as for AssetsNotReturned.
func (c *Client) AssetsPastRetention(ctx context.Context, connectorID string, notSeenSince time.Time, each func(model.Asset) error) error {
	if connectorID == "" {
		return fmt.Errorf("listing assets past retention: connector id is required")
	}
	cutoff := notSeenSince.Unix()
	if notSeenSince.IsZero() || cutoff <= 0 {
		return nil // nothing is fetched before 1970
	}
	// Bound as Unix seconds, clamped to DateTime's range, which the driver would wrap.
	query := "SELECT " + assetSelect + " FROM " + c.db + ".assets FINAL" +
		" WHERE connector_id = ? AND archive_reason = '' AND fetched_at < toDateTime(?)"
	if err := c.streamAssets(ctx, query, each, connectorID, min(cutoff, maxDateTimeSec)); err != nil {
		return wrapStream(err, "listing assets of connector %s not seen since %s", connectorID, notSeenSince.UTC().Format(time.RFC3339))
	}
	return nil
}

// sweepChunk is how many uids one query of a sweep's second phase lists: under the
// server's 50,000 syntax-tree elements, and within sweepSettings' query size for uids
// of up to 1.6 KB on average.
const sweepChunk = 10_000

var sweepSettings = ch.Settings{"max_query_size": 16 << 20}

// pickThenRead runs a sweep in two phases. pick selects the uids to sweep from a few
// narrow columns (argMax by version); then the complete rows of those uids (columns
// sel of table) are read with FINAL, chunk by chunk through the primary key, by read.
// Reading every column with FINAL up front would read all of the connector's rows, of
// which a sweep usually picks none or a few.
func (c *Client) pickThenRead(ctx context.Context, pick string, pickArgs []any, table, sel, connectorID string,
	read func(ctx context.Context, query string, args ...any) error) error {
	rows, err := c.conn.Query(ctx, pick, pickArgs...)
	if err != nil {
		return err
	}
	var uids []any
	for rows.Next() {
		var uid string
		if err := rows.Scan(&uid); err != nil {
			rows.Close()
			return err
		}
		uids = append(uids, uid)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return err
	}
	query := "SELECT " + sel + " FROM " + c.db + "." + table + " FINAL WHERE connector_id = ? AND uid IN ?"
	ctx = ch.Context(ctx, ch.WithSettings(sweepSettings))
	for len(uids) > 0 {
		chunk := uids[:min(len(uids), sweepChunk)]
		uids = uids[len(chunk):]
		if err := read(ctx, query, connectorID, ch.GroupSet{Value: chunk}); err != nil {
			return err
		}
	}
	return nil
}

// callbackError carries an error of an each function out of a stream unwrapped.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// wrapStream returns a callback's error as is and wraps any other.
func wrapStream(err error, format string, args ...any) error {
	if cb, ok := err.(callbackError); ok {
		return cb.err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// assetSelect lists the assets columns scanAsset reads, in its order: every column
// assetColumns writes but version.
const assetSelect = `connector_id, connector_type, uid, class, name, external_id, provider_id,
	operating_system, ipv4, ipv6, fqdn, mac_addresses, image_tags, image_digest, provider,
	cloud_resource_type, first_observed_at, last_observed_at, vendor_status, archive_reason,
	external_tags.key, external_tags.value, custom_attributes.key, custom_attributes.value,
	scope, sync_id, fetched_at`

// streamAssets runs query, which selects assetSelect, and calls each for every row.
func (c *Client) streamAssets(ctx context.Context, query string, each func(model.Asset) error, args ...any) error {
	rows, err := c.conn.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			a            model.Asset
			class        string
			first, last  *time.Time
			tagK, tagV   []string
			attrK, attrV []string
		)
		if err := rows.Scan(&a.ConnectorID, &a.ConnectorType, &a.UID, &class, &a.Name, &a.ExternalID, &a.ProviderID,
			&a.OperatingSystem, &a.IPv4, &a.IPv6, &a.FQDN, &a.MACAddresses, &a.ImageTags, &a.ImageDigest, &a.Provider,
			&a.CloudResourceType, &first, &last, &a.VendorStatus, &a.ArchiveReason,
			&tagK, &tagV, &attrK, &attrV, &a.Scope, &a.SyncID, &a.FetchedAt); err != nil {
			return err
		}
		a.Class = model.AssetClass(class)
		a.FirstObservedAt, a.LastObservedAt = fromNullable(first), fromNullable(last)
		a.ExternalTags, a.CustomAttributes = pairs(tagK, tagV), pairs(attrK, attrV)
		a.FetchedAt = a.FetchedAt.UTC()
		if err := each(a); err != nil {
			return callbackError{err}
		}
	}
	return rows.Err()
}

// findingSelect lists the findings columns scanFinding reads, in its order: every
// column findingColumns writes but asset_uid (the first of asset_uids) and version.
const findingSelect = `connector_id, connector_type, uid, asset_uids, asset_class, asset_name, name, cves,
	description, score, severity, vendor_severity, status, vendor_status, first_seen, last_seen, port,
	protocol, custom_attributes.key, custom_attributes.value, scope, sync_id, fetched_at`

// streamFindings runs query, which selects findingSelect, and calls each for every row.
func (c *Client) streamFindings(ctx context.Context, query string, each func(model.EnrichedFinding) error, args ...any) error {
	rows, err := c.conn.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e                model.EnrichedFinding
			f                = &e.Finding
			class, sev, stat string
			first, last      *time.Time
			port             *uint16
			attrK, attrV     []string
		)
		if err := rows.Scan(&f.ConnectorID, &f.ConnectorType, &f.UID, &f.AssetUIDs, &class, &f.AssetName, &f.Name,
			&f.CVEs, &f.Description, &f.Score, &sev, &f.VendorSeverity, &stat, &f.VendorStatus, &first, &last, &port,
			&f.Protocol, &attrK, &attrV, &f.Scope, &f.SyncID, &f.FetchedAt); err != nil {
			return err
		}
		if class != unknownClass {
			f.AssetClass = model.AssetClass(class)
		}
		e.Severity, e.Status = model.Severity(sev), model.Status(stat)
		f.FirstSeen, f.LastSeen = fromNullable(first), fromNullable(last)
		if port != nil {
			p := int32(*port)
			f.Port = &p
		}
		f.CustomAttributes = pairs(attrK, attrV)
		f.FetchedAt = f.FetchedAt.UTC()
		if err := each(e); err != nil {
			return callbackError{err}
		}
	}
	return rows.Err()
}

// fromNullable undoes nullableTime: NULL is the zero time.
func fromNullable(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// pairs rebuilds a map from Nested key and value arrays, nil when there are none.
func pairs(keys, values []string) map[string]string {
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]string, len(keys))
	for i, k := range keys {
		if i < len(values) {
			m[k] = values[i]
		}
	}
	return m
}
