package result

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// CapacitySchema names capacity.json's format (docs/capacity.md).
const CapacitySchema = "flood-harness/capacity/v1"

// Capacity is capacity.json: what `harness capacity` found.
type Capacity struct {
	Schema     string     `json:"schema"`
	Scenario   Scenario   `json:"scenario"`
	Host       Host       `json:"host"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Partial: the search did not finish (interrupted, or out of budget);
	// each target's capacity is then the highest level confirmed so far.
	Partial bool `json:"partial"`
	Max     int  `json:"max"`
	Repeats int  `json:"repeats"`
	// P99BoundMs, when set (capacity --p99), is the highest p99 latency of
	// ok responses a passing trial may have; AllowShed (--allow-shed)
	// counts 503s with Retry-After as served by design. A capacity holds
	// only under the bounds it was searched with.
	P99BoundMs float64          `json:"p99_bound_ms,omitempty"`
	AllowShed  bool             `json:"allow_shed,omitempty"`
	Targets    []CapacityTarget `json:"targets"`
}

// CapacityTarget is one target's answer and every trial that led to it.
type CapacityTarget struct {
	Target     string  `json:"target"`
	LimitBytes int64   `json:"limit_bytes"`
	LimitBy    LimitBy `json:"limit_by"`
	// Capacity is the highest concurrency served completely, confirmed
	// by Repeats passing trials (0: even one client failed).
	Capacity int `json:"capacity"`
	// FirstFailing is the lowest concurrency that failed (0 when none
	// did: CeilingReached).
	FirstFailing   int  `json:"first_failing"`
	CeilingReached bool `json:"ceiling_reached"`
	// PerClientBytes is the slope of the passing trials' peaks over their
	// concurrency; EstimateFromCurve the concurrency at which that line
	// reaches the cap (what a curve alone would have said).
	PerClientBytes    float64  `json:"per_client_bytes"`
	EstimateFromCurve float64  `json:"estimate_from_curve"`
	Notes             []string `json:"notes,omitempty"`
	// Error, when set, says why there is no answer (the target did not
	// start): Capacity is then 0 and means nothing.
	Error  string          `json:"error,omitempty"`
	Trials []CapacityTrial `json:"trials"`
}

// CapacityTrial is one fresh target flooded at one concurrency.
type CapacityTrial struct {
	Concurrency   int        `json:"concurrency"`
	Repeat        int        `json:"repeat"`
	Passed        bool       `json:"passed"`
	Why           string     `json:"why"`
	PeakRSSBytes  int64      `json:"peak_rss_bytes"`
	PeakRSSSource PeakSource `json:"peak_rss_source"`
	// CapChargedBytes is what the cap counted where that is not the peak
	// (the cgroup's charge beside a VmHWM): the figure the curve's
	// estimate is drawn through.
	CapChargedBytes int64 `json:"cap_charged_bytes,omitempty"`
	OK              int64 `json:"ok"`
	Requests        int64 `json:"requests"`
	// Shed counts the requests turned away with 503 and Retry-After.
	Shed      int64   `json:"shed,omitempty"`
	P99Ms     float64 `json:"p99_ms"`
	DurationS float64 `json:"duration_s"`
}

// WriteCapacity writes c to path atomically (writeJSON), so an
// interrupted search keeps what it had.
func WriteCapacity(path string, c *Capacity) error { return writeJSON(path, "capacity", c) }

// ReadCapacity reads a capacity.json strictly (unknown fields and other
// schemas are bad input).
func ReadCapacity(path string) (*Capacity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &BadInputError{path, err}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Capacity
	if err := dec.Decode(&c); err != nil {
		return nil, &BadInputError{path, err}
	}
	if c.Schema != CapacitySchema {
		return nil, &BadInputError{path, fmt.Errorf("schema %q, want %q", c.Schema, CapacitySchema)}
	}
	return &c, nil
}

// SchemaOf is the schema a JSON file names ("" if it names none).
func SchemaOf(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var probe struct {
		Schema string `json:"schema"`
	}
	_ = json.Unmarshal(b, &probe)
	return probe.Schema
}
