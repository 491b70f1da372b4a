// Command simulator serves faithful vendor API simulators for tests, the demo and the
// benchmark: AWS Inspector v2 ListFindings with STS AssumeRole, or the Cortex XDR public
// API (get_endpoint and XQL), chosen by -vendor.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/cortex"
	"github.com/tributary-sec/tributary/internal/simulator/inspector"
)

// shutdownGrace bounds how long in-flight requests may take once a signal arrives.
const shutdownGrace = 10 * time.Second

func main() {
	if err := run(os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}

// Vendors -vendor accepts.
const (
	vendorInspector = "inspector"
	vendorCortex    = "cortex"
)

// config is the parsed command line.
type config struct {
	addr      string
	logLevel  slog.Level
	vendor    string
	inspector bool
	insp      inspector.Config
	cortex    cortex.Config
}

// parseFlags reads flags, each defaulting to its TRIBUTARY_SIM_* environment variable.
func parseFlags(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("simulator", flag.ContinueOnError)
	env := func(name, def string) string {
		if v := getenv("TRIBUTARY_SIM_" + name); v != "" {
			return v
		}
		return def
	}
	var c config
	var envErrs []error
	envInt := func(name string, def int) int {
		v := env(name, strconv.Itoa(def))
		n, err := strconv.Atoi(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("parsing TRIBUTARY_SIM_%s=%q: want an integer", name, v))
		}
		return n
	}
	envFloat := func(name string, def float64) float64 {
		v := env(name, strconv.FormatFloat(def, 'f', -1, 64))
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("parsing TRIBUTARY_SIM_%s=%q: want a number", name, v))
		}
		return f
	}
	envBool := func(name string, def bool) bool {
		v := env(name, strconv.FormatBool(def))
		b, err := strconv.ParseBool(v)
		if err != nil {
			envErrs = append(envErrs, fmt.Errorf("parsing TRIBUTARY_SIM_%s=%q: want true or false", name, v))
		}
		return b
	}

	var regions, level string
	fs.StringVar(&c.addr, "addr", env("ADDR", "127.0.0.1:8481"), "listen address (env TRIBUTARY_SIM_ADDR)")
	fs.StringVar(&level, "log-level", env("LOG_LEVEL", "info"), "debug logs every request (env TRIBUTARY_SIM_LOG_LEVEL)")
	fs.StringVar(&c.vendor, "vendor", env("VENDOR", vendorInspector), "the vendor API to serve: inspector or cortex (env TRIBUTARY_SIM_VENDOR)")
	seed := fs.Int64("seed", int64(envInt("SEED", 1)), "dataset seed (env TRIBUTARY_SIM_SEED)")

	// Inspector v2 + STS (-vendor inspector).
	fs.BoolVar(&c.inspector, "inspector", envBool("INSPECTOR", true), "serve AWS Inspector v2 and STS when -vendor is inspector (env TRIBUTARY_SIM_INSPECTOR)")
	fs.IntVar(&c.insp.Findings, "findings", envInt("FINDINGS", inspector.DefaultFindings), "findings across all regions (env TRIBUTARY_SIM_FINDINGS)")
	fs.StringVar(&regions, "regions", env("REGIONS", inspector.DefaultRegion), "comma-separated regions (env TRIBUTARY_SIM_REGIONS)")
	fs.StringVar(&c.insp.AccountID, "account-id", env("ACCOUNT_ID", inspector.DefaultAccountID), "AWS account id of the findings (env TRIBUTARY_SIM_ACCOUNT_ID)")
	fs.StringVar(&c.insp.AccessKeyID, "access-key-id", env("ACCESS_KEY_ID", inspector.DefaultAccessKeyID), "accepted access key id (env TRIBUTARY_SIM_ACCESS_KEY_ID)")
	fs.StringVar(&c.insp.SecretAccessKey, "secret-access-key", env("SECRET_ACCESS_KEY", inspector.DefaultSecretAccessKey), "its secret; prefer the env TRIBUTARY_SIM_SECRET_ACCESS_KEY")
	fs.StringVar(&c.insp.RoleARN, "role-arn", env("ROLE_ARN", ""), "the role AssumeRole accepts; empty accepts any (env TRIBUTARY_SIM_ROLE_ARN)")
	fs.StringVar(&c.insp.ExternalID, "external-id", env("EXTERNAL_ID", ""), "the external id AssumeRole requires; empty requires none (env TRIBUTARY_SIM_EXTERNAL_ID)")
	fs.IntVar(&c.insp.PageCap, "page-cap", envInt("PAGE_CAP", inspector.DefaultPageCap), "max findings a page (env TRIBUTARY_SIM_PAGE_CAP)")
	fs.Float64Var(&c.insp.MaxRPS, "max-rps", envFloat("MAX_RPS", 0), "ListFindings requests a second before ThrottlingException; 0 = no limit (env TRIBUTARY_SIM_MAX_RPS)")

	// Cortex XDR public API (-vendor cortex). The API key comes from the environment
	// only, so it never shows in a process listing.
	fs.IntVar(&c.cortex.Endpoints, "endpoints", envInt("ENDPOINTS", cortex.DefaultEndpoints), "Cortex XDR endpoints of the tenant; 0 = an empty tenant (env TRIBUTARY_SIM_ENDPOINTS)")
	fs.StringVar(&c.cortex.APIKeyID, "api-key-id", env("CORTEX_API_KEY_ID", cortex.DefaultAPIKeyID), "Cortex XDR API key id (x-xdr-auth-id) accepted (env TRIBUTARY_SIM_CORTEX_API_KEY_ID); the key is env TRIBUTARY_SIM_CORTEX_API_KEY")
	fs.BoolVar(&c.cortex.Advanced, "advanced-key", envBool("CORTEX_ADVANCED_KEY", false), "the Cortex XDR key is an advanced key (nonce + timestamp + SHA-256) (env TRIBUTARY_SIM_CORTEX_ADVANCED_KEY)")
	fs.Float64Var(&c.cortex.RequestsPerSecond, "cortex-rps", envFloat("CORTEX_RPS", cortex.DefaultRequestsPerSecond), "Cortex XDR API calls a second before 429; negative = no limit (env TRIBUTARY_SIM_CORTEX_RPS)")
	fs.IntVar(&c.cortex.PendingPolls, "pending-polls", envInt("CORTEX_PENDING_POLLS", cortex.DefaultPendingPolls), "XQL polls answered PENDING before the result; negative = none (env TRIBUTARY_SIM_CORTEX_PENDING_POLLS)")
	c.cortex.APIKey = getenv("TRIBUTARY_SIM_CORTEX_API_KEY")
	if err := errors.Join(envErrs...); err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.insp.Seed, c.cortex.Seed = *seed, *seed
	if c.cortex.APIKey == "" {
		c.cortex.APIKey = cortex.DefaultAPIKey
	}
	for r := range strings.SplitSeq(regions, ",") {
		if r = strings.TrimSpace(r); r != "" {
			c.insp.Regions = append(c.insp.Regions, r)
		}
	}
	if err := c.logLevel.UnmarshalText([]byte(level)); err != nil {
		return c, fmt.Errorf("parsing -log-level: %w", err)
	}
	switch c.vendor {
	case vendorInspector:
		if !c.inspector {
			return c, errors.New("no simulator enabled: set -inspector")
		}
	case vendorCortex:
		if c.cortex.APIKeyID == "" {
			return c, errors.New("-api-key-id must not be empty")
		}
	default:
		return c, fmt.Errorf("unknown -vendor %q: want inspector or cortex", c.vendor)
	}
	return c, nil
}

func run(args []string, getenv func(string) string) error {
	cfg, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	mux := http.NewServeMux()
	switch {
	case cfg.vendor == vendorCortex:
		start := time.Now()
		sim, err := cortex.New(cfg.cortex)
		if err != nil {
			return fmt.Errorf("creating cortex simulator: %w", err)
		}
		// The key and its id are credentials: log only whether the built-in one is used.
		logger.Info("cortex dataset generated", "endpoints", cfg.cortex.Endpoints, "seed", cfg.cortex.Seed,
			"advanced_key", cfg.cortex.Advanced, "development_key", cfg.cortex.APIKey == cortex.DefaultAPIKey,
			"rps", cfg.cortex.RequestsPerSecond, "duration_ms", time.Since(start).Milliseconds())
		mux.Handle("/", sim.Handler())
	case cfg.inspector:
		start := time.Now()
		sim, err := inspector.New(cfg.insp)
		if err != nil {
			return fmt.Errorf("creating inspector simulator: %w", err)
		}
		logger.Info("inspector dataset generated", "findings", cfg.insp.Findings, "regions", cfg.insp.Regions,
			"seed", cfg.insp.Seed, "page_cap", cfg.insp.PageCap, "role_arn", cfg.insp.RoleARN,
			"external_id_required", cfg.insp.ExternalID != "", "duration_ms", time.Since(start).Milliseconds())
		mux.Handle("/", sim.Handler())
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.addr, err)
	}
	srv := &http.Server{
		Handler:           logRequests(logger, mux),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("simulator listening on http://" + ln.Addr().String())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// logRequests logs each request at debug level: the benchmark makes thousands a second.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	if !logger.Enabled(context.Background(), slog.LevelDebug) {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
