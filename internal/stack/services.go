// Package stack starts Tributary's three services as separate processes against a
// given Kafka and ClickHouse, and follows the sync log until syncs end. The local stack
// (make run), the end-to-end test and the benchmark all run the pipeline through it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tributary-sec/tributary/internal/kafka"
)

// ServiceNames are the binaries of the pipeline, in start order.
var ServiceNames = []string{"normalizer", "processor", "fetcher"}

// Build compiles the three services into dir from the module at root.
func Build(ctx context.Context, root, dir string) error {
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, n := range ServiceNames {
		args = append(args, "./"+n)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building services: %w\n%s", err, out)
	}
	return nil
}

// Config says how to run the services.
type Config struct {
	BinDir         string // holds the fetcher, normalizer and processor binaries
	LogDir         string // each process's stderr goes to <name>.log here
	Kafka          kafka.Config
	ClickHouseAddr string
	Database       string
	Connectors     string   // the fetcher's connectors file
	SyncAtStart    string   // full, incremental or empty
	FetcherEnv     []string // extra environment of the fetcher (connector secrets)
	AdminPorts     map[string]int
	APIPort        int                 // the fetcher's control API; 0 picks a free port
	Instances      map[string]int      // processes per service (normalizer and processor may run several); default 1
	ExtraArgs      map[string][]string // more flags per service, e.g. the processor's --sync-timeout
}

// Services are the running service processes.
type Services struct {
	cfg        Config
	common     []string
	procs      []*Process
	adminAddrs map[string]string
	apiAddr    string
}

// Start starts the normalizer, processor and fetcher, each waiting until its admin
// endpoint reports ready.
func Start(ctx context.Context, cfg Config) (*Services, error) {
	s := &Services{cfg: cfg, adminAddrs: map[string]string{}}
	s.common = []string{
		"--kafka-brokers", strings.Join(cfg.Kafka.Brokers, ","),
		"--topic-prefix", cfg.Kafka.TopicPrefix,
		"--topic-partitions", strconv.Itoa(int(cfg.Kafka.Partitions)),
	}
	for _, name := range ServiceNames {
		for i := range max(cfg.Instances[name], 1) {
			procName := name
			if i > 0 {
				procName = fmt.Sprintf("%s-%d", name, i+1)
			}
			if err := s.start(ctx, cfg, name, procName, s.common); err != nil {
				s.Stop()
				return nil, err
			}
		}
	}
	return s, nil
}

// start starts one instance of service name as procName and waits until it is ready.
func (s *Services) start(ctx context.Context, cfg Config, name, procName string, common []string) error {
	port := cfg.AdminPorts[procName]
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return err
		}
	}
	adminAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := append(append([]string{}, common...), "--admin-addr", adminAddr)
	env := os.Environ()
	switch name {
	case "processor":
		args = append(args, "--clickhouse-addr", cfg.ClickHouseAddr, "--clickhouse-database", cfg.Database)
	case "fetcher":
		apiPort := cfg.APIPort
		if apiPort == 0 {
			var err error
			if apiPort, err = freePort(); err != nil {
				return err
			}
		}
		s.apiAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
		args = append(args, "--connectors", cfg.Connectors, "--api-addr", s.apiAddr,
			"--clickhouse-addr", cfg.ClickHouseAddr, "--clickhouse-database", cfg.Database)
		if cfg.SyncAtStart != "" {
			args = append(args, "--sync-at-start", cfg.SyncAtStart)
		}
		env = append(env, cfg.FetcherEnv...)
	}
	args = append(args, cfg.ExtraArgs[name]...)
	p, err := StartProcess(procName, filepath.Join(cfg.BinDir, name), args, env, cfg.LogDir)
	if err != nil {
		return err
	}
	s.procs = append(s.procs, p)
	s.adminAddrs[procName] = adminAddr
	return p.WaitReady(ctx, "http://"+adminAddr+"/readyz")
}

// Kill kills the named process (see AdminAddr for instance names) as a crash would.
func (s *Services) Kill(procName string) {
	for i, p := range s.procs {
		if p.Name == procName {
			p.Kill()
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			return
		}
	}
}

// StopProcess stops the named process (see AdminAddr for instance names) as an
// operator would: SIGTERM, so it leaves its consumer groups at once.
func (s *Services) StopProcess(procName string) error {
	for i, p := range s.procs {
		if p.Name == procName {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			return p.Stop()
		}
	}
	return fmt.Errorf("no running process %s", procName)
}

// Restart starts a killed or stopped service again (its first instance) with the same
// configuration, without a start-up sync.
func (s *Services) Restart(ctx context.Context, name string) error {
	cfg := s.cfg
	cfg.SyncAtStart = ""
	cfg.APIPort = portOf(s.apiAddr)
	return s.start(ctx, cfg, name, name, s.common)
}

func portOf(addr string) int {
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return n
}

// APIAddr returns the fetcher's control API address (host:port).
func (s *Services) APIAddr() string { return s.apiAddr }

// AdminAddr returns the admin address of the named service (its first instance; the
// others are named <service>-2, <service>-3, ...).
func (s *Services) AdminAddr(name string) string { return s.adminAddrs[name] }

// Process returns the named service process (see AdminAddr for instance names).
func (s *Services) Process(name string) *Process {
	for _, p := range s.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Exited reports a service that has stopped on its own, with its log's tail.
func (s *Services) Exited() error {
	for _, p := range s.procs {
		if err := p.Exited(); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops the services in reverse start order.
func (s *Services) Stop() error {
	var errs []error
	for i := len(s.procs) - 1; i >= 0; i-- {
		errs = append(errs, s.procs[i].Stop())
	}
	s.procs = nil
	return errors.Join(errs...)
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
