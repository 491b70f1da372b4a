// Package simctl holds what the vendor simulators share: the control endpoints under
// /_simulator/ (health, injected faults, mutations of the dataset), a requests-per-second
// limiter and the JSON string appender their generators write with.
package simctl

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxFaultsBody bounds a POST /_simulator/faults body.
const maxFaultsBody = 1 << 16

// Control is the control plane of a simulator whose faults are an F and whose
// mutations are an M. F and *M are read as JSON; F is written as JSON.
type Control[F, M any] struct {
	Faults    func() F                // the active faults
	SetFaults func(F)                 // replaces the active faults
	Mutate    func(M) error           // applies one mutation; an error is the client's fault
	Clock     func() (int, time.Time) // the mutations so far and the time of the last
	MaxBody   int64                   // bounds a POST /_simulator/mutate body
}

// ServeHTTP serves GET /_simulator/healthz, GET and POST /_simulator/faults (answered
// with the faults then active), and POST /_simulator/mutate (an M, unknown fields
// refused; answered with the count of mutations so far and the time of the last).
// Errors are {"message": ...} with 400, or 404 for any other path or method.
func (c Control[F, M]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/_simulator/healthz" && r.Method == http.MethodGet:
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	case r.URL.Path == "/_simulator/faults" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(c.Faults())
	case r.URL.Path == "/_simulator/faults" && r.Method == http.MethodPost:
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFaultsBody))
		var f F
		if err == nil {
			err = json.Unmarshal(body, &f)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		c.SetFaults(f)
		_ = json.NewEncoder(w).Encode(c.Faults())
	case r.URL.Path == "/_simulator/mutate" && r.Method == http.MethodPost:
		var m M
		err := DecodeStrict(http.MaxBytesReader(w, r.Body, c.MaxBody), &m)
		if err != nil {
			err = fmt.Errorf("decoding mutation: %w", err)
		} else {
			err = c.Mutate(m)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		n, at := c.Clock()
		_ = json.NewEncoder(w).Encode(struct {
			Mutations int       `json:"mutations"`
			Now       time.Time `json:"now"`
		}{n, at})
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"message":"unknown simulator endpoint"}`)
	}
}

// DecodeStrict decodes the first JSON value of r into v, refusing object keys that v
// has no field for.
func DecodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// writeError answers 400 with {"message": err}.
func writeError(w http.ResponseWriter, err error) {
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
}
