package clickhouse_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/clickhouse/clickhousetest"
	"github.com/tributary-sec/tributary/internal/model"
)

func TestMain(m *testing.M) { os.Exit(clickhousetest.Run(m)) }

// fetched is a sync time; DateTime keeps whole seconds, so fixtures use whole seconds.
var fetched = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func testAssets() []model.Asset {
	base := model.Asset{
		ConnectorID:      "conn-1",
		ConnectorType:    "aws_inspector",
		SyncID:           "sync-1",
		Scope:            "eu-west-1",
		VendorStatus:     "ACTIVE",
		FirstObservedAt:  time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		LastObservedAt:   time.Date(2026, 3, 1, 0, 0, 1, 0, time.UTC),
		ExternalTags:     map[string]string{"env": "prod", "Name": "web-1", "team": "payments"},
		CustomAttributes: map[string]string{"accountId": "123456789012", "arch": "x86_64"},
		FetchedAt:        fetched,
	}
	device := base
	device.UID = "i-0abc"
	device.Class = model.ClassDevice
	device.Name = "web-1"
	device.ExternalID = "i-0abc"
	device.ProviderID = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc"
	device.OperatingSystem = "AMAZON_LINUX_2"
	device.IPv4 = []string{"10.0.0.5", "52.1.2.3"}
	device.IPv6 = []string{"2001:db8::5"}
	device.FQDN = "ip-10-0-0-5.eu-west-1.compute.internal"
	device.MACAddresses = []string{"0a:1b:2c:3d:4e:5f"}
	device.Provider = "AWS"
	device.CloudResourceType = "AWS_EC2_INSTANCE"

	container := base
	container.UID = "sha256:feed"
	container.Class = model.ClassContainer
	container.Name = "payments-api"
	container.ExternalID = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments-api"
	container.ImageTags = []string{"latest", "v1.4.2"}
	container.ImageDigest = "sha256:feed"
	container.Provider = "AWS"
	container.CloudResourceType = "AWS_ECR_CONTAINER_IMAGE"

	resource := base
	resource.UID = "arn:aws:lambda:eu-west-1:123456789012:function:resize"
	resource.Class = model.ClassResource
	resource.Name = "resize"
	resource.Provider = "AWS"
	resource.CloudResourceType = "AWS_LAMBDA_FUNCTION"
	// Unknown observation times are stored as NULL and read back as zero.
	resource.FirstObservedAt = time.Time{}
	resource.LastObservedAt = time.Time{}
	resource.ExternalTags = nil

	return []model.Asset{device, container, resource}
}

func testFindings() []model.EnrichedFinding {
	full := model.EnrichedFinding{
		Finding: model.Finding{
			ConnectorID:      "conn-1",
			ConnectorType:    "aws_inspector",
			SyncID:           "sync-1",
			Scope:            "eu-west-1",
			UID:              "arn:aws:inspector2:eu-west-1:123456789012:finding/abc",
			AssetUIDs:        []string{"i-0abc", "i-0def"},
			AssetClass:       model.ClassDevice,
			AssetName:        "web-1",
			Name:             "CVE-2024-6387 - openssh",
			CVEs:             []string{"CVE-2024-6387", "CVE-2024-6409"},
			Description:      "A signal handler race condition;\nsecond line with 'quotes'.",
			Score:            ptr(8.1),
			VendorSeverity:   "HIGH",
			VendorStatus:     "ACTIVE",
			FirstSeen:        time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC),
			LastSeen:         time.Date(2026, 3, 14, 15, 0, 0, 0, time.UTC),
			Port:             ptr(int32(22)),
			Protocol:         "TCP",
			CustomAttributes: map[string]string{"fixAvailable": "YES", "exploitAvailable": "NO", "type": "PACKAGE_VULNERABILITY"},
			FetchedAt:        fetched,
		},
		Severity: model.SeverityHigh,
		Status:   model.StatusActive,
	}
	sparse := model.EnrichedFinding{
		Finding: model.Finding{
			ConnectorID:    "conn-1",
			ConnectorType:  "aws_inspector",
			SyncID:         "sync-1",
			Scope:          "eu-west-1",
			UID:            "arn:aws:inspector2:eu-west-1:123456789012:finding/sparse",
			Name:           "Unscored finding",
			VendorSeverity: "UNTRIAGED",
			VendorStatus:   "CLOSED",
			FetchedAt:      fetched,
		},
		Severity: model.SeverityNone,
		Status:   model.StatusFixed,
	}
	return []model.EnrichedFinding{full, sparse}
}

func readAssets(t *testing.T, c *clickhouse.Client) []model.Asset {
	t.Helper()
	rows, err := c.Query(context.Background(), `SELECT connector_id, connector_type, uid, class, name, external_id,
		provider_id, operating_system, ipv4, ipv6, fqdn, mac_addresses, image_tags, image_digest, provider,
		cloud_resource_type, first_observed_at, last_observed_at, vendor_status, external_tags.key,
		external_tags.value, custom_attributes.key, custom_attributes.value, scope, sync_id, fetched_at, version
		FROM `+c.Database()+`.assets FINAL ORDER BY connector_id, uid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []model.Asset
	for rows.Next() {
		var (
			a            model.Asset
			class        string
			first, last  *time.Time
			tagK, tagV   []string
			attrK, attrV []string
			version      uint64
		)
		if err := rows.Scan(&a.ConnectorID, &a.ConnectorType, &a.UID, &class, &a.Name, &a.ExternalID,
			&a.ProviderID, &a.OperatingSystem, &a.IPv4, &a.IPv6, &a.FQDN, &a.MACAddresses, &a.ImageTags,
			&a.ImageDigest, &a.Provider, &a.CloudResourceType, &first, &last, &a.VendorStatus,
			&tagK, &tagV, &attrK, &attrV, &a.Scope, &a.SyncID, &a.FetchedAt, &version); err != nil {
			t.Fatal(err)
		}
		a.Class = model.AssetClass(class)
		a.FirstObservedAt, a.LastObservedAt = deref(first), deref(last)
		a.ExternalTags, a.CustomAttributes = pairsMap(t, tagK, tagV), pairsMap(t, attrK, attrV)
		if want := uint64(a.FetchedAt.UnixMicro()); version != want {
			t.Errorf("asset %s: version = %d, want fetched_at in µs %d", a.UID, version, want)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readFindings(t *testing.T, c *clickhouse.Client) []model.EnrichedFinding {
	t.Helper()
	rows, err := c.Query(context.Background(), `SELECT connector_id, connector_type, uid, asset_uid, asset_uids,
		asset_class, asset_name, name, cves, description, score, severity, vendor_severity, status,
		vendor_status, first_seen, last_seen, port, protocol, custom_attributes.key, custom_attributes.value,
		scope, sync_id, fetched_at, version
		FROM `+c.Database()+`.findings FINAL ORDER BY connector_id, uid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []model.EnrichedFinding
	for rows.Next() {
		var (
			e                          model.EnrichedFinding
			f                          = &e.Finding
			assetUID, class, sev, stat string
			first, last                *time.Time
			port                       *uint16
			attrK, attrV               []string
			version                    uint64
		)
		if err := rows.Scan(&f.ConnectorID, &f.ConnectorType, &f.UID, &assetUID, &f.AssetUIDs, &class,
			&f.AssetName, &f.Name, &f.CVEs, &f.Description, &f.Score, &sev, &f.VendorSeverity, &stat,
			&f.VendorStatus, &first, &last, &port, &f.Protocol, &attrK, &attrV, &f.Scope, &f.SyncID,
			&f.FetchedAt, &version); err != nil {
			t.Fatal(err)
		}
		wantAssetUID := ""
		if len(f.AssetUIDs) > 0 {
			wantAssetUID = f.AssetUIDs[0]
		}
		if assetUID != wantAssetUID {
			t.Errorf("finding %s: asset_uid = %q, want the first of asset_uids %q", f.UID, assetUID, wantAssetUID)
		}
		if class != "Unknown" {
			f.AssetClass = model.AssetClass(class)
		}
		e.Severity, e.Status = model.Severity(sev), model.Status(stat)
		f.FirstSeen, f.LastSeen = deref(first), deref(last)
		if port != nil {
			f.Port = ptr(int32(*port))
		}
		f.CustomAttributes = pairsMap(t, attrK, attrV)
		if want := uint64(f.FetchedAt.UnixMicro()); version != want {
			t.Errorf("finding %s: version = %d, want fetched_at in µs %d", f.UID, version, want)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// pairsMap rebuilds a map from Nested key/value arrays, checking the keys are sorted.
func pairsMap(t *testing.T, keys, values []string) map[string]string {
	t.Helper()
	if len(keys) != len(values) {
		t.Fatalf("nested arrays differ in length: %v / %v", keys, values)
	}
	m := make(map[string]string, len(keys))
	for i, k := range keys {
		if i > 0 && keys[i-1] >= k {
			t.Errorf("nested keys not sorted: %v", keys)
		}
		m[k] = values[i]
	}
	return m
}

// compareFields reports every field of got that differs from want, recursing into
// structs. Times compare by instant; nil and empty slices and maps compare equal.
func compareFields(t *testing.T, label string, got, want any) {
	t.Helper()
	compareValues(t, label, reflect.ValueOf(got), reflect.ValueOf(want))
}

func compareValues(t *testing.T, path string, got, want reflect.Value) {
	t.Helper()
	switch {
	case got.Type() == reflect.TypeFor[time.Time]():
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if !g.Equal(w) {
			t.Errorf("%s = %v, want %v", path, g, w)
		}
	case got.Kind() == reflect.Struct:
		for i := range got.NumField() {
			compareValues(t, path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i))
		}
	case got.Kind() == reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				t.Errorf("%s = %v, want %v", path, describe(got), describe(want))
			}
			return
		}
		compareValues(t, path, got.Elem(), want.Elem())
	case got.Kind() == reflect.Slice || got.Kind() == reflect.Map:
		if got.Len() == 0 && want.Len() == 0 {
			return
		}
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			t.Errorf("%s = %v, want %v", path, got.Interface(), want.Interface())
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			t.Errorf("%s = %#v, want %#v", path, got.Interface(), want.Interface())
		}
	}
}

func describe(v reflect.Value) string {
	if v.IsNil() {
		return "nil"
	}
	return fmt.Sprint(v.Elem().Interface())
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t) // migrated once already

	snapshot := func() (tables map[string]string, migrations []string) {
		t.Helper()
		tables = map[string]string{}
		rows, err := c.Query(ctx, "SELECT name, engine_full FROM system.tables WHERE database = ? ORDER BY name", c.Database())
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, engine string
			if err := rows.Scan(&name, &engine); err != nil {
				t.Fatal(err)
			}
			var create string
			r, err := c.Query(ctx, "SHOW CREATE TABLE "+c.Database()+"."+name)
			if err != nil {
				t.Fatal(err)
			}
			for r.Next() {
				if err := r.Scan(&create); err != nil {
					t.Fatal(err)
				}
			}
			r.Close()
			tables[name] = engine + "\n" + create
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		// Without FINAL: a second Migrate must not even add a duplicate row.
		rows, err = c.Query(ctx, "SELECT version, name, applied_at FROM "+c.Database()+".schema_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				v       uint32
				name    string
				applied time.Time
			)
			if err := rows.Scan(&v, &name, &applied); err != nil {
				t.Fatal(err)
			}
			migrations = append(migrations, fmt.Sprintf("%04d_%s@%s", v, name, applied.Format(time.RFC3339)))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return tables, migrations
	}

	tables, migrations := snapshot()
	for _, want := range []string{"assets", "findings", "syncs", "sync_log", "finding_history", "asset_history", "current_findings", "weaknesses", "sync_validation", "finding_state", "asset_state", "finding_state_mv", "asset_state_mv", "schema_migrations"} {
		if _, ok := tables[want]; !ok {
			t.Errorf("table %s missing after Migrate; have %v", want, tables)
		}
	}
	if len(migrations) == 0 || !strings.HasPrefix(migrations[0], "0001_assets_findings@") {
		t.Errorf("schema_migrations = %v, want 0001_assets_findings first", migrations)
	}
	for name, def := range tables {
		want := "ReplacingMergeTree(version)"
		switch name {
		case "schema_migrations":
			continue
		case "sync_log", "finding_history", "asset_history", "sync_validation":
			want = "ReplacingMergeTree()" // rows never change: the sort key collapses replays
		case "current_findings", "weaknesses":
			want = "CREATE VIEW"
		case "finding_state_mv", "asset_state_mv":
			want = "CREATE MATERIALIZED VIEW"
		}
		if !strings.Contains(def, want) {
			t.Errorf("table %s engine = %s, want %s", name, def, want)
		}
	}

	// applied_at has one-second resolution: wait so a re-applied migration would show.
	time.Sleep(1100 * time.Millisecond)
	if err := c.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	tables2, migrations2 := snapshot()
	if !reflect.DeepEqual(tables2, tables) {
		t.Errorf("tables changed by a second Migrate:\nbefore %v\nafter  %v", tables, tables2)
	}
	if !reflect.DeepEqual(migrations2, migrations) {
		t.Errorf("schema_migrations changed by a second Migrate:\nbefore %v\nafter  %v", migrations, migrations2)
	}
}

func TestMigrateRequiresDirective(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	version, err := c.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Versions above the embedded ones, so they run on the already migrated database.
	files := fstest.MapFS{
		"migrations/9001_logs.sql": {Data: []byte(`
CREATE TABLE IF NOT EXISTS {db}.logs (day Date, msg String)
ENGINE = MergeTree() PARTITION BY day ORDER BY day;

-- requires: ttl
ALTER TABLE {db}.logs MODIFY TTL day + INTERVAL 14 DAY;

CREATE TABLE IF NOT EXISTS {db}.after_ttl (x String) ENGINE = MergeTree() ORDER BY x;
`)},
	}
	if err := c.MigrateFS(ctx, files); err != nil {
		t.Fatalf("MigrateFS on %s: %v", version, err)
	}
	var create string
	rows, err := c.Query(ctx, "SHOW CREATE TABLE "+c.Database()+".logs")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(&create); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	hasTTL := strings.Contains(create, "TTL")
	// The local server is 18.16, which has no TTL; a newer server must apply it.
	wantTTL := !strings.HasPrefix(version, "18.")
	if hasTTL != wantTTL {
		t.Errorf("server %s: logs table has TTL = %v, want %v:\n%s", version, hasTTL, wantTTL, create)
	}
	for _, table := range []string{"after_ttl", "schema_migrations"} {
		if n := count(t, c, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", c.Database(), table); n != 1 {
			t.Errorf("table %s missing after the directive", table)
		}
	}
	if n := count(t, c, "SELECT count() FROM "+c.Database()+".schema_migrations FINAL WHERE version = 9001"); n != 1 {
		t.Errorf("migration 9001 recorded %d times, want 1", n)
	}
}

// TestMigrateAddColumnTwice re-runs an ADD COLUMN whose column exists, as after a
// migration interrupted before it was recorded: the migration completes.
func TestMigrateAddColumnTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	files := fstest.MapFS{
		"migrations/9001_add_again.sql": {Data: []byte(`
ALTER TABLE {db}.assets ADD COLUMN archive_reason String AFTER vendor_status;
CREATE TABLE IF NOT EXISTS {db}.after_add (x String) ENGINE = MergeTree() ORDER BY x;
`)},
	}
	if err := c.MigrateFS(ctx, files); err != nil {
		t.Fatalf("MigrateFS: %v", err)
	}
	if n := count(t, c, "SELECT count() FROM system.tables WHERE database = ? AND name = 'after_add'", c.Database()); n != 1 {
		t.Error("the statement after the repeated ADD COLUMN did not run")
	}
	bad := fstest.MapFS{"migrations/9002_bad.sql": {Data: []byte("ALTER TABLE {db}.assets ADD COLUMN broken NoSuchType;\n")}}
	if err := c.MigrateFS(ctx, bad); err == nil {
		t.Error("a failing ADD COLUMN of another kind was accepted")
	}
}

func count(t *testing.T, c *clickhouse.Client, query string, args ...any) uint64 {
	t.Helper()
	rows, err := c.Query(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n uint64
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAssetsRoundTrip(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	assets := testAssets()
	if err := c.WriteAssets(context.Background(), assets); err != nil {
		t.Fatal(err)
	}
	got := readAssets(t, c)
	byUID := map[string]model.Asset{}
	for _, a := range got {
		byUID[a.UID] = a
	}
	for _, want := range assets {
		t.Run(string(want.Class), func(t *testing.T) {
			g, ok := byUID[want.UID]
			if !ok {
				t.Fatalf("asset %s not read back", want.UID)
			}
			compareFields(t, "Asset", g, want)
		})
	}
	if n := count(t, c, "SELECT count() FROM "+c.Database()+".assets WHERE first_observed_at IS NULL AND last_observed_at IS NULL"); n != 1 {
		t.Errorf("assets with NULL observation times = %d, want 1 (zero times are NULL)", n)
	}
}

func TestFindingsRoundTrip(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	findings := testFindings()
	if err := c.WriteFindings(context.Background(), findings); err != nil {
		t.Fatal(err)
	}
	got := readFindings(t, c)
	byUID := map[string]model.EnrichedFinding{}
	for _, f := range got {
		byUID[f.Finding.UID] = f
	}
	for _, want := range findings {
		t.Run(want.Finding.Name, func(t *testing.T) {
			g, ok := byUID[want.Finding.UID]
			if !ok {
				t.Fatalf("finding %s not read back", want.Finding.UID)
			}
			compareFields(t, "EnrichedFinding", g, want)
		})
	}
	if n := count(t, c, `SELECT count() FROM `+c.Database()+`.findings
		WHERE score IS NULL AND port IS NULL AND first_seen IS NULL AND last_seen IS NULL
		AND asset_uid = '' AND asset_class = 'Unknown'`); n != 1 {
		t.Errorf("sparse findings stored with NULLs, '' asset_uid and Unknown class = %d, want 1", n)
	}
}

func TestWriteTwiceKeepsOneRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	assets, findings := testAssets(), testFindings()
	for range 2 {
		if err := c.WriteAssets(ctx, assets); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFindings(ctx, findings); err != nil {
			t.Fatal(err)
		}
	}
	for table, want := range map[string]int{"assets": len(assets), "findings": len(findings)} {
		t.Run(table, func(t *testing.T) {
			rows, err := c.Query(ctx, "SELECT uid, count() FROM "+c.Database()+"."+table+" FINAL GROUP BY uid")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			uids := 0
			for rows.Next() {
				var (
					uid string
					n   uint64
				)
				if err := rows.Scan(&uid, &n); err != nil {
					t.Fatal(err)
				}
				uids++
				if n != 1 {
					t.Errorf("%s uid %s: %d rows with FINAL, want 1", table, uid, n)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if uids != want {
				t.Errorf("%s: %d uids, want %d", table, uids, want)
			}
		})
	}
}

func TestNewerVersionWins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	asset := func(name string, at time.Time) []model.Asset {
		a := testAssets()[0]
		a.Name, a.FetchedAt = name, at
		return []model.Asset{a}
	}
	finding := func(name string, at time.Time) []model.EnrichedFinding {
		f := testFindings()[0]
		f.Finding.Name, f.Finding.FetchedAt = name, at
		return []model.EnrichedFinding{f}
	}
	t0 := fetched
	steps := []struct {
		name  string
		value string
		at    time.Time
		want  string
	}{
		{name: "first sync", value: "sync-1", at: t0, want: "sync-1"},
		{name: "newer sync wins", value: "sync-2", at: t0.Add(time.Hour), want: "sync-2"},
		{name: "older replay loses", value: "sync-1-replayed", at: t0, want: "sync-2"},
		{name: "a microsecond newer still wins", value: "sync-3", at: t0.Add(time.Hour + time.Microsecond), want: "sync-3"},
	}
	for _, s := range steps {
		if err := c.WriteAssets(ctx, asset(s.value, s.at)); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFindings(ctx, finding(s.value, s.at)); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"assets", "findings"} {
			var got string
			rows, err := c.Query(ctx, "SELECT name FROM "+c.Database()+"."+table+" FINAL")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
				if err := rows.Scan(&got); err != nil {
					t.Fatal(err)
				}
			}
			rows.Close()
			if n != 1 || got != s.want {
				t.Errorf("%s: %s FINAL has %d rows, name %q; want 1 row, %q", s.name, table, n, got, s.want)
			}
		}
	}
}

func TestWriteRejectsBadRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := clickhousetest.New(t)
	tests := []struct {
		name    string
		write   func() error
		wantErr string
	}{
		{
			name: "asset without class",
			write: func() error {
				a := testAssets()[0]
				a.Class = ""
				return c.WriteAssets(ctx, []model.Asset{a})
			},
			wantErr: `writing assets batch of 1 rows: asset i-0abc: unknown class ""`,
		},
		{
			name: "asset without fetched_at",
			write: func() error {
				a := testAssets()[0]
				a.FetchedAt = time.Time{}
				return c.WriteAssets(ctx, []model.Asset{a})
			},
			wantErr: "fetched_at is not set",
		},
		{
			name: "asset observed before 1970",
			write: func() error {
				a := testAssets()[0]
				a.FirstObservedAt = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)
				return c.WriteAssets(ctx, []model.Asset{a})
			},
			wantErr: "first_observed_at 1969-12-31T00:00:00Z is outside DateTime's range",
		},
		{
			name: "finding with unknown severity",
			write: func() error {
				f := testFindings()
				f[1].Severity = "Severe"
				return c.WriteFindings(ctx, f)
			},
			wantErr: `writing findings batch of 2 rows: finding arn:aws:inspector2:eu-west-1:123456789012:finding/sparse: unknown severity "Severe"`,
		},
		{
			name: "finding with port out of range",
			write: func() error {
				f := testFindings()[0]
				f.Finding.Port = ptr(int32(70000))
				return c.WriteFindings(ctx, []model.EnrichedFinding{f})
			},
			wantErr: "port 70000 out of range",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.write()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	for _, table := range []string{"assets", "findings"} {
		if n := count(t, c, "SELECT count() FROM "+c.Database()+"."+table); n != 0 {
			t.Errorf("%s holds %d rows after rejected batches, want 0", table, n)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	const secret = "hunter2-secret"
	// A listener that accepts and stays silent, as ClickHouse's HTTP port does to a
	// native protocol hello.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			go func() {
				<-done
				conn.Close()
			}()
		}
	}()

	tests := []struct {
		name     string
		opts     clickhouse.Options
		wantErrs []string
	}{
		{
			name:     "closed port",
			opts:     clickhouse.Options{Addr: closed, Password: secret},
			wantErrs: []string{"connecting to ClickHouse at " + closed + ": connection refused; start ClickHouse or set --clickhouse-addr"},
		},
		{
			name:     "silent port",
			opts:     clickhouse.Options{Addr: silent.Addr().String()},
			wantErrs: []string{"no native protocol handshake within 5s (is it the HTTP port?"},
		},
		{
			name:     "wrong password",
			opts:     clickhouse.Options{Addr: clickhousetest.Addr(t), Password: secret},
			wantErrs: []string{"connecting to ClickHouse at " + clickhousetest.Addr(t) + " as default: "},
		},
		{
			name:     "unknown user",
			opts:     clickhouse.Options{Addr: clickhousetest.Addr(t), Username: "nobody", Password: secret},
			wantErrs: []string{"as nobody: "},
		},
		{
			name:     "database name that is not an identifier",
			opts:     clickhouse.Options{Addr: clickhousetest.Addr(t), Database: "x; DROP TABLE y"},
			wantErrs: []string{`database name "x; DROP TABLE y" is not a plain identifier`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := clickhouse.Open(ctx, tt.opts)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded, want an error")
			}
			msg := err.Error()
			for _, want := range tt.wantErrs {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error reveals the password: %q", msg)
			}
		})
	}
}

func TestServerVersion(t *testing.T) {
	t.Parallel()
	c := clickhousetest.New(t)
	v, err := c.ServerVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(v, ".") {
		t.Errorf("ServerVersion() = %q, want major.minor...", v)
	}
}

func TestStartServerMissingBinary(t *testing.T) {
	t.Parallel()
	_, err := clickhouse.StartServer(context.Background(), clickhouse.ServerConfig{Dir: t.TempDir(), Binary: "/nonexistent/clickhouse-server"}, nil)
	want := "clickhouse-server not found at /nonexistent/clickhouse-server; install it with: apt-get install -y clickhouse-server (make test and make run do this)"
	if err == nil || err.Error() != want {
		t.Fatalf("StartServer() error = %v, want %q", err, want)
	}
}

func BenchmarkWriteFindings(b *testing.B) {
	const rows = 50_000
	c := clickhousetest.New(b)
	template := testFindings()[0]
	findings := make([]model.EnrichedFinding, rows)
	for i := range findings {
		f := template
		f.Finding.UID = fmt.Sprintf("arn:aws:inspector2:eu-west-1:123456789012:finding/%08d", i)
		f.Finding.AssetUIDs = []string{fmt.Sprintf("i-%08x", i%5000)}
		findings[i] = f
	}
	ctx := context.Background()
	b.ReportAllocs()
	written := 0
	for b.Loop() {
		if err := c.WriteFindings(ctx, findings); err != nil {
			b.Fatal(err)
		}
		written += rows
	}
	b.ReportMetric(float64(written)/b.Elapsed().Seconds(), "rows/s")
}

// TestStartServerPortInUse checks a taken port is refused before start: another server
// there (say, a ClickHouse left running) would otherwise answer the readiness probe.
func TestStartServerPortInUse(t *testing.T) {
	t.Parallel()
	for _, takenPort := range []string{"tcp", "http"} {
		t.Run(takenPort, func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			free, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			freePort := free.Addr().(*net.TCPAddr).Port
			free.Close()
			takenNum := taken.Addr().(*net.TCPAddr).Port
			cfg := clickhouse.ServerConfig{Dir: t.TempDir(), TCPPort: takenNum, HTTPPort: freePort}
			if takenPort == "http" {
				cfg.TCPPort, cfg.HTTPPort = freePort, takenNum
			}
			s, err := clickhouse.StartServer(context.Background(), cfg, nil)
			if err == nil {
				s.Stop()
				t.Fatal("StartServer succeeded on a port in use")
			}
			for _, want := range []string{fmt.Sprintf("port %d is in use", takenNum), "TRIBUTARY_CLICKHOUSE_PORT"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("StartServer() error = %v, want it to contain %q", err, want)
				}
			}
		})
	}
}
