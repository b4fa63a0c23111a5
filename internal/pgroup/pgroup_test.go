package pgroup

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A group's grandchild dies with Signal to the group, and the group is
// the child's own, not the test's.
func TestSignalReachesTheWholeGroup(t *testing.T) {
	pidFile := t.TempDir() + "/pid"
	cmd := Command("sh", "-c", "sleep 30 & echo $! > "+pidFile+"; wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var grandchild int
	for deadline := time.Now().Add(5 * time.Second); grandchild == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			grandchild, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	if grandchild == 0 {
		t.Fatal("the grandchild's PID never came")
	}
	if pg, _ := syscall.Getpgid(cmd.Process.Pid); pg != cmd.Process.Pid || pg == syscall.Getpgrp() {
		t.Fatalf("child's group %d, want its own (%d), not the test's (%d)", pg, cmd.Process.Pid, syscall.Getpgrp())
	}
	Signal(cmd, syscall.SIGKILL)
	<-done
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := syscall.Kill(grandchild, 0); err == syscall.ESRCH {
			return
		}
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(grandchild) + "/stat"); strings.Contains(string(b), ") Z ") {
			return // dead, waiting for init to reap it
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d outlived the group's SIGKILL", grandchild)
		}
	}
}
