package cgroup

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/proc"
)

// A systemd scope is the way to a cap for a user who can make no cgroup:
// `systemd-run --user --scope` asks the user's systemd to put the target in
// a scope of its own with MemoryMax, and the harness reads that scope's
// cgroup (files a user may read) like one of its own.

// systemdRun is the program that makes scopes.
const systemdRun = "systemd-run"

// scopeProbe reports whether the user's systemd makes capped scopes here:
// it runs `true` in one, so a missing user manager, a missing memory
// controller or a refused move shows now, not at the first target.
func scopeProbe() error {
	path, err := exec.LookPath(systemdRun)
	if err != nil {
		return fmt.Errorf("%s is not on PATH", systemdRun)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--user", "--scope", "--quiet", "--collect",
		"-p", "MemoryMax=64M", "-p", "MemorySwapMax=0", "--", "true").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --user --scope: %v: %s", systemdRun, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// scopeArgs is the systemd-run command that runs argv in the scope unit,
// capped at limit bytes (0: no cap).
func scopeArgs(unit string, limit int64, argv []string) []string {
	max := "infinity"
	if limit > 0 {
		max = strconv.FormatInt(limit, 10)
	}
	return append([]string{systemdRun, "--user", "--scope", "--quiet", "--collect", "--unit", unit,
		"-p", "MemoryMax=" + max, "-p", "MemorySwapMax=0", "-p", "OOMPolicy=kill", "--"}, argv...)
}

// attachScope waits until pid runs in the scope unit (systemd-run moves
// itself there, then execs the target) and returns the scope's cgroup.
func attachScope(root string, pid int, unit string, done <-chan struct{}) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, err := proc.CgroupsOf(pid); err == nil && m.HasV2 && filepath.Base(m.V2) == unit+".scope" {
			return filepath.Join(root, m.V2), nil
		}
		select {
		case <-done:
			return "", fmt.Errorf("%s exited before its scope %s.scope was made", systemdRun, unit)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("process %d is not in scope %s.scope after 10s", pid, unit)
		}
	}
}
