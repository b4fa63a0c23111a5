package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/units"
)

// PeakTable writes peak RSS (MiB, median over repeats) per target × level,
// marking levels where a repeat was OOM-killed or could not measure.
func PeakTable(w io.Writer, r *result.Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	levels := r.Levels()
	head := []string{"peak RSS (MiB)"}
	for _, l := range levels {
		head = append(head, fmt.Sprintf("c=%d", l))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, t := range r.Targets() {
		row := []string{t}
		for _, l := range levels {
			row = append(row, cell(r.Select(t, l)))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

func cell(runs []result.Run) string {
	if len(runs) == 0 {
		return "-"
	}
	m, ok := result.Median(runs, func(r result.Run) float64 { return float64(r.PeakRSSBytes) })
	if !ok {
		return "failed"
	}
	s := fmt.Sprintf("%.1f", units.MiB(m))
	for _, r := range runs {
		switch {
		case r.OOMKilled && r.MemoryLimitBy == result.LimitWatchdog:
			return s + " WATCHDOG"
		case r.OOMKilled:
			return s + " OOM"
		}
	}
	return s
}
