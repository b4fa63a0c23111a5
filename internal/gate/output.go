package gate

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/stats"
)

func (c Check) level() string {
	if c.Level == 0 {
		return "all"
	}
	return fmt.Sprint(c.Level)
}

func (c Check) values() (base, cur, change string) {
	base, cur, change = "–", "–", ""
	if c.HasBaseline {
		base = format(c.Baseline, c.Unit)
	}
	if c.HasCurrent {
		cur = format(c.Current, c.Unit)
		if c.Metric == "oom" {
			cur = map[bool]string{true: "no OOM", false: "OOM-killed"}[c.Pass]
		}
	}
	if c.HasBaseline && c.HasCurrent && c.Baseline != 0 {
		change = fmt.Sprintf("%+.1f%%", 100*(c.Current-c.Baseline)/c.Baseline)
	}
	return base, cur, change
}

func (c Check) verdict() string {
	if c.Pass {
		return "PASS"
	}
	return "FAIL"
}

// WriteTable prints the verdict table and the method.
func (r *Report) WriteTable(w io.Writer) error {
	for _, n := range r.Notes {
		if _, err := fmt.Fprintf(w, "NOTE: %s\n", n); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "rule\ttarget\tlevel\tbaseline\tcurrent\tchange\tverdict\tnote")
	for _, c := range r.Checks {
		b, cur, ch := c.values()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Rule, c.Target, c.level(), b, cur, ch, c.verdict(), c.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range r.HeapDiffs {
		fmt.Fprintf(w, "\n%s\n", title(d))
		for _, l := range lines(d) {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if r.Single != "" {
		fmt.Fprintf(w, "\nNOTE: %s\n", r.Single)
	}
	_, err := fmt.Fprintf(w, "\nMethod: %s\ngate: %d passed, %d failed\n",
		r.Method, len(r.Checks)-r.Failed(), r.Failed())
	return err
}

// WriteMarkdown writes the verdicts as a Markdown table.
func (r *Report) WriteMarkdown(w io.Writer) error {
	status := "✅ passed"
	if r.Failed() > 0 {
		status = fmt.Sprintf("❌ %d of %d checks failed", r.Failed(), len(r.Checks))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## flood gate: %s\n\n", status)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "> ⚠️ %s\n\n", n)
	}
	if r.Single != "" {
		fmt.Fprintf(&b, "> %s\n\n", r.Single)
	}
	fmt.Fprintf(&b, "| rule | target | level | baseline | current | change | verdict | note |\n|---|---|--:|--:|--:|--:|---|---|\n")
	esc := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;")
	for _, c := range r.Checks {
		base, cur, ch := c.values()
		v := "✅"
		if !c.Pass {
			v = "❌"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", esc.Replace(c.Rule), esc.Replace(c.Target), c.level(), base, cur, ch, v, esc.Replace(c.Note))
	}
	for _, tg := range slices.Sorted(maps.Keys(r.Demands)) {
		d := r.Demands[tg]
		fmt.Fprintf(&b, "\n**%s was killed at its %.0f MiB limit at c=%d**: it would need ~%.0f MiB there (%.2f MiB per extra client, estimated from the uncapped levels); under the limit it holds ~%.0f concurrent clients (an estimate from single peaks: `harness capacity` finds and confirms the number).\n",
			esc.Replace(tg), float64(d.Limit)/(1<<20), d.Level, d.NeededBytes/(1<<20), d.BytesPerClient/(1<<20), math.Floor(d.SafeClients))
	}
	for _, d := range r.HeapDiffs {
		fmt.Fprintf(&b, "\n### Heap growth: %s at c=%d\n\n", esc.Replace(d.Target), d.Level)
		switch {
		case d.Err != "":
			fmt.Fprintf(&b, "no diff: %s\n", esc.Replace(d.Err))
		case len(d.Top) == 0:
			b.WriteString("nothing grew\n")
		default:
			b.WriteString("| growth | now | function |\n|--:|--:|---|\n")
			for _, t := range d.Top {
				fmt.Fprintf(&b, "| %s | %s | `%s` |\n", mib(t.DeltaBytes, true), mib(t.InuseBytes, false), strings.ReplaceAll(t.Func, "`", "'"))
			}
		}
		fmt.Fprintf(&b, "\n`go tool pprof -diff_base=%s %s`\n", d.Baseline, d.Current)
	}
	fmt.Fprintf(&b, "\n<sub>%s</sub>\n", r.Method)
	_, err := io.WriteString(w, b.String())
	return err
}

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
	Output   string      `xml:"system-out,omitempty"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Output    string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes one testcase per rule × target; a case fails when any
// of its levels fails, and its failure lists the numbers.
func (r *Report) WriteJUnit(w io.Writer) error {
	type key struct{ rule, target string }
	var order []key
	cases := map[key]*junitCase{}
	for _, c := range r.Checks {
		k := key{c.Rule, c.Target}
		jc, ok := cases[k]
		if !ok {
			jc = &junitCase{Name: c.Target, ClassName: fmt.Sprintf("flood.gate.%s (line %d)", c.Rule, c.RuleLine)}
			cases[k] = jc
			order = append(order, k)
		}
		base, cur, ch := c.values()
		line := fmt.Sprintf("level %s: baseline %s, current %s %s %s %s\n", c.level(), base, cur, ch, c.verdict(), c.Note)
		jc.Output += line
		if !c.Pass {
			if jc.Failure == nil {
				jc.Failure = &junitFailure{Message: c.Rule + " failed for " + c.Target}
			}
			jc.Failure.Text += line
		}
	}
	for _, d := range r.HeapDiffs { // beside each failure of the target: what grew
		for _, k := range order {
			if jc := cases[k]; k.target == d.Target && jc.Failure != nil {
				jc.Failure.Text += title(d) + "\n  " + strings.Join(lines(d), "\n  ") + "\n"
			}
		}
	}
	s := junitSuite{Name: "flood-gate", Output: strings.Join(r.Notes, "\n")}
	for _, k := range order {
		s.Cases = append(s.Cases, *cases[k])
		if cases[k].Failure != nil {
			s.Failures++
		}
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteBenchstat writes every run as a Go benchmark line, so two results
// files can be compared with benchstat.
func WriteBenchstat(w io.Writer, r *result.Results) error {
	for _, run := range r.Runs {
		if run.Error != "" {
			continue
		}
		_, err := fmt.Fprintf(w, "BenchmarkFlood/target=%s/c=%d 1 %d peak-rss-bytes %d sampled-peak-rss-bytes %.3f p99-ms %.3f MB/s %.4f ok-ratio\n",
			run.Target, run.Concurrency, run.PeakRSSBytes, run.SampledPeakRSSBytes, run.LatencyMs.P99, run.MBps(), run.OKRatio())
		if err != nil {
			return err
		}
	}
	return nil
}

// bmfMetric is one measure in the Bencher Metric Format: the median of the
// repeats, bounded by their min and max.
type bmfMetric struct {
	Value float64  `json:"value"`
	Lower *float64 `json:"lower_value,omitempty"`
	Upper *float64 `json:"upper_value,omitempty"`
}

// WriteBMF writes the current runs in the Bencher Metric Format, so
// Bencher (or anything that reads BMF) keeps their history and applies its
// own thresholds: per target × level the peak RSS, ok ratio and p99
// latency (median of the repeats, min and max as bounds), per target the
// peak RSS slope.
func WriteBMF(w io.Writer, r *result.Results) error {
	out := map[string]map[string]bmfMetric{}
	name := func(tg string) string { return r.Scenario.Name + "/" + tg }
	for _, tg := range r.Targets() {
		for _, l := range r.Levels() {
			runs := r.Select(tg, l)
			m := map[string]bmfMetric{}
			for measure, f := range map[string]func(result.Run) float64{
				"peak-rss-bytes": func(run result.Run) float64 { return float64(run.PeakRSSBytes) },
				"ok-ratio":       result.Run.OKRatio,
				"latency-p99-ms": func(run result.Run) float64 { return run.LatencyMs.P99 },
			} {
				var v []float64
				for _, run := range runs {
					if run.Error == "" && (measure != "latency-p99-ms" || run.OK > 0) {
						v = append(v, f(run))
					}
				}
				if len(v) > 0 {
					lo, hi := slices.Min(v), slices.Max(v)
					m[measure] = bmfMetric{Value: stats.Median(v), Lower: &lo, Upper: &hi}
				}
			}
			if len(m) > 0 {
				out[fmt.Sprintf("%s/c=%d", name(tg), l)] = m
			}
		}
		if s, ok := r.PeakSlope(tg); ok {
			out[name(tg)] = map[string]bmfMetric{"peak-rss-slope-bytes-per-client": {Value: s}}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
