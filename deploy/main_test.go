// Package deploy_test checks what deploy/ ships: the Prometheus configuration and alert
// rules (promtool, and a real Prometheus scraping the services), the Grafana dashboards
// against docs/metrics.md and the ClickHouse schema, and docker-compose.yml.
package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/clickhouse/clickhousetest"
)

func TestMain(m *testing.M) { os.Exit(clickhousetest.Run(m)) }

// tool returns the path of a command a test runs. Like the ClickHouse tests, it fails
// the test in CI, where make test-deps installs the Debian package, and skips it
// elsewhere.
func tool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI (Debian package %s, installed by make test-deps): %v", name, debianPackage, err)
	}
	t.Skipf("skipping: %s is not installed (apt-get install %s, or make test-deps): %v", name, debianPackage, err)
	return ""
}

// run runs a command in dir with env added to the test's environment and returns its
// combined output; it fails the test when the command fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := command(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// command runs a command like run, returning its error instead of failing.
func command(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
