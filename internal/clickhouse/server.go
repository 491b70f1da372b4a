package clickhouse

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultBinary is where Debian's clickhouse-server package installs the server.
const DefaultBinary = "/usr/sbin/clickhouse-server"

const (
	// readyTimeout bounds how long StartServer waits for `SELECT 1` to answer; a cold
	// 18.16 start on a small machine takes a few seconds.
	readyTimeout = 30 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
	stopGrace = 15 * time.Second
	// portAttempts is how often StartServer retries with fresh ports it picked itself,
	// since another process may take a free port between the pick and the bind.
	portAttempts = 3
	// logTailLines is how much of the server's error log a start failure quotes.
	logTailLines = 20
)

// ServerConfig says where and how StartServer runs a local ClickHouse server.
type ServerConfig struct {
	Dir      string // state directory: config files, data/, tmp/ and log/ go here
	TCPPort  int    // native protocol port; 0 picks a free one
	HTTPPort int    // HTTP port; 0 picks a free one
	Binary   string // server binary; DefaultBinary when empty
}

// Server is a ClickHouse server running as a child process of this one.
type Server struct {
	cfg    ServerConfig
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // the process's exit status, set before done closes
	logger *slog.Logger
	// logStart is the error log's size before this run, where logTail starts reading.
	logStart int64

	stopOnce sync.Once
	stopErr  error
}

// StartServer writes a configuration for cfg into cfg.Dir, starts the server listening
// on 127.0.0.1 only, and returns once it answers `SELECT 1` over HTTP. The server dies
// with this process, so a crashed test never leaks one; call Stop to end it cleanly.
func StartServer(ctx context.Context, cfg ServerConfig, logger *slog.Logger) (*Server, error) {
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, err := os.Stat(cfg.Binary); err != nil {
		return nil, fmt.Errorf("clickhouse-server not found at %s; install it with: apt-get install -y clickhouse-server (make test and make run do this)", cfg.Binary)
	}
	if cfg.Dir == "" {
		return nil, errors.New("starting clickhouse-server: no state directory given")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolving clickhouse state directory %s: %w", cfg.Dir, err)
	}
	cfg.Dir = dir

	pickPorts := cfg.TCPPort == 0 || cfg.HTTPPort == 0
	if err := checkPortsFree(cfg); err != nil {
		return nil, err
	}
	attempts := 1
	if pickPorts {
		attempts = portAttempts
	}
	for attempt := 1; ; attempt++ {
		run := cfg
		if pickPorts {
			if run, err = withFreePorts(cfg); err != nil {
				return nil, err
			}
		}
		s, err := startServer(ctx, run, logger)
		if err == nil {
			return s, nil
		}
		// Only an early exit (typically a port taken meanwhile) is worth another try.
		if attempt >= attempts || !errors.Is(err, errExited) || ctx.Err() != nil {
			return nil, err
		}
		logger.Warn("clickhouse server exited during start, retrying on other ports", "err", err)
	}
}

// errExited marks a server that exited before it became ready.
var errExited = errors.New("clickhouse-server exited")

func startServer(ctx context.Context, cfg ServerConfig, logger *slog.Logger) (*Server, error) {
	for _, sub := range []string{"data", "tmp", "log"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("creating clickhouse state directory: %w", err)
		}
	}
	// A state directory may hold earlier runs' logs; a start failure quotes only this run's.
	var logStart int64
	if fi, err := os.Stat(errorLogPath(cfg.Dir)); err == nil {
		logStart = fi.Size()
	}
	configPath := filepath.Join(cfg.Dir, "config.xml")
	if err := os.WriteFile(configPath, serverConfigXML(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("writing clickhouse config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, "users.xml"), []byte(usersXML), 0o644); err != nil {
		return nil, fmt.Errorf("writing clickhouse users config: %w", err)
	}
	out, err := os.OpenFile(filepath.Join(cfg.Dir, "log", "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating clickhouse stdout log: %w", err)
	}
	defer out.Close() // the child holds its own descriptor

	// Not exec.CommandContext: the server must outlive ctx, which only bounds the start.
	cmd := exec.Command(cfg.Binary, "--config-file="+configPath)
	cmd.Dir = cfg.Dir
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = childProcAttr()
	s := &Server{cfg: cfg, cmd: cmd, done: make(chan struct{}), logger: logger, logStart: logStart}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that forked the child exits, and
		// the runtime may retire idle threads; pin this goroutine's thread until the
		// child is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.err = cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Binary, err)
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	logger.Info("clickhouse server started", "addr", s.Addr(), "http", s.HTTPURL(), "dir", cfg.Dir, "pid", cmd.Process.Pid)
	return s, nil
}

// waitReady polls `SELECT 1` over HTTP until it answers, the process exits, ctx ends or
// readyTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	query := s.HTTPURL() + "/?query=" + url.QueryEscape("SELECT 1")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok := s.selectOne(ctx, client, query); ok {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("starting clickhouse-server in %s: %w (%v)%s", s.cfg.Dir, errExited, s.err, s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("starting clickhouse-server in %s: no answer to SELECT 1 on %s within %s: %w%s",
				s.cfg.Dir, s.HTTPURL(), readyTimeout, ctx.Err(), s.logTail())
		case <-tick.C:
		}
	}
}

func (s *Server) selectOne(ctx context.Context, client *http.Client, query string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, query, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	return err == nil && resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "1"
}

// logTail quotes the end of the server's error log (or its stdout when the error log is
// empty), for start failures.
func (s *Server) logTail() string {
	for _, path := range []string{errorLogPath(s.cfg.Dir), filepath.Join(s.cfg.Dir, "log", "stdout.log")} {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if path == errorLogPath(s.cfg.Dir) && int64(len(data)) >= s.logStart {
			data = data[s.logStart:]
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) == 1 && lines[0] == "" {
			continue
		}
		if len(lines) > logTailLines {
			lines = lines[len(lines)-logTailLines:]
		}
		return "; last lines of " + path + ":\n" + strings.Join(lines, "\n")
	}
	return ""
}

// Addr returns the native protocol address, host:port.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.TCPPort))
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// HTTPURL returns the base URL of the HTTP interface, without a trailing slash.
func (s *Server) HTTPURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.HTTPPort))
}

// Stop sends SIGTERM, waits for the server to exit, and sends SIGKILL if it has not
// exited after a grace period. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return // already exited; how is reported by the start error, if at all
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = fmt.Errorf("stopping clickhouse-server (pid %d): %w", s.cmd.Process.Pid, err)
		}
		select {
		case <-s.done:
		case <-time.After(stopGrace):
			s.logger.Warn("clickhouse server ignored SIGTERM, killing it", "pid", s.cmd.Process.Pid, "grace", stopGrace)
			if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				s.stopErr = fmt.Errorf("killing clickhouse-server (pid %d): %w", s.cmd.Process.Pid, err)
			}
			<-s.done
		}
	})
	return s.stopErr
}

func errorLogPath(dir string) string { return filepath.Join(dir, "log", "error.log") }

// checkPortsFree refuses given ports that something already listens on: another
// ClickHouse there would answer the readiness probe in this server's place.
func checkPortsFree(cfg ServerConfig) error {
	for _, port := range []int{cfg.TCPPort, cfg.HTTPPort} {
		if port == 0 {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return fmt.Errorf("starting clickhouse-server: port %d is in use (%w); stop what listens there or choose other ports (make run: TRIBUTARY_CLICKHOUSE_PORT, TRIBUTARY_CLICKHOUSE_HTTP_PORT)", port, err)
		}
		l.Close()
	}
	return nil
}

// withFreePorts fills cfg's zero ports with ports that are free right now.
func withFreePorts(cfg ServerConfig) (ServerConfig, error) {
	var holds []net.Listener
	defer func() {
		for _, l := range holds {
			l.Close()
		}
	}()
	for _, port := range []*int{&cfg.TCPPort, &cfg.HTTPPort} {
		if *port != 0 {
			continue
		}
		// Hold each listener until both are picked so the two ports differ.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return cfg, fmt.Errorf("picking a free port for clickhouse-server: %w", err)
		}
		holds = append(holds, l)
		*port = l.Addr().(*net.TCPAddr).Port
	}
	return cfg, nil
}

// serverConfigXML renders config.xml in the 18.16 format (root element <yandex>, which
// current releases still accept). Only settings 18.16 knows appear: it has no
// max_server_memory_usage, so memory is bounded by the caches and the per-query limit
// in users.xml.
func serverConfigXML(cfg ServerConfig) []byte {
	var b bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	path := func(sub string) string { return esc(filepath.Join(cfg.Dir, sub) + "/") }
	fmt.Fprintf(&b, `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>%s</log>
    <errorlog>%s</errorlog>
    <size>10M</size>
    <count>2</count>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%d</tcp_port>
  <http_port>%d</http_port>
  <path>%s</path>
  <tmp_path>%s</tmp_path>
  <user_files_path>%s</user_files_path>
  <format_schema_path>%s</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>0</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <max_connections>256</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
</yandex>
`,
		esc(filepath.Join(cfg.Dir, "log", "server.log")), esc(errorLogPath(cfg.Dir)),
		cfg.TCPPort, cfg.HTTPPort,
		path("data"), path("tmp"), path("data/user_files"), path("data/format_schemas"))
	return b.Bytes()
}

// usersXML lets the passwordless default user in from loopback only; max_memory_usage
// caps each query at 2 GiB.
const usersXML = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>2147483648</max_memory_usage>
      <use_uncompressed_cache>0</use_uncompressed_cache>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks>
        <ip>127.0.0.1</ip>
        <ip>::1</ip>
      </networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
`
