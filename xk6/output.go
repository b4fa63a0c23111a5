package flood

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"go.k6.io/k6/metrics"
	"go.k6.io/k6/output"

	"github.com/floodharness/harness/internal/k6out"
)

// Output is the k6 output "flood" (k6 run --out flood=URL): it keeps this
// instance's request totals and a histogram of http_req_duration and sends
// them, as one cumulative snapshot, to the harness's collector at URL every
// second and once more at the end. The harness merges the snapshots of
// every instance of a run exactly (internal/k6out). Its memory is the
// snapshot, whatever the run's length. URL's query may name the instance
// (?instance=a); by default it is this host's name and k6's PID.
type Output struct {
	url      string
	every    time.Duration
	client   *http.Client
	logger   logrus.FieldLogger
	mu       sync.Mutex
	snap     k6out.Snapshot
	stop     chan struct{}
	finished chan struct{}
}

var _ output.Output = (*Output)(nil)

// NewOutput reads the collector's URL from --out flood=URL.
func NewOutput(p output.Params) (output.Output, error) {
	u, err := url.Parse(p.ConfigArgument)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("flood output: want --out flood=http://HOST:PORT[/path][?instance=NAME], got %q", p.ConfigArgument)
	}
	q := u.Query()
	instance := q.Get("instance")
	if instance == "" {
		host, _ := os.Hostname()
		instance = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	q.Del("instance")
	u.RawQuery = q.Encode()
	return &Output{
		url: u.String(), every: time.Second, client: &http.Client{Timeout: 10 * time.Second},
		logger: p.Logger, snap: k6out.Snapshot{Instance: instance, Failures: map[string]int64{}, Gauges: map[string]float64{}},
	}, nil
}

// Description is what k6 prints for the output.
func (o *Output) Description() string {
	return fmt.Sprintf("flood (instance %s: snapshots to %s)", o.snap.Instance, o.url)
}

// Start sends a snapshot every second until Stop.
func (o *Output) Start() error {
	o.stop, o.finished = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(o.finished)
		t := time.NewTicker(o.every)
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case <-t.C:
				if err := o.send(false); err != nil && o.logger != nil {
					o.logger.WithError(err).Warn("flood output: snapshot not sent")
				}
			}
		}
	}()
	return nil
}

// AddMetricSamples counts what the harness merges; k6 never calls it
// concurrently, but the sender reads the snapshot meanwhile.
func (o *Output) AddMetricSamples(containers []metrics.SampleContainer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, sc := range containers {
		for _, s := range sc.GetSamples() {
			o.add(s)
		}
	}
}

func (o *Output) add(s metrics.Sample) {
	switch s.Metric.Name {
	case "http_reqs":
		o.snap.Requests += int64(s.Value)
	case "http_req_failed":
		if s.Value != 0 {
			o.snap.Failed++
			kind := "failed"
			if code, ok := tag(s, "error_code"); ok && code != "" && code != "0" {
				kind = "error " + code
			} else if st, ok := tag(s, "status"); ok && st != "" && st != "0" {
				kind = "status " + st
			}
			if _, known := o.snap.Failures[kind]; known || len(o.snap.Failures) < 32 {
				o.snap.Failures[kind]++
			} else {
				o.snap.Failures["other"]++
			}
		}
	case "data_received":
		o.snap.BytesReceived += int64(s.Value)
	case "http_req_duration":
		us := int64(s.Value * 1000) // ms → µs
		o.snap.DurationUs.Record(us)
		o.snap.DurationSumUs += max(us, 0)
	default:
		if s.Metric.Type == metrics.Gauge {
			if old, ok := o.snap.Gauges[s.Metric.Name]; (ok && s.Value > old) || (!ok && len(o.snap.Gauges) < k6out.MaxGauges) {
				o.snap.Gauges[s.Metric.Name] = s.Value
			}
		}
	}
}

func tag(s metrics.Sample, name string) (string, bool) {
	if s.Tags != nil {
		if v, ok := s.Tags.Get(name); ok {
			return v, true
		}
	}
	v, ok := s.Metadata[name]
	return v, ok
}

// Stop sends the final snapshot; k6 reports its error if the harness did
// not get it (the merged figures would miss this instance's end).
func (o *Output) Stop() error {
	if o.stop != nil {
		close(o.stop)
		<-o.finished
	}
	return o.send(true)
}

func (o *Output) send(final bool) error {
	o.mu.Lock()
	o.snap.Seq++
	o.snap.Final = final
	seq := o.snap.Seq
	b, err := json.Marshal(&o.snap)
	o.mu.Unlock()
	if err != nil {
		return err
	}
	var last error
	for range 3 {
		resp, err := o.client.Post(o.url, "application/json", bytes.NewReader(b))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
			err = fmt.Errorf("collector answered %s", resp.Status)
		}
		last = err
		if !final {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("flood output: snapshot %d to %s: %w", seq, strings.TrimSpace(o.url), last)
}
