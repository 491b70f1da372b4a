package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tributary-sec/tributary/internal/clickhouse/clickhousetest"
)

// The data sources the dashboards may use, as provisioned (TestGrafanaProvisioning).
const (
	prometheusType = "prometheus"
	clickhouseType = "grafana-clickhouse-datasource"
)

// query is one PromQL expression or SQL statement of a dashboard.
type query struct {
	where string // dashboard, panel and target, for messages
	expr  string
}

// dashboard is what the tests read of one dashboard file.
type dashboard struct {
	file     string
	uid      string
	vars     []string
	promQL   []query
	sql      []query
	dsUIDs   map[string]string // data source uid → type, of every panel and target
	panelsBy map[string]int    // panels by data source type
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panelJSON struct {
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *dsRef      `json:"datasource"`
	Panels     []panelJSON `json:"panels"`
	Targets    []struct {
		RefID      string          `json:"refId"`
		Datasource *dsRef          `json:"datasource"`
		Expr       string          `json:"expr"`
		RawSQL     string          `json:"rawSql"`
		Format     json.RawMessage `json:"format"`
		QueryType  string          `json:"queryType"`
		EditorType string          `json:"editorType"`
	} `json:"targets"`
}

// readDashboards reads every dashboard of grafana/dashboards.
func readDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob("grafana/dashboards/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("grafana/dashboards holds %d dashboards, want the sync overview and the connector detail", len(files))
	}
	var out []dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var raw struct {
			UID        string      `json:"uid"`
			Title      string      `json:"title"`
			Panels     []panelJSON `json:"panels"`
			Templating struct {
				List []struct {
					Name       string          `json:"name"`
					Type       string          `json:"type"`
					Datasource *dsRef          `json:"datasource"`
					Definition string          `json:"definition"`
					Query      json.RawMessage `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		d := dashboard{file: filepath.Base(f), uid: raw.UID, dsUIDs: map[string]string{}, panelsBy: map[string]int{}}
		for _, v := range raw.Templating.List {
			d.vars = append(d.vars, v.Name)
			if v.Type != "query" || v.Datasource == nil {
				continue
			}
			d.dsUIDs[v.Datasource.UID] = v.Datasource.Type
			q := query{where: fmt.Sprintf("%s: variable %s", d.file, v.Name), expr: v.Definition}
			switch v.Datasource.Type {
			case prometheusType:
				m := labelValues.FindStringSubmatch(v.Definition)
				if m == nil {
					t.Errorf("%s: want label_values(selector, label), got %q", q.where, v.Definition)
					continue
				}
				q.expr = m[1]
				d.promQL = append(d.promQL, q)
			case clickhouseType:
				d.sql = append(d.sql, q)
			default:
				t.Errorf("%s: data source type %q", q.where, v.Datasource.Type)
			}
		}
		var walk func(ps []panelJSON)
		walk = func(ps []panelJSON) {
			for _, p := range ps {
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				if p.Datasource == nil {
					t.Errorf("%s: panel %q names no data source", d.file, p.Title)
					continue
				}
				d.dsUIDs[p.Datasource.UID] = p.Datasource.Type
				d.panelsBy[p.Datasource.Type]++
				if len(p.Targets) == 0 {
					t.Errorf("%s: panel %q has no query", d.file, p.Title)
				}
				for _, tg := range p.Targets {
					ds := p.Datasource
					if tg.Datasource != nil {
						ds = tg.Datasource
						d.dsUIDs[ds.UID] = ds.Type
					}
					where := fmt.Sprintf("%s: panel %q, query %s", d.file, p.Title, tg.RefID)
					switch ds.Type {
					case prometheusType:
						d.promQL = append(d.promQL, query{where, tg.Expr})
					case clickhouseType:
						d.sql = append(d.sql, query{where, tg.RawSQL})
						if tg.EditorType != "sql" || len(tg.Format) == 0 || (tg.QueryType != "table" && tg.QueryType != "timeseries") {
							t.Errorf("%s: want editorType sql, a format and queryType table or timeseries", where)
						}
					default:
						t.Errorf("%s: data source type %q", where, ds.Type)
					}
				}
			}
		}
		walk(raw.Panels)
		out = append(out, d)
	}
	return out
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// promVars are the test values of the Grafana variables PromQL expressions may use.
var promVars = strings.NewReplacer(
	"$__rate_interval", "1m",
	"$__interval", "1m",
	"$__range", "1h",
	"$connector_type", ".*", // an All of the multi-value variable
	"${connector}", "aws-demo",
	"$connector", "aws-demo",
)

// expandPromVars substitutes the Grafana variables of a PromQL expression.
func expandPromVars(expr string) (string, error) {
	out := promVars.Replace(expr)
	if i := strings.IndexByte(out, '$'); i >= 0 {
		return "", fmt.Errorf("unknown Grafana variable at %q in %q", out[i:], expr)
	}
	return out, nil
}

// TestDashboardsUseDocumentedMetrics checks that every PromQL expression of the
// dashboards selects only metrics listed in docs/metrics.md, and that the sync overview
// covers what issue 6 asks of it.
func TestDashboardsUseDocumentedMetrics(t *testing.T) {
	doc := documentedMetrics(t)
	for _, d := range readDashboards(t) {
		var used []string
		for _, q := range d.promQL {
			expr, err := expandPromVars(q.expr)
			if err != nil {
				t.Errorf("%s: %v", q.where, err)
				continue
			}
			used = append(used, checkDocumented(t, doc, q.where, expr)...)
		}
		if d.uid != "tributary-sync-overview" {
			continue
		}
		for _, want := range []string{
			"tributary_processor_syncs_finished_total",                   // syncs by outcome
			"tributary_fetcher_stage_duration_seconds_sum",               // stage durations
			"tributary_processor_stage_duration_seconds_bucket",          //
			"tributary_normalizer_records_out_total",                     // records per stage
			"tributary_processor_records_out_total",                      //
			"tributary_fetcher_vendor_requests_total",                    // vendor errors by status class
			"tributary_fetcher_sync_failures_total",                      // and by class
			"tributary_normalizer_dead_letters_total",                    // dead letters
			"tributary_processor_dead_letters_total",                     //
			"tributary_processor_consumer_lag_records",                   // lag
			"tributary_processor_last_successful_sync_timestamp_seconds", //
		} {
			if !slices.Contains(used, want) {
				t.Errorf("%s does not chart %s", d.file, want)
			}
		}
	}
}

// TestGrafanaProvisioning checks the data source and dashboard provisioning: a
// Prometheus and a ClickHouse data source whose uids are the ones the dashboards use,
// the ClickHouse plugin's connection keys, the password from the environment, and the
// dashboards folder docker-compose.yml mounts.
func TestGrafanaProvisioning(t *testing.T) {
	b, err := os.ReadFile("grafana/provisioning/datasources/datasources.yml")
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name           string            `yaml:"name"`
			UID            string            `yaml:"uid"`
			Type           string            `yaml:"type"`
			URL            string            `yaml:"url"`
			JSONData       map[string]any    `yaml:"jsonData"`
			SecureJSONData map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatalf("datasources.yml: %v", err)
	}
	if ds.APIVersion != 1 {
		t.Errorf("datasources.yml: apiVersion %d, want 1", ds.APIVersion)
	}
	provisioned := map[string]string{}
	for _, d := range ds.Datasources {
		provisioned[d.UID] = d.Type
		switch d.Type {
		case prometheusType:
			if d.URL != "http://prometheus:9090" {
				t.Errorf("Prometheus data source url %q, want docker-compose.yml's http://prometheus:9090", d.URL)
			}
		case clickhouseType:
			want := map[string]any{"host": "clickhouse", "port": 9000, "protocol": "native", "username": "tributary", "defaultDatabase": "tributary"}
			for k, v := range want {
				if d.JSONData[k] != v {
					t.Errorf("ClickHouse data source jsonData.%s = %v, want %v", k, d.JSONData[k], v)
				}
			}
			if p := d.SecureJSONData["password"]; p != "$TRIBUTARY_CLICKHOUSE_PASSWORD" {
				t.Errorf("ClickHouse data source password %q, want it from the environment ($TRIBUTARY_CLICKHOUSE_PASSWORD)", p)
			}
		default:
			t.Errorf("unexpected data source type %q", d.Type)
		}
	}
	if types := slices.Collect(maps.Values(provisioned)); !slices.Contains(types, prometheusType) || !slices.Contains(types, clickhouseType) {
		t.Errorf("datasources.yml provisions %v, want a Prometheus and a ClickHouse data source", provisioned)
	}
	uids := map[string]bool{}
	for _, d := range readDashboards(t) {
		if uids[d.uid] || d.uid == "" {
			t.Errorf("%s: uid %q empty or taken", d.file, d.uid)
		}
		uids[d.uid] = true
		for uid, typ := range d.dsUIDs {
			if provisioned[uid] != typ {
				t.Errorf("%s uses data source %s of type %s; provisioned: %v", d.file, uid, typ, provisioned)
			}
		}
		if d.uid == "tributary-connector-detail" {
			if !slices.Contains(d.vars, "connector") {
				t.Errorf("%s has no connector variable", d.file)
			}
			if d.panelsBy[clickhouseType] < 5 {
				t.Errorf("%s has %d ClickHouse panels, want last syncs, stage timings, errors and validation", d.file, d.panelsBy[clickhouseType])
			}
		}
	}
	for _, want := range []string{"tributary-sync-overview", "tributary-connector-detail"} {
		if !uids[want] {
			t.Errorf("no dashboard with uid %s", want)
		}
	}

	b, err = os.ReadFile("grafana/provisioning/dashboards/dashboards.yml")
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Providers []struct {
			Type    string            `yaml:"type"`
			Options map[string]string `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(b, &prov); err != nil {
		t.Fatalf("dashboards.yml: %v", err)
	}
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options["path"] != grafanaDashboardsPath {
		t.Errorf("dashboards.yml: want one file provider on %s, got %+v", grafanaDashboardsPath, prov.Providers)
	}
}

// grafanaDashboardsPath is where docker-compose.yml mounts grafana/dashboards.
const grafanaDashboardsPath = "/etc/grafana/dashboards"

// The SQL of the dashboards names tables as tributary.<table> (the database of
// docker-compose.yml); the test runs it on its own database.
var (
	qualifiedTable = regexp.MustCompile(`\btributary\.([a-z_]+)`)
	tableRef       = regexp.MustCompile(`(?i)\b(ARRAY\s+)?(?:FROM|JOIN)\s+([a-z_][a-z0-9_.]*)`)
	timeFilter     = regexp.MustCompile(`\$__timeFilter\(([^)]+)\)`)
	timeInterval   = regexp.MustCompile(`\$__timeInterval\(([^)]+)\)`)
)

// expandSQL substitutes the ClickHouse plugin's macros as the plugin does (for a time
// range of from..to), the connector variable with a connector id, and the database.
func expandSQL(sql, database, connector string, from, to time.Time) (string, error) {
	for _, m := range tableRef.FindAllStringSubmatch(sql, -1) {
		if m[1] == "" && !strings.HasPrefix(m[2], "tributary.") { // ARRAY JOIN names arrays, not tables
			return "", fmt.Errorf("table %s: name it tributary.<table>, Grafana's connection has no default database to rely on", m[2])
		}
	}
	out := qualifiedTable.ReplaceAllString(sql, database+".$1")
	fromTime, toTime := fmt.Sprintf("toDateTime(%d)", from.Unix()), fmt.Sprintf("toDateTime(%d)", to.Unix())
	out = timeFilter.ReplaceAllString(out, "$1 >= "+fromTime+" AND $1 <= "+toTime)
	out = timeInterval.ReplaceAllString(out, "toStartOfInterval(toDateTime($1), INTERVAL 60 second)")
	out = strings.NewReplacer(
		"$__fromTime", fromTime,
		"$__toTime", toTime,
		"$__interval_s", "60",
		"${connector:sqlstring}", "'"+connector+"'",
	).Replace(out)
	if i := strings.IndexByte(out, '$'); i >= 0 {
		return "", fmt.Errorf("unknown macro or variable at %q (use ${connector:sqlstring} for the connector)", out[i:])
	}
	return out, nil
}

// TestDashboardSQLRunsAgainstSchema runs every ClickHouse query of the dashboards, with
// macros and variables substituted, on a freshly migrated database holding a few syncs,
// sync log entries and validation rows, and checks that each returns rows.
func TestDashboardSQLRunsAgainstSchema(t *testing.T) {
	c := clickhousetest.New(t)
	ctx := context.Background()
	db := c.Database()
	now := time.Now().UTC().Truncate(time.Second)
	at := func(ago time.Duration) string { return fmt.Sprintf("toDateTime(%d)", now.Add(-ago).Unix()) }
	// stages returns the stages.* columns of a sync whose stages took a second each.
	stages := func(ago time.Duration, states ...string) string {
		names := []string{"'Initiating'", "'Connectivity Test'", "'Fetching'", "'Normalizing'", "'Processing'"}
		var st, starts, ends, secs, counts []string
		for i, s := range states {
			st = append(st, "'"+s+"'")
			starts = append(starts, "toNullable("+at(ago-time.Duration(i)*time.Second)+")")
			ends = append(ends, "toNullable("+at(ago-time.Duration(i+1)*time.Second)+")")
			secs = append(secs, "1.")
			counts = append(counts, "toInt64(10)")
		}
		list := func(xs []string) string { return "[" + strings.Join(xs, ", ") + "]" }
		return strings.Join([]string{list(names[:len(states)]), list(st), list(starts), list(ends), list(secs), list(counts), list(counts), list(counts)}, ", ")
	}
	// INSERT ... SELECT: 18.16 waits for a data block after INSERT ... VALUES over the
	// native protocol.
	syncs := `INSERT INTO ` + db + `.syncs (sync_id, connector_id, connector_type, type, status, failed_stage, started_at, ended_at,
		ingestion_seconds, processing_seconds, records_fetched, records_written, records_failed, error_class, error_message, error_action,
		stages.name, stages.state, stages.started_at, stages.ended_at, stages.seconds, stages.records_in, stages.records_out, stages.records_failed,
		updated_at, version) SELECT `
	syncLog := `INSERT INTO ` + db + `.sync_log (sync_id, connector_id, time, time_ms, level, stage, state, message,
		error_class, error_message, error_action, log_partition, log_offset) SELECT `
	for _, stmt := range []string{
		syncs + `'s1', 'aws-demo', 'aws_inspector2', 'Full', 'In Progress', '', ` + at(2*time.Hour) + `, NULL, 0., 0., 0, 0, 0, '', '', '', ` +
			stages(2*time.Hour, "succeeded") + `, ` + at(2*time.Hour) + `, 1`,
		syncs + `'s1', 'aws-demo', 'aws_inspector2', 'Full', 'Failed', 'Connectivity Test', ` + at(2*time.Hour) + `, toNullable(` + at(2*time.Hour-5*time.Second) + `),
			5., 0., 0, 0, 0, 'invalid_credentials', 'AWS rejected the access key', 'Check the secret access key', ` +
			stages(2*time.Hour, "succeeded", "failed", "skipped", "skipped", "skipped") + `, ` + at(2*time.Hour) + `, 2`,
		syncs + `'s2', 'aws-demo', 'aws_inspector2', 'Full', 'Done', '', ` + at(time.Hour) + `, toNullable(` + at(time.Hour-5*time.Second) + `),
			3., 5., 20, 18, 2, '', '', '', ` +
			stages(time.Hour, "succeeded", "succeeded", "succeeded", "succeeded", "succeeded") + `, ` + at(time.Hour) + `, 3`,
		syncs + `'s3', 'xdr-demo', 'cortex_xdr', 'Full', 'Done', '', ` + at(time.Hour) + `, toNullable(` + at(time.Hour-5*time.Second) + `),
			3., 5., 20, 20, 0, '', '', '', ` +
			stages(time.Hour, "succeeded", "succeeded", "succeeded", "succeeded", "succeeded") + `, ` + at(time.Hour) + `, 4`,
		syncLog + `'s1', 'aws-demo', ` + at(2*time.Hour) + `, 0, 'INFO', 'Initiating', 'succeeded', 'started', '', '', '', 0, 1`,
		syncLog + `'s1', 'aws-demo', ` + at(2*time.Hour-time.Second) + `, 5, 'ERROR', 'Connectivity Test', 'failed', 'connectivity test failed',
			'invalid_credentials', 'AWS rejected the access key', 'Check the secret access key', 0, 2`,
		syncLog + `'s2', 'aws-demo', ` + at(time.Hour) + `, 0, 'WARN', 'Normalizing', '', '2 records dead-lettered', '', '', '', 0, 3`,
		`INSERT INTO ` + db + `.sync_validation (connector_id, sync_id, time, object, class, vendor_count, stored_count, source)
			SELECT 'aws-demo', 's2', ` + at(time.Hour) + `, 'finding', 'active', 20, 18, 'ListFindingAggregations'`,
	} {
		if err := c.Exec(ctx, stmt); err != nil {
			t.Fatalf("seeding: %v\n%s", err, stmt)
		}
	}

	var n int
	for _, d := range readDashboards(t) {
		for _, q := range d.sql {
			n++
			sql, err := expandSQL(q.expr, db, "aws-demo", now.Add(-7*24*time.Hour), now.Add(24*time.Hour))
			if err != nil {
				t.Errorf("%s: %v", q.where, err)
				continue
			}
			rows, err := c.Query(ctx, sql)
			if err != nil {
				t.Errorf("%s: %v\n%s", q.where, err, sql)
				continue
			}
			count := 0
			for rows.Next() {
				count++
			}
			if err := rows.Err(); err != nil {
				t.Errorf("%s: reading rows: %v", q.where, err)
			}
			rows.Close()
			if count == 0 {
				t.Errorf("%s: no rows from the seeded syncs:\n%s", q.where, sql)
			}
		}
	}
	if n < 6 {
		t.Errorf("ran %d SQL queries; the connector detail wants last syncs, stage timings, errors and validation", n)
	}
}
