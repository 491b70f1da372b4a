package schedule

import (
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, s Spec) Schedule {
	t.Helper()
	sch, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%+v): %v", s, err)
	}
	return sch
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("loading time zone %s: %v", name, err)
	}
	return loc
}

func TestParse(t *testing.T) {
	tests := []struct {
		name         string
		spec         Spec
		wantString   string
		wantType     string
		wantDisabled bool
	}{
		{"defaults", Spec{}, "daily at 00:00 UTC", "full", false},
		{"time zone", Spec{At: "02:30", TimeZone: "Europe/Paris"}, "daily at 02:30 Europe/Paris", "full", false},
		{"weekdays in week order", Spec{At: "06:00", Days: []string{"fri", "mon", "wed"}}, "mon, wed, fri at 06:00 UTC", "full", false},
		{"full names any case, repeats", Spec{At: "23:59", Days: []string{"Sunday", "SAT", "sun"}}, "sat, sun at 23:59 UTC", "full", false},
		{"every day listed is daily", Spec{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}}, "daily at 00:00 UTC", "full", false},
		{"empty days is daily", Spec{At: "12:00", Days: []string{}}, "daily at 12:00 UTC", "full", false},
		{"one-digit hour", Spec{At: "7:05"}, "daily at 07:05 UTC", "full", false},
		{"explicit UTC", Spec{TimeZone: "UTC"}, "daily at 00:00 UTC", "full", false},
		{"incremental", Spec{At: "02:30", TimeZone: "Asia/Kolkata", Type: "incremental"}, "daily at 02:30 Asia/Kolkata", "incremental", false},
		{"explicit full", Spec{Type: "full"}, "daily at 00:00 UTC", "full", false},
		{"disabled", Spec{At: "02:30", Disabled: true}, "on demand only", "full", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.spec)
			if got := s.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
			if got := s.SyncType(); got != tt.wantType {
				t.Errorf("SyncType() = %q, want %q", got, tt.wantType)
			}
			if got := s.Disabled(); got != tt.wantDisabled {
				t.Errorf("Disabled() = %v, want %v", got, tt.wantDisabled)
			}
		})
	}
}

func TestZeroScheduleIsParsedEmptySpec(t *testing.T) {
	var zero Schedule
	parsed := mustParse(t, Spec{})
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	if zero.String() != parsed.String() || zero.SyncType() != parsed.SyncType() || !zero.Next(at).Equal(parsed.Next(at)) {
		t.Errorf("zero Schedule %q/%s/%v differs from Parse(Spec{}) %q/%s/%v",
			zero, zero.SyncType(), zero.Next(at), parsed, parsed.SyncType(), parsed.Next(at))
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want []string // substrings: the bad value and the fix
	}{
		{"hour out of range", Spec{At: "25:00"}, []string{`schedule.at is "25:00"`, `use HH:MM in 24-hour time, e.g. "02:30"`}},
		{"24:00", Spec{At: "24:00"}, []string{`schedule.at is "24:00"`, "use HH:MM"}},
		{"minute out of range", Spec{At: "02:60"}, []string{`schedule.at is "02:60"`, "use HH:MM"}},
		{"12-hour clock", Spec{At: "2:30pm"}, []string{`schedule.at is "2:30pm"`, "24-hour"}},
		{"seconds", Spec{At: "02:30:00"}, []string{`schedule.at is "02:30:00"`, "use HH:MM"}},
		{"no colon", Spec{At: "0230"}, []string{`schedule.at is "0230"`, "use HH:MM"}},
		{"one-digit minute", Spec{At: "02:3"}, []string{`schedule.at is "02:3"`, "use HH:MM"}},
		{"sign", Spec{At: "+2:30"}, []string{`schedule.at is "+2:30"`, "use HH:MM"}},
		{"unknown day", Spec{Days: []string{"mon", "funday"}}, []string{`schedule.days has "funday"`, "use mon, tue, wed, thu, fri, sat or sun"}},
		{"empty day", Spec{Days: []string{""}}, []string{`schedule.days has ""`, "use mon, tue"}},
		{"day abbreviation too short", Spec{Days: []string{"tu"}}, []string{`schedule.days has "tu"`, "use mon"}},
		{"unknown time zone", Spec{TimeZone: "Paris"}, []string{`schedule.time_zone is "Paris"`, "not a known time zone", `IANA name like "Europe/Paris"`}},
		{"abbreviation time zone", Spec{TimeZone: "CEST"}, []string{`schedule.time_zone is "CEST"`, `IANA name like "Europe/Paris"`}},
		{"Local time zone", Spec{TimeZone: "Local"}, []string{`schedule.time_zone is "Local"`, `IANA name like "Europe/Paris"`}},
		{"unknown type", Spec{Type: "delta"}, []string{`schedule.type is "delta"`, `use "full" or "incremental"`}},
		{"type is case-sensitive", Spec{Type: "Full"}, []string{`schedule.type is "Full"`, `use "full" or "incremental"`}},
		{"bad values in a disabled spec", Spec{At: "99:99", Disabled: true}, []string{`schedule.at is "99:99"`}},
		{"every bad value is reported", Spec{At: "25:00", Days: []string{"xyz"}, TimeZone: "Mars/Base", Type: "delta"},
			[]string{`"25:00"`, `"xyz"`, `"Mars/Base"`, `"delta"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.spec)
			if err == nil {
				t.Fatalf("Parse(%+v) = %v, want an error", tt.spec, s)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNextPrev(t *testing.T) {
	utc := time.UTC
	paris := mustLoad(t, "Europe/Paris")
	newYork := mustLoad(t, "America/New_York")
	kolkata := mustLoad(t, "Asia/Kolkata")
	santiago := mustLoad(t, "America/Santiago")
	lordHowe := mustLoad(t, "Australia/Lord_Howe")
	// 2026: 1 March is a Sunday; Europe springs forward on 29 March and falls back on 25 October,
	// the US on 8 March and 1 November.
	z := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, utc) }

	tests := []struct {
		name     string
		spec     Spec
		t        time.Time
		wantNext time.Time
		wantPrev time.Time
	}{
		{"later today", Spec{At: "02:30"}, z(2026, 3, 10, 1, 0), z(2026, 3, 10, 2, 30), z(2026, 3, 9, 2, 30)},
		{"exactly on an instant: Next strictly after, Prev inclusive", Spec{At: "02:30"},
			z(2026, 3, 10, 2, 30), z(2026, 3, 11, 2, 30), z(2026, 3, 10, 2, 30)},
		{"a nanosecond before", Spec{At: "02:30"}, z(2026, 3, 10, 2, 30).Add(-time.Nanosecond), z(2026, 3, 10, 2, 30), z(2026, 3, 9, 2, 30)},
		{"a nanosecond after", Spec{At: "02:30"}, z(2026, 3, 10, 2, 30).Add(time.Nanosecond), z(2026, 3, 11, 2, 30), z(2026, 3, 10, 2, 30)},
		{"across the year", Spec{At: "23:59"}, z(2026, 12, 31, 23, 59), z(2027, 1, 1, 23, 59), z(2026, 12, 31, 23, 59)},
		{"midnight", Spec{}, z(2026, 2, 28, 23, 0), z(2026, 3, 1, 0, 0), z(2026, 2, 28, 0, 0)},
		{"leap day", Spec{At: "12:00"}, z(2028, 2, 28, 13, 0), z(2028, 2, 29, 12, 0), z(2028, 2, 28, 12, 0)},
		{"weekdays: friday to monday", Spec{At: "06:00", Days: []string{"mon", "wed", "fri"}},
			z(2026, 3, 13, 6, 0), z(2026, 3, 16, 6, 0), z(2026, 3, 13, 6, 0)},
		{"weekdays: weekend", Spec{At: "06:00", Days: []string{"mon", "wed", "fri"}},
			z(2026, 3, 15, 12, 0), z(2026, 3, 16, 6, 0), z(2026, 3, 13, 6, 0)},
		{"one day a week", Spec{At: "06:00", Days: []string{"sunday"}},
			z(2026, 3, 15, 6, 0), z(2026, 3, 22, 6, 0), z(2026, 3, 15, 6, 0)},
		{"one day a week, just before", Spec{At: "06:00", Days: []string{"sunday"}},
			z(2026, 3, 15, 5, 59), z(2026, 3, 15, 6, 0), z(2026, 3, 8, 6, 0)},
		{"Kolkata 02:30 is the previous UTC day", Spec{At: "02:30", TimeZone: "Asia/Kolkata"},
			z(2026, 3, 10, 20, 0), z(2026, 3, 10, 21, 0), z(2026, 3, 9, 21, 0)},
		{"Kolkata on an instant", Spec{At: "02:30", TimeZone: "Asia/Kolkata"},
			z(2026, 3, 10, 21, 0), z(2026, 3, 11, 21, 0), z(2026, 3, 10, 21, 0)},
		{"weekday is the zone's: monday 02:30 Kolkata is sunday UTC", Spec{At: "02:30", Days: []string{"mon"}, TimeZone: "Asia/Kolkata"},
			z(2026, 3, 14, 0, 0), z(2026, 3, 15, 21, 0), z(2026, 3, 8, 21, 0)},
		{"weekday is the zone's: friday 22:00 New York is saturday UTC", Spec{At: "22:00", Days: []string{"fri"}, TimeZone: "America/New_York"},
			z(2026, 3, 13, 12, 0), z(2026, 3, 14, 2, 0), z(2026, 3, 7, 3, 0)},
		{"New York across spring-forward", Spec{At: "09:00", TimeZone: "America/New_York"},
			z(2026, 3, 7, 14, 0), z(2026, 3, 8, 13, 0), z(2026, 3, 7, 14, 0)},
		{"Paris spring-forward: 02:30 does not exist, runs at 03:30 CEST", Spec{At: "02:30", TimeZone: "Europe/Paris"},
			z(2026, 3, 28, 12, 0), z(2026, 3, 29, 1, 30), z(2026, 3, 28, 1, 30)},
		{"Paris day after spring-forward", Spec{At: "02:30", TimeZone: "Europe/Paris"},
			z(2026, 3, 29, 1, 30), z(2026, 3, 30, 0, 30), z(2026, 3, 29, 1, 30)},
		{"Paris spring-forward at the boundary", Spec{At: "02:00", TimeZone: "Europe/Paris"},
			z(2026, 3, 28, 12, 0), z(2026, 3, 29, 1, 0), z(2026, 3, 28, 1, 0)},
		{"Paris 03:00 on spring-forward day exists", Spec{At: "03:00", TimeZone: "Europe/Paris"},
			z(2026, 3, 28, 12, 0), z(2026, 3, 29, 1, 0), z(2026, 3, 28, 2, 0)},
		{"New York spring-forward: 02:30 runs at 03:30 EDT, not 01:30 EST", Spec{At: "02:30", TimeZone: "America/New_York"},
			z(2026, 3, 8, 5, 0), z(2026, 3, 8, 7, 30), z(2026, 3, 7, 7, 30)},
		{"Santiago spring-forward at midnight stays on its day", Spec{Days: []string{"sun"}, TimeZone: "America/Santiago"},
			z(2026, 9, 5, 12, 0), z(2026, 9, 6, 4, 0), z(2026, 8, 30, 4, 0)},
		{"Lord Howe half-hour spring-forward", Spec{At: "02:15", TimeZone: "Australia/Lord_Howe"},
			z(2026, 10, 3, 12, 0), z(2026, 10, 3, 15, 45), z(2026, 10, 2, 15, 45)},
		{"Paris fall-back: first occurrence (CEST)", Spec{At: "02:30", TimeZone: "Europe/Paris"},
			z(2026, 10, 24, 12, 0), z(2026, 10, 25, 0, 30), z(2026, 10, 24, 0, 30)},
		{"Paris fall-back: not again at the second occurrence", Spec{At: "02:30", TimeZone: "Europe/Paris"},
			z(2026, 10, 25, 0, 30), z(2026, 10, 26, 1, 30), z(2026, 10, 25, 0, 30)},
		{"Paris fall-back: between the occurrences", Spec{At: "02:30", TimeZone: "Europe/Paris"},
			z(2026, 10, 25, 1, 30), z(2026, 10, 26, 1, 30), z(2026, 10, 25, 0, 30)},
		{"New York fall-back: first occurrence (EDT)", Spec{At: "01:30", TimeZone: "America/New_York"},
			z(2026, 11, 1, 4, 0), z(2026, 11, 1, 5, 30), z(2026, 10, 31, 5, 30)},
		{"New York fall-back: not again at the second occurrence", Spec{At: "01:30", TimeZone: "America/New_York"},
			z(2026, 11, 1, 6, 30), z(2026, 11, 2, 6, 30), z(2026, 11, 1, 5, 30)},
		{"Lord Howe half-hour fall-back: first occurrence", Spec{At: "01:45", TimeZone: "Australia/Lord_Howe"},
			z(2026, 4, 4, 12, 0), z(2026, 4, 4, 14, 45), z(2026, 4, 3, 14, 45)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.spec)
			if got := s.Next(tt.t); !got.Equal(tt.wantNext) {
				t.Errorf("Next(%v) = %v (%v), want %v", tt.t, got.UTC(), got, tt.wantNext)
			}
			if got := s.Prev(tt.t); !got.Equal(tt.wantPrev) {
				t.Errorf("Prev(%v) = %v (%v), want %v", tt.t, got.UTC(), got, tt.wantPrev)
			}
			// The argument's zone must not matter.
			for _, loc := range []*time.Location{paris, newYork, kolkata, santiago, lordHowe} {
				if got := s.Next(tt.t.In(loc)); !got.Equal(tt.wantNext) {
					t.Errorf("Next(%v) = %v, want %v", tt.t.In(loc), got.UTC(), tt.wantNext)
				}
			}
		})
	}
}

// TestNextPrevConsistent walks a year in steps of about three hours in zones with odd transitions and checks that Next
// and Prev agree, that instants fall on the configured wall clock unless it does not exist that day,
// and that each scheduled day has exactly one instant.
func TestNextPrevConsistent(t *testing.T) {
	zones := []string{"UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "America/Santiago", "Australia/Lord_Howe", "America/Havana"}
	ats := []string{"00:00", "00:30", "01:30", "02:00", "02:30", "03:00", "23:30"}
	for _, zone := range zones {
		t.Run(zone, func(t *testing.T) {
			t.Parallel()
			for _, at := range ats {
				checkConsistent(t, mustParse(t, Spec{At: at, TimeZone: zone, Days: []string{"mon", "tue", "wed", "thu", "sat", "sun"}}), at)
			}
		})
	}
}

func checkConsistent(t *testing.T, s Schedule, at string) {
	t.Helper()
	loc := s.location()
	seen := map[string]time.Time{} // local date → its instant
	for tt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); tt.Year() == 2026; tt = tt.Add(3*time.Hour + 11*time.Minute) {
		next, prev := s.Next(tt), s.Prev(tt)
		if !next.After(tt) || prev.After(tt) || prev.IsZero() {
			t.Fatalf("%s: Prev(%v) = %v, Next = %v: not around it", s, tt, prev, next)
		}
		if got := s.Next(prev); !got.Equal(next) {
			t.Fatalf("%s: Next(Prev(%v)) = %v, want Next = %v: an instant in between", s, tt, got, next)
		}
		if got := s.Prev(next); !got.Equal(next) {
			t.Fatalf("%s: Prev(Next(%v)) = %v, want %v", s, tt, got, next)
		}
		local := next.In(loc)
		if local.Weekday() == time.Friday {
			t.Fatalf("%s: Next(%v) = %v is a friday", s, tt, local)
		}
		day := local.Format(time.DateOnly)
		if other, ok := seen[day]; ok && !other.Equal(next) {
			t.Fatalf("%s: two instants on %s: %v and %v", s, day, other, next)
		}
		seen[day] = next
		if got := local.Format("15:04"); got != at {
			// Only a wall clock skipped by a transition in the last day may move, and only forward.
			if _, end := local.Add(-24 * time.Hour).ZoneBounds(); !(got > at && next.Sub(end) < 24*time.Hour) {
				t.Fatalf("%s: Next(%v) = %v, not at %s", s, tt, local, at)
			}
		}
	}
}

func TestDisabledHasNoInstants(t *testing.T) {
	s := mustParse(t, Spec{At: "02:30", Disabled: true})
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	if got := s.Next(now); !got.IsZero() {
		t.Errorf("Next = %v, want zero", got)
	}
	if got := s.Prev(now); !got.IsZero() {
		t.Errorf("Prev = %v, want zero", got)
	}
}
