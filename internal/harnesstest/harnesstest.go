// Package harnesstest builds the harness binary and runs it as real
// processes for end-to-end tests. Every process it starts is in its own
// process group, dies with the test process, and is killed by group at
// cleanup: no test leaves an orphan.
package harnesstest

import (
	"github.com/floodharness/harness/internal/pgroup"
	"github.com/floodharness/harness/internal/proc"

	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Build compiles cmd/harness and its lean siblings (harness-serve,
// harness-load) into dir and returns the harness binary's path. Tests
// call it once from TestMain: the binary is built without -race so the
// memory it shows is the server's, not the race detector's.
//
// It builds inside the harness module (found from this file's location), so
// tests in other modules of the repository, such as xk6, can call it too.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "harness")
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("build harness: cannot locate the module")
	}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/harness", "./cmd/harness-serve", "./cmd/harness-load")
	cmd.Dir = filepath.Join(filepath.Dir(self), "..", "..")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build harness: %w\n%s", err, out)
	}
	return bin, nil
}

// NativeExport builds targets/c/export.c, the native export server with
// no heap endpoint, into a directory of the test's own and returns its
// path; without gcc or heaptrack (what heap: auto traces it with) the
// test stops as Need says.
func NativeExport(t testing.TB) string {
	t.Helper()
	NeedProgram(t, "scripts/install-deps.sh installs gcc and heaptrack", "gcc", "heaptrack_print")
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "..", "..", "targets", "c", "export.c")
	bin := filepath.Join(t.TempDir(), "export")
	if out, err := exec.Command("gcc", "-O1", "-g", "-pthread", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, out)
	}
	return bin
}

// Proc is a started harness process.
type Proc struct {
	Cmd  *exec.Cmd
	Addr string // host:port from the "listening" line, for serve
	Done chan struct{}
	err  error
}

// Command prepares bin with args in its own process group; the process is
// sent SIGKILL by the kernel if the test process dies first.
func Command(bin string, args ...string) *exec.Cmd { return pgroup.Command(bin, args...) }

// Serve starts `bin serve args...` and waits for its "listening" line.
func Serve(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	cmd := Command(bin, append([]string{"serve", "--port", "0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	p := &Proc{Cmd: cmd, Done: make(chan struct{})}
	t.Cleanup(func() { p.Kill() })
	line := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stdout)
		l, _ := br.ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, br)
		p.err = cmd.Wait()
		close(p.Done)
	}()
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(l), "listening ")
		if !ok {
			t.Fatalf("%v: first line %q, want \"listening ADDR\"; stderr: %s", cmd.Args, l, stderr.String())
		}
		p.Addr = addr
	case <-time.After(30 * time.Second):
		t.Fatalf("%v: no listening line in 30s; stderr: %s", cmd.Args, stderr.String())
	}
	return p
}

// PID is the process's id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Kill sends SIGKILL to the process group and waits for the process.
func (p *Proc) Kill() {
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	<-p.Done
}

// Wait waits for the process to exit by itself, up to d, and returns its
// exit error (nil for status 0).
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.Done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("pid %d still running after %v", p.PID(), d)
	}
}

// Survivors lists the live (not zombie) processes whose environment holds
// key=value: a test marks what it starts with a unique pair and asserts
// nothing with it outlives the code under test.
func Survivors(key, value string) []int {
	want := []byte(key + "=" + value + "\x00")
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append(env, 0), want) {
			continue
		}
		if proc.Zombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// Main is a TestMain for packages with end-to-end tests: it builds the
// harness binary into a temporary directory, stores its path in *bin, runs
// the tests and removes the directory. Call it as os.Exit(Main(m, &bin)).
func Main(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "harness-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
