package metricsdoc

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	rows := []string{"| `label` | `a`, `b` |", "| `free` | any text |"}
	for i := range 10 {
		rows = append(rows, "| `l"+string(rune('0'+i))+"` | `x` |")
	}
	var metrics []string
	for i := range 30 {
		metrics = append(metrics, "| `tributary_fetcher_m"+string(rune('a'+i%26))+string(rune('a'+i/26))+"` | counter | `label` | filler |")
	}
	doc := "# Metrics\n\n## Label values\n\n| label | values |\n|---|---|\n" + strings.Join(rows, "\n") +
		"\n\n## fetcher\n\n| metric | type | labels | meaning |\n|---|---|---|---|\n" +
		"| `tributary_fetcher_x_total` | counter | `label`, `free`, `outcome` (`ok`, `error`) | x, with a comma |\n" +
		strings.Join(metrics, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "metrics.md")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Metric{Service: "fetcher", Name: "tributary_fetcher_x_total", Type: "counter",
		Labels: map[string][]string{"label": {"a", "b"}, "free": nil, "outcome": {"ok", "error"}}}
	if len(got) != 31 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("Read: %d metrics, first %+v; want 31, first %+v", len(got), got[0], want)
	}

	broken := strings.Replace(doc, "`free`, `outcome`", "free, `outcome`", 1)
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "not in backquotes") {
		t.Errorf("Read of a label without backquotes: %v", err)
	}
}

func TestTheContractReads(t *testing.T) {
	if _, err := Read("../../docs/metrics.md"); err != nil {
		t.Fatal(err)
	}
}
