// Package clickhousetest gives tests a real ClickHouse server: one per test binary,
// started on first use, with a fresh migrated database per test.
package clickhousetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/clickhouse"
)

// setupTimeout bounds creating, migrating or dropping one test database.
const setupTimeout = time.Minute

var (
	once     sync.Once
	server   *clickhouse.Server
	dir      string
	startErr error
)

// Run runs the package's tests and then stops the shared server, if a test started it:
//
//	func TestMain(m *testing.M) { os.Exit(clickhousetest.Run(m)) }
func Run(m *testing.M) int {
	code := m.Run()
	if server != nil {
		if err := server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "clickhousetest:", err)
		}
	}
	if dir != "" {
		os.RemoveAll(dir)
	}
	return code
}

// New returns a client on a fresh, migrated, uniquely named database that is dropped,
// and the client closed, when the test ends.
func New(t testing.TB) *clickhouse.Client {
	t.Helper()
	db := NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	c, err := clickhouse.Open(ctx, clickhouse.Options{Addr: Addr(t), Database: db})
	if err != nil {
		t.Fatalf("clickhousetest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Addr returns the shared server's native protocol address, for tests that start
// services which open their own clients.
func Addr(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if startErr != nil {
		unavailable(t, startErr)
	}
	return server.Addr()
}

// NewDatabase creates a fresh, migrated, uniquely named database on the shared server
// and returns its name; the database is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	addr := Addr(t)
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	c, err := clickhouse.Open(ctx, clickhouse.Options{Addr: addr, Database: name})
	if err != nil {
		t.Fatalf("clickhousetest: %v", err)
	}
	defer c.Close()
	t.Cleanup(func() { drop(t, addr, name) })
	if err := c.Migrate(ctx); err != nil {
		t.Fatalf("clickhousetest: migrating database %s: %v", name, err)
	}
	return name
}

func drop(t testing.TB, addr, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	c, err := clickhouse.Open(ctx, clickhouse.Options{Addr: addr, Database: name})
	if err != nil {
		t.Errorf("clickhousetest: dropping database %s: %v", name, err)
		return
	}
	defer c.Close()
	if err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		t.Errorf("clickhousetest: dropping database %s: %v", name, err)
	}
}

// start runs the shared server in a temporary directory on free ports.
func start() {
	dir, startErr = os.MkdirTemp("", "tributary-clickhouse-")
	if startErr != nil {
		return
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	server, startErr = clickhouse.StartServer(context.Background(), clickhouse.ServerConfig{Dir: dir}, logger)
}

// unavailable fails the test in CI, where ClickHouse must be present, and skips it
// elsewhere.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("clickhousetest: ClickHouse is required in CI: %v", err)
	}
	t.Skipf("clickhousetest: skipping, ClickHouse is not available: %v", err)
}

// databaseName derives a valid, unique database name from a test name.
func databaseName(test string) string {
	var b strings.Builder
	b.WriteString("test_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix) // crypto/rand.Read never fails
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(suffix))
	return b.String()
}
