package registry

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/tributary-sec/tributary/internal/avro"
	"github.com/tributary-sec/tributary/internal/model"
)

// The registry stand-in is franz-go's srfake: Confluent's REST API over HTTP, in
// memory, one id per distinct schema whatever the subject.

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// oneOfEach is a record of every type Tributary writes.
func oneOfEach() []any {
	score := 9.8
	return []any{
		&model.RawRecord{SyncID: "sync-1", ConnectorID: "aws-prod", Kind: "finding", FetchedAt: t0, Payload: []byte(`{"findingArn":"arn:1"}`)},
		&model.SyncEnd{SyncID: "sync-1", SyncType: model.SyncFull, Stage: model.StageFetching, SourcePartitions: 6, Records: 12, FetchStartedAt: t0},
		&model.Asset{ConnectorID: "aws-prod", UID: "i-0abc", Class: model.ClassDevice, Name: "web-1", IPv4: []string{"10.0.0.1"}, FetchedAt: t0},
		&model.Finding{ConnectorID: "aws-prod", UID: "arn:1", AssetUIDs: []string{"i-0abc"}, Score: &score, FetchedAt: t0},
		&model.EnrichedFinding{Finding: model.Finding{UID: "arn:1", FetchedAt: t0}, Severity: model.SeverityCritical, Status: model.StatusActive,
			Transition: &model.Transition{NewStatus: model.StatusActive, Reason: "new"}},
		&model.EnrichedAsset{Asset: model.Asset{UID: "i-0abc", FetchedAt: t0}, State: model.AssetActive},
		&model.StageEvent{SyncID: "sync-1", Stage: model.StageFetching, State: model.StateRunning, Time: t0, StartedAt: t0},
		&model.PartitionDone{SyncID: "sync-1", Stage: model.StageProcessing, Partition: 1, Partitions: 6, Time: t0},
		&model.VendorCounts{SyncID: "sync-1", Counts: []model.VendorCount{{Object: model.ObjectFindings, Count: 3}}, Time: t0},
		&model.DeadLetter{Topic: "tributary.raw.v1", Value: []byte{0xc3, 0x01}, Reason: "short", Time: t0},
	}
}

func codec(t *testing.T, cfg Config) *avro.Codec {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Codec(t.Context())
	if err != nil {
		t.Fatalf("Codec: %v", err)
	}
	return c
}

// TestRoundTrip registers the schemas with the stand-in, writes a record of every type
// in the Confluent wire format, and reads each back with a codec that learns the ids
// from the registry.
func TestRoundTrip(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	writer := codec(t, Config{URL: reg.URL(), Write: true})
	reader := codec(t, Config{URL: reg.URL(), Write: false})
	ids := writer.SchemaIDs()
	if len(ids) != len(oneOfEach()) {
		t.Errorf("SchemaIDs = %v, want an id for each of the %d record types", ids, len(oneOfEach()))
	}
	cl, err := New(Config{URL: reg.URL()})
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range ids {
		// Subjects are the records' full names (RecordNameStrategy).
		ss, ok := reg.GetSchema(name, 1)
		if !ok || ss.ID != id {
			t.Errorf("subject %s version 1 = %+v (found %t), want schema id %d", name, ss, ok, id)
		}
		text, err := cl.Schema(t.Context(), id)
		if err != nil || !strings.Contains(text, `"name":"`+name+`"`) {
			t.Errorf("Schema(%d) = %.80s..., %v; want the schema of %s", id, text, err, name)
		}
	}
	for _, msg := range oneOfEach() {
		b, err := writer.Encode(nil, msg)
		if err != nil {
			t.Fatalf("Encode %T: %v", msg, err)
		}
		if b[0] != 0 || !containsID(ids, int(binary.BigEndian.Uint32(b[1:5]))) {
			t.Errorf("%T starts % x, want 00 and a registered id", msg, b[:5])
		}
		got, err := reader.Decode(b)
		if err != nil {
			t.Fatalf("Decode %T: %v", msg, err)
		}
		if !reflect.DeepEqual(got, msg) {
			t.Errorf("round trip of %T:\n got %+v\nwant %+v", msg, got, msg)
		}
	}
}

func containsID(ids map[string]int, id int) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}

// TestStartIdempotent starts twice against one registry: the same ids, and no subject
// gets a second version.
func TestStartIdempotent(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	first := codec(t, Config{URL: reg.URL(), Write: true}).SchemaIDs()
	second := codec(t, Config{URL: reg.URL(), Write: true}).SchemaIDs()
	if !reflect.DeepEqual(first, second) {
		t.Errorf("second start's ids %v, want the first's %v", second, first)
	}
	for name := range first {
		if _, ok := reg.GetSchema(name, 2); ok {
			t.Errorf("subject %s has a version 2 after a second start", name)
		}
	}
}

// TestUnreachable: a registry that is down stops the start with its URL, without the
// credentials, and the fix.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := Config{URL: "http://tributary:s3cret@" + addr + "/registry", Write: true}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Codec(t.Context())
	if err == nil {
		t.Fatal("Codec succeeded with the registry down")
	}
	for _, want := range []string{
		"registering schema tributary.v1.Asset: the schema registry at http://" + addr + "/registry is unreachable",
		"connection refused",
		"--schema-registry-url (env TRIBUTARY_SCHEMA_REGISTRY_URL)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "tributary:") {
		t.Errorf("error %q shows the credentials", err)
	}
}

func TestCredentials(t *testing.T) {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("tributary:s3cret"))
	reg := srfake.New(srfake.WithAuth(auth))
	defer reg.Close()
	u, err := url.Parse(reg.URL())
	if err != nil {
		t.Fatal(err)
	}
	withUser := func(user, password string) string {
		v := *u
		v.User = url.UserPassword(user, password)
		return v.String()
	}
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"in the URL", Config{URL: withUser("tributary", "s3cret")}, ""},
		{"user and password", Config{URL: reg.URL(), User: "tributary", Password: "s3cret"}, ""},
		{"the URL's first", Config{URL: withUser("tributary", "s3cret"), User: "other", Password: "wrong"}, ""},
		{"wrong password", Config{URL: withUser("tributary", "wrong")}, "refuses the credentials (HTTP 403"},
		{"none", Config{URL: reg.URL()}, "refuses the credentials (HTTP 401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Write = true
			_, err := tc.cfg.Codec(t.Context())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Codec: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "TRIBUTARY_SCHEMA_REGISTRY_PASSWORD") {
				t.Fatalf("Codec error = %v, want one containing %q and naming the settings", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows a password", err)
			}
		})
	}
}

// TestIncompatible: a registry refusing a changed schema (HTTP 409) stops the start
// with the subject and what to do.
func TestIncompatible(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost || r.URL.Path != "/subjects/tributary.v1.Finding/versions" {
			return false
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(sr.ResponseError{ErrorCode: 409, Message: "Schema being registered is incompatible with an earlier schema"})
		return true
	})
	_, err := (&Config{URL: reg.URL(), Write: true}).Codec(t.Context())
	for _, want := range []string{
		"registering schema tributary.v1.Finding",
		"refuses the schema as incompatible with the versions registered under subject tributary.v1.Finding",
		"HTTP 409, error 409: Schema being registered is incompatible",
		"change the schema compatibly",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Codec error = %v, want one containing %q", err, want)
		}
	}
}

// TestUnknownID decodes a record whose id the registry does not have.
func TestUnknownID(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	c := codec(t, Config{URL: reg.URL(), Write: false})
	_, err := c.Decode([]byte{0, 0, 0, 0x03, 0xe7, 0})
	for _, want := range []string{"schema id 999", "the schema registry at " + reg.URL() + " has no schema id 999 (HTTP 404, error 40403"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode error = %v, want one containing %q", err, want)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       map[string]string
		args      []string
		want      Config
		wantErr   string
		singleObj bool
	}{
		{name: "none: single-object encoding", want: Config{Write: true}, singleObj: true},
		{name: "from the environment",
			env:  map[string]string{"TRIBUTARY_SCHEMA_REGISTRY_URL": "https://sr.example:8081", "TRIBUTARY_SCHEMA_REGISTRY_USER": "u", "TRIBUTARY_SCHEMA_REGISTRY_PASSWORD": "p", "TRIBUTARY_SCHEMA_REGISTRY_WRITE": "false"},
			want: Config{URL: "https://sr.example:8081", User: "u", Password: "p"}},
		{name: "flags over the environment",
			env:  map[string]string{"TRIBUTARY_SCHEMA_REGISTRY_URL": "https://sr.example:8081", "TRIBUTARY_SCHEMA_REGISTRY_WRITE": "false"},
			args: []string{"--schema-registry-url", "http://127.0.0.1:8081", "--schema-registry-write=true"},
			want: Config{URL: "http://127.0.0.1:8081", Write: true}},
		{name: "not http", args: []string{"--schema-registry-url", "sr.example:8081"}, wantErr: `--schema-registry-url "sr.example:8081": use http://host:port`},
		{name: "no host", args: []string{"--schema-registry-url", "http://u:p@/x"}, wantErr: `--schema-registry-url "http:///x"`},
		{name: "unreadable write", env: map[string]string{"TRIBUTARY_SCHEMA_REGISTRY_WRITE": "no way"}, wantErr: `env TRIBUTARY_SCHEMA_REGISTRY_WRITE is "no way": use true or false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"TRIBUTARY_SCHEMA_REGISTRY_URL", "TRIBUTARY_SCHEMA_REGISTRY_USER", "TRIBUTARY_SCHEMA_REGISTRY_PASSWORD", "TRIBUTARY_SCHEMA_REGISTRY_WRITE"} {
				t.Setenv(k, tc.env[k]) // restored after the test
				if _, set := tc.env[k]; !set {
					os.Unsetenv(k)
				}
			}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			cfg := RegisterFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate error = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "u:p") {
					t.Errorf("error %q shows the credentials", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg.envErr = nil
			if !reflect.DeepEqual(*cfg, tc.want) {
				t.Errorf("config %+v, want %+v", *cfg, tc.want)
			}
			if tc.singleObj {
				c, err := cfg.Codec(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if b, err := c.Encode(nil, &model.SyncEnd{}); err != nil || b[0] != 0xc3 || c.SchemaIDs() != nil {
					t.Errorf("without a URL the codec writes % x, %v; want single-object encoding", b[:2], err)
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@sr.example:8081/path": "https://sr.example:8081/path",
		"http://sr:8081":                   "http://sr:8081",
		"http://u:p@[::1":                  "(unparsable URL)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
