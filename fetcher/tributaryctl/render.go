package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tributary-sec/tributary/internal/controlapi"
	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/synclog"
)

// view renders API values for people: times in one zone, durations rounded, counts
// grouped, and vendor text made safe for a terminal.
type view struct {
	loc *time.Location
	now time.Time
}

const (
	dateTime  = "2006-01-02 15:04:05"
	timeOfDay = "15:04:05"
)

// time is t as a date and time, "-" when unknown.
func (v view) time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(v.loc).Format(dateTime)
}

// timeZone is t as a date and time with its zone, for headers.
func (v view) timeZone(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.In(v.loc).Format(dateTime + " MST")
}

// clock is t as a time of day when it falls on day's date, else as a date and time.
func (v view) clock(t *time.Time, day time.Time, layout string) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	lt, ld := t.In(v.loc), day.In(v.loc)
	if lt.YearDay() == ld.YearDay() && lt.Year() == ld.Year() {
		return lt.Format(layout)
	}
	return lt.Format("2006-01-02 " + layout)
}

// duration is d rounded for reading: 0.4s, 12.3s, 3m12s, 1h4m0s.
func duration(d time.Duration) string {
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return d.Round(time.Second).String()
}

func seconds(s float64) string { return duration(time.Duration(s * float64(time.Second))) }

// count is n with thousands grouped: 12,480.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// syncType is "Full" or "Incremental".
func syncType(t model.SyncType) string {
	if t == "" {
		return "-"
	}
	return strings.ToUpper(string(t[:1])) + string(t[1:])
}

// status is a sync's status, naming the stage that failed.
func status(s synclog.Sync) string {
	if s.Status == synclog.StatusFailed && s.FailedStage != "" {
		return fmt.Sprintf("%s (%s)", s.Status, s.FailedStage)
	}
	return string(s.Status)
}

func records(s synclog.Sync) string {
	out := count(s.RecordsFetched) + " fetched, " + count(s.RecordsWritten) + " written"
	if s.RecordsFailed > 0 {
		out += ", " + count(s.RecordsFailed) + " failed"
	}
	return out
}

func stage(s synclog.Sync, name string) synclog.Stage {
	for _, st := range s.Stages {
		if st.Name == name {
			return st
		}
	}
	return synclog.Stage{Name: name, State: model.StatePending}
}

// ingestion is Initiating start to Fetching end, "-" until Fetching has ended.
func ingestion(s synclog.Sync) string {
	if stage(s, model.StageFetching).EndedAt == nil {
		return "-"
	}
	return seconds(s.IngestionSeconds)
}

// processing is Fetching end to the sync's end, "-" until both are known.
func processing(s synclog.Sync) string {
	if stage(s, model.StageFetching).EndedAt == nil || s.EndedAt == nil {
		return "-"
	}
	return seconds(s.ProcessingSeconds)
}

// total is the sync's duration, or how long it has run so far.
func (v view) total(s synclog.Sync) string {
	switch {
	case s.StartedAt.IsZero():
		return "-"
	case s.EndedAt != nil:
		return duration(s.EndedAt.Sub(s.StartedAt))
	default:
		return duration(v.now.Sub(s.StartedAt)) + " so far"
	}
}

// table writes aligned columns. Every cell goes through clean, so a vendor's message
// cannot move the cursor or break the columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if i > 0 {
			_, _ = io.WriteString(t.tw, "\t")
		}
		_, _ = io.WriteString(t.tw, clean(c))
	}
	_, _ = io.WriteString(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// clean escapes control characters (tabs, newlines, terminal escape sequences) and
// invalid UTF-8 in text that came from a vendor or the network.
func clean(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t', r == '\n':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// connectorStatus says where a connector stands: its last logged sync's status, or
// "running" for a sync the fetcher has started and the log does not show yet.
func connectorStatus(c controlapi.Connector) string {
	if c.RunningSyncID != "" && (c.LastSync == nil || c.LastSync.ID != c.RunningSyncID) {
		return "running"
	}
	if c.LastSync == nil {
		return "never synced"
	}
	return status(*c.LastSync)
}

func (v view) connectors(w io.Writer, list []controlapi.Connector) error {
	t := newTable(w, "ID", "NAME", "TYPE", "SCHEDULE", "LAST SYNC", "STATUS", "DURATION")
	for _, c := range list {
		last, dur := "-", "-"
		if c.LastSync != nil {
			last, dur = v.time(c.LastSync.StartedAt), v.total(*c.LastSync)
		}
		t.row(c.ID, c.Name, c.Type, orDash(c.Schedule), last, connectorStatus(c), dur)
	}
	return t.flush()
}

func (v view) syncs(w io.Writer, list []synclog.Sync) error {
	t := newTable(w, "STARTED", "ENDED", "CONNECTOR", "TYPE", "STATUS", "INGESTION", "PROCESSING", "RECORDS", "SYNC ID")
	for _, s := range list {
		t.row(v.time(s.StartedAt), v.clock(s.EndedAt, s.StartedAt, timeOfDay), s.ConnectorID, syncType(s.Type), status(s),
			ingestion(s), processing(s), records(s), s.ID)
	}
	return t.flush()
}

// checks writes a connectivity test's checks, each failure followed by its action.
func (v view) checks(w io.Writer, res controlapi.TestResult) error {
	t := newTable(w, "STAGE", "CHECK", "SCOPE", "RESULT")
	for _, c := range res.Checks {
		if c.OK {
			t.row(c.Stage, c.Name, orDash(c.Scope), "ok")
			continue
		}
		result := "FAILED"
		if e := c.Error; e != nil {
			result += ": " + e.Message
			if e.Code != "" {
				result += " (" + e.Code + ")"
			}
		}
		t.row(c.Stage, c.Name, orDash(c.Scope), result)
		if c.Error != nil && c.Error.RecommendedAction != "" {
			t.row("", "", "", "action: "+c.Error.RecommendedAction)
		}
	}
	return t.flush()
}

// summary writes a sync's header, its error with the recommended action, and its
// stages.
func (v view) summary(w io.Writer, s synclog.Sync) error {
	h := newTable(w)
	h.row("Sync", s.ID)
	h.row("Connector", fmt.Sprintf("%s (%s)", s.ConnectorID, s.ConnectorType))
	h.row("Type", syncType(s.Type))
	h.row("Status", status(s))
	started := s.StartedAt
	h.row("Started", v.timeZone(&started))
	h.row("Ended", v.timeZone(s.EndedAt))
	h.row("Duration", fmt.Sprintf("%s (ingestion %s, processing %s)", v.total(s), ingestion(s), processing(s)))
	h.row("Records", records(s))
	if err := h.flush(); err != nil {
		return err
	}
	if e := s.Error; e != nil {
		fmt.Fprintf(w, "\nFailed at %s: %s\n", orDash(s.FailedStage), clean(e.Message))
		if e.RecommendedAction != "" {
			fmt.Fprintf(w, "Recommended action: %s\n", clean(e.RecommendedAction))
		}
	}
	fmt.Fprintln(w)
	t := newTable(w, "STAGE", "STATE", "STARTED", "ENDED", "DURATION", "IN", "OUT", "FAILED")
	for _, st := range s.Stages {
		dur := "-"
		if st.StartedAt != nil && st.EndedAt != nil {
			dur = seconds(st.Seconds)
		}
		t.row(st.Name, string(st.State), v.clock(st.StartedAt, s.StartedAt, timeOfDay), v.clock(st.EndedAt, s.StartedAt, timeOfDay), dur,
			count(st.RecordsIn), count(st.RecordsOut), count(st.RecordsFailed))
	}
	return t.flush()
}

// entries writes a sync's log, each entry with an error followed by its technical block.
func (v view) entries(w io.Writer, s synclog.Sync, entries []synclog.Entry, level model.Level) error {
	title := "ENTRIES"
	if level != "" {
		title += " at " + string(level)
	}
	fmt.Fprintf(w, "\n%s\n", title)
	if len(entries) == 0 {
		fmt.Fprintln(w, "(none)")
		return nil
	}
	t := newTable(w, "TIME", "LEVEL", "STAGE", "MESSAGE")
	for _, e := range entries {
		at := e.Time
		t.row(v.clock(&at, s.StartedAt, timeOfDay+".000"), string(e.Level), orDash(e.Stage), e.Message)
		if e.Error != nil {
			for _, line := range technical(e.Error) {
				t.row("", "", "", line)
			}
		}
	}
	return t.flush()
}

// technical is the detail of a failure, one line each, labels aligned; multi-line
// values (a pretty-printed payload) continue under their label.
func technical(e *model.ErrorBlock) []string {
	var lines []string
	add := func(label, value string) {
		if value == "" {
			return
		}
		for i, l := range strings.Split(strings.TrimRight(value, "\n"), "\n") {
			if i > 0 {
				label = ""
			}
			lines = append(lines, fmt.Sprintf("%-11s %s", label, l))
		}
	}
	add("class", e.Class)
	add("root cause", e.RootCause)
	add("code", e.Code)
	add("details", e.Details)
	var headers []string
	for _, k := range slices.Sorted(maps.Keys(e.ResponseHeaders)) {
		headers = append(headers, k+": "+e.ResponseHeaders[k])
	}
	add("headers", strings.Join(headers, "\n"))
	add("payload", e.ResponsePayload)
	return lines
}

// validations writes each connector's newest data validation, in the order of ids, or
// says that it has none yet.
func (v view) validations(w io.Writer, ids []string, list []synclog.Validation) error {
	if len(ids) == 0 {
		fmt.Fprintln(w, "the fetcher has no connectors")
		return nil
	}
	byID := make(map[string]synclog.Validation, len(list))
	for _, val := range list {
		byID[val.ConnectorID] = val
	}
	for i, id := range ids {
		if i > 0 {
			fmt.Fprintln(w)
		}
		val, ok := byID[id]
		if !ok {
			fmt.Fprintf(w, "%s  no validation yet: run a sync (tributaryctl sync %s)\n", clean(id), clean(id))
			continue
		}
		if err := v.validation(w, val); err != nil {
			return err
		}
	}
	return nil
}

// validation writes one data validation: a line per vendor total, a mismatch marked
// DIFFERS, then the verdict.
func (v view) validation(w io.Writer, val synclog.Validation) error {
	at := val.Time
	fmt.Fprintf(w, "%s  sync %s  %s\n", clean(val.ConnectorID), clean(val.SyncID), v.timeZone(&at))
	if len(val.Lines) == 0 {
		fmt.Fprintln(w, "  the vendor reported no totals")
		return nil
	}
	// The first, empty column indents the table.
	rows := [][]string{{"", "OBJECT", "CLASS", "VENDOR", "TRIBUTARY", "DIFF", "RESULT", "SOURCE"}}
	differ := 0
	for _, l := range val.Lines {
		class, result := string(l.Class), "ok"
		if class == "" {
			class = "all"
		}
		if !l.Match() {
			result = "DIFFERS"
			differ++
		}
		rows = append(rows, []string{"", l.Object, class, count(l.Vendor), count(l.Stored), signed(l.Stored - l.Vendor), result, l.Source})
	}
	rightAlign(rows, 3, 4, 5)
	t := newTable(w)
	for _, r := range rows {
		t.row(r...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	switch differ {
	case 0:
		fmt.Fprintln(w, "  matches the vendor")
	case 1:
		fmt.Fprintf(w, "  1 of %d totals differs: see the sync log (tributaryctl show %s) for why\n", len(val.Lines), clean(val.SyncID))
	default:
		fmt.Fprintf(w, "  %d of %d totals differ: see the sync log (tributaryctl show %s) for why\n", differ, len(val.Lines), clean(val.SyncID))
	}
	return nil
}

// signed is count with a sign for a positive n too: +5, 0, -12.
func signed(n int64) string {
	if n > 0 {
		return "+" + count(n)
	}
	return count(n)
}

// rightAlign pads the cells of the columns cols on the left to one width, so a table,
// which aligns cells left, shows them aligned right. The cells must need no clean.
func rightAlign(rows [][]string, cols ...int) {
	for _, col := range cols {
		width := 0
		for _, r := range rows {
			width = max(width, utf8.RuneCountInString(r[col]))
		}
		for _, r := range rows {
			r[col] = strings.Repeat(" ", width-utf8.RuneCountInString(r[col])) + r[col]
		}
	}
}
