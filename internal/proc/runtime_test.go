package proc

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// What a process runs, from its executable: this test (Go, by its build
// information), a C program (native), a shell (a wrapper: not known),
// an interpreter by name; nothing for a process gone.
func TestRuntime(t *testing.T) {
	t.Parallel()
	if got := Runtime(os.Getpid()); got != "go" {
		t.Errorf("this test binary: %q, want go", got)
	}
	start := func(name string, args ...string) int {
		t.Helper()
		cmd := exec.Command(name, args...)
		if err := cmd.Start(); err != nil {
			t.Skipf("%s: %v", name, err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		time.Sleep(100 * time.Millisecond) // exec'd
		return cmd.Process.Pid
	}
	for want, pid := range map[string]int{
		"native": start("sleep", "30"),
		"":       start("sh", "-c", "sleep 30; true"),
	} {
		if got := Runtime(pid); got != want {
			t.Errorf("pid %d: %q, want %q", pid, got, want)
		}
	}
	if _, err := exec.LookPath("python3"); err == nil {
		// python3 may be a shim (pyenv's is a bash script) that execs
		// the interpreter when it gets to it.
		pid := start("python3", "-c", "import time; time.sleep(30)")
		got := Runtime(pid)
		for deadline := time.Now().Add(10 * time.Second); got != "python" && time.Now().Before(deadline); got = Runtime(pid) {
			time.Sleep(20 * time.Millisecond)
		}
		if got != "python" {
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			t.Errorf("python3 (%s, %v): %q, want python", exe, err, got)
		}
	}
	if got := Runtime(1 << 30); got != "" {
		t.Errorf("no such process: %q", got)
	}
}
