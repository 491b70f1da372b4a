package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// call is one trigger call: what it was asked to run and the (fake) time it was called.
type call struct {
	ConnectorID string
	ScheduledAt time.Time
	Now         time.Time
	SyncType    string
}

// jan2000 is a time in January 2000 UTC, where a synctest bubble's clock starts (1 January was a Saturday).
func jan2000(day, hh, mm int) time.Time { return time.Date(2000, 1, day, hh, mm, 0, 0, time.UTC) }

func TestRun(t *testing.T) {
	start := jan2000(1, 0, 0)
	tests := []struct {
		name        string
		jobs        func(t *testing.T) []Job
		busy        func(c call) time.Duration // how long trigger blocks
		runFor      time.Duration
		want        []call
		wantSkipped []time.Time // scheduled_at of "skipping" log records
		wantMissed  []time.Time // scheduled_at of "missed" log records
	}{
		{
			name: "fires at each instant over a week",
			jobs: func(t *testing.T) []Job {
				mwf := mustParse(t, Spec{At: "06:00", Days: []string{"mon", "wed", "fri"}})
				kolkata := mustParse(t, Spec{At: "02:30", TimeZone: "Asia/Kolkata", Type: "incremental"})
				return []Job{
					{ConnectorID: "mwf", Schedule: mwf, LastStarted: mwf.Prev(start)},
					{ConnectorID: "kolkata", Schedule: kolkata, LastStarted: kolkata.Prev(start)},
				}
			},
			runFor: 7 * 24 * time.Hour,
			want: []call{
				{"kolkata", jan2000(1, 21, 0), jan2000(1, 21, 0), "incremental"},
				{"kolkata", jan2000(2, 21, 0), jan2000(2, 21, 0), "incremental"},
				{"mwf", jan2000(3, 6, 0), jan2000(3, 6, 0), "full"},
				{"kolkata", jan2000(3, 21, 0), jan2000(3, 21, 0), "incremental"},
				{"kolkata", jan2000(4, 21, 0), jan2000(4, 21, 0), "incremental"},
				{"mwf", jan2000(5, 6, 0), jan2000(5, 6, 0), "full"},
				{"kolkata", jan2000(5, 21, 0), jan2000(5, 21, 0), "incremental"},
				{"kolkata", jan2000(6, 21, 0), jan2000(6, 21, 0), "incremental"},
				{"mwf", jan2000(7, 6, 0), jan2000(7, 6, 0), "full"},
				{"kolkata", jan2000(7, 21, 0), jan2000(7, 21, 0), "incremental"},
			},
		},
		{
			name: "several missed instants run once at start",
			jobs: func(t *testing.T) []Job {
				return []Job{{ConnectorID: "a", Schedule: mustParse(t, Spec{At: "02:00"}), LastStarted: jan2000(1, 0, 0).AddDate(0, 0, -3)}}
			},
			runFor: 2 * 24 * time.Hour,
			want: []call{
				{"a", time.Date(1999, 12, 31, 2, 0, 0, 0, time.UTC), start, "full"},
				{"a", jan2000(1, 2, 0), jan2000(1, 2, 0), "full"},
				{"a", jan2000(2, 2, 0), jan2000(2, 2, 0), "full"},
			},
			wantMissed: []time.Time{time.Date(1999, 12, 31, 2, 0, 0, 0, time.UTC)},
		},
		{
			name: "never synced runs at start",
			jobs: func(t *testing.T) []Job {
				return []Job{{ConnectorID: "a", Schedule: mustParse(t, Spec{At: "02:00", Days: []string{"wed"}})}}
			},
			runFor: 24 * time.Hour,
			want: []call{
				{"a", time.Date(1999, 12, 29, 2, 0, 0, 0, time.UTC), start, "full"},
			},
			wantMissed: []time.Time{time.Date(1999, 12, 29, 2, 0, 0, 0, time.UTC)},
		},
		{
			name: "started on an instant runs it once",
			jobs: func(t *testing.T) []Job {
				return []Job{{ConnectorID: "a", Schedule: mustParse(t, Spec{}), LastStarted: start.Add(-time.Hour)}}
			},
			runFor: 25 * time.Hour,
			want: []call{
				{"a", start, start, "full"},
				{"a", jan2000(2, 0, 0), jan2000(2, 0, 0), "full"},
			},
			wantMissed: []time.Time{start},
		},
		{
			name: "no missed run when the last start is after the latest instant",
			jobs: func(t *testing.T) []Job {
				return []Job{{ConnectorID: "a", Schedule: mustParse(t, Spec{At: "02:00"}), LastStarted: time.Date(1999, 12, 31, 2, 0, 1, 0, time.UTC)}}
			},
			runFor: 24 * time.Hour,
			want: []call{
				{"a", jan2000(1, 2, 0), jan2000(1, 2, 0), "full"},
			},
		},
		{
			name: "no missed run when the last start is on the latest instant",
			jobs: func(t *testing.T) []Job {
				return []Job{{ConnectorID: "a", Schedule: mustParse(t, Spec{At: "02:00"}), LastStarted: time.Date(1999, 12, 31, 2, 0, 0, 0, time.UTC)}}
			},
			runFor: 24 * time.Hour,
			want: []call{
				{"a", jan2000(1, 2, 0), jan2000(1, 2, 0), "full"},
			},
		},
		{
			name: "a long sync skips the instants it covers",
			jobs: func(t *testing.T) []Job {
				return []Job{{ConnectorID: "a", Schedule: mustParse(t, Spec{At: "02:00"}), LastStarted: start}}
			},
			busy: func(c call) time.Duration {
				if c.ScheduledAt.Equal(jan2000(1, 2, 0)) {
					return 50 * time.Hour // until 3 January 04:00
				}
				return time.Minute
			},
			runFor: 4 * 24 * time.Hour,
			want: []call{
				{"a", jan2000(1, 2, 0), jan2000(1, 2, 0), "full"},
				{"a", jan2000(4, 2, 0), jan2000(4, 2, 0), "full"},
			},
			wantSkipped: []time.Time{jan2000(2, 2, 0), jan2000(3, 2, 0)},
		},
		{
			name: "a sync ending exactly on the next instant does not skip it",
			jobs: func(t *testing.T) []Job {
				return []Job{{ConnectorID: "a", Schedule: mustParse(t, Spec{At: "02:00"}), LastStarted: start}}
			},
			busy:   func(call) time.Duration { return 24 * time.Hour },
			runFor: 2*24*time.Hour + 3*time.Hour,
			want: []call{
				{"a", jan2000(1, 2, 0), jan2000(1, 2, 0), "full"},
				{"a", jan2000(2, 2, 0), jan2000(2, 2, 0), "full"},
				{"a", jan2000(3, 2, 0), jan2000(3, 2, 0), "full"},
			},
		},
		{
			name: "a long missed run skips the instants it covers",
			jobs: func(t *testing.T) []Job {
				return []Job{{ConnectorID: "a", Schedule: mustParse(t, Spec{At: "02:00"})}}
			},
			busy: func(c call) time.Duration {
				if c.Now.Equal(start) {
					return 3 * time.Hour
				}
				return time.Minute
			},
			runFor: 2 * 24 * time.Hour,
			want: []call{
				{"a", time.Date(1999, 12, 31, 2, 0, 0, 0, time.UTC), start, "full"},
				{"a", jan2000(2, 2, 0), jan2000(2, 2, 0), "full"},
			},
			wantSkipped: []time.Time{jan2000(1, 2, 0)},
			wantMissed:  []time.Time{time.Date(1999, 12, 31, 2, 0, 0, 0, time.UTC)},
		},
		{
			name: "a disabled job never fires",
			jobs: func(t *testing.T) []Job {
				return []Job{
					{ConnectorID: "off", Schedule: mustParse(t, Spec{At: "02:00", Disabled: true})},
					{ConnectorID: "on", Schedule: mustParse(t, Spec{At: "02:00", Days: []string{"mon"}}), LastStarted: start},
				}
			},
			runFor: 7 * 24 * time.Hour,
			want: []call{
				{"on", jan2000(3, 2, 0), jan2000(3, 2, 0), "full"},
			},
		},
		{
			name:   "no jobs",
			jobs:   func(*testing.T) []Job { return nil },
			runFor: 24 * time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				if now := time.Now(); !now.Equal(start) {
					t.Fatalf("the bubble starts at %v, this test expects %v", now, start)
				}
				var (
					mu    sync.Mutex
					calls []call
				)
				trigger := func(ctx context.Context, id string, scheduledAt time.Time, syncType string) {
					c := call{id, scheduledAt.UTC(), time.Now().UTC(), syncType}
					mu.Lock()
					calls = append(calls, c)
					mu.Unlock()
					busy := time.Second
					if tt.busy != nil {
						busy = tt.busy(c)
					}
					select {
					case <-ctx.Done():
					case <-time.After(busy):
					}
				}
				var logs bytes.Buffer
				log := slog.New(slog.NewJSONHandler(&logs, nil))

				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error)
				go func() { done <- Run(ctx, tt.jobs(t), trigger, log) }()
				time.Sleep(tt.runFor)
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}

				slices.SortStableFunc(calls, func(a, b call) int {
					if c := a.Now.Compare(b.Now); c != 0 {
						return c
					}
					return strings.Compare(a.ConnectorID, b.ConnectorID)
				})
				if !slices.Equal(calls, tt.want) {
					t.Errorf("trigger calls:\n got %v\nwant %v", calls, tt.want)
				}
				if got := loggedAt(t, &logs, "skipping scheduled sync"); !slices.EqualFunc(got, tt.wantSkipped, time.Time.Equal) {
					t.Errorf("logged skipped instants %v, want %v", got, tt.wantSkipped)
				}
				if got := loggedAt(t, &logs, "running a missed scheduled sync"); !slices.EqualFunc(got, tt.wantMissed, time.Time.Equal) {
					t.Errorf("logged missed instants %v, want %v", got, tt.wantMissed)
				}
			})
		})
	}
}

// loggedAt returns scheduled_at of the Info records whose message starts with msg.
func loggedAt(t *testing.T, logs *bytes.Buffer, msg string) []time.Time {
	t.Helper()
	var out []time.Time
	dec := json.NewDecoder(bytes.NewReader(logs.Bytes()))
	for dec.More() {
		var rec struct {
			Level       string    `json:"level"`
			Msg         string    `json:"msg"`
			ScheduledAt time.Time `json:"scheduled_at"`
		}
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("decoding a log record: %v", err)
		}
		if strings.HasPrefix(rec.Msg, msg) {
			if rec.Level != "INFO" {
				t.Errorf("%q logged at %s, want INFO", rec.Msg, rec.Level)
			}
			out = append(out, rec.ScheduledAt)
		}
	}
	return out
}

func TestRunStopsPromptly(t *testing.T) {
	tests := []struct {
		name     string
		cancelAt time.Duration // after start
		busy     time.Duration
	}{
		{"while waiting for the next instant", 90 * time.Minute, time.Minute},
		{"during a sync", 3 * time.Hour, 10 * time.Hour},
		{"at start", 0, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				trigger := func(ctx context.Context, _ string, _ time.Time, _ string) {
					select {
					case <-ctx.Done():
					case <-time.After(tt.busy):
					}
				}
				jobs := []Job{
					{ConnectorID: "a", Schedule: mustParse(t, Spec{At: "02:00"}), LastStarted: start},
					{ConnectorID: "b", Schedule: mustParse(t, Spec{At: "03:00", Days: []string{"sun"}})},
					{ConnectorID: "c", Schedule: mustParse(t, Spec{Disabled: true})},
				}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error)
				go func() { done <- Run(ctx, jobs, trigger, nil) }()
				time.Sleep(tt.cancelAt)
				cancel()
				synctest.Wait()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("Run returned %v, want nil", err)
					}
				default:
					t.Fatal("Run did not return once ctx was cancelled")
				}
				if got, want := time.Since(start), tt.cancelAt; got != want {
					t.Errorf("Run returned %v after start, want %v (no fake time may pass)", got, want)
				}
			})
		})
	}
}

func TestRunRejectsBadJobs(t *testing.T) {
	daily := Schedule{}
	nop := func(context.Context, string, time.Time, string) {}
	tests := []struct {
		name    string
		jobs    []Job
		trigger func(context.Context, string, time.Time, string)
		want    string
	}{
		{"empty connector id", []Job{{ConnectorID: "a", Schedule: daily}, {Schedule: daily}}, nop, "scheduling job 1: connector id is empty"},
		{"duplicate connector id", []Job{{ConnectorID: "a", Schedule: daily}, {ConnectorID: "a", Schedule: daily}}, nop, "scheduling connector a: it has more than one job"},
		{"nil trigger", []Job{{ConnectorID: "a", Schedule: daily}}, nil, "trigger is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				err := Run(t.Context(), tt.jobs, tt.trigger, nil)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Run = %v, want an error containing %q", err, tt.want)
				}
			})
		})
	}
}
