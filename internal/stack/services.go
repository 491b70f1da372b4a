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
}

// Services are the running service processes.
type Services struct {
	procs      []*Process
	adminAddrs map[string]string
}

// Start starts the normalizer, processor and fetcher, each waiting until its admin
// endpoint reports ready.
func Start(ctx context.Context, cfg Config) (*Services, error) {
	s := &Services{adminAddrs: map[string]string{}}
	common := []string{
		"--kafka-brokers", strings.Join(cfg.Kafka.Brokers, ","),
		"--topic-prefix", cfg.Kafka.TopicPrefix,
		"--topic-partitions", strconv.Itoa(int(cfg.Kafka.Partitions)),
	}
	for _, name := range ServiceNames {
		port := cfg.AdminPorts[name]
		if port == 0 {
			var err error
			if port, err = freePort(); err != nil {
				s.Stop()
				return nil, err
			}
		}
		adminAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args := append(append([]string{}, common...), "--admin-addr", adminAddr)
		env := os.Environ()
		switch name {
		case "processor":
			args = append(args, "--clickhouse-addr", cfg.ClickHouseAddr, "--clickhouse-database", cfg.Database)
		case "fetcher":
			args = append(args, "--connectors", cfg.Connectors)
			if cfg.SyncAtStart != "" {
				args = append(args, "--sync-at-start", cfg.SyncAtStart)
			}
			env = append(env, cfg.FetcherEnv...)
		}
		p, err := StartProcess(name, filepath.Join(cfg.BinDir, name), args, env, cfg.LogDir)
		if err != nil {
			s.Stop()
			return nil, err
		}
		s.procs = append(s.procs, p)
		s.adminAddrs[name] = adminAddr
		if err := p.WaitReady(ctx, "http://"+adminAddr+"/readyz"); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// AdminAddr returns the admin address of the named service.
func (s *Services) AdminAddr(name string) string { return s.adminAddrs[name] }

// Process returns the named service's process.
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
