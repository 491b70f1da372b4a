package connectortest

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

func TestFakeConnectorConforms(t *testing.T) {
	Run(t, fakeHarness(""))
}

// TestSuiteCatchesBugs runs the suite against the fake connector with one bug each, in
// a child process (a failing Run fails its test), and checks that the subtest meant to
// notice the bug failed.
func TestSuiteCatchesBugs(t *testing.T) {
	if bug := os.Getenv("CONNECTORTEST_BUG"); bug != "" {
		Run(t, fakeHarness(bug))
		return
	}
	for _, tc := range []struct{ bug, subtest string }{
		{"drops_last_page", "paging"},
		{"duplicates_first", "paging"},
		{"reuses_buffer", "paging"},
		{"unredacted_headers", "auth_failure"},
		{"no_status_code", "auth_failure"},
		{"no_retry", "throttling"},
		{"throttle_as_server_error", "throttling"},
		{"fails_on_malformed", "malformed_record"},
		{"normalizer_panics", "malformed_record"},
		{"maps_malformed", "malformed_record"},
		{"empty_scope_fails", "empty_tenant"},
		{"renamed", "mapping_golden"},
		{"shuffled", "determinism"},
		{"writes_payload", "concurrency"},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteCatchesBugs$", "-test.count=1")
			cmd.Env = append(os.Environ(), "CONNECTORTEST_BUG="+tc.bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a connector with bug %s:\n%s", tc.bug, out)
			}
			if !regexp.MustCompile(`--- FAIL: TestSuiteCatchesBugs/` + tc.subtest + `\b`).Match(out) {
				t.Errorf("bug %s: subtest %s did not fail:\n%s", tc.bug, tc.subtest, out)
			}
		})
	}
}
