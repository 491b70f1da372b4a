package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-sec/tributary/internal/controlapi"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

func (c *cli) view(g *globals) view {
	loc := c.local
	if g.utc {
		loc = time.UTC
	}
	return view{loc: loc, now: c.now()}
}

func (c *cli) connectors(ctx context.Context, g *globals, args []string) error {
	fs := c.flagSet("connectors", "", g)
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	client, err := c.client(fs, g)
	if err != nil {
		return err
	}
	list, err := client.Connectors(ctx)
	if err != nil {
		return err
	}
	if g.json {
		return c.printJSON()
	}
	return c.view(g).connectors(c.stdout, list)
}

func (c *cli) test(ctx context.Context, g *globals, args []string) error {
	fs := c.flagSet("test", "<connector>", g)
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	client, err := c.client(fs, g)
	if err != nil {
		return err
	}
	res, err := client.Test(ctx, pos[0])
	if err != nil {
		return connectorError(pos[0], err)
	}
	if g.json {
		if err := c.printJSON(); err != nil {
			return err
		}
	} else {
		if err := c.view(g).checks(c.stdout, res); err != nil {
			return err
		}
		failed := 0
		for _, ch := range res.Checks {
			if !ch.OK {
				failed++
			}
		}
		if failed == 0 {
			fmt.Fprintf(c.stdout, "\n%s: all %d checks passed\n", res.ConnectorID, len(res.Checks))
		} else {
			fmt.Fprintf(c.stdout, "\n%s: %d of %d checks failed\n", res.ConnectorID, failed, len(res.Checks))
		}
	}
	if !res.OK {
		return errReported
	}
	return nil
}

func (c *cli) sync(ctx context.Context, g *globals, args []string) error {
	fs := c.flagSet("sync", "<connector>", g)
	typ := fs.String("type", string(model.SyncFull), "sync `type`: full or incremental")
	wait := fs.Bool("wait", false, "wait for the sync to end and print its summary; exit 1 when it failed")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	t := model.SyncType(strings.ToLower(*typ))
	if t != model.SyncFull && t != model.SyncIncremental {
		return c.usageError(fs, "--type is %q; use full or incremental", *typ)
	}
	client, err := c.client(fs, g)
	if err != nil {
		return err
	}
	started, err := client.StartSync(ctx, pos[0], t)
	if err != nil {
		return connectorError(pos[0], err)
	}
	if !*wait {
		if g.json {
			return c.printJSON()
		}
		fmt.Fprintln(c.stdout, started.SyncID)
		fmt.Fprintf(c.stderr, "started a %s sync of %s; follow it with 'tributaryctl show %s'\n", t, started.ConnectorID, started.SyncID)
		return nil
	}
	if !g.json {
		fmt.Fprintln(c.stdout, started.SyncID)
	}
	fmt.Fprintf(c.stderr, "waiting for %s sync %s of %s to end (Ctrl-C stops the waiting, not the sync)\n", t, started.SyncID, started.ConnectorID)
	v := c.view(g)
	s, err := c.wait(ctx, client, v, started.SyncID)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(c.stderr, "stopped waiting; the sync runs on: follow it with 'tributaryctl show %s'\n", started.SyncID)
	}
	if err != nil {
		return err
	}
	if g.json {
		if err := c.printJSON(); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(c.stdout)
		v.now = c.now()
		if err := v.summary(c.stdout, s); err != nil {
			return err
		}
	}
	if s.Status == synclog.StatusFailed {
		return errReported
	}
	return nil
}

// wait polls a sync until it is no longer In Progress, reporting each stage as it
// starts and ends on stderr.
func (c *cli) wait(ctx context.Context, client *controlapi.Client, v view, id string) (synclog.Sync, error) {
	seen := map[string]model.StageState{}
	deadline := c.now().Add(c.notLogged)
	for {
		s, _, err := client.Sync(ctx, id, "")
		var apiErr *controlapi.APIError
		switch {
		case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound:
			// The processor writes the log; its first entry may take a moment.
			if c.now().After(deadline) {
				return s, fmt.Errorf("sync %s started, but the sync log has not shown it for %s; check that the processor is running and can write to ClickHouse", id, c.notLogged)
			}
		case err != nil:
			return s, err
		default:
			c.progress(v, s, seen)
			if s.Status != synclog.StatusInProgress {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(c.poll):
		}
	}
}

// progress reports on stderr each stage whose state changed since the last poll, in
// the order the changes happened.
func (c *cli) progress(v view, s synclog.Sync, seen map[string]model.StageState) {
	type change struct {
		at    *time.Time // nil for a skipped stage
		stage synclog.Stage
	}
	var changes []change
	for _, st := range s.Stages {
		if st.State == model.StatePending || seen[st.Name] == st.State {
			continue
		}
		seen[st.Name] = st.State
		at := st.StartedAt
		if st.EndedAt != nil {
			at = st.EndedAt
		}
		changes = append(changes, change{at, st})
	}
	slices.SortStableFunc(changes, func(a, b change) int {
		switch {
		case a.at == nil && b.at == nil:
			return 0
		case a.at == nil: // skipped stages have no time; they come last
			return 1
		case b.at == nil:
			return -1
		}
		return a.at.Compare(*b.at)
	})
	for _, ch := range changes {
		fmt.Fprintf(c.stderr, "  %-8s  %-17s  %s\n", v.clock(ch.at, s.StartedAt, timeOfDay), ch.stage.Name, ch.stage.State)
	}
}

func (c *cli) syncs(ctx context.Context, g *globals, args []string) error {
	fs := c.flagSet("syncs", "", g)
	connector := fs.String("connector", "", "only syncs of the connector with this `id`")
	typ := fs.String("type", "", "only syncs of this `type`: full or incremental")
	statusFlag := fs.String("status", "", "only syncs with this `status`: in_progress, done or failed")
	level := fs.String("level", "", "only syncs with an entry at this `level`: DEBUG, INFO, WARN or ERROR")
	since := fs.String("since", "", "only syncs started within this `duration` before now, such as 24h or 7d")
	from := fs.String("from", "", "only syncs started at or after this RFC 3339 `time`")
	to := fs.String("to", "", "only syncs started before this RFC 3339 `time`")
	limit := fs.Int("limit", 0, "at most `N` syncs, 1 to 1000 (the API's default is 100)")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	f := synclog.Filter{ConnectorID: *connector}
	switch t := model.SyncType(strings.ToLower(*typ)); t {
	case "", model.SyncFull, model.SyncIncremental:
		f.Type = t
	default:
		return c.usageError(fs, "--type is %q; use full or incremental", *typ)
	}
	var err error
	if f.Status, err = synclog.ParseStatus(*statusFlag); err != nil {
		return c.usageError(fs, "--%v", err)
	}
	if f.Level, err = synclog.ParseLevel(*level); err != nil {
		return c.usageError(fs, "--%v", err)
	}
	if *since != "" {
		if *from != "" || *to != "" {
			return c.usageError(fs, "--since and --from/--to exclude each other")
		}
		d, err := parseSince(*since)
		if err != nil {
			return c.usageError(fs, "--since is %q; use a duration such as 90m, 24h or 7d", *since)
		}
		f.From = c.now().Add(-d)
	}
	for _, p := range []struct {
		name, value string
		to          *time.Time
	}{{"from", *from, &f.From}, {"to", *to, &f.To}} {
		if p.value == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, p.value)
		if err != nil {
			return c.usageError(fs, "--%s is %q; use an RFC 3339 time such as 2026-12-01T00:00:00Z", p.name, p.value)
		}
		*p.to = t
	}
	if *limit < 0 || *limit > 1000 {
		return c.usageError(fs, "--limit is %d; use a number from 1 to 1000", *limit)
	}
	f.Limit = *limit

	client, err := c.client(fs, g)
	if err != nil {
		return err
	}
	list, err := client.Syncs(ctx, f)
	if err != nil {
		return err
	}
	if g.json {
		return c.printJSON()
	}
	if len(list) == 0 {
		fmt.Fprintln(c.stdout, "no syncs match")
		return nil
	}
	return c.view(g).syncs(c.stdout, list)
}

func (c *cli) show(ctx context.Context, g *globals, args []string) error {
	fs := c.flagSet("show", "<sync-id>", g)
	level := fs.String("level", "", "only entries at this `level`: DEBUG, INFO, WARN or ERROR")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	lvl, err := synclog.ParseLevel(*level)
	if err != nil {
		return c.usageError(fs, "--%v", err)
	}
	client, err := c.client(fs, g)
	if err != nil {
		return err
	}
	s, entries, err := client.Sync(ctx, pos[0], lvl)
	if err != nil {
		return err
	}
	if g.json {
		return c.printJSON()
	}
	v := c.view(g)
	if err := v.summary(c.stdout, s); err != nil {
		return err
	}
	return v.entries(c.stdout, s, entries, lvl)
}

func (c *cli) validate(ctx context.Context, g *globals, args []string) error {
	fs := c.flagSet("validate", "[connector]", g)
	pos, err := c.parseRange(fs, args, 0, 1)
	if err != nil {
		return err
	}
	client, err := c.client(fs, g)
	if err != nil {
		return err
	}
	var ids []string
	var list []synclog.Validation
	if len(pos) == 1 {
		ids = pos
		if list, err = client.Validations(ctx, pos[0]); err != nil {
			return connectorError(pos[0], err)
		}
	} else {
		// The API leaves out connectors without a validation; the connector list names
		// them. It comes first, so --json prints the validations.
		connectors, err := client.Connectors(ctx)
		if err != nil {
			return err
		}
		if list, err = client.Validations(ctx, ""); err != nil {
			return err
		}
		for _, con := range connectors {
			ids = append(ids, con.ID)
		}
		for _, v := range list { // a connector configured between the two calls
			ids = append(ids, v.ConnectorID)
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}
	if g.json {
		err = c.printJSON()
	} else {
		err = c.view(g).validations(c.stdout, ids, list)
	}
	if err != nil {
		return err
	}
	for _, v := range list {
		if slices.ContainsFunc(v.Lines, func(l synclog.ValidationLine) bool { return !l.Match() }) {
			return errReported
		}
	}
	return nil
}

// connectorError words the API's answers about a connector for the command line.
func connectorError(id string, err error) error {
	var apiErr *controlapi.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	switch apiErr.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("the fetcher has no connector %q; list them with 'tributaryctl connectors'", id)
	case http.StatusConflict:
		return fmt.Errorf("a sync of %s is already running: %s; follow it with 'tributaryctl show %s'", id, apiErr.RunningSyncID, apiErr.RunningSyncID)
	}
	return err
}

// parseSince reads a positive duration; it also takes whole days, such as 7d.
func parseSince(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("duration %q is not a positive duration", s)
	}
	return d, nil
}
