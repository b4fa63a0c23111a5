package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/result"
)

// freeTestPort asks the kernel for a free loopback port.
func freeTestPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startBuffered starts the reference buffered server outside any harness
// run, as a test fixture or a compose file would, and waits until it
// listens; it is killed when the test ends. GOMEMLIMIT makes the Go runtime
// hand freed memory back soon after a level (otherwise it keeps it for
// minutes, and a reset peak starts from there: a long-running server is
// not a fresh one).
func startBuffered(t *testing.T) (*exec.Cmd, int) {
	t.Helper()
	port := freeTestPort(t)
	cmd := harnesstest.Command(filepath.Join(filepath.Dir(harnessBin), "harness-serve"), "--impl", "buffered", "--port", fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=16MiB")
	// Not a process group leader, as a server started in the background of
	// a script is not: the harness must find its socket all the same.
	cmd.SysProcAttr.Setpgid = false
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "listening") {
		t.Fatalf("server said %q", line)
	}
	return cmd, port
}

// attachRun floods an attached server at 8 clients, then at 1, and returns
// the two runs and the console. If the kernel peak were not reset between
// levels, the second level would report the first one's peak.
func attachRun(t *testing.T, attach string) (hi, lo result.Run, out string) {
	t.Helper()
	dir := t.TempDir()
	sc := filepath.Join(dir, "attach.yaml")
	os.WriteFile(sc, []byte(`name: attach-test
levels: [8, 1]
duration: 2s
grace: 20s
request: {path: "/export?rows=4000&width=2000", validate: json}
client: {read_rate: 4MiB, recv_buffer: 64KiB}
memory: {limit: 0, heap_profile: "off"}
targets:
  - name: app
    attach: `+attach+`
`), 0o644)
	code, stdout, stderr := harnessRun(t, "run", "--out", filepath.Join(dir, "out"), sc)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	r := readResults(t, filepath.Join(dir, "out"))
	summary, _ := os.ReadFile(filepath.Join(dir, "out", "summary.md"))
	return only(t, r, "app", 8), only(t, r, "app", 1), stdout + string(summary)
}

// checkAttached asserts two levels of one attached server: both served,
// each peak its own level's (the reset worked: 1 client's peak is well
// under 8 clients'), from the source and reset expected, and the report
// says the target was attached.
func checkAttached(t *testing.T, hi, lo result.Run, out, by string, src result.PeakSource, resets ...string) {
	t.Helper()
	for _, run := range []result.Run{hi, lo} {
		if run.OK == 0 || run.Failed != 0 || run.Attached == nil || run.Attached.By != by || run.PeakRSSSource != src || !strings.Contains(strings.Join(resets, " "), run.Attached.PeakReset) || !run.MainLived {
			t.Errorf("c=%d: %d ok, %d failed, attached %+v, source %s, lived %v; want served, by %s, source %s, reset one of %v", run.Concurrency, run.OK, run.Failed, run.Attached, run.PeakRSSSource, run.MainLived, by, src, resets)
		}
	}
	t.Logf("by %s: c=8 %.1f MiB, c=1 %.1f MiB [%s, reset %s]", by, mib(hi.PeakRSSBytes), mib(lo.PeakRSSBytes), lo.PeakRSSSource, lo.Attached.PeakReset)
	if lo.PeakRSSBytes*2 > hi.PeakRSSBytes {
		t.Errorf("peak %.1f MiB at 1 client after %.1f MiB at 8: want the first level's peak reset, not carried over", mib(lo.PeakRSSBytes), mib(hi.PeakRSSBytes))
	}
	if !strings.Contains(out, "app was attached by "+by) {
		t.Errorf("the run does not say the target was attached:\n%s", out)
	}
}

// A server the harness did not start, named three ways, measured at two
// levels with its kernel peak reset between them; the harness leaves it
// running.
func TestAttachedTargets(t *testing.T) {
	t.Parallel()
	t.Run("pid", func(t *testing.T) {
		t.Parallel()
		cmd, port := startBuffered(t)
		hi, lo, out := attachRun(t, fmt.Sprintf("{pid: %d, port: %d}", cmd.Process.Pid, port))
		checkAttached(t, hi, lo, out, "pid", result.PeakVmHWM, "clear_refs")
		if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
			t.Errorf("the attached server did not outlive the run: %v", err)
		}
	})
	t.Run("cgroup", func(t *testing.T) {
		t.Parallel()
		cg := testCgroup(t)
		cmd, port := startBuffered(t)
		if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(fmt.Sprint(cmd.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
		hi, lo, out := attachRun(t, fmt.Sprintf("{cgroup: %s, port: %d}", cg, port))
		checkAttached(t, hi, lo, out, "cgroup", result.PeakCgroup, "max_usage_in_bytes", "memory.peak")
		if pids, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs")); strings.TrimSpace(string(pids)) != fmt.Sprint(cmd.Process.Pid) {
			t.Errorf("the attached cgroup holds %q after the run, want the server still there", pids)
		}
	})
	t.Run("container", func(t *testing.T) {
		image := needPodman(t)
		port := freeTestPort(t)
		name := fmt.Sprintf("attach-test-%d", os.Getpid())
		run := exec.Command("podman", "--runtime", "runc", "run", "--detach", "--name", name,
			"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", "--env", "GOMEMLIMIT=16MiB",
			"--publish", fmt.Sprintf("127.0.0.1:%d:8080", port), image, "--impl", "buffered", "--addr", "0.0.0.0", "--port", "8080")
		run.Dir = t.TempDir() // podman 4.3's conmon leaves its OOM mark in its working directory
		if out, err := run.CombinedOutput(); err != nil {
			t.Fatalf("podman run: %v\n%s", err, out)
		}
		t.Cleanup(func() { exec.Command("podman", "rm", "--force", name).Run() })
		hi, lo, out := attachRun(t, fmt.Sprintf("{container: %s, engine: podman, port: %d}", name, port))
		checkAttached(t, hi, lo, out, "container", result.PeakCgroup, "max_usage_in_bytes", "memory.peak")
		if state, _ := exec.Command("podman", "inspect", "--format", "{{.State.Status}}", name).Output(); strings.TrimSpace(string(state)) != "running" {
			t.Errorf("the attached container is %q after the run, want running", state)
		}
	})
}

// testCgroup makes a memory cgroup for a test fixture beside this
// process's own (v1: in the memory hierarchy; v2: the test would need a
// cgroup with the memory controller, which this suite does not set up),
// removed when the test ends.
func testCgroup(t *testing.T) string {
	t.Helper()
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	for _, line := range strings.Split(string(self), "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && strings.Contains(","+parts[1]+",", ",memory,") {
			dir = filepath.Join("/sys/fs/cgroup/memory", parts[2], fmt.Sprintf("attach-test-%d", os.Getpid()))
		}
	}
	if dir == "" {
		t.Skip("no cgroup v1 memory hierarchy here (these machines have one; the v2 case is the harness's own, tested in make test-cgroup2)")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.Remove(dir) == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	return dir
}
