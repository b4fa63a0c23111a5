package harnesstest

import (
	"os"
	"os/exec"
	"testing"
)

// Need stops a test whose stack this machine lacks, the same way for every
// stack: skipped, with the fix, on a developer's machine; failed where CI
// is set (CI=true), since CI installs everything through
// scripts/install-deps.sh and a skip there would hide a broken install.
// what names the missing piece; missing false lets the test go on.
func Need(t testing.TB, missing bool, what, fix string) {
	t.Helper()
	if !missing {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing: %s", what, fix)
	}
	t.Skipf("%s is missing: %s", what, fix)
}

// NeedProgram is Need for programs on PATH.
func NeedProgram(t testing.TB, fix string, programs ...string) {
	t.Helper()
	for _, p := range programs {
		_, err := exec.LookPath(p)
		Need(t, err != nil, p, fix)
	}
}
