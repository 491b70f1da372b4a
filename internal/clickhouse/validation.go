package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// StoredCount is how many of a connector's objects of one asset class Tributary holds.
type StoredCount struct {
	Object string // model.ObjectAssets or model.ObjectFindings
	Class  model.AssetClass
	Count  int64
}

// StoredCounts counts, per asset class, the connector's assets that are not archived as
// not returned or by retention (gone from the vendor), and its active findings but those
// whose asset is archived so, each by its newest version. Assets archived for their
// vendor status count, and so do their findings: the vendor still lists them. These are
// what a vendor's own totals are compared with.
func (c *Client) StoredCounts(ctx context.Context, connectorID string) ([]StoredCount, error) {
	// argMax over the primary key rather than FINAL; the inner aliases differ from the
	// column names so that 18.16 does not read the alias where the column is meant.
	gone := "SELECT uid FROM (SELECT uid, argMax(archive_reason, version) AS reason FROM " + c.db +
		".assets WHERE connector_id = ? GROUP BY uid) WHERE reason IN ('not_returned', 'retention')"
	queries := []struct{ object, query string }{
		{model.ObjectAssets, "SELECT toString(cls), count() FROM (SELECT uid, argMax(class, version) AS cls, argMax(archive_reason, version) AS reason FROM " +
			c.db + ".assets WHERE connector_id = ? GROUP BY uid) WHERE reason NOT IN ('not_returned', 'retention') GROUP BY cls"},
		{model.ObjectFindings, "SELECT toString(cls), count() FROM (SELECT uid, argMax(asset_class, version) AS cls, argMax(status, version) AS st, argMax(asset_uid, version) AS primary_asset FROM " +
			c.db + ".findings WHERE connector_id = ? GROUP BY uid) WHERE st = 'Active' AND primary_asset NOT IN (" + gone + ") GROUP BY cls"},
	}
	var out []StoredCount
	for _, q := range queries {
		args := []any{connectorID}
		if q.object == model.ObjectFindings {
			args = append(args, connectorID)
		}
		rows, err := c.conn.Query(ctx, q.query, args...)
		if err != nil {
			return nil, fmt.Errorf("counting the %s of connector %s: %w", q.object, connectorID, err)
		}
		for rows.Next() {
			var (
				class string
				n     uint64
			)
			if err := rows.Scan(&class, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("counting the %s of connector %s: %w", q.object, connectorID, err)
			}
			out = append(out, StoredCount{Object: q.object, Class: model.AssetClass(class), Count: int64(n)})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("counting the %s of connector %s: %w", q.object, connectorID, err)
		}
	}
	return out, nil
}

// WriteValidation stores a sync's data validation. Writing it again is harmless: a line
// collapses with any other of the same sync, object and class.
func (c *Client) WriteValidation(ctx context.Context, v synclog.Validation) error {
	return write(ctx, c, "sync_validation", v.Lines, func(lines []synclog.ValidationLine) ([]column, error) {
		n := len(lines)
		var (
			connectorID = make([]string, n)
			syncID      = make([]string, n)
			at          = make([]time.Time, n)
			object      = make([]string, n)
			class       = make([]string, n)
			vendor      = make([]int64, n)
			stored      = make([]int64, n)
			source      = make([]string, n)
		)
		t, err := zeroableTime("time", v.Time)
		if err != nil {
			return nil, err
		}
		for i, l := range lines {
			if l.Object != model.ObjectAssets && l.Object != model.ObjectFindings {
				return nil, fmt.Errorf("validation line %d: object is %q, want %s or %s", i, l.Object, model.ObjectAssets, model.ObjectFindings)
			}
			connectorID[i], syncID[i], at[i] = v.ConnectorID, v.SyncID, t
			object[i], class[i], vendor[i], stored[i], source[i] = l.Object, string(l.Class), l.Vendor, l.Stored, l.Source
		}
		return []column{
			{"connector_id", connectorID}, {"sync_id", syncID}, {"time", at}, {"object", object},
			{"class", class}, {"vendor_count", vendor}, {"stored_count", stored}, {"source", source},
		}, nil
	})
}

// LastValidations returns each connector's newest data validation, by connector id.
func (c *Client) LastValidations(ctx context.Context) (map[string]synclog.Validation, error) {
	// The newest sync per connector (sync ids are UUIDv7s, which sort by start time), then
	// its lines; FINAL collapses lines written twice.
	query := "SELECT connector_id, sync_id, time, object, class, vendor_count, stored_count, source FROM " + c.db +
		".sync_validation FINAL WHERE (connector_id, sync_id) IN (SELECT connector_id, max(sync_id) FROM " + c.db +
		".sync_validation GROUP BY connector_id) ORDER BY connector_id, object, class"
	rows, err := c.conn.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("reading each connector's last data validation: %w", err)
	}
	defer rows.Close()
	out := map[string]synclog.Validation{}
	for rows.Next() {
		var (
			v     synclog.Validation
			l     synclog.ValidationLine
			class string
		)
		if err := rows.Scan(&v.ConnectorID, &v.SyncID, &v.Time, &l.Object, &class, &l.Vendor, &l.Stored, &l.Source); err != nil {
			return nil, fmt.Errorf("reading each connector's last data validation: %w", err)
		}
		l.Class = model.AssetClass(class)
		if prev, ok := out[v.ConnectorID]; ok {
			v = prev
		}
		v.Time = v.Time.UTC()
		v.Lines = append(v.Lines, l)
		out[v.ConnectorID] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading each connector's last data validation: %w", err)
	}
	return out, nil
}
