package flood

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/hist"
	"github.com/floodharness/harness/internal/k6out"
	"github.com/floodharness/harness/internal/result"
)

// rawDurations reads every http_req_duration (ms) from k6's --out json file.
func rawDurations(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p struct {
			Type, Metric string
			Data         struct{ Value float64 }
		}
		if json.Unmarshal(sc.Bytes(), &p) == nil && p.Type == "Point" && p.Metric == "http_req_duration" {
			out = append(out, p.Data.Value)
		}
	}
	return out
}

// Two k6 instances, each with half of the VUs (complementary execution
// segments), started paused and resumed together, send their totals and
// histograms to a collector through the output "flood": the merge counts
// every request of both, and its percentiles are those of the union of the
// two instances' raw samples (k6's --out json) within one bucket.
func TestOutputMergesExactly(t *testing.T) {
	k6, harness := needK6(t)
	srv := harnesstest.Serve(t, harness, "--impl", "streamed")
	col := k6out.NewCollector()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: col}
	go hs.Serve(ln)
	defer hs.Close()
	dir := t.TempDir()
	var apis []string
	var wg sync.WaitGroup
	for i, seg := range []string{"0:1/2", "1/2:1"} {
		port, _ := net.Listen("tcp", "127.0.0.1:0")
		api := port.Addr().String()
		port.Close()
		apis = append(apis, api)
		cmd := harnesstest.Command(k6, "run", "--quiet", "--no-usage-report", "--paused", "--address", api,
			"--execution-segment", seg, "--execution-segment-sequence", "0,1/2,1",
			"--out", fmt.Sprintf("flood=http://%s/?instance=i%d", ln.Addr(), i), "--out", "json="+filepath.Join(dir, fmt.Sprintf("i%d.json", i)),
			"-e", "TARGET_URL=http://"+srv.Addr+"/export?rows=300&width=500", "-e", "VUS=4", "-e", "DURATION=2s",
			"../examples/k6/flood.js")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := cmd.Wait(); err != nil {
				t.Errorf("k6 %s: %v\n%s", seg, err, out.String())
			}
		})
	}
	for _, api := range apis {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if resp, err := http.Get("http://" + api + "/v1/status"); err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("k6 REST API %s never answered", api)
			}
		}
	}
	for _, api := range apis {
		req, _ := http.NewRequest(http.MethodPatch, "http://"+api+"/v1/status", strings.NewReader(`{"data":{"type":"status","id":"default","attributes":{"paused":false}}}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("resume %s: %v %v", api, err, resp)
		}
		resp.Body.Close()
	}
	wg.Wait()
	snaps := col.Snapshots()
	if len(snaps) != 2 || !snaps[0].Final || !snaps[1].Final {
		t.Fatalf("snapshots %+v: want a final one from each instance", snaps)
	}
	m := k6out.Merge(snaps)
	var raw []int64
	for i := range 2 {
		for _, ms := range rawDurations(t, filepath.Join(dir, fmt.Sprintf("i%d.json", i))) {
			raw = append(raw, int64(ms*1000))
		}
	}
	slices.Sort(raw)
	if m.Requests != snaps[0].Requests+snaps[1].Requests || m.Requests != int64(len(raw)) || m.DurationUs.Count() != int64(len(raw)) || snaps[0].Requests == 0 || snaps[1].Requests == 0 {
		t.Fatalf("merged %d requests (%d + %d), histogram %d, raw samples %d: want all equal and both instances working",
			m.Requests, snaps[0].Requests, snaps[1].Requests, m.DurationUs.Count(), len(raw))
	}
	for _, q := range []float64{0.5, 0.99} {
		rank := min(max(int(q*float64(len(raw))+0.999999999), 1), len(raw))
		want, got := raw[rank-1], m.DurationUs.Quantile(q)
		t.Logf("p%v: merged %d µs, union of raw samples %d µs", q*100, got, want)
		if !hist.SameBucket(got, want) {
			t.Errorf("p%v: merged %d µs, exact %d µs: not within one bucket", q*100, got, want)
		}
	}
}

// driver: k6 with k6: {instances: 3}: one results.json run per level whose
// counts are the sum of its three instances', each kept beside them.
func TestScenarioK6Instances(t *testing.T) {
	_, harness := needK6(t)
	out := t.TempDir()
	sc := filepath.Join(out, "scale.yaml")
	os.WriteFile(sc, []byte(`name: k6-scale
levels: [6]
duration: 2s
driver: k6
script: examples/k6/flood.js
k6: {instances: 3}
request:
  path: /export?rows=500&width=2000
targets:
  - name: streamed
    command: [harness, serve, --impl, streamed, --port, "{port}"]
`), 0o644)
	cmd := harnesstest.Command(harness, "run", "--out", filepath.Join(out, "run"), sc)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		// Every k6 instance's own log, so a failure that happens once in
		// a while is kept whole in the test's output.
		logs, _ := filepath.Glob(filepath.Join(out, "run", "logs", "*k6*"))
		for _, l := range logs {
			lb, _ := os.ReadFile(l)
			b = append(b, fmt.Sprintf("\n--- %s ---\n%s", filepath.Base(l), lb)...)
		}
		t.Fatalf("harness run: %v\n%s", err, b)
	}
	r, err := result.Read(filepath.Join(out, "run", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	run := r.Runs[0]
	var sum result.K6Instance
	for _, in := range run.K6Instances {
		sum.Requests += in.Requests
		sum.BytesReceived += in.BytesReceived
		if in.Requests == 0 || in.Exit != 0 {
			t.Errorf("instance %+v: want a share of the load and exit 0", in)
		}
	}
	if len(run.K6Instances) != 3 || run.Requests != sum.Requests || run.BytesReceived != sum.BytesReceived || run.OK != run.Requests || run.LatencyMs.P99 <= 0 {
		t.Errorf("run %d requests, %d bytes, %d instances %+v: want the instances' sums", run.Requests, run.BytesReceived, len(run.K6Instances), run.K6Instances)
	}
	// The scenario's path is what k6 fetched (rows=500: ~1.1 MB, not 8.6).
	if per := run.BytesReceived / max(run.Requests, 1); per > 2<<20 {
		t.Errorf("%d bytes per request: k6 did not fetch the scenario's path", per)
	}
	if run.K6ResumeSpreadMs <= 0 || run.K6ResumeSpreadMs > 1000 {
		t.Errorf("resume spread %.1f ms", run.K6ResumeSpreadMs)
	}
}

// The script's thresholds are judged once, on the merged data: the failing
// one's value is the whole run's request count (more than any instance
// had), k6's 99 is the run's driver_exit, and `harness run` exits 1.
func TestScaledThresholdsJudgeMergedData(t *testing.T) {
	_, harness := needK6(t)
	out := t.TempDir()
	script := countScript(t, out)
	sc := filepath.Join(out, "th.yaml")
	os.WriteFile(sc, []byte(`name: k6-thresholds
levels: [4]
duration: 2s
driver: k6
script: `+script+`
k6: {instances: 2}
request: {path: "/export?rows=200&width=200"}
targets:
  - name: streamed
    command: [harness, serve, --impl, streamed, --port, "{port}"]
`), 0o644)
	cmd := harnesstest.Command(harness, "run", "--out", filepath.Join(out, "run"), sc)
	cmd.Dir = ".."
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), "k6 thresholds failed in 1 run(s): streamed c=4 r=0 (http_reqs count<5:") {
		t.Fatalf("harness run: %v, want exit 1 naming the failed threshold\n%s", err, b)
	}
	r, err := result.Read(filepath.Join(out, "run", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	run := r.Runs[0]
	byMetric := map[string]result.K6Threshold{}
	for _, th := range run.K6Thresholds {
		byMetric[th.Metric] = th
	}
	reqs, failed := byMetric["http_reqs"], byMetric["http_req_failed"]
	if run.DriverExit != 99 || reqs.OK || reqs.Value != float64(run.Requests) || !failed.OK || len(run.K6Instances) != 2 ||
		reqs.Value <= float64(max(run.K6Instances[0].Requests, run.K6Instances[1].Requests)) {
		t.Errorf("driver_exit %d, thresholds %+v, requests %d, instances %+v: want http_reqs judged on the sum", run.DriverExit, run.K6Thresholds, run.Requests, run.K6Instances)
	}
}

// countScript writes, into dir, a k6 script whose http_reqs threshold
// (count<5) fails on any real run: judged on merged data, its value is the
// whole run's request count.
func countScript(t *testing.T, dir string) string {
	t.Helper()
	script := filepath.Join(dir, "count.js")
	if err := os.WriteFile(script, []byte(`import http from 'k6/http';
export const options = {
  discardResponseBodies: true, vus: Number(__ENV.VUS), duration: __ENV.DURATION,
  thresholds: { http_reqs: ['count<5'], http_req_failed: ['rate<0.01'] },
};
export default function () { http.get(__ENV.TARGET_URL); }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	return script
}
