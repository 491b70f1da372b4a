package clickhouse

import (
	"flag"
	"os"

	"github.com/tributary-sec/tributary/internal/service"
)

// RegisterFlags adds the connection flags every ClickHouse user shares to fs, with
// defaults from the environment; the password comes from env TRIBUTARY_CLICKHOUSE_PASSWORD
// only, so it never shows in a process list. It returns the Options the parsed flags fill.
func RegisterFlags(fs *flag.FlagSet) *Options {
	o := &Options{Password: os.Getenv("TRIBUTARY_CLICKHOUSE_PASSWORD")}
	fs.StringVar(&o.Addr, "clickhouse-addr", service.Env("TRIBUTARY_CLICKHOUSE_ADDR", "127.0.0.1:9000"), "ClickHouse native protocol address (env TRIBUTARY_CLICKHOUSE_ADDR)")
	fs.StringVar(&o.Database, "clickhouse-database", service.Env("TRIBUTARY_CLICKHOUSE_DATABASE", DefaultDatabase), "ClickHouse database (env TRIBUTARY_CLICKHOUSE_DATABASE)")
	fs.StringVar(&o.Username, "clickhouse-user", service.Env("TRIBUTARY_CLICKHOUSE_USER", "default"), "ClickHouse user (env TRIBUTARY_CLICKHOUSE_USER); the password comes from env TRIBUTARY_CLICKHOUSE_PASSWORD only")
	return o
}
