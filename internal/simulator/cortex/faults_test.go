package cortex_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-sec/tributary/internal/simulator/cortex"
)

func TestFaultErrorBodies(t *testing.T) {
	tests := []struct {
		name    string
		faults  cortex.Faults
		want    []int // statuses of consecutive get_endpoint calls
		wantMsg string
	}{
		{"unauthorized", cortex.Faults{Unauthorized: true}, []int{401, 401}, "Public API request unauthorized"},
		{"forbidden", cortex.Faults{Forbidden: true}, []int{403, 403}, "RBAC"},
		{"payment required", cortex.Faults{PaymentRequired: true}, []int{402, 402}, "license"},
		{"server error for the next two", cortex.Faults{ServerError: 2}, []int{500, 500, 200}, "An error occurred while processing XDR public API"},
		{"throttle for the next one", cortex.Faults{Throttle: 1}, []int{429, 200}, "Too many requests"},
		{"throttle before server error", cortex.Faults{Throttle: 1, ServerError: 1}, []int{429, 500, 200}, "Too many requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, cortex.Config{Seed: 1, Endpoints: 10})
			e.sim.SetFaults(tt.faults)
			for k, want := range tt.want {
				path := cortex.PathGetEndpoint
				if k%2 == 1 {
					path = cortex.PathGetQuota // faults hit every public API call
				}
				status, body := e.post(path, rd(map[string]any{}), nil)
				if status != want {
					t.Fatalf("call %d: status %d, want %d: %s", k, status, want, body)
				}
				if status == 200 {
					continue
				}
				eb := decodeError(t, body)
				if eb.Reply.ErrCode != status {
					t.Errorf("err_code %d, want %d", eb.Reply.ErrCode, status)
				}
				if k == 0 && !strings.Contains(eb.Reply.ErrMsg, tt.wantMsg) {
					t.Errorf("err_msg %q lacks %q", eb.Reply.ErrMsg, tt.wantMsg)
				}
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name string
		rps  float64
		want []int
	}{
		{"burst of the rate, then 429", 3, []int{200, 200, 200, 429}},
		{"disabled", -1, []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, cortex.Config{Seed: 1, Endpoints: 10, RequestsPerSecond: tt.rps})
			var got []int
			var last []byte
			for range tt.want {
				status, body := e.post(cortex.PathGetEndpoint, rd(map[string]any{}), nil)
				got, last = append(got, status), body
			}
			if !equalInts(got, tt.want) {
				t.Fatalf("statuses %v, want %v", got, tt.want)
			}
			if got[len(got)-1] == 429 {
				eb := decodeError(t, last)
				if eb.Reply.ErrCode != 429 || eb.Reply.ErrMsg != "Too many requests" || !strings.Contains(string(eb.Reply.ErrExtra), "Rate limit exceeded") {
					t.Errorf("429 body %s", last)
				}
				time.Sleep(400 * time.Millisecond) // refills a token at 3 a second
				if status, _ := e.post(cortex.PathGetEndpoint, rd(map[string]any{}), nil); status != 200 {
					t.Errorf("after a pause: status %d, want 200", status)
				}
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 13, Endpoints: 90})
	e.sim.SetFaults(cortex.Faults{Malformed: 8})
	ids := e.sim.MalformedIDs()
	if len(ids) != 8 {
		t.Fatalf("%d malformed ids, want 8", len(ids))
	}
	all := e.sim.Endpoints()
	for _, ep := range all[:6] {
		for _, id := range ids {
			if ep.EndpointID == id {
				t.Errorf("planted endpoint %s chosen to be malformed", id)
			}
		}
	}
	p, status, body := e.getEndpoint(cortex.PathGetEndpoint, map[string]any{})
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	broken := 0
	for i, raw := range p.Reply.Endpoints {
		var ep cortex.Endpoint
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		err := dec.Decode(&ep)
		isMal := false
		for _, id := range ids {
			isMal = isMal || all[i].EndpointID == id
		}
		switch {
		case isMal && err == nil && ep.EndpointID != "":
			t.Errorf("malformed endpoint %d decodes cleanly: %s", i, raw)
		case isMal:
			broken++
		case err != nil:
			t.Errorf("endpoint %d: %v", i, err)
		}
	}
	if broken != 8 {
		t.Errorf("%d broken endpoints served, want 8", broken)
	}
	// The choice is stable and a prefix of a larger one.
	e.sim.SetFaults(cortex.Faults{Malformed: 12})
	if more := e.sim.MalformedIDs(); strings.Join(more[:8], ",") != strings.Join(ids, ",") {
		t.Errorf("malformed choice for 12 does not extend the one for 8")
	}
	e.sim.SetFaults(cortex.Faults{})
	if _, status, _ := e.getEndpoint(cortex.PathGetEndpoint, map[string]any{}); status != 200 || len(e.sim.MalformedIDs()) != 0 {
		t.Errorf("clearing faults left malformed endpoints")
	}
}

func TestQueryFailFault(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 14, Endpoints: 10})
	id := e.startQuery("dataset = va_cves")
	e.sim.SetFaults(cortex.Faults{QueryFail: true})
	r, _ := e.poll(id, 0)
	if r.Reply.Status != cortex.StatusFail {
		t.Errorf("status %s, want FAIL", r.Reply.Status)
	}
	e.sim.SetFaults(cortex.Faults{})
	if r, _ := e.poll(e.startQuery("dataset = va_cves"), 0); r.Reply.Status != cortex.StatusSuccess {
		t.Errorf("after clearing: status %s", r.Reply.Status)
	}
}

func TestPageDelay(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 1, Endpoints: 10})
	e.sim.SetFaults(cortex.Faults{PageDelay: 150 * time.Millisecond})
	start := time.Now()
	if status, _ := e.post(cortex.PathGetEndpoint, rd(map[string]any{}), nil); status != 200 {
		t.Fatalf("status %d", status)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("answered after %s, want at least the delay", d)
	}
}

func TestControlEndpoints(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 1, Endpoints: 10})
	resp, err := http.Get(e.srv.URL + "/_simulator/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	post := func(body string) int {
		resp, err := http.Post(e.srv.URL+"/_simulator/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post(`{"throttle":1,"server_error":2,"page_delay_ms":5,"malformed":2,"query_fail":true,"forbidden":false}`); s != 200 {
		t.Fatalf("posting faults: status %d", s)
	}
	resp, err = http.Get(e.srv.URL + "/_simulator/faults")
	if err != nil {
		t.Fatal(err)
	}
	var f cortex.Faults
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := cortex.Faults{Throttle: 1, ServerError: 2, PageDelay: 5 * time.Millisecond, Malformed: 2, QueryFail: true}
	if f != want {
		t.Errorf("faults %+v, want %+v", f, want)
	}
	if status, _ := e.post(cortex.PathGetEndpoint, rd(map[string]any{}), nil); status != 429 {
		t.Errorf("first call: status %d, want 429", status)
	}
	if s := post(`{"throtle":1}`); s != 400 {
		t.Errorf("unknown key: status %d, want 400", s)
	}
	b, _ := json.Marshal(cortex.Faults{PageDelay: 1500 * time.Millisecond, PaymentRequired: true, Unauthorized: true})
	if !strings.Contains(string(b), `"page_delay_ms":1500`) || !strings.Contains(string(b), `"payment_required":true`) || !strings.Contains(string(b), `"unauthorized":true`) {
		t.Errorf("Faults JSON %s", b)
	}
}

func TestConcurrentClients(t *testing.T) {
	e := newEnv(t, cortex.Config{Seed: 19, Endpoints: 1200, MaxRunningQueries: 8})
	want := e.sim.Endpoints()
	done := make(chan struct{})
	go func() { // faults change under the clients' feet
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			e.sim.SetFaults(cortex.Faults{PageDelay: time.Duration(i%3) * time.Millisecond, Malformed: i % 2})
			time.Sleep(2 * time.Millisecond)
		}
	}()
	errs := make(chan string, 8)
	for k := range 8 {
		go func() {
			if k%2 == 0 {
				r, _ := e.poll(e.startQuery("dataset = va_cves | arrayexpand affected_hosts"), 0)
				if r.Reply.Status != cortex.StatusSuccess {
					errs <- "query " + r.Reply.Status
					return
				}
				errs <- ""
				return
			}
			n := 0
			for from := 0; from < len(want); from += 100 {
				p, status, _ := e.getEndpoint(cortex.PathGetEndpoint, map[string]any{"search_from": from, "search_to": from + 100,
					"sort": map[string]any{"field": "last_seen", "keyword": "DESC"}})
				if status != 200 {
					errs <- "get_endpoint status " + http.StatusText(status)
					return
				}
				n += len(p.Reply.Endpoints)
			}
			if n != len(want) {
				errs <- "incomplete listing"
				return
			}
			errs <- ""
		}()
	}
	for range 8 {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
	close(done)
}
