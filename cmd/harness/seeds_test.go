package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/targets"
	"os"
	"path/filepath"
)

// needPythonSeeds skips when the Debian packages of the Python seed servers
// are missing; scripts/install-deps.sh installs them, so CI runs these.
func needPythonSeeds(t *testing.T) {
	t.Helper()
	for _, prog := range []string{"gunicorn", "uvicorn"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skip(prog + " is not installed (scripts/install-deps.sh installs the Python seed packages)")
		}
	}
	// Debian's interpreter: the packages install there, whatever python3 is on PATH.
	if err := exec.Command("/usr/bin/python3", "-c", "import flask, simplejson, starlette, uvicorn").Run(); err != nil {
		t.Skip("python3-flask, python3-simplejson, python3-starlette or uvicorn is missing (scripts/install-deps.sh installs them)")
	}
}

// runSeed runs a seed scenario and returns its results, showing its table.
func runSeed(t *testing.T, scenario string) *result.Results {
	t.Helper()
	dir := t.TempDir()
	code, stdout, stderr := harnessRun(t, "run", "--out", dir, scenario)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	t.Log("\n" + stdout)
	return readResults(t, dir)
}

// streamedWins asserts the story every seed stack must tell at 16 clients:
// the buffered variant's peak is at least 5× the streamed one's, and the
// streamed peak is flat — from 1 to 16 clients it grows by less than a
// quarter of one response body per added client (a buffered download holds
// at least one whole body). The body size is what the client received per
// download, so the bound follows the scenario.
func streamedWins(t *testing.T, r *result.Results, buffered, streamed string) {
	t.Helper()
	buf, str, str1 := only(t, r, buffered, 16), only(t, r, streamed, 16), only(t, r, streamed, 1)
	for _, run := range []result.Run{buf, str, str1} {
		if run.OK == 0 || run.Failed != 0 {
			t.Fatalf("%s c=%d: %d ok, %d failed %v; want every download served", run.Target, run.Concurrency, run.OK, run.Failed, run.Errors)
		}
	}
	body := str.BytesReceived / str.OK
	growth := float64(str.PeakRSSBytes-str1.PeakRSSBytes) / 15
	t.Logf("c=16: %s %.1f MiB, %s %.1f MiB (%s), ratio %.1f×; %s grows %.2f MiB per client from c=1 (%.1f MiB), body %.1f MiB",
		buffered, mib(buf.PeakRSSBytes), streamed, mib(str.PeakRSSBytes), str.PeakRSSSource,
		float64(buf.PeakRSSBytes)/float64(str.PeakRSSBytes), streamed, growth/(1<<20), mib(str1.PeakRSSBytes), mib(body))
	if buf.PeakRSSBytes < 5*str.PeakRSSBytes {
		t.Errorf("%s peak %.1f MiB < 5 × %s peak %.1f MiB at 16 clients", buffered, mib(buf.PeakRSSBytes), streamed, mib(str.PeakRSSBytes))
	}
	if growth >= float64(body)/4 {
		t.Errorf("%s grows %.1f MiB per added client from 1 to 16, want < a quarter of one body (%.1f MiB)", streamed, growth/(1<<20), mib(body)/4)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func TestSeedsPythonExport(t *testing.T) {
	t.Parallel()
	needPythonSeeds(t)
	r := runSeed(t, "cmd/harness/testdata/seeds-export.yaml")
	buf, str := only(t, r, "export-buffered", 32), only(t, r, "export-streamed", 32)
	if buf.OK == 0 || str.OK == 0 || buf.Failed+str.Failed != 0 || buf.PeakRSSSource != result.PeakCgroupAnon {
		t.Fatalf("buffered %d ok %d failed (%s), streamed %d ok %d failed", buf.OK, buf.Failed, buf.PeakRSSSource, str.OK, str.Failed)
	}
	for _, run := range []result.Run{buf, str} {
		// gunicorn is a tree under a cgroup: its peak is the cgroup's
		// anonymous memory, within the cgroup's whole charge (page cache).
		if run.PeakRSSBytes != run.CgroupAnonPeakBytes || run.CgroupAnonPeakBytes <= 0 || run.CgroupAnonPeakBytes > run.CgroupPeakBytes {
			t.Errorf("%s: peak %d, cgroup anon peak %d beside a cgroup peak of %d", run.Target, run.PeakRSSBytes, run.CgroupAnonPeakBytes, run.CgroupPeakBytes)
		}
	}
	if buf.PeakRSSBytes < 5*str.PeakRSSBytes {
		t.Errorf("json.dumps peak %d MiB < 5 × iterencode peak %d MiB at 32 clients", buf.PeakRSSBytes>>20, str.PeakRSSBytes>>20)
	}
}

func TestSeedsPythonFrames(t *testing.T) {
	t.Parallel()
	needPythonSeeds(t)
	r := runAdmissionPair(t, "cmd/harness/testdata/seeds-frames.yaml", "frames-early-release", "frames-held", 40)
	if held := only(t, r, "frames-held", 40); len(held.HeapTop) == 0 || !strings.Contains(held.HeapTop[0].Func, ".py:") {
		t.Errorf("held: heap top from tracemalloc %+v", held.HeapTop)
	}
}

// A client that hangs up mid-frame must release its held reservation
// exactly once, read back from the app itself.
func TestFramesHeldReleasesOnceOnAbort(t *testing.T) {
	t.Parallel()
	needPythonSeeds(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := harnesstest.Command("uvicorn", "--app-dir", "../../targets/python", "--host", "127.0.0.1", "--port", port, "--log-level", "warning", "frames_app:app")
	cmd.Env = append(cmd.Environ(), "LIMITER=held", "BUDGET_BYTES=20000000")
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	vars := func() (v struct{ Acquires, Releases, Reserved_bytes, In_flight int }) {
		resp, err := http.Get("http://" + addr + "/debug/vars")
		if err != nil {
			return v
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&v)
		return v
	}
	waitUntil(t, "uvicorn up", func() bool { _, err := http.Get("http://" + addr + "/healthz"); return err == nil }, &logs)
	const clients = 8 // 20 MB budget, 8 MB frames: two at a time, the rest wait
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(conn, "GET /frames/%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
			if _, err := io.ReadFull(bufio.NewReader(conn), make([]byte, 1024)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	waitUntil(t, "every reservation released", func() bool { v := vars(); return v.Acquires == clients && v.In_flight == 0 && v.Reserved_bytes == 0 }, &logs)
	time.Sleep(200 * time.Millisecond) // a double release would land now
	if v := vars(); v.Releases != clients || v.Acquires != clients || v.Reserved_bytes != 0 {
		t.Errorf("after %d aborted downloads: %+v, want %d acquires and exactly %d releases", clients, v, clients, clients)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool, logs *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s; app log:\n%s", what, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The Node/Express seed: res.json of every row grows with each concurrent
// slow download (the body waits in Buffers for the socket), a stream that
// honours backpressure stays flat; the heap top from process.memoryUsage()
// says where the memory is.
func TestSeedsNode(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is missing: Node 20 is expected on these machines")
	}
	if _, err := os.Stat("../../targets/node/node_modules/express"); err != nil {
		t.Fatal("express is missing: scripts/install-deps.sh runs npm ci in targets/node")
	}
	// The heap snapshot endpoint answers its size (on demand, not sampled).
	app := harnesstest.Command("node", "targets/node/export_app.js", "18125") // its own group, dies with the test
	app.Dir = "../.."
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { app.Process.Kill(); app.Wait() }()
	var snap struct {
		Bytes int64 `json:"heap_snapshot_bytes"`
	}
	for deadline := time.Now().Add(10 * time.Second); snap.Bytes == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://127.0.0.1:18125/debug/heap-snapshot-size"); err == nil {
			json.NewDecoder(resp.Body).Decode(&snap)
			resp.Body.Close()
		}
	}
	if snap.Bytes <= 0 {
		t.Error("no heap snapshot size from /debug/heap-snapshot-size")
	}
	r := runSeed(t, "cmd/harness/testdata/seeds-node.yaml")
	streamedWins(t, r, "express-buffered", "express-streamed")
	js := only(t, r, "express-buffered", 16)
	if len(js.HeapTop) != 3 || !strings.HasPrefix(js.HeapTop[0].Func, "external") && !strings.HasPrefix(js.HeapTop[0].Func, "v8 heap used") {
		t.Errorf("heap top from process.memoryUsage(): %+v", js.HeapTop)
	}
}

// The Datasette-shaped export over a SQLite fixture: the CSV built whole
// grows with every download where keyset pages do not, and the harness's
// resume (?since=) carries streamed exports across a restart of the server
// with every row exactly once.
func TestSeedsDatasette(t *testing.T) {
	t.Parallel()
	needPythonSeeds(t)
	dir := t.TempDir()
	// ~24 MiB exports to compare (a body well above the server's own size),
	// ~8 MiB ones to resume across a restart at a slow 1 MiB/s.
	big, small := filepath.Join(dir, "big.db"), filepath.Join(dir, "small.db")
	for db, width := range map[string]string{big: "3000", small: "1000"} {
		if code, _, stderr := harnessRun(t, "fixtures", "sqlite", "--rows", "8000", "--width", width, "--out", db); code != 0 {
			t.Fatalf("fixtures: %s", stderr)
		}
	}
	target := func(name, path, db string) string {
		return fmt.Sprintf(`  - name: %s
    command: [uvicorn, --app-dir, targets/python, --host, 127.0.0.1, --port, "{port}", --log-level, warning, datasette_app:app]
    path: %s
    env: {FIXTURE_DB: %s}
`, name, path, db)
	}
	compare := filepath.Join(dir, "compare.yaml")
	os.WriteFile(compare, []byte(`name: datasette
levels: [1, 16]
duration: 3s
grace: 20s
request: {validate: csv, timeout: 30s}
client: {read_rate: 4MiB, recv_buffer: 64KiB}
memory: {limit: 1GiB}
targets:
`+target("whole", "/rows.csv", big)+target("stream", "/rows.csv?_stream=on", big)), 0o644)
	out := filepath.Join(dir, "compare")
	if code, stdout, stderr := harnessRun(t, "run", "--out", out, compare); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := readResults(t, out)
	streamedWins(t, r, "whole", "stream")
	whole, stream := only(t, r, "whole", 16), only(t, r, "stream", 16)
	if whole.Rows != whole.OK*8000 || stream.Rows != stream.OK*8000 {
		t.Errorf("whole: %d ok, %d rows; stream: %d ok, %d rows; want valid CSV of 8000 rows each", whole.OK, whole.Rows, stream.OK, stream.Rows)
	}
	resume := filepath.Join(dir, "resume.yaml")
	os.WriteFile(resume, []byte(`name: datasette-resume
levels: [4]
duration: 3s
grace: 20s
request: {validate: csv, timeout: 10s}
client: {read_rate: 1MiB, resume: true}
chaos: {restart_after: 1500ms}
targets:
`+target("stream", "/rows.csv?_stream=on", small)), 0o644)
	out = filepath.Join(dir, "resume")
	if code, stdout, stderr := harnessRun(t, "run", "--out", out, resume); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	run := only(t, readResults(t, out), "stream", 4)
	if run.Restarts != 1 || run.Resumes == 0 || run.Failed != 0 || run.OK == 0 || run.Rows < run.OK*8000 {
		t.Errorf("restarts %d, resumes %d (%v), ok %d, failed %d %v, rows %d; want exports carried across the restart, every row once",
			run.Restarts, run.Resumes, run.ResumedBy, run.OK, run.Failed, run.Errors, run.Rows)
	}
}

// The Rails-style Rack app under Puma in cluster mode: a process tree,
// measured as its cgroup's anonymous memory; `render json:` of everything
// holds more per download than an Enumerator body of batches; the heap top
// comes from ObjectSpace.
func TestSeedsRuby(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("puma"); err != nil {
		t.Fatal("puma is missing: scripts/install-deps.sh installs ruby, ruby-rack and puma")
	}
	r := runSeed(t, "cmd/harness/testdata/seeds-ruby.yaml")
	streamedWins(t, r, "puma-buffered", "puma-enumerator")
	render, each := only(t, r, "puma-buffered", 16), only(t, r, "puma-enumerator", 16)
	if each.PeakRSSSource != result.PeakCgroupAnon || render.PeakRSSSource != result.PeakCgroupAnon || len(each.PeakProcesses) < 3 {
		t.Errorf("sources %s/%s, %d processes at the peak; want the tree (master and 2 workers) measured as cgroup_anon", render.PeakRSSSource, each.PeakRSSSource, len(each.PeakProcesses))
	}
	if len(each.HeapTop) == 0 || each.HeapTop[0].Func != "ObjectSpace.memsize_of_all" {
		t.Errorf("heap top %+v, want ObjectSpace's figures", each.HeapTop)
	}
}

// Every stack's export writes the same rows (fixtures/rows.json and the
// recipe in fixtures/README.md): the Python, Ruby and Node row functions give
// what the Go reference gives, field for field, for small rows and for the
// widest payload at the highest id.
func TestSeedStacksShareTheRowShape(t *testing.T) {
	t.Parallel()
	type probe struct{ id, width int64 }
	var probes []probe
	for id := int64(1); id <= 20; id++ {
		probes = append(probes, probe{id, 12})
	}
	probes = append(probes, probe{123457, 3000}, probe{targets.MaxRows, targets.MaxWidth})
	src := targets.NewSynthetic()
	var want []targets.Row
	var ids []string
	for _, p := range probes {
		var r targets.Row
		src.Fill(&r, p.id, int(p.width))
		want = append(want, r)
		ids = append(ids, fmt.Sprintf("[%d,%d]", p.id, p.width))
	}
	list := "[" + strings.Join(ids, ",") + "]"
	stacks := map[string][]string{
		"python": {"python3", "-c", "import json, sys; sys.path.insert(0, 'targets/python'); import seedrows; " +
			"print(json.dumps([seedrows.make_row(i, w) for i, w in " + list + "]))"},
		"ruby": {"ruby", "-e", "require_relative 'targets/ruby/rows'; puts JSON.generate(" + list + ".map { |i, w| SeedRows.row(i, w) })"},
		"node": {"node", "-e", "const { row } = require('./targets/node/rows'); console.log(JSON.stringify(" + list + ".map(([i, w]) => row(i, w))))"},
	}
	for stack, argv := range stacks {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%s: %v", stack, err)
			continue
		}
		var got []targets.Row
		if err := json.Unmarshal(out, &got); err != nil {
			t.Errorf("%s: %v", stack, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d rows, want %d", stack, len(got), len(want))
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s row %d (width %d):\n got %+.80v\nwant %+.80v", stack, probes[i].id, probes[i].width, got[i], want[i])
			}
		}
	}
}
