package history

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// The change-point defaults on real noise: testdata/quick-unchanged.jsonl
// is `make bench-history` on this project's 2-core machine (30 runs of
// scenarios/quick.yaml, nothing changed between them). Steps and creeps
// are planted on its series as they were measured.
func realHistory(t *testing.T) []Entry {
	t.Helper()
	entries, err := Read("testdata/quick-unchanged.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 30 {
		t.Fatalf("%d runs in the measured history, want 30", len(entries))
	}
	return entries
}

// series names one target × level × metric.
type series struct {
	target, metric string
	level          int
}

func (s series) String() string { return fmt.Sprintf("%s c=%d %s", s.target, s.level, s.metric) }

// seriesOf lists the gated series of a history, in its first run's order.
func seriesOf(entries []Entry) []series {
	var out []series
	for _, f := range entries[0].Figures {
		if _, ok := MetricNamed(f.Metric); ok {
			out = append(out, series{f.Target, f.Metric, f.Level})
		}
	}
	return out
}

// plant copies entries with one series' medians changed from run from
// (0-based) on: x becomes by(k, x), k counting the runs since from.
func plant(entries []Entry, s series, from int, by func(k int, x float64) float64) []Entry {
	out := make([]Entry, len(entries))
	for i, e := range entries {
		e.Figures = append([]Figure(nil), e.Figures...)
		for j, f := range e.Figures {
			if i >= from && f.Target == s.target && f.Level == s.level && f.Metric == s.metric {
				e.Figures[j].Median = by(i-from, f.Median)
			}
		}
		out[i] = e
	}
	return out
}

// caught is the first number of runs after from at which the history
// flags s for the worse (0: never, up to the last run).
func caught(entries []Entry, s series, from int) int {
	for n := from + 1; n <= len(entries); n++ {
		changes, _ := Regressions(entries[:n], Defaults)
		for _, c := range changes {
			if c.Target == s.target && c.Level == s.level && c.Metric.Name == s.metric {
				return n - from
			}
		}
	}
	return 0
}

// Unchanged runs raise no alarm: no prefix of the measured history, from
// the first long enough to judge, flags any series.
func TestUnchangedRunsRaiseNoAlarm(t *testing.T) {
	t.Parallel()
	entries := realHistory(t)
	alarms := 0
	for n := 2 * Defaults.MinSegment; n <= len(entries); n++ {
		changes, notes := Regressions(entries[:n], Defaults)
		for _, c := range changes {
			alarms++
			t.Errorf("after %d unchanged runs: %s (a false alarm)", n, c)
		}
		if len(notes) > 0 {
			t.Errorf("after %d runs on one host: notes %q", n, notes)
		}
	}
	t.Logf("%d runs, %d series, judged after each of runs %d–%d: %d false alarms", len(entries), len(seriesOf(entries)), 2*Defaults.MinSegment, len(entries), alarms)
}

// A step of +15% for the worse planted in each peak series of the
// measured noise is flagged in every one before the end (10 runs later),
// within a run more than a segment where the series is quiet (a spread
// under 3%: the streamed peaks); a timing's 30% in every one (its 15%,
// under the floor, is flagged where the machine's own drift adds to it).
func TestAPlantedStepIsCaught(t *testing.T) {
	t.Parallel()
	entries := realHistory(t)
	from := len(entries) - 10
	for _, s := range seriesOf(entries) {
		m, _ := MetricNamed(s.metric)
		timing := m.Unit == "ms" || m.Unit == "MB/s"
		if s.metric != "peak" && !timing {
			continue
		}
		step := func(by float64) int {
			f := 1 + by*float64(m.Worse)
			return caught(plant(entries, s, from, func(_ int, x float64) float64 { return x * f }), s, from)
		}
		switch got := step(0.15); {
		case timing:
			if got30 := step(0.30); got30 == 0 {
				t.Errorf("%s: a 30%% step in a timing not flagged in %d runs", s, len(entries)-from)
			}
		case got == 0:
			t.Errorf("%s: a 15%% step not flagged in %d runs", s, len(entries)-from)
		case spread(medians(entries, s)) < 0.03 && got > Defaults.MinSegment+1:
			t.Errorf("%s (spread %.1f%%): a 15%% step flagged after %d runs; want within %d", s, 100*spread(medians(entries, s)), got, Defaults.MinSegment+1)
		default:
			t.Logf("%s (spread %.1f%%): a 15%% step flagged after %d runs", s, 100*spread(medians(entries, s)), got)
		}
	}
}

// spread is a series' standard deviation over its mean.
func spread(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	for _, x := range xs {
		sq += (x - mean) * (x - mean)
	}
	return math.Sqrt(sq/float64(len(xs)-1)) / mean
}

// A creep of +4% a run for the worse in each peak — small beside a 20%
// rule against the run before, which fails only where the machine's own
// noise nearly did — is flagged by the history within the 15 runs it
// creeps, in every peak.
func TestAPlantedCreepIsCaught(t *testing.T) {
	t.Parallel()
	entries := realHistory(t)
	from := len(entries) / 2
	for _, s := range seriesOf(entries) {
		if s.metric != "peak" {
			continue
		}
		crept := plant(entries, s, from, func(k int, x float64) float64 { return x * math.Pow(1.04, float64(k+1)) })
		xs, plain := medians(crept, s), medians(entries, s)
		failed := 0 // runs a 20% rule against the run before fails
		for i := from; i < len(xs); i++ {
			if xs[i] > 1.2*xs[i-1] {
				failed++
				if plain[i] <= 1.15*plain[i-1] {
					t.Errorf("%s: run %d is %.0f%% above the one before, the noise only %.0f%%: the creep alone fails a 20%% rule", s, i+1, 100*(xs[i]/xs[i-1]-1), 100*(plain[i]/plain[i-1]-1))
				}
			}
		}
		got := caught(crept, s, from)
		if got == 0 {
			t.Errorf("%s: a creep of 4%% a run over %d runs not flagged", s, len(entries)-from)
		}
		t.Logf("%s: a creep of 4%% a run flagged after %d runs (%.0f%% in all by then); a 20%% rule against the run before failed %d of its %d runs", s, got, 100*(math.Pow(1.04, float64(got))-1), failed, len(xs)-from)
	}
}

// medians is one series over a history.
func medians(entries []Entry, s series) []float64 {
	var xs []float64
	for _, e := range entries {
		for _, f := range e.Figures {
			if f.Target == s.target && f.Level == s.level && f.Metric == s.metric {
				xs = append(xs, f.Median)
			}
		}
	}
	return xs
}

// A new runner starts a series of its own: its first runs, however far
// from the old runner's, are no change point, and a note says how many
// runs were left out.
func TestARunnerChangeStartsANewSeries(t *testing.T) {
	t.Parallel()
	entries := realHistory(t)
	moved := make([]Entry, len(entries))
	copy(moved, entries)
	for i := len(moved) - 5; i < len(moved); i++ {
		moved[i].Host.CPUs++
		moved[i].Figures = append([]Figure(nil), moved[i].Figures...)
		for j := range moved[i].Figures {
			moved[i].Figures[j].Median *= 1.5
		}
	}
	changes, notes := Regressions(moved, Defaults)
	if len(changes) != 0 || len(notes) != 1 || notes[0] != fmt.Sprintf("history: %d of %d runs were on another host; this host's series has 5 (a new runner starts a new series)", len(moved)-5, len(moved)) {
		t.Errorf("a new runner 50%% higher: changes %v, notes %q; want none, and the runs left out said", changes, notes)
	}
}

// A history whose scenario file changed says where: a change point from
// there may be the scenario's.
func TestAScenarioChangeIsSaid(t *testing.T) {
	t.Parallel()
	entries := realHistory(t)
	changed := make([]Entry, len(entries))
	copy(changed, entries)
	for i := range changed {
		changed[i].SHA256 = "aaaaaaaaaaaaaaaa"
		if i >= len(changed)-3 {
			changed[i].SHA256 = "bbbbbbbbbbbbbbbb"
		}
	}
	_, notes := Regressions(changed, Defaults)
	if len(notes) != 1 || !strings.Contains(notes[0], "the scenario file changed 3 runs ago (sha256 aaaaaaaaaaaa → bbbbbbbbbbbb, at unchanged-28)") {
		t.Errorf("notes %q; want the scenario's change said, with where", notes)
	}
}

// So do flags laid over the file that changed between runs.
func TestAFlagsChangeIsSaid(t *testing.T) {
	t.Parallel()
	entries := realHistory(t)
	changed := make([]Entry, len(entries))
	copy(changed, entries)
	for i := len(changed) - 2; i < len(changed); i++ {
		changed[i].Flags = []string{"--duration", "5s"}
	}
	_, notes := Regressions(changed, Defaults)
	if len(notes) != 1 || !strings.Contains(notes[0], `the flags laid over the scenario file changed 2 runs ago ([] → ["--duration" "5s"], at unchanged-29)`) {
		t.Errorf("notes %q; want the flags' change said", notes)
	}
}

// Runs of another scenario in the file (one copied over another) are left
// out of the series, and said.
func TestAnotherScenariosRunsAreLeftOut(t *testing.T) {
	t.Parallel()
	entries := realHistory(t)
	mixed := append([]Entry{}, entries[:5]...)
	for _, e := range entries[:5] {
		e.Scenario = "flood"
		e.Figures = append([]Figure(nil), e.Figures...)
		for j := range e.Figures {
			e.Figures[j].Median *= 3
		}
		mixed = append(mixed, e)
	}
	mixed = append(mixed, entries[5:]...)
	changes, notes := Regressions(mixed, Defaults)
	if len(changes) != 0 || len(notes) != 1 || notes[0] != `history: 5 runs are of another scenario ("flood", not "quick"): left out` {
		t.Errorf("changes %v, notes %q; want another scenario's runs left out, said", changes, notes)
	}
}
