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

// column is one column of an insert: its name in the INSERT's column list and its values
// for every row, as one slice of a type clickhouse-go's columnar Append takes for the
// column's ClickHouse type: []string for String and Enum8, [][]*string for Array(String)
// (see stringPtrs), []*T for Nullable(T), []time.Time for DateTime, []uint64 for UInt64.
type column struct {
	name   string
	values any
}

// WriteAssets inserts assets in one batch. Writing a row again is harmless: the table
// keeps, per (connector_id, uid), the row with the latest FetchedAt, so a replayed older
// sync never overrides a newer one (read with FINAL). Every asset needs a FetchedAt;
// times must lie in DateTime's range (1970 to 2106); a zero first/last-observed time is
// stored as NULL. On error nothing is written; an empty slice writes nothing.
func (c *Client) WriteAssets(ctx context.Context, assets []model.Asset) error {
	return write(ctx, c, "assets", assets, assetColumns)
}

// WriteFindings inserts findings in one batch, with the same replay and time rules as
// WriteAssets. Score and Port may be nil (stored as NULL); an empty AssetClass is
// stored as 'Unknown'. On error nothing is written; an empty slice writes nothing.
func (c *Client) WriteFindings(ctx context.Context, findings []model.EnrichedFinding) error {
	return write(ctx, c, "findings", findings, findingColumns)
}

// write checks rows and inserts them into table as one batch of the columns build makes.
func write[T any](ctx context.Context, c *Client, table string, rows []T, build func([]T) ([]column, error)) error {
	if len(rows) == 0 {
		return nil
	}
	columns, err := build(rows)
	if err == nil {
		err = c.insert(ctx, table, columns)
	}
	if err != nil {
		return fmt.Errorf("writing %s batch of %d rows: %w", table, len(rows), err)
	}
	return nil
}

// insert runs one INSERT into table of columns, which all hold the same number of rows.
// The column list is explicit because 18.16 sends a bare `INSERT INTO t` batch no columns.
func (c *Client) insert(ctx context.Context, table string, columns []column) (err error) {
	names := make([]string, len(columns))
	for i, col := range columns {
		names[i] = col.name
	}
	query := fmt.Sprintf("INSERT INTO %s.%s (%s)", c.db, table, strings.Join(names, ", "))
	batch, err := c.conn.PrepareBatch(ctx, query)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = batch.Abort() // the error that matters is err; Abort only frees the connection
		}
	}()
	// The batch's columns are in the order of the query's column list.
	for i, col := range columns {
		if err := appendColumn(batch.Column(i), col.values); err != nil {
			return fmt.Errorf("appending column %s: %w", col.name, err)
		}
	}
	return batch.Send()
}

// appendColumn appends values to a batch column. An Array(String) column goes row by
// row: the driver's columnar Append reflects over every element of every row, while
// AppendRow of a []*string takes its reflection-free path.
func appendColumn(col driver.BatchColumn, values any) error {
	rows, ok := values.([][]*string)
	if !ok {
		return col.Append(values)
	}
	for _, row := range rows {
		if err := col.AppendRow(row); err != nil {
			return err
		}
	}
	return nil
}

// assetColumns validates assets and returns the assets table's columns for them, rows
// in input order.
func assetColumns(assets []model.Asset) ([]column, error) {
	n := len(assets)
	var (
		connectorID       = make([]string, n)
		connectorType     = make([]string, n)
		uid               = make([]string, n)
		class             = make([]string, n)
		name              = make([]string, n)
		externalID        = make([]string, n)
		providerID        = make([]string, n)
		operatingSystem   = make([]string, n)
		ipv4              = make([][]string, n)
		ipv6              = make([][]string, n)
		fqdn              = make([]string, n)
		macAddresses      = make([][]string, n)
		imageTags         = make([][]string, n)
		imageDigest       = make([]string, n)
		provider          = make([]string, n)
		cloudResourceType = make([]string, n)
		firstObservedAt   = make([]*time.Time, n)
		lastObservedAt    = make([]*time.Time, n)
		vendorStatus      = make([]string, n)
		archiveReason     = make([]string, n)
		scope             = make([]string, n)
		syncID            = make([]string, n)
		fetchedAt         = make([]time.Time, n)
		version           = make([]uint64, n)
		// Backing for the non-NULL observation times, so rows need no allocation each.
		observed = make([]time.Time, 2*n)
	)
	for i := range assets {
		a := &assets[i]
		if !slices.Contains(assetClasses, a.Class) {
			return nil, fmt.Errorf("asset %s: unknown class %q", a.UID, a.Class)
		}
		var err error
		if version[i], err = rowVersion(a.FetchedAt); err != nil {
			return nil, fmt.Errorf("asset %s: %w", a.UID, err)
		}
		if firstObservedAt[i], err = nullableTime("first_observed_at", a.FirstObservedAt, &observed[2*i]); err != nil {
			return nil, fmt.Errorf("asset %s: %w", a.UID, err)
		}
		if lastObservedAt[i], err = nullableTime("last_observed_at", a.LastObservedAt, &observed[2*i+1]); err != nil {
			return nil, fmt.Errorf("asset %s: %w", a.UID, err)
		}
		connectorID[i] = a.ConnectorID
		connectorType[i] = a.ConnectorType
		uid[i] = a.UID
		class[i] = string(a.Class)
		name[i] = a.Name
		externalID[i] = a.ExternalID
		providerID[i] = a.ProviderID
		operatingSystem[i] = a.OperatingSystem
		ipv4[i] = a.IPv4
		ipv6[i] = a.IPv6
		fqdn[i] = a.FQDN
		macAddresses[i] = a.MACAddresses
		imageTags[i] = a.ImageTags
		imageDigest[i] = a.ImageDigest
		provider[i] = a.Provider
		cloudResourceType[i] = a.CloudResourceType
		vendorStatus[i] = a.VendorStatus
		archiveReason[i] = a.ArchiveReason
		scope[i] = a.Scope
		syncID[i] = a.SyncID
		fetchedAt[i] = a.FetchedAt.UTC()
	}
	tagKeys, tagValues := sortedPairs(n, func(i int) map[string]string { return assets[i].ExternalTags })
	attrKeys, attrValues := sortedPairs(n, func(i int) map[string]string { return assets[i].CustomAttributes })
	return []column{
		{"connector_id", connectorID},
		{"connector_type", connectorType},
		{"uid", uid},
		{"class", class},
		{"name", name},
		{"external_id", externalID},
		{"provider_id", providerID},
		{"operating_system", operatingSystem},
		{"ipv4", stringPtrs(ipv4)},
		{"ipv6", stringPtrs(ipv6)},
		{"fqdn", fqdn},
		{"mac_addresses", stringPtrs(macAddresses)},
		{"image_tags", stringPtrs(imageTags)},
		{"image_digest", imageDigest},
		{"provider", provider},
		{"cloud_resource_type", cloudResourceType},
		{"first_observed_at", firstObservedAt},
		{"last_observed_at", lastObservedAt},
		{"vendor_status", vendorStatus},
		{"archive_reason", archiveReason},
		{"`external_tags.key`", stringPtrs(tagKeys)},
		{"`external_tags.value`", stringPtrs(tagValues)},
		{"`custom_attributes.key`", stringPtrs(attrKeys)},
		{"`custom_attributes.value`", stringPtrs(attrValues)},
		{"scope", scope},
		{"sync_id", syncID},
		{"fetched_at", fetchedAt},
		{"version", version},
	}, nil
}

// findingColumns validates findings and returns the findings table's columns for them,
// rows in input order.
func findingColumns(findings []model.EnrichedFinding) ([]column, error) {
	n := len(findings)
	var (
		connectorID    = make([]string, n)
		connectorType  = make([]string, n)
		uid            = make([]string, n)
		assetUID       = make([]string, n)
		assetUIDs      = make([][]string, n)
		assetClass     = make([]string, n)
		assetName      = make([]string, n)
		name           = make([]string, n)
		cves           = make([][]string, n)
		description    = make([]string, n)
		score          = make([]*float64, n)
		severity       = make([]string, n)
		vendorSeverity = make([]string, n)
		status         = make([]string, n)
		vendorStatus   = make([]string, n)
		firstSeen      = make([]*time.Time, n)
		lastSeen       = make([]*time.Time, n)
		port           = make([]*uint16, n)
		protocol       = make([]string, n)
		scope          = make([]string, n)
		syncID         = make([]string, n)
		fetchedAt      = make([]time.Time, n)
		version        = make([]uint64, n)
		// Backing for the non-NULL times and ports, so rows need no allocation each.
		seen  = make([]time.Time, 2*n)
		ports = make([]uint16, n)
	)
	for i := range findings {
		e := &findings[i]
		f := &e.Finding
		if !slices.Contains(severities, e.Severity) {
			return nil, fmt.Errorf("finding %s: unknown severity %q", f.UID, e.Severity)
		}
		if !slices.Contains(statuses, e.Status) {
			return nil, fmt.Errorf("finding %s: unknown status %q", f.UID, e.Status)
		}
		switch {
		case f.AssetClass == "":
			assetClass[i] = unknownClass
		case !slices.Contains(assetClasses, f.AssetClass):
			return nil, fmt.Errorf("finding %s: unknown asset class %q", f.UID, f.AssetClass)
		default:
			assetClass[i] = string(f.AssetClass)
		}
		var err error
		if version[i], err = rowVersion(f.FetchedAt); err != nil {
			return nil, fmt.Errorf("finding %s: %w", f.UID, err)
		}
		if firstSeen[i], err = nullableTime("first_seen", f.FirstSeen, &seen[2*i]); err != nil {
			return nil, fmt.Errorf("finding %s: %w", f.UID, err)
		}
		if lastSeen[i], err = nullableTime("last_seen", f.LastSeen, &seen[2*i+1]); err != nil {
			return nil, fmt.Errorf("finding %s: %w", f.UID, err)
		}
		if f.Port != nil {
			if *f.Port < 0 || *f.Port > math.MaxUint16 {
				return nil, fmt.Errorf("finding %s: port %d out of range", f.UID, *f.Port)
			}
			ports[i] = uint16(*f.Port)
			port[i] = &ports[i]
		}
		if len(f.AssetUIDs) > 0 {
			assetUID[i] = f.AssetUIDs[0]
		}
		connectorID[i] = f.ConnectorID
		connectorType[i] = f.ConnectorType
		uid[i] = f.UID
		assetUIDs[i] = f.AssetUIDs
		assetName[i] = f.AssetName
		name[i] = f.Name
		cves[i] = f.CVEs
		description[i] = f.Description
		score[i] = f.Score
		severity[i] = string(e.Severity)
		vendorSeverity[i] = f.VendorSeverity
		status[i] = string(e.Status)
		vendorStatus[i] = f.VendorStatus
		protocol[i] = f.Protocol
		scope[i] = f.Scope
		syncID[i] = f.SyncID
		fetchedAt[i] = f.FetchedAt.UTC()
	}
	attrKeys, attrValues := sortedPairs(n, func(i int) map[string]string { return findings[i].Finding.CustomAttributes })
	return []column{
		{"connector_id", connectorID},
		{"connector_type", connectorType},
		{"uid", uid},
		{"asset_uid", assetUID},
		{"asset_uids", stringPtrs(assetUIDs)},
		{"asset_class", assetClass},
		{"asset_name", assetName},
		{"name", name},
		{"cves", stringPtrs(cves)},
		{"description", description},
		{"score", score},
		{"severity", severity},
		{"vendor_severity", vendorSeverity},
		{"status", status},
		{"vendor_status", vendorStatus},
		{"first_seen", firstSeen},
		{"last_seen", lastSeen},
		{"port", port},
		{"protocol", protocol},
		{"`custom_attributes.key`", stringPtrs(attrKeys)},
		{"`custom_attributes.value`", stringPtrs(attrValues)},
		{"scope", scope},
		{"sync_id", syncID},
		{"fetched_at", fetchedAt},
		{"version", version},
	}, nil
}

// rowVersion is the ReplacingMergeTree version of a row fetched at t: its Unix time in
// microseconds, so the latest fetch wins whatever order rows arrive in.
func rowVersion(t time.Time) (uint64, error) {
	if err := checkDateTime("fetched_at", t); err != nil {
		return 0, err
	}
	return uint64(t.UnixMicro()), nil
}

// nullableTime maps the zero time to NULL, since DateTime cannot hold "unknown"; any
// other time it stores in *slot and returns slot.
func nullableTime(column string, t time.Time, slot *time.Time) (*time.Time, error) {
	if t.IsZero() {
		return nil, nil
	}
	if err := checkDateTime(column, t); err != nil {
		return nil, err
	}
	*slot = t.UTC()
	return slot, nil
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

// sortedPairs splits the map of each of n rows into key and value arrays ordered by
// key, so the same map always gives the same row. The rows' arrays share two backing
// arrays, so a batch costs two allocations however many rows it has.
func sortedPairs(n int, row func(i int) map[string]string) (keys, values [][]string) {
	total := 0
	for i := range n {
		total += len(row(i))
	}
	allKeys, allValues := make([]string, 0, total), make([]string, 0, total)
	keys, values = make([][]string, n), make([][]string, n)
	for i := range n {
		m := row(i)
		start := len(allKeys)
		for k := range m {
			allKeys = append(allKeys, k)
		}
		end := len(allKeys)
		slices.Sort(allKeys[start:end])
		for _, k := range allKeys[start:end] {
			allValues = append(allValues, m[k])
		}
		keys[i], values[i] = allKeys[start:end:end], allValues[start:end:end]
	}
	return keys, values
}

// stringPtrs turns an Array(String) column's rows into rows of pointers to the same
// strings. clickhouse-go appends each element of an Array row through an interface, and
// boxing a string allocates where boxing a pointer does not: this saves one allocation
// per element for one shared array of pointers per column.
func stringPtrs(rows [][]string) [][]*string {
	total := 0
	for _, row := range rows {
		total += len(row)
	}
	elems := make([]*string, 0, total)
	out := make([][]*string, len(rows))
	for i, row := range rows {
		start := len(elems)
		for j := range row {
			elems = append(elems, &row[j])
		}
		out[i] = elems[start:len(elems):len(elems)]
	}
	return out
}
