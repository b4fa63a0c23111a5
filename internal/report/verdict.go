package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/floodharness/harness/internal/result"
)

// Verdict is one line a person reads first: what a target did.
type Verdict struct {
	Target string
	Text   string
	Bad    bool // OOM-killed, could not measure, or failed requests
	// Shed: alive, and every failed request was a 503 — the server
	// refused work (admission control) rather than risk its memory.
	Shed bool
}

// flat reports whether peaks that the least-squares line says change by
// growth from the lowest to the highest level are flat: within 8 MiB or
// half the smallest peak, whichever is more. Judging the fitted trend, not
// the raw spread, keeps GC jitter between levels from reading as growth.
func flat(growth, lowest float64) bool { return math.Abs(growth) <= math.Max(8*mib, lowest/2) }

// Verdicts sums up each target in one sentence.
func Verdicts(r *result.Results) []Verdict {
	var out []Verdict
	for _, tg := range r.Targets() {
		out = append(out, verdict(r, tg))
	}
	return out
}

func verdict(r *result.Results, tg string) Verdict {
	v := Verdict{Target: tg}
	peaks := stats(r, tg, func(run result.Run) float64 { return float64(run.PeakRSSBytes) })
	if len(peaks) == 0 {
		v.Bad = true
		msg := "no run measured"
		for _, run := range r.Runs {
			if run.Target == tg && run.Error != "" {
				msg = strings.SplitN(run.Error, "\n", 2)[0]
				break
			}
		}
		v.Text = fmt.Sprintf("%s: could not measure (%s)", tg, msg)
		return v
	}
	first, last := peaks[0], peaks[len(peaks)-1]
	perClient, _ := r.PeakSlope(tg)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range peaks {
		lo, hi = math.Min(lo, p.med), math.Max(hi, p.med)
	}
	switch oom := firstOOM(peaks); {
	case oom != nil:
		v.Bad = true
		v.Text = fmt.Sprintf("%s: %s at %s (peak %.1f MiB", tg, oom.killed, clients(oom.level), oom.max/mib)
		if limit := memoryLimit(r); limit > 0 && oom.killed == "killed by the watchdog" {
			v.Text += fmt.Sprintf(" at a %.0f MiB limit: no cgroup could be made, and the watchdog can overshoot by what grows between samples", float64(limit)/mib)
		} else if limit > 0 {
			c := capCounts(r, tg, int(oom.level))
			if c.name != "" {
				v.Text = fmt.Sprintf("%s: %s at %s (%s", tg, oom.killed, clients(oom.level), c)
			}
			v.Text += fmt.Sprintf(" under a %.0f MiB cap", float64(limit)/mib) + c.files()
		}
		v.Text += ")"
		if d := deaths(r, tg, int(oom.level)); d != "" {
			v.Text += "; " + d
		}
		if oom != &peaks[0] {
			v.Text += fmt.Sprintf("; %.1f MiB at %s", first.med/mib, clients(first.level))
		}
		// What it would have needed: capped points say the cap, not that.
		if d, ok := r.Demand(tg); ok {
			v.Text += ", " + DemandText(d)
		}
	case len(peaks) == 1:
		v.Text = fmt.Sprintf("%s: peak %.1f MiB at %s", tg, first.med/mib, clients(first.level))
	case flat(perClient*(last.level-first.level), lo):
		v.Text = fmt.Sprintf("%s: peak flat within %.1f MiB (%.1f–%.1f MiB) from %g to %s (%.2f MiB per extra client)", tg, (hi-lo)/mib, lo/mib, hi/mib, first.level, clients(last.level), perClient/mib)
	default:
		v.Text = fmt.Sprintf("%s: peak grows from %.1f MiB at %s to %.1f MiB at %s (%.2f MiB per extra client)", tg, first.med/mib, clients(first.level), last.med/mib, clients(last.level), perClient/mib)
	}
	if k := kept(r, tg); k != "" {
		v.Text += "; " + k
	}
	for _, run := range r.Runs {
		if t := run.MemoryTrend; run.Target == tg && t != nil && t.Verdict != result.TrendTooShort {
			v.Text += fmt.Sprintf("; memory %s at %s (%+.2f MiB/min, 95%% interval %+.2f to %+.2f)", t.Verdict, clients(float64(run.Concurrency)), t.BytesPerMin/mib, t.Low/mib, t.High/mib)
			v.Bad = v.Bad || t.Verdict == result.TrendGrowing
			if g := GrewMost(run); g != "" && t.Verdict == result.TrendGrowing {
				v.Text += ", " + g
			}
			break
		}
	}
	if e := unmeasured(r, tg); e != "" {
		v.Text += "; " + e
		v.Bad = true
	}
	if f, shed := failures(r, tg); f != "" {
		v.Text += "; " + f
		v.Shed = shed && !v.Bad
		v.Bad = !v.Shed
	} else if v.Text += "; " + served(r, tg); !v.Bad {
		if limit := memoryLimit(r); limit > 0 {
			if most := capCounts(r, tg, 0); most.name == "" { // the cap counts the peak itself
				v.Text += fmt.Sprintf("; highest peak %.0f%% of the %.0f MiB cap", 100*hi/float64(limit), float64(limit)/mib)
			} else {
				v.Text += fmt.Sprintf("; highest %s: %.0f%% of the %.0f MiB cap", most, 100*most.bytes/float64(limit), float64(limit)/mib) + most.files()
				if most.atTheCap {
					v.Text += " (at the cap: the kernel reclaimed page cache; not killed)"
				}
			}
		}
	}
	return v
}

// capCount is the highest figure a cap counted for a target (at one level,
// or at any with level 0) where it is not the peak's own: the cgroup's
// charge, with the peak beside it where that counts more.
type capCount struct {
	name        string // "" where the cap counts the peak itself
	bytes, peak float64
	atTheCap    bool // a run's charge reached the cap without a kill
}

func capCounts(r *result.Results, tg string, level int) capCount {
	var c capCount
	for _, run := range r.Runs {
		if run.Target != tg || level > 0 && run.Concurrency != level {
			continue
		}
		if v, name := run.CapPeak(); run.CapCountsOtherwise() && float64(v) > c.bytes {
			c = capCount{name: name, bytes: float64(v), peak: float64(run.PeakRSSBytes), atTheCap: c.atTheCap}
		}
		c.atTheCap = c.atTheCap || run.AtTheCap()
	}
	return c
}

// String is "cgroup charge 493.0 MiB".
func (c capCount) String() string { return fmt.Sprintf("%s %.1f MiB", c.name, c.bytes/mib) }

// files says, where the peak counts clearly more than the cap did (mapped
// files charged elsewhere), by how much: "; the peak, 550.7 MiB, counts
// file pages the cap never charged" ("" otherwise).
func (c capCount) files() string {
	if c.name == "" || c.peak-c.bytes <= max(0.05*c.bytes, 16*mib) {
		return ""
	}
	return fmt.Sprintf("; the peak, %.1f MiB, counts file pages the cap never charged", c.peak/mib)
}

// kept says what tg held memory.settle after its floods, at the level
// that kept most: "kept 312.0 MiB after the flood at 32 clients (idle
// 14.0 MiB)"; "" when no run read it.
func kept(r *result.Results, tg string) string {
	var most *result.Run
	for i, run := range r.Runs {
		if run.Target == tg && run.AfterRSSBytes > 0 && (most == nil || run.RetainedBytes > most.RetainedBytes) {
			most = &r.Runs[i]
		}
	}
	if most == nil {
		return ""
	}
	return fmt.Sprintf("kept %.1f MiB after the flood at %s (idle %.1f MiB)", float64(most.AfterRSSBytes)/mib, clients(float64(most.Concurrency)), float64(most.IdleRSSBytes)/mib)
}

// unmeasured names the levels of tg that could not measure beside ones
// that did, with the first reason: "c=32 could not measure (no ok
// response: status_404 ×9409)".
func unmeasured(r *result.Results, tg string) string {
	var levels []string
	why := ""
	for _, run := range r.Runs {
		if run.Target != tg || run.Error == "" {
			continue
		}
		if l := fmt.Sprintf("c=%d", run.Concurrency); len(levels) == 0 || levels[len(levels)-1] != l {
			levels = append(levels, l)
		}
		if why == "" {
			why = strings.SplitN(run.Error, "\n", 2)[0]
		}
	}
	if len(levels) == 0 {
		return ""
	}
	return fmt.Sprintf("%s could not measure (%s)", strings.Join(levels, ", "), why)
}

// served says how many requests the target completed, across its runs.
func served(r *result.Results, tg string) string {
	var ok, aborted, resumes int64
	for _, run := range r.Runs {
		if run.Target == tg {
			ok, aborted, resumes = ok+run.OK, aborted+run.Aborted, resumes+run.Resumes
		}
	}
	s := fmt.Sprintf("all %d requests served", ok)
	if ok == 1 {
		s = "the 1 request served"
	}
	if resumes > 0 {
		s += fmt.Sprintf(" (broken exports resumed %d times, every row id exactly once)", resumes)
	}
	if aborted > 0 {
		s += fmt.Sprintf(" (%d more aborted by the client on purpose)", aborted)
	}
	return s
}

// deaths says what died inside the target at level: workers its main
// process respawned, and whether the main process lived ("" when only the
// main process was involved).
func deaths(r *result.Results, tg string, level int) string {
	for _, run := range r.Select(tg, level) {
		if !run.OOMKilled || run.DiedProcesses == 0 {
			continue
		}
		how := ""
		if run.OOMKills > 0 {
			how = fmt.Sprintf(" (%d OOM-killed by the kernel)", run.OOMKills)
		}
		if run.MainLived {
			return fmt.Sprintf("%d worker process(es) died%s and were replaced; the main process lived", run.DiedProcesses, how)
		}
		return fmt.Sprintf("%d worker process(es) died%s, and the main process too", run.DiedProcesses, how)
	}
	return ""
}

// DemandText says in words what a target killed at its limit would have
// needed, and how many downloads the limit holds: an estimate from the
// levels below the cap.
func DemandText(d result.Demand) string {
	return fmt.Sprintf("growing %.2f MiB per extra client below that: it would need ~%s at %s (estimated from the uncapped levels); under %.0f MiB this endpoint holds ~%.0f concurrent downloads (an estimate from single peaks: `harness capacity` finds and confirms the number)",
		d.BytesPerClient/mib, size(d.NeededBytes), clients(float64(d.Level)), float64(d.Limit)/mib, math.Floor(d.SafeClients))
}

func size(b float64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", b/mib)
}

func firstOOM(peaks []stat) *stat {
	for i := range peaks {
		if peaks[i].oom {
			return &peaks[i]
		}
	}
	return nil
}

func clients(level float64) string {
	if level == 1 {
		return "1 client"
	}
	return fmt.Sprintf("%g clients", level)
}

// failures describes the target's failed requests across all its runs,
// and reports whether they were all shed with a 503.
func failures(r *result.Results, tg string) (string, bool) {
	var failed, meant int64
	kinds := map[string]int64{}
	for _, run := range r.Runs {
		if run.Target != tg {
			continue
		}
		failed += run.Failed
		meant += run.Requests - run.Aborted - run.CutOff
		for k, n := range run.Errors {
			kinds[k] += n
		}
	}
	if failed == 0 {
		return "", false
	}
	if kinds[shedKind] == failed {
		return fmt.Sprintf("%d of %d requests shed with 503 (admission control refused them; %d served)", failed, meant, meant-failed), true
	}
	return fmt.Sprintf("%d of %d requests failed (%s)", failed, meant, result.KindCounts(kinds)), false
}

// shedKind is the error kind of a request answered 503 Service Unavailable.
var shedKind = result.StatusOutcome(503)
