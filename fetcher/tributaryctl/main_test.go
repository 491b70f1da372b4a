package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/synclog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// cet stands in for the local time zone, so tests do not depend on the machine's.
var cet = time.FixedZone("CET", 3600)

func TestCommands(t *testing.T) {
	tests := []struct {
		name        string // of the golden file
		args        []string
		serverToken string
		env         map[string]string
		code        int
		check       func(t *testing.T, store *fakeStore)
	}{
		{name: "connectors", args: []string{"connectors"}},
		{name: "connectors_utc", args: []string{"--utc", "connectors"}},
		{name: "syncs", args: []string{"syncs", "--utc"}},
		{name: "syncs_filtered", args: []string{"--utc", "syncs", "--connector", "aws-prod", "--status", "done", "--since", "7d", "--limit", "10"},
			check: func(t *testing.T, store *fakeStore) {
				want := synclog.Filter{ConnectorID: "aws-prod", Status: synclog.StatusDone, From: now.Add(-7 * 24 * time.Hour), Limit: 10}
				if store.filter != want {
					t.Errorf("store got filter %+v, want %+v", store.filter, want)
				}
			}},
		{name: "syncs_level_warn", args: []string{"syncs", "--utc", "--level", "warn", "--from", "2026-11-30T00:00:00Z", "--to", "2026-12-01T00:00:00+01:00"}},
		{name: "syncs_none", args: []string{"syncs", "--connector", "aws-qa"}},
		{name: "syncs_json", args: []string{"--json", "syncs", "--connector", "aws-staging"}},
		{name: "show_failed", args: []string{"show", stagingID, "--utc"}},
		{name: "show_failed_warn", args: []string{"--utc", "show", "--level", "WARN", stagingID}},
		{name: "show_done", args: []string{"show", "--utc", prodIncrementalID}},
		{name: "show_in_progress", args: []string{"show", xdrProdID}},
		{name: "show_unknown", args: []string{"show", "0193a000-0000-7000-8000-00000000dead"}, code: 1},
		{name: "test_failed", args: []string{"test", "aws-staging"}, code: 1},
		{name: "test_ok", args: []string{"test", "aws-prod"}},
		{name: "test_unknown", args: []string{"test", "aws-qa"}, code: 1},
		{name: "test_busy", args: []string{"test", "xdr-lab"}, code: 1},
		{name: "test_json", args: []string{"test", "--json", "aws-staging"}, code: 1},
		{name: "sync", args: []string{"sync", "aws-prod"}},
		{name: "sync_conflict", args: []string{"sync", "xdr-prod", "--type", "incremental"}, code: 1},
		{name: "sync_wait_done", args: []string{"--utc", "sync", "aws-prod", "--wait"}},
		{name: "sync_wait_failed", args: []string{"--utc", "sync", "--type", "incremental", "--wait", "aws-staging"}, code: 1},
		{name: "validate", args: []string{"validate"}, code: 1},
		{name: "validate_match", args: []string{"validate", "--utc", "xdr-prod"}},
		{name: "validate_none", args: []string{"validate", "aws-staging"}},
		{name: "validate_unknown", args: []string{"validate", "aws-qa"}, code: 1},
		{name: "validate_json", args: []string{"--json", "validate", "aws-prod"}, code: 1},
		{name: "validate_extra_argument", args: []string{"validate", "aws-prod", "xdr-prod"}, code: 2},
		{name: "bad_flag", args: []string{"syncs", "--bogus"}, code: 2},
		{name: "bad_global_flag", args: []string{"--verbose", "connectors"}, code: 2},
		{name: "bad_since", args: []string{"syncs", "--since", "24h", "--from", "2026-12-01T00:00:00Z"}, code: 2},
		{name: "bad_type", args: []string{"sync", "aws-prod", "--type", "weekly"}, code: 2},
		{name: "bad_api", args: []string{"--api", "127.0.0.1:8480", "connectors"}, code: 2},
		{name: "missing_argument", args: []string{"test"}, code: 2},
		{name: "extra_argument", args: []string{"show", stagingID, "--level", "ERROR", "entries"}, code: 2},
		{name: "help", args: []string{"show", "-h"}, code: 0},
		{name: "unknown_command", args: []string{"status"}, code: 2},
		{name: "no_command", args: nil, code: 2},
		{name: "token_missing", args: []string{"connectors"}, serverToken: "7c1e0b5a-api-token", code: 1},
		{name: "token_wrong", args: []string{"connectors"}, serverToken: "7c1e0b5a-api-token", env: map[string]string{"TRIBUTARY_API_TOKEN": "guess"}, code: 1},
		{name: "token_right", args: []string{"--utc", "connectors"}, serverToken: "7c1e0b5a-api-token", env: map[string]string{"TRIBUTARY_API_TOKEN": "7c1e0b5a-api-token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, store := newServer(t, tt.serverToken)
			env := map[string]string{"TRIBUTARY_API": srv.URL}
			for k, v := range tt.env {
				env[k] = v
			}
			got, code := runCLI(t, env, tt.args)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			// The server's port changes from run to run.
			compareGolden(t, tt.name, strings.ReplaceAll(got, srv.URL, "http://127.0.0.1:PORT"))
			if tt.check != nil {
				store.mu.Lock()
				defer store.mu.Unlock()
				tt.check(t, store)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	got, code := runCLI(t, map[string]string{"TRIBUTARY_API": "http://" + addr}, []string{"connectors"})
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	compareGolden(t, "unreachable", strings.ReplaceAll(got, addr, "127.0.0.1:PORT"))
}

// TestRun checks the entry point main calls, with the process's environment.
func TestRun(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"frobnicate"}, &stdout, &stderr); code != 2 {
		t.Errorf("run(frobnicate) = %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
		t.Errorf("stderr = %q, want it to name the unknown command", stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Commands:") {
		t.Errorf("run(help) = %d with %q, want 0 and the usage", code, stdout.String())
	}
}

// runCLI runs tributaryctl in-process with env as its environment and returns what it
// printed, in the golden files' layout, and its exit code.
func runCLI(t *testing.T, env map[string]string, args []string) (string, int) {
	t.Helper()
	c, stdout, stderr := newTestCLI(env)
	code := c.run(t.Context(), args)
	var b strings.Builder
	b.WriteString(strings.Join(append([]string{"$ tributaryctl"}, args...), " ") + "\n")
	b.WriteString(stdout.String())
	if stderr.Len() > 0 {
		b.WriteString("--- stderr\n")
		b.WriteString(stderr.String())
	}
	b.WriteString("--- exit " + strconv.Itoa(code) + "\n")
	return b.String(), code
}

// newTestCLI returns a cli with env as its environment, a fixed clock and zone, and fast
// polling.
func newTestCLI(env map[string]string) (c *cli, stdout, stderr *bytes.Buffer) {
	stdout, stderr = new(bytes.Buffer), new(bytes.Buffer)
	return &cli{
		stdout:    stdout,
		stderr:    stderr,
		getenv:    func(k string) string { return env[k] },
		now:       func() time.Time { return now },
		local:     cet,
		poll:      time.Millisecond,
		notLogged: time.Minute,
		transport: http.DefaultTransport,
	}, stdout, stderr
}

// TestSyncWaitJSON checks that sync --wait --json prints the API's last answer: the
// ended sync with its entries.
func TestSyncWaitJSON(t *testing.T) {
	srv, _ := newServer(t, "")
	c, stdout, stderr := newTestCLI(map[string]string{"TRIBUTARY_API": srv.URL})
	if code := c.run(t.Context(), []string{"sync", "--json", "--wait", "aws-staging"}); code != 1 {
		t.Errorf("exit code %d, want 1 (the sync failed); stderr:\n%s", code, stderr)
	}
	var got struct {
		Sync    synclog.Sync    `json:"sync"`
		Entries []synclog.Entry `json:"entries"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not the API's JSON: %v\n%s", err, stdout)
	}
	if got.Sync.ID != waitStagingID || got.Sync.Status != synclog.StatusFailed || len(got.Entries) != len(stagingEvents()) {
		t.Errorf("got sync %s %s with %d entries, want %s Failed with %d", got.Sync.ID, got.Sync.Status, len(got.Entries), waitStagingID, len(stagingEvents()))
	}
}

// TestSyncWaitNotLogged checks that sync --wait gives up when the log never shows the
// sync.
func TestSyncWaitNotLogged(t *testing.T) {
	srv, store := newServer(t, "")
	store.mu.Lock()
	store.scripts[waitProdID] = []*syncLog{nil}
	store.mu.Unlock()
	c, _, stderr := newTestCLI(map[string]string{"TRIBUTARY_API": srv.URL})
	clock := now
	c.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	c.notLogged = 5 * time.Second
	if code := c.run(t.Context(), []string{"sync", "--wait", "aws-prod"}); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "the sync log has not shown it for 5s; check that the processor is running") {
		t.Errorf("stderr = %q, want it to say the log lacks the sync", stderr)
	}
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file: %v; run go test -update to write it", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text ✓", "plain text ✓"},
		{"tab\there\nnewline", "tab here newline"},
		{"\x1b]0;pwned\x07\x1b[2Jcleared", `\u001b]0;pwned\u0007\u001b[2Jcleared`},
		{"bad \xff byte and a real \uFFFD", `bad \xff byte and a real ` + "\uFFFD"},
		{"C1 \u009b31m", `C1 \u009b31m`},
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{0, "0.0s"}, {420 * time.Millisecond, "0.4s"}, {59940 * time.Millisecond, "59.9s"}, {97155 * time.Millisecond, "1m37s"}, {3*time.Hour + 4*time.Second, "3h0m4s"}} {
		if got := duration(tt.d); got != tt.want {
			t.Errorf("duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {12480, "12,480"}, {1234567, "1,234,567"}, {-4500, "-4,500"}} {
		if got := count(tt.n); got != tt.want {
			t.Errorf("count(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{{"24h", 24 * time.Hour, true}, {"7d", 7 * 24 * time.Hour, true}, {"90m", 90 * time.Minute, true}, {"0h", 0, false}, {"-1d", 0, false}, {"week", 0, false}} {
		got, err := parseSince(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseSince(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
