// Package schedule parses a connector's sync schedule (a time of day, weekdays, a time zone) and runs syncs at its instants.
// A local time skipped by a spring-forward runs later by the gap (02:30 → 03:30 in Europe/Paris) in every zone;
// a local time that occurs twice in autumn runs once, at its first occurrence.
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
)

// Spec is a connector's `schedule:` block in the connectors YAML file.
type Spec struct {
	At       string   `yaml:"at"`        // "HH:MM", 24-hour; default "00:00"
	Days     []string `yaml:"days"`      // mon, tue, wed, thu, fri, sat, sun (also full names, case-insensitive); default every day
	TimeZone string   `yaml:"time_zone"` // IANA name, default "UTC"
	Type     string   `yaml:"type"`      // sync type to run: "full" (default) or "incremental"
	Disabled bool     `yaml:"disabled"`  // true: only on demand
}

// Schedule is a parsed Spec; the zero Schedule is Parse(Spec{}): a full sync daily at 00:00 UTC.
type Schedule struct {
	hour, minute int
	days         uint8          // bit i set: time.Weekday(i) is scheduled; 0 means every day
	loc          *time.Location // nil means UTC
	syncType     string         // "" means full
	disabled     bool
}

// dayNames maps the accepted day names to weekdays.
var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "sunday": time.Sunday,
	"mon": time.Monday, "monday": time.Monday,
	"tue": time.Tuesday, "tuesday": time.Tuesday,
	"wed": time.Wednesday, "wednesday": time.Wednesday,
	"thu": time.Thursday, "thursday": time.Thursday,
	"fri": time.Friday, "friday": time.Friday,
	"sat": time.Saturday, "saturday": time.Saturday,
}

const everyDay = 1<<7 - 1

// Parse validates s and reports every bad value, naming it and the fix.
func Parse(s Spec) (Schedule, error) {
	var sch Schedule
	var errs []error
	if s.At != "" {
		h, m, ok := parseClock(s.At)
		if !ok {
			errs = append(errs, fmt.Errorf(`schedule.at is %q; use HH:MM in 24-hour time, e.g. "02:30"`, s.At))
		}
		sch.hour, sch.minute = h, m
	}
	for _, d := range s.Days {
		wd, ok := dayNames[strings.ToLower(strings.TrimSpace(d))]
		if !ok {
			errs = append(errs, fmt.Errorf(`schedule.days has %q; use mon, tue, wed, thu, fri, sat or sun (or the full name, e.g. "monday")`, d))
			continue
		}
		sch.days |= 1 << wd
	}
	if sch.days == everyDay {
		sch.days = 0
	}
	switch s.TimeZone {
	case "", "UTC":
	case "Local":
		// The host's zone would make the schedule depend on where the fetcher runs.
		errs = append(errs, errors.New(`schedule.time_zone is "Local"; name the zone explicitly with an IANA name like "Europe/Paris", or "UTC"`))
	default:
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			errs = append(errs, fmt.Errorf(`schedule.time_zone is %q, which is not a known time zone; use an IANA name like "Europe/Paris" or "America/New_York", or "UTC"`, s.TimeZone))
		}
		sch.loc = loc
	}
	switch model.SyncType(s.Type) {
	case "", model.SyncFull:
	case model.SyncIncremental:
		sch.syncType = s.Type
	default:
		errs = append(errs, fmt.Errorf(`schedule.type is %q; use "full" or "incremental"`, s.Type))
	}
	sch.disabled = s.Disabled
	if len(errs) > 0 {
		return Schedule{}, errors.Join(errs...)
	}
	return sch, nil
}

// parseClock parses "HH:MM" (the hour may have one digit) in 24-hour time.
func parseClock(s string) (hour, minute int, ok bool) {
	hh, mm, found := strings.Cut(s, ":")
	if !found || len(hh) < 1 || len(hh) > 2 || len(mm) != 2 || !digits(hh) || !digits(mm) {
		return 0, 0, false
	}
	h, _ := strconv.Atoi(hh)
	m, _ := strconv.Atoi(mm)
	if h > 23 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Disabled reports whether the connector syncs only on demand.
func (s Schedule) Disabled() bool { return s.disabled }

// SyncType is the sync type to run at each instant: "full" or "incremental".
func (s Schedule) SyncType() string {
	if s.syncType == "" {
		return string(model.SyncFull)
	}
	return s.syncType
}

// Next returns the first scheduled instant strictly after after, or the zero time for a disabled schedule.
func (s Schedule) Next(after time.Time) time.Time {
	if s.disabled {
		return time.Time{}
	}
	y, m, d := after.In(s.location()).Date()
	// Start a day early in case a spring-forward gap pushed yesterday's instant past midnight.
	for i := -1; i <= 8; i++ {
		if !s.scheduledOn(y, m, d+i) {
			continue
		}
		if t := s.instant(y, m, d+i); t.After(after) {
			return t
		}
	}
	return time.Time{}
}

// Prev returns the latest scheduled instant at or before atOrBefore, or the zero time if there is none in the previous 8 days
// (only for a disabled schedule).
func (s Schedule) Prev(atOrBefore time.Time) time.Time {
	if s.disabled {
		return time.Time{}
	}
	y, m, d := atOrBefore.In(s.location()).Date()
	for i := 1; i >= -8; i-- {
		if !s.scheduledOn(y, m, d+i) {
			continue
		}
		if t := s.instant(y, m, d+i); !t.After(atOrBefore) {
			return t
		}
	}
	return time.Time{}
}

// String describes the schedule, e.g. "daily at 02:30 Europe/Paris", "mon, wed, fri at 06:00 UTC" or "on demand only".
func (s Schedule) String() string {
	if s.disabled {
		return "on demand only"
	}
	days := "daily"
	if s.days != 0 {
		var names []string
		for _, wd := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
			if s.days&(1<<wd) != 0 {
				names = append(names, strings.ToLower(wd.String()[:3]))
			}
		}
		days = strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s at %02d:%02d %s", days, s.hour, s.minute, s.location())
}

func (s Schedule) location() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}

// scheduledOn reports whether the civil date y-m-d (d may overflow the month) is a scheduled weekday.
func (s Schedule) scheduledOn(y int, m time.Month, d int) bool {
	return s.days == 0 || s.days&(1<<time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday()) != 0
}

// instant returns when the schedule's wall-clock time falls on the civil date y-m-d in its zone.
// time.Date alone is not enough: for a time that occurs twice it may pick either occurrence, and for a
// time that does not exist it moves forward east of UTC but backward (to an earlier real time) west of it.
func (s Schedule) instant(y int, m time.Month, d int) time.Time {
	loc := s.location()
	wall := time.Date(y, m, d, s.hour, s.minute, 0, 0, time.UTC) // the wall clock read as if its offset were 0
	at := func(offset int) time.Time { return wall.Add(-time.Duration(offset) * time.Second).In(loc) }
	t := time.Date(y, m, d, s.hour, s.minute, 0, 0, loc)
	start, end := t.ZoneBounds()
	cur := offset(t)

	// Every occurrence of the wall time lies in t's zone period or one next to it; take the earliest.
	type transition struct {
		at            time.Time
		before, after int // offsets before and from at
	}
	var edges []transition
	if !start.IsZero() {
		edges = append(edges, transition{start, offset(start.Add(-time.Nanosecond)), cur})
	}
	if !end.IsZero() {
		edges = append(edges, transition{end, cur, offset(end)})
	}
	var first time.Time
	if offset(at(cur)) == cur {
		first = at(cur)
	}
	for _, e := range edges {
		for _, off := range []int{e.before, e.after} {
			if u := at(off); offset(u) == off && (first.IsZero() || u.Before(first)) {
				first = u
			}
		}
	}
	if !first.IsZero() {
		return first
	}

	// The wall time falls in a spring-forward gap: read it with the offset from before the jump, so it
	// runs as long after the jump as it is after the jump's old-clock reading (02:00 → 03:00 makes 02:30 03:30).
	for _, e := range edges {
		if e.after > e.before && !at(e.before).Before(e.at) && at(e.after).Before(e.at) {
			return at(e.before)
		}
	}
	return t
}

func offset(t time.Time) int {
	_, off := t.Zone()
	return off
}
