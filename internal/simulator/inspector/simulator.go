// Package inspector simulates the AWS Inspector v2 ListFindings and (ACCOUNT)
// ListFindingAggregations APIs and the STS AssumeRole API over HTTP, faithful to their
// wire contracts, over a seeded dataset.
package inspector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/uuid"

	"github.com/tributary-sec/tributary/internal/simulator/simctl"
)

// maxBody bounds request bodies: a nextToken may be up to 1,000,000 characters.
const maxBody = 2 << 20

// Simulator serves Inspector v2 (POST /findings/list, POST /findings/aggregation/list)
// and STS (POST / with form Action=AssumeRole) on one handler, plus control endpoints
// under /_simulator/.
// It is safe for concurrent use.
type Simulator struct {
	cfg     Config
	regions map[string]int // region → index into the datasets
	signer  *v4.Signer
	clock   func() time.Time // real time: credential expiry, rate limiting

	base     principal
	mu       sync.RWMutex
	sessions map[string]*principal // by access key id

	faults faultState
	// state is what ListFindings and ListFindingAggregations serve; SetFaults and Mutate
	// replace it whole, so that a request sees one version of the datasets and of the
	// malformed findings.
	state   atomic.Pointer[tenant]
	writeMu sync.Mutex // serializes replacing state, and guards the mutation state below
	gen     *generator // kept for the findings mutations add
	gone    map[string]gone
	mutated int64 // unix ms of the last mutation; Config.Now before any
	nmut    int   // mutations so far

	limiter    *simctl.TokenBucket // ListFindings requests
	aggLimiter *simctl.TokenBucket // ListFindingAggregations requests: AWS limits each API apart
	bufs       sync.Pool
	// listRequests counts ListFindings requests, aggRequests ListFindingAggregations
	// requests, refused ones included.
	listRequests atomic.Int64
	aggRequests  atomic.Int64
}

// New generates the dataset of cfg and returns a simulator serving it.
func New(cfg Config) (*Simulator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	datasets, gen := generate(cfg)
	s := &Simulator{
		cfg:      cfg,
		regions:  make(map[string]int, len(cfg.Regions)),
		signer:   v4.NewSigner(),
		clock:    time.Now,
		sessions: make(map[string]*principal),
		gen:      gen,
		gone:     make(map[string]gone),
		mutated:  cfg.Now.UnixMilli(),
	}
	for i, r := range cfg.Regions {
		s.regions[r] = i
	}
	s.base = principal{
		accessKeyID: cfg.AccessKeyID,
		secret:      cfg.SecretAccessKey,
		arn:         "arn:aws:iam::" + cfg.AccountID + ":user/tributary-simulator",
		userID:      "AIDA" + idFromHash(cfg.AccessKeyID, 17),
		account:     cfg.AccountID,
	}
	if cfg.MaxRPS > 0 {
		s.limiter = simctl.NewTokenBucket(cfg.MaxRPS, s.clock())
		s.aggLimiter = simctl.NewTokenBucket(cfg.MaxRPS, s.clock())
	}
	s.state.Store(&tenant{datasets: datasets, malformed: &malformedSet{}})
	s.faults.Set(Faults{}.normalized())
	return s, nil
}

// Handler returns the HTTP handler serving STS, Inspector and the control endpoints.
func (s *Simulator) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// SetFaults replaces the active faults (safe for concurrent use).
func (s *Simulator) SetFaults(f Faults) {
	f = f.normalized()
	s.writeMu.Lock()
	if cur := s.state.Load(); cur.malformed.n != f.Malformed {
		set, err := buildMalformed(s.cfg.Seed, cur.datasets, f.Malformed)
		if err != nil {
			// The generator wrote JSON the simulator cannot read back: a bug, not a fault.
			panic(fmt.Sprintf("building malformed findings: %v", err))
		}
		s.state.Store(&tenant{datasets: cur.datasets, malformed: set})
	}
	s.writeMu.Unlock()
	s.faults.Set(f)
}

// ListFindingsRequests returns how many ListFindings requests the simulator has
// received, whatever their answer (faults, refused signatures and retries included).
func (s *Simulator) ListFindingsRequests() int64 { return s.listRequests.Load() }

// ListFindingAggregationsRequests returns how many ListFindingAggregations requests the
// simulator has received, whatever their answer.
func (s *Simulator) ListFindingAggregationsRequests() int64 { return s.aggRequests.Load() }

// Findings returns the dataset of a region, exactly the JSON served, in serving order
// (findingArn order, the default when a request has no sortCriteria); nil for a region
// the simulator was not configured with.
//
// The dataset of Regions[0] opens, whenever it has at least 13 findings, with these
// PACKAGE_VULNERABILITY edge cases, their findingArn ids 00000000000000000000000000000001
// through ...0d (hex) in this order: inspectorScore 0 (INFORMATIONAL, EC2), 0.1 (LOW, ECR),
// 3.9 (LOW, Lambda), 4.0 (MEDIUM, EC2), 6.9 (MEDIUM, ECR), 7.0 (HIGH, Lambda), 8.9 (HIGH,
// EC2), 9.0 (CRITICAL, ECR), 10 (CRITICAL, Lambda); no inspectorScore with severity HIGH
// (EC2); no inspectorScore with severity UNTRIAGED (ECR); a CLOSED one scored 7.5 (Lambda);
// a SUPPRESSED one scored 5.3 (EC2). All are otherwise ACTIVE, carry exploitAvailable and
// fixAvailable, and are never chosen to be malformed. Each returned slice is the caller's.
// After a Mutate it returns the mutated dataset, as served.
func (s *Simulator) Findings(region string) []json.RawMessage {
	ri, ok := s.regions[region]
	if !ok {
		return nil
	}
	t := s.state.Load()
	d, mal := t.datasets[ri], t.malformed
	out := make([]json.RawMessage, len(d.recs))
	for i := range d.recs {
		if b, ok := mal.lookup(ri, i); ok {
			out[i] = append(json.RawMessage(nil), b...)
			continue
		}
		out[i] = d.appendFinding(nil, i)
	}
	return out
}

// tenant is one version of what the simulator serves.
type tenant struct {
	datasets  []*dataset // by region index
	malformed *malformedSet
}

// serve routes a request: control endpoints, then Inspector by path, then STS by form.
func (s *Simulator) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_simulator/") {
		s.serveControl(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, "SerializationException", "Request body is too large")
			return
		}
		writeJSONError(w, http.StatusBadRequest, "SerializationException", "Reading the request body failed")
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/findings/list"):
		s.listRequests.Add(1)
		if r.Method != http.MethodPost {
			writeJSONError(w, http.StatusNotFound, "UnknownOperationException", "Unknown operation "+r.Method+" "+r.URL.Path)
			return
		}
		s.serveListFindings(w, r, body)
	case strings.HasSuffix(r.URL.Path, "/findings/aggregation/list"):
		s.aggRequests.Add(1)
		if r.Method != http.MethodPost {
			writeJSONError(w, http.StatusNotFound, "UnknownOperationException", "Unknown operation "+r.Method+" "+r.URL.Path)
			return
		}
		s.serveListFindingAggregations(w, r, body)
	case isSTS(r):
		s.serveSTS(w, r, body)
	default:
		writeJSONError(w, http.StatusNotFound, "UnknownOperationException", "Unknown operation "+r.Method+" "+r.URL.Path)
	}
}

// isSTS reports whether r is an awsQuery request (form body or Action in the query).
func isSTS(r *http.Request) bool {
	if r.URL.Query().Has("Action") {
		return true
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return r.Method == http.MethodPost && mt == "application/x-www-form-urlencoded"
}

// serveControl serves the simulator's own endpoints under /_simulator/, which are not
// AWS APIs and need no signature.
func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request) {
	simctl.Control[Faults, Mutation]{
		Faults: s.faults.Get, SetFaults: s.SetFaults, Mutate: s.Mutate, Clock: s.mutationClock, MaxBody: maxBody,
	}.ServeHTTP(w, r)
}

// setRequestID sets x-amzn-RequestId, spelled as AWS does, and returns the id.
func setRequestID(w http.ResponseWriter) string {
	id := uuid.NewString()
	w.Header()["x-amzn-RequestId"] = []string{id}
	return id
}

// writeJSONError writes a restJson1 error: x-amzn-ErrorType and {"message":...}.
func writeJSONError(w http.ResponseWriter, status int, errType, message string) {
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message})
	writeJSONErrorBody(w, status, errType, body)
}

func writeJSONErrorBody(w http.ResponseWriter, status int, errType string, body []byte) {
	setRequestID(w)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h["x-amzn-ErrorType"] = []string{errType}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
