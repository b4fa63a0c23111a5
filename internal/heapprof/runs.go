package heapprof

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/floodharness/harness/internal/result"
)

// RunDiff is what grew in one target's heap against a baseline run: its
// profiles at the highest level both runs measured, subtracted.
type RunDiff struct {
	Target string
	Level  int
	// Current and Baseline are the two profiles' paths, for
	// `go tool pprof -diff_base=Baseline Current`.
	Current, Baseline string
	Top               []Delta // largest growth first
	Err               string  // why there is no diff, when there is none
}

// RunDiffs diffs every target's heap profiles against the baseline's;
// curDir and baseDir are the directories the results files name them from.
func RunDiffs(cur, base *result.Results, curDir, baseDir string) []RunDiff {
	if base == nil {
		return nil
	}
	var out []RunDiff
	for _, tg := range cur.Targets() {
		levels := cur.Levels()
		for i := len(levels) - 1; i >= 0; i-- {
			c, b := profiled(cur.Select(tg, levels[i])), profiled(base.Select(tg, levels[i]))
			if c == nil || b == nil {
				continue
			}
			d := RunDiff{Target: tg, Level: levels[i],
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

func diffFiles(cur, base string) ([]Delta, string) {
	c, err := os.ReadFile(cur)
	if err != nil {
		return nil, err.Error()
	}
	b, err := os.ReadFile(base)
	if err != nil {
		return nil, err.Error() + " (harness gate --update-baseline keeps the profiles beside the baseline)"
	}
	if strings.HasSuffix(cur, ".json") != strings.HasSuffix(base, ".json") {
		// heap: auto's tops were JSON before they were saved as pprof.
		return nil, fmt.Sprintf("%s and %s are not the same kind of profile (a JSON heap top and a pprof one): the baseline was taken by another harness; harness gate --update-baseline takes a new one", filepath.Base(cur), filepath.Base(base))
	}
	top, err := DiffOf(strings.HasSuffix(cur, ".json"), c, b, 10)
	if err != nil {
		return nil, err.Error()
	}
	return top, ""
}
