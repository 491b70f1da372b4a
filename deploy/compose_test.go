package deploy_test

import (
	"encoding/xml"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeService is the part of a service of `docker-compose config`'s output the tests
// read (it writes the long forms: lists of strings, maps of depends_on conditions).
type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Dockerfile string            `yaml:"dockerfile"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Profiles []string `yaml:"profiles"`
	Volumes  []string `yaml:"volumes"`
}

// composeToken is the fetcher's control API token the tests pass to docker-compose:
// the compose file refuses to start without one.
const composeToken = "TRIBUTARY_API_TOKEN=deploy-test-token"

// TestCompose validates docker-compose.yml with docker-compose config (Debian's
// docker-compose; nothing is run) and checks the services, their images and builds,
// health checks, start order, profiles, and that the mounted Prometheus, Grafana and
// ClickHouse files, the demo connectors and the simulators fit together.
func TestCompose(t *testing.T) {
	compose := tool(t, "docker-compose", "docker-compose")
	run(t, "..", []string{composeToken}, compose, "-f", "docker-compose.yml", "config", "-q")
	out, err := command(t, "..", []string{"TRIBUTARY_API_TOKEN="}, compose, "-f", "docker-compose.yml", "config", "-q")
	if err == nil || !strings.Contains(out, "TRIBUTARY_API_TOKEN") {
		t.Errorf("docker-compose config without TRIBUTARY_API_TOKEN: want a refusal naming it, got %v: %s", err, out)
	}

	var cfg struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(run(t, "..", []string{composeToken}, compose, "-f", "docker-compose.yml", "config")), &cfg); err != nil {
		t.Fatalf("parsing docker-compose config: %v", err)
	}
	svc := cfg.Services
	var names []string
	for n := range svc {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"clickhouse", "cortex-simulator", "fetcher", "grafana", "kafka", "normalizer", "processor", "prometheus", "simulator"}
	if !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}

	for name, image := range map[string]string{
		"kafka": "apache/kafka:", "clickhouse": "clickhouse/clickhouse-server:", "prometheus": "prom/prometheus:", "grafana": "grafana/grafana:",
	} {
		if !strings.HasPrefix(svc[name].Image, image) {
			t.Errorf("%s: image %q, want the official %s...", name, svc[name].Image, image)
		}
	}
	for name, pkg := range map[string]string{
		"fetcher": "fetcher", "normalizer": "normalizer", "processor": "processor", "simulator": "deploy/simulator", "cortex-simulator": "deploy/simulator",
	} {
		b := svc[name].Build
		if b == nil || b.Dockerfile != "deploy/Dockerfile" || b.Args["SERVICE"] != pkg {
			t.Errorf("%s: want a build of deploy/Dockerfile with SERVICE=%s, got %+v", name, pkg, b)
		}
	}

	for _, name := range names {
		if h := svc[name].Healthcheck; h == nil || len(h.Test) < 2 || h.Test[0] == "NONE" {
			t.Errorf("%s has no health check", name)
		}
		wantProfiles := []string(nil)
		if strings.HasSuffix(name, "simulator") {
			wantProfiles = []string{"demo"}
		}
		if !slices.Equal(svc[name].Profiles, wantProfiles) {
			t.Errorf("%s: profiles %v, want %v", name, svc[name].Profiles, wantProfiles)
		}
	}

	// Start order: each service waits for what it needs to be healthy.
	for name, deps := range map[string][]string{
		"normalizer": {"kafka"},
		"processor":  {"clickhouse", "kafka"},
		"fetcher":    {"clickhouse", "kafka", "normalizer", "processor"},
		"grafana":    {"clickhouse", "prometheus"},
	} {
		var got []string
		for dep, c := range svc[name].DependsOn {
			got = append(got, dep)
			if c.Condition != "service_healthy" {
				t.Errorf("%s depends on %s with condition %q, want service_healthy", name, dep, c.Condition)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, deps) {
			t.Errorf("%s depends on %v, want %v", name, got, deps)
		}
	}

	// The services' admin ports: their health checks probe /readyz there, and
	// prometheus.yml scrapes them under the service's name.
	scrape := scrapeTargets(t)
	for _, name := range []string{"fetcher", "normalizer", "processor"} {
		addr := svc[name].Environment["TRIBUTARY_"+strings.ToUpper(name)+"_ADMIN_ADDR"]
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("%s: admin address %q: %v", name, addr, err)
			continue
		}
		if h := svc[name].Healthcheck; h != nil && !slices.Equal(h.Test, []string{"CMD", "/usr/local/bin/healthcheck", "http://127.0.0.1:" + port + "/readyz"}) {
			t.Errorf("%s: health check %q, want deploy/healthcheck on /readyz of port %s", name, h.Test, port)
		}
		if got, want := scrape[name], []string{name + ":" + port}; !slices.Equal(got, want) {
			t.Errorf("prometheus.yml scrapes %v for job %s, want %v", got, name, want)
		}
	}

	mounts := func(name, target string) string {
		for _, v := range svc[name].Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == target {
				return parts[0]
			}
		}
		return ""
	}
	for _, m := range []struct{ service, source, target string }{
		{"prometheus", "deploy/prometheus", "/etc/prometheus"},
		{"grafana", "deploy/grafana/provisioning", "/etc/grafana/provisioning"},
		{"grafana", "deploy/grafana/dashboards", grafanaDashboardsPath},
		{"clickhouse", "deploy/clickhouse/users.d/tributary.xml", "/etc/clickhouse-server/users.d/tributary.xml"},
	} {
		if src := mounts(m.service, m.target); !strings.HasSuffix(src, "/"+m.source) {
			t.Errorf("%s mounts %q on %s, want %s", m.service, src, m.target, m.source)
		}
	}
	grafana := svc["grafana"].Environment
	if !strings.Contains(grafana["GF_INSTALL_PLUGINS"], "grafana-clickhouse-datasource") {
		t.Errorf("grafana: GF_INSTALL_PLUGINS %q does not install grafana-clickhouse-datasource", grafana["GF_INSTALL_PLUGINS"])
	}
	if grafana["GF_SECURITY_ADMIN_PASSWORD"] == "" || grafana["TRIBUTARY_CLICKHOUSE_PASSWORD"] != svc["clickhouse"].Environment["CLICKHOUSE_PASSWORD"] {
		t.Errorf("grafana: want an admin password and ClickHouse's password in its environment")
	}

	// The demo: the connectors file names the simulators by service and port, with the
	// credentials the simulators accept (the Prometheus test syncs it for real).
	conf, err := os.ReadFile("demo/connectors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	demoURLs := regexp.MustCompile(`http://[a-z-]+:\d+`).FindAllString(string(conf), -1)
	if len(demoURLs) == 0 {
		t.Fatal("demo/connectors.yaml names no simulator")
	}
	for _, u := range demoURLs {
		pu, _ := url.Parse(u)
		s, ok := svc[pu.Hostname()]
		if !ok || !slices.Contains(s.Command, "--addr=0.0.0.0:"+pu.Port()) {
			t.Errorf("demo/connectors.yaml points at %s: no demo service %s listening on port %s", u, pu.Hostname(), pu.Port())
		}
	}
	for _, flag := range []string{"--access-key-id=" + demo.awsAccessKeyID, "--role-arn=" + demo.roleARN, "--external-id=" + demo.externalID} {
		if !slices.Contains(svc["simulator"].Command, flag) {
			t.Errorf("simulator: command %q lacks %s", svc["simulator"].Command, flag)
		}
	}
	for _, flag := range []string{"--vendor=cortex", "--api-key-id=" + demo.xdrKeyID, "--advanced-key"} {
		if !slices.Contains(svc["cortex-simulator"].Command, flag) {
			t.Errorf("cortex-simulator: command %q lacks %s", svc["cortex-simulator"].Command, flag)
		}
	}
	for _, kv := range [][3]string{
		{"simulator", "TRIBUTARY_SIM_SECRET_ACCESS_KEY", demo.awsSecret},
		{"cortex-simulator", "TRIBUTARY_SIM_CORTEX_API_KEY", demo.xdrKey},
		{"fetcher", demo.awsSecretEnv, demo.awsSecret},
		{"fetcher", demo.xdrKeyEnv, demo.xdrKey},
	} {
		if got := svc[kv[0]].Environment[kv[1]]; got != kv[2] {
			t.Errorf("%s: %s is %q, want the demo's %q", kv[0], kv[1], got, kv[2])
		}
	}
	for _, env := range []string{demo.awsSecretEnv, demo.xdrKeyEnv} {
		if !strings.Contains(string(conf), "{env: "+env+"}") {
			t.Errorf("demo/connectors.yaml does not read %s", env)
		}
	}
}

// scrapeTargets returns prometheus.yml's static targets by job.
func scrapeTargets(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("parsing prometheus.yml: %v", err)
	}
	if !slices.Equal(cfg.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("prometheus.yml rule_files %v, want [alerts.yml]", cfg.RuleFiles)
	}
	targets := map[string][]string{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets[sc.JobName] = append(targets[sc.JobName], st.Targets...)
		}
	}
	return targets
}

// TestDockerfile checks deploy/Dockerfile: a multi-stage build of static binaries
// (CGO off) whose final stage is distroless and runs as a non-root user, with the
// health probe the compose health checks run.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // each stage's instructions, from its FROM
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %q before the first FROM", line)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], line)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(stages))
	}
	build, final := strings.Join(stages[0], "\n"), stages[len(stages)-1]
	for _, want := range []string{"CGO_ENABLED=0 go build", "./deploy/healthcheck"} {
		if !strings.Contains(build, want) {
			t.Errorf("Dockerfile's build stage lacks %q", want)
		}
	}
	if !strings.Contains(final[0], "distroless/static") {
		t.Errorf("Dockerfile's final stage is %q, want a distroless static base", final[0])
	}
	var user string
	for _, ins := range final {
		if u, ok := strings.CutPrefix(ins, "USER "); ok {
			user = u
		}
		if strings.HasPrefix(ins, "COPY") && !strings.Contains(ins, "/usr/local/bin/") {
			t.Errorf("Dockerfile: %q: the binaries go to /usr/local/bin", ins)
		}
	}
	if user == "" || strings.HasPrefix(user, "root") || strings.HasPrefix(user, "0") {
		t.Errorf("Dockerfile's final stage runs as %q, want a non-root user", user)
	}
}

// TestClickHouseProfile checks the users.d override docker-compose.yml mounts: the
// default profile, which the image gives the tributary user, turns async_insert off.
// (Only current ClickHouse knows the setting, so the tests' 18.16 server cannot load it.)
func TestClickHouseProfile(t *testing.T) {
	b, err := os.ReadFile("clickhouse/users.d/tributary.xml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		XMLName  xml.Name
		Profiles struct {
			Default struct {
				AsyncInsert *string `xml:"async_insert"`
			} `xml:"default"`
		} `xml:"profiles"`
	}
	if err := xml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("clickhouse/users.d/tributary.xml: %v", err)
	}
	if cfg.XMLName.Local != "clickhouse" {
		t.Errorf("root element <%s>, want <clickhouse>", cfg.XMLName.Local)
	}
	if a := cfg.Profiles.Default.AsyncInsert; a == nil || strings.TrimSpace(*a) != "0" {
		t.Errorf("profiles/default/async_insert = %v, want 0", a)
	}
}
