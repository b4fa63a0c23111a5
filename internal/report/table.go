package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/units"
)

// PeakTable writes peak RSS (MiB, median over repeats) per target × level,
// marking levels where a repeat was OOM-killed or could not measure, and
// says which measure the peaks are: where a table mixes them (a cgroup's
// charge beside one process's VmHWM), each cell not from VmHWM names its
// source.
func PeakTable(w io.Writer, r *result.Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	levels := r.Levels()
	head := []string{"peak RSS (MiB)"}
	for _, l := range levels {
		head = append(head, fmt.Sprintf("c=%d", l))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	sources := peakSources(r)
	for _, t := range r.Targets() {
		row := []string{t}
		for _, l := range levels {
			c := cell(r.Select(t, l))
			if src := source(r.Select(t, l)); len(sources) > 1 && src != "" && src != result.PeakVmHWM {
				c += " [" + string(src) + "]"
			}
			row = append(row, c)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, src := range sources {
		if _, err := fmt.Fprintf(w, "  %s: %s\n", src, sourceMeaning[src]); err != nil {
			return err
		}
	}
	for _, a := range attachedNotes(r) {
		if _, err := fmt.Fprintf(w, "  %s\n", a); err != nil {
			return err
		}
	}
	return nil
}

// sourceMeaning says in a few words what each peak source measures.
var sourceMeaning = map[result.PeakSource]string{
	result.PeakVmHWM:         "the kernel's high-water mark of the one server process (VmHWM)",
	result.PeakCgroupAnon:    "the highest anonymous memory of the target's cgroup sampled: all its processes, shared pages once, no page cache",
	result.PeakPSS:           "the highest sum of the processes' PSS sampled (shared pages shared out among them)",
	result.PeakCgroup:        "the kernel's peak charge of the target's cgroup (a container's), all its processes, page cache included: what a container's memory limit counts",
	result.PeakSampled:       "the highest sum of the processes' RSS sampled (shared pages counted once per process)",
	result.PeakSampledMemory: "the highest memory sampled of a server the harness attached to, whose kernel peak could not be reset between levels",
}

// sourcesNote says, in one sentence, what the peaks of r measure.
func sourcesNote(r *result.Results) string {
	var parts []string
	for _, src := range peakSources(r) {
		parts = append(parts, string(src)+" is "+sourceMeaning[src])
	}
	if len(parts) == 0 {
		return "No peak was measured."
	}
	note := "Peak RSS by source: " + strings.Join(parts, "; ") + "."
	for _, a := range attachedNotes(r) {
		note += " " + a
	}
	return note
}

// attachedNotes says, for each attached target, that the harness did not
// start it (one process through every level) and how each level's peak
// was made that level's own; for a container target, its engine and image.
func attachedNotes(r *result.Results) []string {
	var out []string
	for _, t := range r.Targets() {
		var by string
		var resets []string
		for _, run := range r.Runs {
			if run.Target != t || run.Attached == nil {
				continue
			}
			by = run.Attached.By
			resets = append(resets, fmt.Sprintf("c=%d %s", run.Concurrency, run.Attached.PeakReset))
		}
		if by != "" {
			out = append(out, fmt.Sprintf("%s was attached by %s: the harness did not start it, so every level measured the same server; its kernel peak was reset before each level (%s; none: the level's peak is sampled).", t, by, strings.Join(resets, ", ")))
		}
		for _, run := range r.Runs {
			if run.Target == t && run.Container != nil {
				out = append(out, fmt.Sprintf("%s ran as a %s container of %s, a fresh one per run, measured from its cgroup.", t, run.Container.Engine, run.Container.Image))
				break
			}
		}
	}
	return out
}

// peakSources lists the sources of the measured runs, in a fixed order.
func peakSources(r *result.Results) []result.PeakSource {
	var out []result.PeakSource
	for _, src := range []result.PeakSource{result.PeakVmHWM, result.PeakCgroupAnon, result.PeakPSS, result.PeakCgroup, result.PeakSampled, result.PeakSampledMemory} {
		for _, run := range r.Runs {
			if run.Error == "" && run.PeakRSSSource == src {
				out = append(out, src)
				break
			}
		}
	}
	return out
}

// source is the peak source of a level's measured runs ("" if none).
func source(runs []result.Run) result.PeakSource {
	for _, r := range runs {
		if r.Error == "" {
			return r.PeakRSSSource
		}
	}
	return ""
}

func cell(runs []result.Run) string {
	if len(runs) == 0 {
		return "-"
	}
	m, ok := result.Median(runs, func(r result.Run) float64 { return float64(r.PeakRSSBytes) })
	if !ok {
		for _, r := range runs {
			if r.HasNoOKResponse() {
				return r.Error
			}
		}
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

// byRequestRow is one mix request's share of one run.
type byRequestRow struct {
	Target, Name, Failed, MB, P50, P99 string
	Level, Repeat                      int
	Requests, OK                       int64
}

// byRequestRows lists, for every run of a weighted mix, each request's
// figures, in the runs' order and then by name ("" rows: no mix).
func byRequestRows(r *result.Results) []byRequestRow {
	var out []byRequestRow
	for _, run := range r.Runs {
		for _, name := range slices.Sorted(maps.Keys(run.ByRequest)) {
			b := run.ByRequest[name]
			out = append(out, byRequestRow{Target: run.Target, Level: run.Concurrency, Repeat: run.Repeat, Name: name,
				Requests: b.Requests, OK: b.OK, Failed: result.KindCounts(b.Errors), MB: fmt.Sprintf("%.1f", float64(b.BytesReceived)/1e6),
				P50: fmt.Sprintf("%.1f", b.LatencyMs.P50), P99: fmt.Sprintf("%.1f", b.LatencyMs.P99)})
		}
	}
	return out
}
