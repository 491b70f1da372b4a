package clickhouse

import (
	"context"
	"io/fs"
)

// MigrateFS applies the migrations in fsys's migrations directory instead of the
// embedded ones, for tests of the migration runner against a real server.
func (c *Client) MigrateFS(ctx context.Context, fsys fs.FS) error { return c.migrate(ctx, fsys) }
