package load

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/targets"
)

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

func runLoad(t *testing.T, o Options) *Result {
	t.Helper()
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Grace == 0 {
		o.Grace = time.Second
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != res.OK+res.Failed+res.Aborted+res.CutOff {
		t.Errorf("requests %d != ok %d + failed %d + aborted %d + cut off %d", res.Requests, res.OK, res.Failed, res.Aborted, res.CutOff)
	}
	return res
}

func TestCountsAndBytes(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 100_000)
	var served atomic.Int64
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		fmt.Fprint(w, body)
	})
	res := runLoad(t, Options{URL: url, Concurrency: 4, Requests: 5})
	if res.Requests != 20 || res.OK != 20 || res.Bytes != 20*100_000 || served.Load() != 20 {
		t.Errorf("got %d requests, %d ok, %d bytes (server saw %d); want 20, 20, %d, 20", res.Requests, res.OK, res.Bytes, served.Load(), 20*100_000)
	}
	if res.Latency.Count() != 20 || res.Latency.Quantile(0.5) <= 0 {
		t.Errorf("latency: %d recorded, p50 %v", res.Latency.Count(), res.Latency.Quantile(0.5))
	}
}

// hijackAfter writes head as a chunked 200 response, then drops the connection.
func hijackAfter(head string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, head)
		http.NewResponseController(w).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		validate string
		h        http.HandlerFunc
		want     string
	}{
		{"truncated chunked body", "none", hijackAfter(strings.Repeat("a", 5000)), result.OutcomeTruncated},
		{"truncated json", "json", hijackAfter(`[{"id":1},{"id":`), result.OutcomeTruncated},
		{"invalid json mid-stream", "json", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `[{"id":1},{"id":2}`+strings.Repeat(" ", 10000)+`oops]`)
		}, result.OutcomeInvalid},
		{"json error record", "json", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `[{"id":1},{"error":"database went away"}]`)
		}, result.OutcomeErrorRecord},
		{"ndjson error line", "ndjson", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, "{\"id\":1}\n{\"error\":\"boom\"}\n")
		}, result.OutcomeErrorRecord},
		{"status", "none", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}, "status_503"},
		{"stalled", "none", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "partial")
			http.NewResponseController(w).Flush()
			<-r.Context().Done() // never finishes
		}, result.OutcomeStalled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runLoad(t, Options{URL: serve(t, tt.h), Concurrency: 2, Requests: 3, Validate: result.BodyCheck(tt.validate), Timeout: 200 * time.Millisecond})
			if res.Requests != 6 || res.Failed != 6 || res.Errors[tt.want] != 6 {
				t.Errorf("got %d requests, %d failed, errors %v; want 6 failed as %s", res.Requests, res.Failed, res.Errors, tt.want)
			}
		})
	}
}

func TestConnectErrorAndLoopbackOnly(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close() // nothing listens there now
	res := runLoad(t, Options{URL: url, Concurrency: 1, Requests: 2})
	if res.Errors[result.OutcomeConnect] != 2 {
		t.Errorf("closed port: errors %v, want 2 connect", res.Errors)
	}
	for _, u := range []string{"http://10.1.2.3/export", "http://192.168.0.1:80/", "http://example.com/", "https://10.1.2.3/", "ftp://127.0.0.1/"} {
		if _, err := Run(context.Background(), Options{URL: u, Concurrency: 1, Duration: time.Second}); err == nil {
			t.Errorf("Run(%s) = nil error, want a refusal", u)
		}
	}
}

func TestAbortAfterBytes(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 1<<20))
	})
	res := runLoad(t, Options{URL: url, Concurrency: 4, Requests: 3, AbortAfter: 1000, AbortFraction: 0.5})
	if res.Aborted != 6 || res.OK != 6 || res.Failed != 0 {
		t.Errorf("aborted %d ok %d failed %d, want 6, 6, 0 (half the clients abort)", res.Aborted, res.OK, res.Failed)
	}
	if want := int64(6*1000 + 6<<20); res.Bytes != want {
		t.Errorf("bytes %d, want %d", res.Bytes, want)
	}
}

func TestReadRatePacesTheReader(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 300_000))
	})
	start := time.Now()
	res := runLoad(t, Options{URL: url, Concurrency: 1, Requests: 1, ReadRate: 1_000_000, RecvBuffer: 16 << 10})
	// 300 kB at 1 MB/s cannot take less than ~0.3s; a floor, not a speed target.
	if took := time.Since(start); res.OK != 1 || took < 250*time.Millisecond {
		t.Errorf("ok %d in %v, want 1 request paced to ≥250ms", res.OK, took)
	}
}

func TestDurationWarmupAndGrace(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.URL.Query().Get("slow") != "" {
			fmt.Fprint(w, "start")
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, "ok")
	})
	res := runLoad(t, Options{URL: url, Concurrency: 2, Warmup: 100 * time.Millisecond, Duration: 200 * time.Millisecond, Grace: 100 * time.Millisecond})
	if res.Requests == 0 || res.Requests >= served.Load() {
		t.Errorf("counted %d of %d served requests; warmup requests must not count", res.Requests, served.Load())
	}
	res = runLoad(t, Options{URL: url + "?slow=1", Concurrency: 3, Duration: 100 * time.Millisecond, Grace: 100 * time.Millisecond, Timeout: 5 * time.Second})
	if res.CutOff != 3 || res.Failed != 0 {
		t.Errorf("endless responses: cut off %d, failed %d (%v); want 3 cut off, none failed", res.CutOff, res.Failed, res.Errors)
	}
}

func TestOpenModelRate(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	res := runLoad(t, Options{URL: url, Concurrency: 4, Rate: 100, Duration: time.Second})
	if res.Requests < 80 || res.Requests > 120 {
		t.Errorf("100/s for 1s sent %d requests, want 80..120", res.Requests)
	}
}

func TestOpenModelCountsQueueingInLatency(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(100 * time.Millisecond)
		fmt.Fprint(w, "ok")
	})
	// One connection, 50 arrivals/s, 100ms service: arrivals queue, and their
	// latency must include the wait (no coordinated omission).
	res := runLoad(t, Options{URL: url, Concurrency: 1, Rate: 50, Duration: 500 * time.Millisecond, Grace: 5 * time.Second})
	if res.Latency.Max() < 300*time.Millisecond {
		t.Errorf("max latency %v with a queue building up, want it to include the queueing delay (≥300ms)", res.Latency.Max())
	}
}

func TestStopStartsNoNewRequests(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	var served atomic.Int64
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		if served.Add(1) == 5 {
			close(stop)
		}
		fmt.Fprint(w, "ok")
	})
	res := runLoad(t, Options{URL: url, Concurrency: 1, Stop: stop})
	if res.Requests != 5 || res.OK != 5 {
		t.Errorf("after Stop: %d requests, %d ok; want exactly the 5 before it", res.Requests, res.OK)
	}
}

func TestTotalAcrossClients(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	res := runLoad(t, Options{URL: url, Concurrency: 7, Total: 50})
	if res.Requests != 50 || res.OK != 50 {
		t.Errorf("Total 50 over 7 clients: %d requests, %d ok", res.Requests, res.OK)
	}
}

// A real reference server that breaks every response after 7 rows: with
// resume, each export completes, every row id exactly once.
func TestResumeAfterEveryKindOfBreak(t *testing.T) {
	t.Parallel()
	srv, err := targets.New(targets.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	for _, tt := range []struct{ format, mode string }{
		{"json", "abort"}, {"ndjson", "record"}, {"csv", "abort"}, {"json", "stall"}, {"csv", "record"},
	} {
		url := fmt.Sprintf("%s/export?rows=50&width=16&format=%s&fail_at=7&fail_mode=%s", ts.URL, tt.format, tt.mode)
		res := runLoad(t, Options{URL: url, Concurrency: 2, Requests: 2, Validate: result.BodyCheck(tt.format), Resume: true, Timeout: 200 * time.Millisecond})
		// 50 rows, 7 per response: 8 responses per export, 7 of them resumes.
		want := map[string]string{"abort": result.OutcomeTruncated, "record": result.OutcomeErrorRecord, "stall": result.OutcomeStalled}[tt.mode]
		if res.ResumedBy[want] != 4*7 {
			t.Errorf("%s/%s: resumed by %v, want 28 × %s", tt.format, tt.mode, res.ResumedBy, want)
		}
		if res.OK != 4 || res.Failed != 0 || res.Rows != 4*50 || res.Resumes != 4*7 {
			t.Errorf("%s/%s: ok %d failed %d %v, rows %d, resumes %d; want 4 complete exports of 50 rows with 7 resumes each",
				tt.format, tt.mode, res.OK, res.Failed, res.Errors, res.Rows, res.Resumes)
		}
	}
}

// connKey holds each connection's request count in its context.
type connKey struct{}

// A server that answers the first request on each connection and drops the
// second before answering, as a worker killed between requests does. Go's
// transport sends the dropped request again on a new connection; the
// client counts every drop as a failed request of its own.
func TestResentRequestsAreFailures(t *testing.T) {
	t.Parallel()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := r.Context().Value(connKey{}).(*atomic.Int64)
		if n.Add(1) > 1 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close() // no byte of a response
			}
			return
		}
		fmt.Fprint(w, strings.Repeat("x", 1000))
	}))
	ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, new(atomic.Int64))
	}
	ts.Start()
	t.Cleanup(ts.Close)
	res := runLoad(t, Options{URL: ts.URL, Concurrency: 2, Total: 10})
	drops := res.Errors[result.OutcomeResetBeforeResponse]
	if drops == 0 || res.Failed != drops || res.OK != 10 || res.Requests != 10+drops {
		t.Errorf("requests %d, ok %d, failed %d, errors %v; want every dropped request counted as a failure beside the 10 that succeeded", res.Requests, res.OK, res.Failed, res.Errors)
	}
	// Each says why: the connection's error, and that it was sent again.
	var why int64
	for _, r := range res.Reasons {
		if r.Kind == result.OutcomeResetBeforeResponse && strings.Contains(r.Reason, "sent again on a new one") && !strings.Contains(r.Reason, errDeadKeepAlive.Error()) {
			why += r.Count
		}
	}
	if why != drops {
		t.Errorf("reasons %+v: want the %d drops with their reason", res.Reasons, drops)
	}
}

// A scenario may forgive re-sends: they are counted apart, not as failures.
func TestForgivenResends(t *testing.T) {
	t.Parallel()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(connKey{}).(*atomic.Int64).Add(1) > 1 {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		fmt.Fprint(w, "ok")
	}))
	ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, new(atomic.Int64))
	}
	ts.Start()
	t.Cleanup(ts.Close)
	res := runLoad(t, Options{URL: ts.URL, Concurrency: 2, Total: 10, ForgiveResends: true})
	if res.Resent == 0 || res.Failed != 0 || res.OK != 10 || res.Requests != 10 {
		t.Errorf("requests %d, ok %d, failed %d, resent %d; want 10 ok, the re-sends counted apart", res.Requests, res.OK, res.Failed, res.Resent)
	}
}

// Once the target is gone (Stop closed: it died), a broken export is not
// resumed against a target that will not answer: the client stops there.
func TestNoResumeAfterTheTargetDied(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	var once sync.Once
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		once.Do(func() { close(stop) }) // the sweep's signal: the target died
		fmt.Fprint(w, `[{"id":1},`)
		http.NewResponseController(w).Flush()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close() // the body breaks off
		}
	})
	res := runLoad(t, Options{URL: url, Concurrency: 1, Requests: 1, Validate: result.CheckJSON, Resume: true, Stop: stop})
	if res.Resumes != 0 || res.Failed != 1 || res.Errors[result.OutcomeTruncated] != 1 {
		t.Errorf("resumes %d, failed %d %v; want the one broken export left broken, not resumed", res.Resumes, res.Failed, res.Errors)
	}
}

// A 503 that says when to come back is shed by design: counted in shed,
// and still a status_503 failure; one without Retry-After is not shed.
func TestShedIsA503WithRetryAfter(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	u := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 3 {
		case 0:
			w.Write([]byte("ok"))
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	res := runLoad(t, Options{URL: u, Concurrency: 1, Requests: 30})
	if res.OK != 10 || res.Shed != 10 || res.Errors["status_503"] != 20 || res.Failed != 20 {
		t.Errorf("ok %d, shed %d, status_503 %d, failed %d: want 10, 10, 20, 20", res.OK, res.Shed, res.Errors["status_503"], res.Failed)
	}
	if c := res.Client(); c.Shed != 10 {
		t.Errorf("client shed %d, want 10", c.Shed)
	}
}

// Sources spreads connections to a loopback target over 127.0.0.1, .2, …:
// the server sees as many client addresses; off, one.
func TestSourcesSpreadConnections(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]bool{}
	u := serve(t, func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		seen[host] = true
		mu.Unlock()
		w.Write([]byte("ok"))
	})
	res := runLoad(t, Options{URL: u, Concurrency: 4, Requests: 40, Sources: 4})
	mu.Lock()
	n := len(seen)
	mu.Unlock()
	if res.OK == 0 || res.Failed != 0 || n != 4 || !seen["127.0.0.4"] {
		t.Errorf("%d ok, client addresses %v: want all from 127.0.0.1–4", res.OK, seen)
	}
	if a := sourceAddr(70000, 0, "127.0.0.1:80", 256); a.IP.String() != "127.0.1.1" {
		t.Errorf("the 257th source: %v, want 127.0.1.1", a)
	}
	if a := sourceAddr(1, 2, "127.0.0.1:80", 7); a.IP.String() != "127.0.0.3" {
		t.Errorf("a second client process's source: %v, want 127.0.0.3", a)
	}
	if sourceAddr(4, 0, "[::1]:80", 0) != nil || sourceAddr(4, 0, "10.0.0.1:80", 0) != nil || sourceAddr(1, 0, "127.0.0.1:80", 0) != nil {
		t.Error("spread where it does not apply")
	}
}

// Answers that outlast the level are cut off at its end; with
// UntilAnswered the level goes on until every client has one whole
// answer, and no longer than its bound.
func TestUntilAnswered(t *testing.T) {
	t.Parallel()
	slow := serve(t, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 8; i++ { // ~0.8 s an answer, streamed
			fmt.Fprint(w, strings.Repeat("x", 1000))
			w.(http.Flusher).Flush()
			select {
			case <-time.After(100 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	fixed := runLoad(t, Options{URL: slow, Concurrency: 3, Duration: 200 * time.Millisecond, Grace: 50 * time.Millisecond})
	if fixed.OK != 0 || fixed.CutOff != 3 {
		t.Errorf("a fixed 200 ms level: %d ok, %d cut off; want all 3 cut off", fixed.OK, fixed.CutOff)
	}
	auto := runLoad(t, Options{URL: slow, Concurrency: 3, Duration: 200 * time.Millisecond, Grace: 50 * time.Millisecond, UntilAnswered: 30 * time.Second})
	if auto.OK < 3 || auto.Failed != 0 {
		t.Errorf("until answered: %d ok, %d failed, %d cut off; want every client's answer", auto.OK, auto.Failed, auto.CutOff)
	}
	start := time.Now()
	bounded := runLoad(t, Options{URL: slow, Concurrency: 3, Duration: 100 * time.Millisecond, Grace: 50 * time.Millisecond, UntilAnswered: 200 * time.Millisecond})
	if took := time.Since(start); bounded.OK != 0 || bounded.CutOff != 3 || took > 5*time.Second {
		t.Errorf("a 200 ms bound: %d ok, %d cut off after %v; want all cut off at the bound", bounded.OK, bounded.CutOff, took)
	}
}

// Every failed check carries its reason: a body broken at a known byte
// names that byte, a status its first body bytes; the same reason is
// counted, not repeated.
func TestFailureReasons(t *testing.T) {
	t.Parallel()
	broken := serve(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"data":[{"id":1},{"id":2}`+"\x01"+`]}`) })
	res := runLoad(t, Options{URL: broken, Concurrency: 2, Requests: 3, Validate: result.CheckJSON})
	if len(res.Reasons) != 1 || res.Reasons[0].Kind != result.OutcomeInvalid || res.Reasons[0].Count != 6 ||
		!strings.HasPrefix(res.Reasons[0].Reason, "byte 26: want ',' or ']', got '\\x01'") {
		t.Errorf("reasons %+v, want one invalid_body at byte 26, 6 times", res.Reasons)
	}
	failing := serve(t, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "database is locked", 500) })
	res = runLoad(t, Options{URL: failing, Concurrency: 1, Requests: 2})
	if c := res.Client(); len(c.FailureReasons) != 1 || c.FailureReasons[0].Reason != `HTTP 500, its body began "database is locked\n"` {
		t.Errorf("reasons %+v, want the status's body", c.FailureReasons)
	}
}
