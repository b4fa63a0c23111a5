package gate

import (
	"fmt"

	"github.com/floodharness/harness/internal/heapprof"
	"github.com/floodharness/harness/internal/units"
)

// title heads a diff in every output.
func title(d heapprof.RunDiff) string {
	return fmt.Sprintf("heap growth against the baseline: %s at c=%d (go tool pprof -diff_base=%s %s)", d.Target, d.Level, d.Baseline, d.Current)
}

// lines are the diff's rows: growth, what the function holds now, name.
func lines(d heapprof.RunDiff) []string {
	if d.Err != "" {
		return []string{"no diff: " + d.Err}
	}
	if len(d.Top) == 0 {
		return []string{"nothing grew"}
	}
	out := make([]string, 0, len(d.Top))
	for _, t := range d.Top {
		out = append(out, fmt.Sprintf("%-12s now %-10s %s", mib(t.DeltaBytes, true), mib(t.InuseBytes, false), t.Func))
	}
	return out
}

func mib(b int64, signed bool) string {
	if signed {
		return fmt.Sprintf("%+.1f MiB", units.MiB(b))
	}
	return fmt.Sprintf("%.1f MiB", units.MiB(b))
}
