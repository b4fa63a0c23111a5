package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/proc"
)

// Rows read in keyset pages keep a streamed export's memory flat: ten
// times the rows, the same peak.
func TestStreamedSQLitePeakFlatWithRows(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "rows.db")
	if code, _, stderr := harnessRun(t, "fixtures", "sqlite", "--rows", "200000", "--width", "64", "--out", db); code != 0 {
		t.Fatalf("fixtures: exit %d\n%s", code, stderr)
	}
	peak := func(rows int) int64 {
		p := harnesstest.Serve(t, harnessBin, "--impl", "streamed", "--source", "sqlite", "--db", db)
		n, err := flood(fmt.Sprintf("http://%s/export?rows=%d", p.Addr, rows), 4)
		if err != nil || n < int64(rows)*4*64 {
			t.Fatalf("rows=%d: %d bytes, %v", rows, n, err)
		}
		st, err := proc.ReadStatus(p.PID())
		if err != nil {
			t.Fatal(err)
		}
		p.Kill()
		return st.HWM
	}
	small, large := peak(20000), peak(200000)
	t.Logf("streamed sqlite peak, 4 clients: %.1f MiB at 20k rows, %.1f MiB at 200k rows", float64(small)/(1<<20), float64(large)/(1<<20))
	if margin := max(int64(4<<20), small/4); large > small+margin {
		t.Errorf("peak grew from %d to %d bytes with 10× the rows (allowed +%d)", small, large, margin)
	}
}

// Not told where, `harness fixtures sqlite` writes fixtures/rows.db under the
// directory it runs in (the project's fixtures folder from the repo root),
// making the folder if need be: the database seeds-datasette.yaml reads.
func TestFixturesDefaultToTheFixturesFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := harnesstest.Command(harnessBin, "fixtures", "sqlite", "--rows", "50")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(dir, "fixtures", "rows.db"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 50*1000 || !strings.Contains(string(out), "wrote fixtures/rows.db: 50 rows of 1000-byte payloads") {
		t.Errorf("%d bytes; output %q; want fixtures/rows.db of 50 1000-byte rows", fi.Size(), out)
	}
}
