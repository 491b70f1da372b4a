package clickhouse

import (
	"context"
	"io/fs"
)

// MigrateFS applies the migrations in fsys's migrations directory instead of the
// embedded ones, for tests of the migration runner against a real server.
func (c *Client) MigrateFS(ctx context.Context, fsys fs.FS) error { return c.migrate(ctx, fsys) }

// MaxInListHashes is how many uids one state lookup query carries.
const MaxInListHashes = maxInListHashes

// UIDHash is the hash the state tables key uids by.
func UIDHash(uid string) uint64 { return uidHash(uid) }

// SweepChunk is how many uids one query of a sweep's second phase lists.
const SweepChunk = sweepChunk
