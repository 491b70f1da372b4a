package clickhouse

import (
	"bufio"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// migrationFiles holds the schema, one NNNN_name.sql file per version.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned migration file.
type migration struct {
	version    uint32
	name       string
	statements []statement
}

// statement is one SQL statement of a migration and the server features it needs.
type statement struct {
	sql      string
	requires []string
}

// Server features a statement may require with a `-- requires: <feature>` comment.
const featureTTL = "ttl"

var knownFeatures = []string{featureTTL}

// migrationFile matches migration file names: a 4-digit version, then a name.
var migrationFile = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// requiresDirective matches a `-- requires: a, b` comment line.
var requiresDirective = regexp.MustCompile(`^--\s*requires:\s*(.*)$`)

// Migrate creates the client's database if needed and applies, in version order, every
// embedded migration not yet recorded in its schema_migrations table. Running it again,
// or from several processes at once, is harmless: statements are idempotent
// (IF NOT EXISTS) and a migration is recorded only after all its statements ran.
// A statement marked `-- requires: ttl` is skipped on servers without TTL (before 19.6).
func (c *Client) Migrate(ctx context.Context) error {
	return c.migrate(ctx, migrationFiles)
}

func (c *Client) migrate(ctx context.Context, fsys fs.FS) error {
	migrations, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	version, err := c.ServerVersion(ctx)
	if err != nil {
		return err
	}
	ttl, err := supportsTTL(version)
	if err != nil {
		return err
	}
	features := map[string]bool{featureTTL: ttl}

	for _, q := range []string{
		"CREATE DATABASE IF NOT EXISTS " + c.db,
		"CREATE TABLE IF NOT EXISTS " + c.db + ".schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = ReplacingMergeTree() ORDER BY version",
	} {
		if err := c.conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("preparing migrations in database %s: %w", c.db, err)
		}
	}
	applied, err := c.appliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		for i, st := range m.statements {
			if !allSupported(st.requires, features) {
				continue
			}
			if err := c.conn.Exec(ctx, strings.ReplaceAll(st.sql, "{db}", c.db)); err != nil && !alreadyAdded(st.sql, err) {
				return fmt.Errorf("applying migration %04d_%s statement %d: %w", m.version, m.name, i+1, err)
			}
		}
		if err := c.recordMigration(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) appliedMigrations(ctx context.Context) (map[uint32]bool, error) {
	rows, err := c.conn.Query(ctx, "SELECT version FROM "+c.db+".schema_migrations FINAL")
	if err != nil {
		return nil, fmt.Errorf("reading applied migrations: %w", err)
	}
	defer rows.Close()
	applied := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("reading applied migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading applied migrations: %w", err)
	}
	return applied, nil
}

func (c *Client) recordMigration(ctx context.Context, m migration) error {
	err := c.insert(ctx, "schema_migrations", []column{
		{"version", []uint32{m.version}},
		{"name", []string{m.name}},
		{"applied_at", []time.Time{time.Now().UTC()}},
	})
	if err != nil {
		return fmt.Errorf("recording migration %04d_%s: %w", m.version, m.name, err)
	}
	return nil
}

// alreadyAdded says whether err is an ADD COLUMN finding its column there: a migration
// interrupted after that statement ran is applied again. (ClickHouse 18.16 has no ADD
// COLUMN IF NOT EXISTS.)
func alreadyAdded(sql string, err error) bool {
	// 18.16 answers ILLEGAL_COLUMN (44), later releases DUPLICATE_COLUMN (15).
	var ex *ch.Exception
	return errors.As(err, &ex) && (ex.Code == 15 || ex.Code == 44) && strings.Contains(ex.Message, "already exists") &&
		strings.Contains(strings.ToUpper(sql), "ADD COLUMN")
}

func allSupported(requires []string, features map[string]bool) bool {
	for _, f := range requires {
		if !features[f] {
			return false
		}
	}
	return true
}

// loadMigrations reads and parses every migration file in fsys's migrations directory,
// ordered by version.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		match := migrationFile.FindStringSubmatch(e.Name())
		if match == nil {
			return nil, fmt.Errorf("reading migrations: file name %s is not NNNN_name.sql", e.Name())
		}
		v, _ := strconv.ParseUint(match[1], 10, 32) // four digits always parse
		text, err := fs.ReadFile(fsys, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		statements, err := splitStatements(string(text))
		if err != nil {
			return nil, fmt.Errorf("parsing migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: uint32(v), name: match[2], statements: statements})
	}
	slices.SortFunc(out, func(a, b migration) int { return int(a.version) - int(b.version) })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("reading migrations: version %04d used twice (%s, %s)", out[i].version, out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// splitStatements splits a migration into statements. A statement ends at a line whose
// last non-blank character is `;` (so `;` elsewhere, e.g. inside a string literal, does
// not split). Comment lines are dropped; a `-- requires: f1, f2` comment inside a
// statement, typically on the line before it, makes the statement depend on those
// server features. Text after the last `;` must be blank or comments.
func splitStatements(text string) ([]statement, error) {
	var (
		out      []statement
		lines    []string
		requires []string
	)
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			if m := requiresDirective.FindStringSubmatch(trimmed); m != nil {
				features, err := parseFeatures(m[1])
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", n, err)
				}
				requires = append(requires, features...)
			}
			continue
		}
		if trimmed == "" && len(lines) == 0 {
			continue
		}
		if body, ok := strings.CutSuffix(line, ";"); ok {
			lines = append(lines, body)
			sql := strings.TrimSpace(strings.Join(lines, "\n"))
			if sql == "" {
				return nil, fmt.Errorf("line %d: empty statement", n)
			}
			out = append(out, statement{sql: sql, requires: requires})
			lines, requires = nil, nil
			continue
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if rest := strings.TrimSpace(strings.Join(lines, "\n")); rest != "" || requires != nil {
		return nil, fmt.Errorf("statement not terminated by ';' at the end of a line: %.60q", rest)
	}
	return out, nil
}

func parseFeatures(list string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(list, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if !slices.Contains(knownFeatures, f) {
			return nil, fmt.Errorf("unknown feature %q in requires directive (known: %s)", f, strings.Join(knownFeatures, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

// supportsTTL reports whether a server of the given version (as version() returns it,
// e.g. "18.16.1" or "24.3.1.1") supports table and column TTL, which arrived in 19.6.
func supportsTTL(version string) (bool, error) {
	major, minor, err := majorMinor(version)
	if err != nil {
		return false, err
	}
	return major > 19 || major == 19 && minor >= 6, nil
}

func majorMinor(version string) (major, minor int, err error) {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("parsing ClickHouse version %q: want major.minor[.patch...]", version)
	}
	if major, err = strconv.Atoi(parts[0]); err == nil {
		minor, err = strconv.Atoi(parts[1])
	}
	if err != nil {
		return 0, 0, fmt.Errorf("parsing ClickHouse version %q: %w", version, err)
	}
	return major, minor, nil
}
