package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"encoding/json"
	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/units"
	"os"
	"path/filepath"
)

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	p := harnesstest.Serve(t, harnessBin, "--impl", "batched", "--batch", "7", "--format", "ndjson")
	if !strings.HasPrefix(p.Addr, "127.0.0.1:") {
		t.Errorf("bound %q, want loopback by default", p.Addr)
	}
	resp, err := http.Get("http://" + p.Addr + "/export?rows=50&width=10")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := strings.Count(string(body), "\n"); got != 50 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Errorf("ndjson export: %d lines, Content-Type %q; want 50 lines of application/x-ndjson", got, resp.Header.Get("Content-Type"))
	}
	if err := syscall.Kill(p.PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(10 * time.Second); err != nil {
		t.Errorf("after SIGTERM: %v, want a clean exit", err)
	}
}

// `harness serve` and `harness load` run as the lean binaries beside
// harness (no plotting, fonts or reports in the measured process), and
// `load --json` writes a results.json run's field names.
func TestLeanServeAndLoad(t *testing.T) {
	t.Parallel()
	p := harnesstest.Serve(t, harnessBin, "--impl", "streamed")
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID()))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(exe) != "harness-serve" {
		t.Errorf("harness serve runs as %s, want harness-serve", exe)
	}
	code, stdout, stderr := harnessRun(t, "load", "-c", "2", "-n", "4", "--json", "--validate", "json", "http://"+p.Addr+"/export?rows=100")
	if code != 0 {
		t.Fatalf("harness load: exit %d\n%s", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("load --json: %v\n%s", err, stdout)
	}
	for _, k := range []string{"url", "concurrency", "requests", "ok", "bytes_received", "rows", "latency_ms", "client_cpu_s", "client_peak_rss_bytes", "mb_per_s"} {
		if _, ok := got[k]; !ok {
			t.Errorf("load --json has no %q:\n%s", k, stdout)
		}
	}
	if got["ok"] != 4.0 || got["rows"] != 400.0 {
		t.Errorf("load --json: ok %v rows %v, want 4 and 400", got["ok"], got["rows"])
	}
}

// peakAfterFlood starts a fresh server, floods it once with c concurrent
// downloads of query, and returns the kernel's peak RSS of the process.
func peakAfterFlood(t testing.TB, impl string, c int, query string) (units.Bytes, int64) {
	t.Helper()
	p := harnesstest.Serve(t, harnessBin, "--impl", impl)
	n, err := flood(fmt.Sprintf("http://%s/export?%s", p.Addr, query), c)
	if err != nil {
		t.Fatalf("%s c=%d: %v", impl, c, err)
	}
	st, err := proc.ReadStatus(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	p.Kill()
	return units.Bytes(st.HWM), n
}

// The story this tool exists to tell: a buffered export's memory grows with
// concurrent downloads, a streamed one's does not.
func TestStreamedPeakFarBelowBuffered(t *testing.T) {
	const c, query = 16, "rows=2000&width=4000" // ~8.3 MB per body
	buffered, nb := peakAfterFlood(t, "buffered", c, query)
	streamed, ns := peakAfterFlood(t, "streamed", c, query)
	if nb != ns || nb < c*8e6 {
		t.Fatalf("received %d bytes from buffered, %d from streamed; want the same, ≥ %d", nb, ns, c*8_000_000)
	}
	t.Logf("peak RSS (VmHWM) at c=%d: buffered %v, streamed %v (%.1f×)", c, buffered, streamed, float64(buffered)/float64(streamed))
	if buffered < 5*streamed {
		t.Errorf("buffered peak %v < 5 × streamed peak %v", buffered, streamed)
	}
}

// The regression knob must cost what it says: c × retain-bytes more at peak.
func TestRetainBytesKnobRaisesThePeak(t *testing.T) {
	const c, query = 8, "rows=2000&width=4000"
	plain, _ := peakAfterFlood(t, "streamed", c, query)
	p := harnesstest.Serve(t, harnessBin, "--impl", "streamed", "--retain-bytes", "4MiB")
	if _, err := flood(fmt.Sprintf("http://%s/export?%s", p.Addr, query), c); err != nil {
		t.Fatal(err)
	}
	st, err := proc.ReadStatus(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("streamed peak at c=%d: %v plain, %v with --retain-bytes 4MiB", c, plain, units.Bytes(st.HWM))
	if units.Bytes(st.HWM) < plain+16<<20 {
		t.Errorf("with 4 MiB retained by each of %d requests the peak rose only from %v to %v", c, plain, units.Bytes(st.HWM))
	}
}

// --reuseport lets several servers share one port (past one process's
// open files): a second starts beside the first and a client's requests
// are served; without it the port is taken.
func TestServeReusePort(t *testing.T) {
	t.Parallel()
	first := harnesstest.Serve(t, harnessBin, "--impl", "streamed", "--reuseport")
	_, port, _ := strings.Cut(first.Addr, ":")
	second := harnesstest.Serve(t, harnessBin, "--impl", "streamed", "--reuseport", "--port", port)
	if second.Addr != first.Addr {
		t.Fatalf("the second server is on %s, want %s", second.Addr, first.Addr)
	}
	code, stdout, stderr := harnessRun(t, "load", "-c", "8", "-n", "64", "--source-base", "1", "--json", "http://"+first.Addr+"/export?rows=10")
	if code != 0 || !strings.Contains(stdout, `"ok": 64`) {
		t.Errorf("load across both: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := harnessRun(t, "serve", "--port", port); code == 0 || !strings.Contains(stderr, "address already in use") {
		t.Errorf("a third without --reuseport: exit %d\n%s", code, stderr)
	}
}
