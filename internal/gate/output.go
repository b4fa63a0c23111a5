package gate

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/floodharness/harness/internal/result"
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
	_, err := fmt.Fprintf(w, "\nMethod: %s\n%d of %d checks failed.\ngate: %d passed, %d failed\n",
		r.Method, r.Failed(), len(r.Checks), len(r.Checks)-r.Failed(), r.Failed())
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
