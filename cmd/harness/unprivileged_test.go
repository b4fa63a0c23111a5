package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/result"
)

// Run by a user who can make no cgroup, the run says WATCHDOG once at its
// start, with the reason, and results.json says what the targets got: no
// start line promising a kernel cap the targets never had (issue 24: on
// this cgroup v1 machine an unprivileged run said "a memory cgroup per
// target (v1)" while every target's cgroup failed with permission denied).
func TestUnprivilegedRunSaysWatchdog(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"harness", "harness-serve"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(harnessBin), name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	argv := []string{filepath.Join(dir, "harness"), "run", "--cmd", "harness serve --impl streamed --port {port}",
		"--levels", "1", "--duration", "1s", "--limit", "256MiB", "--out", filepath.Join(dir, "out")}
	if os.Geteuid() == 0 {
		argv = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errb.String())
	}
	res, err := result.Read(filepath.Join(dir, "out", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	run := res.Runs[0]
	stderr := errb.String()
	switch run.MemoryLimitBy {
	case result.LimitWatchdog:
		if strings.Count(stderr, "WATCHDOG, not a kernel cap") != 1 || strings.Contains(stderr, "a memory cgroup per target") {
			t.Errorf("the targets were capped by the watchdog; the start does not say so once:\n%s", stderr)
		}
		if res.Host.Cgroup != "none" || res.Host.CgroupMode != "" {
			t.Errorf("host.cgroup %q, cgroup_mode %q: want none, as the targets got", res.Host.Cgroup, res.Host.CgroupMode)
		}
	case result.LimitCgroup, result.LimitSystemdScope:
		// A host that delegates cgroups to users (systemd, cgroup v2).
		if strings.Contains(stderr, "WATCHDOG") {
			t.Errorf("capped by %s, yet the start says WATCHDOG:\n%s", run.MemoryLimitBy, stderr)
		}
	default:
		t.Fatalf("memory_limit_by %q", run.MemoryLimitBy)
	}
	if v1, _ := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); v1 != nil && os.Geteuid() == 0 && run.MemoryLimitBy != result.LimitWatchdog {
		t.Errorf("on cgroup v1 as nobody: memory_limit_by %s, want watchdog", run.MemoryLimitBy)
	}
	t.Log(stderr)
}
