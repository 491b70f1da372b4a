// Package clickhouse stores assets, findings and the sync log in ClickHouse (the
// project's only clickhouse-go importer): a client with batch writers and sync-log
// queries, embedded versioned migrations, and a local server runner for tests and the
// local stack.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultDatabase is the database Open uses when Options.Database is empty.
const DefaultDatabase = "tributary"

// dialTimeout bounds connecting, so a wrong address fails fast at start-up.
const dialTimeout = 5 * time.Second

// Options says which server and database a Client uses.
type Options struct {
	Addr     string // native protocol address, host:port
	Database string // DefaultDatabase when empty
	Username string // "default" when empty
	Password string
}

// Client reads and writes Tributary's tables in one database. It is safe for
// concurrent use.
type Client struct {
	conn driver.Conn
	db   string
}

// Rows is the result of Query: call Next, then Scan, until Next returns false; then
// check Err. Close releases the connection and must always be called.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

var _ Rows = driver.Rows(nil)

// identifier is what Open accepts as a database name; it is spliced into SQL unquoted.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Open connects to the server at opts.Addr and pings it. The database need not exist
// yet: Migrate creates it.
func Open(ctx context.Context, opts Options) (*Client, error) {
	if opts.Database == "" {
		opts.Database = DefaultDatabase
	}
	if opts.Username == "" {
		opts.Username = "default"
	}
	if !identifier.MatchString(opts.Database) {
		return nil, fmt.Errorf("opening ClickHouse: database name %q is not a plain identifier (letters, digits, underscore)", opts.Database)
	}
	conn, err := ch.Open(&ch.Options{
		Addr: []string{opts.Addr},
		// The connection's default database stays "default": ours may not exist until
		// Migrate, and every query names its tables as <database>.<table> anyway.
		Auth:        ch.Auth{Database: "default", Username: opts.Username, Password: opts.Password},
		Compression: &ch.Compression{Method: ch.CompressionLZ4},
		DialTimeout: dialTimeout,
	})
	if err != nil {
		return nil, connectError(opts, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, connectError(opts, err)
	}
	return &Client{conn: conn, db: opts.Database}, nil
}

// connectError turns a failure to reach the server into one line that names the address
// and the likely fix, and never the password.
func connectError(opts Options, err error) error {
	var exc *ch.Exception
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connecting to ClickHouse at %s: %w; start ClickHouse or set --clickhouse-addr", opts.Addr, syscall.ECONNREFUSED)
	case errors.As(err, &exc):
		// The server answered: wrong user, password or similar.
		return fmt.Errorf("connecting to ClickHouse at %s as %s: %s", opts.Addr, opts.Username, oneLine(exc.Message, opts.Password))
	case isNetError(err) && strings.Contains(err.Error(), "handshake"):
		// Something accepted the connection but never spoke the native protocol; most
		// often that is ClickHouse's HTTP port.
		return fmt.Errorf("connecting to ClickHouse at %s: no native protocol handshake within %s (is it the HTTP port? the native one is 9000 by default); start ClickHouse or set --clickhouse-addr", opts.Addr, dialTimeout)
	case isNetError(err):
		return fmt.Errorf("connecting to ClickHouse at %s: %s; start ClickHouse or set --clickhouse-addr", opts.Addr, oneLine(err.Error(), opts.Password))
	default:
		return fmt.Errorf("connecting to ClickHouse at %s: %s", opts.Addr, oneLine(err.Error(), opts.Password))
	}
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)
}

// oneLine flattens a server message to one line and blanks out secret if it occurs.
func oneLine(msg, secret string) string {
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "<redacted>")
	}
	msg = strings.Join(strings.Fields(msg), " ")
	return msg
}

// Database returns the name of the client's database.
func (c *Client) Database() string { return c.db }

// Query runs a read query and returns its rows. Name tables as <database>.<table>.
func (c *Client) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := c.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("querying ClickHouse: %w", err)
	}
	return rows, nil
}

// Exec runs a statement that returns no rows. Name tables as <database>.<table>.
func (c *Client) Exec(ctx context.Context, query string, args ...any) error {
	if err := c.conn.Exec(ctx, query, args...); err != nil {
		return fmt.Errorf("executing ClickHouse statement: %w", err)
	}
	return nil
}

// ServerVersion returns the server's version, e.g. "18.16.1".
func (c *Client) ServerVersion(ctx context.Context) (string, error) {
	var v string
	if err := c.conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return "", fmt.Errorf("reading ClickHouse server version: %w", err)
	}
	return v, nil
}

// Close closes the client's connections.
func (c *Client) Close() error {
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("closing ClickHouse client: %w", err)
	}
	return nil
}
