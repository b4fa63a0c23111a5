package targets

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func newTestServer(t *testing.T, mutate func(*Config)) (*Server, string) {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts.URL
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, body
}

// Every impl must send exactly the golden bytes for every format, and the
// bytes must decode to the source's rows.
func TestExportGolden(t *testing.T) {
	t.Parallel()
	const rows, width = 20, 12
	for _, format := range Formats() {
		golden := filepath.Join("testdata", "export-20x12."+format+".golden")
		if *update {
			f, _ := FormatFor(format)
			body, err := f.Marshal(syntheticRows(0, rows, width))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, impl := range Impls() {
			t.Run(impl+"/"+format, func(t *testing.T) {
				t.Parallel()
				_, url := newTestServer(t, func(c *Config) { c.Impl, c.Format, c.Batch, c.Chunk = impl, format, 3, 100 })
				resp, body := get(t, fmt.Sprintf("%s/export?rows=%d&width=%d", url, rows, width))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if string(body) != string(want) {
					t.Errorf("body differs from %s\n got: %q\nwant: %q", golden, body, want)
				}
				got, err := decodeRows(format, body)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if diff := cmp.Diff(syntheticRows(0, rows, width), got); diff != "" {
					t.Errorf("rows differ (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestExportFraming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		impl    string
		chunked bool
	}{
		{ImplBuffered, false},
		{ImplStreamed, true},
		{ImplBatched, true},
	}
	for _, tt := range tests {
		for _, format := range Formats() {
			_, url := newTestServer(t, func(c *Config) { c.Impl, c.Format = tt.impl, format })
			for _, rows := range []int{0, 1, 500} {
				resp, body := get(t, fmt.Sprintf("%s/export?rows=%d", url, rows))
				f, _ := FormatFor(format)
				if ct := resp.Header.Get("Content-Type"); ct != f.ContentType() {
					t.Errorf("%s/%s rows=%d: Content-Type %q, want %q", tt.impl, format, rows, ct, f.ContentType())
				}
				chunked := len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"
				if chunked != tt.chunked {
					t.Errorf("%s/%s rows=%d: Transfer-Encoding %q, want chunked=%v", tt.impl, format, rows, resp.TransferEncoding, tt.chunked)
				}
				if hasLen := resp.ContentLength >= 0; hasLen == tt.chunked {
					t.Errorf("%s/%s rows=%d: Content-Length %d, want it set only when buffered", tt.impl, format, rows, resp.ContentLength)
				}
				if !tt.chunked && resp.ContentLength != int64(len(body)) {
					t.Errorf("%s/%s rows=%d: Content-Length %d, body %d bytes", tt.impl, format, rows, resp.ContentLength, len(body))
				}
			}
		}
	}
}

func TestExportSince(t *testing.T) {
	t.Parallel()
	for _, format := range Formats() {
		_, url := newTestServer(t, func(c *Config) { c.Format = format })
		_, body := get(t, url+"/export?rows=30&since=25&width=5")
		got, err := decodeRows(format, body)
		if err != nil {
			t.Fatalf("%s: decode: %v", format, err)
		}
		if diff := cmp.Diff(syntheticRows(25, 30, 5), got); diff != "" {
			t.Errorf("%s since=25: rows differ (-want +got):\n%s", format, diff)
		}
	}
}

func TestExportBadQuery(t *testing.T) {
	t.Parallel()
	_, url := newTestServer(t, nil)
	tests := []struct{ query, want string }{
		{"rows=-1", "query rows"},
		{"rows=abc", "query rows"},
		{"rows=99999999999", "query rows"},
		{"width=65537", "query width"},
		{"width=-3", "query width"},
		{"since=x", "query since"},
		{"format=xml", "query format"},
		{"rows=1&rows=2", "given 2 times"},
		{"row=10", "unknown parameter"},
		{"fail_at=-2", "query fail_at"},
		{"fail_mode=explode", "query fail_mode"},
	}
	for _, tt := range tests {
		resp, body := get(t, url+"/export?"+tt.query)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s: status %d, want 400", tt.query, resp.StatusCode)
		}
		if msg := string(body); !strings.Contains(msg, tt.want) || strings.Count(msg, "\n") != 1 {
			t.Errorf("?%s: body %q, want one line containing %q", tt.query, msg, tt.want)
		}
	}
}

func TestHealthAndDebug(t *testing.T) {
	t.Parallel()
	_, url := newTestServer(t, func(c *Config) { c.Admission = AdmitHeld })
	for path, want := range map[string]string{
		"/healthz":               "ok",
		"/health":                "ok",
		"/debug/vars":            `"reserved_bytes":0`,
		"/debug/pprof/heap?gc=1": "", // binary protobuf; status is enough
	} {
		resp, body := get(t, url+path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: status %d body %.80q, want 200 containing %q", path, resp.StatusCode, body, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	bad := []func(*Config){
		func(c *Config) { c.Impl = "lazy" },
		func(c *Config) { c.Format = "xml" },
		func(c *Config) { c.Admission = "maybe" },
		func(c *Config) { c.Admission, c.Budget = AdmitHeld, 0 },
		func(c *Config) { c.Batch = 0 },
		func(c *Config) { c.Chunk = 0 },
		func(c *Config) { c.Width = MaxWidth + 1 },
		func(c *Config) { c.Rows = -1 },
	}
	for i, mutate := range bad {
		cfg := DefaultConfig()
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("case %d: New(%+v) = nil error", i, cfg)
		}
	}
	cfg := DefaultConfig()
	cfg.Impl, cfg.Format = "lazy", "xml"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "lazy") || !strings.Contains(err.Error(), "xml") {
		t.Errorf("Validate() = %v, want both problems reported", err)
	}
}

// openExport sends GET /export on a raw connection with a small receive
// buffer and returns it after the status line, without reading the body.
func openExport(t *testing.T, base, query string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	addr := strings.TrimPrefix(base, "http://")
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// A bound so a broken admission fails the test instead of hanging it.
	// Held admission queues the clients: the 16th of 16 buffered ~16 MB
	// builds under -race waited 21 s once while the whole suite loaded
	// both cores (the queue, not a hang), so the bound is well above that.
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(conn, "GET /export?%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", query, addr)
	br := bufio.NewReaderSize(conn, 1024)
	status, err := br.ReadString('\n')
	if err != nil {
		t.Errorf("read status: %v", err)
	}
	return conn, br, strings.TrimSpace(status)
}

// waitFor polls cond until it holds; the bound only keeps a broken build
// from hanging, it is not what the test measures.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A body of ~16 MB cannot fit in the loopback socket buffers once the client
// stops reading, so the handler stays in flight until the client leaves.
const bigQuery = "rows=4000&width=4000"

func TestAdmissionHeldReleasesOnceOnDisconnect(t *testing.T) {
	t.Parallel()
	for _, impl := range Impls() {
		t.Run(impl, func(t *testing.T) {
			t.Parallel()
			const clients = 16
			srv, url := newTestServer(t, func(c *Config) { c.Impl, c.Admission, c.Budget = impl, AdmitHeld, 40<<20 })
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					conn, br, status := openExport(t, url, bigQuery)
					if !strings.Contains(status, "200") {
						t.Errorf("status %q", status)
					}
					if _, err := io.ReadFull(br, make([]byte, 1024)); err != nil {
						t.Errorf("read first KiB: %v", err)
					}
					conn.Close()
				})
			}
			wg.Wait()
			waitFor(t, "handlers to finish", func() bool { return srv.Stats().InFlight == 0 })
			st := srv.Stats().Budget
			if st.Reserved != 0 || st.Acquires != clients || st.Releases != clients {
				t.Errorf("after %d early disconnects: %+v, want reserved 0 and %d acquires and releases", clients, *st, clients)
			}
		})
	}
}

func TestAdmissionWhileBodiesInFlight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		admission    string
		wantReserved bool
	}{
		{AdmitHeld, true},
		{AdmitEarlyRelease, false}, // the bug, asserted: the budget bounds nothing
	}
	for _, tt := range tests {
		t.Run(tt.admission, func(t *testing.T) {
			t.Parallel()
			const clients = 3
			srv, url := newTestServer(t, func(c *Config) { c.Admission, c.Budget = tt.admission, 256<<20 })
			conns := make([]net.Conn, 0, clients)
			for range clients {
				conn, _, status := openExport(t, url, bigQuery)
				if !strings.Contains(status, "200") {
					t.Fatalf("status %q", status)
				}
				conns = append(conns, conn)
			}
			waitFor(t, "all bodies in flight", func() bool { return srv.Stats().InFlight == clients })
			st := srv.Stats().Budget
			if got := st.Reserved > 0; got != tt.wantReserved {
				t.Errorf("%s with %d bodies in flight: reserved %d bytes, want reserved>0 = %v", tt.admission, clients, st.Reserved, tt.wantReserved)
			}
			for _, c := range conns {
				c.Close()
			}
			waitFor(t, "handlers to finish", func() bool { return srv.Stats().InFlight == 0 })
			if st := srv.Stats().Budget; st.Reserved != 0 || st.Releases != clients {
				t.Errorf("after all clients left: %+v, want reserved 0 and %d releases", *st, clients)
			}
		})
	}
}

func TestAdmissionReject(t *testing.T) {
	t.Parallel()
	// The budget fits one ~16 MB body but not two.
	srv, url := newTestServer(t, func(c *Config) { c.Admission, c.Budget = AdmitReject, 24<<20 })
	holder, _, status := openExport(t, url, bigQuery)
	if !strings.Contains(status, "200") {
		t.Fatalf("first request: status %q", status)
	}
	waitFor(t, "first body in flight", func() bool { return srv.Stats().InFlight == 1 })
	resp, body := get(t, url+"/export?"+bigQuery)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second request while budget spent: status %d, Retry-After %q, body %q; want 503 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	holder.Close()
	waitFor(t, "budget to be free", func() bool { return srv.Stats().Budget.Reserved == 0 })
	resp, _ = get(t, url+"/export?rows=10")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("request after release: status %d, want 200", resp.StatusCode)
	}
	if st := srv.Stats().Budget; st.Rejects != 1 || st.Acquires != 2 || st.Releases != 2 {
		t.Errorf("stats %+v, want 1 reject, 2 acquires, 2 releases", *st)
	}
}

func TestBudgetAcquireWaitsAndHonoursContext(t *testing.T) {
	t.Parallel()
	b, err := NewBudget(100)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := b.Acquire(context.Background(), 1000) // clamped to the whole budget
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.TryAcquire(1); ok {
		t.Fatal("TryAcquire succeeded on a full budget")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Acquire(ctx, 10); err == nil {
		t.Fatal("Acquire with a cancelled context succeeded on a full budget")
	}
	got := make(chan *Reservation)
	go func() {
		r, _ := b.Acquire(context.Background(), 60)
		got <- r
	}()
	r1.Release()
	r1.Release() // a second release must not return bytes twice
	r2 := <-got
	if _, ok := b.TryAcquire(41); ok {
		t.Error("TryAcquire(41) succeeded with 60 of 100 reserved: a double release returned bytes twice")
	}
	r2.Release()
	if st := b.Stats(); st.Reserved != 0 || st.Releases != 2 || st.Acquires != 2 {
		t.Errorf("stats %+v, want 0 reserved, 2 acquires, 2 releases", st)
	}
}

func TestReservationShrink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		take         int64
		ops          func(r *Reservation)
		wantReserved int64 // after ops
		wantFree     int64 // TryAcquire of this much must succeed after ops
	}{
		{"shrink returns the excess", 80, func(r *Reservation) { r.Shrink(30) }, 30, 70},
		{"shrink never grows", 30, func(r *Reservation) { r.Shrink(90) }, 30, 70},
		{"shrink twice keeps the smaller", 80, func(r *Reservation) { r.Shrink(50); r.Shrink(60); r.Shrink(20) }, 20, 80},
		{"release after shrink returns the rest once", 80, func(r *Reservation) { r.Shrink(30); r.Release(); r.Release() }, 0, 100},
		{"shrink after release returns nothing", 80, func(r *Reservation) { r.Release(); r.Shrink(10) }, 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := NewBudget(100)
			if err != nil {
				t.Fatal(err)
			}
			r, err := b.Acquire(context.Background(), tt.take)
			if err != nil {
				t.Fatal(err)
			}
			tt.ops(r)
			if got := b.Stats().Reserved; got != tt.wantReserved {
				t.Errorf("reserved %d, want %d", got, tt.wantReserved)
			}
			if _, ok := b.TryAcquire(tt.wantFree); !ok {
				t.Errorf("TryAcquire(%d) failed: the semaphore and the counter disagree", tt.wantFree)
			}
			if _, ok := b.TryAcquire(1); ok {
				t.Errorf("TryAcquire(1) succeeded after taking the %d bytes that should be all that is free", tt.wantFree)
			}
		})
	}
}

// A buffered request reserves its build (rows, encoder buffer, the copy)
// and keeps only its body while it is written.
func TestEstimate(t *testing.T) {
	t.Parallel()
	q := Query{Rows: 100, Width: 1000, FailAt: -1}
	for _, f := range []string{"json", "ndjson", "csv"} {
		fm, _ := FormatFor(f)
		want := int64(len(encodeStreamed(fm, syntheticRows(0, q.Rows, q.Width))))
		for _, impl := range []string{ImplBuffered, ImplStreamed, ImplBatched} {
			peak, body := estimate(impl, fm, q)
			if body < want-want/10 || body > want+want/10 {
				t.Errorf("%s %s: body estimate %d, want the real body size %d ±10%%", impl, f, body, want)
			}
			if impl == ImplBuffered && peak < 2*body+q.Rows*int64(q.Width) {
				t.Errorf("%s %s: peak %d, want at least rows and two bodies (%d)", impl, f, peak, 2*body+q.Rows*int64(q.Width))
			} else if impl != ImplBuffered && peak != body {
				t.Errorf("%s %s: peak %d, want the body size %d", impl, f, peak, body)
			}
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"rows=10&width=64", "since=5&rows=9&format=csv", "rows=-1", "format=xml", "a=b&a=c", "%zz", "width=65536"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := urlParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v, Query{Rows: 1, Width: 1})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseQuery(%q): multi-line error %q", raw, err)
			}
			return
		}
		if q.Rows < 0 || q.Rows > MaxRows || q.Since < 0 || q.Width < 0 || q.Width > MaxWidth {
			t.Fatalf("ParseQuery(%q) = %+v: out of bounds", raw, q)
		}
		if q.Format != "" {
			if _, err := FormatFor(q.Format); err != nil {
				t.Fatalf("ParseQuery(%q) accepted format %q", raw, q.Format)
			}
		}
	})
}

func urlParseQuery(raw string) (map[string][]string, error) { return url.ParseQuery(raw) }

func TestFailMidStream(t *testing.T) {
	t.Parallel()
	for _, impl := range Impls() {
		for _, format := range Formats() {
			t.Run(impl+"/"+format, func(t *testing.T) {
				t.Parallel()
				srv, url := newTestServer(t, func(c *Config) { c.Impl, c.Format, c.Chunk, c.Batch = impl, format, 256, 2 })
				// record: a well-formed body ending in an error record after 5 rows.
				resp, body := get(t, url+"/export?rows=50&width=8&since=10&fail_at=5&fail_mode=record")
				if resp.StatusCode != 200 || !strings.Contains(string(body), "export failed after 5 rows") || !strings.Contains(string(body), "15") {
					t.Errorf("record: status %d body %q", resp.StatusCode, body)
				}
				if format == "json" && !json.Valid(body) {
					t.Errorf("record: JSON body is not valid JSON: %q", body)
				}
				// abort: some rows, then the connection drops mid-body.
				resp, err := http.Get(url + "/export?rows=50&width=8&fail_at=5&fail_mode=abort")
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil || len(got) < 20 {
					t.Errorf("abort: read %d bytes, err %v; want a truncated body after some rows", len(got), err)
				}
				waitFor(t, "the aborted handler to finish", func() bool { return srv.Stats().InFlight == 0 })
				// stall: the client's idle timeout is what ends it.
				client := &http.Client{Timeout: 300 * time.Millisecond}
				resp, err = client.Get(url + "/export?rows=50&width=8&fail_at=5&fail_mode=stall")
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if err == nil || !strings.Contains(err.Error(), "Timeout") && !strings.Contains(err.Error(), "deadline") {
					t.Errorf("stall: %v, want a client timeout", err)
				}
			})
		}
	}
}

// A streamed response's buffer doubles once growAfter bytes in a row went
// out at once, up to Config.Chunk; a write that waited starts the run
// again, and the buffer never shrinks.
func TestNextChunk(t *testing.T) {
	t.Parallel()
	limit, fast := minChunk, 0
	for range growAfter/minChunk - 1 {
		if limit, fast = nextChunk(limit, 32<<10, minChunk, fast, 0); limit != minChunk {
			t.Fatalf("grew after %d bytes", fast)
		}
	}
	if l, f := nextChunk(limit, 32<<10, minChunk, fast, time.Second); l != minChunk || f != 0 {
		t.Errorf("a write that waited: %d, %d", l, f)
	}
	if l, _ := nextChunk(limit, 32<<10, minChunk, fast, 0); l != 2*minChunk {
		t.Errorf("after growAfter fast bytes: %d, want %d", l, 2*minChunk)
	}
	if l, _ := nextChunk(32<<10, 32<<10, growAfter, growAfter, 0); l != 32<<10 {
		t.Errorf("past the chunk: %d", l)
	}
}
