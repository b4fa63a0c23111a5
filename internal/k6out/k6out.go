// Package k6out is what k6 instances send the harness when one scenario's
// load is split over several of them: each instance's running totals and
// its request-duration histogram (a snapshot, cumulative, sent at
// intervals and at the end by the k6 output extension "flood" in xk6/), and
// the collector that keeps the latest snapshot of each instance and merges
// them exactly: counts summed, histograms merged bucket by bucket. Memory
// is bounded on both sides whatever the run's length: a snapshot is a fixed
// set of counters and a histogram of at most a few thousand buckets, and
// the collector keeps one per instance, for at most MaxInstances.
package k6out

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sync"

	"github.com/floodharness/harness/internal/hist"
)

// MaxInstances bounds how many instances one collector accepts.
const MaxInstances = 256

// maxSnapshot bounds one snapshot's size on the wire.
const maxSnapshot = 1 << 20

// Snapshot is one instance's totals since its start.
type Snapshot struct {
	Instance string `json:"instance"`
	// Seq grows with every snapshot an instance sends: the collector keeps
	// the highest, so a late or repeated one never goes back in time.
	Seq   int64 `json:"seq"`
	Final bool  `json:"final"` // sent when the instance's run ended
	// Requests and Failed count http_reqs and http_req_failed; Failures
	// names the failures' kinds ("status 503", "error 1211": k6's
	// error_code), BytesReceived sums data_received.
	Requests      int64            `json:"requests"`
	Failed        int64            `json:"failed"`
	Failures      map[string]int64 `json:"failures"`
	BytesReceived int64            `json:"bytes_received"`
	// DurationUs is http_req_duration in microseconds, DurationSumUs their
	// sum (for the mean).
	DurationUs    hist.Hist `json:"http_req_duration_us"`
	DurationSumUs int64     `json:"http_req_duration_sum_us"`
	// Gauges holds the highest value of each gauge metric seen (such as
	// k6/x/flood's target_rss_peak_bytes), at most MaxGauges of them.
	Gauges map[string]float64 `json:"gauges,omitempty"`
}

// MaxGauges bounds how many gauges a snapshot carries.
const MaxGauges = 16

var instanceName = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// Job is what instances started elsewhere ask the harness at their start
// (GET /v1/job; k6/x/flood's job()): the level's target URL, VUs (the
// whole level's: each instance's execution segment takes its share) and
// duration.
type Job struct {
	URL      string `json:"url"`
	VUs      int    `json:"vus"`
	Duration string `json:"duration"`
}

// Collector receives snapshots over HTTP (POST, a JSON Snapshot) and keeps
// each instance's latest; GET /v1/job answers the job of the level under
// way (503 between levels, so an instance started early waits).
type Collector struct {
	mu   sync.Mutex
	last map[string]Snapshot
	job  *Job
}

// SetJob publishes the level's job (nil: none now) and forgets the
// snapshots of the level before.
func (c *Collector) SetJob(j *Job) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.job = j
	c.last = map[string]Snapshot{}
}

// NewCollector is an empty collector.
func NewCollector() *Collector { return &Collector{last: map[string]Snapshot{}} }

// ServeHTTP takes one snapshot.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/v1/job" {
		c.mu.Lock()
		j := c.job
		c.mu.Unlock()
		if j == nil {
			http.Error(w, "no level is under way", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(j)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST a snapshot", http.StatusMethodNotAllowed)
		return
	}
	var s Snapshot
	if err := json.NewDecoder(io.LimitReader(r.Body, maxSnapshot)).Decode(&s); err != nil {
		http.Error(w, "snapshot: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := c.Add(s); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Add keeps s if it is its instance's newest.
func (c *Collector) Add(s Snapshot) error {
	if !instanceName.MatchString(s.Instance) {
		return fmt.Errorf("snapshot: instance %q: want 1-64 letters, digits, '.', '_', ':' or '-'", s.Instance)
	}
	if s.Requests < 0 || s.Failed < 0 || s.Failed > s.Requests || s.BytesReceived < 0 || len(s.Failures) > 64 || len(s.Gauges) > MaxGauges || s.DurationSumUs < 0 {
		return fmt.Errorf("snapshot of %s: counts out of range", s.Instance)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.last[s.Instance]
	if !ok && len(c.last) >= MaxInstances {
		return fmt.Errorf("snapshot of %s: already %d instances", s.Instance, MaxInstances)
	}
	if !ok || s.Seq > old.Seq {
		c.last[s.Instance] = s
	}
	return nil
}

// Snapshots are the latest of each instance, by instance name.
func (c *Collector) Snapshots() []Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Collect(maps.Values(c.last))
	slices.SortFunc(out, func(a, b Snapshot) int {
		if a.Instance < b.Instance {
			return -1
		}
		if a.Instance > b.Instance {
			return 1
		}
		return 0
	})
	return out
}

// Merge is the snapshots added up: counts summed, histograms merged.
func Merge(snaps []Snapshot) Snapshot {
	m := Snapshot{Instance: "merged", Failures: map[string]int64{}, Gauges: map[string]float64{}, Final: len(snaps) > 0}
	for _, s := range snaps {
		m.Requests += s.Requests
		m.Failed += s.Failed
		m.BytesReceived += s.BytesReceived
		for k, v := range s.Failures {
			m.Failures[k] += v
		}
		m.DurationUs.Merge(&s.DurationUs)
		m.DurationSumUs += s.DurationSumUs
		for k, v := range s.Gauges {
			if old, ok := m.Gauges[k]; !ok || v > old {
				m.Gauges[k] = v // every instance watches the same server: its highest
			}
		}
		m.Final = m.Final && s.Final
	}
	return m
}
