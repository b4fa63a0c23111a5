//go:build e2e

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failures.yaml end to end, on its own small database: every broken export
// is resumed to completion with every row id exactly once.
func TestFailuresScenarioResumesEveryExport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "failures.db")
	if code, _, stderr := harnessRun(t, "fixtures", "sqlite", "--rows", "2000", "--width", "64", "--out", db); code != 0 {
		t.Fatalf("fixtures: exit %d\n%s", code, stderr)
	}
	sc, err := os.ReadFile("../../scenarios/failures.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(sc), "fixtures/failures.db", db)
	text = strings.ReplaceAll(text, "rows=20000&fail_at=3000", "rows=2000&fail_at=300")
	text = strings.Replace(text, "duration: 5s", "duration: 1500ms", 1)
	scenario := filepath.Join(dir, "failures.yaml")
	if err := os.WriteFile(scenario, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if code, _, stderr := harnessRun(t, "run", "--out", out, scenario); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	r := readResults(t, out)
	cause := map[string]string{"record": "error_record", "abort": "truncated", "stall": "stalled"}
	for _, run := range r.Runs {
		if run.ResumedBy[cause[run.Target]] != run.Resumes {
			t.Errorf("%s c=%d: resumed by %v, want all %d resumes after %s", run.Target, run.Concurrency, run.ResumedBy, run.Resumes, cause[run.Target])
		}
		// 2000 rows, 300 per response: 7 responses, 6 resumes per export.
		if run.OK == 0 || run.OK != run.Requests || run.Failed != 0 || run.Rows != run.OK*2000 || run.Resumes != run.OK*6 {
			t.Errorf("%s c=%d: %d requests, %d ok, %d failed %v, %d rows, %d resumes",
				run.Target, run.Concurrency, run.Requests, run.OK, run.Failed, run.Errors, run.Rows, run.Resumes)
		}
	}
}
