package clickhouse

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []statement
		wantErr string
	}{
		{
			name: "one statement",
			text: "CREATE TABLE t (a String) ENGINE = Memory;\n",
			want: []statement{{sql: "CREATE TABLE t (a String) ENGINE = Memory"}},
		},
		{
			name: "several statements over several lines with comments and blank lines",
			text: "-- header comment\n\nCREATE TABLE a\n(\n    x String -- trailing comment stays\n)\nENGINE = Memory;\n\n-- between\nCREATE TABLE b (y String) ENGINE = Memory;   \n-- footer\n",
			want: []statement{
				{sql: "CREATE TABLE a\n(\n    x String -- trailing comment stays\n)\nENGINE = Memory"},
				{sql: "CREATE TABLE b (y String) ENGINE = Memory"},
			},
		},
		{
			name: "semicolon inside a line does not split",
			text: "SELECT 'a;b', 1 FROM t\nWHERE x = ';';\n",
			want: []statement{{sql: "SELECT 'a;b', 1 FROM t\nWHERE x = ';'"}},
		},
		{
			name: "requires directive applies to the next statement only",
			text: "CREATE TABLE a (x String) ENGINE = Memory;\n-- requires: ttl\nALTER TABLE a MODIFY TTL d + INTERVAL 14 DAY;\nCREATE TABLE b (y String) ENGINE = Memory;\n",
			want: []statement{
				{sql: "CREATE TABLE a (x String) ENGINE = Memory"},
				{sql: "ALTER TABLE a MODIFY TTL d + INTERVAL 14 DAY", requires: []string{"ttl"}},
				{sql: "CREATE TABLE b (y String) ENGINE = Memory"},
			},
		},
		{
			name: "directive spacing and case are loose, and it may sit inside the statement",
			text: "ALTER TABLE a\n--requires:  TTL \nMODIFY TTL d + INTERVAL 1 DAY;\n",
			want: []statement{{sql: "ALTER TABLE a\nMODIFY TTL d + INTERVAL 1 DAY", requires: []string{"ttl"}}},
		},
		{
			name: "CRLF line ends",
			text: "CREATE TABLE a (x String) ENGINE = Memory;\r\nCREATE TABLE b (x String) ENGINE = Memory;\r\n",
			want: []statement{
				{sql: "CREATE TABLE a (x String) ENGINE = Memory"},
				{sql: "CREATE TABLE b (x String) ENGINE = Memory"},
			},
		},
		{
			name: "only comments",
			text: "-- nothing here\n\n",
			want: nil,
		},
		{
			name:    "unterminated statement",
			text:    "CREATE TABLE a (x String) ENGINE = Memory;\nCREATE TABLE b (x String)\n",
			wantErr: "not terminated",
		},
		{
			name:    "dangling directive",
			text:    "CREATE TABLE a (x String) ENGINE = Memory;\n-- requires: ttl\n",
			wantErr: "not terminated",
		},
		{
			name:    "unknown feature",
			text:    "-- requires: ttl, time_travel\nSELECT 1;\n",
			wantErr: `line 1: unknown feature "time_travel"`,
		},
		{
			name:    "empty statement",
			text:    "SELECT 1;\n;\n",
			wantErr: "line 2: empty statement",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitStatements(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("splitStatements() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("splitStatements() error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("splitStatements() =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func TestSupportsTTL(t *testing.T) {
	tests := []struct {
		version string
		want    bool
		wantErr bool
	}{
		{version: "18.16.1", want: false},
		{version: "19.5.4.22", want: false},
		{version: "19.6.1.1", want: true},
		{version: "20.3.19.4", want: true},
		{version: "24.3.1.1", want: true},
		{version: "25.8.2.29", want: true},
		{version: "", wantErr: true},
		{version: "24", wantErr: true},
		{version: "v24.3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			got, err := supportsTTL(tt.version)
			if (err != nil) != tt.wantErr {
				t.Fatalf("supportsTTL(%q) error = %v, wantErr %v", tt.version, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("supportsTTL(%q) = %v, want %v", tt.version, got, tt.want)
			}
		})
	}
}

func TestLoadMigrations(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		ms, err := loadMigrations(migrationFiles)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 || ms[0].version != 1 || ms[0].name != "assets_findings" {
			t.Fatalf("embedded migrations start with %+v, want 0001_assets_findings", ms)
		}
		for i, m := range ms {
			if i > 0 && m.version <= ms[i-1].version {
				t.Errorf("migration %d out of order after %d", m.version, ms[i-1].version)
			}
			for _, st := range m.statements {
				// 18.16 rejects these; they may appear only behind a requires directive.
				for _, banned := range []string{"DateTime64", "Map(", "CODEC(", "IPv4", "LowCardinality", " TTL "} {
					if strings.Contains(st.sql, banned) && len(st.requires) == 0 {
						t.Errorf("migration %04d_%s uses %s, which ClickHouse 18.16 lacks", m.version, m.name, banned)
					}
				}
				if !strings.Contains(st.sql, "{db}.") {
					t.Errorf("migration %04d_%s has a statement not naming {db}: %.60q", m.version, m.name, st.sql)
				}
			}
		}
	})
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []uint32
		wantErr string
	}{
		{
			name: "sorted by version",
			files: fstest.MapFS{
				"migrations/0002_b.sql": {Data: []byte("SELECT 2;\n")},
				"migrations/0001_a.sql": {Data: []byte("SELECT 1;\n")},
				"migrations/README.md":  {Data: []byte("not a migration")},
			},
			want: []uint32{1, 2},
		},
		{
			name:    "bad file name",
			files:   fstest.MapFS{"migrations/1_a.sql": {Data: []byte("SELECT 1;\n")}},
			wantErr: "not NNNN_name.sql",
		},
		{
			name: "duplicate version",
			files: fstest.MapFS{
				"migrations/0001_a.sql": {Data: []byte("SELECT 1;\n")},
				"migrations/0001_b.sql": {Data: []byte("SELECT 1;\n")},
			},
			wantErr: "used twice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := loadMigrations(tt.files)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadMigrations() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []uint32
			for _, m := range ms {
				got = append(got, m.version)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("versions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSortedPairs(t *testing.T) {
	rows := []map[string]string{{"b": "2", "a": "1", "c": "3"}, nil, {"z": "26", "y": "25"}}
	keys, values := sortedPairs(len(rows), func(i int) map[string]string { return rows[i] })
	wantKeys := [][]string{{"a", "b", "c"}, {}, {"y", "z"}}
	wantValues := [][]string{{"1", "2", "3"}, {}, {"25", "26"}}
	if !reflect.DeepEqual(keys, wantKeys) || !reflect.DeepEqual(values, wantValues) {
		t.Errorf("sortedPairs() = %#v, %#v, want %#v, %#v", keys, values, wantKeys, wantValues)
	}
	// Rows share backing arrays; appending to one must not overwrite the next.
	_ = append(keys[0], "x")
	if keys[2][0] != "y" {
		t.Errorf("appending to row 0 changed row 2: %v", keys[2])
	}
}
