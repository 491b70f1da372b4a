package clickhouse

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tributary-sec/tributary/internal/model"
)

// assetColumns lists the assets columns in the order writeAsset appends them. The list
// is explicit because 18.16 sends a bare `INSERT INTO t` batch no columns.
var assetColumns = []string{
	"connector_id", "connector_type", "uid", "class", "name", "external_id", "provider_id",
	"operating_system", "ipv4", "ipv6", "fqdn", "mac_addresses", "image_tags", "image_digest",
	"provider", "cloud_resource_type", "first_observed_at", "last_observed_at", "vendor_status",
	"`external_tags.key`", "`external_tags.value`", "`custom_attributes.key`", "`custom_attributes.value`",
	"scope", "sync_id", "fetched_at", "version",
}

// findingColumns lists the findings columns in the order writeFinding appends them.
var findingColumns = []string{
	"connector_id", "connector_type", "uid", "asset_uid", "asset_uids", "asset_class", "asset_name",
	"name", "cves", "description", "score", "severity", "vendor_severity", "status", "vendor_status",
	"first_seen", "last_seen", "port", "protocol", "`custom_attributes.key`", "`custom_attributes.value`",
	"scope", "sync_id", "fetched_at", "version",
}

// Enum values the tables accept; anything else is refused before the batch is sent, so
// the error names the record.
var (
	assetClasses = []model.AssetClass{model.ClassDevice, model.ClassContainer, model.ClassResource}
	severities   = []model.Severity{model.SeverityNone, model.SeverityLow, model.SeverityMedium, model.SeverityHigh, model.SeverityCritical}
	statuses     = []model.Status{model.StatusActive, model.StatusFixed}
)

const (
	// unknownClass is findings.asset_class for a finding whose asset class is not known.
	unknownClass = "Unknown"
	// maxDateTimeSec is the last second a DateTime (unsigned 32-bit) holds.
	maxDateTimeSec = math.MaxUint32
)

// WriteAssets inserts assets in one batch. Writing a row again is harmless: the table
// keeps, per (connector_id, uid), the row with the latest FetchedAt, so a replayed older
// sync never overrides a newer one (read with FINAL). Every asset needs a FetchedAt;
// times must lie in DateTime's range (1970 to 2106); a zero first/last-observed time is
// stored as NULL. On error nothing is written; an empty slice writes nothing.
func (c *Client) WriteAssets(ctx context.Context, assets []model.Asset) error {
	if len(assets) == 0 {
		return nil
	}
	if err := c.insert(ctx, "assets", assetColumns, len(assets), func(b driver.Batch, i int) error {
		return appendAsset(b, &assets[i])
	}); err != nil {
		return fmt.Errorf("writing assets batch of %d rows: %w", len(assets), err)
	}
	return nil
}

// WriteFindings inserts findings in one batch, with the same replay and time rules as
// WriteAssets. Score and Port may be nil (stored as NULL); an empty AssetClass is
// stored as 'Unknown'. On error nothing is written; an empty slice writes nothing.
func (c *Client) WriteFindings(ctx context.Context, findings []model.EnrichedFinding) error {
	if len(findings) == 0 {
		return nil
	}
	if err := c.insert(ctx, "findings", findingColumns, len(findings), func(b driver.Batch, i int) error {
		return appendFinding(b, &findings[i])
	}); err != nil {
		return fmt.Errorf("writing findings batch of %d rows: %w", len(findings), err)
	}
	return nil
}

// insert runs one INSERT of n rows into table, appending each row with add.
func (c *Client) insert(ctx context.Context, table string, columns []string, n int, add func(driver.Batch, int) error) (err error) {
	query := fmt.Sprintf("INSERT INTO %s.%s (%s)", c.db, table, strings.Join(columns, ", "))
	batch, err := c.conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = batch.Abort() // the error that matters is err; Abort only frees the connection
		}
	}()
	for i := range n {
		if err := add(batch, i); err != nil {
			return err
		}
	}
	return batch.Send()
}

func appendAsset(b driver.Batch, a *model.Asset) error {
	if !slices.Contains(assetClasses, a.Class) {
		return fmt.Errorf("asset %s: unknown class %q", a.UID, a.Class)
	}
	version, err := rowVersion(a.FetchedAt)
	if err != nil {
		return fmt.Errorf("asset %s: %w", a.UID, err)
	}
	first, err := nullableTime("first_observed_at", a.FirstObservedAt)
	if err != nil {
		return fmt.Errorf("asset %s: %w", a.UID, err)
	}
	last, err := nullableTime("last_observed_at", a.LastObservedAt)
	if err != nil {
		return fmt.Errorf("asset %s: %w", a.UID, err)
	}
	tagKeys, tagValues := sortedPairs(a.ExternalTags)
	attrKeys, attrValues := sortedPairs(a.CustomAttributes)
	if err := b.Append(
		a.ConnectorID, a.ConnectorType, a.UID, string(a.Class), a.Name, a.ExternalID, a.ProviderID,
		a.OperatingSystem, nonNil(a.IPv4), nonNil(a.IPv6), a.FQDN, nonNil(a.MACAddresses), nonNil(a.ImageTags), a.ImageDigest,
		a.Provider, a.CloudResourceType, first, last, a.VendorStatus,
		tagKeys, tagValues, attrKeys, attrValues,
		a.Scope, a.SyncID, a.FetchedAt.UTC(), version,
	); err != nil {
		return fmt.Errorf("asset %s: %w", a.UID, err)
	}
	return nil
}

func appendFinding(b driver.Batch, e *model.EnrichedFinding) error {
	f := &e.Finding
	if !slices.Contains(severities, e.Severity) {
		return fmt.Errorf("finding %s: unknown severity %q", f.UID, e.Severity)
	}
	if !slices.Contains(statuses, e.Status) {
		return fmt.Errorf("finding %s: unknown status %q", f.UID, e.Status)
	}
	class := string(f.AssetClass)
	switch {
	case class == "":
		class = unknownClass
	case !slices.Contains(assetClasses, f.AssetClass):
		return fmt.Errorf("finding %s: unknown asset class %q", f.UID, f.AssetClass)
	}
	version, err := rowVersion(f.FetchedAt)
	if err != nil {
		return fmt.Errorf("finding %s: %w", f.UID, err)
	}
	first, err := nullableTime("first_seen", f.FirstSeen)
	if err != nil {
		return fmt.Errorf("finding %s: %w", f.UID, err)
	}
	last, err := nullableTime("last_seen", f.LastSeen)
	if err != nil {
		return fmt.Errorf("finding %s: %w", f.UID, err)
	}
	var port *uint16
	if f.Port != nil {
		if *f.Port < 0 || *f.Port > math.MaxUint16 {
			return fmt.Errorf("finding %s: port %d out of range", f.UID, *f.Port)
		}
		p := uint16(*f.Port)
		port = &p
	}
	var assetUID string
	if len(f.AssetUIDs) > 0 {
		assetUID = f.AssetUIDs[0]
	}
	attrKeys, attrValues := sortedPairs(f.CustomAttributes)
	if err := b.Append(
		f.ConnectorID, f.ConnectorType, f.UID, assetUID, nonNil(f.AssetUIDs), class, f.AssetName,
		f.Name, nonNil(f.CVEs), f.Description, f.Score, string(e.Severity), f.VendorSeverity, string(e.Status), f.VendorStatus,
		first, last, port, f.Protocol, attrKeys, attrValues,
		f.Scope, f.SyncID, f.FetchedAt.UTC(), version,
	); err != nil {
		return fmt.Errorf("finding %s: %w", f.UID, err)
	}
	return nil
}

// rowVersion is the ReplacingMergeTree version of a row fetched at t: its Unix time in
// microseconds, so the latest fetch wins whatever order rows arrive in.
func rowVersion(t time.Time) (uint64, error) {
	if err := checkDateTime("fetched_at", t); err != nil {
		return 0, err
	}
	return uint64(t.UnixMicro()), nil
}

// nullableTime maps the zero time to NULL, since DateTime cannot hold "unknown".
func nullableTime(column string, t time.Time) (*time.Time, error) {
	if t.IsZero() {
		return nil, nil
	}
	if err := checkDateTime(column, t); err != nil {
		return nil, err
	}
	u := t.UTC()
	return &u, nil
}

// checkDateTime refuses times a DateTime (unsigned 32-bit seconds) cannot hold; the
// driver would otherwise wrap them silently.
func checkDateTime(column string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("%s is not set", column)
	}
	if s := t.Unix(); s < 0 || s > maxDateTimeSec {
		return fmt.Errorf("%s %s is outside DateTime's range (1970 to 2106)", column, t.UTC().Format(time.RFC3339))
	}
	return nil
}

// sortedPairs splits m into key and value arrays ordered by key, so the same map always
// gives the same row.
func sortedPairs(m map[string]string) (keys, values []string) {
	keys = make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	values = make([]string, len(keys))
	for i, k := range keys {
		values[i] = m[k]
	}
	return keys, values
}

// nonNil turns a nil slice into an empty one; Array columns have no NULL.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
