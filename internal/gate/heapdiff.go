package gate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
)

// HeapDiff is what grew in one target's heap against the baseline: its
// profiles at the highest level both runs measured, subtracted.
type HeapDiff struct {
	Target string
	Level  int
	// Current and Baseline are the two profiles' paths, for
	// `go tool pprof -diff_base=Baseline Current`.
	Current, Baseline string
	Top               []sample.HeapDelta // largest growth first
	Err               string             // why there is no diff, when there is none
}

// heapDiffs diffs every target's heap profiles against the baseline's;
// curDir and baseDir are the directories the results files name them from.
func heapDiffs(cur, base *result.Results, curDir, baseDir string) []HeapDiff {
	if base == nil {
		return nil
	}
	var out []HeapDiff
	for _, tg := range cur.Targets() {
		levels := cur.Levels()
		for i := len(levels) - 1; i >= 0; i-- {
			c, b := profiled(cur.Select(tg, levels[i])), profiled(base.Select(tg, levels[i]))
			if c == nil || b == nil {
				continue
			}
			d := HeapDiff{Target: tg, Level: levels[i],
				Current: filepath.Join(curDir, c.HeapProfile), Baseline: filepath.Join(baseDir, b.HeapProfile)}
			d.Top, d.Err = diffFiles(d.Current, d.Baseline)
			out = append(out, d)
			break
		}
	}
	return out
}

// profiled is the first measured run with a heap profile.
func profiled(runs []result.Run) *result.Run {
	for i := range runs {
		if runs[i].Error == "" && runs[i].HeapProfile != "" {
			return &runs[i]
		}
	}
	return nil
}

func diffFiles(cur, base string) ([]sample.HeapDelta, string) {
	c, err := os.ReadFile(cur)
	if err != nil {
		return nil, err.Error()
	}
	b, err := os.ReadFile(base)
	if err != nil {
		return nil, err.Error() + " (harness gate --update-baseline keeps the profiles beside the baseline)"
	}
	diff := sample.HeapDiff
	if strings.HasSuffix(cur, ".json") {
		diff = sample.JSONHeapDiff
	}
	top, err := diff(c, b, 10)
	if err != nil {
		return nil, err.Error()
	}
	return top, ""
}

// title heads a diff in every output.
func (d HeapDiff) title() string {
	return fmt.Sprintf("heap growth against the baseline: %s at c=%d (go tool pprof -diff_base=%s %s)", d.Target, d.Level, d.Baseline, d.Current)
}

// lines are the diff's rows: growth, what the function holds now, name.
func (d HeapDiff) lines() []string {
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
		return fmt.Sprintf("%+.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
