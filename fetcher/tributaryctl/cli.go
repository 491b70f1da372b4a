package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/tributary-sec/tributary/internal/controlapi"
)

const usage = `tributaryctl talks to the fetcher's control API.

Usage:
  tributaryctl [--api URL] [--json] [--utc] <command> [flags] [args]

Commands:
  connectors            list the connectors and their last sync
  test <connector>      run a connector's connectivity test; exit 1 when a check fails
  sync <connector>      start a sync [--type full|incremental] [--wait]
  syncs                 list syncs, newest first [--connector] [--status] [--since] ...
  show <sync-id>        show a sync: status, error, stages and log entries [--level]
  validate [connector]  compare vendor totals with Tributary's; exit 1 when one differs

Flags of every command (before or after it):
  --api URL   the control API (env TRIBUTARY_API, default http://127.0.0.1:8480)
  --json      print the API's JSON answer instead of tables
  --utc       print times in UTC instead of the local time zone

When the fetcher requires a token, put it in TRIBUTARY_API_TOKEN (there is no flag, so
it stays out of the shell history). Run 'tributaryctl <command> -h' for its flags.
`

const defaultAPI = "http://127.0.0.1:8480"

// run runs tributaryctl with args and returns the exit code: 0 success, 1 failure (of
// the call, a check or a sync), 2 usage error.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &cli{
		stdout:    stdout,
		stderr:    stderr,
		getenv:    os.Getenv,
		now:       time.Now,
		local:     time.Local,
		poll:      2 * time.Second,
		notLogged: time.Minute,
		transport: http.DefaultTransport,
	}
	return c.run(ctx, args)
}

// cli is one invocation; tests build it with a fixed clock, zone and environment.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	local          *time.Location
	poll           time.Duration // between polls of sync --wait
	notLogged      time.Duration // how long sync --wait accepts that the log lacks the sync
	transport      http.RoundTripper

	api string    // the API's URL, set by client
	rec *recorder // set by client
}

// globals are the flags every command takes, before or after its name.
type globals struct {
	api        string
	apiDefault string // from the environment, for the usage text
	json       bool
	utc        bool
}

// register adds the global flags to fs, keeping the values already parsed.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.api, "api", g.api, "control API `URL` (env TRIBUTARY_API)")
	fs.Lookup("api").DefValue = g.apiDefault
	fs.BoolVar(&g.json, "json", g.json, "print the API's JSON answer instead of tables")
	fs.BoolVar(&g.utc, "utc", g.utc, "print times in UTC instead of the local time zone")
}

var commands = map[string]func(c *cli, ctx context.Context, g *globals, args []string) error{
	"connectors": (*cli).connectors,
	"test":       (*cli).test,
	"sync":       (*cli).sync,
	"syncs":      (*cli).syncs,
	"show":       (*cli).show,
	"validate":   (*cli).validate,
}

var (
	// errUsage is a usage error already reported with the usage text.
	errUsage = errors.New("usage error")
	// errReported is a failure (a check, a sync) already reported on stdout.
	errReported = errors.New("failure reported")
)

func (c *cli) run(ctx context.Context, args []string) int {
	g := &globals{apiDefault: c.getenv("TRIBUTARY_API")}
	if g.apiDefault == "" {
		g.apiDefault = defaultAPI
	}
	g.api = g.apiDefault
	fs := flag.NewFlagSet("tributaryctl", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, usage) }
	g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // the flag package printed the error and the usage
	}
	if fs.NArg() == 0 {
		fmt.Fprint(c.stderr, usage)
		return 2
	}
	name := fs.Arg(0)
	if name == "help" {
		fmt.Fprint(c.stdout, usage)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(c.stderr, "unknown command %q\n\n%s", name, usage)
		return 2
	}
	return c.exit(cmd(c, ctx, g, fs.Args()[1:]))
}

// exit reports err, unless already reported, and returns the exit code.
func (c *cli) exit(err error) int {
	var apiErr *controlapi.APIError
	var urlErr *url.Error
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errReported):
		return 1
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(c.stderr, "interrupted")
		return 130
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized:
		if c.getenv("TRIBUTARY_API_TOKEN") == "" {
			fmt.Fprintln(c.stderr, "the control API wants a bearer token; put the fetcher's token in TRIBUTARY_API_TOKEN")
		} else {
			fmt.Fprintln(c.stderr, "the control API refused the token in TRIBUTARY_API_TOKEN; it must equal the fetcher's TRIBUTARY_API_TOKEN")
		}
	case errors.As(err, &apiErr):
		fmt.Fprintf(c.stderr, "%s (HTTP %d)\n", clean(apiErr.Message), apiErr.StatusCode)
	case errors.As(err, &urlErr):
		fmt.Fprintf(c.stderr, "cannot reach the fetcher's control API at %s: %s; is the fetcher running? set --api or TRIBUTARY_API\n", c.api, reachCause(urlErr))
	default:
		fmt.Fprintln(c.stderr, err)
	}
	return 1
}

// reachCause names the network failure behind a failed request plainly.
func reachCause(err *url.Error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Error() // "dial tcp 127.0.0.1:8480: connect: connection refused"
	}
	if err.Timeout() {
		return "no answer in time"
	}
	return err.Err.Error()
}

// flagSet returns a command's flag set, which also takes the global flags.
func (c *cli) flagSet(name, args string, g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet("tributaryctl "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	line := "tributaryctl " + name + " [flags]"
	if args != "" {
		line += " " + args
	}
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: %s\n\nFlags:\n", line)
		fs.PrintDefaults()
	}
	g.register(fs)
	return fs
}

// parse parses a command's flags, which may come before, between or after its n
// positional arguments, and returns those.
func (c *cli) parse(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	return c.parseRange(fs, args, n, n)
}

// parseRange is parse for a command taking from least to most positional arguments.
func (c *cli) parseRange(fs *flag.FlagSet, args []string, least, most int) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage // the flag package printed the error and the usage
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	switch {
	case len(pos) > most:
		return nil, c.usageError(fs, "%s: unexpected argument %q", fs.Name(), pos[most])
	case len(pos) < least:
		return nil, c.usageError(fs, "%s wants %d argument(s), got %d", fs.Name(), least, len(pos))
	}
	return pos, nil
}

// usageError reports a usage error with the command's usage.
func (c *cli) usageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(c.stderr, format+"\n\n", args...)
	fs.Usage()
	return errUsage
}

// client returns the API client for g, recording answers for --json.
func (c *cli) client(fs *flag.FlagSet, g *globals) (*controlapi.Client, error) {
	u, err := url.Parse(g.api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, c.usageError(fs, "--api is %q; use a URL such as %s", g.api, defaultAPI)
	}
	c.api, c.rec = g.api, &recorder{next: c.transport}
	// The bound covers a connectivity test, which calls the vendor in every scope.
	httpClient := &http.Client{Transport: c.rec, Timeout: 5 * time.Minute}
	return controlapi.NewClient(g.api, c.getenv("TRIBUTARY_API_TOKEN"), httpClient), nil
}

// printJSON writes the API's latest answer as it came.
func (c *cli) printJSON() error {
	b := c.rec.body()
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	_, err := c.stdout.Write(b)
	return err
}

// recorder keeps the body of the latest response, so --json prints the API's answer
// byte for byte while the commands work on the typed client, which reads every body to
// its end.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	last *bytes.Buffer
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	buf := new(bytes.Buffer)
	r.mu.Lock()
	r.last = buf
	r.mu.Unlock()
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, buf), resp.Body}
	return resp, nil
}

func (r *recorder) body() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		return nil
	}
	return slices.Clone(r.last.Bytes())
}
