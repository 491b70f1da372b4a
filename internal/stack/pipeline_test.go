package stack_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/clickhouse/clickhousetest"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/kafka/kafkatest"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
	"github.com/tributary-sec/tributary/internal/stack"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// binDir holds the service binaries, built once for the package's tests.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "tributary-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	err = stack.Build(ctx, "../..", dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := clickhousetest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	e2eAccessKey = "AKIAE2ETEST000000001"
	e2eSecret    = "e2e/secret/key"
	e2eSecretEnv = "TRIBUTARY_E2E_AWS_SECRET"
)

// pipeline is a running pipeline over in-process Kafka, a real ClickHouse and the
// Inspector simulator.
type pipeline struct {
	t          *testing.T
	kafka      kafka.Config
	store      *clickhouse.Client
	database   string
	connectors string
}

// newPipeline returns a pipeline whose connectors file holds one Inspector connector on
// sim; a nil sim leaves the connectors file to the test.
func newPipeline(t *testing.T, sim *inspector.Simulator) *pipeline {
	t.Helper()
	p := &pipeline{t: t, kafka: kafkatest.New(t, 4), database: clickhousetest.NewDatabase(t)}
	var err error
	p.store, err = clickhouse.Open(context.Background(), clickhouse.Options{Addr: clickhousetest.Addr(t), Database: p.database})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.store.Close() })
	if sim == nil {
		return p
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	p.connectors = filepath.Join(t.TempDir(), "connectors.yaml")
	conf := fmt.Sprintf(`connectors:
  - id: aws-e2e
    name: AWS end-to-end
    type: aws_inspector2
    settings:
      regions: [us-east-1, eu-west-1]
      access_key_id: %s
      secret_access_key: {env: %s}
      endpoint: %s
      max_attempts: 3
`, e2eAccessKey, e2eSecretEnv, srv.URL)
	if err := os.WriteFile(p.connectors, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sync starts the services with a Full sync at start-up, waits for the sync to end,
// stops the services and returns what the sync log says of it.
func (p *pipeline) sync(ctx context.Context) *stack.Sync {
	p.t.Helper()
	started := time.Now()
	logDir := p.t.TempDir()
	svc, err := stack.Start(ctx, stack.Config{
		BinDir:         binDir,
		LogDir:         logDir,
		Kafka:          p.kafka,
		ClickHouseAddr: clickhousetest.Addr(p.t),
		Database:       p.database,
		Connectors:     p.connectors,
		SyncAtStart:    "full",
		FetcherEnv:     []string{e2eSecretEnv + "=" + e2eSecret},
	})
	if err != nil {
		p.t.Fatal(err)
	}
	defer func() {
		if err := svc.Stop(); err != nil {
			p.t.Error(err)
		}
	}()
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	syncs, err := stack.WaitForSyncs(waitCtx, p.kafka, started.Truncate(time.Millisecond), "aws-e2e")
	if err != nil {
		p.t.Fatalf("%v; service exit: %v", err, svc.Exited())
	}
	return syncs["aws-e2e"]
}

func TestFullSyncEndToEnd(t *testing.T) {
	ctx := context.Background()
	sim, err := inspector.New(inspector.Config{
		Seed:            11,
		Findings:        60,
		Regions:         []string{"us-east-1", "eu-west-1"},
		AccessKeyID:     e2eAccessKey,
		SecretAccessKey: e2eSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(inspector.Faults{Malformed: 2})
	p := newPipeline(t, sim)

	first := p.sync(ctx)
	if first.FailedStage != "" {
		t.Fatalf("sync failed at %s: %+v", first.FailedStage, first.Events)
	}
	for _, stage := range []string{model.StageInitiating, model.StageConnectivity, model.StageFetching, model.StageNormalizing, model.StageProcessing} {
		if st := first.Stage(stage); st.State != model.StateSucceeded {
			t.Errorf("stage %s: got %+v, want succeeded", stage, st)
		}
	}
	served := len(sim.Findings("us-east-1")) + len(sim.Findings("eu-west-1"))
	if st := first.Stage(model.StageFetching); st.RecordsOut != int64(served) {
		t.Errorf("Fetching reported %d records, the simulator served %d", st.RecordsOut, served)
	}

	rows := p.rows(t)
	checkGolden(t, "testdata/e2e_rows.golden.json", rows)
	checkSeverityEdges(t, p)
	checkFixed(t, p)
	if got := p.count(t, "SELECT count() FROM findings FINAL"); got != uint64(served-2) {
		t.Errorf("findings in ClickHouse: %d, want %d served minus 2 malformed", got, served-2)
	}
	checkDeadLetters(t, p.kafka, 2)
	checkReadmeQueries(t, p)

	// The same sync again: the rows an analyst sees stay exactly the same.
	second := p.sync(ctx)
	if second.ID == first.ID || second.FailedStage != "" {
		t.Fatalf("second sync: id %s (first %s), failed stage %q", second.ID, first.ID, second.FailedStage)
	}
	checkGolden(t, "testdata/e2e_rows.golden.json", p.rows(t))
	for _, table := range []string{"assets", "findings"} {
		dup := p.count(t, "SELECT count() FROM (SELECT uid FROM "+table+" FINAL GROUP BY connector_id, uid HAVING count() > 1)")
		if dup != 0 {
			t.Errorf("%s: %d duplicated uids after re-running the sync", table, dup)
		}
	}
}

// assetColumns and findingColumns are every mapped column; sync_id, fetched_at and
// version change with each sync and are checked apart. Each is read as text, NULL as
// "NULL".
var (
	assetColumns = []string{"connector_id", "connector_type", "uid", "class", "name", "external_id", "provider_id",
		"operating_system", "ipv4", "ipv6", "fqdn", "mac_addresses", "image_tags", "image_digest", "provider",
		"cloud_resource_type", "first_observed_at", "last_observed_at", "vendor_status", "archive_reason", "external_tags.key",
		"external_tags.value", "custom_attributes.key", "custom_attributes.value", "scope"}
	findingColumns = []string{"connector_id", "connector_type", "uid", "asset_uid", "asset_uids", "asset_class", "asset_name", "name", "cves",
		"description", "score", "severity", "vendor_severity", "status", "vendor_status", "first_seen", "last_seen",
		"port", "protocol", "custom_attributes.key", "custom_attributes.value", "scope"}
)

type tableRows struct {
	Assets   []map[string]string `json:"assets"`
	Findings []map[string]string `json:"findings"`
}

func (p *pipeline) rows(t *testing.T) tableRows {
	t.Helper()
	return tableRows{
		Assets:   p.query(t, "assets", assetColumns),
		Findings: p.query(t, "findings", findingColumns),
	}
}

func (p *pipeline) query(t *testing.T, table string, columns []string) []map[string]string {
	t.Helper()
	exprs := make([]string, len(columns))
	for i, c := range columns {
		exprs[i] = fmt.Sprintf("ifNull(toString(%s), 'NULL')", c)
	}
	q := fmt.Sprintf("SELECT %s FROM %s.%s FINAL ORDER BY connector_id, uid", strings.Join(exprs, ", "), p.database, table)
	r, err := p.store.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []map[string]string
	for r.Next() {
		vals := make([]string, len(columns))
		dest := make([]any, len(columns))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := r.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, c := range columns {
			row[c] = vals[i]
		}
		out = append(out, row)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (p *pipeline) count(t *testing.T, query string) uint64 {
	t.Helper()
	q := strings.NewReplacer(" FROM assets", " FROM "+p.database+".assets", " FROM findings", " FROM "+p.database+".findings").Replace(query)
	r, err := p.store.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n uint64
	for r.Next() {
		if err := r.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func checkGolden(t *testing.T, path string, got tableRows) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != string(b) {
		gotPath := path + ".got"
		os.WriteFile(gotPath, b, 0o644)
		t.Errorf("ClickHouse rows differ from %s; diff it against %s (run with -update if the change is intended)", path, gotPath)
	}
}

// checkSeverityEdges checks the band of every edge score the simulator always serves.
func checkSeverityEdges(t *testing.T, p *pipeline) {
	t.Helper()
	for _, tc := range []struct {
		where string
		want  string
	}{
		{"score = 0", "None"}, {"score = 0.1", "Low"}, {"score = 3.9", "Low"}, {"score = 4", "Medium"},
		{"score = 6.9", "Medium"}, {"score = 7", "High"}, {"score = 8.9", "High"}, {"score = 9", "Critical"},
		{"score = 10", "Critical"}, {"isNull(score) AND vendor_severity = 'HIGH'", "High"},
		{"isNull(score) AND vendor_severity = 'UNTRIAGED'", "None"},
	} {
		q := fmt.Sprintf("SELECT count() FROM findings FINAL WHERE %s", tc.where)
		if n := p.count(t, q); n == 0 {
			t.Errorf("no finding with %s: the simulator's edge cases are missing", tc.where)
			continue
		}
		q = fmt.Sprintf("SELECT count() FROM findings FINAL WHERE %s AND toString(severity) != '%s'", tc.where, tc.want)
		if n := p.count(t, q); n != 0 {
			t.Errorf("%d findings with %s are not %s", n, tc.where, tc.want)
		}
	}
}

func checkFixed(t *testing.T, p *pipeline) {
	t.Helper()
	for _, vendor := range []string{"CLOSED", "SUPPRESSED"} {
		if n := p.count(t, "SELECT count() FROM findings FINAL WHERE vendor_status = '"+vendor+"'"); n == 0 {
			t.Errorf("no %s finding in the data set", vendor)
		}
	}
	if n := p.count(t, "SELECT count() FROM findings FINAL WHERE vendor_status IN ('CLOSED', 'SUPPRESSED') AND toString(status) != 'Fixed'"); n != 0 {
		t.Errorf("%d CLOSED or SUPPRESSED findings are not Fixed", n)
	}
	if n := p.count(t, "SELECT count() FROM findings FINAL WHERE vendor_status = 'ACTIVE' AND toString(status) != 'Active'"); n != 0 {
		t.Errorf("%d ACTIVE findings are not Active", n)
	}
}

// checkDeadLetters reads the dead-letter topic and checks that each malformed vendor
// record is there with a reason, its stage and its sync.
func checkDeadLetters(t *testing.T, cfg kafka.Config, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	codec, err := avro.New()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kafka.NewClient(ctx, cfg, kgo.ConsumeTopics(cfg.Topics().DeadLetter), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*model.DeadLetter
	for len(got) < want && ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		for _, r := range fetches.Records() {
			msg, err := codec.Decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, msg.(*model.DeadLetter))
		}
	}
	if len(got) != want {
		t.Fatalf("dead letters: got %d, want %d", len(got), want)
	}
	for _, dl := range got {
		if dl.Reason == "" || dl.Stage != model.StageNormalizing || dl.SyncID == "" || dl.ConnectorID != "aws-e2e" || len(dl.Value) == 0 {
			t.Errorf("dead letter lacks its context: %+v", dl)
		}
	}
}

// checkReadmeQueries runs every SQL statement of the README's examples against the
// synced data: what analysts copy must work on the shipped schema.
func checkReadmeQueries(t *testing.T, p *pipeline) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var statements []string
	for _, block := range strings.Split(string(readme), "```sql")[1:] {
		sql, _, _ := strings.Cut(block, "```")
		for _, st := range strings.Split(sql, ";") {
			if strings.TrimSpace(st) != "" {
				statements = append(statements, strings.ReplaceAll(st, "tributary.", p.database+"."))
			}
		}
	}
	if len(statements) < 4 {
		t.Fatalf("found %d SQL statements in the README, want the analyst examples", len(statements))
	}
	for _, st := range statements {
		rows, err := p.store.Query(context.Background(), st)
		if err != nil {
			t.Errorf("README query fails: %v\n%s", err, st)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Errorf("README query fails: %v\n%s", err, st)
		}
		rows.Close()
		if n == 0 {
			t.Errorf("README query returns no rows on the synced data:\n%s", st)
		}
	}
}
