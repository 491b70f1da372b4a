package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tributary-sec/tributary/internal/clickhouse/clickhousetest"
	"github.com/tributary-sec/tributary/internal/kafka/kafkatest"
	"github.com/tributary-sec/tributary/internal/simulator/cortex"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
	"github.com/tributary-sec/tributary/internal/stack"
)

// The alert names alerts.yml must define: one per alert of issue 6.
var wantAlerts = []string{
	"TributarySyncFailed", "TributaryNoSuccessfulSync", "TributaryCredentialsRejected",
	"TributaryDeadLettersGrowing", "TributaryConsumerLagGrowing", "TributaryServiceDown",
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	run(t, "prometheus", nil, promtool, "check", "rules", "alerts.yml")
}

func TestPromtoolCheckConfig(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	run(t, "prometheus", nil, promtool, "check", "config", "prometheus.yml")
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	run(t, "prometheus", nil, promtool, "test", "rules", "alerts_test.yml")
}

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("parsing alerts.yml: %v", err)
	}
	return rf
}

// TestAlertRules checks that every alert of the issue is defined, selects only metrics
// of docs/metrics.md, has a severity and says what it means and what to do, and that
// alerts_test.yml tests each of them.
func TestAlertRules(t *testing.T) {
	doc := documentedMetrics(t)
	rf := readRules(t)
	tests, err := os.ReadFile("prometheus/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			where := "alerts.yml " + r.Alert + r.Record
			checkDocumented(t, doc, where, r.Expr)
			if r.Alert == "" {
				continue
			}
			defined = append(defined, r.Alert)
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, s)
			}
			if r.Annotations["summary"] == "" || len(r.Annotations["description"]) < 80 {
				t.Errorf("%s: wants a summary and a description saying what it means and what to do", where)
			}
			if !strings.Contains(string(tests), "alertname: "+r.Alert+"\n") {
				t.Errorf("%s: not tested in alerts_test.yml", where)
			}
		}
	}
	for _, a := range wantAlerts {
		if !slices.Contains(defined, a) {
			t.Errorf("alerts.yml does not define %s", a)
		}
	}
}

// demo are the settings of docker-compose.yml's demo profile: the simulators' flags and
// the secrets it passes to them and to the fetcher (TestCompose checks they match).
var demo = struct {
	awsAccessKeyID, awsSecret, awsSecretEnv, roleARN, externalID string
	xdrKeyID, xdrKey, xdrKeyEnv                                  string
}{
	awsAccessKeyID: "AKIADEMO000000000001",
	awsSecret:      "demo/secret/access/key/not-a-real-one",
	awsSecretEnv:   "TRIBUTARY_DEMO_AWS_SECRET_ACCESS_KEY",
	roleARN:        "arn:aws:iam::111122223333:role/InspectorReadOnly",
	externalID:     "tributary-demo",
	xdrKeyID:       "7",
	xdrKey:         "demo-cortex-xdr-advanced-api-key-not-a-real-one",
	xdrKeyEnv:      "TRIBUTARY_DEMO_XDR_API_KEY",
}

// TestPrometheusScrapesStack runs the three services on in-process Kafka and a real
// ClickHouse, syncing the demo connectors (deploy/demo/connectors.yaml, pointed at
// in-process simulators configured as in docker-compose.yml), and a real Prometheus
// with the shipped prometheus.yml and alerts.yml, its targets moved to the services'
// admin addresses and its intervals shortened. It checks that Prometheus scrapes all
// three, loads the alert rules, returns Tributary metrics through its HTTP API, and
// evaluates every expression of the dashboards and alert rules.
func TestPrometheusScrapesStack(t *testing.T) {
	prometheus := tool(t, "prometheus", "prometheus")
	ctx := context.Background()

	binDir := t.TempDir()
	buildCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err := stack.Build(buildCtx, "..", binDir)
	cancel()
	if err != nil {
		t.Fatal(err)
	}

	insp, err := inspector.New(inspector.Config{
		Seed: 3, Findings: 40, Regions: []string{"us-east-1", "eu-west-1"},
		AccessKeyID: demo.awsAccessKeyID, SecretAccessKey: demo.awsSecret, RoleARN: demo.roleARN, ExternalID: demo.externalID,
	})
	if err != nil {
		t.Fatal(err)
	}
	inspSrv := httptest.NewServer(insp.Handler())
	t.Cleanup(inspSrv.Close)
	xdr, err := cortex.New(cortex.Config{Seed: 7, Endpoints: 20, APIKeyID: demo.xdrKeyID, APIKey: demo.xdrKey, Advanced: true})
	if err != nil {
		t.Fatal(err)
	}
	xdrSrv := httptest.NewServer(xdr.Handler())
	t.Cleanup(xdrSrv.Close)

	conf, err := os.ReadFile("demo/connectors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	connectors := string(conf)
	for host, url := range map[string]string{"http://simulator:8481": inspSrv.URL, "http://cortex-simulator:8482": xdrSrv.URL} {
		if !strings.Contains(connectors, host) {
			t.Fatalf("demo/connectors.yaml does not name %s", host)
		}
		connectors = strings.ReplaceAll(connectors, host, url)
	}
	connectorsFile := filepath.Join(t.TempDir(), "connectors.yaml")
	if err := os.WriteFile(connectorsFile, []byte(connectors), 0o600); err != nil {
		t.Fatal(err)
	}

	kcfg := kafkatest.New(t, 3)
	started := time.Now().Truncate(time.Millisecond)
	logDir := t.TempDir()
	svc, err := stack.Start(ctx, stack.Config{
		BinDir:         binDir,
		LogDir:         logDir,
		Kafka:          kcfg,
		ClickHouseAddr: clickhousetest.Addr(t),
		Database:       clickhousetest.NewDatabase(t),
		Connectors:     connectorsFile,
		SyncAtStart:    "full",
		FetcherEnv:     []string{demo.awsSecretEnv + "=" + demo.awsSecret, demo.xdrKeyEnv + "=" + demo.xdrKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Stop(); err != nil {
			t.Error(err)
		}
	})

	promURL := startPrometheus(t, prometheus, logDir, svc)

	// Both demo connectors sync: the demo profile's files and flags fit together.
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	syncs, err := stack.WaitForSyncs(waitCtx, kcfg, started, "aws-demo", "xdr-demo")
	cancel()
	if err != nil {
		t.Fatalf("%v; service exit: %v", err, svc.Exited())
	}
	for id, s := range syncs {
		if s.FailedStage != "" {
			t.Errorf("demo connector %s: sync failed at %s: %+v", id, s.FailedStage, s.Events)
		}
	}

	eventually(t, 2*time.Minute, func() error {
		for _, job := range stack.ServiceNames {
			v, err := promValue(promURL, fmt.Sprintf(`up{job=%q}`, job))
			if err != nil {
				return err
			}
			if v != 1 {
				return fmt.Errorf("up{job=%q} is %v", job, v)
			}
		}
		return nil
	})
	eventually(t, 2*time.Minute, func() error {
		for _, q := range []string{
			`sum(tributary_fetcher_syncs_started_total{job="fetcher", connector="aws-demo"})`,
			`sum(tributary_fetcher_syncs_started_total{job="fetcher", connector="xdr-demo"})`,
		} {
			v, err := promValue(promURL, q)
			if err != nil {
				return err
			}
			if v < 1 {
				return fmt.Errorf("%s is %v, want at least 1", q, v)
			}
		}
		for _, job := range stack.ServiceNames {
			q := fmt.Sprintf(`go_goroutines{job=%q}`, job)
			if v, err := promValue(promURL, q); err != nil || v < 1 {
				return fmt.Errorf("%s: %v, %v", q, v, err)
			}
		}
		return nil
	})

	// Prometheus loaded the shipped rules, and evaluates every expression the dashboards
	// and rules hold.
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
					Error  string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	eventually(t, time.Minute, func() error {
		if err := promGet(promURL+"/api/v1/rules", &rules); err != nil {
			return err
		}
		var loaded []string
		for _, g := range rules.Data.Groups {
			for _, r := range g.Rules {
				if r.Health != "ok" {
					return fmt.Errorf("rule %s: health %q %s", r.Name, r.Health, r.Error)
				}
				loaded = append(loaded, r.Name)
			}
		}
		for _, a := range wantAlerts {
			if !slices.Contains(loaded, a) {
				return fmt.Errorf("rule %s not loaded (loaded: %v)", a, loaded)
			}
		}
		return nil
	})
	var exprs []string
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	for _, d := range readDashboards(t) {
		for _, q := range d.promQL {
			expr, err := expandPromVars(q.expr)
			if err != nil {
				t.Errorf("%s: %v", q.where, err)
				continue
			}
			exprs = append(exprs, expr)
		}
	}
	for _, expr := range exprs {
		var resp promResponse
		if err := promGet(promURL+"/api/v1/query?query="+url.QueryEscape(expr), &resp); err != nil {
			t.Errorf("evaluating %q: %v", expr, err)
		}
	}
}

// startPrometheus runs Prometheus with the shipped configuration, scraping the
// services' admin addresses every second, and returns its base URL once it is ready.
func startPrometheus(t *testing.T, bin, logDir string, svc *stack.Services) string {
	t.Helper()
	b, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("parsing prometheus.yml: %v", err)
	}
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	rules, err := filepath.Abs("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg["rule_files"] = []string{rules}
	scrapes, _ := cfg["scrape_configs"].([]any)
	var jobs []string
	for _, sc := range scrapes {
		m, _ := sc.(map[string]any)
		job, _ := m["job_name"].(string)
		addr := svc.AdminAddr(job)
		if addr == "" {
			t.Fatalf("prometheus.yml scrapes job %q, which is not a Tributary service %v", job, stack.ServiceNames)
		}
		jobs = append(jobs, job)
		m["static_configs"] = []any{map[string]any{"targets": []string{addr}}}
	}
	slices.Sort(jobs)
	if want := slices.Sorted(slices.Values(stack.ServiceNames)); !slices.Equal(jobs, want) {
		t.Fatalf("prometheus.yml scrapes jobs %v, want %v", jobs, want)
	}
	dir := t.TempDir()
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, out, 0o600); err != nil {
		t.Fatal(err)
	}

	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p, err := stack.StartProcess("prometheus", bin, []string{
		"--config.file=" + configFile,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
	}, os.Environ(), logDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.WaitReady(ctx, base+"/-/ready"); err != nil {
		t.Fatal(err)
	}
	return base
}

// promResponse is the envelope of Prometheus's HTTP API with an instant vector.
type promResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

var promClient = http.Client{Timeout: 10 * time.Second}

// promGet GETs a Prometheus API URL into v and fails unless its status is success.
func promGet(u string, v any) error {
	resp, err := promClient.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return fmt.Errorf("decoding %s (%s): %w", u, resp.Status, err)
	}
	var env struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return err
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s %s", u, env.Status, env.Error)
	}
	return json.Unmarshal(raw, v)
}

// promValue evaluates a query that must return exactly one sample, and returns its value.
func promValue(base, query string) (float64, error) {
	var resp promResponse
	if err := promGet(base+"/api/v1/query?query="+url.QueryEscape(query), &resp); err != nil {
		return 0, err
	}
	if resp.Data.ResultType != "vector" || len(resp.Data.Result) != 1 {
		return 0, fmt.Errorf("%s: want one sample, got %d (%s)", query, len(resp.Data.Result), resp.Data.ResultType)
	}
	s, _ := resp.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

// eventually calls f until it returns nil, failing the test with f's last error once
// limit has passed. The limit bounds a wait; it measures nothing.
func eventually(t *testing.T, limit time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still after %s: %v", limit, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
