// Command localstack runs Tributary on one machine: kfake (Kafka), a ClickHouse server,
// the vendor simulator and the three services, each its own process. It runs a Full
// sync of the demo connectors (or of --connectors), prints a summary and keeps serving
// until Ctrl-C. With --bench it measures the pipeline instead and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/tributary-sec/tributary/internal/clickhouse"
	"github.com/tributary-sec/tributary/internal/kafka"
	"github.com/tributary-sec/tributary/internal/service"
	"github.com/tributary-sec/tributary/internal/stack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
}

// ports of the local stack, each overridable by an environment variable.
type ports struct {
	kafka, clickhouse, clickhouseHTTP, simulator, cortexSimulator, api int
	admin                                                              map[string]int
}

func readPorts() ports {
	return ports{
		kafka:           service.EnvInt("TRIBUTARY_KAFKA_PORT", 19092),
		clickhouse:      service.EnvInt("TRIBUTARY_CLICKHOUSE_PORT", 19000),
		clickhouseHTTP:  service.EnvInt("TRIBUTARY_CLICKHOUSE_HTTP_PORT", 18123),
		simulator:       service.EnvInt("TRIBUTARY_SIMULATOR_PORT", 18481),
		cortexSimulator: service.EnvInt("TRIBUTARY_CORTEX_SIMULATOR_PORT", 18482),
		api:             service.EnvInt("TRIBUTARY_API_PORT", 18480),
		admin: map[string]int{
			"fetcher":    service.EnvInt("TRIBUTARY_FETCHER_ADMIN_PORT", 19464),
			"normalizer": service.EnvInt("TRIBUTARY_NORMALIZER_ADMIN_PORT", 19465),
			"processor":  service.EnvInt("TRIBUTARY_PROCESSOR_ADMIN_PORT", 19466),
		},
	}
}

type options struct {
	stateDir   string
	binDir     string
	connectors string
	bench      bool
	vendor     string // the benchmarked connector type's simulator: inspector or cortex
	findings   int
	endpoints  int
	pageCap    int
}

func run() error {
	fs := flag.NewFlagSet("localstack", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.stateDir, "state-dir", ".state", "directory for ClickHouse data, logs and generated config")
	fs.StringVar(&o.binDir, "bin-dir", "", "directory of the service binaries (default: beside this binary)")
	fs.StringVar(&o.connectors, "connectors", "", "connectors file to sync instead of the demo connectors")
	fs.BoolVar(&o.bench, "bench", false, "measure one Full sync of --findings simulated findings, print the figures and exit")
	fs.StringVar(&o.vendor, "bench-vendor", "inspector", "with --bench: the connector to measure, inspector (--findings) or cortex (--endpoints)")
	fs.IntVar(&o.findings, "findings", 2000, "findings the AWS Inspector simulator generates")
	fs.IntVar(&o.endpoints, "endpoints", 500, "endpoints the Cortex XDR simulator generates (each with its CVEs)")
	fs.IntVar(&o.pageCap, "page-cap", 25, "findings per ListFindings page the simulator returns at most")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if o.vendor != "inspector" && o.vendor != "cortex" {
		return fmt.Errorf("--bench-vendor is %q; use inspector or cortex", o.vendor)
	}
	if o.binDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the service binaries: %w; pass --bin-dir", err)
		}
		o.binDir = filepath.Dir(exe)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := readPorts()
	if err := service.EnvErr(); err != nil {
		return err
	}
	st, err := startStack(ctx, o, p)
	if st != nil {
		defer st.stop()
	}
	if err != nil {
		return err
	}
	if o.bench {
		return st.bench(ctx, o)
	}
	return st.demo(ctx)
}

// localStack is the running local stack.
type localStack struct {
	dir        string
	ports      ports
	kafka      kafka.Config
	clickhouse *clickhouse.Server
	store      *clickhouse.Client
	kfake      *stack.Process
	simulator  *stack.Process // AWS Inspector
	cortexSim  *stack.Process
	services   *stack.Services
	connectors []string
	started    time.Time
}

func startStack(ctx context.Context, o options, p ports) (*localStack, error) {
	if o.bench {
		// A benchmark counts the rows it wrote, so it starts from an empty database.
		if err := os.RemoveAll(filepath.Join(o.stateDir, "clickhouse")); err != nil {
			return nil, fmt.Errorf("clearing the benchmark's ClickHouse data: %w", err)
		}
	}
	logDir := filepath.Join(o.stateDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	s := &localStack{dir: o.stateDir, ports: p}
	var err error
	fmt.Printf("starting ClickHouse on 127.0.0.1:%d (data in %s)\n", p.clickhouse, filepath.Join(o.stateDir, "clickhouse"))
	s.clickhouse, err = clickhouse.StartServer(ctx, clickhouse.ServerConfig{Dir: filepath.Join(o.stateDir, "clickhouse"), TCPPort: p.clickhouse, HTTPPort: p.clickhouseHTTP}, nil)
	if err != nil {
		return s, err
	}
	fmt.Printf("starting Kafka (kfake) on 127.0.0.1:%d\n", p.kafka)
	s.kfake, err = stack.StartProcess("kfake", filepath.Join(o.binDir, "kfake"), []string{"--port", strconv.Itoa(p.kafka)}, os.Environ(), logDir)
	if err != nil {
		return s, err
	}
	s.kafka = kafka.Config{Brokers: []string{fmt.Sprintf("127.0.0.1:%d", p.kafka)}}
	if err := s.kafka.Validate(); err != nil {
		return s, err
	}
	fmt.Printf("starting the AWS Inspector simulator on 127.0.0.1:%d (%d findings)\n", p.simulator, o.findings)
	simAddr := fmt.Sprintf("127.0.0.1:%d", p.simulator)
	s.simulator, err = stack.StartProcess("simulator", filepath.Join(o.binDir, "simulator"), []string{
		"--addr", simAddr, "--seed", "7", "--findings", strconv.Itoa(o.findings),
		"--regions", "us-east-1,eu-west-1", "--access-key-id", demoAccessKeyID,
		"--role-arn", demoRoleARN, "--external-id", demoExternalID,
		"--page-cap", strconv.Itoa(o.pageCap),
	}, append(os.Environ(), "TRIBUTARY_SIM_SECRET_ACCESS_KEY="+demoSecretAccessKey), logDir)
	if err != nil {
		return s, err
	}
	if err := s.simulator.WaitReady(ctx, "http://"+simAddr+"/_simulator/healthz"); err != nil {
		return s, err
	}
	fmt.Printf("starting the Cortex XDR simulator on 127.0.0.1:%d (%d endpoints)\n", p.cortexSimulator, o.endpoints)
	xdrAddr := fmt.Sprintf("127.0.0.1:%d", p.cortexSimulator)
	s.cortexSim, err = stack.StartProcess("cortex-simulator", filepath.Join(o.binDir, "simulator"), []string{
		"--vendor", "cortex", "--addr", xdrAddr, "--seed", "7", "--endpoints", strconv.Itoa(o.endpoints),
		"--api-key-id", demoXDRKeyID, "--advanced-key",
	}, append(os.Environ(), "TRIBUTARY_SIM_CORTEX_API_KEY="+demoXDRKey), logDir)
	if err != nil {
		return s, err
	}
	if err := s.cortexSim.WaitReady(ctx, "http://"+xdrAddr+"/_simulator/healthz"); err != nil {
		return s, err
	}
	connectorsFile := o.connectors
	if connectorsFile == "" {
		connectorsFile = filepath.Join(o.stateDir, "connectors.yaml")
		conf := demoConnectors("http://"+simAddr, "http://"+xdrAddr)
		if o.bench {
			conf = benchConnectors(o.vendor, "http://"+simAddr, "http://"+xdrAddr)
		}
		if err := os.WriteFile(connectorsFile, []byte(conf), 0o644); err != nil {
			return s, fmt.Errorf("writing demo connectors: %w", err)
		}
	}
	s.connectors, err = connectorIDs(connectorsFile)
	if err != nil {
		return s, err
	}
	s.store, err = clickhouse.Open(ctx, clickhouse.Options{Addr: s.clickhouse.Addr()})
	if err != nil {
		return s, err
	}
	fmt.Println("starting normalizer, processor and fetcher")
	s.started = time.Now()
	s.services, err = stack.Start(ctx, stack.Config{
		BinDir:         o.binDir,
		LogDir:         logDir,
		Kafka:          s.kafka,
		ClickHouseAddr: s.clickhouse.Addr(),
		Database:       clickhouse.DefaultDatabase,
		Connectors:     connectorsFile,
		SyncAtStart:    "full",
		FetcherEnv:     []string{demoSecretEnv + "=" + demoSecretAccessKey, wrongSecretEnv + "=" + wrongSecretValue, demoXDRKeyEnv + "=" + demoXDRKey},
		AdminPorts:     p.admin,
		APIPort:        p.api,
	})
	return s, err
}

func (s *localStack) stop() {
	var errs []error
	if s.services != nil {
		errs = append(errs, s.services.Stop())
	}
	for _, p := range []*stack.Process{s.cortexSim, s.simulator, s.kfake} {
		if p != nil {
			errs = append(errs, p.Stop())
		}
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.clickhouse != nil {
		errs = append(errs, s.clickhouse.Stop())
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "localstack: stopping:", err)
	}
}

// waitForSyncs waits for the start-up sync of every connector, watching that no
// process died meanwhile.
func (s *localStack) waitForSyncs(ctx context.Context) (map[string]*stack.Sync, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	died := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			for _, p := range []*stack.Process{s.kfake, s.simulator, s.cortexSim} {
				if err := p.Exited(); err != nil {
					died <- err
					cancel()
					return
				}
			}
			if err := s.services.Exited(); err != nil {
				died <- err
				cancel()
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	syncs, err := stack.WaitForSyncs(ctx, s.kafka, s.started.Add(-time.Second), s.connectors...)
	select {
	case d := <-died:
		return nil, d
	default:
	}
	return syncs, err
}
